// Set members as canonical intervals. An nft interval set refuses overlapping elements where an ipset hash:net
// accepts them, so an IpSet's entries are merged into disjoint intervals before rendering; read-back elements go
// through the same merge, so desired and live sets compare as plain string lists whatever nft chose to print.
import { bitsOf, formatIp, type IpFamily, parseCidr, parseIp } from "../model/address";

interface Interval {
  readonly from: bigint;
  readonly to: bigint;
}

/** One element as nft prints or ipset entries read: "1.2.3.4", "10.0.0.0/8" or "a-b". */
export function elementInterval(text: string, family: IpFamily): Interval | undefined {
  const dash = text.indexOf("-");
  if (dash > 0) {
    const a = parseIp(text.slice(0, dash));
    const b = parseIp(text.slice(dash + 1));
    if (!a || !b || a.family !== family || b.family !== family || a.value > b.value) return undefined;
    return { from: a.value, to: b.value };
  }
  const c = parseCidr(text);
  if (!c || c.family !== family) return undefined;
  const span = (1n << BigInt(bitsOf(family) - c.prefix)) - 1n;
  return { from: c.value, to: c.value + span };
}

function mergeIntervals(list: readonly Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    // Adjacent intervals merge too: 10.0.0.0/25 and 10.0.0.128/25 are the set 10.0.0.0/24.
    if (last && i.from <= last.to + 1n) out[out.length - 1] = { from: last.from, to: i.to > last.to ? i.to : last.to };
    else out.push(i);
  }
  return out;
}

/** An interval as nft prints it: an address, an aligned prefix, or a range. */
function formatInterval(i: Interval, family: IpFamily): string {
  if (i.from === i.to) return formatIp(family, i.from);
  const size = i.to - i.from + 1n;
  const bits = bitsOf(family);
  if ((size & (size - 1n)) === 0n && i.from % size === 0n) {
    const hostBits = size.toString(2).length - 1;
    return `${formatIp(family, i.from)}/${bits - hostBits}`;
  }
  return `${formatIp(family, i.from)}-${formatIp(family, i.to)}`;
}

/** One address match value in canonical form (a single-address range prints as the address, as nft does). */
export function canonicalAddress(text: string, family: IpFamily): string | undefined {
  const i = elementInterval(text, family);
  return i && formatInterval(i, family);
}

/**
 * Canonical element list: intervals merged (interval sets) or addresses deduplicated (address sets), sorted, in
 * nft's print form. Undefined entries (unparseable text) are reported by the caller through `bad`.
 */
export function canonicalElements(
  texts: readonly string[],
  family: IpFamily,
  interval: boolean,
): { elements: string[]; bad: string[] } {
  const bad: string[] = [];
  const parsed: Interval[] = [];
  for (const t of texts) {
    const i = elementInterval(t, family);
    if (!i || (!interval && i.from !== i.to)) bad.push(t);
    else parsed.push(i);
  }
  const merged = interval
    ? mergeIntervals(parsed)
    : [...new Map(parsed.map((i) => [i.from, i])).values()].sort((a, b) => (a.from < b.from ? -1 : 1));
  return { elements: merged.map((i) => formatInterval(i, family)), bad };
}
