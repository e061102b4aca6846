// PURE. The lab's names and addresses, derived from its id and size. Nothing here touches the machine.
// Every address is from a documentation or benchmarking range and lives only inside namespaces the lab creates.

export const LAB_ID_PATTERN = /^[a-z][a-z0-9]{0,7}$/;
export const MAX_NODES = 20;

/** The WAN: nodes, the allowed client inside the load balancer CIDR and the denied client outside it. */
export const WAN = {
  prefix4: 24,
  lbCidr: "198.51.100.0/26",
  allowed4: "198.51.100.10",
  denied4: "198.51.100.200",
  node4: (i: number) => `198.51.100.${100 + i}`,
  prefix6: 64,
  lbCidr6: "2001:db8::/120",
  allowed6: "2001:db8::10",
  denied6: "2001:db8::200",
  node6: (i: number) => `2001:db8::1:${i}`,
} as const;

/** The LAN: a second segment with one peer, so rules scoped by input interface can be told apart. */
export const LAN = {
  prefix4: 24,
  node4: (i: number) => `192.0.2.${i}`,
  peer4: "192.0.2.200",
  prefix6: 64,
  node6: (i: number) => `2001:db8:ffff::${i}`,
  peer6: "2001:db8:ffff::200",
} as const;

export const PUBLISHED = [
  { port: 8080, protocol: "tcp", containerPort: 80, container: "web" },
  { port: 5353, protocol: "udp", containerPort: 7, container: "echo" },
] as const;

export const USERS = { root: "root", sudo: "labsudo", nosudo: "labpwsudo" } as const;

export type Segment = "wan" | "lan";

export type IptablesBackend = "nft" | "legacy";

/**
 * The Docker a node runs: 28.5 (unpacked by scripts/install-docker28.sh), Debian 12's own 20.10, or Docker 29 (built by
 * scripts/install-docker29.sh) with its nftables firewall backend and an accept mark (docs/docker29-nftables.md).
 */
export const DOCKER_LINES = ["28", "20.10", "29-nft"] as const;
export type DockerLine = (typeof DOCKER_LINES)[number];
export const DEFAULT_DOCKER: DockerLine = "28";

const isDockerLine = (v: string): v is DockerLine => (DOCKER_LINES as readonly string[]).includes(v);

/**
 * PURE. Which Docker each of `nodes` nodes runs, from specs like ["28", "node3=20.10"]: a bare version sets the
 * default, `nodeN=VERSION` one node. Unknown versions or nodes are refused with the spec that named them.
 */
export function dockerPerNode(specs: readonly string[], nodes: number): DockerLine[] {
  let fallback: DockerLine = DEFAULT_DOCKER;
  const perNode = new Map<number, DockerLine>();
  for (const spec of specs) {
    const m = /^(?:node(\d+)=)?(.*)$/.exec(spec) as RegExpExecArray;
    const version = m[2] as string;
    if (!isDockerLine(version)) throw new Error(`--docker ${spec}: version must be one of ${DOCKER_LINES.join(", ")}`);
    if (m[1] === undefined) fallback = version;
    else if (Number(m[1]) < 1 || Number(m[1]) > nodes) throw new Error(`--docker ${spec}: no such node`);
    else perNode.set(Number(m[1]), version);
  }
  return Array.from({ length: nodes }, (_, k) => perNode.get(k + 1) ?? fallback);
}

export interface NodePlan {
  readonly index: number;
  /** Which iptables the node's `iptables` alternative (in its own /etc) points at; dockerd uses it too. */
  readonly iptablesBackend: IptablesBackend;
  readonly name: string;
  readonly netns: string;
  readonly hostname: string;
  readonly wan: {
    readonly interface: string;
    readonly segmentVeth: string;
    readonly ipv4: string;
    readonly ipv6?: string;
  };
  readonly lan: {
    readonly interface: string;
    readonly segmentVeth: string;
    readonly ipv4: string;
    readonly ipv6?: string;
  };
  readonly docker: {
    readonly line: DockerLine;
    readonly bip: string;
    readonly bridgeSubnet: string;
    readonly addressPool: string;
    readonly fixedCidrV6?: string;
  };
}

