// The Pulumi engine runs many resource operations at once in one provider process. Operations on the same
// node are coalesced into one transaction (one lock, one read, one apply); a failure is pinned on the intent
// that caused it when possible and the others are retried without it, so they still succeed.
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

export class HostBatcher {
  private queue: Pending[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** Transactions run so far (the benchmark and tests read it). */
  transactions = 0;

  constructor(
    private readonly session: HostSession,
    private readonly owner: string,
    /** How long to wait for more operations before starting a transaction. */
    private readonly windowMs = 15,
  ) {}

  submit(intent: Intent): Promise<Settled> {
    return new Promise((resolve, reject) => {
      this.queue.push({ intent, resolve, reject });
      this.schedule();
    });
  }

  private schedule() {
    if (this.running || this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.windowMs);
  }

  /** Takes queued operations, at most one per resource (a second one waits for the next transaction). */
  private take(): Pending[] {
    const seen = new Set<string>();
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    for (const p of this.queue) {
      const k = keyOf(p.intent);
      if (seen.has(k)) rest.push(p);
      else {
        seen.add(k);
        batch.push(p);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async flush() {
    this.running = true;
    try {
      const batch = this.take();
      await this.settle(batch);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  private async settle(batch: Pending[]): Promise<void> {
    let remaining = batch;
    while (remaining.length > 0) {
      let outcome: TransactionOutcome;
      try {
        this.transactions++;
        outcome = await runTransaction(
          this.session,
          remaining.map((p) => p.intent),
          this.owner,
        );
      } catch (e) {
        for (const p of remaining) p.reject(e);
        return;
      }
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
        for (const p of remaining) await this.settle([p]);
        return;
      }
      remaining.forEach((p, i) => {
        p.resolve({ result: outcome.results[i] as IntentResult, outcome });
      });
      return;
    }
  }
}
