// Boot persistence in a transaction: which persisted files the apply rewrites (only stale ones, the list of sets
// our IpSets own included), and which managed rules use sets the boot restore could not recreate. Pure.
import type { IpFamily } from "../model/address";
import type { IpSetSpec } from "../model/ipset";
import type { HostFacts, HostState } from "../netfilter/host-state";
import { DOCKER_USER } from "../netfilter/kernel-rule";
import { chainRules } from "../netfilter/parse-iptables-save";
import type { Intent } from "../netfilter/plan-transaction";
import { setsMatchedBy } from "../netfilter/set-uses";
import type { Step } from "../protocol/steps";
import { type PersistenceConfig, renderPersistedFiles } from "./files";
import { liveManagedState, liveSetOf, managedStateOf, staleFiles } from "./managed-state";

/** Why the transaction's persistence intent, turning persistence on, must be refused (rules on unowned sets). */
export function persistenceRefusal(
  state: HostState,
  facts: HostFacts,
  intents: readonly Intent[],
  registryAfter: ReadonlySet<string>,
): string | undefined {
  const intent = intents.find((x) => x.kind === "persistence");
  if (intent?.kind !== "persistence" || !intent.config) return undefined;
  const ruleIds = new Set(intents.flatMap((x) => (x.kind === "rule" ? [x.id] : [])));
  const users = unmanagedSetUsers(state, facts, registryAfter, ruleIds);
  if (users.length === 0) return undefined;
  return `boot persistence cannot restore rules on sets no IpSet resource manages: ${users.join("; ")}. Manage those sets with IpSet resources (or remove the rules) first`;
}

/** Live managed rules (other than `exceptIds`) that use a set outside `registry`, as "[family] line" texts. */
function unmanagedSetUsers(
  state: HostState,
  facts: HostFacts,
  registry: ReadonlySet<string>,
  exceptIds: ReadonlySet<string>,
): string[] {
  return facts.families.flatMap((f) => {
    const save = state.saves[facts.backend][f];
    return (save ? chainRules(save, DOCKER_USER) : [])
      .filter((r) => r.tag && !exceptIds.has(r.tag.id))
      .filter((r) => setsMatchedBy(r.line).some((name) => !registry.has(name)))
      .map((r) => `[${f}] ${r.line}`);
  });
}

export function planPersistence(
  state: HostState,
  facts: HostFacts,
  intents: readonly Intent[],
  refused: ReadonlyMap<number, string>,
  expectedChains: Readonly<Partial<Record<IpFamily, readonly string[]>>>,
  expectedSets: ReadonlyMap<string, IpSetSpec | null>,
  config: PersistenceConfig | undefined,
): { step?: Step; owners: number[]; written: string[] } {
  const owners: number[] = [];
  const registry = new Set(state.persisted.managedSets);
  intents.forEach((x, i) => {
    if (refused.has(i)) return;
    if (x.kind === "set") {
      if (x.spec) registry.add(x.name);
      else registry.delete(x.name);
    }
    if (x.kind === "persistence") owners.push(i);
  });
  const files: Record<string, string> = {};
  const registryText = [...registry]
    .sort()
    .map((n) => `${n}\n`)
    .join("");
  if (registryText !== state.persisted.managedSets.map((n) => `${n}\n`).join("")) files["managed-sets"] = registryText;

  if (!config) {
    // Turning persistence off removes the files; the registry is written again by the next apply.
    if (state.persisted.config !== undefined) {
      return {
        step: { label: "remove persisted files", run: { tool: "unpersist", text: "" } },
        owners,
        written: ["(all removed)"],
      };
    }
    return Object.keys(files).length > 0 ? persistStep(files, owners) : { owners, written: [] };
  }
  const sets = [...registry].flatMap((name) => {
    const planned = expectedSets.get(name);
    if (planned) return [liveSetOf(planned)];
    if (planned === null) return [];
    const live = state.sets.get(name);
    return live ? [live] : [];
  });
  const rendered = renderPersistedFiles(managedStateOf(facts, expectedChains, sets), config);
  const { stale, linksMissing } = staleFiles(state, rendered);
  // Sets that could not be read are unknown, not empty: the persisted ones stay as they are.
  for (const name of stale) if (name !== "ipsets" || facts.ipset || registry.size === 0) files[name] = rendered[name];
  if (linksMissing) files.unit = rendered.unit;
  return Object.keys(files).length > 0 ? persistStep(files, owners) : { owners, written: [] };
}

function persistStep(
  files: Record<string, string>,
  owners: number[],
): { step: Step; owners: number[]; written: string[] } {
  return {
    step: { label: `persisted files (${Object.keys(files).join(", ")})`, run: { tool: "persist", text: "" }, files },
    owners,
    written: Object.keys(files),
  };
}

/**
 * The step that puts the boot files an apply rewrote (`written`) back as they were in `before`, re-rendered from
 * before's managed state (the rendering is deterministic, so consistent files come back byte for byte). Used when a
 * read-back disagrees with the plan and the kernel is restored: the files must follow it.
 */
export function restorePersistStep(before: HostState, facts: HostFacts, written: readonly string[]): Step | undefined {
  if (written.length === 0) return undefined;
  const config = before.persisted.config;
  const registryText = before.persisted.managedSets.map((n) => `${n}\n`).join("");
  if (!config) {
    if (written.some((n) => n !== "managed-sets"))
      return { label: "remove persisted files", run: { tool: "unpersist", text: "" } };
    return persistStep({ "managed-sets": registryText }, []).step;
  }
  const rendered: Record<string, string> = renderPersistedFiles(liveManagedState(before, facts), config);
  const names = written.includes("(all removed)") ? [...Object.keys(rendered), "managed-sets"] : written;
  const files = Object.fromEntries(names.map((n) => [n, n === "managed-sets" ? registryText : (rendered[n] ?? "")]));
  return persistStep(files, []).step;
}
