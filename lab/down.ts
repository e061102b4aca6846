// Tearing a lab down so nothing is left: its processes (by pid file and by the namespaces it created, never by
// name), namespace files, network namespaces (their veths go with them) and the runtime parts of its state folder.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { netnsPrefix } from "./addresses";
import { FORWARDER_MARKER } from "./forwarder";
import { deleteNetns, listNetns, netnsPath } from "./network";
import { type LabLocationOptions, type LabPaths, labPaths, locateLab, runtimeParts } from "./paths";
import {
  listProcs,
  nsFileInode,
  type ProcInfo,
  pidFilesIn,
  readPidFile,
  readProc,
  stopProcesses,
  withDescendants,
} from "./reap";
import { run } from "./spawn";

export interface LabFootprint {
  readonly netns: readonly string[];
  readonly nsFiles: readonly string[];
  /** Inodes of every namespace the lab holds (network, mount, UTS): what /proc/PID/ns/* would point at. */
  readonly nsInodes: readonly number[];
  readonly pids: readonly number[];
  /** Root-namespace mounts under the state folder (the ns dir and its namespace files). */
  readonly mounts: readonly string[];
}

/** Mount points in our own mount namespace at or under dir. */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

/** Namespace files in the ns dir that really are bind-mounted namespaces (not left-over empty files). */
function boundNsFiles(paths: LabPaths): string[] {
  if (!existsSync(paths.nsDir)) return [];
  const dirDev = statSync(paths.stateDir).dev;
  return readdirSync(paths.nsDir)
    .map((f) => join(paths.nsDir, f))
    .filter((f) => {
      try {
        return statSync(f).dev !== dirDev;
      } catch {
        return false;
      }
    });
}

/** Everything of the lab that exists right now on this machine. */
export async function labFootprint(paths: LabPaths): Promise<LabFootprint> {
  const netns = (await listNetns()).filter((n) => n.startsWith(netnsPrefix(paths.labId)));
  const nsFiles = boundNsFiles(paths);
  const nsInodes = [...netns.map((n) => nsFileInode(netnsPath(n))), ...nsFiles.map(nsFileInode)].filter(
    (i): i is number => i !== undefined,
  );
  const procs = listProcs();
  const pids = [...labProcesses(paths, procs, new Set(nsInodes))].sort((a, b) => a - b);
  return { netns, nsFiles, nsInodes, pids, mounts: existsSync(paths.stateDir) ? mountsUnder(paths.stateDir) : [] };
}

/**
 * The forwarder is recognised by its pid file and a marker in its environment naming our config file (its command
 * line is overwritten by its process title).
 */
function forwarderPid(paths: LabPaths): number | undefined {
  const pid = readPidFile(paths.pidFile("forwarder"));
  if (!pid) return undefined;
  try {
    const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    return env.includes(`${FORWARDER_MARKER}=${paths.forwarderConfig}`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function labProcesses(paths: LabPaths, procs: readonly ProcInfo[], inodes: ReadonlySet<number>): Set<number> {
  const roots = new Set<number>();
  for (const p of procs) {
    if ((p.netNs !== undefined && inodes.has(p.netNs)) || (p.mntNs !== undefined && inodes.has(p.mntNs))) {
      roots.add(p.pid);
    }
  }
  const fwd = forwarderPid(paths);
  if (fwd) roots.add(fwd);
  const ours = withDescendants(procs, roots);
  // Never ourselves or our ancestors (e.g. `lab exec` running `down`, or a test runner started weirdly).
  for (let p = readProc(process.pid); p && p.pid > 1; p = readProc(p.ppid)) ours.delete(p.pid);
  return ours;
}

export interface DownReport {
  readonly labId: string;
  readonly stopped: number;
  readonly netnsDeleted: readonly string[];
  readonly left: LabFootprint;
}

export async function downLab(opts: LabLocationOptions = {}): Promise<DownReport> {
  const paths = labPaths(locateLab(opts));
  const before = await labFootprint(paths);
  const inodes = new Set(before.nsInodes);
  const procs = listProcs();
  // The forwarder first, so no new SSH session starts; then each dockerd, which stops its containers cleanly.
  const fwd = forwarderPid(paths);
  const fwdProc = fwd ? procs.find((p) => p.pid === fwd) : undefined;
  if (fwdProc) await stopProcesses([fwdProc], 3000);
  const dockerds = pidFilesIn(paths.pidsDir)
    .filter((f) => f.endsWith(".dockerd.pid"))
    .map((f) => readPidFile(f))
    .map((pid) => procs.find((p) => p.pid === pid))
    .filter((p): p is ProcInfo => p !== undefined && p.netNs !== undefined && inodes.has(p.netNs));
  await stopProcesses(dockerds, 30_000);
  const rest = labProcesses(paths, listProcs(), inodes);
  const restProcs = listProcs().filter((p) => rest.has(p.pid));
  await stopProcesses(restProcs, 3000);
  for (const f of before.nsFiles) await run(["umount", f]);
  if (existsSync(paths.nsDir)) await run(["umount", paths.nsDir]);
  for (const n of before.netns) await deleteNetns(n);
  const left = await labFootprint(paths);
  if (left.mounts.length === 0) {
    for (const part of runtimeParts(paths)) rmSync(part, { recursive: true, force: true });
  }
  return {
    labId: paths.labId,
    stopped: (fwdProc ? 1 : 0) + dockerds.length + restProcs.length,
    netnsDeleted: before.netns,
    left,
  };
}

/** PURE. True when a footprint shows nothing left. */
export const isEmptyFootprint = (f: LabFootprint) =>
  f.netns.length === 0 && f.nsFiles.length === 0 && f.pids.length === 0 && f.mounts.length === 0;
