// Lab plumbing for the reliability suite (test/reliability/*): a private lab of its own for destructive faults,
// a node's managed state read as root inside the node (no SSH), and the node's sshd killed, restarted or re-keyed.

import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sshBanner } from "../../lab/forwarder";
import { downLab, isEmptyFootprint, type LabInventory, type LabNode, locateLab, upLab } from "../../lab/index";
import { NODE_ENV, nodeArgv, runOnNode } from "../../lab/node-ns";
import { claimLab, uniqueLabId } from "../../lab/owner";
import { REPO_ROOT } from "../../lab/paths";
import { pathsOf } from "../../lab/power";
import { listProcs, readPidFile, stopProcesses, withDescendants } from "../../lab/reap";
import { generateHostKey, startSshd } from "../../lab/sshd";
import type { UpOptions } from "../../lab/up";
import { RUN_DIR } from "../../provider/protocol/run-dir";

export const APPLY_LOCK = `${RUN_DIR}/apply.lock`;
/** A copy of the node's real ipset binary, so the state read still works while /usr/sbin/ipset is broken. */
export const REAL_IPSET = "/run/dfw-rel-ipset";

export interface PrivateLab {
  readonly lab: LabInventory;
  down(): Promise<void>;
}

/** A lab of its own ("dfwtm…": a later run reaps it should this one die), torn down by `down`. */
export async function upPrivateLab(nodes: number, opts: Pick<UpOptions, "docker"> = {}): Promise<PrivateLab> {
  const labId = uniqueLabId("dfwtm");
  const loc = locateLab({ labId, stateDir: join(REPO_ROOT, ".lab", labId) });
  mkdirSync(loc.stateDir, { recursive: true });
  claimLab(loc);
  const lab = await upLab({ ...loc, nodes, ...opts });
  return {
    lab,
    down: async () => {
      const r = await downLab(loc);
      if (isEmptyFootprint(r.left)) rmSync(loc.stateDir, { recursive: true, force: true });
    },
  };
}

/** Runs a shell script as root inside the node; throws on a non-zero exit. */
export async function onNode(lab: LabInventory, node: LabNode, script: string, stdin?: string): Promise<string> {
  const r = await runOnNode(pathsOf(lab), node, ["sh", "-c", script], { stdin });
  if (r.code !== 0) throw new Error(`${node.name}: \`${script}\` exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The same, synchronously: blocks the event loop, so nothing else of this process runs meanwhile. */
export function onNodeSync(lab: LabInventory, node: LabNode, script: string): string {
  const [cmd, ...args] = nodeArgv(pathsOf(lab), node, ["sh", "-c", script]);
  const r = spawnSync(cmd as string, args, { env: { ...NODE_ENV }, encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${node.name}: \`${script}\` exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const PERSISTED = [
  "/etc/docker-firewall/persistence.json",
  "/etc/docker-firewall/ipsets.restore",
  "/etc/docker-firewall/rules-ipv4.restore",
  "/etc/docker-firewall/rules-ipv6.restore",
  "/etc/docker-firewall/restore",
  "/etc/docker-firewall/managed-sets",
  "/etc/systemd/system/docker-firewall.service",
  "/etc/systemd/system/multi-user.target.wants/docker-firewall.service",
  "/etc/systemd/system/docker.service.requires/docker-firewall.service",
  "/etc/systemd/system/docker.service.wants/docker-firewall.service",
];

/**
 * Everything the provider manages on a node, as one comparable text: the DOCKER-USER lines (v4 and v6), every
 * ipset (random initval removed, sorted: a leftover temporary set shows), and a hash of every persisted file
 * and boot link. Read while holding the apply lock, so an apply still running (orphaned by a dropped
 * connection) finishes first.
 */
export const MANAGED_STATE_SCRIPT = `ipset=ipset; [ -x ${REAL_IPSET} ] && ipset=${REAL_IPSET}
mkdir -p -m 0700 ${RUN_DIR}
exec flock -w 120 ${APPLY_LOCK} sh -c '
echo "## DOCKER-USER ipv4"; iptables-save -t filter | grep "^-A DOCKER-USER "
echo "## DOCKER-USER ipv6"; ip6tables-save -t filter 2>/dev/null | grep "^-A DOCKER-USER "
echo "## ipsets"; "$0" save | sed "s/ initval 0x[0-9a-f]*//" | sort
echo "## persisted"; for f in ${PERSISTED.join(" ")}; do if [ -L "$f" ]; then echo "link $f"; elif [ -f "$f" ]; then sha256sum "$f"; fi; done
true' "$ipset"`;

export const managedState = (lab: LabInventory, node: LabNode) => onNode(lab, node, MANAGED_STATE_SCRIPT);
export const managedStateSync = (lab: LabInventory, node: LabNode) => onNodeSync(lab, node, MANAGED_STATE_SCRIPT);

/** The DOCKER-USER lines of a node (IPv4). */
export async function dockerUserChain(lab: LabInventory, node: LabNode): Promise<string[]> {
  return (await onNode(lab, node, "iptables-save -t filter"))
    .split("\n")
    .filter((l) => l.startsWith("-A DOCKER-USER "));
}

/** A line-by-line difference of two managed states, for failure messages. */
export function stateDiff(want: string, got: string): string {
  const a = want.split("\n");
  const b = got.split("\n");
  return [
    ...a.filter((l) => !b.includes(l)).map((l) => `- ${l}`),
    ...b.filter((l) => !a.includes(l)).map((l) => `+ ${l}`),
  ]
    .slice(0, 40)
    .join("\n");
}

// ---- the node's sshd --------------------------------------------------------------------------------------------

/** Kills (SIGKILL) the node's sshd and every sshd process serving a session, by pid; their shells run on. */
export async function killSshd(lab: LabInventory, node: LabNode): Promise<number[]> {
  const paths = pathsOf(lab);
  const pid = readPidFile(paths.pidFile(`${node.name}.sshd`));
  if (!pid) throw new Error(`${node.name}: no sshd pid file`);
  const procs = listProcs();
  const tree = withDescendants(procs, new Set([pid]));
  const sshds = procs.filter((p) => tree.has(p.pid) && p.comm === "sshd");
  await stopProcesses(sshds, 0, "SIGKILL");
  return sshds.map((p) => p.pid);
}

/** Starts the node's sshd again (recording its pid where the lab keeps it) and waits for its banner. */
export async function startNodeSshd(lab: LabInventory, node: LabNode): Promise<void> {
  const paths = pathsOf(lab);
  const pid = await startSshd(paths, node);
  writeFileSync(paths.pidFile(`${node.name}.sshd`), `${pid}\n`);
  const deadline = performance.now() + 20_000;
  while (!(await sshBanner(node.ssh.port, 1000))?.startsWith("SSH-2.0-")) {
    if (performance.now() > deadline) throw new Error(`${node.name}: sshd did not come back`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Gives the node a new ed25519 host key (as a reinstall would) and restarts its sshd; returns the public line. */
export async function rekeyNode(lab: LabInventory, node: LabNode): Promise<string> {
  const paths = pathsOf(lab);
  const pid = readPidFile(paths.pidFile(`${node.name}.sshd`));
  const key = await generateHostKey(paths, node, node.hostname);
  if (pid)
    await stopProcesses(
      listProcs().filter((p) => p.pid === pid),
      5000,
    );
  await startNodeSshd(lab, node);
  return key;
}
