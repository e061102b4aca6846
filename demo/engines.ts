// The two ways the demo applies the program. With a `pulumi` CLI on PATH: the real thing, against a local file
// backend. Without one: the engine-less driver (engine/stack.ts), which runs the same program and forwards its
// resources to the same dynamic-provider host the CLI would start.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EngineHost } from "./engine/host";
import { EnginelessStack, type RefreshResult, type Step, type UpdateResult } from "./engine/stack";
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
  preview(): Promise<Applied>;
  up(): Promise<Applied>;
  refresh(): Promise<Refreshed>;
  destroy(): Promise<Applied>;
  close(): Promise<void>;
}

export function pulumiOnPath(): boolean {
  return spawnSync("pulumi", ["version"], { stdio: "ignore" }).status === 0;
}

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
    name: "engine-less driver (no pulumi CLI on PATH): the program under setMocks, resources through the real dynamic-provider host",
    preview: async () => applied(await stack.preview(), o.hostName),
    up: async () => {
      const r = await stack.up();
      save();
      return applied(r, o.hostName);
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

export async function cliEngine(o: EngineOptions): Promise<DemoEngine> {
  const backend = join(o.stateDir, "backend");
  mkdirSync(backend, { recursive: true });
  const env = {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "dfw-demo",
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
  const pulumi = (args: string[], input?: string) => {
    o.log(`  $ pulumi ${args.join(" ")}`);
    const r = spawnSync("pulumi", [...args, "--stack", o.stack], {
      cwd: o.repoRoot,
      env,
      input,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    return { ok: r.status === 0, text: `${r.stdout ?? ""}${r.stderr ?? ""}`.trimEnd() };
  };
  const init = spawnSync("pulumi", ["stack", "select", "--create", o.stack], {
    cwd: o.repoRoot,
    env,
    encoding: "utf8",
  });
  if (init.status !== 0) throw new Error(`pulumi stack select --create ${o.stack} failed:\n${init.stderr}`);
  pulumi(["config", "set", "docker-firewall:labInventory", o.labInventory]);
  // From stdin: the key never appears on a command line.
  const key = pulumi(
    ["config", "set", "--secret", "docker-firewall:privateKey"],
    readFileSync(o.privateKeyPath, "utf8"),
  );
  if (!key.ok) throw new Error(`pulumi config set --secret failed:\n${key.text}`);
  return {
    name: "pulumi CLI (local file backend)",
    preview: async () => pulumi(["preview", "--diff", "--non-interactive"]),
    up: async () => pulumi(["up", "--yes", "--skip-preview", "--non-interactive"]),
    refresh: async () => pulumi(["refresh", "--yes", "--diff", "--non-interactive"]),
    destroy: async () => pulumi(["destroy", "--yes", "--skip-preview", "--non-interactive"]),
    close: async () => {
      spawnSync("pulumi", ["stack", "rm", "--yes", "--force", o.stack], { cwd: o.repoRoot, env, stdio: "ignore" });
    },
  };
}
