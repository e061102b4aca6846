// One transaction on one node: under the node lock, read the state, plan, apply every step in one remote
// execution (which reads the state back), and verify the read-back against the plan. The kernel refusing a line
// leaves the host as it was (the apply script aborts and undoes); a read-back that disagrees triggers a restore
// of what we touched and a loud failure. Other tools (fail2ban, CrowdSec) do not take our lock: a read-back that
// differs only by their rules is accepted; one where their insert shifted ours is restored and retried, and so is a
// step the kernel refused whole while they changed DOCKER-USER.
import { randomBytes } from "node:crypto";
import type { IpSetSpec } from "../model/ipset";
import { TEMP_SET_PREFIX } from "../model/primitives";
import { chainMismatch } from "../netfilter/chain-check";
import {
  type Backend,
  deriveFacts,
  dockerUserRules,
  type HostFacts,
  type HostState,
  isNftFacts,
  type NftHostFacts,
  type NodeFacts,
  parseHostState,
} from "../netfilter/host-state";
import type { Intent } from "../netfilter/intent";
import { planRestore } from "../netfilter/plan-restore";
import { parseStepsOutput } from "../netfilter/steps";
import { nftRestoreSteps, planNftTransaction, verifyNft } from "../nftables/transaction";
import { restorePersistStep } from "../persistence/plan-persistence";
import { planTransaction, type TransactionPlan } from "../plan/transaction";
import { APPLY_REFUSALS } from "../protocol/exit-codes";
import { LIST_CONTAINERS } from "../protocol/read-script";
import { type ApplyProof, renderSteps, type Step } from "../protocol/steps";
import { NetfilterCommands } from "./netfilter-commands";
import type { HostSession } from "./session";
import { type TransactionError, txError } from "./tx-error";

export { isTxError, type TransactionError, type TransactionErrorDetail, txError } from "./tx-error";

export type IntentResult = { readonly ok: true } | { readonly ok: false; readonly error: TransactionError };

export interface TransactionOutcome {
  readonly facts: NodeFacts;
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
): Promise<{ state: HostState; facts: NodeFacts }> {
  const nonce = newNonce();
  const r = await session.run(NetfilterCommands.readState, `${nonce}${opts.containers ? ` ${LIST_CONTAINERS}` : ""}\n`);
  const state = parseHostState(r.stdout, nonce);
  const facts = deriveFacts(state);
  if ("error" in facts) throw txError({ kind: "Unsupported", host: session.host, reason: facts.error });
  return { state, facts };
}

/** What differs, as a short description; `chain` when it is DOCKER-USER (where another tool's concurrent insert
 * can be the cause, so another attempt may do). */
type Mismatch = { readonly detail: string; readonly chain: boolean };

