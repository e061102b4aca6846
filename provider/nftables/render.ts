// NftRule / NftSet -> libnftables JSON (what `nft -j -f -` reads). JSON, not nft's text syntax: nft's text parser
// has no escape for '"' (a comment or log prefix holding one cannot be written, and `nft list` prints it raw), while
// its JSON carries any string. Statement order is fixed; the kernel keeps it, so read-back compares field by field.
import type { IpFamily } from "../model/address";
import type { PortRange } from "../netfilter/kernel-rule";
import {
  NFT_CHAIN,
  NFT_CHAIN_PRIORITY,
  NFT_FAMILY,
  NFT_TABLE,
  type NftAddressMatch,
  type NftRule,
  type NftSet,
  type NftVerdict,
} from "./nft-model";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const IP: Record<IpFamily, string> = { ipv4: "ip", ipv6: "ip6" };
const TABLE = { family: NFT_FAMILY, table: NFT_TABLE } as const;

const match = (left: Json, right: Json, op = "=="): Json => ({ match: { op, left, right } });
const meta = (key: string): Json => ({ meta: { key } });
const payload = (protocol: string, field: string): Json => ({ payload: { protocol, field } });
const port = (p: PortRange): Json => (p.from === p.to ? p.from : { range: [p.from, p.to] });

/** An address, network, range or set reference as nft's JSON right-hand side. */
export function addressValue(text: string): Json {
  if (text.startsWith("@")) return text;
  const dash = text.indexOf("-");
  if (dash > 0) return { range: [text.slice(0, dash), text.slice(dash + 1)] };
  const slash = text.indexOf("/");
  if (slash > 0) return { prefix: { addr: text.slice(0, slash), len: Number(text.slice(slash + 1)) } };
  return text;
}

/** A set element: an address value, or `a . proto . port` as a concatenation; with its comment when it has one. */
export function elementValue(text: string, comment?: string): Json {
  const [addr, proto, p] = text.split(" . ");
  const val = proto === undefined ? addressValue(text) : { concat: [addressValue(addr as string), proto, Number(p)] };
  return comment === undefined ? val : { elem: { val, comment } };
}

function addressMatch(family: IpFamily, a: NftAddressMatch): Json {
  const field = payload(IP[family], a.field);
  // A port set: the address, the packet's protocol and its transport port (`th`: any protocol with ports).
  const left = a.port ? { concat: [field, meta("l4proto"), payload("th", a.port)] } : field;
  return match(left, addressValue(a.value), a.not ? "!=" : "==");
}

function verdictStatements(v: NftVerdict): Json[] {
  switch (v.kind) {
    case "accept": {
      const mark = meta("mark");
      const value: Json = v.mark.and === undefined ? v.mark.or : { "|": [{ "&": [mark, v.mark.and] }, v.mark.or] };
      return [{ mangle: { key: mark, value } }, { accept: null }];
    }
    case "drop":
      return [{ drop: null }];
    case "return":
      return [{ return: null }];
    case "reject":
      return [{ reject: v.code === undefined ? { type: v.type } : { type: v.type, expr: v.code } }];
    case "log":
      return [
        {
          log: {
            ...(v.prefix !== undefined && { prefix: v.prefix }),
            ...(v.level !== undefined && { level: v.level }),
          },
        },
      ];
  }
}

