// The example policies as plain resource declarations for a lab node, with the traffic each must let through:
// the seed recipes as the examples express them (the policy.ts of examples/whitelist-ipset, single-host-allowlist
// and filtering-container-traffic, imported as is) and the fleet policy of examples/gitops/policy.ts.

import * as filtering from "../../examples/filtering-container-traffic/policy";
import * as gitops from "../../examples/gitops/policy";
import * as allowlist from "../../examples/single-host-allowlist/policy";
import * as whitelist from "../../examples/whitelist-ipset/policy";
import type { LabInventory, LabNode } from "../../lab/index";
import { PRIORITY_STEP } from "../../provider/resources/host-firewall";
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

type Args = Record<string, Record<string, unknown>>;

/** A DockerHostFirewall's rules as its DockerUserRules: a rule without a priority gets its position's. */
const hostRules = (rules: Record<string, object>): Args =>
  Object.fromEntries(
    Object.entries(rules).map(([name, args], i) => [name, { priority: (i + 1) * PRIORITY_STEP, ...args }]),
  );

/** Seed 000 (examples/whitelist-ipset): whitelist ipset, HTTP/HTTPS for all, the rest logged and dropped. */
export const seed000: Policy = {
  name: "seed 000: whitelist ipset + 80/443 + log + drop",
  declare: (lab, node) => {
    const { name, ...set } = whitelist.whitelist([clientIp(lab, "allowed")]);
    return build(node, { [name]: set }, whitelist.rules(name) as Args);
  },
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
      allowlist.rules({ wan: node.wan.interface, allowFrom: clientIp(lab, "allowed"), port: 8080 }) as Args,
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
    build(node, {}, hostRules(filtering.rules({ wan: node.wan.interface, trusted: [lab.lbCidr], webPort: 8080 }))),
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
      gitops.rules(node.wan.interface) as Args,
    ),
  reach: {
    allowed: { web: "open", udp: "blocked" },
    denied: { web: "blocked", udp: "open" },
    lanpeer: { web: "open", udp: "open" },
  },
};
