// A DockerUserRule's kernel rules (netfilter/expand.ts owns the expansion: families, ports x protocols, log
// before the action) and an IpSet, in their nftables form. What nft cannot express the same way is refused here,
// naming the user's field, so an nftables host fails at check time instead of in the kernel.
import { type IpFamily, parseCidr } from "../model/address";
import type { IpSetSpec } from "../model/ipset";
import type { DockerUserRule } from "../model/rule";
import type { AcceptMark } from "../netfilter/firewall-backend";
import type { KernelRule, KernelTarget, Negatable } from "../netfilter/kernel-rule";
import {
  type MarkSet,
  NFT_CT_STATES,
  NFT_LOG_LEVELS,
  type NftAddressMatch,
  type NftCtState,
  type NftRule,
  type NftSet,
  type NftVerdict,
} from "./nft-model";
import { canonicalElements } from "./set-elements";

/** A refusal: the user's field and why. */
export interface NftRefusal {
  readonly field: string;
  readonly reason: string;
}

/**
 * Measured (nft 1.0.6, JSON input): a rule comment of 253 bytes is kept, 254 fails (the 256-byte user data holds a
 * type-length header and the NUL). nft's text syntax caps comments at 128: another reason render.ts writes JSON.
 */
export const NFT_COMMENT_MAX_BYTES = 253;

/** The statement that makes Docker's "ALLOW FW MARK" rule accept: only the mask's bits change. */
export function markSetFor(m: AcceptMark): MarkSet {
  if (m.mask === undefined) return { or: m.mark };
  // nft folds the set bits into the and-mask when it stores the rule; render it that way so read-back is equal.
  return { and: ((~m.mask >>> 0) | m.mark) >>> 0, or: m.mark };
}

/**
 * Interface names nft's JSON input takes for protocol keywords ("datatype mismatch, expected network interface name,
 * expression has type Internet protocol"), measured with nft 1.0.6 against every name in /etc/protocols: quoting
 * them keeps the quotes in the name, and a set of one fails the same. Such a name (exact, not a `+` prefix) is refused.
 */
export const NFT_KEYWORD_INTERFACES: ReadonlySet<string> = new Set([
  "ah",
  "comp",
  "dccp",
  "esp",
  "icmp",
  "icmpv6",
  "sctp",
  "tcp",
  "udp",
  "udplite",
]);

const iface = (n: Negatable<string> | undefined) =>
  n && { value: n.value.endsWith("+") ? `${n.value.slice(0, -1)}*` : n.value, not: n.not };

/** iptables' printed address ("1.2.3.4/32", "10.0.0.0/8") as nft prints it ("1.2.3.4", "10.0.0.0/8"). */
function nftAddress(text: string): string {
  const c = parseCidr(text);
  if (!c) throw new Error(`invalid address ${JSON.stringify(text)}`);
  return text.endsWith(`/${c.family === "ipv4" ? 32 : 128}`) ? text.slice(0, text.lastIndexOf("/")) : text;
}

const REJECT: Record<string, { type: "icmp" | "icmpv6" | "tcp reset"; code?: number }> = {
  "icmp-port-unreachable": { type: "icmp", code: 3 },
  "icmp-host-unreachable": { type: "icmp", code: 1 },
  "icmp-net-unreachable": { type: "icmp", code: 0 },
  "icmp-admin-prohibited": { type: "icmp", code: 13 },
  "icmp6-port-unreachable": { type: "icmpv6", code: 4 },
  "icmp6-addr-unreachable": { type: "icmpv6", code: 3 },
  "icmp6-no-route": { type: "icmpv6", code: 0 },
  "icmp6-adm-prohibited": { type: "icmpv6", code: 1 },
  "tcp-reset": { type: "tcp reset" },
};

const PER: Record<string, "second" | "minute" | "hour" | "day"> = {
  sec: "second",
  min: "minute",
  hour: "hour",
  day: "day",
};

