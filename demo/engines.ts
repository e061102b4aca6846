// The two ways the demo applies the program. With the real pulumi CLI installed (scripts/install-pulumi-cli.sh):
// every step through it, against a local file backend. Only as a fallback, without it: the engine-less driver
// (engine/stack.ts), which runs the same program and forwards its resources to the dynamic-provider host the CLI
// would start.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { EngineHost } from "./engine/host";
import { EnginelessStack, type RefreshResult, type Step, type UpdateResult } from "./engine/stack";
import { cliEnv, cliMissing, PULUMI_BIN, type Run, runPulumi } from "./pulumi-cli";
import { renderRefresh, renderSteps } from "./report";

export interface EngineOptions {
  /** The repository root: where the root Pulumi.yaml and node_modules are. */
  readonly repoRoot: string;
  /** The program to run (the root Pulumi.yaml's `main`). */
  readonly program: string;
  readonly project: string;
  readonly stack: string;
  /** Where the engine keeps its state (the CLI's file backend, the driver's JSON). */
  readonly stateDir: string;
  readonly labInventory: string;
  readonly privateKeyPath: string;
  /** "user@127.0.0.1:40123" -> "node1". */
  readonly hostName: (host: string) => string;
  readonly log: (line: string) => void;
}

export interface Applied {
  readonly text: string;
  readonly ok: boolean;
  /** Names of resources that changed (driver only). */
  readonly changed?: readonly string[];
}

export interface Refreshed {
  readonly text: string;
  /** Names of resources found drifted or gone (driver only). */
  readonly drifted?: readonly string[];
}

export interface DemoEngine {
  readonly name: string;
  /** The real CLI: `text`s are what it printed. */
  readonly cli: boolean;
  preview(): Promise<Applied>;
  up(): Promise<Applied>;
  /** Read the hosts again, then bring them back to the program (`pulumi up --refresh`). */
  repair(): Promise<Applied>;
  refresh(): Promise<Refreshed>;
  /** Whether a further up would change nothing (and what it would change). */
  settled(): Promise<{ ok: boolean; detail: string }>;
  destroy(): Promise<Applied>;
  close(): Promise<void>;
}

/** Whether the real CLI is installed (scripts/install-pulumi-cli.sh): the demo then runs through it. */
export const cliInstalled = (): boolean => cliMissing() === undefined;

// ---- without the CLI -----------------------------------------------------------------------------------------

function applied(r: UpdateResult, hostName: (h: string) => string): Applied {
  const text = [
    renderSteps(r.steps, hostName),
    ...r.failures.map((f) => `error: ${f.urn.slice(f.urn.lastIndexOf("::") + 2)}: ${f.message}`),
  ].join("\n");
  const changed = r.steps.filter((s: Step) => s.op !== "same").map((s) => s.name);
  return { text, ok: r.failures.length === 0, changed };
}

export async function driverEngine(o: EngineOptions): Promise<DemoEngine> {
  const privateKey = readFileSync(o.privateKeyPath, "utf8");
  // Stack config as the engine would pass it: the key is a secret and reaches the provider through `configure`,
  // so it never appears in a resource's inputs or outputs.
  const config = { "docker-firewall:labInventory": o.labInventory, "docker-firewall:privateKey": privateKey };
  const host = await EngineHost.start({
    cwd: o.repoRoot,
    project: o.project,
    config,
    onLog: (l) => o.log(`  [provider] ${l}`),
  });
  const programDir = join(o.repoRoot, "examples");
  const stack = new EnginelessStack(host, {
    project: o.project,
    stack: o.stack,
    config,
    secretKeys: ["docker-firewall:privateKey"],
    // Each preview or up runs the program afresh, as the CLI does.
    load: () => {
      for (const k of Object.keys(require.cache)) if (k.startsWith(programDir)) delete require.cache[k];
      return require(o.program);
    },
  });
  mkdirSync(o.stateDir, { recursive: true });
  const statePath = join(o.stateDir, "state.json");
  const save = () => stack.save(statePath);
  return {
    cli: false,
    name: "engine-less driver (the fallback: the program under setMocks, resources through the real dynamic-provider host)",
    preview: async () => applied(await stack.preview(), o.hostName),
    up: async () => {
      const r = await stack.up();
      save();
      return applied(r, o.hostName);
    },
    repair: async () => {
      await stack.refresh();
      const r = await stack.up();
      save();
      return applied(r, o.hostName);
    },
    settled: async () => {
      const changed = (await stack.preview()).steps.filter((s) => s.op !== "same").map((s) => s.name);
      return { ok: changed.length === 0, detail: changed.join(", ") };
    },
    refresh: async () => {
      const results: RefreshResult[] = await stack.refresh();
      save();
      return {
        text: renderRefresh(results, o.hostName),
        drifted: results.filter((r) => r.verdict !== "in-sync").map((r) => r.name),
      };
    },
    destroy: async () => {
      const steps = await stack.destroy();
      save();
      return { text: renderSteps(steps, o.hostName), ok: true, changed: steps.map((s) => s.name) };
    },
    close: async () => host.stop(),
  };
}

