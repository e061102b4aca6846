// The fleet's firewall policy: the one file pull requests change. Addresses and ports are literal, so a
// reviewer reads exactly what will be allowed; `pulumi preview --diff` on the pull request shows the iptables
// lines each change adds, edits or removes, per host (README.md in this folder walks through one).
// These values match the local lab: its load-balancer range and its clients.
import type * as fw from "pulumi-docker-firewall";

/** Where the load balancers live: the only sources allowed to reach the web port. */
export const loadBalancers = ["198.51.100.0/26"];

/** The published web port on every host. */
export const webPort = 8080;

/** Operators' workstations and the admin port they may reach. */
export const admin = { port: 5353, protocol: "udp" as const, from: ["198.51.100.200"] };

/** The rules of one host, top of DOCKER-USER first. `wan` is the host's Internet-facing interface. */
export function rules(wan: string): Record<string, fw.HostRuleArgs> {
  return {
    established: { priority: 10, action: "RETURN", inInterface: wan, connectionStates: ["RELATED", "ESTABLISHED"] },
    "web-from-lbs": {
      priority: 100,
      action: "ACCEPT",
      protocol: "tcp",
      publishedPorts: [webPort],
      source: { set: "lbs" },
    },
    admin: {
      priority: 200,
      action: "ACCEPT",
      protocol: admin.protocol,
      publishedPorts: [admin.port],
      source: { set: "admins" },
    },
    "drop-wan": { priority: 900, action: "DROP", inInterface: wan, log: { prefix: "dfw drop: ", rate: "10/min" } },
  };
}
