// What a node's boot would start: the units enabled (via *.wants/ or *.requires/ symlinks) under the node's own
// /etc/systemd/system, i.e. added on this node on top of the base system, run the way systemd would run them:
// ordered by Before=/After= (also relative to docker.service), Exec lines as argv without a shell, inside the node.
import { existsSync, lstatSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { NODE_ENV, type NodeRef, nodeArgv, runOnNode } from "../node-ns";
import type { LabPaths } from "../paths";
import { type RunResult, spawnDaemon } from "../spawn";
import { type ExecCommand, parseExecLine } from "./exec-line";
import { startOrder } from "./order";
import {
  environment,
  lastValue,
  listValues,
  parseEnvironmentFile,
  parseUnit,
  serviceType,
  type UnitSections,
  values,
} from "./unit-file";

export const DOCKER_UNIT = "docker.service";
/** Services the lab itself plays on every node; enabling them again changes nothing. */
const LAB_PLAYED = new Set([DOCKER_UNIT, "containerd.service", "docker.socket", "ssh.service", "sshd.service"]);
const UNIT_DIR = "/etc/systemd/system";

export interface EnabledUnit {
  readonly name: string;
  /** The enabling symlink as the node sees it, e.g. /etc/systemd/system/multi-user.target.wants/x.service. */
  readonly link: string;
  readonly wantedBy: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly output: string;
}

export interface CommandResult {
  readonly phase: "ExecStartPre" | "ExecStart" | "ExecStartPost";
  readonly argv: readonly string[];
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ignoredFailure: boolean;
}

export interface UnitRun {
  readonly unit: string;
  readonly verify: VerifyResult;
  readonly state: "done" | "started" | "failed" | "skipped";
  readonly reason?: string;
  readonly commands: readonly CommandResult[];
  readonly warnings: readonly string[];
}

export interface BootReport {
  readonly node: string;
  readonly order: readonly string[];
  readonly cycle: readonly string[];
  readonly units: readonly UnitRun[];
  /** Why docker.service was not started: a unit it requires (docker.service.requires/) failed. */
  readonly dockerBlocked?: string;
  readonly at: string;
}

/** Enabling symlinks present in the node's /etc overlay upper dir: what this node added (whiteouts are not links). */
export function enabledBootUnits(paths: LabPaths, node: NodeRef): EnabledUnit[] {
  const base = join(paths.upper(node.name, "etc"), "systemd", "system");
  if (!existsSync(base)) return [];
  const units = new Map<string, EnabledUnit>();
  for (const dir of readdirSync(base)
    .filter((d) => d.endsWith(".wants") || d.endsWith(".requires"))
    .sort()) {
    for (const entry of readdirSync(join(base, dir)).sort()) {
      if (!lstatSync(join(base, dir, entry)).isSymbolicLink() || units.has(entry) || LAB_PLAYED.has(entry)) continue;
      units.set(entry, {
        name: entry,
        link: `${UNIT_DIR}/${dir}/${entry}`,
        wantedBy: dir.replace(/\.(wants|requires)$/, ""),
      });
    }
  }
  return [...units.values()];
}

const cat = async (paths: LabPaths, node: NodeRef, path: string) => {
  const r = await runOnNode(paths, node, ["cat", path]);
  return r.code === 0 ? r.stdout : undefined;
};

/** The unit file behind an enabling link (resolved in the node's view) and its drop-ins, parsed. */
export async function loadUnit(paths: LabPaths, node: NodeRef, unit: EnabledUnit): Promise<UnitSections> {
  const target = readlinkInNode(paths, node, unit.link);
  const main = await cat(paths, node, target);
  if (main === undefined) throw new Error(`${unit.name}: cannot read ${target}`);
  const template = unit.name.replace(/@[^.]*\./, "@.");
  const dropIns: string[] = [];
  for (const name of template === unit.name ? [unit.name] : [template, unit.name]) {
    const dir = `${UNIT_DIR}/${name}.d`;
    const ls = await runOnNode(paths, node, ["ls", "-1", dir]);
    if (ls.code !== 0) continue;
    for (const f of ls.stdout
      .split("\n")
      .filter((x) => x.endsWith(".conf"))
      .sort()) {
      dropIns.push((await cat(paths, node, `${dir}/${f}`)) ?? "");
    }
  }
  return parseUnit(main, dropIns);
}

function readlinkInNode(paths: LabPaths, node: NodeRef, link: string): string {
  // The link itself is in the upper dir (that is how it was found); its target is a path in the node's view.
  const upperPath = join(paths.upper(node.name, "etc"), link.slice("/etc/".length));
  const target = readlinkSync(upperPath);
  return target.startsWith("/") ? target : posix.join(posix.dirname(link), target);
}

/**
 * `systemd-analyze verify` inside the node. Clean means exit 0 and nothing printed about this unit (warnings
 * count); lines about other units it happens to load (e.g. a sibling's typo) are not this unit's fault.
 */
export async function verifyUnit(paths: LabPaths, node: NodeRef, unit: EnabledUnit): Promise<VerifyResult> {
  const r = await runOnNode(paths, node, ["systemd-analyze", "verify", "--man=no", "--generators=no", unit.link], {
    timeoutMs: 30_000,
  });
  const names = [unit.name, posix.basename(readlinkInNode(paths, node, unit.link))];
  const output = verifyLinesAbout(`${r.stdout}${r.stderr}`, names).join("\n");
  return { ok: r.code === 0 && output === "", output: r.code === 0 || output !== "" ? output : r.stderr.trim() };
}

/** PURE. The lines of systemd-analyze output that are about one of the given unit (file) names. */
export function verifyLinesAbout(output: string, names: readonly string[]): string[] {
  return output
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && names.some((n) => l.startsWith(`${n}:`) || l.includes(`/${n}:`)));
}

