// The steps that put what a transaction touched back as it was (blocks of DOCKER-USER and sets), planned against
// the state read back after an apply: used when that read disagrees with the plan. Pure.

import type { Step, StepTool } from "../protocol/steps";
import type { HostFacts, HostState } from "./host-state";
import { type LiveSet, renderAdd, renderCreate } from "./ipset-text";
import { DOCKER_USER } from "./kernel-rule";
import { chainRules } from "./parse-iptables-save";
import { planChainChanges } from "./plan-chain";

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
    const oldLive = chainRules(before.saves[facts.backend][f] ?? parseEmpty(), DOCKER_USER);
    const nowLive = chainRules(after.saves[facts.backend][f] ?? parseEmpty(), DOCKER_USER);
    const blocks = touchedIds.map((id) => {
      const old = oldLive.filter((r) => r.tag?.id === id);
      return { tag: old[0]?.tag ?? { priority: 0, id }, lines: old.length ? old.map((r) => r.line) : null };
    });
    const plan = planChainChanges(f, nowLive, blocks);
    if (plan.script)
      steps.push({
        label: `restore iptables-${facts.backend} ${f}`,
        run: { tool: `${facts.backend}-${f}` as StepTool, text: plan.script },
      });
  }
  return steps;
}

function parseEmpty() {
  return { backend: "unknown" as const, tables: new Map(), warnings: [] };
}
