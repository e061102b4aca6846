// One rule's statements from `nft -n -j list table inet docker-firewall` -> NftRule. Host text: every field is
// checked, and statements that are not exactly a shape render.ts writes give no rule (the caller keeps it raw, never
// guessed at), so a tampered or foreign rule is reported and preserved instead of being misread as ours.
import type { IpFamily } from "../model/address";
import type { KernelProtocol, PortRange } from "../netfilter/kernel-rule";
import {
  NFT_CT_STATES,
  NFT_LOG_LEVELS,
  type NftAddressMatch,
  type NftCtState,
  type NftLogLevel,
  type NftRule,
  type NftVerdict,
} from "./nft-model";
import type { Json } from "./render";
import { canonicalAddress } from "./set-elements";

type Obj = { [k: string]: Json };
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const int = (v: unknown) => (typeof v === "number" && Number.isInteger(v) ? v : undefined);

const NFPROTO: Record<string, IpFamily> = { ipv4: "ipv4", "2": "ipv4", ipv6: "ipv6", "10": "ipv6" };
const L4: Record<string, KernelProtocol> = {
  tcp: "tcp",
  "6": "tcp",
  udp: "udp",
  "17": "udp",
  icmp: "icmp",
  "1": "icmp",
  "ipv6-icmp": "ipv6-icmp",
  "58": "ipv6-icmp",
};
const CT_BITS: Record<NftCtState, number> = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };
const STATUS_BITS = { snat: 16, dnat: 32 } as const;

/** A flag list as nft prints it: names, numbers, or one number holding the bits. */
function bitsOf(v: Json, names: Readonly<Record<string, number>>): number | undefined {
  const items = Array.isArray(v) ? v : [v];
  let bits = 0;
  for (const x of items) {
    const n = typeof x === "string" ? names[x] : int(x);
    if (n === undefined) return undefined;
    bits |= n;
  }
  return bits;
}

function portOf(v: Json): PortRange | undefined {
  const n = int(v);
  if (n !== undefined) return { from: n, to: n };
  const r = isObj(v) && Array.isArray(v.range) ? v.range : undefined;
  const [a, b] = [int(r?.[0]), int(r?.[1])];
  return a !== undefined && b !== undefined ? { from: a, to: b } : undefined;
}

/** An address, prefix or range as nft lists it, as text. */
export function addressText(v: Json | undefined): string | undefined {
  if (typeof v === "string") return v;
  if (isObj(v) && isObj(v.prefix) && typeof v.prefix.addr === "string" && int(v.prefix.len) !== undefined)
    return `${v.prefix.addr}/${v.prefix.len}`;
  if (isObj(v) && Array.isArray(v.range) && typeof v.range[0] === "string" && typeof v.range[1] === "string")
    return `${v.range[0]}-${v.range[1]}`;
  return undefined;
}

interface Draft {
  family?: IpFamily;
  l4proto?: KernelProtocol;
  iifname?: { value: string; not: boolean };
  oifname?: { value: string; not: boolean };
  addresses: NftAddressMatch[];
  dport?: PortRange;
  icmpType?: number;
  icmpCode?: number;
  ctState?: NftCtState[];
  ctStatus?: ("snat" | "dnat")[];
  origDaddr?: string;
  origDport?: PortRange;
  ctDirectionOriginal?: boolean;
  limit?: NftRule["limit"];
  mark?: { and?: number; or: number };
  verdict?: NftVerdict;
}

/** Sets the protocol a statement implies (`meta l4proto tcp` then `tcp dport` agree). */
function setL4(d: Draft, p: KernelProtocol | undefined): boolean {
  if (!p || (d.l4proto && d.l4proto !== p)) return false;
  d.l4proto = p;
  return true;
}

/** Sets the family a statement implies; a second, different one makes the rule unreadable. */
function pin(d: Draft, f: IpFamily): boolean {
  if (d.family && d.family !== f) return false;
  d.family = f;
  return true;
}

/**
 * `ip saddr . meta l4proto . th dport @name`: a port set match as render.ts writes it. After `meta l4proto tcp` nft
 * lists `th` as `tcp` (the same transport header bytes) and hides that statement: the protocol comes from it then.
 */
