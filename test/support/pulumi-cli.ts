// A user's project for test/cli: test/cli/fixture + this package installed from its packed tarball (as npm would
// for a user), with pulumi commands run in it by demo/pulumi-cli.ts (the real CLI, file:// backend, passphrase secrets).
import { execFileSync } from "node:child_process";
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
import { join } from "node:path";
import { CACHE, cliEnv, hasLanguageHost, type Run, runPulumi } from "../../demo/pulumi-cli";
import type { LabNode } from "../../lab/index";
import { REPO_ROOT } from "../../lab/paths";

const FIXTURE = join(REPO_ROOT, "test", "cli", "fixture");

export { cliMissing, type Run } from "../../demo/pulumi-cli";

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
  /** DockerHostFirewall components, each on one node (`args` without `connection`). */
  readonly hosts?: readonly { readonly name: string; readonly node: string; readonly args: Record<string, unknown> }[];
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
    copyFileSync(join(FIXTURE, "index.js"), join(this.dir, "index.js"));
    writeFileSync(join(this.dir, "Pulumi.yaml"), "name: dfwcli\nruntime: nodejs\nmain: index.js\n");
    writeFileSync(join(this.dir, "package.json"), JSON.stringify({ name: "dfwcli", private: true }, null, 2));
    symlinkSync(installedModules(), join(this.dir, "node_modules"));
    this.env = cliEnv({
      backendDir: join(this.dir, "state"),
      home: join(this.dir, "pulumi-home"),
      passphrase: this.passphrase,
      ...(opts.node22 !== undefined && { node22: opts.node22 }),
    });
  }

  /** Whether a pulumi-language-nodejs binary is on the CLI's PATH (else programs run through demo/pulumi-serve.js). */
  hasLanguageHost(): boolean {
    return hasLanguageHost(this.env);
  }

  /** Runs `pulumi <args>` in the project (never throws: the exit code is part of what tests assert). */
  pulumi(args: readonly string[], input?: string): Promise<Run> {
    return runPulumi(args, { cwd: this.dir, env: this.env, ...(input !== undefined && { input }) });
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