/** Where DOCKER-USER or set contents differ from what the plan expects, if anywhere. */
function verify(after: HostState, facts: HostFacts, plan: TransactionPlan): Mismatch | undefined {
  const config = plan.persisted.config;
  const options = { exclusive: config?.exclusive ?? false, ...(config?.foreign && { foreign: config.foreign }) };
  for (const f of facts.families) {
    const want = plan.expectedChains[f];
    const why = want && chainMismatch(f, want, dockerUserRules(after, facts.backend, f), options);
    if (why) return { detail: why, chain: true };
  }
  for (const [name, spec] of plan.expectedSets) {
    const live = after.sets.get(name);
    if (!spec) {
      if (live) return { detail: `set ${name} still exists`, chain: false };
      continue;
    }
    if (!live) return { detail: `set ${name} is missing`, chain: false };
    if (!sameMembers(live.entries, spec)) return { detail: `set ${name} has other members than planned`, chain: false };
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

/** `known`: the read before, whose iptables backend the read-back is limited to (netfilter/steps.ts fills in the rest). */
async function applySteps(
  session: HostSession,
  proof: ApplyProof,
  steps: readonly Step[],
  known?: { readonly before: HostState; readonly backend: Backend },
) {
  const nonce = newNonce();
  const r = await session.run(NetfilterCommands.applySteps, renderSteps(nonce, proof, steps, known?.backend));
  // The script refused before changing anything: say why (the reason is its last stderr line).
  if (APPLY_REFUSALS.has(r.code)) {
    const why = r.stderr.trim().split("\n").pop() || `the apply script exited ${r.code} before applying anything`;
    throw txError({ kind: "Refused", host: session.host, reason: why });
  }
  return parseStepsOutput(r.stdout, nonce, known);
}

/** The read-back does not list containers again: the ones planned with are the outputs' (resolvedPorts). */
function withContainers<O extends { readonly after: HostState }>(before: HostState, applied: O): O {
  return before.containers ? { ...applied, after: { ...applied.after, containers: before.containers } } : applied;
}

type Failed = Extract<Awaited<ReturnType<typeof applySteps>>, { ok: false }>;

function kernelRejected(host: string, plan: Pick<TransactionPlan, "steps">, outcome: Failed, line?: string) {
  return txError({
    kind: "KernelRejected",
    host,
    step: plan.steps[outcome.failedStep]?.label ?? "a step",
    ...(line && { line }),
    message: outcome.message
      .split("\n")
      .filter((l) => l && !l.startsWith("Try "))
      .join(" ")
      .slice(0, 600),
    hostUnchanged: outcome.cleanupFailures.length === 0,
  });
}

/** The same transaction on a host whose Docker runs nftables: our table in one `nft -j -f` batch, the boot files. */
async function runNftTransaction(
  session: HostSession,
  proof: ApplyProof,
  before: HostState,
  facts: NftHostFacts,
  intents: readonly Intent[],
): Promise<TransactionOutcome> {
  const nft = planNftTransaction(before, facts, intents);
  const plan: TransactionPlan = {
    steps: nft.steps,
    expectedChains: {},
    expectedSets: new Map(),
    refused: nft.refused,
    persisted: nft.persisted,
  };
  const resultOf = (i: number, error?: TransactionError): IntentResult => {
    const reason = nft.refused.get(i);
    if (reason !== undefined) return { ok: false, error: txError({ kind: "Refused", host: session.host, reason }) };
    return error ? { ok: false, error } : { ok: true };
  };
  if (plan.steps.length === 0)
    return { facts, before, after: before, plan, results: intents.map((_, i) => resultOf(i)) };
  const outcome = withContainers(before, await applySteps(session, proof, plan.steps));
  if (!outcome.ok) {
    const owners = plan.steps[outcome.failedStep]?.owners ?? [];
    const error = kernelRejected(session.host, plan, outcome);
    const results = intents.map((_, i) => resultOf(i, error));
    return { facts, before, after: outcome.after, plan, results, ...(owners.length === 1 && { culprit: owners[0] }) };
  }
  const mismatch = verifyNft(outcome.after, nft);
  if (mismatch) {
    const restored = (await applySteps(session, proof, nftRestoreSteps(before, outcome.after, nft))).ok;
    const error = txError({ kind: "VerifyFailed", host: session.host, detail: mismatch, restored });
    return { facts, before, after: outcome.after, plan, results: intents.map(() => ({ ok: false, error })) };
  }
  return { facts, before, after: outcome.after, plan, results: intents.map((_, i) => resultOf(i)) };
}

/** DOCKER-USER reads otherwise in `after` than in `before`, in some family. */
function chainsMoved(before: HostState, after: HostState, facts: HostFacts): boolean {
  return facts.families.some((f) => {
    const a = dockerUserRules(before, facts.backend, f).map((r) => r.line);
    const b = dockerUserRules(after, facts.backend, f).map((r) => r.line);
    return a.length !== b.length || a.some((l, i) => l !== b[i]);
  });
}

/** Attempts of a transaction that another tool's concurrent change spoiled (each left as before first). */
const VERIFY_ATTEMPTS = 3;

/** Runs one transaction for `intents` under the node lock. Never throws for per-intent problems: see results. */
export async function runTransaction(
  session: HostSession,
  intents: readonly Intent[],
  owner: string,
): Promise<TransactionOutcome> {
  return session.locked(owner, async (proof) => {
    for (let attempt = 1; ; attempt++) {
      const outcome = await attemptTransaction(session, proof, intents);
      // Restored to as before: plan again from a fresh read (the other tool's rule is in it now).
      if (!outcome.retry || attempt >= VERIFY_ATTEMPTS) return outcome.outcome;
    }
  });
}

async function attemptTransaction(
  session: HostSession,
  proof: ApplyProof,
  intents: readonly Intent[],
): Promise<{ outcome: TransactionOutcome; retry?: boolean }> {
  const containers = intents.some((x) => x.kind === "rule" && x.rule?.target !== undefined);
  const { state: before, facts } = await readHostState(session, { containers });
  if (isNftFacts(facts)) return { outcome: await runNftTransaction(session, proof, before, facts, intents) };
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
    return {
      outcome: {
        facts,
        before,
        after: before,
        plan,
        results: intents.map((_, i) => refusedResult(i) ?? { ok: true }),
      },
    };
  }
  const known = { before, backend: facts.backend };
  const outcome = withContainers(before, await applySteps(session, proof, plan.steps, known));
  if (!outcome.ok) {
    const { intent, line } = blame(plan, outcome.failedStep, outcome.message);
    const error = kernelRejected(session.host, plan, outcome, line);
    const results = intents.map((_, i): IntentResult => refusedResult(i) ?? { ok: false, error });
    // Refused whole while DOCKER-USER changed since our read: another tool's delete can make an `-I n` too big.
    const concurrent = outcome.cleanupFailures.length === 0 && chainsMoved(before, outcome.after, facts);
    return {
      outcome: {
        facts,
        before,
        after: outcome.after,
        plan,
        results,
        ...(intent !== undefined && { culprit: intent }),
      },
      retry: concurrent,
    };
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
    const restored = restore.length === 0 || (await applySteps(session, proof, restore, known)).ok;
    const error = txError({ kind: "VerifyFailed", host: session.host, detail: mismatch.detail, restored });
    return {
      outcome: { facts, before, after: outcome.after, plan, results: intents.map(() => ({ ok: false, error })) },
      retry: restored && mismatch.chain,
    };
  }
  return {
    outcome: {
      facts,
      before,
      after: outcome.after,
      plan,
      results: intents.map((_, i) => refusedResult(i) ?? { ok: true }),
    },
  };
}
