// What is running in a lab right now: per node its daemons, containers, memory and the verification of the boot
// units it has enabled.
import { existsSync, readFileSync } from "node:fs";
import { enabledBootUnits, verifyUnit } from "./boot/boot-units";
import { dockerServerVersion, runningContainers } from "./docker";
import { sshBanner } from "./forwarder";
import type { LabInventory, LabNode } from "./inventory";
import type { LabPaths } from "./paths";
import { pathsOf } from "./power";
import { isAlive, listProcs, nsFileInode, type ProcInfo, readPidFile, rssKiB, withDescendants } from "./reap";

export interface NodeStatus {
  readonly name: string;
  readonly sshd: { readonly pid?: number; readonly alive: boolean; readonly banner?: string };
  readonly dockerd: { readonly pid?: number; readonly alive: boolean; readonly version?: string };
  readonly containers: readonly string[];
  /** Resident memory of the node's processes (dockerd, containerd, shims, containers, sshd…), KiB, by command. */
  readonly rssKiB: { readonly total: number; readonly byCommand: Readonly<Record<string, number>> };
  readonly bootUnits: readonly { readonly unit: string; readonly verifyOk: boolean; readonly verifyOutput: string }[];
  readonly lastBoot?: unknown;
}

export interface LabStatus {
  readonly labId: string;
  readonly stateDir: string;
  readonly forwarder: { readonly pid?: number; readonly alive: boolean };
  readonly nodes: readonly NodeStatus[];
}

/** PURE. RSS by command name over the processes of one node (its mount namespace and their descendants). */
export function nodeMemory(procs: readonly ProcInfo[], mntNs: number | undefined, rss: (pid: number) => number) {
  const roots = new Set(procs.filter((p) => p.mntNs !== undefined && p.mntNs === mntNs).map((p) => p.pid));
  const pids = withDescendants(procs, roots);
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const p of procs.filter((x) => pids.has(x.pid))) {
    const kib = rss(p.pid);
    byCommand[p.comm] = (byCommand[p.comm] ?? 0) + kib;
    total += kib;
  }
  return { total, byCommand };
}

async function nodeStatus(paths: LabPaths, node: LabNode, procs: readonly ProcInfo[]): Promise<NodeStatus> {
  const sshdPid = readPidFile(paths.pidFile(`${node.name}.sshd`));
  const dockerdPid = readPidFile(paths.pidFile(`${node.name}.dockerd`));
  const dockerAlive = dockerdPid !== undefined && isAlive(dockerdPid);
  const units = enabledBootUnits(paths, node);
  const bootReport = paths.bootReport(node.name);
  return {
    name: node.name,
    sshd: {
      pid: sshdPid,
      alive: sshdPid !== undefined && isAlive(sshdPid),
      banner: await sshBanner(node.ssh.port, 2000),
    },
    dockerd: {
      pid: dockerdPid,
      alive: dockerAlive,
      version: dockerAlive ? await dockerServerVersion(paths, node) : undefined,
    },
    containers: dockerAlive ? await runningContainers(paths, node) : [],
    rssKiB: nodeMemory(procs, nsFileInode(paths.mountNs(node.name)), rssKiB),
    bootUnits: await Promise.all(
      units.map(async (u) => {
        const v = await verifyUnit(paths, node, u);
        return { unit: u.name, verifyOk: v.ok, verifyOutput: v.output };
      }),
    ),
    lastBoot: existsSync(bootReport) ? JSON.parse(readFileSync(bootReport, "utf8")) : undefined,
  };
}

export async function labStatus(inventory: LabInventory): Promise<LabStatus> {
  const paths = pathsOf(inventory);
  const procs = listProcs();
  const fwd = readPidFile(paths.pidFile("forwarder"));
  return {
    labId: inventory.labId,
    stateDir: inventory.stateDir,
    forwarder: { pid: fwd, alive: fwd !== undefined && isAlive(fwd) },
    nodes: await Promise.all(inventory.nodes.map((n) => nodeStatus(paths, n, procs))),
  };
}

/** PURE. A short human-readable summary of a status. */
export function renderStatus(s: LabStatus): string {
  const lines = [`lab ${s.labId} (${s.stateDir}); forwarder ${s.forwarder.alive ? "up" : "DOWN"}`];
  for (const n of s.nodes) {
    const mib = (n.rssKiB.total / 1024).toFixed(0);
    lines.push(
      `${n.name}: sshd ${n.sshd.alive ? "up" : "DOWN"}, dockerd ${n.dockerd.alive ? `up ${n.dockerd.version ?? "?"}` : "DOWN"}, ` +
        `containers [${n.containers.join(", ")}], RSS ${mib} MiB`,
    );
    for (const u of n.bootUnits) {
      lines.push(`  boot unit ${u.unit}: verify ${u.verifyOk ? "clean" : `NOT clean: ${u.verifyOutput}`}`);
    }
  }
  return lines.join("\n");
}
