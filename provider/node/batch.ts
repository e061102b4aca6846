// The Pulumi engine runs many resource operations at once in one provider process. Operations on the same
// node are coalesced into one transaction (one lock, one read, one apply); a failure is pinned on the intent
// that caused it when possible and the others are retried without it, so they still succeed.
//
// No fixed window: a transaction starts on the first operation, and its batch stays open while the node lock
// is taken and the state is read (work that does not depend on the operations). Everything the engine sends
// meanwhile joins; the batch closes when the read is back, before planning. Later operations form the next
// batch (group commit), so the wait adapts to the node's own latency instead of a guess.
import type { Intent } from "../netfilter/intent";
import type { HostSession } from "./session";
import { type IntentResult, runTransaction, type TransactionOutcome } from "./transaction";

export interface Settled {
  readonly result: IntentResult;
  readonly outcome: TransactionOutcome;
}

interface Pending {
  readonly intent: Intent;
  resolve(s: Settled): void;
  reject(e: unknown): void;
}

const keyOf = (x: Intent) => (x.kind === "rule" ? `rule:${x.id}` : x.kind === "set" ? `set:${x.name}` : "persistence");

/** A batch that still takes operations: `intents` is what the transaction plans with once the read is back. */
interface OpenBatch {
  readonly pending: Pending[];
  readonly intents: Intent[];
  readonly keys: Set<string>;
}

export class HostBatcher {
  private queue: Pending[] = [];
  private running = false;
  private scheduled = false;
  private open: OpenBatch | undefined;
  /** Transactions run so far (the benchmark and tests read it). */
  transactions = 0;

  constructor(
    private readonly session: HostSession,
    private readonly owner: string,
  ) {}

  submit(intent: Intent): Promise<Settled> {
    return new Promise((resolve, reject) => {
      const p = { intent, resolve, reject };
      const open = this.open;
      // At most one operation per resource in a batch: a second one waits for the next transaction.
      if (open && !open.keys.has(keyOf(intent))) {
        open.keys.add(keyOf(intent));
        open.pending.push(p);
        open.intents.push(intent);
        return;
      }
      this.queue.push(p);
      this.schedule();
    });
  }

  private schedule() {
    if (this.running || this.scheduled || this.queue.length === 0) return;
    // One turn of the event loop: operations submitted in the same turn start together.
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Takes queued operations, at most one per resource, into a new open batch. */
  private take(): OpenBatch {
    const batch: OpenBatch = { pending: [], intents: [], keys: new Set() };
    const rest: Pending[] = [];
    for (const p of this.queue) {
      const k = keyOf(p.intent);
      if (batch.keys.has(k)) rest.push(p);
      else {
        batch.keys.add(k);
        batch.pending.push(p);
        batch.intents.push(p.intent);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async flush() {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    try {
      const batch = this.take();
      this.open = batch;
      const close = () => {
        if (this.open === batch) this.open = undefined;
      };
      // The first command of a transaction is its state read: when it is back, planning starts, so the batch closes.
      const session: HostSession = {
        host: this.session.host,
        locked: (owner, fn) => this.session.locked(owner, fn),
        run: (command, stdin) => this.session.run(command, stdin).finally(close),
      };
      await this.settle(batch.pending, batch.intents, session, close);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  private async settle(
    batch: Pending[],
    intents: Intent[] | undefined,
    session: HostSession = this.session,
    close: () => void = () => undefined,
  ): Promise<void> {
    let remaining = batch;
    let live = intents;
    while (remaining.length > 0) {
      let outcome: TransactionOutcome;
      try {
        this.transactions++;
        outcome = await runTransaction(session, live ?? remaining.map((p) => p.intent), this.owner);
      } catch (e) {
        for (const p of remaining) p.reject(e);
        return;
      } finally {
        // A transaction that ended without a read (it failed before) closes its batch too.
        close();
      }
      live = undefined;
      session = this.session;
      const failedAll = outcome.results.every((r) => !r.ok);
      if (outcome.culprit !== undefined && remaining.length > 1) {
        // Pin the failure on its cause; the others go again without it.
        const culprit = remaining[outcome.culprit] as Pending;
        culprit.resolve({ result: outcome.results[outcome.culprit] as IntentResult, outcome });
        remaining = remaining.filter((p) => p !== culprit);
        continue;
      }
      if (failedAll && remaining.length > 1 && outcome.plan.refused.size < remaining.length) {
        // A failure nobody can be blamed for: run each operation on its own so only the faulty one fails.
        for (const p of remaining) await this.settle([p], undefined);
        return;
      }
      remaining.forEach((p, i) => {
        p.resolve({ result: outcome.results[i] as IntentResult, outcome });
      });
      return;
    }
  }
}
