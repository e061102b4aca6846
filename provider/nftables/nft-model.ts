// The nftables form of our firewall: one `table inet docker-firewall` holding named sets and one forward base chain
// that runs before Docker 29's (docs/docker29-nftables.md). NftRule is one kernel rule in canonical form: what
// render.ts writes and what parse.ts reads back from `nft -n -j list table inet docker-firewall`.
import type { IpFamily } from "../model/address";
import type { KernelProtocol, Negatable, PortRange } from "../netfilter/kernel-rule";

export { NFT_FAMILY, NFT_TABLE } from "../protocol/paths";
export const NFT_CHAIN = "forward";
/** `filter - 1`: before Docker's filter-FORWARD (priority filter = 0); Docker's docs want the mark set at <= -1. */
export const NFT_CHAIN_PRIORITY = -1;

/** An address match: `ip saddr 10.0.0.0/8`, `ip6 daddr != 2001:db8::1-2001:db8::5`, `ip saddr @office`. */
export interface NftAddressMatch {
  readonly field: "saddr" | "daddr";
  /** A host address ("1.2.3.4"), a network ("10.0.0.0/8"), a range ("a-b") or a set ("@name"). */
  readonly value: string;
  readonly not: boolean;
  /**
   * A port set (hash:ip,port / hash:net,port): `ip saddr . meta l4proto . th dport @name`, the address from `field`,
   * the transport port from this one (iptables' second set flag).
   */
  readonly port?: "sport" | "dport";
}

/** dockerd's --bridge-accept-fwmark as the statement that sets it: meta mark set meta mark & and | or. */
export interface MarkSet {
  /** Bits kept from the packet's mark (nft folds the set bits in: and = ~mask | mark). Absent: mark overwritten. */
  readonly and?: number;
  readonly or: number;
}

export type NftVerdict =
  | { readonly kind: "accept"; readonly mark: MarkSet }
  | { readonly kind: "drop" }
  | { readonly kind: "return" }
  | { readonly kind: "reject"; readonly type: "icmp" | "icmpv6" | "tcp reset"; readonly code?: number }
  /** A log statement and no verdict: the packet goes on to the next rule, as iptables' LOG target. */
  | { readonly kind: "log"; readonly prefix?: string; readonly level?: NftLogLevel };

export const NFT_LOG_LEVELS = ["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"] as const;
export type NftLogLevel = (typeof NFT_LOG_LEVELS)[number];

export const NFT_CT_STATES = ["invalid", "established", "related", "new", "untracked"] as const;
export type NftCtState = (typeof NFT_CT_STATES)[number];

export interface NftRule {
  readonly family: IpFamily;
  /** The whole comment: ownership tag first (netfilter/tag.ts), then the user's words. */
  readonly comment: string;
  readonly l4proto?: KernelProtocol;
  /** nft's wildcard form: iptables' "eth+" is "eth*". */
  readonly iifname?: Negatable<string>;
  readonly oifname?: Negatable<string>;
  readonly addresses: readonly NftAddressMatch[];
  /** The container's port, after DNAT (`tcp dport`). */
  readonly dport?: PortRange;
  readonly icmp?: { readonly type: number; readonly code?: number };
  /** In nft's bit order (invalid, established, related, new, untracked). */
  readonly ctState?: readonly NftCtState[];
  readonly ctStatus?: readonly ("snat" | "dnat")[];
  /** The address the client connected to, before DNAT (`ct original ip daddr`). */
  readonly origDaddr?: string;
  /** The published port, before DNAT (`ct original proto-dst`). */
  readonly origDport?: PortRange;
  /** `ct direction original`: replies to container-initiated traffic must not match a published-port rule. */
  readonly ctDirectionOriginal?: boolean;
  readonly limit?: {
    readonly rate: number;
    readonly per: "second" | "minute" | "hour" | "day";
    readonly burst: number;
  };
  readonly verdict: NftVerdict;
}

/** An IpSet as a named set in our table. Entries are canonical intervals (see set-elements.ts). */
export interface NftSet {
  readonly name: string;
  readonly family: IpFamily;
  /** hash:net sets need `flags interval` (CIDRs); hash:ip sets hold single addresses. */
  readonly interval: boolean;
  /** A port set: elements are `address . protocol . port` (type `ipv4_addr . inet_proto . inet_service`). */
  readonly ports?: true;
  readonly size?: number;
  /** Default element timeout in seconds (0 or absent: permanent). */
  readonly timeout?: number;
  /** Sorted, merged, in nft's print form ("10.0.0.0/8", "1.2.3.4", "a-b", "10.0.0.0/8 . tcp . 80"). */
  readonly elements: readonly string[];
  /** Element comments by element (absent: no element has one). */
  readonly comments?: Readonly<Record<string, string>>;
}
