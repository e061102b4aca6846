// One transaction on one node: under the node lock, read the state, plan, apply every step in one remote
// execution (which reads the state back), and verify the read-back against the plan. The kernel refusing a line
// leaves the host as it was (the apply script aborts and undoes); a read-back that disagrees triggers a restore
// of what we touched and a loud failure.
import { randomBytes } from "node:crypto";
import type { IpSetSpec } from "../model/ipset";
import { TEMP_SET_PREFIX } from "../model/primitives";
import { deriveFacts, dockerUserRules, type HostFacts, type HostState, parseHostState } from "../netfilter/host-state";
import type { Intent } from "../netfilter/intent";
import { planRestore } from "../netfilter/plan-restore";
import { parseStepsOutput } from "../netfilter/steps";
import { restorePersistStep } from "../persistence/plan-persistence";
import { planTransaction, type TransactionPlan } from "../plan/transaction";
import { APPLY_REFUSALS } from "../protocol/exit-codes";
import { LIST_CONTAINERS } from "../protocol/read-script";
import { type ApplyProof, renderSteps, type Step } from "../protocol/steps";
import { NetfilterCommands } from "./netfilter-commands";
import type { HostSession } from "./session";

export type IntentResult = { readonly ok: true } | { readonly ok: false; readonly error: TransactionError };

export type TransactionErrorDetail =
  | { readonly kind: "Unsupported"; readonly host: string; readonly reason: string }
  | { readonly kind: "Refused"; readonly host: string; readonly reason: string }
  | {
      readonly kind: "KernelRejected";
      readonly host: string;
      readonly step: string;
      /** The script line the kernel refused, when the tool said which. */
      readonly line?: string;
      readonly message: string;
      /** False when a cleanup failed too: the host may not be exactly as before. */
      readonly hostUnchanged: boolean;
    }
  | { readonly kind: "VerifyFailed"; readonly host: string; readonly detail: string; readonly restored: boolean };

export type TransactionError = Error & TransactionErrorDetail & { readonly brand: "pulumi-docker-firewall/tx-error" };

function formatTxError(d: TransactionErrorDetail): string {
  switch (d.kind) {
    case "Unsupported":
      return `${d.host}: cannot manage this host: ${d.reason}`;
    case "Refused":
      return `${d.host}: ${d.reason}`;
    case "KernelRejected":
      return (
        `${d.host}: ${d.step.startsWith("persisted files") ? "could not write the" : "the kernel refused"} ${d.step}${d.line ? ` at ${JSON.stringify(d.line)}` : ""}: ${d.message}` +
        (d.hostUnchanged ? " (nothing was changed on the host)" : " (WARNING: a cleanup failed too; check the host)")
      );
    case "VerifyFailed":
      return `${d.host}: the state read back after applying differs from the plan (${d.detail}); ${
        d.restored ? "what this run touched was restored" : "restoring what this run touched FAILED: check the host"
      }. Another tool may be changing DOCKER-USER at the same time.`;
  }
}

export function txError(d: TransactionErrorDetail): TransactionError {
  // KernelRejected's own `message` (the tool's output) must not replace the sentence that names host and step.
  const message = formatTxError(d);
  return Object.assign(new Error(message), d, { message, brand: "pulumi-docker-firewall/tx-error" as const });
}

export function isTxError(e: unknown): e is TransactionError {
  return typeof e === "object" && e !== null && (e as { brand?: unknown }).brand === "pulumi-docker-firewall/tx-error";
}

export interface TransactionOutcome {
  readonly facts: HostFacts;
  readonly before: HostState;
  readonly after: HostState;
  readonly plan: TransactionPlan;
  readonly results: readonly IntentResult[];
  /** Index of an intent the failure is attributed to (the batch retries without it), if any. */
  readonly culprit?: number;
}

/** A fresh nonce per script run: rule text on the host cannot guess it to forge a section boundary. */
export const newNonce = (): string => randomBytes(12).toString("hex");
const tempSetName = () => `${TEMP_SET_PREFIX}${randomBytes(4).toString("hex")}`;

/** `containers`: also list the running containers (rules that follow one); costs a `docker ps` on the host. */
export async function readHostState(
  session: HostSession,
  opts: { containers?: boolean } = {},
): Promise<{ state: HostState; facts: HostFacts }> {
  const nonce = newNonce();
  const r = await session.run(NetfilterCommands.readState, `${nonce}${opts.containers ? ` ${LIST_CONTAINERS}` : ""}\n`);
  const state = parseHostState(r.stdout, nonce);
  const facts = deriveFacts(state);
  if ("error" in facts) throw txError({ kind: "Unsupported", host: session.host, reason: facts.error });
  return { state, facts };
}