export interface ClientPlan {
  readonly name: "allowed" | "denied" | "lanpeer";
  readonly netns: string;
  readonly segment: Segment;
  readonly segmentVeth: string;
  readonly interface: string;
  readonly ipv4: string;
  readonly prefix4: number;
  readonly ipv6?: string;
  readonly prefix6: number;
}

export interface LabPlan {
  readonly labId: string;
  readonly ipv6: boolean;
  readonly segments: Readonly<Record<Segment, { readonly netns: string; readonly bridge: string }>>;
  readonly nodes: readonly NodePlan[];
  readonly clients: readonly ClientPlan[];
}

/** Prefixes other helpers use for their namespaces ("dfwt-<hex>": test/support/netns.ts); a lab must not own them. */
const RESERVED_IDS = new Set(["dfwt"]);

export function validateLabId(labId: string): string {
  if (RESERVED_IDS.has(labId)) throw new Error(`lab id ${labId} is reserved for scratch namespaces`);
  if (!LAB_ID_PATTERN.test(labId)) {
    throw new Error(`lab id must match ${LAB_ID_PATTERN} (it prefixes namespace and interface names): ${labId}`);
  }
  return labId;
}

export function planLab(opts: {
  labId: string;
  nodes: number;
  ipv6: boolean;
  legacyNodes?: readonly string[];
  /** Docker per node, as `dockerPerNode` reads it; default: Docker 28 everywhere. */
  docker?: readonly string[];
}): LabPlan {
  const labId = validateLabId(opts.labId);
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) {
    throw new Error(`nodes must be an integer from 1 to ${MAX_NODES}: ${opts.nodes}`);
  }
  const v6 = <T>(value: T) => (opts.ipv6 ? value : undefined);
  for (const n of opts.legacyNodes ?? []) {
    if (!/^node\d+$/.test(n) || Number(n.slice(4)) > opts.nodes)
      throw new Error(`no such node for legacy iptables: ${n}`);
  }
  const lines = dockerPerNode(opts.docker ?? [], opts.nodes);
  const nodes = Array.from({ length: opts.nodes }, (_, k): NodePlan => {
    const i = k + 1;
    return {
      index: i,
      iptablesBackend: opts.legacyNodes?.includes(`node${i}`) ? "legacy" : "nft",
      name: `node${i}`,
      netns: `${labId}-node${i}`,
      hostname: `${labId}-node${i}`,
      // Node-side names are what a real VM has; segment-side ends carry the lab id (max 15 chars).
      wan: { interface: "eth0", segmentVeth: `${labId}-n${i}`, ipv4: WAN.node4(i), ipv6: v6(WAN.node6(i)) },
      lan: { interface: "eth1", segmentVeth: `${labId}-n${i}`, ipv4: LAN.node4(i), ipv6: v6(LAN.node6(i)) },
      docker: {
        line: lines[k] as DockerLine,
        bip: `198.18.${i}.1/24`,
        bridgeSubnet: `198.18.${i}.0/24`,
        addressPool: `base=198.19.${i}.0/24,size=28`,
        fixedCidrV6: v6(`2001:db8:1:${i}::/64`),
      },
    };
  });
  const client = (
    name: ClientPlan["name"],
    segment: Segment,
    n: number,
    ipv4: string,
    ipv6: string,
    prefix4: number,
  ): ClientPlan => ({
    name,
    netns: `${labId}-${name}`,
    segment,
    segmentVeth: `${labId}-c${n}`,
    interface: "eth0",
    ipv4,
    prefix4,
    ipv6: v6(ipv6),
    prefix6: 64,
  });
  return {
    labId,
    ipv6: opts.ipv6,
    segments: {
      wan: { netns: `${labId}-wanseg`, bridge: "br0" },
      lan: { netns: `${labId}-lanseg`, bridge: "br0" },
    },
    nodes,
    clients: [
      client("allowed", "wan", 1, WAN.allowed4, WAN.allowed6, WAN.prefix4),
      client("denied", "wan", 2, WAN.denied4, WAN.denied6, WAN.prefix4),
      client("lanpeer", "lan", 3, LAN.peer4, LAN.peer6, LAN.prefix4),
    ],
  };
}

/** Every network namespace name a lab with this id may own: the id is followed by a dash. */
export const netnsPrefix = (labId: string) => `${labId}-`;
