// The node-wide lock (node/lock.ts holds it): a constant script that takes flock on a file in the runtime dir,
// records its holder, and holds it while the controller's heartbeat arrives on stdin.
import { EXIT_BAD_INPUT, EXIT_BUSY, EXIT_NO_WORKSPACE } from "./exit-codes";
import { RUN_DIR_GUARD } from "./run-dir";

/** The lock every run of this provider takes unless told another name (only tests use others). */
export const DEFAULT_LOCK_NAME = "pulumi-docker-firewall";
/** Printed once the lock is held and its owner and token recorded (by the lock + read: `LOCKED <read's nonce>`). */
export const LOCKED = "LOCKED";
/** Printed before exiting EXIT_BUSY: `HELD-BY <owner recorded by the holder>`. */
export const HELD_BY = "HELD-BY";

/** The five input lines: wait seconds, lock name, owner, token, heartbeat seconds. */
export const LOCK_INPUT =
  `IFS= read -r wait_s && IFS= read -r name && IFS= read -r owner && IFS= read -r token && IFS= read -r beat_s` as const;

/** Exits EXIT_BAD_INPUT unless the input lines are what they should be. */
export const LOCK_INPUT_CHECK = `case $wait_s in ""|*[!0-9]*) exit ${EXIT_BAD_INPUT};; esac
case $beat_s in ""|*[!0-9]*|0) exit ${EXIT_BAD_INPUT};; esac
case $name in ""|*[!a-z0-9-]*) exit ${EXIT_BAD_INPUT};; esac
case $token in ""|*[!a-f0-9]*) exit ${EXIT_BAD_INPUT};; esac` as const;

/** After RUN_DIR_GUARD: exits EXIT_UNSAFE unless the files of lock $name are safe to open and write. */
export const LOCK_FILES_OWNED =
  `for f in "$r/$name.lock" "$r/$name.owner" "$r/$name.token"; do owned "$f" || unsafe "$f: a symbolic link or not owned by root"; done` as const;

/** Opens lock $name on fd 9 and waits up to $wait_s for it; prints HELD-BY and exits EXIT_BUSY if it stays held. */
export const LOCK_WAIT = `exec 9>>"$r/$name.lock" || exit ${EXIT_NO_WORKSPACE}
flock -w "$wait_s" -E ${EXIT_BUSY} 9
rc=$?
if [ "$rc" -eq ${EXIT_BUSY} ]; then printf "${HELD_BY} "; head -n 1 "$r/$name.owner" 2>/dev/null | cut -c 1-300; echo; fi
if [ "$rc" -ne 0 ]; then exit "$rc"; fi` as const;

/** With the lock held: records owner and token (the token goes when the holder exits, as the lock does). */
export const LOCK_RECORD = `trap "rm -f \\"$r/$name.token\\"" EXIT
trap "exit 0" HUP INT TERM PIPE
printf "%s\\n" "$owner" >"$r/$name.owner" && printf "%s\\n" "$token" >"$r/$name.token" || exit ${EXIT_NO_WORKSPACE}` as const;

/** NODE_LOCK after LOCKED: holds while heartbeats arrive. */
export const NODE_LOCK_HOLD = `while b=$(timeout "$beat_s" head -c 1) && [ -n "$b" ]; do :; done` as const;

/**
 * Reads five lines from stdin: wait seconds, lock name ([a-z0-9-]), owner, token (hex), heartbeat seconds. Prints
 * LOCKED once it holds flock on RUN_DIR/<name>.lock and has recorded the owner and token; holds it while a
 * heartbeat byte arrives at least every heartbeat seconds, and gives up (removing the token) when stdin closes or
 * the heartbeat stops (a frozen or partitioned controller). On timeout exits EXIT_BUSY after printing HELD-BY;
 * exits EXIT_UNSAFE on an unsafe lock file.
 */
export const NODE_LOCK = `${LOCK_INPUT} || exit ${EXIT_BAD_INPUT}
${LOCK_INPUT_CHECK}
${RUN_DIR_GUARD}
${LOCK_FILES_OWNED}
${LOCK_WAIT}
${LOCK_RECORD}
echo ${LOCKED}
${NODE_LOCK_HOLD}` as const;
