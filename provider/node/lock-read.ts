// The node lock and the transaction's state read in one execution: the holder reads the state (under the apply
// lock, as the standalone read does) and prints it right after LOCKED, then waits for heartbeats. A transaction so
// costs two executions (lock + read, apply) instead of three. The default lock is tried at once, before the input
// arrives (stdin can only be sent once the exec request is answered: a round trip), so the read runs meanwhile.
import { EXIT_BAD_INPUT, EXIT_NO_WORKSPACE } from "../protocol/exit-codes";
import {
  DEFAULT_LOCK_NAME,
  LOCK_FILES_OWNED,
  LOCK_INPUT,
  LOCK_INPUT_CHECK,
  LOCK_RECORD,
  LOCK_WAIT,
  LOCKED,
  NODE_LOCK_HOLD,
} from "../protocol/lock-script";
import { READ_STATE } from "../protocol/read-script";
import { RUN_DIR_GUARD } from "../protocol/run-dir";
import { marker, READ } from "../protocol/sections";
import { defineCommands } from "./commands";
import type { RunningCommand } from "./running-command";

/** How long a holder that took the lock before its input arrived waits for it: a frozen controller must not keep
 * the lock (the heartbeat covers the time after). */
const INPUT_WAIT_SECONDS = 30;

/** $n: a new nonce from the kernel for the read's sections (no process; od where /proc lacks it). Made on the node
 * because the read starts before stdin could bring one; printed before anything the read prints. */
const NODE_NONCE =
  `{ IFS= read -r n </proc/sys/kernel/random/uuid; } 2>/dev/null || n=$(od -An -N16 -tx1 /dev/urandom | tr -d " \\n")
case $n in ""|*[!a-f0-9-]*) exit ${EXIT_NO_WORKSPACE};; esac` as const;

/** `readout`: the state read under the apply lock into $out, framed with $n; empty if the apply lock cannot be had
 * or is unsafe (the transaction then reads on its own, which reports why). */
const READ_OUT = `readout() {
${NODE_NONCE}
dc=; out=
if owned "$r/apply.lock"; then out=$({ flock -w 300 8 && { ${READ_STATE}
}; } 8>>"$r/apply.lock"); fi
}` as const;

export const LockReadCommands = defineCommands({
  /**
   * The node lock (protocol/lock-script.ts, the same five input lines) and the state read, printed after
   * `LOCKED <nonce>`. If the default lock is free it is taken, and the state read, before the input is waited for;
   * otherwise (held, or another name asked for) the lock is waited for as usual and the state read then.
   */
  nodeLockRead: `sh -c '${RUN_DIR_GUARD}
${READ_OUT}
name=${DEFAULT_LOCK_NAME}
fast=; ok=1
for f in "$r/$name.lock" "$r/$name.owner" "$r/$name.token"; do owned "$f" || ok=; done
if [ -n "$ok" ]; then exec 9>>"$r/$name.lock"; flock -n 9 && fast=1; fi
if [ -n "$fast" ]; then : >"$r/$name.owner"; readout; fi
in=$(timeout ${INPUT_WAIT_SECONDS} head -n 5)
{ ${LOCK_INPUT}; } <<EOF || exit ${EXIT_BAD_INPUT}
$in
EOF
${LOCK_INPUT_CHECK}
if [ -n "$fast" ] && [ "$name" != ${DEFAULT_LOCK_NAME} ]; then exec 9>&-; fast=; fi
if [ -z "$fast" ]; then
${LOCK_FILES_OWNED}
${LOCK_WAIT}
readout
fi
${LOCK_RECORD}
echo "${LOCKED} $n"
[ -z "$out" ] || printf "%s\\n" "$out"
${NODE_LOCK_HOLD}'`,
});

/** The LOCKED line of the lock + read, with the nonce its read is framed with. */
const LOCKED_LINE = new RegExp(`^${LOCKED} ([0-9a-f-]{32,36})$`, "m");

/** How long the holder's read may take, as a standalone read's exec timeout. */
const READ_TIMEOUT_MS = 60_000;

/** The holder's read (what follows the LOCKED line up to the end marker) and its nonce, or undefined if it did not
 * complete. Each chunk is searched for the end marker only with the marker's length before it: searching the whole
 * output at every chunk was quadratic (906 ms of CPU for a 100,000-entry set, bench/results/profile.md). */
export function readAfterLock(
  run: RunningCommand,
  out: { text(): string },
): Promise<{ readonly text: string; readonly nonce: string } | undefined> {
  const locked = LOCKED_LINE.exec(out.text());
  if (!locked) return Promise.resolve(undefined);
  const nonce = locked[1] as string;
  const end = `\n${marker(nonce, READ.end)}\n`;
  const after = `${locked[0]}\n`;
  const done = () => {
    const t = out.text();
    const from = t.indexOf(after);
    const to = t.indexOf(end, from);
    return from >= 0 && to >= 0 ? { text: t.slice(from + after.length, to + end.length), nonce } : undefined;
  };
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let tail = "";
    const finish = (v: ReturnType<typeof done>) => {
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
