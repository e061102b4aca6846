// The steps that put what a transaction touched back as it was (blocks of DOCKER-USER and sets), planned against
// the state read back after an apply: used when that read disagrees with the plan. Pure.

import type { Step } from "../protocol/steps";
import { dockerUserRules, type HostFacts, type HostState } from "./host-state";
import { type LiveSet, renderAdd, renderCreate } from "./ipset-text";
import { blocksAsIn, groupLiveBlocks, planChainChanges } from "./plan-chain";
import { restoreTool } from "./plan-rules";

/** The ipset restore script that creates `set` with its members as read. */
export function recreateScript(set: LiveSet): string {
  const entries = [...set.entries].map(([entry, comment]) =>
    renderAdd(set.name, comment === undefined ? { entry } : { entry, comment }),
  );
  return [renderCreate(set.name, set.header), ...entries, ""].join("\n");
}

/**
 * The steps that put the touched blocks and sets back as they were in `before`, planned against `after`: used
 * when a verification read disagrees with the plan (something else changed the host while we applied).
 */
export function planRestore(
  before: HostState,
  after: HostState,
  facts: HostFacts,
  touchedIds: readonly string[],
  touchedSets: readonly string[],
  tempName: (setName: string) => string,
): Step[] {
  const steps: Step[] = [];
  for (const name of touchedSets) {
    const old = before.sets.get(name);
    const now = after.sets.get(name);
    if (!old && now)
      steps.push({ label: `ipset destroy ${name}`, run: { tool: "ipset-exist", text: `destroy ${name}\n` } });
    if (old) {
      const tmp = tempName(name);
      const fill = recreateScript({ ...old, name: tmp });
      const text = now ? `${fill}swap ${tmp} ${name}\ndestroy ${tmp}\n` : recreateScript(old);
      steps.push({ label: `ipset restore ${name}`, run: { tool: "ipset-exist", text } });
    }
  }
  for (const f of facts.families) {
    const oldLive = dockerUserRules(before, facts.backend, f);
    const nowLive = dockerUserRules(after, facts.backend, f);
    const foreign = before.persisted.config?.foreign;
    const plan = planChainChanges(f, nowLive, blocksAsIn(groupLiveBlocks(oldLive), touchedIds), foreign && { foreign });
    if (plan.script)
      steps.push({
        label: `restore iptables-${facts.backend} ${f}`,
        run: { tool: restoreTool(facts.backend, f), text: plan.script },
      });
  }
  return steps;
}
