// A HostSession is how the transaction layer talks to a node: run one constant command with stdin, and hold
// the node lock around a unit of work. Over SSH it is the pooled connection and the flock-based node lock, whose
// holder also reads the state right after locking: the transaction's own read is then answered from it.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { type Connection, describeConnection } from "../model/connection";
import type { RemoteCommand } from "./commands";
import { type ExecOptions, type ExecResult, exec } from "./exec";
import { type LockOptions, type LockProof, withNodeLock } from "./lock";
import { reframe } from "./lock-read";
import { NetfilterCommands } from "./netfilter-commands";

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
      return exec(conn, command, stdin, { ...opts.exec, ...(lock && { startSignal: lock.signal }) });
    },
    locked: (owner, fn) => {
      const nonce = randomBytes(16).toString("hex");
      return withNodeLock(
        conn,
        owner,
        (lock) => {
          const read = lock.read === undefined ? undefined : { text: lock.read, nonce };
          return held.run({ signal: lock.signal, read }, () => fn(lock.proof));
        },
        { releaseInBackground: true, ...opts.lock, readNonce: nonce },
      );
    },
  };
}
