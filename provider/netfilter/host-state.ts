// One read of a node's netfilter state (both iptables backends, both families, ipsets, and a few facts) arrives
// as sections framed by a per-read random nonce, so no rule text on the host can forge a section boundary.
// This module parses it and derives the facts the planner needs: which backend holds Docker's DOCKER-USER,
// whether IPv6 has one too, and whether the host can be managed at all.
import { type ContainerList, parseContainerList } from "../containers/container-list";
import type { IpFamily } from "../model/address";
import { type ForeignRulesPolicy, foreignRulesPolicy, isEmptyPolicy } from "../model/foreign-rules";
import { setName } from "../model/primitives";
import { NFT_FAMILY, NFT_TABLE } from "../protocol/paths";
import { READ, splitSections } from "../protocol/sections";
import {
  type AcceptMark,
  detectFirewallBackend,
  NftJsonError,
  type NftRuleset,
  parseNftRulesetJson,
} from "./firewall-backend";
import { checkForward, unfilteredIpv6Warning } from "./forward-check";
import { type LiveSet, parseIpsetSave } from "./ipset-text";
import { DOCKER_USER } from "./kernel-rule";
import { chainRules, hasChain, type IptablesSave, parseIptablesSave, type SavedRule } from "./parse-iptables-save";

export type Backend = "nft" | "legacy";

/** What the node has persisted for boot (protocol/paths.ts), as read. */
export interface PersistedState {
  /** persistence.json, when persistence is on. */
  readonly config?: { readonly backend: string; readonly exclusive: boolean; readonly foreign?: ForeignRulesPolicy };
  /** sha256 of each persisted file present, by path. */
  readonly hashes: ReadonlyMap<string, string>;
  /** Enabling symlinks of the boot unit that exist. */
  readonly links: readonly string[];
  /** Sets our IpSet resources own on the node. */
  readonly managedSets: readonly string[];
  /** Other tools' saved rulesets restored at boot (path -> number of lines mentioning DOCKER). */
  readonly otherPersisters: ReadonlyMap<string, number>;
}

export interface HostState {
  readonly tools: ReadonlySet<string>;
  readonly saves: Readonly<Record<Backend, Partial<Record<IpFamily, IptablesSave>>>>;
  readonly sets: ReadonlyMap<string, LiveSet>;
  /** `nft list tables` lines, e.g. "table ip docker-bridges" (Docker 29's nftables backend). */
  readonly nftTables: readonly string[];
  readonly dockerConfig?: string;
  readonly persisted: PersistedState;
  /** DNAT rules in ip6tables' nat table: Docker publishing container ports over IPv6. */
  readonly ipv6Dnat: number;
  /** net.ipv6.conf.all.forwarding is on (Docker turns it on when it enables IPv6 on a network). */
  readonly ipv6Forwarding: boolean;
  /** Why the sets could not be read (`ipset save` failed): `sets` is then unknown, not empty. */
  readonly ipsetError?: string;
  /** `nft -j list ruleset` and our table's listing, read where Docker runs nftables (or our table exists). */
  readonly nft?: { readonly ruleset: string; readonly table: string };
  /** The running containers, when the read was asked to list them (a rule targets a container). */
  readonly containers?: ContainerList;
}

/** DOCKER-USER's rules in one backend and family, as read (none when that filter table was not read). */
export function dockerUserRules(state: HostState, backend: Backend, family: IpFamily): SavedRule[] {
  const save = state.saves[backend][family];
  return save ? chainRules(save, DOCKER_USER) : [];
}

export class HostStateError extends Error {
  readonly kind = "HostStateError";
}

function parseSave(text: string | undefined, what: string): IptablesSave | undefined {
  if (!text?.includes("*filter")) return undefined;
  try {
    return parseIptablesSave(text);
  } catch (e) {
    throw new HostStateError(`cannot read ${what}: ${(e as Error).message}`);
  }
}

