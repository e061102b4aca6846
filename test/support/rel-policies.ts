// The example policies as plain resource declarations for a lab node, with the traffic each must let through:
// the seed recipes as the examples express them (examples/whitelist-ipset, single-host-allowlist,
// filtering-container-traffic: those are Pulumi programs, so their rules are restated here) and the fleet policy
// of examples/gitops/policy.ts (plain data, imported as is).

import * as gitops from "../../examples/gitops/policy";
import type { LabInventory, LabNode } from "../../lab/index";
import type { Declared } from "./engine";

type Verdict = "open" | "blocked";
/** Published web (8080/tcp) and echo (5353/udp) from the WAN's allowed and denied clients and the LAN peer. */
export interface Reachability {
  readonly allowed: { readonly web: Verdict; readonly udp: Verdict };
  readonly denied: { readonly web: Verdict; readonly udp: Verdict };
  readonly lanpeer: { readonly web: Verdict; readonly udp: Verdict };
}

export const ALL_OPEN: Reachability = {
  allowed: { web: "open", udp: "open" },
  denied: { web: "open", udp: "open" },
  lanpeer: { web: "open", udp: "open" },
};

export interface Policy {
  readonly name: string;
  /** Every resource of the policy on `node` (resource names prefixed, so several nodes can share a stack). */
  declare(lab: LabInventory, node: LabNode): Declared[];
  readonly reach: Reachability;
}

export const connectionOf = (node: LabNode) => ({
  host: node.ssh.host,
  port: node.ssh.port,
  user: "root",
  hostKey: node.ssh.hostKey,
});

const clientIp = (lab: LabInventory, name: string) => {
  const c = lab.clients.find((x) => x.name === name);
  if (!c) throw new Error(`no client ${name}`);
  return c.ipv4;
};

function build(
  node: LabNode,
  sets: Record<string, Record<string, unknown>>,
  rules: Record<string, Record<string, unknown>>,
): Declared[] {
  const connection = connectionOf(node);
  const p = (name: string) => `${node.name}-${name}`;
  return [
    ...Object.entries(sets).map(
      ([name, args]): Declared => ({ type: "IpSet", name: p(`set-${name}`), inputs: { connection, name, ...args } }),
    ),
    ...Object.entries(rules).map(
      ([name, args]): Declared => ({
        type: "DockerUserRule",
        name: p(name),
        inputs: { connection, ruleName: p(name), ...args },
      }),
    ),
    { type: "PersistentRuleset", name: p("persistence"), inputs: { connection } },
  ];
}

/** Seed 000 (examples/whitelist-ipset): whitelist ipset, HTTP/HTTPS for all, the rest logged and dropped. */
export const seed000: Policy = {
  name: "seed 000: whitelist ipset + 80/443 + log + drop",
  declare: (lab, node) =>
    build(
      node,
      { whitelist: { type: "hash:ip", entries: [clientIp(lab, "allowed")] } },
      {
        established: { priority: 10, action: "RETURN", connectionStates: ["RELATED", "ESTABLISHED"] },
        "from-containers": { priority: 20, action: "RETURN", inInterface: "docker0" },
        whitelisted: { priority: 30, action: "RETURN", source: { set: "whitelist" } },
        web: { priority: 40, action: "RETURN", protocol: "tcp", publishedPorts: [80, 443] },
        "drop-rest": {
          priority: 900,
          action: "DROP",
          log: { prefix: "DOCKER-USER dropped: ", rate: "2/min" },
        },
      },
    ),
  reach: {
    allowed: { web: "open", udp: "open" },
    denied: { web: "blocked", udp: "blocked" },
    lanpeer: { web: "blocked", udp: "blocked" },
  },
};

/** Seed 003 (examples/single-host-allowlist): the web port from one address on the WAN, nobody else. */
export const seed003: Policy = {
  name: "seed 003: single-host allowlist",
  declare: (lab, node) =>
    build(
      node,
      {},
      {
        "allow-8080": {
          priority: 100,
          action: "ACCEPT",
          inInterface: node.wan.interface,
          source: clientIp(lab, "allowed"),
          protocol: "tcp",
          publishedPorts: [8080],
          comment: "8080 from one address",
        },
        "drop-8080": {
          priority: 200,
          action: "DROP",
          inInterface: node.wan.interface,
          protocol: "tcp",
          publishedPorts: [8080],
          comment: "8080 from anyone else",
        },
      },
    ),
  reach: {
    allowed: { web: "open", udp: "open" },
    denied: { web: "blocked", udp: "open" },
    lanpeer: { web: "open", udp: "open" },
  },
};

/** Seed 004 (examples/filtering-container-traffic): on the WAN, established + 80/443 + 8080 from trusted nets. */
export const seed004: Policy = {
  name: "seed 004: filtering container traffic",
  declare: (lab, node) =>
    build(
      node,
      {},
      {
        established: {
          priority: 10,
          action: "RETURN",
          inInterface: node.wan.interface,
          connectionStates: ["RELATED", "ESTABLISHED"],
        },
        web: {
          priority: 20,
          action: "RETURN",
          inInterface: node.wan.interface,
          protocol: "tcp",
          publishedPorts: [80, 443],
        },
        "8080-from-1": {
          priority: 30,
          action: "RETURN",
          inInterface: node.wan.interface,
          protocol: "tcp",
          publishedPorts: [8080],
          source: lab.lbCidr,
        },
        "block-external": { priority: 900, action: "DROP", inInterface: node.wan.interface },
      },
    ),
  reach: {
    allowed: { web: "open", udp: "blocked" },
    denied: { web: "blocked", udp: "blocked" },
    lanpeer: { web: "open", udp: "open" },
  },
};

/** The fleet policy of examples/gitops/policy.ts: web from the balancers' set, admin port from one address. */
export const fleet: Policy = {
  name: "fleet: examples/gitops policy on every host",
  declare: (_lab, node) =>
    build(
      node,
      {
        lbs: { type: "hash:net", entries: gitops.loadBalancers },
        admins: { type: "hash:ip", entries: gitops.admin.from },
      },
      gitops.rules(node.wan.interface) as Record<string, Record<string, unknown>>,
    ),
  reach: {
    allowed: { web: "open", udp: "blocked" },
    denied: { web: "blocked", udp: "open" },
    lanpeer: { web: "open", udp: "open" },
  },
};
