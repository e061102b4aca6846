// Set members as canonical intervals (per protocol and port in a port set), with their comments. An nft interval set
// refuses overlapping elements where an ipset hash:net accepts them, so an IpSet's entries are merged into disjoint
// intervals before rendering; read-back elements go through the same merge, so desired and live sets compare as
// plain string lists whatever nft chose to print.
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

/** A set entry as nft's print form or an IpSet's canonical entry, with its comment. */
export interface SetEntry {
  readonly text: string;
  readonly comment?: string;
}

export const PORT_PROTOCOLS = ["tcp", "udp", "sctp", "udplite"] as const;

/** A port set element `a . proto . port` split into its address and its `proto . port` key; undefined if malformed. */
function splitPortElement(text: string): { addr: string; key: string } | undefined {
  const [addr, proto, port, ...more] = text.split(" . ");
  const n = Number(port);
  const ok = PORT_PROTOCOLS.includes(proto as "tcp") && /^\d{1,5}$/.test(port ?? "") && n <= 65535;
  return addr !== undefined && ok && more.length === 0 ? { addr, key: `${proto} . ${n}` } : undefined;
}

interface Item extends Interval {
  readonly index: number;
  readonly comment?: string;
}

export interface CanonicalElements {
  readonly elements: string[];
  readonly comments: Record<string, string>;
  /** Entries that are not elements of the set (the caller names them). */
  readonly bad: string[];
  /** Two overlapping entries (indices) with different comments: one nft element cannot carry both. */
  readonly conflict?: { readonly index: number; readonly other: number };
}

/**
 * Canonical element list, sorted, in nft's print form: interval sets merge overlapping entries (nft refuses
 * overlaps: "conflicting intervals", "File exists") and adjacent ones with the same comment (nft keeps adjacent
 * elements apart, so ones with different comments stay apart); other sets deduplicate. Port sets do it per
 * protocol and port. The same function canonicalises desired and listed sets, so they compare as plain lists.
 */
export function canonicalElements(
  entries: readonly SetEntry[],
  family: IpFamily,
  interval: boolean,
  ports = false,
): CanonicalElements {
  const bad: string[] = [];
  const groups = new Map<string, Item[]>();
  entries.forEach((e, index) => {
    const split = ports ? splitPortElement(e.text) : { addr: e.text, key: "" };
    const i = split && elementInterval(split.addr, family);
    if (!split || !i || (!interval && i.from !== i.to)) {
      bad.push(e.text);
      return;
    }
    const list = groups.get(split.key) ?? [];
    list.push({ ...i, index, ...(e.comment !== undefined && { comment: e.comment }) });
    groups.set(split.key, list);
  });
  const out: Array<{ from: bigint; key: string; text: string; comment?: string }> = [];
  let conflict: CanonicalElements["conflict"];
  for (const [key, list] of groups) {
    const merged: Item[] = [];
    for (const i of [...list].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0))) {
      const last = merged[merged.length - 1];
      const overlaps = last !== undefined && i.from <= last.to;
      const adjoins = interval && last !== undefined && i.from === last.to + 1n && i.comment === last.comment;
      if (overlaps && i.comment !== last.comment && !conflict)
        conflict =
          i.comment !== undefined ? { index: i.index, other: last.index } : { index: last.index, other: i.index };
      if (last && (overlaps || adjoins)) merged[merged.length - 1] = { ...last, to: i.to > last.to ? i.to : last.to };
      else merged.push(i);
    }
    for (const m of merged) {
      const text = `${formatInterval(m, family)}${ports ? ` . ${key}` : ""}`;
      out.push({ from: m.from, key, text, ...(m.comment !== undefined && { comment: m.comment }) });
    }
  }
  out.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const comments: Record<string, string> = {};
  for (const o of out) if (o.comment !== undefined) comments[o.text] = o.comment;
  return { elements: out.map((o) => o.text), comments, bad, ...(conflict && { conflict }) };
}