export function parseHostState(text: string, nonce: string): HostState {
  const s = splitSections(text, nonce);
  if (!s.has(READ.end)) throw new HostStateError("the state read was cut short (no end marker): connection lost?");
  const tools = new Set((s.get(READ.tools) ?? "").split("\n").filter((l) => /^[\w-]+$/.test(l)));
  const ipsetText = tools.has("ipset") ? (s.get(READ.ipset) ?? "") : "";
  // `ipset save` failing (a broken tool, a module that will not load) leaves the sets unknown, not empty.
  const ipsetFailed = /^ipset save failed: .*$/m.exec(ipsetText)?.[0];
  const ipsetSaid = ipsetText
    .split("\n")
    .filter((l) => l.trim() && l !== ipsetFailed && !/^(create|add) /.test(l))
    .join(" ")
    .slice(0, 300);
  const ipsetError = ipsetFailed && (ipsetSaid ? `${ipsetFailed}: ${ipsetSaid}` : ipsetFailed);
  return {
    tools,
    saves: {
      nft: {
        ipv4: parseSave(s.get(READ.nft4), "iptables-nft-save"),
        ipv6: parseSave(s.get(READ.nft6), "ip6tables-nft-save"),
      },
      legacy: {
        ipv4: parseSave(s.get(READ.legacy4), "iptables-legacy-save"),
        ipv6: parseSave(s.get(READ.legacy6), "ip6tables-legacy-save"),
      },
    },
    sets: parseIpsetSave(
      ipsetText
        .split("\n")
        .filter((l) => l.startsWith("create ") || l.startsWith("add "))
        .join("\n"),
    ),
    nftTables: (s.get(READ.nfttables) ?? "").split("\n").filter((l) => l.startsWith("table ")),
    ...(s.get(READ.dockerconf)?.trim() && { dockerConfig: s.get(READ.dockerconf)?.trim() }),
    persisted: parsePersisted(s),
    ipv6Forwarding: (s.get(READ.v6fwd) ?? "").trim() === "1",
    ipv6Dnat: (s.get(READ.v6dnat) ?? "").split("\n").reduce((n, l) => n + (/^\d+$/.test(l) ? Number(l) : 0), 0),
    ...(ipsetError && { ipsetError }),
    ...(s.get(READ.nftjson)?.trim() && {
      nft: { ruleset: s.get(READ.nftjson) ?? "", table: s.get(READ.nfttable) ?? "" },
    }),
    ...(s.has(READ.containers) && { containers: parseContainerList(s.get(READ.containers) ?? "") }),
  };
}

function parsePersisted(s: Map<string, string>): PersistedState {
  let config: PersistedState["config"];
  try {
    const c = JSON.parse(s.get(READ.persistconfig)?.trim() || "null") as {
      backend?: unknown;
      exclusive?: unknown;
      foreignRules?: unknown;
    } | null;
    // The file is the host's: its policy is validated like an input (a bad one reads as none).
    const foreign = foreignRulesPolicy.safeParse(c?.foreignRules ?? {});
    const policy = foreign.success && !isEmptyPolicy(foreign.data) ? foreign.data : undefined;
    if (c && typeof c.backend === "string")
      config = { backend: c.backend, exclusive: c.exclusive === true, ...(policy && { foreign: policy }) };
  } catch {
    // A corrupt config reads as "persistence off": the next persisting apply rewrites it.
  }
  const hashes = new Map<string, string>();
  const links: string[] = [];
  for (const line of (s.get(READ.persisted) ?? "").split("\n")) {
    const m = /^([0-9a-f]{64}) {2}(\/\S+)$/.exec(line);
    if (m) hashes.set(m[2] as string, m[1] as string);
    else if (line.startsWith("link /")) links.push(line.slice(5));
  }
  const otherPersisters = new Map<string, number>();
  for (const line of (s.get(READ.otherpersisters) ?? "").split("\n")) {
    const m = /^(\/\S+) (\d+)$/.exec(line);
    if (m) otherPersisters.set(m[1] as string, Number(m[2]));
  }
  // A corrupt or hostile list keeps only what could be a set name.
  const managedSets = (s.get(READ.managedsets) ?? "").split("\n").filter((l) => setName.safeParse(l).success);
  return { ...(config && { config }), hashes, links, managedSets, otherPersisters };
}

export interface HostFacts {
  readonly backend: Backend;
  /** Families whose filter table has DOCKER-USER (ipv4 always; ipv6 when Docker manages ip6tables). */
  readonly families: readonly IpFamily[];
  /** The ipset tool is installed and works (needed only by hosts that use sets). */
  readonly ipset: boolean;
  /** Why sets cannot be managed (when `ipset` is false), for errors. */
  readonly ipsetProblem?: string;
  readonly warnings: readonly string[];
}

/** A host whose Docker runs its nftables backend: our own table (provider/nftables/), not DOCKER-USER. */
export interface NftHostFacts {
  readonly backend: "nftables";
  /** Families Docker keeps tables for. */
  readonly families: readonly IpFamily[];
  /** dockerd's --bridge-accept-fwmark (allow rules set it); absent: allow rules are refused. */
  readonly acceptMark?: AcceptMark;
  readonly warnings: readonly string[];
}