function verdictOf(t: KernelTarget, mark: AcceptMark | undefined): NftVerdict | NftRefusal {
  switch (t.kind) {
    case "ACCEPT":
      // Without dockerd's accept mark an accept here is not final: Docker's own chain could still drop the packet.
      return mark
        ? { kind: "accept", mark: markSetFor(mark) }
        : {
            field: "action",
            reason:
              "ACCEPT needs dockerd's --bridge-accept-fwmark on an nftables host (an accept in our table does not override Docker's drops)",
          };
    case "DROP":
      return { kind: "drop" };
    case "RETURN":
      return { kind: "return" };
    case "REJECT": {
      const r = REJECT[t.with];
      if (!r) return { field: "rejectWith", reason: `${t.with} has no nftables equivalent` };
      return { kind: "reject", ...r };
    }
    case "LOG":
      return {
        kind: "log",
        ...(t.prefix !== undefined && { prefix: t.prefix }),
        ...(t.level !== undefined && t.level !== 4 && { level: NFT_LOG_LEVELS[t.level] }),
      };
  }
}

const isRefusal = (v: unknown): v is NftRefusal => typeof v === "object" && v !== null && "reason" in v;

/** One kernel rule of a DockerUserRule block in nftables form, or why nftables cannot carry it. */
export function nftRuleOf(r: KernelRule, mark: AcceptMark | undefined): NftRule | NftRefusal {
  const verdict = verdictOf(r.target, mark);
  if (isRefusal(verdict)) return verdict;
  if (Buffer.byteLength(r.comment) > NFT_COMMENT_MAX_BYTES) {
    return {
      field: "comment",
      reason: `with the ownership tag is ${Buffer.byteLength(r.comment)} bytes; nftables keeps at most ${NFT_COMMENT_MAX_BYTES}`,
    };
  }
  for (const [field, n] of [
    ["inInterface", r.inInterface],
    ["outInterface", r.outInterface],
  ] as const) {
    if (n && NFT_KEYWORD_INTERFACES.has(n.value))
      return {
        field,
        reason: `"${n.value}" is a protocol keyword to nft's JSON input: it cannot match an interface of that name`,
      };
  }
  const addresses: NftAddressMatch[] = [];
  if (r.source) addresses.push({ field: "saddr", value: nftAddress(r.source.value), not: r.source.not });
  if (r.destination) addresses.push({ field: "daddr", value: nftAddress(r.destination.value), not: r.destination.not });
  if (r.srcRange) addresses.push({ field: "saddr", value: r.srcRange.value, not: r.srcRange.not });
  if (r.dstRange) addresses.push({ field: "daddr", value: r.dstRange.value, not: r.dstRange.not });
  const portMatch = r.sets.some((s) => s.flags.includes(","));
  if (portMatch && (r.protocol === "icmp" || r.protocol === "ipv6-icmp")) {
    // ICMP has no ports: our port sets hold tcp/udp/sctp/udplite entries only, so such a match never matches.
    return {
      field: "protocol",
      reason: `${r.protocol} has no ports: a port set match (two setFlags) never matches it`,
    };
  }
  for (const s of r.sets) {
    // xt_set: the first flag picks the address, the second the port (src: the packet's source port). Two flags make
    // a port set's match; whether the set has that shape is checked where the sets are known (setFlagsRefusal).
    const [flag, portFlag] = s.flags.split(",");
    addresses.push({
      field: flag === "dst" ? "daddr" : "saddr",
      value: `@${s.name}`,
      not: s.not,
      ...(portFlag !== undefined && { port: portFlag === "src" ? "sport" : "dport" }),
    });
  }
  const states = r.conntrack?.states ?? [];
  const status = states.filter((s) => s === "SNAT" || s === "DNAT").map((s) => s.toLowerCase() as "snat" | "dnat");
  const plain = states.filter((s) => s !== "SNAT" && s !== "DNAT").map((s) => s.toLowerCase());
  if (status.length > 0 && plain.length > 0) {
    return {
      field: "connectionStates",
      reason: "SNAT/DNAT cannot be combined with other states on an nftables host (they are ct status, not ct state)",
    };
  }
  const ctState = NFT_CT_STATES.filter((s) => plain.includes(s)) as NftCtState[];
  const [icmpType, icmpCode] = (r.icmpType ?? "").split("/");
  const rate = r.limit ? /^(\d+)\/(\w+)$/.exec(r.limit.rate) : undefined;
  const ct = r.conntrack;
  return {
    family: r.family,
    comment: r.comment,
    ...(r.protocol && { l4proto: r.protocol }),
    ...(r.inInterface && { iifname: iface(r.inInterface) }),
    ...(r.outInterface && { oifname: iface(r.outInterface) }),
    addresses,
    ...(r.dport && { dport: r.dport }),
    ...(r.icmpType !== undefined && {
      icmp: { type: Number(icmpType), ...(icmpCode !== undefined && { code: Number(icmpCode) }) },
    }),
    ...(ctState.length > 0 && { ctState }),
    ...(status.length > 0 && { ctStatus: status }),
    ...(ct?.origDst && { origDaddr: ct.origDst }),
    ...(ct?.origDstPort && { origDport: ct.origDstPort }),
    ...(ct?.dir && { ctDirectionOriginal: true }),
    ...(rate && {
      limit: { rate: Number(rate[1]), per: PER[rate[2] as string] ?? "second", burst: r.limit?.burst ?? 5 },
    }),
    verdict,
  };
}

