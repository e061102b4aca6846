// A private 1-node lab for node-layer tests, with the node read directly (as root inside its namespaces, no SSH)
// and connections and transactions made the way the provider makes them.

import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { downLab, execOnNode, type LabInventory, type LabNode, locateLab, upLab } from "../../lab/index";
import { claimLab, uniqueLabId } from "../../lab/owner";
import { REPO_ROOT } from "../../lab/paths";
import { type Connection, parseConnection } from "../../provider/model/connection";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { Intent } from "../../provider/netfilter/intent";
import { sshSession } from "../../provider/node/session";
import { SshPool } from "../../provider/node/ssh-pool";
import { runTransaction, type TransactionOutcome } from "../../provider/node/transaction";
import { RUN_DIR } from "../../provider/protocol/run-dir";

export const APPLY_LOCK = `${RUN_DIR}/apply.lock`;
export const NODE_LOCK = `${RUN_DIR}/pulumi-docker-firewall.lock`;
/** A rule nobody manages, kept below the managed blocks. */
export const FOREIGN = "-A DOCKER-USER -s 203.0.113.7/32 -j DROP";

export type Who = "root" | "sudo";

export const set = (name: string, entries: string[] | null): Intent => ({
  kind: "set",
  name,
  spec: entries && ipSetArgs.parse({ name, type: "hash:net", entries }),
});

export const rule = (id: string, priority: number, args: Record<string, unknown> | null): Intent => ({
  kind: "rule",
  id,
  priority,
  rule: args && dockerUserRuleArgs.parse({ action: "ACCEPT", protocol: "tcp", ...args }),
});

export const allOk = (o: TransactionOutcome) => o.results.every((r) => r.ok);

/** One transaction on a fresh pool (a fresh SSH connection), which is closed afterwards. */
export async function transact(conn: Connection, intents: readonly Intent[], pool = new SshPool()) {
  try {
    return await runTransaction(sshSession(conn, { exec: { pool }, lock: { pool } }), intents, "node-lab test");
  } finally {
    pool.closeAll();
  }
}

export class NodeLab {
  lab!: LabInventory;
  node!: LabNode;
  privateKey = "";
  /** The "throwaway" prefix: a later run reaps the lab should this one die. */
  private readonly loc = (() => {
    const labId = uniqueLabId("dfwtm");
    return { labId, stateDir: join(REPO_ROOT, ".lab", labId) };
  })();

  async start(): Promise<void> {
    mkdirSync(locateLab(this.loc).stateDir, { recursive: true });
    claimLab(locateLab(this.loc));
    this.lab = await upLab({ ...this.loc, nodes: 1 });
    this.node = this.lab.nodes[0] as LabNode;
    this.privateKey = readFileSync(this.node.privateKeyPath, "utf8");
  }

  async stop(): Promise<void> {
    await downLab(this.loc);
    rmSync(locateLab(this.loc).stateDir, { recursive: true, force: true });
  }

  get labId(): string {
    return this.loc.labId;
  }

  connection(port: number, who: Who, hostKey = this.node.ssh.hostKey): Connection {
    const user = who === "root" ? "root" : this.node.sudoUser;
    return parseConnection({
      host: "127.0.0.1",
      port,
      user,
      sudo: who === "sudo",
      privateKey: this.privateKey,
      hostKey,
    });
  }

  /** DOCKER-USER lines and `ipset save` (random initval removed, sorted), read while holding the apply lock. */
  async nodeState(): Promise<string> {
    const r = await execOnNode(this.lab, this.node.name, [
      "flock",
      "-w",
      "60",
      APPLY_LOCK,
      "sh",
      "-c",
      "iptables-save -t filter && echo @@ && ipset save",
    ]);
    if (r.code !== 0) throw new Error(`reading ${this.node.name} failed: ${r.stderr}`);
    const [ipt = "", sets = ""] = r.stdout.split("@@\n");
    const chain = ipt.split("\n").filter((l) => l.startsWith("-A DOCKER-USER "));
    const setLines = sets
      .split("\n")
      .filter(Boolean)
      .map((l) => l.replace(/ initval 0x[0-9a-f]+/, ""))
      .sort();
    return [...chain, "--", ...setLines].join("\n");
  }

  /** True while an apply holds the apply lock (e.g. one orphaned by a dropped connection). */
  async applyRunning(): Promise<boolean> {
    return (await execOnNode(this.lab, this.node.name, ["flock", "-n", APPLY_LOCK, "true"])).code !== 0;
  }

  /** DOCKER-USER back to the foreign rule and Docker's RETURN; no sets. */
  async resetNode(): Promise<void> {
    const script = `iptables -F DOCKER-USER && iptables -A ${FOREIGN.slice(3)} && iptables -A DOCKER-USER -j RETURN && ipset destroy`;
    const r = await execOnNode(this.lab, this.node.name, ["sh", "-c", script]);
    if (r.code !== 0) throw new Error(`reset failed: ${r.stderr}`);
  }
}
