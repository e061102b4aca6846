// Child processes for the lab: argv only (never a shell), stdin as data, and detached daemons with log files.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly stdin?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Kill the child (SIGKILL) after this many ms; the result then has code -1. */
  readonly timeoutMs?: number;
}

/** Runs argv (no shell) with optional stdin; never throws on a non-zero exit. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error("run: empty argv");
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? process.env, cwd: opts.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, opts.timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      const stderr = Buffer.concat(err).toString() + (timedOut ? `\n(killed after ${opts.timeoutMs} ms)` : "");
      resolve({ code: timedOut ? -1 : (code ?? -1), stdout: Buffer.concat(out).toString(), stderr });
    });
    // A child that exits without reading stdin must not crash us with EPIPE.
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.stdin ?? "");
  });
}

/** Like run, but throws with the command and its stderr when the exit code is not 0. */
export async function mustRun(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (rc=${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Starts a long-lived process in its own session with stdout/stderr appended to logFile and returns its pid.
 * It is not our child for long: the lab CLI exits while daemons keep running, and `down` stops them by pid.
 */
export function spawnDaemon(argv: readonly string[], logFile: string, env?: NodeJS.ProcessEnv, cwd?: string): number {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("spawnDaemon: empty argv");
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ["ignore", fd, fd], env: env ?? process.env, cwd });
    child.on("error", () => undefined); // reported below through the missing pid
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls check until it returns a value (not undefined) or the deadline passes; then throws with `what`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
