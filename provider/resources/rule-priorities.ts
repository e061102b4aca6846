// PURE. Default priorities of a DockerHostFirewall's rules, stable under insertion: rules that keep their order
// keep their priority (and so their ownership tag), a new rule takes a number between its neighbours, and only
// when no number is left between them are the rules renumbered. A fresh list gets position × STEP (10, 20, …).
import { PRIORITY_MAX, PRIORITY_MIN } from "../model/limits";

/** Step between fresh default priorities, leaving room to slot rules in between. */
export const PRIORITY_STEP = 10;

export type Priorities = Readonly<Record<string, number>>;

/** The keys (in list order) whose previous priorities to keep: the longest run that is still increasing. */
function kept(previous: Priorities, keys: readonly string[]): Set<string> {
  const known = keys.filter((k) => Number.isInteger(previous[k]));
  // Longest strictly increasing subsequence of the previous priorities, O(n²): a host has tens of rules.
  const best: number[] = known.map(() => 1);
  const from: number[] = known.map(() => -1);
  for (let i = 0; i < known.length; i++) {
    for (let j = 0; j < i; j++) {
      const pi = previous[known[i] as string] as number;
      const pj = previous[known[j] as string] as number;
      if (pj < pi && (best[j] as number) + 1 > (best[i] as number)) {
        best[i] = (best[j] as number) + 1;
        from[i] = j;
      }
    }
  }
  let end = best.indexOf(Math.max(0, ...best));
  const out = new Set<string>();
  for (; end >= 0; end = from[end] as number) out.add(known[end] as string);
  return out;
}

const fresh = (keys: readonly string[]): Priorities =>
  Object.fromEntries(keys.map((k, i) => [k, Math.min(PRIORITY_MAX, (i + 1) * PRIORITY_STEP)]));

/**
 * Priorities for `keys` (in chain order) given the ones assigned last time. Each run of new (or moved) keys is
 * spread over the gap between its kept neighbours; after the last kept key, rules follow at STEP apart.
 */
export function assignPriorities(previous: Priorities, keys: readonly string[]): Priorities {
  const keep = kept(previous, keys);
  const out: Record<string, number> = {};
  let lo = PRIORITY_MIN - 1;
  for (let i = 0; i < keys.length; ) {
    const key = keys[i] as string;
    if (keep.has(key)) {
      out[key] = previous[key] as number;
      lo = out[key];
      i++;
      continue;
    }
    let j = i;
    while (j < keys.length && !keep.has(keys[j] as string)) j++;
    const run = keys.slice(i, j);
    const next = keys[j];
    const hi = next === undefined ? undefined : (previous[next] as number);
    // After the last kept rule, STEP apart (from 0 when none is kept: a fresh list gets 10, 20, …).
    const base = Math.max(lo, 0);
    for (const [n, k] of run.entries()) {
      out[k] =
        hi === undefined ? base + (n + 1) * PRIORITY_STEP : lo + Math.floor(((hi - lo) * (n + 1)) / (run.length + 1));
    }
    const last = out[run[run.length - 1] as string] as number;
    const first = out[run[0] as string] as number;
    // No room left (two rules would share a number, or the tail runs past the range): number them afresh.
    if (
      first <= lo ||
      (hi !== undefined && last >= hi) ||
      last > PRIORITY_MAX ||
      new Set(run.map((k) => out[k])).size < run.length
    )
      return fresh(keys);
    lo = last;
    i = j;
  }
  return out;
}
