// A Docker host whose DOCKER-USER is shared with fail2ban and CrowdSec: our rules open the published web and echo
// ports to everyone, and the bans those tools put in the chain must still win. They insert their rules at the top
// (`-I DOCKER-USER -p tcp -m multiport --dports 80,443 -j f2b-web`, CrowdSec's `-m set --match-set
// crowdsec-blacklists src -j DROP` or a jump to crowdsec-chain); without a policy the next `pulumi up` would put
// our ACCEPTs above them and banned addresses would reach the ports. `foreignRules.keepAbove` keeps them above
// ours, where they are (never deleted or moved), and our rules go right after them, at every apply and at boot.
//
//   pulumi config set docker-firewall:keepAbove '[{"jump":"f2b-*"},{"jump":"crowdsec-chain"},{"set":"crowdsec-*"}]'
//   pulumi config set docker-firewall:ignore '[{"comment":"k8s:*"}]'    # with exclusive: rules left alone
//   pulumi config set docker-firewall:exclusive true                      # remove every other unmanaged rule
import * as pulumi from "@pulumi/pulumi";
import * as fw from "pulumi-docker-firewall";
import { firstHost, target } from "../support/target";

type Matcher = { jump?: string; set?: string; comment?: string };

const cfg = new pulumi.Config("docker-firewall");
const t = target(cfg);
const node = firstHost(t);
const keepAbove = cfg.getObject<Matcher[]>("keepAbove") ?? [
  { jump: "f2b-*" },
  { jump: "crowdsec-chain" },
  { set: "crowdsec-*" },
];
const ignore = cfg.getObject<Matcher[]>("ignore") ?? [];
const exclusive = cfg.getBoolean("exclusive") ?? false;
const webPort = cfg.getNumber("webPort") ?? t.lab?.webPort ?? 8080;
const udpPort = cfg.getNumber("udpPort") ?? t.lab?.udpPort ?? 5353;

const host = new fw.DockerHostFirewall(node.name, {
  connection: node.connection,
  rules: {
    web: { action: "ACCEPT", protocol: "tcp", publishedPorts: [webPort], comment: "web, unless banned" },
    echo: { action: "ACCEPT", protocol: "udp", publishedPorts: [udpPort], comment: "echo, unless banned" },
  },
  // The policy lives on the host (with boot persistence), so every later apply, from any stack, plans with it.
  persistence: { exclusive, foreignRules: { keepAbove, ignore } },
});

/** Our lines in chain order: on the host they sit right after the tools' rules. */
export const rendered = host.rendered.apply((r) => r.ipv4);
