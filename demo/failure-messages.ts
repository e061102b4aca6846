// The failure messages README.md's troubleshooting section quotes, produced by running the code against a lab
// (through the same engine-less driver and dynamic-provider host as the demo), so the README never shows a message
// the code does not print. `npx tsx demo/failure-messages.ts [--inventory PATH]` prints them; without an inventory
// it brings up (and tears down) a lab of its own.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DockerUserRule, IpSet } from "pulumi-docker-firewall";
import { downLab, type LabInventory, type LabNode, restartDocker, sshExec, upLab } from "../lab/index";
import { REPO_ROOT } from "../lab/paths";
import { EngineHost } from "./engine/host";
import { EnginelessStack, type UpdateResult } from "./engine/stack";

export const SCENARIOS = [
  "bad-input",
  "host-key-mismatch",
  "sudo-password",
  "unreachable",
  "set-in-use",
  "no-docker-user",
  "no-forward-jump",
] as const;
export type Scenario = (typeof SCENARIOS)[number];

const connectionOf = (node: LabNode, extra: Record<string, unknown> = {}) => ({
  host: node.ssh.host,
  port: node.ssh.port,
  user: node.rootUser,
  hostKey: node.ssh.hostKey,
  ...extra,
});

function failureText(r: UpdateResult): string {
  const f = r.failures[0];
  if (!f) throw new Error(`expected a failure, got steps ${r.steps.map((s) => `${s.name}:${s.op}`).join(", ")}`);
  return f.message;
}

/** Runs every scenario on the lab's first two nodes (it removes, then restores, node2's DOCKER-USER). */
export async function collectFailureMessages(inventory: LabInventory): Promise<Record<Scenario, string>> {
  const [n1, n2] = inventory.nodes;
  if (!n1 || !n2) throw new Error("needs a lab with 2 nodes");
  const privateKey = readFileSync(n1.privateKeyPath, "utf8");
  const config = { "docker-firewall:privateKey": privateKey };
  // One provider process per scenario, as each `pulumi up` has its own: nothing carries over between them.
  const hosts: EngineHost[] = [];
  const stackOf = async (load: () => unknown) => {
    const host = await EngineHost.start({ cwd: REPO_ROOT, project: "docker-firewall", config });
    hosts.push(host);
    return new EnginelessStack(host, {
      project: "docker-firewall",
      stack: "failures",
      load,
      config,
      secretKeys: ["docker-firewall:privateKey"],
    });
  };
  const out: Partial<Record<Scenario, string>> = {};
  try {
    // Invalid arguments: refused by check at preview, before any connection is made.
    out["bad-input"] = failureText(
      await (
        await stackOf(() => {
          new DockerUserRule("web", {
            connection: connectionOf(n1),
            action: "ALLOW" as "ACCEPT",
            protocol: "all",
            publishedPorts: [8080],
            log: { prefix: "IPTables DOCKER-USER dropped: " },
          });
        })
      ).preview(),
    );

    // node2's host key pinned for node1: what a man in the middle (or a reinstalled host) looks like.
    out["host-key-mismatch"] = failureText(
      await (
        await stackOf(() => {
          new DockerUserRule("web", { connection: connectionOf(n1, { hostKey: n2.ssh.hostKey }), action: "DROP" });
        })
      ).up(),
    );

    // A user whose sudo asks for a password.
    out["sudo-password"] = failureText(
      await (
        await stackOf(() => {
          new DockerUserRule("web", {
            connection: connectionOf(n1, { user: n1.nosudoUser, sudo: true }),
            action: "DROP",
          });
        })
      ).up(),
    );

    // Nothing listens on that port (one dial attempt, to keep it quick).
    out.unreachable = failureText(
      await (
        await stackOf(() => {
          new DockerUserRule("web", { connection: connectionOf(n1, { port: 1, dialErrorLimit: 1 }), action: "DROP" });
        })
      ).up(),
    );

    // A set still used by a rule someone added by hand cannot be deleted.
    const withSet = await stackOf(() => {
      new IpSet("lbs", { connection: connectionOf(n1), name: "lbs", type: "hash:net", entries: [inventory.lbCidr] });
    });
    const created = await withSet.up();
    if (created.failures.length > 0) throw new Error(created.failures[0]?.message);
    const foreign = "-m set --match-set lbs src -p tcp -m tcp --dport 9000 -j ACCEPT";
    await sshExec(n1, "iptables-restore --noflush", { stdin: `*filter\n-A DOCKER-USER ${foreign}\nCOMMIT\n` });
    try {
      await withSet.destroy();
      throw new Error("deleting a set in use succeeded");
    } catch (e) {
      out["set-in-use"] = (e as Error).message.replace(/^\d+ [A-Z_]+: /, "");
    } finally {
      await sshExec(n1, "iptables-restore --noflush", { stdin: `*filter\n-D DOCKER-USER ${foreign}\nCOMMIT\n` });
      await withSet.destroy();
    }

    // dockerd not managing iptables (or not started yet): no DOCKER-USER chain at all.
    const removeChain = "*filter\n-D FORWARD -j DOCKER-USER\n-F DOCKER-USER\n-X DOCKER-USER\nCOMMIT\n";
    const r = await sshExec(n2, "iptables-restore --noflush", { stdin: removeChain });
    if (r.code !== 0) throw new Error(`could not remove DOCKER-USER on ${n2.name}: ${r.stderr}`);
    try {
      out["no-docker-user"] = failureText(
        await (
          await stackOf(() => {
            new DockerUserRule("web", { connection: connectionOf(n2), action: "DROP" });
          })
        ).up(),
      );
    } finally {
      await restartDocker(inventory, n2.name); // Docker puts its chains back
    }

    // DOCKER-USER there but FORWARD no longer jumps to it (a hand edit, another tool): rules would filter nothing.
    const unjump = await sshExec(n2, "iptables -D FORWARD -j DOCKER-USER");
    if (unjump.code !== 0) throw new Error(`could not remove the FORWARD jump on ${n2.name}: ${unjump.stderr}`);
    try {
      out["no-forward-jump"] = failureText(
        await (
          await stackOf(() => {
            new DockerUserRule("web", { connection: connectionOf(n2), action: "DROP" });
          })
        ).up(),
      );
    } finally {
      await restartDocker(inventory, n2.name); // Docker puts the jump back first
    }
  } finally {
    for (const h of hosts) h.stop();
  }
  return out as Record<Scenario, string>;
}

/** Run-specific parts (ports, fingerprints, rule ids) replaced by placeholders, as README.md shows them. */
export function normalizeMessage(text: string): string {
  return text
    .replace(/127\.0\.0\.1:\d+/g, "<host>:<port>")
    .replace(/SHA256:[A-Za-z0-9+/]{43}/g, "SHA256:<fingerprint>")
    .replace(/(dfw:\d{4}:[A-Za-z0-9_.-]+)-[0-9a-f]{8}/g, "$1-<id>")
    .replace(/([A-Za-z0-9_.-]+ \()([A-Za-z0-9_.-]+)-[0-9a-f]{8}\)/g, "$1$2-<id>)");
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { inventory: { type: "string" } } });
  let inventory: LabInventory;
  const own = !values.inventory;
  if (values.inventory) {
    inventory = JSON.parse(readFileSync(values.inventory, "utf8")) as LabInventory;
  } else {
    inventory = await upLab({ labId: "dfwfail", nodes: 2 });
  }
  try {
    const messages = await collectFailureMessages(inventory);
    for (const s of SCENARIOS) console.log(`## ${s}\n${normalizeMessage(messages[s])}\n`);
  } finally {
    if (own) await downLab({ labId: "dfwfail" });
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
