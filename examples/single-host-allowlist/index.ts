// Port 8080 of one Docker host reachable from one address only; everyone else is dropped.
//
// The blog recipe this follows appends the ACCEPT (`iptables -A`) and then inserts the DROP (`iptables -I`),
// which puts the DROP first and locks out the allowed address too. Here each rule has a priority: the ACCEPT
// (100) always sits above the DROP (200), whatever order they are created in.
//
//   pulumi config set docker-firewall:allowFrom 192.168.0.1      # default on the lab: its `allowed` client
//   pulumi config set docker-firewall:port 8080                   # a published (host) port
import * as pulumi from "@pulumi/pulumi";
import * as fw from "pulumi-docker-firewall";
import { configuredString, firstHost, target } from "../support/target";

const cfg = new pulumi.Config("docker-firewall");
const t = target(cfg);
const node = firstHost(t);
const allowFrom = configuredString(cfg, "allowFrom", t.lab?.trustedClient);
const port = cfg.getNumber("port") ?? t.lab?.webPort ?? 8080;

// iptables -A DOCKER-USER -i eth0 -s 192.168.0.1 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j ACCEPT
const allow = new fw.DockerUserRule("allow-8080", {
  connection: node.connection,
  priority: 100,
  action: "ACCEPT",
  inInterface: node.wanInterface,
  source: allowFrom,
  protocol: "tcp",
  publishedPorts: [port],
  comment: "8080 from one address",
});

// iptables -A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP
const drop = new fw.DockerUserRule("drop-8080", {
  connection: node.connection,
  priority: 200,
  action: "DROP",
  inInterface: node.wanInterface,
  protocol: "tcp",
  publishedPorts: [port],
  comment: "8080 from anyone else",
});

/** The literal iptables lines, in chain order. */
export const rendered = pulumi
  .all([allow.rendered, drop.rendered])
  .apply((blocks) => blocks.flatMap((b) => b?.ipv4 ?? []));