/**
 * Measured (nft 1.0.6, JSON input, every set kind alike): an element comment of 251 bytes is kept, 252 is refused
 * and 253 is accepted but listed without its comment, so longer ones are refused here.
 */
export const NFT_ELEMENT_COMMENT_MAX_BYTES = 251;

/** An IpSet entry as nft prints the element: "10.0.0.0/8,tcp:80" is "10.0.0.0/8 . tcp . 80". */
function elementText(entry: string, ports: boolean): string {
  if (!ports) return entry;
  const [addr, protoPort] = entry.split(",");
  return `${addr} . ${(protoPort ?? "").replace(":", " . ")}`;
}

/** An IpSet as a named set of our table, or why nftables cannot carry it. */
export function nftSetOf(s: IpSetSpec): NftSet | NftRefusal {
  const long = s.entries.findIndex((e) => Buffer.byteLength(e.comment ?? "") > NFT_ELEMENT_COMMENT_MAX_BYTES);
  if (long >= 0) {
    return {
      field: `entries.${long}.comment`,
      reason: `is ${Buffer.byteLength(s.entries[long]?.comment ?? "")} bytes; an nftables set element keeps at most ${NFT_ELEMENT_COMMENT_MAX_BYTES}`,
    };
  }
  const ports = s.type.endsWith(",port");
  const interval = s.type.startsWith("hash:net");
  const c = canonicalElements(
    s.entries.map((e) => ({ text: elementText(e.entry, ports), comment: e.comment })),
    s.family as IpFamily,
    interval,
    ports,
  );
  if (c.bad.length > 0) return { field: "entries", reason: `${c.bad[0]} is not a ${s.family} element of ${s.type}` };
  if (c.conflict) {
    const [a, b] = [s.entries[c.conflict.index]?.entry, s.entries[c.conflict.other]?.entry];
    return {
      field: `entries.${c.conflict.index}.comment`,
      reason: `${a} overlaps ${b}, whose comment differs: an nftables interval set holds them as one element, with one comment (give both the same comment, or none)`,
    };
  }
  return {
    name: s.name as string,
    family: s.family as IpFamily,
    interval,
    ...(ports && { ports: true as const }),
    ...(s.maxelem !== 65536 && { size: s.maxelem }),
    ...(s.timeout !== undefined && s.timeout > 0 && { timeout: s.timeout }),
    elements: c.elements,
    ...(Object.keys(c.comments).length > 0 && { comments: c.comments }),
  };
}

/**
 * A rule's set match against the set's shape (`portSet(name)`: true for a port set, undefined when unknown). With
 * fewer flags than the set has dimensions iptables' set match never matches (measured: docs/docker29-nftables.md,
 * "Port sets and entry comments"); on nftables the flags give the match's shape, so a mismatch is refused.
 */
export function setFlagsRefusal(
  rule: DockerUserRule,
  portSet: (name: string) => boolean | undefined,
): NftRefusal | undefined {
  for (const side of ["source", "destination"] as const) {
    const m = rule[side];
    if (m?.kind !== "set") continue;
    const ports = portSet(m.set);
    if (ports === undefined || ports === (m.flags ?? "").includes(",")) continue;
    return {
      field: `${side}.setFlags`,
      reason: ports
        ? `set ${m.set} holds address,port pairs: give two flags, e.g. src,dst (with one, iptables' set match never matches)`
        : `set ${m.set} holds addresses only: give one flag, src or dst (on an nftables host two flags make a port set match)`,
    };
  }
  return undefined;
}
