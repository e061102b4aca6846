// PURE. What an nftables host holds for each resource, as its outputs show it (the same shapes as on iptables hosts):
// a rule's live lines per family in nft's text syntax and whether its block is in place, a set's members, the boot
// files' drift. Drift kinds are nftDrift's (drift.ts); the lines a rule wants come from the one expansion.
import type { IpFamily } from "../model/address";
import type { IpSetSpec } from "../model/ipset";
import type { DockerUserRule } from "../model/rule";
import { expandRule } from "../netfilter/expand";
import type { AcceptMark } from "../netfilter/firewall-backend";
import type { HostState } from "../netfilter/host-state";
import type { PersistenceConfig } from "../netfilter/intent";
import { tagOfComment } from "../netfilter/tag";
import { nftDrift } from "./drift";
import { nftRuleOf, nftSetOf } from "./from-kernel";
import type { NftRule, NftSet } from "./nft-model";
import type { ReadRule } from "./parse-table";
import { planTable } from "./plan";
import { nftRuleText } from "./text";
import { liveTable, nftBootFiles, staleBootFiles } from "./transaction";

/** A listed rule as text: nft's syntax when it has a shape we render, else its JSON statements. */
const ruleLine = (r: ReadRule) => (r.rule ? nftRuleText(r.rule) : JSON.stringify({ comment: r.comment, expr: r.expr }));
const familyOf = (r: ReadRule): IpFamily =>
  r.rule?.family ?? (/"ip6"|nfproto.{0,20}ipv6/.test(JSON.stringify(r.expr)) ? "ipv6" : "ipv4");

/** The block of rule `id`: its live lines per family, and whether it sits where the ordering wants it. */
export function nftBlockStatus(state: HostState, id: string) {
  const table = liveTable(state);
  const mine = table.rules.filter((r) => r.comment !== undefined && tagOfComment(r.comment)?.id === id);
  const lines: Record<IpFamily, string[]> = { ipv4: [], ipv6: [] };
  for (const r of mine) lines[familyOf(r)].push(ruleLine(r));
  const tag = mine[0]?.comment === undefined ? undefined : tagOfComment(mine[0].comment);
  const drift = tag ? nftDrift(table, { blocks: [{ tag, rules: mine.map((r) => r.rule as NftRule) }], sets: [] }) : [];
  return { lines, inPlace: !drift.some((d) => d.kind === "reordered") };
}

/** The nft lines a rule renders to on a host with this accept mark, per family; or why it cannot be applied. */
export function nftBlockLines(
  rule: DockerUserRule,
  id: string,
  families: readonly IpFamily[],
  mark: AcceptMark | undefined,
): Record<IpFamily, string[]> | { error: string; field: string; reason: string } {
  const kernel = expandRule(rule, { priority: rule.priority, id }, families);
  const out: Record<IpFamily, string[]> = { ipv4: [], ipv6: [] };
  for (const f of families) {
    for (const k of kernel[f]) {
      const r = nftRuleOf(k, mark);
      if ("reason" in r) return { error: `${r.field} ${r.reason}`, field: r.field, reason: r.reason };
      out[f].push(nftRuleText(r));
    }
  }
  return out;
}

/** A set of our table by name, as listed. */
export const nftLiveSet = (state: HostState, name: string): NftSet | undefined =>
  liveTable(state).sets.find((s) => s.name === name);

/** The IpSet as our table would hold it (undefined when nftables cannot carry it). */
export function nftWantedSet(spec: IpSetSpec): NftSet | undefined {
  const s = nftSetOf(spec);
  return "reason" in s ? undefined : s;
}

/** The boot persistence drift of an nftables host, in PersistentRuleset's shape. */
export function nftPersistenceDrift(state: HostState, config: PersistenceConfig | undefined) {
  const table = liveTable(state);
  const cfg = config ?? state.persisted.config ?? { exclusive: false };
  const { paths, linksMissing } = staleBootFiles(state, nftBootFiles(planTable(table, [], []), cfg));
  const unmanaged = table.rules.filter((r) => r.comment === undefined || !tagOfComment(r.comment)).map(ruleLine);
  return {
    enabled: state.persisted.config !== undefined,
    exclusive: cfg.exclusive,
    staleFiles: paths,
    unitEnabled: !linksMissing,
    unmanagedRules: unmanaged,
    warnings: [] as string[],
  };
}
