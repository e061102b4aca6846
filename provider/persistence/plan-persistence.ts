// Boot persistence in a transaction: which persisted files the apply rewrites (only stale ones, the list of sets
// our IpSets own included), and which managed rules use sets the boot restore could not recreate. Pure; the
// transaction planner (plan/transaction.ts) calls it after the kernel planners, with what they expect.
import type { IpFamily } from "../model/address";
import type { IpSetSpec } from "../model/ipset";
import {
  dockerUserRules,
  type HostFacts,
  type HostState,
  type PersistenceConfig,
  type PlannedStep,
  setsMatchedBy,
} from "../netfilter";
import type { Step } from "../protocol/steps";
import { renderPersistedFiles } from "./files";
import { liveManagedState, liveSetOf, managedStateOf, staleFiles } from "./managed-state";

/**
 * Why turning persistence on must be refused: live managed rules (other than those the transaction rewrites,
 * `ruleIds`) use sets outside `ownedSets`, which the boot restore could not recreate.
 */
export function persistenceRefusal(
  state: HostState,
  facts: HostFacts,
  config: PersistenceConfig | null,
  ruleIds: ReadonlySet<string>,
  ownedSets: ReadonlySet<string>,
): string | undefined {
  if (!config) return undefined;
  const users = facts.families.flatMap((f) => {
    return dockerUserRules(state, facts.backend, f)
      .filter((r) => r.tag && !ruleIds.has(r.tag.id))
      .filter((r) => setsMatchedBy(r.line).some((name) => !ownedSets.has(name)))
      .map((r) => `[${f}] ${r.line}`);
  });
  if (users.length === 0) return undefined;
  return `boot persistence cannot restore rules on sets no IpSet resource manages: ${users.join("; ")}. Manage those sets with IpSet resources (or remove the rules) first`;
}

export interface PersistenceInput {
  /** The persistence mode after the transaction (undefined: off). */
  readonly config: PersistenceConfig | undefined;
  /** The persistence intent, when the transaction has one that was not refused. */
  readonly owners: readonly number[];
  /** The sets our IpSets own after the transaction. */
  readonly ownedSets: ReadonlySet<string>;
  readonly expectedChains: Readonly<Partial<Record<IpFamily, readonly string[]>>>;
  readonly expectedSets: ReadonlyMap<string, IpSetSpec | null>;
}

export interface PersistencePlan {
  readonly step?: PlannedStep;
  /** The file names the step rewrites ("(all removed)" when it removes them). */
  readonly written: readonly string[];
}

const registryText = (names: Iterable<string>) => [...names].map((n) => `${n}\n`).join("");

export function planPersistence(state: HostState, facts: HostFacts, input: PersistenceInput): PersistencePlan {
  const files: Record<string, string> = {};
  const owned = registryText([...input.ownedSets].sort());
  if (owned !== registryText(state.persisted.managedSets)) files["managed-sets"] = owned;
  if (!input.config) {
    // Turning persistence off removes the files; the registry is written again by the next apply.
    if (state.persisted.config !== undefined)
      return { step: { ...unpersistStep(), owners: input.owners }, written: ["(all removed)"] };
    return persistPlan(files, input.owners);
  }
  const sets = [...input.ownedSets].flatMap((name) => {
    const planned = input.expectedSets.get(name);
    if (planned) return [liveSetOf(planned)];
    if (planned === null) return [];
    const live = state.sets.get(name);
    return live ? [live] : [];
  });
  const rendered = renderPersistedFiles(managedStateOf(facts, input.expectedChains, sets), input.config);
  const { stale, linksMissing } = staleFiles(state, rendered);
  // Sets that could not be read are unknown, not empty: the persisted ones stay as they are.
  for (const name of stale)
    if (name !== "ipsets" || facts.ipset || input.ownedSets.size === 0) files[name] = rendered[name];
  if (linksMissing) files.unit = rendered.unit;
  return persistPlan(files, input.owners);
}

function persistPlan(files: Record<string, string>, owners: readonly number[]): PersistencePlan {
  const written = Object.keys(files);
  return written.length === 0 ? { written } : { step: { ...persistStep(files), owners }, written };
}

const unpersistStep = (): Step => ({ label: "remove persisted files", run: { tool: "unpersist", text: "" } });

function persistStep(files: Record<string, string>): Step {
  return { label: `persisted files (${Object.keys(files).join(", ")})`, run: { tool: "persist", text: "" }, files };
}

/**
 * The step that puts the boot files an apply rewrote (`written`) back as they were in `before`, re-rendered from
 * before's managed state (the rendering is deterministic, so consistent files come back byte for byte). Used when a
 * read-back disagrees with the plan and the kernel is restored: the files must follow it.
 */
export function restorePersistStep(before: HostState, facts: HostFacts, written: readonly string[]): Step | undefined {
  if (written.length === 0) return undefined;
  const config = before.persisted.config;
  const registry = registryText(before.persisted.managedSets);
  if (!config) {
    if (written.some((n) => n !== "managed-sets")) return unpersistStep();
    return persistStep({ "managed-sets": registry });
  }
  const rendered: Record<string, string> = renderPersistedFiles(liveManagedState(before, facts), config);
  const names = written.includes("(all removed)") ? [...Object.keys(rendered), "managed-sets"] : written;
  return persistStep(Object.fromEntries(names.map((n) => [n, n === "managed-sets" ? registry : (rendered[n] ?? "")])));
}
