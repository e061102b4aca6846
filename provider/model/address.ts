// IP address arithmetic without I/O or DNS: parse, mask and print addresses exactly as iptables-save and
// ipset save print them (glibc inet_ntop: IPv4 dotted quad, IPv6 compressed lowercase with an IPv4 tail for
// IPv4-mapped and -compatible addresses). Hostnames are never accepted.

export type IpFamily = "ipv4" | "ipv6";

export interface Cidr {
  readonly family: IpFamily;
  /** Address bits, already masked to the prefix. */
  readonly value: bigint;
  readonly prefix: number;
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

export function bitsOf(family: IpFamily): number {
  return family === "ipv4" ? 32 : 128;
}

function parseV4(text: string): bigint | undefined {
  if (!V4.test(text)) return undefined;
  // Number arithmetic (exact below 2^53), one BigInt at the end: sets of 100,000 entries parse this per entry.
  let n = 0;
  for (const part of text.split(".")) n = n * 256 + Number(part);
  return BigInt(n);
}

function parseV6(text: string): bigint | undefined {
  if (text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let groups: string[];
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const splitHalf = (h: string) => (h === "" ? [] : h.split(":"));
  let tail = splitHalf(halves[halves.length - 1] ?? "");
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const last = tail[tail.length - 1];
  if (last?.includes(".")) {
    const v4 = parseV4(last);
    if (v4 === undefined) return undefined;
    tail = [...tail.slice(0, -1), ((v4 >> 16n) & 0xffffn).toString(16), (v4 & 0xffffn).toString(16)];
  }
  if (halves.length === 2) {
    const head = splitHalf(halves[0] ?? "");
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...Array<string>(missing).fill("0"), ...tail];
  } else {
    groups = tail;
  }
  if (groups.length !== 8 || !groups.every((g) => HEX_GROUP.test(g))) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

/** Parses a literal IPv4 or IPv6 address (no prefix). */
export function parseIp(text: string): { family: IpFamily; value: bigint } | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { family: "ipv4", value: v4 };
  const v6 = parseV6(text);
  if (v6 !== undefined) return { family: "ipv6", value: v6 };
  return undefined;
}

export function maskOf(family: IpFamily, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** Parses `addr` or `addr/len`, and says whether the address had bits set past the prefix (`10.0.0.5/24`). */
export function parseCidrStrict(text: string): { readonly cidr: Cidr; readonly hostBits: boolean } | undefined {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip) return undefined;
  const bits = bitsOf(ip.family);
  let prefix = bits;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(lenText)) return undefined;
    prefix = Number(lenText);
    if (prefix > bits) return undefined;
  }
  const value = ip.value & maskOf(ip.family, prefix);
  return { cidr: { family: ip.family, value, prefix }, hostBits: value !== ip.value };
}

/** Parses `addr` or `addr/len`; host bits are masked off, as the kernel does. */
export function parseCidr(text: string): Cidr | undefined {
  return parseCidrStrict(text)?.cidr;
}

/** Like parseCidr, but undefined when the address has bits set past the prefix (`10.0.0.5/24`). */
export function parseCidrExact(text: string): Cidr | undefined {
  const r = parseCidrStrict(text);
  return r && !r.hostBits ? r.cidr : undefined;
}

function formatV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => ((value >> s) & 0xffn).toString()).join(".");
}

function formatV6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  // RFC 5952: compress the longest run (length >= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  // glibc inet_ntop prints IPv4-compatible (::a.b.c.d, six zero groups) and IPv4-mapped (::ffff:a.b.c.d)
  // addresses with a dotted IPv4 tail; iptables-save and ipset save print what it returns.
  if (bestStart === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff))) {
    const tail = formatV4(value & 0xffffffffn);
    return bestLen === 6 ? `::${tail}` : `::ffff:${tail}`;
  }
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

export function formatIp(family: IpFamily, value: bigint): string {
  return family === "ipv4" ? formatV4(value) : formatV6(value);
}

/** iptables-save form: always with a prefix length (`1.2.3.4/32`). */
export function formatCidrIptables(c: Cidr): string {
  return `${formatIp(c.family, c.value)}/${c.prefix}`;
}

/** ipset save form: a full-length prefix is dropped (`1.2.3.4`, `10.0.0.0/24`). */
export function formatCidrIpset(c: Cidr): string {
  return c.prefix === bitsOf(c.family) ? formatIp(c.family, c.value) : `${formatIp(c.family, c.value)}/${c.prefix}`;
}

/** conntrack's --ctorigdst form: like ipset, a host address carries no prefix. */
export const formatCidrConntrack = formatCidrIpset;

export interface IpRange {
  readonly family: IpFamily;
  readonly from: bigint;
  readonly to: bigint;
}

/** Parses `A-B` (both literal addresses of one family, A <= B). */
export function parseRange(text: string): IpRange | undefined {
  const parts = text.split("-");
  if (parts.length !== 2) return undefined;
  const a = parseIp(parts[0] ?? "");
  const b = parseIp(parts[1] ?? "");
  if (!a || !b || a.family !== b.family || a.value > b.value) return undefined;
  return { family: a.family, from: a.value, to: b.value };
}

export function formatRange(r: IpRange): string {
  return `${formatIp(r.family, r.from)}-${formatIp(r.family, r.to)}`;
}
