// FakeHost's whole node: the filter tables of both iptables backends and families, the ipsets, the boot files, and
// the facts the read script reports (installed tools, Docker's config). What the kernel and /etc hold, in memory.
import type { IpFamily } from "../../../provider/model/address";
import type { Backend } from "../../../provider/netfilter/host-state";
import { FakeBootFiles } from "./boot-files";
import { FakeFilterTable, type LineVeto, type RestoreResult } from "./filter-table";
import { FakeIpsets, type IpsetResult } from "./ipsets";

export const ALL_TOOLS = [
  "iptables-nft-restore",
  "ip6tables-nft-restore",
  "iptables-legacy-restore",
  "ip6tables-legacy-restore",
  "ipset",
  "nft",
  "flock",
] as const;

export interface NodeFacts {
  /** Commands the read finds installed (`command -v`). */
  tools: string[];
  /** /etc/docker/daemon.json, if any. */
  dockerConfig?: string;
  ipv6Forwarding: boolean;
  /** DNAT rules in ip6tables' nat table. */
  ipv6Dnat: number;
  /** Other tools' saved rulesets (path -> lines mentioning DOCKER). */
  otherPersisters: Map<string, number>;
  /** When set, `ipset save` fails with this exit code (a broken tool or module). */
  ipsetSaveFails?: number;
  /** What the read prints when asked to list containers: docker inspect's lines (protocol/read-script.ts). */
  containers?: string;
}

export class NodeState {
  /** A table exists once something was restored into it (as a table is instantiated by its first use). */
  readonly tables: Record<Backend, Partial<Record<IpFamily, FakeFilterTable>>> = { nft: {}, legacy: {} };
  ipsets = new FakeIpsets();
  boot = new FakeBootFiles();
  readonly facts: NodeFacts = { tools: [...ALL_TOOLS], ipv6Forwarding: false, ipv6Dnat: 0, otherPersisters: new Map() };

  table(backend: Backend, family: IpFamily): FakeFilterTable {
    const t = this.tables[backend][family] ?? new FakeFilterTable(backend, family);
    this.tables[backend][family] = t;
    return t;
  }

  /** Sets any rule of any table references: the kernel refuses to destroy them. */
  setsInUse(): Set<string> {
    const all = Object.values(this.tables).flatMap((byFamily) => Object.values(byFamily));
    return new Set(all.flatMap((t) => t?.setsInUse() ?? []));
  }

  /** `iptables-<backend>-restore --noflush` (ip6tables for ipv6). */
  restoreRules(backend: Backend, family: IpFamily, text: string, veto?: LineVeto): RestoreResult {
    const existed = this.tables[backend][family];
    const t = existed ?? new FakeFilterTable(backend, family);
    const r = t.restore(text, (name) => this.ipsets.family(name), veto);
    if (r.ok && !existed) this.tables[backend][family] = t;
    return r;
  }

  /** `ipset [-exist] restore`. */
  restoreSets(text: string, exist: boolean, veto?: LineVeto): IpsetResult {
    const used = this.setsInUse();
    return this.ipsets.restore(text, exist, (n) => used.has(n), veto);
  }
}
