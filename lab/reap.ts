// Finding and stopping the lab's processes: by pid file and by the namespaces the lab created, never by name.
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "./spawn";

export interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly startTime: number;
  readonly netNs?: number;
  readonly mntNs?: number;
}

const nsInode = (pid: number, kind: "net" | "mnt"): number | undefined => {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`));
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
};

/** PURE. pid, ppid, comm and start time from /proc/PID/stat (comm may contain spaces and parentheses). */
export function parseStat(text: string): { pid: number; ppid: number; comm: string; startTime: number } | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < 0) return undefined;
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); ppid is field 4, starttime field 22.
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    ppid: Number(rest[1]),
    startTime: Number(rest[19]),
  };
}

export function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    if (!stat) return undefined;
    return { ...stat, netNs: nsInode(pid, "net"), mntNs: nsInode(pid, "mnt") };
  } catch {
    return undefined;
  }
}

export function listProcs(): ProcInfo[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readProc(Number(d)))
    .filter((p): p is ProcInfo => p !== undefined && p.pid !== process.pid);
}

/** PURE. The given roots plus every descendant, from one snapshot of the process table. */
export function withDescendants(procs: readonly ProcInfo[], roots: ReadonlySet<number>): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const out = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (out.has(pid)) continue;
    out.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Inode of a namespace file (a bind mount of nsfs), which is what /proc/PID/ns/* links name. */
export function nsFileInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

export function readPidFile(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function pidFilesIn(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".pid"))
        .map((f) => join(dir, f))
    : [];
}

/** Alive: the same process (pid and start time) and not a zombie waiting for its parent to reap it. */
export const isAlive = (pid: number, startTime?: number) => {
  const p = readProc(pid);
  return p !== undefined && (startTime === undefined || p.startTime === startTime) && readProcState(pid) !== "Z";
};

/** Sends sig to each process still the same one (pid and start time), waits up to graceMs, then SIGKILLs. */
export async function stopProcesses(targets: readonly ProcInfo[], graceMs: number, sig: NodeJS.Signals = "SIGTERM") {
  const signal = (p: ProcInfo, s: NodeJS.Signals) => {
    if (!isAlive(p.pid, p.startTime)) return;
    try {
      process.kill(p.pid, s);
    } catch {
      // Already gone.
    }
  };
  for (const p of targets) signal(p, sig);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && targets.some((p) => isAlive(p.pid, p.startTime))) await sleep(50);
  const left = targets.filter((p) => isAlive(p.pid, p.startTime));
  for (const p of left) signal(p, "SIGKILL");
  const killDeadline = Date.now() + 5000;
  while (Date.now() < killDeadline && left.some((p) => isAlive(p.pid, p.startTime))) await sleep(20);
}

const readProcState = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
  } catch {
    return undefined;
  }
};

export const removePidFile = (path: string) => rmSync(path, { force: true });

/** Resident memory in KiB (VmRSS), 0 for a process that is gone or a kernel thread. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m?.[1] ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
