// The node's root-only runtime directory for the node lock, its owner and token files and the apply lock, as shell
// fragments for the constant remote scripts. /run/lock is world-writable: any local user could squat a lock file
// there (blocking every change) or plant a symlink for root to write through, so nothing of ours lives there.
import { EXIT_UNSAFE } from "./exit-codes";

export const RUN_DIR = "/run/docker-firewall";

/**
 * Sets umask 077, makes $r the runtime dir (0700) and defines `owned FILE` (true when FILE is no symlink and, if it
 * exists, belongs to root) and `unsafe REASON` (says why on stderr and exits EXIT_UNSAFE). Refuses a runtime dir
 * that is a symlink, not root's, or writable by group or others. One `stat` for the dir; a file is then checked
 * with builtins: owning root's $r means running as root, so `[ -O ]` is "root's" (each process costs milliseconds,
 * several times per transaction). If that test fails, `stat` decides, as it did alone before: a token the previous
 * holder removes meanwhile is no false alarm, and a run that is not root never takes its own file for root's.
 */
export const RUN_DIR_GUARD = `umask 077
r=${RUN_DIR}
unsafe() { echo "refusing $1 (another local user may be trying to hijack the lock)" >&2; exit ${EXIT_UNSAFE}; }
[ -e "$r" ] || [ -L "$r" ] || mkdir -m 0700 "$r" 2>/dev/null
{ [ ! -L "$r" ] && [ -d "$r" ] && um=$(stat -c "%u %a" -- "$r" 2>/dev/null); } || unsafe "$r: not a directory owned by root"
case $um in "0 "*) ;; *) unsafe "$r: not a directory owned by root";; esac
case \${um#* } in *[2367]?|*[2367]) unsafe "$r: writable by group or others";; esac
ro=; [ -O "$r" ] && ro=1
owned() { [ ! -L "$1" ] || return 1; [ -n "$ro" ] && { [ -O "$1" ] || [ ! -e "$1" ]; } && return 0; o=$(stat -c %u -- "$1" 2>/dev/null) || return 0; [ "$o" = 0 ]; }` as const;
