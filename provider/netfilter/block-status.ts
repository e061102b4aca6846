// What the host holds for one resource: its block's live lines per family, and whether the block sits where the
// ordering invariant wants it (contiguous, in (priority, id) order, above foreign rules). Drift is read from here.
import type { IpFamily } from "../model/address";
import { dockerUserRules, type HostFacts, type HostState } from "./host-state";
import { planChainChanges } from "./plan-chain";

export interface BlockStatus {
  readonly lines: Readonly<Record<IpFamily, readonly string[]>>;
  /** False when the block is split, duplicated, or out of order: the next apply moves it into place. */
  readonly inPlace: boolean;
}

export function blockStatus(state: HostState, facts: HostFacts, id: string): BlockStatus {
  const lines: Record<IpFamily, string[]> = { ipv4: [], ipv6: [] };
  let inPlace = true;
  for (const f of facts.families) {
    const live = dockerUserRules(state, facts.backend, f);
    const mine = live.filter((r) => r.tag?.id === id).map((r) => r.line);
    lines[f] = mine;
    if (mine.length === 0) continue;
    // With no changes asked, any op the planner still wants for this block means it is not where it belongs.
    const foreign = state.persisted.config?.foreign;
    const plan = planChainChanges(f, live, [], foreign && { foreign });
    if (plan.ops.some((op) => mine.includes(op.line)) || new Set(mine).size !== mine.length) inPlace = false;
  }
  return { lines, inPlace };
}