const CONDITIONS: Record<string, string> = {
  ConditionPathExists: "-e",
  ConditionFileNotEmpty: "-s",
  ConditionPathIsDirectory: "-d",
  ConditionFileIsExecutable: "-x",
  ConditionPathIsSymbolicLink: "-L",
};

/** The first failing condition, or undefined when all hold. Unknown Condition*= settings become warnings. */
async function failedCondition(paths: LabPaths, node: NodeRef, u: UnitSections, warnings: string[]) {
  for (const [key, vals] of u.get("Unit") ?? new Map<string, readonly string[]>()) {
    if (!key.startsWith("Condition") && !key.startsWith("Assert")) continue;
    const test = CONDITIONS[key.replace(/^Assert/, "Condition")];
    if (!test) {
      warnings.push(`${key}= is not emulated by the lab; treated as true`);
      continue;
    }
    for (const raw of vals) {
      const negate = raw.startsWith("!");
      const path = raw.replace(/^[|!]+/, "");
      const holds = (await runOnNode(paths, node, ["test", test, path])).code === 0;
      if (holds === negate) return `${key}=${raw} does not hold`;
    }
  }
  return undefined;
}

async function unitEnvironment(paths: LabPaths, node: NodeRef, u: UnitSections, warnings: string[]) {
  const env: Record<string, string> = {};
  for (const raw of values(u, "Service", "EnvironmentFile")) {
    const optional = raw.startsWith("-");
    const text = await cat(paths, node, raw.replace(/^-/, ""));
    if (text === undefined && !optional) throw new Error(`EnvironmentFile=${raw} cannot be read`);
    Object.assign(env, parseEnvironmentFile(text ?? ""));
  }
  for (const k of ["User", "Group", "WorkingDirectory", "RootDirectory"]) {
    if (lastValue(u, "Service", k)) warnings.push(`${k}= is not emulated by the lab; commands run as root in /`);
  }
  return { ...environment(u), ...env };
}

