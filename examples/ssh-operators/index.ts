// Docker hosts reached the way operators reach them: through a chain of bastions (ssh's ProxyJump b1,b2), with a
// connection limit on a shared bastion, as a user whose sudo asks for a password (or who uses doas), checking host
// keys against known_hosts text. Every piece is optional stack config; without any, the hosts are the lab's nodes.
//
//   pulumi config set docker-firewall:bastions '[{"host":"bastion.example.com","user":"jump"},
//                                                {"host":"10.0.1.4","user":"jump","maxConnections":4}]'
//   pulumi config set --secret docker-firewall:bastionPrivateKey "$(cat ~/.ssh/jump_ed25519)"  # else the agent
//   pulumi config set --secret docker-firewall:sudoPassword '…'        # sudo: true; the provider reads it itself
//   pulumi config set docker-firewall:become doas                      # instead: doas with a nopass rule
//   pulumi config set docker-firewall:knownHosts "$(cat ~/.ssh/known_hosts)"
import * as pulumi from "@pulumi/pulumi";
import * as fw from "pulumi-docker-firewall";
import { rules } from "../single-host-allowlist/policy";
import { configuredString, target } from "../support/target";

const cfg = new pulumi.Config("docker-firewall");
const t = target(cfg);
const allowFrom = configuredString(cfg, "allowFrom", t.lab?.trustedClient);
const port = cfg.getNumber("port") ?? t.lab?.webPort ?? 8080;

type Bastion = { host: string; port?: number; user?: string; hostKey?: string | string[]; maxConnections?: number };
const bastions = cfg.getObject<Bastion[]>("bastions");
const bastionKey = cfg.getSecret("bastionPrivateKey");
const become = cfg.get("become") as "sudo" | "doas" | undefined;
const knownHosts = cfg.get("knownHosts");

// Like the SSH key, the sudo password in stack config never enters a resource's inputs or state: the provider reads
// it when it starts and gives it to every connection with `sudo: true` (sent only if sudo asks for it).
const sudoWithPassword = cfg.getSecret("sudoPassword") !== undefined;

/** What this example adds to each host's connection; the provider checks every field at preview. */
const access = pulumi.output(bastionKey).apply((key) => ({
  ...(bastions && { proxy: bastions.map((b) => ({ ...b, ...(key && { privateKey: key }) })) }),
  ...(sudoWithPassword && { sudo: true }),
  ...(become && { become }),
  ...(knownHosts && { knownHosts }),
}));

/** The rendered lines per host: single-host-allowlist's policy, on every host, through the connection above. */
export const rendered = t.hosts.map((node) => {
  // The connection may hold a bastion key: the resources keep it encrypted in state.
  const connection = pulumi.secret(
    pulumi.all([node.connection, access]).apply(([c, extra]) => ({ ...c, ...extra }) as fw.ConnectionArgs),
  );
  const policy = rules({ wan: node.wanInterface, allowFrom, port });
  return Object.entries(policy).map(
    ([name, args]) => new fw.DockerUserRule(`${node.name}-${name}`, { ...args, connection }).rendered,
  );
});
