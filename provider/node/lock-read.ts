// The node lock and the transaction's state read in one execution: right after taking the lock, the holder runs
// the read script (under the apply lock, as the standalone read does) and prints its sections, then waits for
// heartbeats. A transaction so costs two executions (lock + read, apply) instead of three.
import { LOCKED, NODE_LOCK_HOLD, NODE_LOCK_TAKE } from "../protocol/lock-script";
import { READ_NONCE, READ_STATE } from "../protocol/read-script";
import { marker, READ } from "../protocol/sections";
import { defineCommands } from "./commands";
import type { RunningCommand } from "./running-command";

export const LockReadCommands = defineCommands({
  /**
   * The node lock (protocol/lock-script.ts) with the state read between taking and holding it: stdin carries the
   * lock's five lines and then the read's nonce. If the apply lock cannot be had or is unsafe, the read prints
   * nothing (the transaction then reads on its own, which reports why) and the lock is held all the same.
   */
  nodeLockRead: `sh -c '${NODE_LOCK_TAKE}
${READ_NONCE}
if owned "$r/apply.lock"; then { flock -w 300 8 && { ${READ_STATE}
}; } 8>>"$r/apply.lock"; fi
${NODE_LOCK_HOLD}'`,
});

/** How long the holder's read may take, as a standalone read's exec timeout. */
const READ_TIMEOUT_MS = 60_000;

/** The holder's read (what follows LOCKED up to the end marker), or undefined if it did not complete. Each chunk is
 * searched for the end marker only with the marker's length before it: searching the whole output at every chunk
 * was quadratic (906 ms of CPU for a 100,000-entry set, bench/results/profile.md). */
export function readAfterLock(
  run: RunningCommand,
  out: { text(): string },
  nonce: string,
): Promise<string | undefined> {
  const end = `\n${marker(nonce, READ.end)}\n`;
  const after = `${LOCKED}\n`;
  const done = () => {
    const t = out.text();
    const from = t.indexOf(after);
    const to = t.indexOf(end, from);
    return from >= 0 && to >= 0 ? t.slice(from + after.length, to + end.length) : undefined;
  };
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let tail = "";
    const finish = (v: string | undefined) => {
      clearTimeout(timer);
      run.stdout.off("data", onData);
      resolve(v);
    };
    const onData = (b: Buffer | string) => {
      const seen = tail + b.toString();
      if (seen.includes(end)) return finish(done());
      tail = seen.slice(-end.length);
    };
    const now = done();
    if (now !== undefined) return resolve(now);
    tail = out.text().slice(-end.length);
    timer = setTimeout(() => finish(undefined), READ_TIMEOUT_MS);
    run.stdout.on("data", onData);
    void run.end.then(() => finish(done()));
  });
}

/** The held lock's read as the answer to a read with `nonce` (the sections re-framed with the caller's nonce). */
export function reframe(read: string, heldNonce: string, nonce: string): string {
  return read.split(`\n${marker(heldNonce, "")}`).join(`\n${marker(nonce, "")}`);
}
