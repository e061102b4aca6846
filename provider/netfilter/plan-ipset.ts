// Desired vs live set -> an `ipset restore` script. Membership and header changes are atomic for readers:
// the new contents are built in a temporary set and swapped in (swap works while iptables rules use the set).
// ipset restore itself is not atomic, so the plan also says how to undo a partial apply.
import type { IpSetSpec } from "../model/ipset";
import { TEMP_SET_PREFIX } from "../model/primitives";
import { headerOf, type LiveSet, memberText, renderAdd, renderCreate, sameHeader } from "./ipset-text";
import type { Change } from "./plan-chain";

export interface SetPlan {
  readonly name: string;
  readonly script: string | undefined;
  /** Run (with -exist semantics tolerated) after a failed apply, to leave the host as before. */
  readonly rollback: string;
  readonly changes: readonly Change[];
}

export class SetIdentityChange extends Error {
  readonly kind = "SetIdentityChange";
}

function entryLines(set: LiveSet): string[] {
  return [...set.entries].map(([e, c]) => memberText(e, c)).sort();
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
          changes: [{ kind: "delete", family: "set", subject: name, before: entryLines(live), after: [] }],
        }
      : { name, script: undefined, rollback: "", changes: [] };
  }
  const name = desired.name;
  const header = headerOf(desired);
  if (live && (live.header.type !== header.type || live.header.family !== header.family)) {
    throw new SetIdentityChange(
      `set ${name} is ${live.header.type}/${live.header.family} on the host but ${header.type}/${header.family} is wanted: type and family changes need a replacement`,
    );
  }
  const wantLines = desired.entries.map((e) => memberText(e.entry, e.comment)).sort();
  const haveLines = live ? entryLines(live) : [];
  const same = wantLines.length === haveLines.length && wantLines.every((l, i) => l === haveLines[i]);
  if (live && same && sameHeader(live.header, header)) return { name, script: undefined, rollback: "", changes: [] };

  // A new set is built under the temporary name and renamed last: if another tool created the name meanwhile,
  // the rename fails and the rollback destroys only the temporary set, never the other tool's set.
  const script = [
    renderCreate(tempName, header, desired.hashsize),
    ...desired.entries.map((e) => renderAdd(tempName, e)),
    ...(live ? [`swap ${tempName} ${name}`, `destroy ${tempName}`] : [`rename ${tempName} ${name}`]),
    "",
  ].join("\n");
  const rollback = `destroy ${tempName}\n`;
  const have = new Set(haveLines);
  const want = new Set(wantLines);
  const change: Change = live
    ? {
        kind: "update",
        family: "set",
        subject: name,
        before: haveLines.filter((l) => !want.has(l)),
        after: wantLines.filter((l) => !have.has(l)),
      }
    : { kind: "create", family: "set", subject: name, before: [], after: wantLines };
  return { name, script, rollback, changes: [change] };
}

/** Temporary sets left by a crashed apply; safe to destroy under the node lock (nothing references them). */
export function staleTempSets(live: ReadonlyMap<string, LiveSet>): string[] {
  return [...live.keys()].filter((n) => n.startsWith(TEMP_SET_PREFIX));
}
