// The real pulumi CLI for test/cli: finds what scripts/install-pulumi-cli.sh installed, lays out a user's project
// (test/cli/fixture + this package installed from its packed tarball, as npm would for a user), and runs pulumi commands in it against a
// file:// backend with a passphrase secrets provider.
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { delimiter, join } from "node:path";
import type { LabNode } from "../../lab/index";
import { REPO_ROOT } from "../../lab/paths";

export const CACHE = process.env.DFW_CACHE_DIR ?? join(REPO_ROOT, ".cache");
export const PULUMI_BIN = join(CACHE, "pulumi", "bin");
export const NODE22_BIN = join(CACHE, "node22", "bin");
const FIXTURE = join(REPO_ROOT, "test", "cli", "fixture");

function onPath(name: string, path: string): string | undefined {
  return path
    .split(delimiter)
    .map((d) => join(d, name))
    .find((p) => existsSync(p));
}

/**
 * PATH for the CLI: our bin (pulumi, the dynamic-provider launcher), Node 22 (the SDK wants >= 22; DFW_CLI_NODE=system
 * runs the machine's node instead), then the rest.
 */
export function cliPath(
  node22 = process.env.DFW_CLI_NODE !== "system" && existsSync(join(NODE22_BIN, "node")),
): string {
  return [PULUMI_BIN, ...(node22 ? [NODE22_BIN] : []), process.env.PATH ?? ""].join(delimiter);
}

/** Why the CLI suite cannot run here (undefined: it can): names what is missing and how to get it. */
export function cliMissing(): string | undefined {
  if (!existsSync(join(PULUMI_BIN, "pulumi"))) return `no ${PULUMI_BIN}/pulumi: run scripts/install-pulumi-cli.sh`;
  return undefined;
}

/**
 * Commands that run the program. Without a pulumi-language-nodejs binary (the Go module proxy does not serve it)
 * they go through test/cli/fixture/serve.js: the SDK's own language server, which the CLI reaches with `--client`.
 */
const RUNS_PROGRAM = new Set(["preview", "up", "update"]);

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout + stderr: what a user sees. */
  readonly text: string;
  readonly ms: number;
}

export interface NodeSpec {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly hostKey: string;
  /** Give up after this many failed dials (the unreachable-host test). */
  readonly dialErrorLimit?: number;
}

export interface ResourceSpec {
  readonly name: string;
  readonly node: string;
  readonly args: Record<string, unknown>;
  readonly hostFromOutput?: boolean;
  readonly opts?: {
    protect?: boolean;
    retainOnDelete?: boolean;
    deleteBeforeReplace?: boolean;
    aliases?: { name: string }[];
    ignoreChanges?: string[];
    /** deletedWith the fixture's resource standing for the host (needs hostFromOutput). */
    deletedWithHost?: boolean;
  };
}

/** What test/cli/fixture/index.js declares (stack config `dfwtest:spec`). */
export interface Spec {
  readonly nodes: Record<string, NodeSpec>;
  readonly sets?: readonly ResourceSpec[];
  readonly rules?: readonly ResourceSpec[];
  /** One PersistentRuleset (named "persist"), after the sets. */
  readonly persistent?: { readonly node: string; readonly args: Record<string, unknown> };
}

export function nodeSpec(node: LabNode): NodeSpec {
  return { host: node.ssh.host, port: node.ssh.port, user: node.rootUser, hostKey: node.ssh.hostKey };
}

/**
 * node_modules as a user's `npm install pulumi-docker-firewall` makes it: this package's `npm pack` (of the dist
 * `npm test` built) installed with its dependencies and the SDK. Installed once per tarball content, then shared.
 */
function installedModules(): string {
  if (!existsSync(join(REPO_ROOT, "dist", "index.js"))) throw new Error("no dist/: run npm run build first");
  const work = join(CACHE, "cli-tests");
  mkdirSync(work, { recursive: true });
  const tgz = execFileSync("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", work], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .pop() as string;
  const digest = createHash("sha256")
    .update(readFileSync(join(work, tgz)))
    .digest("hex")
    .slice(0, 16);
  const dir = join(work, `modules-${digest}`);
  if (existsSync(join(dir, "node_modules", "pulumi-docker-firewall", "package.json"))) return join(dir, "node_modules");
  // Installs of older tarballs are of no further use.
  for (const old of readdirSync(work).filter((d) => d.startsWith("modules-"))) {
    rmSync(join(work, old), { recursive: true, force: true });
  }
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "dfwcli-modules", private: true }));
  const sdk = JSON.parse(readFileSync(join(REPO_ROOT, "node_modules/@pulumi/pulumi/package.json"), "utf8"));
  // npm's cache first (npm ci filled it), then the registry.
  execFileSync(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, tgz), `@pulumi/pulumi@${sdk.version}`],
    { cwd: dir, stdio: "pipe" },
  );
  return join(dir, "node_modules");
}

