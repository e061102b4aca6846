// A HostSession is how the transaction layer talks to a node: run one constant command with stdin, and hold
// the node lock around a unit of work. Over SSH it is the pooled connection and the flock-based node lock.
import { AsyncLocalStorage } from "node:async_hooks";
import { type Connection, describeConnection } from "../model/connection";
import type { RemoteCommand } from "./commands";
import { type ExecOptions, type ExecResult, exec } from "./exec";
import { type LockOptions, type LockProof, withNodeLock } from "./lock";

export interface HostSession {
  /** describeConnection() of the node: used in every error. */
  readonly host: string;
  run(command: RemoteCommand, stdin: string): Promise<ExecResult>;
  /** Runs `fn` under the node lock; `proof` goes with every apply, which changes nothing once the lock is lost. */
  locked<T>(owner: string, fn: (proof: LockProof) => Promise<T>): Promise<T>;
}

// The held lock's signal, for commands run inside `locked`: once the lock is lost (its connection dropped), no
// further command may start, not even on a redialed connection.
const heldLock = new AsyncLocalStorage<AbortSignal>();

export function sshSession(conn: Connection, opts: { exec?: ExecOptions; lock?: LockOptions } = {}): HostSession {
  return {
    host: describeConnection(conn),
    run: (command, stdin) => {
      const lock = heldLock.getStore();
      if (lock?.aborted) return Promise.reject(lock.reason);
      return exec(conn, command, stdin, { ...opts.exec, ...(lock && { startSignal: lock }) });
    },
    locked: (owner, fn) =>
      withNodeLock(conn, owner, (lock) => heldLock.run(lock.signal, () => fn(lock.proof)), opts.lock),
  };
}
