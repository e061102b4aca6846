// Docker's own "filtering container traffic" example (WAN = eth0, LAN = eth1), as one component: on the WAN,
// established connections, HTTP/HTTPS and 8080 from two trusted networks pass, everything else is dropped; the
// LAN is untouched. Docker's documentation loads it with `iptables-restore -n` after a `-F DOCKER-USER`, which
// also wipes every rule anyone else put there; here only the rules this program owns are ever changed.
//
// Every port rule carries `--ctdir ORIGINAL` (the documentation's "tighter control" note): replies to connections
// the containers make to port 80 elsewhere also have conntrack original port 80, and must not match.
//
//   pulumi config set docker-firewall:trustedNetworks '["10.11.11.0/24", "10.22.22.0/24"]'
import * as pulumi from "@pulumi/pulumi";
import * as fw from "pulumi-docker-firewall";
import { configuredObject, firstHost, target } from "../support/target";
import { rules as policy } from "./policy";

const cfg = new pulumi.Config("docker-firewall");
const t = target(cfg);
const node = firstHost(t);
const wan = node.wanInterface;
// On the lab: its load-balancer range (the `allowed` client is inside it, `denied` is not).
const trusted = configuredObject<string[]>(cfg, "trustedNetworks", t.lab?.loadBalancers);
const webPort = cfg.getNumber("port") ?? t.lab?.webPort ?? 8080;

const rules = policy({ wan, trusted, webPort });

const host = new fw.DockerHostFirewall(`${node.name}-wan`, { connection: node.connection, rules });

/** The literal iptables lines, in chain order. */
export const rendered = host.rendered.apply((r) => r?.ipv4 ?? []);