/** A user's project dir and stack: the fixture program, this package installed from its tarball, a file backend. */
export class CliProject {
  readonly dir: string;
  readonly passphrase = randomBytes(18).toString("base64");
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly stack: string,
    opts: { node22?: boolean } = {},
  ) {
    mkdirSync(join(CACHE, "cli-tests"), { recursive: true });
    this.dir = mkdtempSync(join(CACHE, "cli-tests", `${stack}-`));
    mkdirSync(join(this.dir, "state"));
    for (const f of ["index.js", "serve.js"]) copyFileSync(join(FIXTURE, f), join(this.dir, f));
    writeFileSync(join(this.dir, "Pulumi.yaml"), "name: dfwcli\nruntime: nodejs\nmain: index.js\n");
    writeFileSync(join(this.dir, "package.json"), JSON.stringify({ name: "dfwcli", private: true }, null, 2));
    symlinkSync(installedModules(), join(this.dir, "node_modules"));
    this.env = {
      ...process.env,
      PATH: cliPath(opts.node22),
      PULUMI_HOME: join(this.dir, "pulumi-home"),
      PULUMI_BACKEND_URL: `file://${join(this.dir, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: this.passphrase,
      PULUMI_SKIP_UPDATE_CHECK: "1",
      NO_COLOR: "1",
      DFW_PULUMI_CLI: join(PULUMI_BIN, "pulumi"),
    };
  }

  /** Whether a pulumi-language-nodejs binary is on the CLI's PATH (else programs run through serve.js). */
  hasLanguageHost(): boolean {
    return onPath("pulumi-language-nodejs", this.env.PATH ?? "") !== undefined;
  }

  /** Runs `pulumi <args>` in the project (never throws: the exit code is part of what tests assert). */
  pulumi(args: readonly string[], input?: string): Promise<Run> {
    const started = performance.now();
    return new Promise((resolve) => {
      const viaServer = RUNS_PROGRAM.has(args[0] ?? "") && !this.hasLanguageHost();
      const [file, argv] = viaServer ? ["node", ["serve.js", ...args]] : [join(PULUMI_BIN, "pulumi"), [...args]];
      const child = execFile(
        file,
        argv,
        { cwd: this.dir, env: this.env, maxBuffer: 64 * 1024 * 1024, timeout: 600_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
          resolve({ code, stdout, stderr, text: `${stdout}${stderr}`, ms: Math.round(performance.now() - started) });
        },
      );
      if (input !== undefined) child.stdin?.end(input);
      else child.stdin?.end();
    });
  }

  /** `pulumi <args>` that must succeed; the error carries the CLI's output. */
  async ok(args: readonly string[], input?: string): Promise<Run> {
    const r = await this.pulumi(args, input);
    if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.code}:\n${r.text}`);
    return r;
  }

  /** A new stack (selected) with the spec and the lab's key (as the provider's stack config secret, or inline). */
  async init(spec: Spec, key: { privateKey: string; inline?: boolean }, stack = this.stack): Promise<void> {
    await this.ok(["stack", "init", stack]);
    await this.setSpec(spec);
    const name = key.inline ? "dfwtest:inlineKey" : "docker-firewall:privateKey";
    // From stdin: a secret never on a command line.
    await this.ok(["config", "set", "--secret", name], key.privateKey);
  }

  setSpec(spec: Spec): Promise<Run> {
    return this.ok(["config", "set", "dfwtest:spec", JSON.stringify(spec)]);
  }

  select(stack: string): Promise<Run> {
    return this.ok(["stack", "select", stack]);
  }

  /** A stack's state file (file backend), raw. */
  stateFile(stack = this.stack): string {
    const path = join(this.dir, "state", ".pulumi", "stacks", "dfwcli", `${stack}.json`);
    return readFileSync(path, "utf8");
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Installed packages marked as Pulumi resource plugins (what the Node language host asks the CLI to fetch). */
export function resourcePlugins(nodeModules: string): string[] {
  const found = new Set<string>();
  const seen = new Set<string>();
  const visit = (dir: string) => {
    // A package linked into node_modules (npm link, workspaces) may lead back to where we started.
    const real = realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      const path = join(dir, entry.name);
      if (entry.name.startsWith("@")) {
        visit(path);
        continue;
      }
      const manifest = join(path, "package.json");
      if (!existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, "utf8"));
      if (pkg.pulumi?.resource === true) found.add(pkg.name);
      if (existsSync(join(path, "node_modules"))) visit(join(path, "node_modules"));
    }
  };
  visit(nodeModules);
  return [...found];
}