/** The facts of either kind of host: iptables (DOCKER-USER) or nftables (our table). */
export type NodeFacts = HostFacts | NftHostFacts;
export const isNftFacts = (f: NodeFacts): f is NftHostFacts => f.backend === "nftables";

/** Docker's nftables backend, from the live ruleset (firewall-backend.ts); undefined when Docker is on iptables. */
function nftablesFacts(state: HostState): NftHostFacts | { error: string } | undefined {
  if (!state.nft) return undefined;
  let ruleset: NftRuleset;
  try {
    ruleset = parseNftRulesetJson(state.nft.ruleset);
  } catch (e) {
    if (e instanceof NftJsonError) return { error: e.message };
    throw e;
  }
  const fact = detectFirewallBackend({ nft: ruleset, saves: state.saves });
  if ("error" in fact) return fact;
  if (fact.backend !== "nftables") return undefined;
  const { families, acceptMark, warnings } = fact;
  return { backend: "nftables", families, ...(acceptMark && { acceptMark }), warnings };
}

/** Which backend to drive, or why this host cannot be managed (an actionable message). */
export function deriveFacts(state: HostState): NodeFacts | { error: string } {
  const nftables = nftablesFacts(state);
  if (nftables) return nftables;
  return deriveIptablesFacts(state);
}

function deriveIptablesFacts(state: HostState): HostFacts | { error: string } {
  const has = (b: Backend, f: IpFamily) => {
    const save = state.saves[b][f];
    return save !== undefined && hasChain(save, DOCKER_USER);
  };
  const nft4 = has("nft", "ipv4");
  const legacy4 = has("legacy", "ipv4");
  if (nft4 && legacy4) {
    return {
      error:
        "DOCKER-USER exists in both iptables-nft and iptables-legacy: rules in one would be silently bypassed or doubled by the other. Remove the stale backend's chains (or reboot) so Docker's backend is unambiguous.",
    };
  }
  const nftBackend =
    state.nftTables.some((t) => /docker-bridges/.test(t)) ||
    /"firewall-backend"\s*:\s*"nftables"/.test(state.dockerConfig ?? "");
  if (!nft4 && !legacy4) {
    if (nftBackend) {
      return {
        error:
          "Docker uses its nftables firewall backend (firewall-backend=nftables) but its docker-bridges tables could not be read with `nft -j list ruleset`: is the nft tool installed on the host?",
      };
    }
    return {
      error:
        "no DOCKER-USER chain in iptables-nft or iptables-legacy: is dockerd running with iptables enabled (the default)? Start Docker first, then apply.",
    };
  }
  const backend: Backend = nft4 ? "nft" : "legacy";
  const families: IpFamily[] = has(backend, "ipv6") ? ["ipv4", "ipv6"] : ["ipv4"];
  const warnings = [
    ...(state.saves[backend].ipv4?.warnings ?? []),
    ...(state.saves[backend].ipv6?.warnings ?? []),
  ].filter((w) => !/iptables-legacy tables present/.test(w));
  // Our nftables table left from a time Docker ran nftables still filters forwarded packets next to DOCKER-USER.
  if (state.nftTables.includes(`table ${NFT_FAMILY} ${NFT_TABLE}`))
    warnings.push(
      `table ${NFT_FAMILY} ${NFT_TABLE} is left from when Docker ran its nftables backend and still filters: delete it (nft delete table ${NFT_FAMILY} ${NFT_TABLE}) once DOCKER-USER holds the policy`,
    );
  // Checked at every read: a chain nothing jumps to would make every apply "succeed" while filtering nothing.
  for (const f of families) {
    const check = checkForward(state.saves[backend][f] as IptablesSave, f, backend, nftBackend);
    if (!check.ok) return { error: check.error };
    if (check.warning) warnings.push(check.warning);
  }
  if (!families.includes("ipv6")) {
    const v6 = unfilteredIpv6Warning(state.saves[backend].ipv6, state.ipv6Forwarding, state.ipv6Dnat);
    if (v6) warnings.push(v6);
  }
  const ipsetProblem = !state.tools.has(READ.ipset)
    ? "the ipset tool is not installed on the host (Debian/Ubuntu: apt-get install ipset; RHEL: dnf install ipset)"
    : state.ipsetError && `the ipset tool does not work on the host (${state.ipsetError})`;
  return { backend, families, ipset: ipsetProblem === undefined, ...(ipsetProblem && { ipsetProblem }), warnings };
}