// ---- with the CLI --------------------------------------------------------------------------------------------

/**
 * Names of the resources a `pulumi … --diff` reported changed (drifted, gone, to create…): each such step prints
 * `~ <type>: (update)`, optionally `[id=…]`, then `[urn=…::<name>]`.
 */
export function changedNames(text: string): string[] {
  const step =
    /^\s*[~+-]{1,2} \S+: \((?:update|delete|create|replace|create-replacement)\)\n(?:\s*\[id=.*\]\n)?\s*\[urn=.*::([^:\]]+)\]$/gm;
  return [...new Set([...text.matchAll(step)].map((m) => m[1] as string))].sort();
}

export async function cliEngine(o: EngineOptions): Promise<DemoEngine> {
  // The project in a folder of the lab's state (stack config and state stay out of the checkout): the root
  // Pulumi.yaml, and the checkout's node_modules so the program and the dynamic-provider host load one SDK.
  const dir = join(o.stateDir, "project");
  mkdirSync(dir, { recursive: true });
  // `main` relative to the project folder: the CLI checks that it exists (demo/pulumi-serve.js runs it).
  const project = readFileSync(join(o.repoRoot, "Pulumi.yaml"), "utf8");
  writeFileSync(join(dir, "Pulumi.yaml"), project.replace(/^main: .*$/m, `main: ${relative(dir, o.program)}`));
  if (!existsSync(join(dir, "node_modules"))) symlinkSync(join(o.repoRoot, "node_modules"), join(dir, "node_modules"));
  mkdirSync(join(dir, "backend"), { recursive: true });
  const env = cliEnv({
    backendDir: join(dir, "backend"),
    home: join(dir, "pulumi-home"),
    passphrase: randomBytes(18).toString("base64"),
  });
  const pulumi = async (args: string[], input?: string): Promise<Run> => {
    const shown = ["pulumi", ...args].join(" ");
    o.log(`  $ ${shown}`);
    const r = await runPulumi([...args, "--stack", o.stack], {
      cwd: dir,
      env,
      program: o.program,
      ...(input !== undefined && { input }),
    });
    const verb = ["pulumi", ...args.filter((a) => !a.startsWith("-")).slice(0, 2)].join(" ");
    o.log(`    (${verb}: exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s)`);
    return r;
  };
  const must = async (args: string[], input?: string) => {
    const r = await pulumi(args, input);
    if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} failed:\n${r.text}`);
    return r;
  };
  const version = await runPulumi(["version"], { cwd: dir, env });
  o.log(
    `    pulumi ${version.stdout.trim()} (${join(PULUMI_BIN, "pulumi")}), file:// backend in ${join(dir, "backend")}`,
  );
  await must(["stack", "init"]);
  await must(["config", "set", "docker-firewall:labInventory", o.labInventory]);
  // From stdin: the key never appears on a command line.
  await must(["config", "set", "--secret", "docker-firewall:privateKey"], readFileSync(o.privateKeyPath, "utf8"));
  const applied = (r: Run): Applied => ({ text: r.text.trimEnd(), ok: r.code === 0 });
  return {
    cli: true,
    name: "pulumi CLI",
    // --show-full-output: the literal iptables lines, not cut at 150 characters.
    preview: async () => applied(await pulumi(["preview", "--diff", "--show-full-output", "--non-interactive"])),
    // --skip-preview: the preview was the stage before.
    up: async () => applied(await pulumi(["up", "--yes", "--skip-preview", "--non-interactive"])),
    repair: async () => applied(await pulumi(["up", "--refresh", "--yes", "--skip-preview", "--non-interactive"])),
    settled: async () => {
      const r = await pulumi(["preview", "--diff", "--expect-no-changes", "--non-interactive"]);
      return { ok: r.code === 0, detail: changedNames(r.text).join(", ") };
    },
    refresh: async () => {
      // Shows the drift without writing it to state: the repairing `up --refresh` reads the hosts again. (refresh
      // has no --show-full-output, and prints the lines whole.)
      const r = await pulumi(["refresh", "--preview-only", "--diff", "--non-interactive"]);
      return { text: r.text.trimEnd(), drifted: changedNames(r.text) };
    },
    destroy: async () => applied(await pulumi(["destroy", "--yes", "--non-interactive"])),
    close: async () => {
      await pulumi(["stack", "rm", "--yes", "--force"]);
    },
  };
}
