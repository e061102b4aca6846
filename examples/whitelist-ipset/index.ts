// The classic DOCKER-USER policy with an ipset whitelist: answers to established connections and traffic from
// the containers pass, whitelisted addresses reach everything, everyone reaches HTTP and HTTPS, and the rest is
// logged (rate-limited) and dropped. The set's members change atomically (a temporary set is swapped in), and
// no Docker restart is ever needed.
//
//   pulumi config set docker-firewall:whitelist '["203.0.113.7", "203.0.113.8"]'   # lab default: its `allowed` client
import * as pulumi from "@pulumi/pulumi";
import * as fw from "pulumi-docker-firewall";
import { configuredObject, firstHost, target } from "../support/target";
import { rules as policy, whitelist } from "./policy";

const cfg = new pulumi.Config("docker-firewall");
const t = target(cfg);
const { connection } = firstHost(t);
const members = configuredObject<string[]>(cfg, "whitelist", t.lab && [t.lab.trustedClient]);

// create whitelist hash:ip
// add whitelist 203.0.113.7 …
const set = new fw.IpSet("whitelist", { connection, ...whitelist(members) });
const rules = policy(set.name);

const created = Object.entries(rules).map(([name, args]) => new fw.DockerUserRule(name, { ...args, connection }));

/** The literal iptables lines, in chain order. */
export const rendered = pulumi.all(created.map((r) => r.rendered)).apply((all) => all.flatMap((r) => r?.ipv4 ?? []));