/** Runs one enabled unit's start commands in the node, as its Type= says. */
export async function startUnit(
  paths: LabPaths,
  node: NodeRef,
  unit: EnabledUnit,
  verify: VerifyResult,
): Promise<UnitRun> {
  const warnings: string[] = [];
  const commands: CommandResult[] = [];
  const result = (state: UnitRun["state"], reason?: string): UnitRun => ({
    unit: unit.name,
    verify,
    state,
    reason,
    commands,
    warnings,
  });
  let u: UnitSections;
  let env: Record<string, string>;
  try {
    u = await loadUnit(paths, node, unit);
    env = await unitEnvironment(paths, node, u, warnings);
  } catch (e) {
    return result("failed", (e as Error).message);
  }
  if (!unit.name.endsWith(".service")) return result("skipped", "only .service units are emulated by the lab");
  const skip = await failedCondition(paths, node, u, warnings);
  if (skip) return result("skipped", skip);
  const type = serviceType(u);
  const lines = (phase: CommandResult["phase"]) =>
    values(u, "Service", phase).map((l) => ({ phase, cmd: parseExecLine(l, unit.name, env) }));
  const runCmd = async (phase: CommandResult["phase"], cmd: ExecCommand): Promise<boolean> => {
    const r: RunResult = await runOnNode(paths, node, cmd.argv, { env: { ...NODE_ENV, ...env }, timeoutMs: 90_000 });
    commands.push({
      phase,
      argv: cmd.argv,
      code: r.code,
      stdout: r.stdout,
      stderr: r.stderr,
      ignoredFailure: cmd.ignoreFailure,
    });
    return r.code === 0 || cmd.ignoreFailure;
  };
  try {
    for (const { phase, cmd } of lines("ExecStartPre")) {
      if (!(await runCmd(phase, cmd))) return result("failed", `${phase} exited non-zero`);
    }
    const starts = lines("ExecStart");
    if (type === "oneshot" || type === "forking") {
      for (const { phase, cmd } of starts)
        if (!(await runCmd(phase, cmd))) return result("failed", "ExecStart exited non-zero");
    } else {
      // A long-running service: started and left running; `down` and the next reboot stop it by its pid file.
      const start = starts[0];
      if (!start) return result("failed", `Type=${type} needs ExecStart=`);
      const log = paths.log(`${node.name}-unit-${unit.name}`);
      const pid = spawnDaemon(nodeArgv(paths, node, start.cmd.argv), log, { ...NODE_ENV, ...env });
      writeFileSync(paths.pidFile(`${node.name}.unit.${unit.name}`), `${pid}\n`);
      commands.push({
        phase: "ExecStart",
        argv: start.cmd.argv,
        code: 0,
        stdout: `started pid ${pid}`,
        stderr: "",
        ignoredFailure: false,
      });
    }
    for (const { phase, cmd } of lines("ExecStartPost")) {
      if (!(await runCmd(phase, cmd))) return result("failed", `${phase} exited non-zero`);
    }
  } catch (e) {
    return result("failed", (e as Error).message);
  }
  return result(type === "oneshot" || type === "forking" ? "done" : "started");
}

/**
 * The boot: verify every enabled unit, then start them and Docker in systemd order. `startDocker` is the lab's
 * own docker.service (dockerd plus waiting until it answers).
 */
export async function bootNode(paths: LabPaths, node: NodeRef, startDocker: () => Promise<void>): Promise<BootReport> {
  const enabled = enabledBootUnits(paths, node);
  const loaded = await Promise.all(
    enabled.map(async (unit) => {
      const verify = await verifyUnit(paths, node, unit);
      const u = await loadUnit(paths, node, unit).catch(() => undefined);
      return {
        unit,
        verify,
        before: u ? listValues(u, "Unit", "Before") : [],
        after: u ? listValues(u, "Unit", "After") : [],
      };
    }),
  );
  const { order, cycle } = startOrder(
    [
      ...loaded.map((l) => ({ name: l.unit.name, before: l.before, after: l.after })),
      { name: DOCKER_UNIT, before: [], after: [] },
    ],
    DOCKER_UNIT,
  );
  const units: UnitRun[] = [];
  const required = new Set(enabled.filter((e) => e.link.includes(`/${DOCKER_UNIT}.requires/`)).map((e) => e.name));
  let dockerBlocked: string | undefined;
  for (const name of order) {
    const l = loaded.find((x) => x.unit.name === name);
    if (l) units.push(await startUnit(paths, node, l.unit, l.verify));
    if (name !== DOCKER_UNIT) continue;
    // As systemd: a unit docker.service requires (RequiredBy=) that failed fails docker.service's start too.
    const failed = units.find((u) => u.state === "failed" && required.has(u.unit));
    if (failed) dockerBlocked = `dependency failed: ${failed.unit} (${failed.reason ?? "failed"})`;
    else await startDocker();
  }
  const at = new Date().toISOString();
  return { node: node.name, order, cycle, units, ...(dockerBlocked && { dockerBlocked }), at };
}