function readPortSet(d: Draft, parts: readonly Json[], right: Json, not: boolean): boolean {
  const [a, l4, th, ...more] = parts;
  const { protocol, field } = isObj(a) && isObj(a.payload) ? a.payload : {};
  const tp = isObj(th) && isObj(th.payload) ? th.payload : {};
  const port = tp.protocol === "th" || ((tp.protocol === "tcp" || tp.protocol === "udp") && setL4(d, tp.protocol));
  const portField = port ? tp.field : undefined;
  if (more.length > 0 || !isObj(l4) || !isObj(l4.meta) || l4.meta.key !== "l4proto") return false;
  if ((protocol !== "ip" && protocol !== "ip6") || (field !== "saddr" && field !== "daddr")) return false;
  if (portField !== "sport" && portField !== "dport") return false;
  if (typeof right !== "string" || !right.startsWith("@")) return false;
  d.addresses.push({ field, value: right, not, port: portField });
  return pin(d, protocol === "ip" ? "ipv4" : "ipv6");
}

function readMatch(d: Draft, m: Obj): boolean {
  const { op, left, right } = m;
  if (op !== "==" && op !== "!=" && op !== "in") return false;
  const not = op === "!=";
  if (!isObj(left) || right === undefined) return false;
  if (Array.isArray(left.concat)) return op !== "in" && readPortSet(d, left.concat, right, not);
  if (isObj(left.meta)) {
    const key = left.meta.key;
    if ((key === "iifname" || key === "oifname") && typeof right === "string" && op !== "in" && !d[key]) {
      d[key] = { value: right, not };
      return true;
    }
    if (not) return false;
    if (key === "nfproto") return NFPROTO[String(right)] !== undefined && pin(d, NFPROTO[String(right)] as IpFamily);
    if (key === "l4proto") {
      // nft hides `meta nfproto` before an ICMP protocol, which implies the family.
      const p = L4[String(right)];
      if (p === "icmp" || p === "ipv6-icmp") return setL4(d, p) && pin(d, p === "icmp" ? "ipv4" : "ipv6");
      return setL4(d, p);
    }
    return false;
  }
  if (isObj(left.payload)) {
    const { protocol, field } = left.payload;
    if ((protocol === "ip" || protocol === "ip6") && (field === "saddr" || field === "daddr") && op !== "in") {
      const family: IpFamily = protocol === "ip" ? "ipv4" : "ipv6";
      const text = addressText(right);
      const value = text?.startsWith("@") ? text : text && canonicalAddress(text, family);
      if (!value || !pin(d, family)) return false;
      d.addresses.push({ field, value, not });
      return true;
    }
    if (not) return false;
    // render.ts's family marker on tcp-reset rules (their `meta nfproto` is hidden from listings).
    if (field === "version" && ((protocol === "ip" && right === 4) || (protocol === "ip6" && right === 6)))
      return pin(d, protocol === "ip" ? "ipv4" : "ipv6");
    if ((protocol === "tcp" || protocol === "udp") && field === "dport") {
      if (d.dport || !setL4(d, protocol)) return false;
      d.dport = portOf(right);
      return d.dport !== undefined;
    }
    if ((protocol === "icmp" || protocol === "icmpv6") && (field === "type" || field === "code")) {
      const n = int(right);
      if (n === undefined || !setL4(d, protocol === "icmp" ? "icmp" : "ipv6-icmp")) return false;
      if (!pin(d, protocol === "icmp" ? "ipv4" : "ipv6")) return false;
      if (field === "type" ? d.icmpType !== undefined : d.icmpCode !== undefined || d.icmpType === undefined)
        return false;
      if (field === "type") d.icmpType = n;
      else d.icmpCode = n;
      return true;
    }
    return false;
  }
  if (isObj(left.ct) && !not) {
    const { key, dir } = left.ct;
    const seen = { state: d.ctState, status: d.ctStatus, direction: d.ctDirectionOriginal, "proto-dst": d.origDport };
    if (seen[key as keyof typeof seen] !== undefined || ((key === "ip daddr" || key === "ip6 daddr") && d.origDaddr))
      return false;
    if (key === "state" && dir === undefined) {
      const bits = bitsOf(right, CT_BITS);
      d.ctState = NFT_CT_STATES.filter((s) => bits !== undefined && bits & CT_BITS[s]);
      return bits !== undefined && bits !== 0 && d.ctState.reduce((a, s) => a | CT_BITS[s], 0) === bits;
    }
    if (key === "status" && dir === undefined) {
      const bits = bitsOf(right, STATUS_BITS);
      d.ctStatus = (["snat", "dnat"] as const).filter((s) => bits !== undefined && bits & STATUS_BITS[s]);
      return bits !== undefined && bits !== 0 && (bits & ~48) === 0;
    }
    if (key === "direction" && dir === undefined) {
      d.ctDirectionOriginal = right === "original" || right === 0;
      return d.ctDirectionOriginal;
    }
    if (dir !== "original") return false;
    if (key === "proto-dst") {
      d.origDport = portOf(right);
      return d.origDport !== undefined;
    }
    if (key === "ip daddr" || key === "ip6 daddr") {
      const family: IpFamily = key === "ip daddr" ? "ipv4" : "ipv6";
      const text = addressText(right);
      d.origDaddr = text && canonicalAddress(text, family);
      return d.origDaddr !== undefined && pin(d, family);
    }
  }
  return false;
}

