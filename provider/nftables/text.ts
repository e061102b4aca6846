// PURE. An NftRule / NftSet in nft's text syntax, for preview and logs: the literal lines an admin would read in
// `nft list table inet docker-firewall`. The kernel gets render.ts's JSON (nft's text syntax cannot carry a '"' and
// expands '$name'); here such a string is shown JSON-escaped, so a preview never shows other text than the rule holds.
import type { PortRange } from "../netfilter/kernel-rule";
import { NFT_CHAIN, NFT_FAMILY, NFT_TABLE, type NftRule, type NftSet } from "./nft-model";

const IP = { ipv4: "ip", ipv6: "ip6" } as const;
// '"' has no escape in nft's text syntax and '$name' is expanded as a variable: such strings show JSON-escaped.
const q = (s: string) => (/["$\\]/.test(s) ? JSON.stringify(s) : `"${s}"`);
const port = (p: PortRange) => (p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`);
const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
const neg = (not: boolean) => (not ? "!= " : "");

export function nftRuleText(r: NftRule): string {
  const p: string[] = [`meta nfproto ${r.family}`];
  const v = r.verdict;
  if (v.kind === "reject" && v.type === "tcp reset") p.push(r.family === "ipv4" ? "ip version 4" : "ip6 version 6");
  if (r.l4proto) p.push(`meta l4proto ${r.l4proto}`);
  if (r.iifname) p.push(`iifname ${neg(r.iifname.not)}${q(r.iifname.value)}`);
  if (r.oifname) p.push(`oifname ${neg(r.oifname.not)}${q(r.oifname.value)}`);
  for (const a of r.addresses) {
    const left = `${IP[r.family]} ${a.field}${a.port ? ` . meta l4proto . th ${a.port}` : ""}`;
    p.push(`${left} ${neg(a.not)}${a.value}`);
  }
  if (r.dport && (r.l4proto === "tcp" || r.l4proto === "udp")) p.push(`${r.l4proto} dport ${port(r.dport)}`);
  if (r.icmp) {
    const proto = r.family === "ipv4" ? "icmp" : "icmpv6";
    p.push(`${proto} type ${r.icmp.type}`);
    if (r.icmp.code !== undefined) p.push(`${proto} code ${r.icmp.code}`);
  }
  if (r.ctState) p.push(`ct state ${r.ctState.join(",")}`);
  if (r.ctStatus) p.push(`ct status ${r.ctStatus.join(",")}`);
  if (r.origDaddr) p.push(`ct original ${IP[r.family]} daddr ${r.origDaddr}`);
  if (r.origDport) p.push(`ct original proto-dst ${port(r.origDport)}`);
  if (r.ctDirectionOriginal) p.push("ct direction original");
  if (r.limit) p.push(`limit rate ${r.limit.rate}/${r.limit.per} burst ${r.limit.burst} packets`);
  switch (v.kind) {
    case "accept":
      p.push(
        v.mark.and === undefined
          ? `meta mark set ${hex(v.mark.or)} accept`
          : `meta mark set meta mark & ${hex(v.mark.and)} | ${hex(v.mark.or)} accept`,
      );
      break;
    case "reject":
      p.push(v.type === "tcp reset" ? "reject with tcp reset" : `reject with ${v.type} ${v.code}`);
      break;
    case "log":
      p.push(
        [
          "log",
          ...(v.prefix !== undefined ? [`prefix ${q(v.prefix)}`] : []),
          ...(v.level ? [`level ${v.level}`] : []),
        ].join(" "),
      );
      break;
    default:
      p.push(v.kind);
  }
  p.push(`comment ${q(r.comment)}`);
  return p.join(" ");
}

export function nftSetText(s: NftSet): string {
  const flags = [...(s.interval ? ["interval"] : []), ...(s.timeout ? ["timeout"] : [])];
  const addr = s.family === "ipv4" ? "ipv4_addr" : "ipv6_addr";
  const element = (e: string) => (s.comments?.[e] === undefined ? e : `${e} comment ${q(s.comments[e])}`);
  const parts = [
    `type ${s.ports ? `${addr} . inet_proto . inet_service` : addr};`,
    ...(flags.length > 0 ? [`flags ${flags.join(",")};`] : []),
    ...(s.size !== undefined ? [`size ${s.size};`] : []),
    ...(s.timeout ? [`timeout ${s.timeout}s;`] : []),
    ...(s.elements.length > 0 ? [`elements = { ${s.elements.map(element).join(", ")} }`] : []),
  ];
  return `set ${s.name} { ${parts.join(" ")} }`;
}

/** The whole table as nft's text syntax would write it. */
export function nftTableText(sets: readonly NftSet[], rules: readonly NftRule[]): string {
  return [
    `table ${NFT_FAMILY} ${NFT_TABLE} {`,
    ...sets.map((s) => `  ${nftSetText(s)}`),
    `  chain ${NFT_CHAIN} {`,
    "    type filter hook forward priority filter - 1; policy accept;",
    ...rules.map((r) => `    ${nftRuleText(r)}`),
    "  }",
    "}",
    "",
  ].join("\n");
}
