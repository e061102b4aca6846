// Many resources' intents for one host + one read of its state -> the ordered steps of a single transaction, what
// the host must read back afterwards, and per-intent refusals found before anything runs. Composes the planners
// of the layers below: sets are filled before the rules that use them and destroyed after the rules that used
// them are gone; the boot files follow every kernel change, so a failed write undoes the kernel steps too.
import { resolveTargets } from "../containers/resolve";
import type { IpFamily } from "../model/address";
import type { IpSetSpec } from "../model/ipset";
import {
  type HostFacts,
  type HostState,
  type Intent,
  ipsetRefusals,
  ownedOf,
  ownedSetsAfter,
  type PersistenceConfig,
  type PlannedStep,
  planRules,
  planSets,
  setFamiliesAfter,
} from "../netfilter";
import { persistenceRefusal, planPersistence } from "../persistence/plan-persistence";

export interface TransactionPlan {
  /** In order; each says which intents it carries (and which line, for a restore script). */
  readonly steps: readonly PlannedStep[];
  readonly expectedChains: Readonly<Partial<Record<IpFamily, readonly string[]>>>;
  readonly expectedSets: ReadonlyMap<string, IpSetSpec | null>;
  /** Intents refused before anything runs, by index, with the reason. */
  readonly refused: ReadonlyMap<number, string>;
  /** Persisted files this transaction rewrites (by fixed name), and the persistence mode after it. */
  readonly persisted: { readonly written: readonly string[]; readonly config?: PersistenceConfig };
}

export function planTransaction(
  state: HostState,
  facts: HostFacts,
  intents: readonly Intent[],
  tempName: (setName: string) => string,
): TransactionPlan {
  // A rule that follows a container is planned with the ports it publishes now, or refused (its block stays).
  const { intents: rules, refused } = resolveTargets(ownedOf(intents, "rule"), state.containers);
  const sets = ownedOf(intents, "set");
  const [persistence] = ownedOf(intents, "persistence");
  for (const [i, why] of ipsetRefusals(facts, rules, sets)) refused.set(i, why);
  const kept = <T extends { owner: number }>(xs: readonly T[]) => xs.filter((x) => !refused.has(x.owner));

  // The boot restore recreates only sets our IpSets own: a persisted rule on another set would fail it at boot.
  const ownedSets = ownedSetsAfter(state, sets, refused);
  if (persistence) {
    const ruleIds = new Set(rules.map((x) => x.id));
    const why = persistenceRefusal(state, facts, persistence.config, ruleIds, ownedSets);
    if (why) refused.set(persistence.owner, why);
  }
  const config =
    persistence && !refused.has(persistence.owner) ? (persistence.config ?? undefined) : state.persisted.config;

  const ruled = planRules(state, facts, kept(rules), {
    setsAfter: setFamiliesAfter(state, sets),
    bootSets: config && ownedSets,
    exclusive: config?.exclusive ?? false,
    ...(config?.foreign && { foreign: config.foreign }),
  });
  for (const [i, why] of ruled.refused) refused.set(i, why);
  const setPlan = planSets(state, facts.backend, kept(sets), ruled.expectedChains, tempName);
  for (const [i, why] of setPlan.refused) refused.set(i, why);
  const persisted = planPersistence(state, facts, {
    config,
    owners: persistence && !refused.has(persistence.owner) ? [persistence.owner] : [],
    ownedSets: ownedSetsAfter(state, sets, refused),
    expectedChains: ruled.expectedChains,
    expectedSets: setPlan.expectedSets,
  });
  return {
    steps: [
      ...setPlan.fills,
      ...ruled.steps,
      ...setPlan.deletions,
      ...(persisted.step ? [persisted.step] : []),
      ...setPlan.cleanup,
    ],
    expectedChains: ruled.expectedChains,
    expectedSets: setPlan.expectedSets,
    refused,
    persisted: { written: persisted.written, ...(config && { config }) },
  };
}
