// Rule intents + the live DOCKER-USER chains -> one atomic restore step per family (with the undo that puts the
// old blocks back), the chains as they must read back, and the rules refused before anything runs.
import type { IpFamily } from "../model/address";
import type { ForeignRulesPolicy } from "../model/foreign-rules";
import type { StepTool } from "../protocol/steps";
import { expandRule } from "./expand";
import { type Backend, dockerUserRules, type HostFacts, type HostState } from "./host-state";
import type { Owned, PlannedStep, RuleIntent } from "./intent";
import { DOCKER_USER } from "./kernel-rule";
import type { SavedRule } from "./parse-iptables-save";
import { type BlockChange, blocksAsIn, type ChainPlan, groupLiveBlocks, planChainChanges } from "./plan-chain";
import { renderRule } from "./render-rule";
import { MISSING_SET_HINT, setsUsedBy } from "./set-uses";
import type { Tag } from "./tag";

export interface RuleContext {
  /** The family of every set that exists after the transaction, by name. */
  readonly setsAfter: ReadonlyMap<string, IpFamily>;
  /** When boot persistence is on: the sets the boot restore recreates (a rule on another would fail it). */
  readonly bootSets: ReadonlySet<string> | undefined;
  /** Unmanaged rules are removed (boot persistence in exclusive mode). */
  readonly exclusive: boolean;
  /** The host's policy for foreign rules (kept above our blocks, left alone by exclusive mode). */
  readonly foreign?: ForeignRulesPolicy;
}

export interface RulesPlan {
  readonly steps: readonly PlannedStep[];
  readonly expectedChains: Readonly<Partial<Record<IpFamily, readonly string[]>>>;
  readonly refused: ReadonlyMap<number, string>;
}

/** A block change and the intent that wants it. */
interface OwnedChange {
  readonly change: BlockChange;
  readonly owner: number;
}

export const restoreTool = (backend: Backend, family: IpFamily): StepTool => `${backend}-${family}` as StepTool;

export function planRules(
  state: HostState,
  facts: HostFacts,
  rules: readonly Owned<RuleIntent>[],
  ctx: RuleContext,
): RulesPlan {
  const refused = new Map<number, string>();
  // One block change per (intent, host family); a family the rule no longer covers loses its block.
  const changes: Record<IpFamily, OwnedChange[]> = { ipv4: [], ipv6: [] };
  for (const x of rules) {
    const tag = { priority: x.priority, id: x.id };
    const why = x.rule ? ruleRefusal(x.rule, facts, ctx) : undefined;
    if (why) {
      refused.set(x.owner, why);
      continue;
    }
    const blocks = x.rule ? expandRule(x.rule, tag, facts.families) : undefined;
    for (const f of facts.families)
      changes[f].push({ change: { tag, lines: blocks ? blocks[f].map(renderRule) : null }, owner: x.owner });
  }
  const steps: PlannedStep[] = [];
  const expectedChains: Partial<Record<IpFamily, readonly string[]>> = {};
  for (const f of facts.families) {
    const live = dockerUserRules(state, facts.backend, f);
    const options = { exclusive: ctx.exclusive, ...(ctx.foreign && { foreign: ctx.foreign }) };
    const plan = planChainChanges(
      f,
      live,
      changes[f].map((c) => c.change),
      options,
    );
    expectedChains[f] = plan.expected;
    const step = familyStep(facts.backend, plan, live, changes[f], options.foreign);
    if (step) steps.push(step);
  }
  return { steps, expectedChains, refused };
}

/** Why a rule cannot be planned on this host, or undefined. */
function ruleRefusal(rule: NonNullable<RuleIntent["rule"]>, facts: HostFacts, ctx: RuleContext): string | undefined {
  const wants = rule.family === "both" ? ["ipv4", "ipv6"] : rule.family === "auto" ? [] : [rule.family];
  const missingFamily = wants.find((f) => !facts.families.includes(f as IpFamily));
  if (missingFamily)
    return `the rule needs ${missingFamily} but the host's ip6tables has no DOCKER-USER chain (start dockerd with ip6tables enabled)`;
  const sets = setsUsedBy(rule);
  const missingSet = sets.find((s) => !ctx.setsAfter.has(s));
  if (missingSet) return `set ${missingSet} does not exist on the host (${MISSING_SET_HINT})`;
  const unmanaged = ctx.bootSets && sets.find((s) => !ctx.bootSets?.has(s));
  if (unmanaged)
    return `set ${unmanaged} is not managed by an IpSet resource on this host, and boot persistence is on: the boot restore could not recreate it. Manage the set with an IpSet resource`;
  // The kernel refuses a v4 rule on an inet6 set and vice versa; say so before anything runs.
  const ruleFamilies = rule.family === "auto" || rule.family === "both" ? facts.families : [rule.family];
  for (const name of sets) {
    const setFamily = ctx.setsAfter.get(name);
    const clash = ruleFamilies.find((f) => setFamily !== undefined && f !== setFamily);
    if (clash) return `set ${name} is ${setFamily} but the rule is ${clash}: give the rule family ${setFamily}`;
  }
  return undefined;
}

/** The family's restore step, owning each script line, with the undo that puts the touched blocks back. */
function familyStep(
  backend: Backend,
  plan: ChainPlan,
  live: readonly SavedRule[],
  changes: readonly OwnedChange[],
  foreign: ForeignRulesPolicy | undefined,
): PlannedStep | undefined {
  if (!plan.script) return undefined;
  // Lookups by id and by line are indexed once: scanning `live` per op made a large delete O(n³).
  const liveBlocks = groupLiveBlocks(live);
  const restoreOld = blocksAsIn(
    liveBlocks,
    changes.map((c) => c.change.tag.id),
  );
  const tags = tagsByLine(live, changes);
  const afterAsSaved = plan.expected.map((line) => {
    const tag = tags.get(line);
    return { chain: DOCKER_USER, line, ...(tag && { tag }) };
  });
  const undo = planChainChanges(plan.family, afterAsSaved, restoreOld, foreign && { foreign });
  // A line belongs to the first change that writes it, or that deletes the live block holding it.
  const ownerByLine = new Map<string, number>();
  for (const c of changes) {
    const lines = c.change.lines ?? liveBlocks.get(c.change.tag.id)?.lines ?? [];
    for (const line of lines) if (!ownerByLine.has(line)) ownerByLine.set(line, c.owner);
  }
  const lineOwners = new Map<number, number>();
  plan.lines.forEach((l, i) => {
    const owner = l.op && ownerByLine.get(l.op.line);
    if (owner !== undefined) lineOwners.set(i + 1, owner);
  });
  const tool = restoreTool(backend, plan.family);
  return {
    label: `iptables-${backend} ${plan.family}`,
    run: { tool, text: plan.script },
    ...(undo.script && { undo: { tool, text: undo.script } }),
    owners: [...new Set(lineOwners.values())],
    lineOwners,
  };
}

/** The tag of each line: from the first change that writes it, else from the first live rule holding it. */
function tagsByLine(live: readonly SavedRule[], changes: readonly OwnedChange[]): Map<string, Tag> {
  const tags = new Map<string, Tag>();
  for (const c of changes) for (const line of c.change.lines ?? []) if (!tags.has(line)) tags.set(line, c.change.tag);
  for (const r of live) if (r.tag && !tags.has(r.line)) tags.set(r.line, r.tag);
  return tags;
}
