// The classic DOCKER-USER policy with an ipset whitelist: answers to established connections and traffic from
// the containers pass, whitelisted addresses reach everything, everyone reaches HTTP and HTTPS, and the rest is
// logged (rate-limited) and dropped. The set's members change atomically (a temporary set is swapped in), and
// no Docker restart is ever needed.
//
//   pulumi config set docker-firewall:whitelist '["203.0.113.7", "203.0.113.8"]'   # lab default: its `allowed` client
import * as pulumi from "@pulumi/pulumi";
import * as fw from "pulumi-docker-firewall";
import { configuredObject, firstHost, target } from "../support/target";

const cfg = new pulumi.Config("docker-firewall");
const t = target(cfg);
const { connection } = firstHost(t);
const members = configuredObject<string[]>(cfg, "whitelist", t.lab && [t.lab.trustedClient]);

// create whitelist hash:ip
// add whitelist 203.0.113.7 …
const whitelist = new fw.IpSet("whitelist", { connection, name: "whitelist", type: "hash:ip", entries: members });

const rules: Record<string, Omit<fw.DockerUserRuleArgs, "connection">> = {
  // -A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
  established: { priority: 10, action: "RETURN", connectionStates: ["RELATED", "ESTABLISHED"] },
  // Traffic the containers start (their replies come back as ESTABLISHED above).
  "from-containers": { priority: 20, action: "RETURN", inInterface: "docker0" },
  // -A DOCKER-USER -m set --match-set whitelist src -j RETURN
  whitelisted: { priority: 30, action: "RETURN", source: { set: whitelist.name } },
  // -A DOCKER-USER -p tcp -m conntrack --ctorigdstport 80 (and 443) --ctdir ORIGINAL -j RETURN
  web: { priority: 40, action: "RETURN", protocol: "tcp", publishedPorts: [80, 443] },
  // -A DOCKER-USER -m limit --limit 2/min -j LOG --log-prefix "DOCKER-USER dropped: "
  // -A DOCKER-USER -j DROP
  // The article's prefix "IPTables DOCKER-USER dropped: " is 30 characters; the kernel keeps 29 and the
  // provider refuses longer prefixes at preview rather than let them be cut.
  "drop-rest": { priority: 900, action: "DROP", log: { prefix: "DOCKER-USER dropped: ", rate: "2/min" } },
};

const created = Object.entries(rules).map(([name, args]) => new fw.DockerUserRule(name, { ...args, connection }));

/** The literal iptables lines, in chain order. */
export const rendered = pulumi.all(created.map((r) => r.rendered)).apply((all) => all.flatMap((r) => r?.ipv4 ?? []));
