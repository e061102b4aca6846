// Processes the SSH tests run or watch next to the test sshd (test/support/sshd.ts): a free port for it, the
// descendants of a pid, a private ssh-agent holding given keys, and a TypeScript script run as its own Node
// process, as another controller would be.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import type { KeyPair } from "./ssh-keys";

const execFileAsync = promisify(execFile);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** Pids of every descendant of `pid` (sshd's per-connection processes and their commands). */
export async function descendants(pid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (Number.isFinite(ppid)) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** A private ssh-agent holding `keys`; stop() kills it. */
export async function startAgent(dir: string, keys: readonly KeyPair[]): Promise<{ socket: string; stop(): void }> {
  const socket = join(dir, "agent.sock");
  await rm(socket, { force: true });
  const child = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    if (
      await stat(socket).then(
        () => true,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const env = { ...process.env, SSH_AUTH_SOCK: socket };
  for (const k of keys) await execFileAsync("ssh-add", ["-q", k.path], { env });
  return {
    socket,
    stop: () => {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

/** A TypeScript script run as its own Node process (via tsx), as another controller would be. */
export interface ScriptProcess {
  readonly child: ChildProcess;
  /** Resolves when stdout has printed `line`. */
  waitFor(line: string, timeoutMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
  output(): string;
}

/** Writes `source` to `dir` and runs it with node + tsx from the repository (so its imports resolve). */
export async function runScript(
  dir: string,
  name: string,
  source: string,
  env: Record<string, string>,
): Promise<ScriptProcess> {
  const repo = join(__dirname, "..", "..");
  const path = join(dir, `${name}.ts`);
  await writeFile(path, source);
  const child = spawn(process.execPath, ["--import", "tsx", path], {
    cwd: repo,
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => out,
    waitFor: (line, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const t0 = Date.now();
        const poll = setInterval(() => {
          if (out.split("\n").includes(line)) {
            clearInterval(poll);
            resolve();
          } else if (child.exitCode !== null || Date.now() - t0 > timeoutMs) {
            clearInterval(poll);
            reject(new Error(`script ${name} did not print ${line}:\n${out}`));
          }
        }, 20);
      }),
  };
}
