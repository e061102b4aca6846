// One kernel rule as iptables-save prints it, in structured form. Everything here is already canonical
// (masked CIDRs, numeric ICMP types, reduced rates), so rendering is printing and parsing is reading back.
import type { IpFamily } from "../model/address";

export const DOCKER_USER = "DOCKER-USER";

export interface Negatable<T> {
  readonly value: T;
  readonly not: boolean;
}

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

export type KernelProtocol = "tcp" | "udp" | "icmp" | "ipv6-icmp";

export interface SetMatch {
  readonly name: string;
  readonly flags: string;
  readonly not: boolean;
}

export interface ConntrackMatch {
  readonly states?: readonly string[];
  /** --ctorigdst, printed like ipset prints addresses (no /32). */
  readonly origDst?: string;
  readonly origDstPort?: PortRange;
  /** Always ORIGINAL when origDstPort is set: replies to container-initiated traffic must not match. */
  readonly dir?: "ORIGINAL";
}

export type KernelTarget =
  | { readonly kind: "ACCEPT" }
  | { readonly kind: "DROP" }
  | { readonly kind: "RETURN" }
  | { readonly kind: "REJECT"; readonly with: string }
  | { readonly kind: "LOG"; readonly prefix?: string; readonly level?: number };

export interface KernelRule {
  readonly family: IpFamily;
  readonly chain: string;
  readonly source?: Negatable<string>;
  readonly destination?: Negatable<string>;
  readonly inInterface?: Negatable<string>;
  readonly outInterface?: Negatable<string>;
  readonly protocol?: KernelProtocol;
  /** The whole comment: ownership tag first, then the user's words. */
  readonly comment: string;
  readonly dport?: PortRange;
  readonly icmpType?: string;
  readonly srcRange?: Negatable<string>;
  readonly dstRange?: Negatable<string>;
  readonly sets: readonly SetMatch[];
  readonly conntrack?: ConntrackMatch;
  readonly limit?: { readonly rate: string; readonly burst?: number };
  readonly target: KernelTarget;
}
