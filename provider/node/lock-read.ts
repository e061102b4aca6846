// The node lock and the transaction's state read in one execution: right after taking the lock, the holder runs
// the read script (under the apply lock, as the standalone read does) and prints its sections, then waits for
// heartbeats. A transaction so costs two executions (lock + read, apply) instead of three.
import { Commands, defineCommands, type RemoteCommand } from "./commands";
import { NetfilterCommands } from "./netfilter-commands";
import type { RunningCommand } from "./running-command";

/** The read script's body after its nonce line and apply lock (the part that prints the sections). */
function readBody(): string {
  const line: string = NetfilterCommands.readState;
  const after = "flock -w 300 8 || exit 75\n";
  const at = line.indexOf(after);
  if (!line.startsWith("sh -c '") || at < 0 || !line.endsWith("'")) throw new Error("unexpected read script shape");
  return line.slice(at + after.length, -1);
}

/** The lock script with the read folded in after LOCKED: a 6th stdin line carries the read's nonce. Both halves
 * are the constant scripts of commands.ts and netfilter-commands.ts; nothing else enters the line. */
function foldedLockScript(): string {
  const lock: string = Commands.nodeLock;
  const mark = "echo LOCKED\n";
  if (lock.split(mark).length !== 2) throw new Error("unexpected lock script shape");
  const read = `IFS= read -r n || exit 64
case $n in ""|*[!a-f0-9]*) exit 64;; esac
if owned "$r/apply.lock"; then { flock -w 300 8 && { ${readBody()}
}; } 8>>"$r/apply.lock"; fi
`;
  return lock.replace(mark, `${mark}${read}`);
}

export const LockReadCommands: { readonly nodeLockRead: RemoteCommand } = defineCommands({
  nodeLockRead: foldedLockScript() as "sh -c 'folded lock and read'",
});

/** How long the holder's read may take, as a standalone read's exec timeout. */
const READ_TIMEOUT_MS = 60_000;

/** The holder's read (what follows LOCKED up to the end marker), or undefined if it did not complete. */
export function readAfterLock(
  run: RunningCommand,
  out: { text(): string },
  nonce: string,
): Promise<string | undefined> {
  const end = `\n@@${nonce} end\n`;
  const done = () => {
    const t = out.text();
    const from = t.indexOf("LOCKED\n");
    const to = t.indexOf(end, from);
    return from >= 0 && to >= 0 ? t.slice(from + "LOCKED\n".length, to + end.length) : undefined;
  };
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (v: string | undefined) => {
      clearTimeout(timer);
      run.stdout.off("data", onData);
      resolve(v);
    };
    const onData = () => {
      const t = done();
      if (t !== undefined) finish(t);
    };
    const now = done();
    if (now !== undefined) return resolve(now);
    timer = setTimeout(() => finish(undefined), READ_TIMEOUT_MS);
    run.stdout.on("data", onData);
    void run.end.then(() => finish(done()));
  });
}

/** The held lock's read as the answer to a read with `nonce` (the sections re-framed with the caller's nonce). */
export function reframe(read: string, heldNonce: string, nonce: string): string {
  return read.split(`\n@@${heldNonce} `).join(`\n@@${nonce} `);
}
