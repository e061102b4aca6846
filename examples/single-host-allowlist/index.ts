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
import { rules } from "./policy";

const cfg = new pulumi.Config("docker-firewall");
const t = target(cfg);
const node = firstHost(t);
const allowFrom = configuredString(cfg, "allowFrom", t.lab?.trustedClient);
const port = cfg.getNumber("port") ?? t.lab?.webPort ?? 8080;

const created = Object.entries(rules({ wan: node.wanInterface, allowFrom, port })).map(
  ([name, args]) => new fw.DockerUserRule(name, { ...args, connection: node.connection }),
);

/** The literal iptables lines, in chain order. */
export const rendered = pulumi.all(created.map((r) => r.rendered)).apply((all) => all.flatMap((b) => b?.ipv4 ?? []));
