// Many resources' wishes for one host (rules and sets, created, changed or removed) + one read of its state ->
// the ordered restore steps of a single transaction, what the host must read back afterwards, the change list,
// and per-intent errors found before anything runs. Sets are filled before the rules that use them and
// destroyed after the rules that used them are gone; every step knows how to undo itself.
import type { IpFamily } from "../model/address";
import type { IpSetSpec } from "../model/ipset";
import type { DockerUserRule } from "../model/rule";
import type { PersistenceConfig } from "../persistence/files";
import { persistenceRefusal, planPersistence } from "../persistence/plan-persistence";
import type { Step, StepTool } from "../protocol/steps";
import { expandRule } from "./expand";
import type { Backend, HostFacts, HostState } from "./host-state";
import type { LiveSet } from "./ipset-text";
import { DOCKER_USER } from "./kernel-rule";
import { chainRules, type SavedRule } from "./parse-iptables-save";
import { type BlockChange, type ChainPlan, type Change, planChainChanges } from "./plan-chain";
import { planIpSet, staleTempSets } from "./plan-ipset";
import { recreateScript } from "./plan-restore";
import { renderRule } from "./render-rule";
import { setReferences, setsUsedBy } from "./set-uses";
import type { Tag } from "./tag";

export type Intent =
  | { readonly kind: "rule"; readonly id: string; readonly priority: number; readonly rule: DockerUserRule | null }
  | { readonly kind: "set"; readonly name: string; readonly spec: IpSetSpec | null }
  /** Turn boot persistence on (with its mode) or off for the node. */
  | { readonly kind: "persistence"; readonly config: PersistenceConfig | null };

export interface TransactionPlan {
  readonly steps: readonly Step[];
  /** For each step, the indexes of the intents whose content it carries (for blame on failure). */
  readonly stepOwners: readonly (readonly number[])[];
  /** For each iptables step, the owning intent of each script line (1-based line -> intent index). */
  readonly lineOwners: ReadonlyMap<number, ReadonlyMap<number, number>>;
  readonly expectedChains: Readonly<Partial<Record<IpFamily, readonly string[]>>>;
  readonly expectedSets: ReadonlyMap<string, IpSetSpec | null>;
  readonly changes: readonly Change[];
  /** Intents refused before anything runs, by index, with the reason. */
  readonly refused: ReadonlyMap<number, string>;
  /** Persisted files this transaction rewrites (by fixed name), and the persistence mode after it. */
  readonly persisted: { readonly written: readonly string[]; readonly config?: PersistenceConfig };
}

const tool = (backend: Backend, family: IpFamily): StepTool => `${backend}-${family}` as StepTool;

