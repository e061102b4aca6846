// PURE. Which firewall backend a host's dockerd really uses (iptables-legacy, iptables-nft or native nftables) and,
// on nftables, the accept mark it was started with (--bridge-accept-fwmark), read from the live ruleset:
// `nft -j list ruleset` plus the iptables saves host-state.ts already parses. Facts measured on a real Docker 29
// are in docs/docker29-nftables.md; how this plugs into the read is at the end of that doc.
import type { IpFamily } from "../model/address";
import type { Backend } from "./host-state";
import { DOCKER_USER } from "./kernel-rule";
import { hasChain, type IptablesSave } from "./parse-iptables-save";

export type DockerFirewallBackend = "iptables-legacy" | "iptables-nft" | "nftables";

/** A base chain (one with a hook) as `nft -j` reports it. */
export interface NftBaseChain {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly type: string;
  readonly hook: string;
  readonly prio: number;
  readonly policy: string;
}

export interface NftRule {
  readonly family: string;
  readonly table: string;
  readonly chain: string;
  readonly handle: number;
  readonly comment?: string;
  /** nft's JSON statements, unvalidated: read only through the narrow matchers below. */
  readonly expr: readonly unknown[];
}

export interface NftRuleset {
  readonly tables: readonly { readonly family: string; readonly name: string }[];
  readonly baseChains: readonly NftBaseChain[];
  readonly rules: readonly NftRule[];
}

/** dockerd's --bridge-accept-fwmark, as its rules show it: `meta mark [& mask] == mark`. */
export interface AcceptMark {
  readonly mark: number;
  readonly mask?: number;
}

export class NftJsonError extends Error {
  readonly kind = "NftJsonError";
}

/** Docker 29's own tables (one per family); ours and foreign tables never share this name. */
export const DOCKER_TABLE = "docker-bridges";
/** The comment dockerd puts on the rule that accepts marked packets (moby's nftabler/network.go). */
export const ACCEPT_MARK_COMMENT = "ALLOW FW MARK";
const DOCKER_FAMILIES: Readonly<Record<string, IpFamily>> = { ip: "ipv4", ip6: "ipv6" };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === "string" ? v : undefined);
const u32 = (v: unknown) => (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined);

/** Parses `nft -j list ruleset` output (host text: every field is checked, unknown objects are skipped). */
export function parseNftRulesetJson(text: string): NftRuleset {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new NftJsonError(`nft -j list ruleset: not JSON (${(e as Error).message.slice(0, 120)})`);
  }
  const items = isObj(doc) ? doc.nftables : undefined;
  if (!Array.isArray(items)) throw new NftJsonError('nft -j list ruleset: no top-level "nftables" array');
  const tables: NftRuleset["tables"][number][] = [];
  const baseChains: NftBaseChain[] = [];
  const rules: NftRule[] = [];
  for (const item of items) {
    if (!isObj(item)) continue;
    const { table, chain, rule } = item;
    if (isObj(table)) {
      const family = str(table.family);
      const name = str(table.name);
      if (family && name) tables.push({ family, name });
    } else if (isObj(chain) && chain.hook !== undefined) {
      const c = {
        family: str(chain.family),
        table: str(chain.table),
        name: str(chain.name),
        type: str(chain.type),
        hook: str(chain.hook),
        policy: str(chain.policy) ?? "accept",
      };
      const prio = typeof chain.prio === "number" && Number.isInteger(chain.prio) ? chain.prio : undefined;
      if (c.family && c.table && c.name && c.type && c.hook && prio !== undefined) {
        baseChains.push({ ...c, prio } as NftBaseChain);
      }
    } else if (isObj(rule)) {
      const r = { family: str(rule.family), table: str(rule.table), chain: str(rule.chain), handle: u32(rule.handle) };
      if (r.family && r.table && r.chain && r.handle !== undefined && Array.isArray(rule.expr)) {
        const comment = str(rule.comment);
        rules.push({
          ...(r as Omit<NftRule, "expr" | "comment">),
          ...(comment !== undefined && { comment }),
          expr: rule.expr,
        });
      }
    }
  }
  return { tables, baseChains, rules };
}

/** The mark of one `meta mark [& mask] == mark … accept` statement list, or undefined for any other shape. */
export function acceptMarkOfRule(expr: readonly unknown[]): AcceptMark | undefined {
  const first = expr[0];
  const match = isObj(first) && isObj(first.match) ? first.match : undefined;
  if (match?.op !== "==" || !expr.some((s) => isObj(s) && "accept" in s)) return undefined;
  const isMetaMark = (v: unknown) => isObj(v) && isObj(v.meta) && v.meta.key === "mark";
  const mark = u32(match.right);
  if (mark === undefined) return undefined;
  if (isMetaMark(match.left)) return { mark };
  const and = isObj(match.left) ? match.left["&"] : undefined;
  if (Array.isArray(and) && and.length === 2 && isMetaMark(and[0]) && u32(and[1]) !== undefined) {
    return { mark, mask: u32(and[1]) as number };
  }
  return undefined;
}

