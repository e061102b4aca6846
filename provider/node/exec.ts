// Run one constant command on a node over the pooled connection, with data on stdin, and get its exit code and
// output. Failures to reach the node, timeouts, lost connections and sudo refusals are thrown as NodeErrors;
// a non-zero exit code is returned (or thrown as CommandFailed by `execChecked`).
import type { Readable } from "node:stream";
import { type Connection, describeConnection, privilegeOf } from "../model/connection";
import { commandLine, describeCommand, notifyCommandSent, type RemoteCommand } from "./commands";
import { nodeError } from "./errors";
import { defaultPool, type RunningCommand, type SshPool } from "./ssh-pool";
import { privilegeRefusal } from "./sudo";

/** Applies from the moment the channel opens until the command exits. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;

export interface ExecOptions {
  /** 0 = no limit. On expiry the command is killed and a Timeout is thrown. */
  readonly timeoutMs?: number;
  /** Aborting kills the command and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Aborting stops the command from starting (e.g. the node lock it needs was lost); a started one runs on. */
  readonly startSignal?: AbortSignal;
  readonly pool?: SshPool;
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RawExecResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

function collect(stream: Readable): { chunks: Buffer[]; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  stream.on("data", (b: Buffer) => chunks.push(b));
  const ended = new Promise<void>((resolve) => {
    if (stream.readableEnded) return resolve();
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
  return { chunks, ended };
}

/** Runs `command` with `stdin` (binary-safe); resolves with its exit code and raw output. */
export async function execRaw(
  conn: Connection,
  command: RemoteCommand,
  stdin?: string | Buffer,
  opts: ExecOptions = {},
): Promise<RawExecResult> {
  const startSignal =
    opts.signal && opts.startSignal
      ? AbortSignal.any([opts.signal, opts.startSignal])
      : (opts.signal ?? opts.startSignal);
  const run: RunningCommand = await (opts.pool ?? defaultPool).start(conn, command, { signal: startSignal });
  return finishRaw(conn, command, run, stdin, opts);
}

/** Gives a command started earlier (its channel opened ahead, waiting for stdin) its stdin, as execRaw would:
 * nothing is sent if `startSignal` was aborted meanwhile (the command is killed before it read anything). */
export async function execStarted(
  conn: Connection,
  command: RemoteCommand,
  run: RunningCommand,
  stdin: string | Buffer,
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const stop = opts.startSignal?.aborted ? opts.startSignal : opts.signal?.aborted ? opts.signal : undefined;
  if (stop) {
    run.kill();
    throw stop.reason;
  }
  notifyCommandSent({ host: run.host, line: run.line });
  const r = await finishRaw(conn, command, run, stdin, opts);
  return { code: r.code, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") };
}

async function finishRaw(
  conn: Connection,
  command: RemoteCommand,
  run: RunningCommand,
  stdin: string | Buffer | undefined,
  opts: ExecOptions,
): Promise<RawExecResult> {
  const host = describeConnection(conn);
  const operation = `running ${describeCommand(command)}`;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  const out = collect(run.stdout);
  const err = collect(run.stderr);
  run.stdin.end(stdin ?? "");
  // Timeout and abort answer at once; the channel is killed in the background and keeps its slot until it closes.
  let timer: NodeJS.Timeout | undefined;
  let onAbort: () => void = () => undefined;
  const stopped = new Promise<"timeout" | "aborted">((resolve) => {
    if (timeoutMs > 0) timer = setTimeout(() => resolve("timeout"), timeoutMs);
    onAbort = () => resolve("aborted");
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
  const end = await Promise.race([run.end, stopped]);
  clearTimeout(timer);
  opts.signal?.removeEventListener("abort", onAbort);
  if (end === "timeout" || end === "aborted") {
    run.kill();
    if (end === "aborted") throw opts.signal?.reason;
    throw nodeError({ kind: "Timeout", host, operation, afterMs: timeoutMs });
  }
  if (end.kind === "lost") throw nodeError({ kind: "ConnectionLost", host, operation, reason: end.reason });
  await Promise.all([out.ended, err.ended]);

  const stdout = Buffer.concat(out.chunks);
  const stderr = Buffer.concat(err.chunks);
  if (end.kind === "signalled") {
    const failed = { host, command: run.line, code: null, signal: end.signal, stderr: stderr.toString() };
    throw nodeError({ kind: "CommandFailed", ...failed });
  }
  const refusal = end.code !== 0 ? privilegeRefusal(conn, end.code, stderr.toString(), host) : undefined;
  if (refusal) throw refusal;
  return { code: end.code, stdout, stderr };
}

/** `execRaw` with output decoded as UTF-8. */
export async function exec(
  conn: Connection,
  command: RemoteCommand,
  stdin?: string | Buffer,
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const r = await execRaw(conn, command, stdin, opts);
  return { code: r.code, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") };
}

/** `exec`, but a non-zero exit code throws CommandFailed (with the command line and stderr). */
export async function execChecked(
  conn: Connection,
  command: RemoteCommand,
  stdin?: string | Buffer,
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const r = await exec(conn, command, stdin, opts);
  if (r.code !== 0) {
    const command_ = commandLine(command, privilegeOf(conn));
    throw nodeError({
      kind: "CommandFailed",
      host: describeConnection(conn),
      command: command_,
      code: r.code,
      stderr: r.stderr,
    });
  }
  return r;
}
