// Stopping and starting a node's services: restart-docker, and reboot (a simulated power cycle).
import { readFileSync, writeFileSync } from "node:fs";
import { type BootReport, bootNode } from "./boot/boot-units";
import { startDockerd, waitForDocker, waitForServices } from "./docker";
import type { LabInventory } from "./inventory";
import { findNode } from "./inventory";
import { resetNetfilter } from "./netfilter-reset";
import { type NodeRef, runOnNode } from "./node-ns";
import { type LabPaths, labPaths } from "./paths";
import {
  listProcs,
  nsFileInode,
  type ProcInfo,
  pidFilesIn,
  readPidFile,
  readProc,
  removePidFile,
  stopProcesses,
  withDescendants,
} from "./reap";

export const pathsOf = (inventory: LabInventory) => labPaths({ labId: inventory.labId, stateDir: inventory.stateDir });

const dockerdArgvFile = (paths: LabPaths, node: string) => `${paths.runDir}/${node}.dockerd-argv.json`;

export function rememberDockerdArgv(paths: LabPaths, node: string, argv: readonly string[]) {
  writeFileSync(dockerdArgvFile(paths, node), JSON.stringify(argv));
}

export async function startDocker(paths: LabPaths, node: NodeRef): Promise<string> {
  const argv = JSON.parse(readFileSync(dockerdArgvFile(paths, node.name), "utf8")) as string[];
  const pid = startDockerd(paths, node, argv);
  writeFileSync(paths.pidFile(`${node.name}.dockerd`), `${pid}\n`);
  return waitForDocker(paths, node);
}

/**
 * Processes that run the node's "machine" except its sshd and what sshd started: dockerd, containerd, shims,
 * containers, and (unless keepUnits) services started by boot units. Found by the node's mount namespace, plus
 * descendants (containers have namespaces of their own).
 */
function machineProcesses(paths: LabPaths, node: NodeRef, procs: readonly ProcInfo[], keepUnits: boolean): ProcInfo[] {
  const mnt = nsFileInode(paths.mountNs(node.name));
  const sshd = readPidFile(paths.pidFile(`${node.name}.sshd`));
  const keep = withDescendants(procs, new Set(sshd ? [sshd] : []));
  if (keepUnits) {
    for (const f of pidFilesIn(paths.pidsDir).filter((f) => f.includes(`/${node.name}.unit.`))) {
      const pid = readPidFile(f);
      if (pid) for (const p of withDescendants(procs, new Set([pid]))) keep.add(p);
    }
  }
  const roots = new Set(procs.filter((p) => p.mntNs === mnt && !keep.has(p.pid)).map((p) => p.pid));
  const all = withDescendants(procs, roots);
  return procs.filter((p) => all.has(p.pid) && !keep.has(p.pid));
}

/** Stops dockerd (which stops its containers and containerd), then anything of Docker's left behind. */
export async function stopDocker(paths: LabPaths, node: NodeRef, opts: { keepUnits: boolean }): Promise<void> {
  const pidFile = paths.pidFile(`${node.name}.dockerd`);
  const pid = readPidFile(pidFile);
  const dockerd = pid ? readProc(pid) : undefined;
  if (dockerd && dockerd.mntNs === nsFileInode(paths.mountNs(node.name))) await stopProcesses([dockerd], 30_000);
  removePidFile(pidFile);
  await stopProcesses(machineProcesses(paths, node, listProcs(), opts.keepUnits), 3000);
}

export async function restartDocker(
  inventory: LabInventory,
  nodeName: string,
): Promise<{ version: string; ms: number }> {
  const paths = pathsOf(inventory);
  const node = findNode(inventory, nodeName);
  const start = performance.now();
  await stopDocker(paths, node, { keepUnits: true });
  const version = await startDocker(paths, node);
  await waitForServices(paths, node);
  return { version, ms: Math.round(performance.now() - start) };
}

export interface RebootResult extends BootReport {
  readonly ms: number;
}

/**
 * A power cycle: everything but sshd stops, the firewall (both backends, v4 and v6) and ipsets are wiped, /run is
 * emptied, then the node's enabled boot units and Docker start in systemd order; containers return by restart policy.
 * sshd and its sessions are kept so SSH clients of the lab are not cut off.
 */
export async function rebootNode(inventory: LabInventory, nodeName: string): Promise<RebootResult> {
  const paths = pathsOf(inventory);
  const node = findNode(inventory, nodeName);
  const start = performance.now();
  await stopDocker(paths, node, { keepUnits: false });
  for (const f of pidFilesIn(paths.pidsDir).filter((f) => f.includes(`/${node.name}.unit.`))) removePidFile(f);
  await resetNetfilter(paths, node);
  await runOnNode(paths, node, [
    "find",
    "/run",
    "-mindepth",
    "1",
    "-maxdepth",
    "1",
    "!",
    "-name",
    "sshd",
    "!",
    "-name",
    "sshd.pid",
    "-exec",
    "rm",
    "-rf",
    "--one-file-system",
    "{}",
    "+",
  ]);
  await runOnNode(paths, node, ["mkdir", "-p", "/run/lock"]);
  const report = await bootNode(paths, node, async () => {
    await startDocker(paths, node);
  });
  await waitForServices(paths, node);
  const result = { ...report, ms: Math.round(performance.now() - start) };
  writeFileSync(paths.bootReport(node.name), JSON.stringify(result, null, 2));
  return result;
}
