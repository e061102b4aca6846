// PURE. Drift of our nftables table against what the resources want, in the same kinds as on iptables hosts
// (DESIGN invariant 7): a block missing, modified or out of place, a set's members changed (or the set gone or
// reshaped), and rules nobody manages (reported in exclusive mode, where the next apply removes them).
import { canonicalJson } from "../model/canonical-json";
import { compareTags, tagOfComment } from "../netfilter/tag";
import type { NftRule, NftSet } from "./nft-model";
import type { ReadTable } from "./parse-table";
import type { NftBlockChange } from "./plan";

export type NftDrift =
  | { readonly kind: "missing"; readonly id: string }
  | { readonly kind: "modified"; readonly id: string; readonly live: number; readonly want: number }
  | { readonly kind: "reordered"; readonly id: string }
  | {
      readonly kind: "set";
      readonly name: string;
      readonly missing?: boolean;
      readonly reshaped?: boolean;
      readonly added: readonly string[];
      readonly removed: readonly string[];
    }
  | { readonly kind: "unmanaged"; readonly count: number };

/** A human line for refresh output. */
export function describeDrift(d: NftDrift): string {
  switch (d.kind) {
    case "missing":
      return `rule ${d.id}: missing from the host`;
    case "modified":
      return `rule ${d.id}: changed on the host (${d.live} live nft rules, ${d.want} wanted)`;
    case "reordered":
      return `rule ${d.id}: out of place (blocks go in (priority, id) order, above unmanaged rules)`;
    case "set":
      if (d.missing) return `set ${d.name}: missing from the host`;
      if (d.reshaped) return `set ${d.name}: type or flags changed on the host`;
      return `set ${d.name}: members changed (+${d.added.join(", ") || "none"}, -${d.removed.join(", ") || "none"})`;
    case "unmanaged":
      return `${d.count} unmanaged rules in our table (exclusive mode removes them)`;
  }
}

/** A set's elements with their comments, as `nft list` shows them. */
const membersOf = (s: NftSet) =>
  s.elements.map((e) => (s.comments?.[e] === undefined ? e : `${e} comment ${JSON.stringify(s.comments[e])}`));

export function nftDrift(
  live: ReadTable,
  want: { readonly blocks: readonly NftBlockChange[]; readonly sets: readonly NftSet[] },
  options: { readonly exclusive?: boolean } = {},
): NftDrift[] {
  const out: NftDrift[] = [];
  const tagged = live.rules.map((r) => ({ r, tag: r.comment === undefined ? undefined : tagOfComment(r.comment) }));
  for (const b of want.blocks) {
    const rules = b.rules ?? [];
    const mine = tagged.filter((t) => t.tag?.id === b.tag.id);
    if (mine.length === 0) {
      if (rules.length > 0) out.push({ kind: "missing", id: b.tag.id });
      continue;
    }
    const same =
      mine.length === rules.length &&
      mine.every((t, i) => canonicalJson(t.r.rule) === canonicalJson(rules[i] as NftRule));
    if (!same) out.push({ kind: "modified", id: b.tag.id, live: mine.length, want: rules.length });
  }
  // In place: the tagged rules are contiguous blocks in (priority, id) order at the top of the chain.
  const firstForeign = tagged.findIndex((t) => !t.tag);
  const reordered = new Set<string>();
  tagged.forEach((t, i) => {
    if (!t.tag) return;
    const prev = tagged[i - 1]?.tag;
    const seenBefore =
      tagged.slice(0, Math.max(0, i - 1)).some((p) => p.tag?.id === t.tag?.id) && prev?.id !== t.tag.id;
    if ((firstForeign >= 0 && i > firstForeign) || (prev && compareTags(prev, t.tag) > 0) || seenBefore)
      reordered.add(t.tag.id);
  });
  for (const id of reordered) {
    if (want.blocks.some((b) => b.tag.id === id) && !out.some((d) => "id" in d && d.id === id))
      out.push({ kind: "reordered", id });
  }
  const liveSets = new Map(live.sets.map((s) => [s.name, s]));
  for (const s of want.sets) {
    const l = liveSets.get(s.name);
    if (!l) {
      out.push({ kind: "set", name: s.name, missing: true, added: [], removed: [] });
      continue;
    }
    const reshaped =
      l.family !== s.family ||
      l.interval !== s.interval ||
      l.ports !== s.ports ||
      l.size !== s.size ||
      l.timeout !== s.timeout;
    // A changed comment shows as its element removed and added back with the other comment.
    const [have, want] = [membersOf(l), membersOf(s)];
    const added = have.filter((e) => !want.includes(e));
    const removed = want.filter((e) => !have.includes(e));
    if (reshaped || added.length > 0 || removed.length > 0)
      out.push({ kind: "set", name: s.name, ...(reshaped && { reshaped }), added, removed });
  }
  const unmanaged = tagged.filter((t) => !t.tag).length;
  if (options.exclusive && unmanaged > 0) out.push({ kind: "unmanaged", count: unmanaged });
  return out;
}
