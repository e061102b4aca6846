// The node-wide lock: an flock on /run/docker-firewall/<name>.lock (root-only dir) held by one SSH channel for as
// long as the work runs. Other processes, stacks and pipelines that use the same lock are excluded; if this process
// or its connection dies, the channel closes, the remote shell exits and the kernel releases the lock. A frozen or
// partitioned controller stops its heartbeat: the holder gives up within the heartbeat bound, not when TCP notices.

import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { type Connection, describeConnection, endpointIdentity } from "../model/connection";
import { EXIT_BUSY, EXIT_UNSAFE } from "../protocol/exit-codes";
import { DEFAULT_LOCK_NAME, HELD_BY, LOCKED } from "../protocol/lock-script";
import { Commands } from "./commands";
import { nodeError } from "./errors";
import { LockReadCommands, readAfterLock } from "./lock-read";
import { textOf } from "./running-command";
import { KeyedMutex } from "./semaphore";
import { type CommandEnd, defaultPool, type RunningCommand, type SshPool } from "./ssh-pool";
import { privilegeRefusal } from "./sudo";

export const DEFAULT_LOCK_WAIT_SECONDS = 120;
/** Extra time allowed on top of the remote wait for dialling and the channel round trip. */
const ACQUIRE_MARGIN_MS = 15_000;
/** How long a release may take before the channel is simply closed (which releases the lock too). */
const RELEASE_GRACE_MS = 5_000;
/** Seconds without a heartbeat after which the remote holder gives the lock up (a silent partition, a frozen run). */
export const DEFAULT_LOCK_HEARTBEAT_SECONDS = 30;
/** Heartbeats sent per heartbeat bound: a few may be late or lost before the holder gives up. */
const BEATS_PER_BOUND = 3;

export interface LockOptions {
  /** Seconds to wait for another holder before failing with LockTimeout. */
  readonly waitSeconds?: number;
  /** Lock file name under /run/docker-firewall, [a-z0-9-]. Only tests should need another one. */
  readonly name?: string;
  /** Seconds without a heartbeat before the node gives the lock up (default 30). Tests shorten it. */
  readonly heartbeatSeconds?: number;
  readonly signal?: AbortSignal;
  readonly pool?: SshPool;
  /** Also read the node state when taking the lock, in the same execution (see lock-read.ts). */
  readonly read?: boolean;
  /** Return as soon as `fn` is done and let the holder go in the background (this process's next waiter still
   * waits for it). A failed `fn` always waits for the release. */
  readonly releaseInBackground?: boolean;
  /** Called once the lock's command is asked for (after this process's own waiters): work that can start while
   * the node takes the lock and reads, such as opening the apply's channel (session.ts). */
  readonly onRequested?: () => void;
}

export interface HeldLock {
  /** The owner text recorded on the node. */
  readonly owner: string;
  /** Aborted (with a ConnectionLost) if the lock is lost while held: stop changing the node. */
  readonly signal: AbortSignal;
  /** The lock's name and the random token its holder recorded: an apply runs only while the token is current. */
  readonly proof: LockProof;
  /** With `read`: the state the holder read under the lock and the nonce framing it (undefined if it failed). */
  readonly read?: { readonly text: string; readonly nonce: string };
}

export interface LockProof {
  readonly name: string;
  readonly token: string;
}

/** "controller-host pid 1234 <context>": who holds a lock, as other runs will be told. */
export function describeOwner(context?: string): string {
  return sanitizeOwner(`${hostname()} pid ${process.pid}${context ? ` ${context}` : ""}`);
}

/** One line of printable text, at most 200 characters: it is echoed into other runs' error messages. */
export function sanitizeOwner(owner: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  const line = owner.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, " ").trim();
  return (line.length > 200 ? line.slice(0, 200) : line) || "unnamed";
}

// Within one process, lock waiters queue here rather than each holding a channel in a remote flock wait: waiting
// channels would fill the connection's channel cap and starve the holder's own commands.
const localLocks = new KeyedMutex();
// The locks held by the current async call chain: taking one again would wait for itself forever.
const heldHere = new AsyncLocalStorage<ReadonlySet<string>>();