/** dockerd's flag syntax for a mark: "0x100" or "0x100/0xff00". */
export const formatAcceptMark = (m: AcceptMark) =>
  `0x${m.mark.toString(16)}${m.mask === undefined ? "" : `/0x${m.mask.toString(16)}`}`;

export interface BackendEvidence {
  /** `nft -j list ruleset`, parsed; undefined when the host has no nft tool (then it cannot be nftables-backed). */
  readonly nft?: NftRuleset;
  readonly saves: Readonly<Record<Backend, Partial<Record<IpFamily, IptablesSave>>>>;
}

export interface FirewallBackendFact {
  readonly backend: DockerFirewallBackend;
  /** Families Docker keeps rules for in that backend. */
  readonly families: readonly IpFamily[];
  /** nftables only: the mark Docker's forward chains accept; absent when dockerd runs without one. */
  readonly acceptMark?: AcceptMark;
  /** nftables only: Docker's base chains on the forward hook (ours must sort before their priority). */
  readonly dockerForwardChains: readonly NftBaseChain[];
  /** nftables only: DOCKER-USER chains left by an earlier iptables backend; their rules still run. */
  readonly staleDockerUser: readonly { readonly backend: Backend; readonly family: IpFamily }[];
  readonly warnings: readonly string[];
}

const BACKENDS: readonly Backend[] = ["nft", "legacy"];
const FAMILIES: readonly IpFamily[] = ["ipv4", "ipv6"];

function dockerUserChains(saves: BackendEvidence["saves"]) {
  return BACKENDS.flatMap((backend) =>
    FAMILIES.filter((family) => {
      const save = saves[backend][family];
      return save !== undefined && hasChain(save, DOCKER_USER);
    }).map((family) => ({ backend, family })),
  );
}

function nftablesFact(nft: NftRuleset, saves: BackendEvidence["saves"]): FirewallBackendFact | { error: string } {
  const isDocker = (x: { family: string; table?: string; name?: string }) =>
    (x.table ?? x.name) === DOCKER_TABLE && x.family in DOCKER_FAMILIES;
  const families = FAMILIES.filter((f) => nft.tables.some((t) => isDocker(t) && DOCKER_FAMILIES[t.family] === f));
  const marks = new Map<string, AcceptMark>();
  for (const r of nft.rules) {
    if (!isDocker(r) || r.comment !== ACCEPT_MARK_COMMENT) continue;
    const m = acceptMarkOfRule(r.expr);
    if (!m)
      return {
        error: `Docker's "${ACCEPT_MARK_COMMENT}" rule in ${r.family} ${r.table} ${r.chain} has an unknown shape`,
      };
    marks.set(formatAcceptMark(m), m);
  }
  if (marks.size > 1) {
    return {
      error: `Docker's tables accept several marks (${[...marks.keys()].join(", ")}): expected one --bridge-accept-fwmark`,
    };
  }
  const staleDockerUser = dockerUserChains(saves);
  const warnings = [
    ...(marks.size === 0
      ? ["dockerd runs without --bridge-accept-fwmark: an accept in another table cannot override Docker's drops"]
      : []),
    ...staleDockerUser.map(
      (s) =>
        `a DOCKER-USER chain is left in iptables-${s.backend} (${s.family}) from Docker's iptables backend: its rules still run until removed or rebooted`,
    ),
  ];
  const acceptMark = [...marks.values()][0];
  return {
    backend: "nftables",
    families,
    ...(acceptMark && { acceptMark }),
    dockerForwardChains: nft.baseChains.filter((c) => isDocker(c) && c.hook === "forward"),
    staleDockerUser,
    warnings,
  };
}

/**
 * Docker's backend: its nftables tables win (a DOCKER-USER then is a leftover of a backend switch); otherwise the
 * iptables backend holding IPv4's DOCKER-USER. Both iptables backends holding one is ambiguous: an error.
 */
export function detectFirewallBackend(e: BackendEvidence): FirewallBackendFact | { error: string } {
  if (e.nft?.tables.some((t) => t.name === DOCKER_TABLE && t.family in DOCKER_FAMILIES))
    return nftablesFact(e.nft, e.saves);
  const chains = dockerUserChains(e.saves);
  const v4 = chains.filter((c) => c.family === "ipv4").map((c) => c.backend);
  if (v4.length > 1) {
    return { error: "DOCKER-USER exists in both iptables-nft and iptables-legacy: Docker's backend is ambiguous" };
  }
  const backend = v4[0];
  if (!backend)
    return { error: "no Docker firewall found: neither a docker-bridges nftables table nor a DOCKER-USER chain" };
  return {
    backend: backend === "nft" ? "iptables-nft" : "iptables-legacy",
    families: chains.filter((c) => c.backend === backend).map((c) => c.family),
    dockerForwardChains: [],
    staleDockerUser: [],
    warnings: [],
  };
}
