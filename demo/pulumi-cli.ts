// How this repository runs the real pulumi CLI (for `npm run demo` and test/cli alike): where
// scripts/install-pulumi-cli.sh put it, the environment (file:// backend, passphrase secrets, own PULUMI_HOME), and
// how a program reaches it (the Node language host when installed, else demo/pulumi-serve.js and `--client`).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { REPO_ROOT } from "../lab/paths";

export const CACHE = process.env.DFW_CACHE_DIR ?? join(REPO_ROOT, ".cache");
export const PULUMI_BIN = join(CACHE, "pulumi", "bin");
export const NODE22_BIN = join(CACHE, "node22", "bin");
const SERVE = join(REPO_ROOT, "demo", "pulumi-serve.js");

/** Commands that run the program: without a language host they go through demo/pulumi-serve.js. */
const RUNS_PROGRAM = new Set(["preview", "up", "update"]);

/** Why the real CLI cannot run here (undefined: it can): names what is missing and how to get it. */
export function cliMissing(): string | undefined {
  if (!existsSync(join(PULUMI_BIN, "pulumi"))) return `no ${PULUMI_BIN}/pulumi: run scripts/install-pulumi-cli.sh`;
  return undefined;
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

export interface CliEnvOptions {
  /** The file:// backend's directory. */
  readonly backendDir: string;
  /** PULUMI_HOME: plugins and credentials of this run only, never the user's ~/.pulumi. */
  readonly home: string;
  readonly passphrase: string;
  readonly node22?: boolean;
}

/** The environment every pulumi command of a project runs in. */
export function cliEnv(o: CliEnvOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: cliPath(o.node22),
    PULUMI_HOME: o.home,
    PULUMI_BACKEND_URL: `file://${o.backendDir}`,
    PULUMI_CONFIG_PASSPHRASE: o.passphrase,
    PULUMI_SKIP_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    DFW_PULUMI_CLI: join(PULUMI_BIN, "pulumi"),
  };
}

/** Whether a pulumi-language-nodejs binary is on the env's PATH (else programs run through pulumi-serve.js). */
export function hasLanguageHost(env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? "").split(delimiter).some((d) => d !== "" && existsSync(join(d, "pulumi-language-nodejs")));
}

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout + stderr: what a user sees. */
  readonly text: string;
  readonly ms: number;
}

export interface RunOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** The program, absolute (default: cwd's index.js); a .ts one is loaded through tsx. */
  readonly program?: string;
  readonly input?: string;
}

/** Runs `pulumi <args>` (never throws: the exit code is part of what callers assert). */
export function runPulumi(args: readonly string[], o: RunOptions): Promise<Run> {
  const started = performance.now();
  const viaServer = RUNS_PROGRAM.has(args[0] ?? "") && !hasLanguageHost(o.env);
  const tsx = o.program?.endsWith(".ts") ? ["--import", "tsx"] : [];
  const [file, argv] = viaServer ? ["node", [...tsx, SERVE, ...args]] : [join(PULUMI_BIN, "pulumi"), [...args]];
  const env = o.program ? { ...o.env, DFW_PROGRAM: o.program } : o.env;
  return new Promise((resolve) => {
    const child = execFile(
      file,
      argv,
      { cwd: o.cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: 600_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr, text: `${stdout}${stderr}`, ms: Math.round(performance.now() - started) });
      },
    );
    child.stdin?.end(o.input);
  });
}