/** Runs `fn` while holding the node lock of `conn`'s node. Not re-entrant. */
export async function withNodeLock<T>(
  conn: Connection,
  owner: string,
  fn: (lock: HeldLock) => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  const name = opts.name ?? DEFAULT_LOCK_NAME;
  if (!/^[a-z0-9-]{1,64}$/.test(name))
    throw new Error(`lock name must be 1-64 of [a-z0-9-], got ${JSON.stringify(name)}`);
  const waitSeconds = opts.waitSeconds ?? DEFAULT_LOCK_WAIT_SECONDS;
  if (!Number.isInteger(waitSeconds) || waitSeconds < 0) throw new Error("waitSeconds must be a whole number ≥ 0");
  const ownerLine = sanitizeOwner(owner);
  const beatSeconds = opts.heartbeatSeconds ?? DEFAULT_LOCK_HEARTBEAT_SECONDS;
  if (!Number.isInteger(beatSeconds) || beatSeconds < 1) throw new Error("heartbeatSeconds must be a whole number ≥ 1");

  const key = `${endpointIdentity(conn)}|${name}`;
  const held = heldHere.getStore() ?? new Set<string>();
  if (held.has(key)) throw new Error(`withNodeLock is not re-entrant: this call already holds the lock of ${key}`);
  const releaseLocal = await localLocks.lock(key, opts.signal);
  let handedOff = false;
  try {
    const command = opts.read ? LockReadCommands.nodeLockRead : Commands.nodeLock;
    const starting = (opts.pool ?? defaultPool).start(conn, command, { signal: opts.signal });
    // Asked for before the lock's channel is open, so both open side by side (this one gets its slot first).
    opts.onRequested?.();
    const run = await starting;
    const token = randomBytes(16).toString("hex");
    run.stdin.write(`${waitSeconds}\n${name}\n${ownerLine}\n${token}\n${beatSeconds}\n`);
    const out = await acquired(conn, run, waitSeconds, opts.signal);
    const read = opts.read ? await readAfterLock(run, out) : undefined;
    // "." (not a newline) because the holder reads it through a command substitution.
    const beat = setInterval(() => run.stdin.write("."), (beatSeconds * 1000) / BEATS_PER_BOUND);

    let releasing = false;
    const lost = new AbortController();
    void run.end.then((end) => {
      if (releasing) return;
      const reason = end.kind === "lost" ? end.reason : `the lock holder exited unexpectedly (${describeEnd(end)})`;
      lost.abort(
        nodeError({
          kind: "ConnectionLost",
          host: describeConnection(conn),
          operation: "holding the node lock",
          reason,
        }),
      );
    });
    const letGo = () => {
      clearInterval(beat);
      releasing = true;
      return release(run);
    };
    let value: T;
    try {
      value = await heldHere.run(new Set([...held, key]), () =>
        fn({ owner: ownerLine, signal: lost.signal, proof: { name, token }, ...(read !== undefined && { read }) }),
      );
    } catch (e) {
      await letGo();
      throw e;
    }
    if (!opts.releaseInBackground) {
      await letGo();
      return value;
    }
    // The work is done; the holder exiting (or its channel closing) releases the lock on the node.
    handedOff = true;
    void letGo().finally(releaseLocal);
    return value;
  } finally {
    if (!handedOff) releaseLocal();
  }
}

function describeEnd(end: CommandEnd): string {
  return end.kind === "exited" ? `exit ${end.code}` : end.kind === "signalled" ? `signal ${end.signal}` : end.reason;
}

/** LOCKED as the lock prints it, or the lock + read (with its read's nonce). */
const LOCKED_LINE = new RegExp(`^${LOCKED}( [0-9a-f-]{32,36})?$`, "m");

/** Resolves once the remote side printed LOCKED (with the holder's stdout so far, and on); otherwise throws why not
 * (and the channel is closed). */
function acquired(
  conn: Connection,
  run: RunningCommand,
  waitSeconds: number,
  signal?: AbortSignal,
): Promise<{ text(): string }> {
  const host = describeConnection(conn);
  const stdout = textOf(run.stdout);
  const stderr = textOf(run.stderr);
  return new Promise<{ text(): string }>((resolve, reject) => {
    let settled = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      run.stdout.off("data", onData);
      if (err === undefined) return resolve(stdout);
      run.kill();
      reject(err);
    };
    const onData = () => {
      if (LOCKED_LINE.test(stdout.text())) settle();
    };
    const onAbort = () => settle(signal?.reason);
    const afterMs = waitSeconds * 1000 + ACQUIRE_MARGIN_MS;
    const timer = setTimeout(
      () => settle(nodeError({ kind: "Timeout", host, operation: "acquiring the node lock", afterMs })),
      afterMs,
    );
    run.stdout.on("data", onData);
    signal?.addEventListener("abort", onAbort, { once: true });
    void run.end.then((end) => {
      if (end.kind === "exited" && end.code === EXIT_BUSY) {
        const recorded = new RegExp(`^${HELD_BY} (.*)$`, "m").exec(stdout.text())?.[1]?.trim();
        const holder = recorded ? sanitizeOwner(recorded) : "an unknown holder (no owner recorded)";
        return settle(nodeError({ kind: "LockTimeout", host, holder, waitedSeconds: waitSeconds }));
      }
      if (end.kind === "lost") {
        return settle(
          nodeError({ kind: "ConnectionLost", host, operation: "acquiring the node lock", reason: end.reason }),
        );
      }
      const code = end.kind === "exited" ? end.code : null;
      if (code === EXIT_UNSAFE) {
        const reason = stderr.text().trim().split("\n").pop() ?? "an unsafe lock file";
        return settle(
          nodeError({ kind: "CommandFailed", host, command: "taking the node lock", code, stderr: reason }),
        );
      }
      const refusal = privilegeRefusal(conn, code, stderr.text(), host);
      if (refusal) return settle(refusal);
      const signalName = end.kind === "signalled" ? end.signal : undefined;
      settle(
        nodeError({ kind: "CommandFailed", host, command: run.line, code, signal: signalName, stderr: stderr.text() }),
      );
    });
  });
}

/** Closes the holder's stdin (the remote heartbeat loop ends, the shell exits, flock is released) and waits for it. */
async function release(run: RunningCommand): Promise<void> {
  run.stdin.end();
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), RELEASE_GRACE_MS);
  });
  // If the holder does not exit in time, closing the channel ends it just the same.
  if ((await Promise.race([run.end, grace])) === "late") run.kill();
  clearTimeout(timer);
}
