// Desired vs live set -> an `ipset restore` script. A packet is always judged by the old set or the new one, never
// by a mix that neither holds: a small membership change goes in place, adding before deleting (the set passes
// through old ∪ new; `-exist` re-adds a member with its new comment in one step); a bigger one, or a header change,
// is built in a temporary set and swapped in (swap works while iptables rules use the set). ipset restore itself
// is not atomic, so the plan also says how to undo a partial apply.
import type { CanonicalEntry, IpSetSpec } from "../model/ipset";
import { TEMP_SET_PREFIX } from "../model/primitives";
import { headerOf, type LiveSet, memberText, renderAdd, renderCreate, sameHeader } from "./ipset-text";
import type { Change } from "./plan-chain";

export interface SetPlan {
  readonly name: string;
  readonly script: string | undefined;
  /** Run (with -exist semantics tolerated) after a failed apply, to leave the host as before. */
  readonly rollback: string;
  /** The script changes the live set itself (run with `-exist`; `rollback` is its inverse, which also undoes it). */
  readonly inPlace: boolean;
  readonly changes: readonly Change[];
}

export class SetIdentityChange extends Error {
  readonly kind = "SetIdentityChange";
}

/** Members as ipset prints them, in the set's order (no sort: 100,000 entries are planned in one pass). */
function entryLines(set: LiveSet): string[] {
  return [...set.entries].map(([e, c]) => memberText(e, c));
}

interface MemberDiff {
  /** Live members not desired as they are, and desired ones not live as they are (as ipset prints them, sorted). */
  readonly before: string[];
  readonly after: string[];
  /** Desired members to add (missing, or live with another comment). */
  readonly added: readonly CanonicalEntry[];
  /** Live members whose entry is not desired at all. */
  readonly removed: readonly CanonicalEntry[];
}

/** One pass over each side, no per-entry search; the second pass only when the first found a difference. */
function memberDiff(desired: IpSetSpec, live: LiveSet): MemberDiff {
  const added = desired.entries.filter((e) => !live.entries.has(e.entry) || live.entries.get(e.entry) !== e.comment);
  const after = added.map((e) => memberText(e.entry, e.comment));
  // Desired entries are unique (model/ipset.ts): all of them live, and as many, is the same set.
  if (after.length === 0 && live.entries.size === desired.entries.length)
    return { before: [], after, added, removed: [] };
  const want = new Map(desired.entries.map((e) => [e.entry, e.comment]));
  const before: string[] = [];
  const removed: CanonicalEntry[] = [];
  for (const [entry, comment] of live.entries) {
    if (!want.has(entry)) removed.push({ entry, comment });
    if (!want.has(entry) || want.get(entry) !== comment) before.push(memberText(entry, comment));
  }
  return { before: before.sort(), after: after.sort(), added, removed };
}

/** In place when that is fewer kernel operations than a refill and old ∪ new fits the set's maxelem. */
function fitsInPlace(diff: MemberDiff, desired: IpSetSpec, live: LiveSet): boolean {
  const ops = diff.added.length + diff.removed.length;
  const fresh = diff.added.filter((e) => !live.entries.has(e.entry)).length;
  return ops < desired.entries.length && live.entries.size + fresh <= live.header.maxelem;
}

/** Adds first, then deletes: every member goes from old to new directly. The inverse does the same backwards, so
 * it undoes any prefix of the script and never holds more members than the script did. */
function inPlace(name: string, live: LiveSet, diff: MemberDiff): { script: string; rollback: string } {
  const script = [...diff.added.map((e) => renderAdd(name, e)), ...diff.removed.map((e) => `del ${name} ${e.entry}`)];
  const rollback = [
    ...diff.removed.map((e) => renderAdd(name, e)),
    ...diff.added.map((e) =>
      live.entries.has(e.entry)
        ? renderAdd(name, { entry: e.entry, comment: live.entries.get(e.entry) })
        : `del ${name} ${e.entry}`,
    ),
  ];
  return { script: `${script.join("\n")}\n`, rollback: `${rollback.join("\n")}\n` };
}

/** `desired === null` destroys the set. `tempName` must be unique to this plan (see TEMP_SET_PREFIX). */
export function planIpSet(desired: IpSetSpec | null, live: LiveSet | undefined, tempName: string): SetPlan {
  if (!desired) {
    const name = live?.name ?? "";
    return live
      ? {
          name,
          script: `destroy ${name}\n`,
          rollback: "",
          inPlace: false,
          changes: [{ kind: "delete", family: "set", subject: name, before: entryLines(live), after: [] }],
        }
      : { name, script: undefined, rollback: "", inPlace: false, changes: [] };
  }
  const name = desired.name;
  const header = headerOf(desired);
  if (live && (live.header.type !== header.type || live.header.family !== header.family)) {
    throw new SetIdentityChange(
      `set ${name} is ${live.header.type}/${live.header.family} on the host but ${header.type}/${header.family} is wanted: type and family changes need a replacement`,
    );
  }
  const diff = live && memberDiff(desired, live);
  const same = diff !== undefined && diff.before.length === 0 && diff.after.length === 0;
  if (live && same && sameHeader(live.header, header))
    return { name, script: undefined, rollback: "", inPlace: false, changes: [] };
  const update: Change | undefined = diff && {
    kind: "update",
    family: "set",
    subject: name,
    before: diff.before,
    after: diff.after,
  };
  if (live && diff && update && sameHeader(live.header, header) && fitsInPlace(diff, desired, live))
    return { name, ...inPlace(name, live, diff), inPlace: true, changes: [update] };

  // A new set is built under the temporary name and renamed last: if another tool created the name meanwhile,
  // the rename fails and the rollback destroys only the temporary set, never the other tool's set.
  const script = [
    renderCreate(tempName, header, desired.hashsize ?? initialHashsize(desired.entries.length)),
    ...desired.entries.map((e) => renderAdd(tempName, e)),
    ...(live ? [`swap ${tempName} ${name}`, `destroy ${tempName}`] : [`rename ${tempName} ${name}`]),
    "",
  ].join("\n");
  const rollback = `destroy ${tempName}\n`;
  const change: Change = update ?? {
    kind: "create",
    family: "set",
    subject: name,
    before: [],
    after: desired.entries.map((e) => memberText(e.entry, e.comment)),
  };
  return { name, script, rollback, inPlace: false, changes: [change] };
}

/** ipset's default hashsize (1024) makes the kernel grow and rehash the set again and again while a big restore
 * fills it; sized for the entries from the start, 100,000 entries restore about 20% faster (bench/results/
 * profile.md). Never drift: the kernel picks and grows hashsize by itself (ipset-text.ts keeps it out of headers). */
export function initialHashsize(entries: number): number | undefined {
  if (entries <= 4096) return undefined;
  let h = 1024;
  while (h * 2 < entries && h < 2 ** 20) h *= 2;
  return h;
}

/** Temporary sets left by a crashed apply; safe to destroy under the node lock (nothing references them). */
export function staleTempSets(live: ReadonlyMap<string, LiveSet>): string[] {
  return [...live.keys()].filter((n) => n.startsWith(TEMP_SET_PREFIX));
}