export function planTransaction(
  state: HostState,
  facts: HostFacts,
  intents: readonly Intent[],
  tempName: (setName: string) => string,
): TransactionPlan {
  const refused = new Map<number, string>();
  const steps: Step[] = [];
  const stepOwners: number[][] = [];
  const lineOwners = new Map<number, Map<number, number>>();
  const changes: Change[] = [];
  const expectedSets = new Map<string, IpSetSpec | null>();
  const setIntents = intents.map((x, i) => ({ x, i })).filter((e) => e.x.kind === "set");
  const usesSets = intents.some(
    (x) => x.kind === "set" || (x.kind === "rule" && x.rule && setsUsedBy(x.rule).length > 0),
  );
  if (usesSets && !facts.ipset) {
    intents.forEach((x, i) => {
      if (x.kind === "set" || (x.kind === "rule" && x.rule && setsUsedBy(x.rule).length > 0))
        refused.set(i, facts.ipsetProblem ?? "the ipset tool is not usable on the host");
    });
  }

  // The boot restore recreates only sets our IpSets own: a persisted rule on another set would fail it at boot.
  const registryAfter = new Set(state.persisted.managedSets);
  for (const { x, i } of setIntents)
    if (x.kind === "set" && !refused.has(i)) x.spec ? registryAfter.add(x.name) : registryAfter.delete(x.name);
  const persistenceIndex = intents.findIndex((x) => x.kind === "persistence");
  const persistenceIntent = intents[persistenceIndex];
  const cannotPersist = persistenceRefusal(state, facts, intents, registryAfter);
  if (cannotPersist) refused.set(persistenceIndex, cannotPersist);
  const persistenceAfter: PersistenceConfig | undefined =
    persistenceIntent?.kind === "persistence" && !refused.has(persistenceIndex)
      ? (persistenceIntent.config ?? undefined)
      : state.persisted.config;

  // Rules: one block change per (intent, host family); a family the rule no longer covers loses its block.
  const blockChanges: Record<IpFamily, Array<{ change: BlockChange; owner: number }>> = { ipv4: [], ipv6: [] };
  const setsAfter = new Set(state.sets.keys());
  for (const { x } of setIntents) if (x.kind === "set") x.spec ? setsAfter.add(x.name) : setsAfter.delete(x.name);
  const setFamilyAfter = (name: string): IpFamily | undefined => {
    const planned = setIntents.find((e) => e.x.kind === "set" && e.x.name === name)?.x;
    if (planned?.kind === "set" && planned.spec) return planned.spec.family;
    return state.sets.get(name)?.header.family;
  };
  intents.forEach((x, i) => {
    if (x.kind !== "rule" || refused.has(i)) return;
    const tag = { priority: x.priority, id: x.id };
    if (!x.rule) {
      for (const f of facts.families) blockChanges[f].push({ change: { tag, lines: null }, owner: i });
      return;
    }
    const wants = x.rule.family === "both" ? ["ipv4", "ipv6"] : x.rule.family === "auto" ? [] : [x.rule.family];
    const missingFamily = wants.find((f) => !facts.families.includes(f as IpFamily));
    if (missingFamily) {
      refused.set(
        i,
        `the rule needs ${missingFamily} but the host's ip6tables has no DOCKER-USER chain (start dockerd with ip6tables enabled)`,
      );
      return;
    }
    const missingSet = setsUsedBy(x.rule).find((s) => !setsAfter.has(s));
    if (missingSet) {
      refused.set(
        i,
        `set ${missingSet} does not exist on the host (create it with an IpSet resource on the same host)`,
      );
      return;
    }
    const unmanaged = persistenceAfter && setsUsedBy(x.rule).find((s) => !registryAfter.has(s));
    if (unmanaged) {
      refused.set(
        i,
        `set ${unmanaged} is not managed by an IpSet resource on this host, and boot persistence is on: the boot restore could not recreate it. Manage the set with an IpSet resource`,
      );
      return;
    }
    // The kernel refuses a v4 rule on an inet6 set and vice versa; say so before anything runs.
    for (const name of setsUsedBy(x.rule)) {
      const setFamily = setFamilyAfter(name);
      const ruleFamilies = x.rule.family === "auto" || x.rule.family === "both" ? facts.families : [x.rule.family];
      const clash = ruleFamilies.find((f) => setFamily !== undefined && f !== setFamily);
      if (clash) {
        refused.set(i, `set ${name} is ${setFamily} but the rule is ${clash}: give the rule family ${setFamily}`);
        return;
      }
    }
    const blocks = expandRule(x.rule, tag, facts.families);
    for (const f of facts.families)
      blockChanges[f].push({ change: { tag, lines: blocks[f].map(renderRule) }, owner: i });
  });

  const chainPlans = new Map<IpFamily, { plan: ChainPlan; live: SavedRule[] }>();
  const expectedChains: Partial<Record<IpFamily, string[]>> = {};
  for (const f of facts.families) {
    const save = state.saves[facts.backend][f];
    const live = save ? chainRules(save, DOCKER_USER) : [];
    const plan = planChainChanges(
      f,
      live,
      blockChanges[f].map((b) => b.change),
      { exclusive: persistenceAfter?.exclusive ?? false },
    );
    chainPlans.set(f, { plan, live });
    expectedChains[f] = [...plan.expected];
  }

  // Set deletions: refused while a rule that stays would still use the set.
  const deletions: Array<{ i: number; live: LiveSet }> = [];
  for (const { x, i } of setIntents) {
    if (x.kind !== "set" || x.spec || refused.has(i)) continue;
    const live = state.sets.get(x.name);
    expectedSets.set(x.name, null);
    if (!live) continue;
    // A rule keeps using the set after this transaction unless it is a DOCKER-USER rule the plan removes.
    const users = setReferences(state, facts.backend, x.name).filter((ref) =>
      ref.line.startsWith(`-A ${DOCKER_USER} `) ? (expectedChains[ref.family] ?? []).includes(ref.line) : true,
    );
    if (users.length > 0) {
      refused.set(
        i,
        `set ${x.name} is still used by ${users.length} rule(s): ${users.map((u) => `[${u.family}] ${u.line}`).join("; ")}`,
      );
      expectedSets.delete(x.name);
      continue;
    }
    deletions.push({ i, live });
  }

  // Step 1: remove temporary sets left by a crashed apply (nothing can reference them).
  const stale = staleTempSets(state.sets);
  if (stale.length > 0) {
    steps.push({
      label: "stale temporary sets",
      run: { tool: "ipset-exist", text: stale.map((n) => `destroy ${n}\n`).join("") },
    });
    stepOwners.push([]);
  }
  // Step 2..: create or refill sets (temp + swap); the old contents stay in the temp set until the end.
  const swapped: string[] = [];
  for (const { x, i } of setIntents) {
    if (x.kind !== "set" || !x.spec || refused.has(i)) continue;
    const live = state.sets.get(x.name);
    const tmp = tempName(x.name);
    let p: ReturnType<typeof planIpSet>;
    try {
      p = planIpSet(x.spec, live, tmp);
    } catch (e) {
      refused.set(i, (e as Error).message);
      continue;
    }
    expectedSets.set(x.name, x.spec);
    changes.push(...p.changes);
    if (!p.script) continue;
    const run = p.script.replace(`destroy ${tmp}\n`, "");
    steps.push({
      label: `ipset ${x.name}`,
      run: { tool: "ipset", text: run },
      abort: { tool: "ipset-exist", text: p.rollback },
      undo: {
        tool: "ipset-exist",
        text: live ? `swap ${tmp} ${x.name}\ndestroy ${tmp}\n` : `destroy ${tmp}\ndestroy ${x.name}\n`,
      },
    });
    stepOwners.push([i]);
    swapped.push(tmp);
  }
  // Then the rules, one atomic restore per family; the undo is the plan that puts the old blocks back.
  for (const [f, { plan, live }] of chainPlans) {
    changes.push(...plan.changes);
    if (!plan.script) continue;
    // Lookups by id and by line are indexed once: scanning `live` per op made a large delete O(n³).
    const liveById = new Map<string, SavedRule[]>();
    for (const r of live) {
      if (!r.tag) continue;
      const rules = liveById.get(r.tag.id);
      if (rules) rules.push(r);
      else liveById.set(r.tag.id, [r]);
    }
    const touched = blockChanges[f].map((b) => b.change.tag.id);
    const restoreOld = touched.map((id) => {
      const old = liveById.get(id) ?? [];
      return { tag: old[0]?.tag ?? { priority: 0, id }, lines: old.length ? old.map((r) => r.line) : null };
    });
    const tags = tagsByLine(live, blockChanges[f]);
    const afterAsSaved = plan.expected.map((line) => {
      const tag = tags.get(line);
      return { chain: DOCKER_USER, line, ...(tag && { tag }) };
    });
    const undo = planChainChanges(f, afterAsSaved, restoreOld);
    const owners = new Map<number, number>();
    // The first block change that writes the line, or that deletes the live block holding it.
    const ownerByLine = new Map<string, number>();
    for (const b of blockChanges[f]) {
      const lines = b.change.lines ?? (liveById.get(b.change.tag.id) ?? []).map((r) => r.line);
      for (const line of lines) if (!ownerByLine.has(line)) ownerByLine.set(line, b.owner);
    }
    plan.ops.forEach((op, k) => {
      const o = ownerByLine.get(op.line);
      if (o !== undefined) owners.set(k + 2, o); // line 1 is "*filter"
    });
    lineOwners.set(steps.length, owners);
    steps.push({
      label: `iptables-${facts.backend} ${f}`,
      run: { tool: tool(facts.backend, f), text: plan.script },
      ...(undo.script && { undo: { tool: tool(facts.backend, f), text: undo.script } }),
    });
    stepOwners.push([...new Set(owners.values())]);
  }
  // Set deletions, after the rules that used them are gone; each can be recreated from what was read.
  for (const { i, live } of deletions) {
    steps.push({
      label: `ipset destroy ${live.name}`,
      run: { tool: "ipset", text: `destroy ${live.name}\n` },
      undo: { tool: "ipset-exist", text: recreateScript(live) },
    });
    stepOwners.push([i]);
    changes.push(...planIpSet(null, live, "").changes);
  }
  // Persisted files follow every change (when persistence is on), after the kernel steps, so that a failed write
  // (a full disk) undoes the kernel steps too; and the list of sets our IpSets own is kept either way.
  const persisted = planPersistence(state, facts, intents, refused, expectedChains, expectedSets, persistenceAfter);
  if (persisted.step) {
    steps.push(persisted.step);
    stepOwners.push(persisted.owners);
  }
  if (swapped.length > 0) {
    steps.push({
      label: "temporary sets",
      run: { tool: "ipset-cleanup", text: swapped.map((t) => `destroy ${t}\n`).join("") },
    });
    stepOwners.push([]);
  }
  return {
    steps,
    stepOwners,
    lineOwners,
    expectedChains,
    expectedSets,
    changes,
    refused,
    persisted: { written: persisted.written, ...(persistenceAfter && { config: persistenceAfter }) },
  };
}

/** The tag of each line: from the first change that writes it, else from the first live rule holding it. */
function tagsByLine(live: readonly SavedRule[], changes: ReadonlyArray<{ change: BlockChange }>): Map<string, Tag> {
  const tags = new Map<string, Tag>();
  for (const c of changes) for (const line of c.change.lines ?? []) if (!tags.has(line)) tags.set(line, c.change.tag);
  for (const r of live) if (r.tag && !tags.has(r.line)) tags.set(r.line, r.tag);
  return tags;
}