/** Lines of DOCKER-USER or set contents that differ from what the plan expects, as a short description. */
function verify(after: HostState, facts: HostFacts, plan: TransactionPlan): string | undefined {
  for (const f of facts.families) {
    const want = plan.expectedChains[f];
    const got = dockerUserRules(after, facts.backend, f).map((r) => r.line);
    if (want && (want.length !== got.length || want.some((l, i) => l !== got[i]))) {
      return `${f} DOCKER-USER has ${got.length} rules, expected ${want.length}`;
    }
  }
  for (const [name, spec] of plan.expectedSets) {
    const live = after.sets.get(name);
    if (!spec) {
      if (live) return `set ${name} still exists`;
      continue;
    }
    if (!live) return `set ${name} is missing`;
    if (!sameMembers(live.entries, spec)) return `set ${name} has other members than planned`;
  }
  return undefined;
}

function sameMembers(entries: ReadonlyMap<string, string | undefined>, spec: IpSetSpec): boolean {
  return (
    entries.size === spec.entries.length &&
    spec.entries.every((e) => entries.has(e.entry) && entries.get(e.entry) === e.comment)
  );
}

function blame(plan: TransactionPlan, failedStep: number, message: string): { intent?: number; line?: string } {
  const step = plan.steps[failedStep];
  const lineNo = Number(/line:? (\d+)/.exec(message)?.[1] ?? Number.NaN);
  const line = Number.isNaN(lineNo) ? undefined : step?.run.text.split("\n")[lineNo - 1];
  const fromLine = Number.isNaN(lineNo) ? undefined : step?.lineOwners?.get(lineNo);
  const owners = step?.owners ?? [];
  const intent = fromLine ?? (owners.length === 1 ? owners[0] : undefined);
  return { ...(intent !== undefined && { intent }), ...(line && !/^(COMMIT|\*filter)$/.test(line) && { line }) };
}

async function applySteps(session: HostSession, proof: ApplyProof, steps: readonly Step[]) {
  const nonce = newNonce();
  const r = await session.run(NetfilterCommands.applySteps, renderSteps(nonce, proof, steps));
  // The script refused before changing anything: say why (the reason is its last stderr line).
  if (APPLY_REFUSALS.has(r.code)) {
    const why = r.stderr.trim().split("\n").pop() || `the apply script exited ${r.code} before applying anything`;
    throw txError({ kind: "Refused", host: session.host, reason: why });
  }
  return parseStepsOutput(r.stdout, nonce);
}

/** Runs one transaction for `intents` under the node lock. Never throws for per-intent problems: see results. */
export async function runTransaction(
  session: HostSession,
  intents: readonly Intent[],
  owner: string,
): Promise<TransactionOutcome> {
  return session.locked(owner, async (proof) => {
    const containers = intents.some((x) => x.kind === "rule" && x.rule?.target !== undefined);
    const { state: before, facts } = await readHostState(session, { containers });
    const names = new Map<string, string>();
    const plan = planTransaction(
      before,
      facts,
      intents,
      (set) => names.get(set) ?? (names.set(set, tempSetName()).get(set) as string),
    );
    const refusedResult = (i: number): IntentResult | undefined => {
      const reason = plan.refused.get(i);
      return reason === undefined
        ? undefined
        : { ok: false, error: txError({ kind: "Refused", host: session.host, reason }) };
    };
    if (plan.steps.length === 0) {
      return { facts, before, after: before, plan, results: intents.map((_, i) => refusedResult(i) ?? { ok: true }) };
    }
    const applied = await applySteps(session, proof, plan.steps);
    // The read-back does not list containers again: the ones planned with are the outputs' (resolvedPorts).
    const outcome = before.containers
      ? { ...applied, after: { ...applied.after, containers: before.containers } }
      : applied;
    if (!outcome.ok) {
      const { intent, line } = blame(plan, outcome.failedStep, outcome.message);
      const error = txError({
        kind: "KernelRejected",
        host: session.host,
        step: plan.steps[outcome.failedStep]?.label ?? "a step",
        ...(line && { line }),
        message: outcome.message
          .split("\n")
          .filter((l) => l && !l.startsWith("Try "))
          .join(" ")
          .slice(0, 600),
        hostUnchanged: outcome.cleanupFailures.length === 0,
      });
      const results = intents.map((_, i): IntentResult => refusedResult(i) ?? { ok: false, error });
      return { facts, before, after: outcome.after, plan, results, ...(intent !== undefined && { culprit: intent }) };
    }
    const mismatch = verify(outcome.after, facts, plan);
    if (mismatch) {
      const touchedIds = intents.flatMap((x) => (x.kind === "rule" ? [x.id] : []));
      const touchedSets = intents.flatMap((x) => (x.kind === "set" ? [x.name] : []));
      // The boot files follow the kernel back (they were written from the plan).
      const files = restorePersistStep(before, facts, plan.persisted.written);
      const restore = [
        ...planRestore(before, outcome.after, facts, touchedIds, touchedSets, tempSetName),
        ...(files ? [files] : []),
      ];
      const restored = restore.length === 0 || (await applySteps(session, proof, restore)).ok;
      const error = txError({ kind: "VerifyFailed", host: session.host, detail: mismatch, restored });
      return { facts, before, after: outcome.after, plan, results: intents.map(() => ({ ok: false, error })) };
    }
    return {
      facts,
      before,
      after: outcome.after,
      plan,
      results: intents.map((_, i) => refusedResult(i) ?? { ok: true }),
    };
  });
}