/** The statements of one rule, in our fixed order. */
export function ruleExpr(r: NftRule): Json[] {
  const out: Json[] = [match(meta("nfproto"), r.family)];
  // nft 1.0.6 hides `meta nfproto` from listings of a `reject with tcp reset` rule (the kernel keeps it), so the
  // family could not be read back: `ip version 4` / `ip6 version 6` (always true there) keeps it visible.
  if (r.verdict.kind === "reject" && r.verdict.type === "tcp reset")
    out.push(match(payload(IP[r.family], "version"), r.family === "ipv4" ? 4 : 6));
  if (r.l4proto) out.push(match(meta("l4proto"), r.l4proto));
  if (r.iifname) out.push(match(meta("iifname"), r.iifname.value, r.iifname.not ? "!=" : "=="));
  if (r.oifname) out.push(match(meta("oifname"), r.oifname.value, r.oifname.not ? "!=" : "=="));
  for (const a of r.addresses) out.push(addressMatch(r.family, a));
  if (r.dport && (r.l4proto === "tcp" || r.l4proto === "udp"))
    out.push(match(payload(r.l4proto, "dport"), port(r.dport)));
  if (r.icmp) {
    const proto = r.family === "ipv4" ? "icmp" : "icmpv6";
    out.push(match(payload(proto, "type"), r.icmp.type));
    if (r.icmp.code !== undefined) out.push(match(payload(proto, "code"), r.icmp.code));
  }
  if (r.ctState) out.push(match({ ct: { key: "state" } }, [...r.ctState], "in"));
  if (r.ctStatus) out.push(match({ ct: { key: "status" } }, [...r.ctStatus], "in"));
  if (r.origDaddr)
    out.push(match({ ct: { key: `${IP[r.family]} daddr`, dir: "original" } }, addressValue(r.origDaddr)));
  if (r.origDport) out.push(match({ ct: { key: "proto-dst", dir: "original" } }, port(r.origDport)));
  if (r.ctDirectionOriginal) out.push(match({ ct: { key: "direction" } }, "original"));
  if (r.limit) out.push({ limit: { rate: r.limit.rate, per: r.limit.per, burst: r.limit.burst } });
  out.push(...verdictStatements(r.verdict));
  return out;
}

export const addRule = (r: NftRule): Json => ({
  add: { rule: { ...TABLE, chain: NFT_CHAIN, comment: r.comment, expr: ruleExpr(r) } },
});

/** A rule read back that we do not own, re-added verbatim (its statements as `nft -j` printed them). */
export const addRawRule = (expr: readonly Json[], comment?: string): Json => ({
  add: { rule: { ...TABLE, chain: NFT_CHAIN, ...(comment !== undefined && { comment }), expr: [...expr] } },
});

export function setObject(s: NftSet): { [k: string]: Json } {
  const flags = [...(s.interval ? ["interval"] : []), ...(s.timeout ? ["timeout"] : [])];
  const addr = s.family === "ipv4" ? "ipv4_addr" : "ipv6_addr";
  return {
    ...TABLE,
    name: s.name,
    type: s.ports ? [addr, "inet_proto", "inet_service"] : addr,
    ...(flags.length > 0 && { flags }),
    ...(s.size !== undefined && { size: s.size }),
    ...(s.timeout !== undefined && { timeout: s.timeout }),
  };
}

/** Creates the set if absent, empties it, fills it: one batch, so a rule never sees a half-filled set. */
export function replaceSet(s: NftSet): Json[] {
  const set = setObject(s);
  const ref = { ...TABLE, name: s.name };
  return [
    { add: { set } },
    { flush: { set: ref } },
    ...(s.elements.length > 0
      ? [{ add: { element: { ...ref, elem: s.elements.map((e) => elementValue(e, s.comments?.[e])) } } }]
      : []),
  ];
}

export const deleteSet = (name: string): Json => ({ delete: { set: { ...TABLE, name } } });

/** Our table and base chain, created when absent (`add` leaves existing ones as they are). */
export const ensureTableAndChain = (): Json[] => [
  { add: { table: { family: NFT_FAMILY, name: NFT_TABLE } } },
  {
    add: {
      chain: { ...TABLE, name: NFT_CHAIN, type: "filter", hook: "forward", prio: NFT_CHAIN_PRIORITY, policy: "accept" },
    },
  },
];

export const flushChain = (): Json => ({ flush: { chain: { ...TABLE, name: NFT_CHAIN } } });

export const batch = (commands: readonly Json[]): string => `${JSON.stringify({ nftables: commands })}\n`;

/**
 * The command that applies a batch read from stdin. nft 1.0.6 reads JSON from `-f -` by opening /dev/stdin, which
 * fails (ENXIO) when stdin is a socket, as node's and some ssh servers' are: `cat` hands it a pipe.
 */
export const NFT_APPLY_ARGV: readonly string[] = ["sh", "-c", "cat | nft -j -f -"];