function readMark(v: Json): { and?: number; or: number } | undefined {
  const or = int(v);
  if (or !== undefined) return { or };
  const bor = isObj(v) && Array.isArray(v["|"]) ? v["|"] : undefined;
  const band = isObj(bor?.[0]) && Array.isArray(bor[0]["&"]) ? bor[0]["&"] : undefined;
  const isMark = (x: unknown) => isObj(x) && isObj(x.meta) && x.meta.key === "mark";
  const and = int(band?.[1]);
  const bits = int(bor?.[1]);
  return band && isMark(band[0]) && and !== undefined && bits !== undefined ? { and, or: bits } : undefined;
}

function readStatement(d: Draft, s: Json): boolean {
  if (!isObj(s) || d.verdict) return false;
  const [key, ...more] = Object.keys(s);
  if (key === undefined || more.length > 0) return false;
  const v = s[key] as Json;
  switch (key) {
    case "match":
      return isObj(v) && readMatch(d, v);
    case "limit": {
      const rate = isObj(v) ? int(v.rate) : undefined;
      const burst = isObj(v) ? (int(v.burst) ?? 5) : undefined;
      const per = isObj(v) ? v.per : undefined;
      if (!isObj(v) || d.limit || v.inv || v.rate_unit !== undefined || rate === undefined || burst === undefined)
        return false;
      if (per !== "second" && per !== "minute" && per !== "hour" && per !== "day") return false;
      d.limit = { rate, per, burst };
      return true;
    }
    case "mangle": {
      const isMark = isObj(v) && isObj(v.key) && isObj(v.key.meta) && v.key.meta.key === "mark";
      if (d.mark) return false;
      d.mark = isMark ? readMark(v.value as Json) : undefined;
      return d.mark !== undefined;
    }
    case "accept":
      if (!d.mark) return false;
      d.verdict = { kind: "accept", mark: d.mark };
      return true;
    case "drop":
    case "return":
      d.verdict = { kind: key };
      return !d.mark;
    case "reject": {
      const type = isObj(v) ? v.type : undefined;
      const code = isObj(v) ? int(v.expr) : undefined;
      if (type === "tcp reset") d.verdict = { kind: "reject", type };
      else if ((type === "icmp" || type === "icmpv6") && code !== undefined) {
        // nft drops `meta nfproto` from a listing when the ICMP reject already implies the family.
        if (!pin(d, type === "icmp" ? "ipv4" : "ipv6")) return false;
        d.verdict = { kind: "reject", type, code };
      } else return false;
      return !d.mark;
    }
    case "log": {
      const prefix = isObj(v) && typeof v.prefix === "string" ? v.prefix : undefined;
      const level = isObj(v) ? v.level : undefined;
      if (isObj(v) && Object.keys(v).some((k) => k !== "prefix" && k !== "level")) return false;
      if (level !== undefined && !NFT_LOG_LEVELS.includes(level as NftLogLevel)) return false;
      d.verdict = {
        kind: "log",
        ...(prefix !== undefined && { prefix }),
        ...(level !== undefined && level !== "warn" && { level: level as NftLogLevel }),
      };
      return !d.mark;
    }
  }
  return false;
}

/** One rule's statements as an NftRule, or undefined when they are not exactly a shape render.ts writes. */
export function parseRuleExpr(expr: readonly Json[], comment: string | undefined): NftRule | undefined {
  const d: Draft = { addresses: [] };
  if (comment === undefined || !expr.every((s) => readStatement(d, s)) || !d.family || !d.verdict) return undefined;
  return {
    family: d.family,
    comment,
    ...(d.l4proto && { l4proto: d.l4proto }),
    ...(d.iifname && { iifname: d.iifname }),
    ...(d.oifname && { oifname: d.oifname }),
    addresses: d.addresses,
    ...(d.dport && { dport: d.dport }),
    ...(d.icmpType !== undefined && {
      icmp: { type: d.icmpType, ...(d.icmpCode !== undefined && { code: d.icmpCode }) },
    }),
    ...(d.ctState && { ctState: d.ctState }),
    ...(d.ctStatus && { ctStatus: d.ctStatus }),
    ...(d.origDaddr && { origDaddr: d.origDaddr }),
    ...(d.origDport && { origDport: d.origDport }),
    ...(d.ctDirectionOriginal && { ctDirectionOriginal: true }),
    ...(d.limit && { limit: d.limit }),
    verdict: d.verdict,
  };
}
