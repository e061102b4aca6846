// Scratch network namespaces for kernel tests. Everything runs inside namespaces these helpers create;
// the root namespace's firewall is never touched.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv (no shell) with optional stdin; never throws on a non-zero exit. */
export function run(argv: readonly string[], stdin?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error("run: empty argv");
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
    // A command that exits without reading its stdin must not surface as an unhandled EPIPE.
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin ?? "");
  });
}

export type Backend = "nft" | "legacy";
export type Family = "ipv4" | "ipv6";

/** The binaries of one backend and family, named explicitly so the Debian alternatives never matter. */
export function tools(backend: Backend, family: Family) {
  const base = family === "ipv4" ? "iptables" : "ip6tables";
  return {
    iptables: `${base}-${backend}`,
    save: `${base}-${backend}-save`,
    restore: `${base}-${backend}-restore`,
  };
}

export class ScratchNamespace {
  private constructor(readonly name: string) {}

  static async create(prefix = "dfwt"): Promise<ScratchNamespace> {
    const name = `${prefix}-${randomBytes(4).toString("hex")}`;
    await execFileAsync("ip", ["netns", "add", name]);
    const ns = new ScratchNamespace(name);
    await ns.mustRun(["ip", "link", "set", "lo", "up"]);
    return ns;
  }

  exec(argv: readonly string[], stdin?: string): Promise<RunResult> {
    return run(["ip", "netns", "exec", this.name, ...argv], stdin);
  }

  async mustRun(argv: readonly string[], stdin?: string): Promise<string> {
    const r = await this.exec(argv, stdin);
    if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (rc=${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A filter table with Docker's shape: FORWARD jumps to DOCKER-USER, which ends in Docker's RETURN. */
  async installDockerUserChain(backend: Backend, family: Family): Promise<void> {
    const t = tools(backend, family);
    await this.mustRun(
      [t.restore, "-w", "5", "--noflush"],
      ["*filter", ":DOCKER-USER - [0:0]", "-A FORWARD -j DOCKER-USER", "-A DOCKER-USER -j RETURN", "COMMIT", ""].join(
        "\n",
      ),
    );
  }

  async destroy(): Promise<void> {
    await execFileAsync("ip", ["netns", "delete", this.name]).catch(() => undefined);
  }
}

/** The `-A CHAIN …` lines of one chain, as the kernel's save tool prints them. */
export async function savedChain(ns: ScratchNamespace, backend: Backend, family: Family, chain: string) {
  const text = await ns.mustRun([tools(backend, family).save, "-t", "filter"]);
  return text.split("\n").filter((l) => l.startsWith(`-A ${chain} `));
}
