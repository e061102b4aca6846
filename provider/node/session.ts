// A HostSession is how the transaction layer talks to a node: run one constant command with stdin, and hold
// the node lock around a unit of work. Over SSH it is the pooled connection and the flock-based node lock, whose
// holder also reads the state right after locking: the transaction's own read is then answered from it.
import { AsyncLocalStorage } from "node:async_hooks";
import { type Connection, describeConnection } from "../model/connection";
import type { RemoteCommand } from "./commands";
import { type ExecOptions, type ExecResult, exec, execStarted } from "./exec";
import { type LockOptions, type LockProof, withNodeLock } from "./lock";
import { reframe } from "./lock-read";
import { NetfilterCommands } from "./netfilter-commands";
import type { RunningCommand } from "./running-command";
import { defaultPool } from "./ssh-pool";

export interface HostSession {
  /** describeConnection() of the node: used in every error. */
  readonly host: string;
  run(command: RemoteCommand, stdin: string): Promise<ExecResult>;
  /** Runs `fn` under the node lock; `proof` goes with every apply, which changes nothing once the lock is lost. */
  locked<T>(owner: string, fn: (proof: LockProof) => Promise<T>): Promise<T>;
}

interface Held {
  /** Aborted once the lock is lost (its connection dropped): no further command may start, not even redialed. */
  readonly signal: AbortSignal;
  /** The state the holder read right after locking, until the first read under the lock takes it. */
  read: { readonly text: string; readonly nonce: string } | undefined;
  /** The apply's channel, opened while the lock was taken and the state read, until the first apply takes it. */
  apply: Promise<RunningCommand | undefined> | undefined;
}

const held = new AsyncLocalStorage<Held>();

/** The first line of a read's stdin: its nonce. */
const nonceOf = (stdin: string) => /^([a-f0-9]{8,64})\n/.exec(stdin)?.[1];

export function sshSession(conn: Connection, opts: { exec?: ExecOptions; lock?: LockOptions } = {}): HostSession {
  return {
    host: describeConnection(conn),
    run: (command, stdin) => {
      const lock = held.getStore();
      if (lock?.signal.aborted) return Promise.reject(lock.signal.reason);
      const nonce = command === NetfilterCommands.readState ? nonceOf(stdin) : undefined;
      if (lock?.read && nonce) {
        // Read right after locking, under the same lock, and nothing was applied since: it is this read's answer.
        const { text, nonce: heldNonce } = lock.read;
        lock.read = undefined;
        return Promise.resolve({ code: 0, stdout: reframe(text, heldNonce, nonce), stderr: "" });
      }
      const execOpts = { ...opts.exec, ...(lock && { startSignal: lock.signal }) };
      const ahead = lock?.apply;
      if (lock && ahead) {
        lock.apply = undefined;
        if (command === NetfilterCommands.applySteps)
          return ahead.then((run) =>
            run ? execStarted(conn, command, run, stdin, execOpts) : exec(conn, command, stdin, execOpts),
          );
        // Another command first (the holder's read failed, so the transaction reads on its own): the channel opened
        // ahead gives its slot back, or a server allowing two sessions would have none left for this one.
        void ahead.then((run) => run && discard(run));
      }
      return exec(conn, command, stdin, execOpts);
    },
    locked: (owner, fn) => {
      // The apply script waits for its stdin before it does anything (protocol/apply-script.ts): its channel opens
      // while the node takes the lock and reads the state, so the apply costs one round trip instead of three.
      let ahead: Promise<RunningCommand | undefined> | undefined;
      const openAhead = () => {
        ahead = (opts.exec?.pool ?? defaultPool)
          .start(conn, NetfilterCommands.applySteps, {
            ahead: true,
            ...(opts.exec?.signal && { signal: opts.exec.signal }),
          })
          .catch(() => undefined);
      };
      const state: { held?: Held } = {};
      return withNodeLock(
        conn,
        owner,
        (lock) => {
          state.held = { signal: lock.signal, read: lock.read, apply: ahead };
          return held.run(state.held, () => fn(lock.proof));
        },
        { releaseInBackground: true, ...opts.lock, read: true, onRequested: openAhead },
      ).finally(() => {
        // Not used (nothing to apply, or the lock was not had): an empty stdin makes the script exit at once.
        if (!state.held || state.held.apply) void ahead?.then((run) => run && discard(run));
      });
    },
  };
}

/** Ends a command started ahead and never given work: EOF on stdin (its first `read` fails and it exits). */
function discard(run: RunningCommand): void {
  run.stdout.resume();
  run.stderr.resume();
  run.stdin.end();
}
