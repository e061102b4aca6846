// SSH-level keepalive that never keeps the Node process alive. ssh2's own `keepaliveInterval` runs a ref'd
// setInterval for the life of the connection, so an idle pooled connection would stop scripts from exiting.
// This sends the same "keepalive@openssh.com" global request from an unref'd timer instead.
import type { Client } from "ssh2";

/** ssh2 1.x internals used here; checked at run time so a change in ssh2 only disables the probe. */
interface Ssh2Internals {
  _protocol?: { ping?: () => void };
  _callbacks?: Array<(failed: boolean) => void>;
}

export interface KeepaliveOptions {
  readonly intervalMs: number;
  /** Unanswered probes tolerated before the connection is declared dead. */
  readonly countMax: number;
}

/** Starts probing; calls `onDead` once when `countMax` probes in a row got no answer. Returns a stop function. */
export function startKeepalive(client: Client, opts: KeepaliveOptions, onDead: (reason: string) => void): () => void {
  const internals = client as unknown as Ssh2Internals;
  const canProbe = typeof internals._protocol?.ping === "function" && Array.isArray(internals._callbacks);
  if (!canProbe || opts.intervalMs <= 0) return () => undefined;
  let unanswered = 0;
  const timer = setInterval(() => {
    if (unanswered >= opts.countMax) {
      clearInterval(timer);
      onDead(`no answer to ${unanswered} keepalive probes ${opts.intervalMs} ms apart`);
      return;
    }
    unanswered++;
    try {
      // The server answers REQUEST_FAILURE (OpenSSH) or SUCCESS; either reply proves the connection alive.
      internals._callbacks?.push(() => {
        unanswered = 0;
      });
      internals._protocol?.ping?.();
    } catch {
      // A write on a closing socket: the pool learns of the close from ssh2's 'close' event.
    }
  }, opts.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
