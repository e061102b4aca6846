// The exit codes of the constant remote scripts (protocol/*-script.ts, protocol/run-dir.ts): each says why a
// script changed nothing, so the caller can name the reason instead of "exited N".

/** Stdin did not carry what the script expects (a bad nonce, lock name or token). */
export const EXIT_BAD_INPUT = 64;
/** The script could not make its working files (mktemp, the lock file, the split of stdin). */
export const EXIT_NO_WORKSPACE = 65;
/** The step list arrived cut short (no end section): nothing was applied. */
export const EXIT_INCOMPLETE = 66;
/** The runtime directory or a file in it is unsafe (a symlink, not root's): the reason is on stderr. */
export const EXIT_UNSAFE = 67;
/** The apply's node lock token is no longer current (an orphaned apply): nothing was applied. */
export const EXIT_LOCK_LOST = 68;
/** flock timed out: another apply (or lock holder) kept the lock. */
export const EXIT_BUSY = 75;

/** Exit codes of an apply that refused before changing anything (its reason is its last stderr line). */
export const APPLY_REFUSALS: ReadonlySet<number> = new Set([EXIT_INCOMPLETE, EXIT_UNSAFE, EXIT_LOCK_LOST, EXIT_BUSY]);
