// One firewall policy for a fleet of Docker hosts: one DockerHostFirewall per host, all from the same policy.
// This is the repository's top-level program (the root Pulumi.yaml points here) and what `npm run demo` applies.
//
// The policy, top to bottom of each host's DOCKER-USER chain:
//   10  answers to connections already allowed pass (RELATED,ESTABLISHED on the WAN)
//  100  the web port only from the load balancers (an ipset shared by every rule that names it)
//  200  the admin port only from one address
//  900  everything else arriving on the WAN is logged (rate-limited) and dropped
// LAN traffic and the containers' own traffic fall through to Docker's rules. Rules without a literal address
// cover IPv6 too wherever the host's Docker manages ip6tables; hosts marked `ipv6` also get IPv6 allow rules.
//
// Stack config (every key optional on the local lab, which supplies defaults):
//   docker-firewall:hosts            JSON list: [{"name","host","port"?,"user"?,"sudo"?,"hostKey"?,"wanInterface"?,"ipv6"?}]
//   docker-firewall:user, :sudo      defaults for hosts that set none
//   docker-firewall:privateKey       secret; or the ssh agent (SSH_AUTH_SOCK)
//   docker-firewall:loadBalancers    JSON list of CIDRs; :loadBalancers6 for IPv6
//   docker-firewall:webPort          the published port the balancers reach (default 8080)
//   docker-firewall:admin            JSON {"port": 22022, "protocol": "tcp", "from": "203.0.113.5", "from6"?: "…"}
//   docker-firewall:persistence      rules survive reboot (default true)
import * as pulumi from "@pulumi/pulumi";
import * as fw from "pulumi-docker-firewall";
import { configuredObject, target } from "../support/target";

interface AdminAccess {
  port: number;
  protocol: "tcp" | "udp";
  from: string;
  from6?: string;
}

const cfg = new pulumi.Config("docker-firewall");
const t = target(cfg);
const loadBalancers = configuredObject<string[]>(cfg, "loadBalancers", t.lab?.loadBalancers);
const loadBalancers6 = cfg.getObject<string[]>("loadBalancers6") ?? t.lab?.loadBalancers6 ?? [];
const webPort = cfg.getNumber("webPort") ?? t.lab?.webPort ?? 8080;
// On the lab, its UDP echo service plays the admin port and its `denied` client the admin's workstation.
const admin = configuredObject<AdminAccess>(
  cfg,
  "admin",
  t.lab && { port: t.lab.udpPort, protocol: "udp", from: t.lab.otherClient, from6: t.lab.otherClient6 },
);
const persistence = cfg.getBoolean("persistence") ?? true;

/** The policy for one host. */
function policy(host: (typeof t.hosts)[number]): fw.DockerHostFirewallArgs {
  const wan = host.wanInterface;
  const v6 = host.ipv6 && loadBalancers6.length > 0;
  const rules: Record<string, fw.HostRuleArgs> = {
    established: { priority: 10, action: "RETURN", inInterface: wan, connectionStates: ["RELATED", "ESTABLISHED"] },
    "web-from-lbs": {
      priority: 100,
      action: "ACCEPT",
      protocol: "tcp",
      publishedPorts: [webPort],
      source: { set: "lbs" },
      comment: "web port from the load balancers",
    },
    ...(v6 && {
      "web-from-lbs6": {
        priority: 101,
        action: "ACCEPT",
        family: "ipv6",
        protocol: "tcp",
        publishedPorts: [webPort],
        source: { set: "lbs6" },
        comment: "web port from the load balancers (IPv6)",
      },
    }),
    admin: {
      priority: 200,
      action: "ACCEPT",
      protocol: admin.protocol,
      publishedPorts: [admin.port],
      source: admin.from,
      comment: "admin port from one address",
    },
    ...(host.ipv6 &&
      admin.from6 && {
        admin6: {
          priority: 201,
          action: "ACCEPT",
          protocol: admin.protocol,
          publishedPorts: [admin.port],
          source: admin.from6,
          comment: "admin port from one address (IPv6)",
        },
      }),
    "drop-wan": {
      priority: 900,
      action: "DROP",
      inInterface: wan,
      log: { prefix: "dfw drop: ", rate: "10/min", burst: 5 },
      comment: "everything else from the WAN",
    },
  };
  return {
    connection: host.connection,
    sets: {
      lbs: { type: "hash:net", entries: loadBalancers },
      ...(v6 && { lbs6: { type: "hash:net", family: "ipv6", entries: loadBalancers6 } }),
    },
    rules,
    persistence,
  };
}

const firewalls = t.hosts.map((host) => new fw.DockerHostFirewall(host.name, policy(host)));

/** Per host, the literal iptables lines of its managed rules, in chain order (IPv6 where the host has it). */
export const rendered = Object.fromEntries(firewalls.map((f, i) => [t.hosts[i]?.name, f.rendered]));
