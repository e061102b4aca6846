// The apply: one constant script that takes the step list of protocol/steps.ts on stdin, runs the steps in order
// under the apply lock and the node lock's proof, and on a failure runs the failing step's abort and the undo of
// every earlier step. Boot files are replaced all or none (kept copies put back on any failure).
import { EXIT_BAD_INPUT, EXIT_BUSY, EXIT_INCOMPLETE, EXIT_LOCK_LOST, EXIT_NO_WORKSPACE } from "./exit-codes";
import {
  BOOT_NAME_WORDS,
  OLD_UNIT_LINK,
  PERSIST_DIR,
  STEP_FILE_NAME_WORDS,
  STEP_FILE_PATHS,
  UNIT_LINK_WORDS,
  UNIT_NAME,
} from "./paths";
import { READ_BACK_BACKEND } from "./read-script";
import { RUN_DIR_GUARD } from "./run-dir";
import { CLEANUP_FAILED, FAILED } from "./steps";

/** Serialises with any apply still running on the node (one orphaned by a dropped connection finishes first). */
export const APPLY_LOCK = `${RUN_DIR_GUARD}
owned "$r/apply.lock" || unsafe "$r/apply.lock: a symbolic link or not owned by root"
exec 8>>"$r/apply.lock" || exit ${EXIT_NO_WORKSPACE}
flock -w 300 8 || exit ${EXIT_BUSY}` as const;

/** The second stdin line of an apply: the node lock's name and the token its holder recorded. */
export const READ_PROOF = `IFS=" " read -r lk tok || exit ${EXIT_BAD_INPUT}
case $lk in ""|*[!a-z0-9-]*) exit ${EXIT_BAD_INPUT};; esac
case $tok in ""|*[!a-f0-9]*) exit ${EXIT_BAD_INPUT};; esac` as const;

/** Under the apply lock: an apply whose run lost the node lock (its holder gave up, another run may hold it and
 * have read the state) must change nothing. The holder removes its token when it lets go. */
const CHECK_PROOF = `owned "$r/$lk.token" || unsafe "$r/$lk.token: a symbolic link or not owned by root"
ht=; { IFS= read -r ht <"$r/$lk.token"; } 2>/dev/null
if [ "$ht" != "$tok" ]; then
  echo "the node lock was lost before this apply ran (another run may hold it now): nothing was applied" >&2; exit ${EXIT_LOCK_LOST}
fi` as const;

/** Writes each section of stdin (after the marker `@@$n <name>`) to the file $d/<name>, one line at a time. */
const SPLIT_STDIN = `cat >"$d/split.awk" <<"AWK"
index($0, m) == 1 { if (f != "") close(f); f = d "/" substr($0, length(m) + 1); printf "" > f; next }
f != "" { print > f }
AWK
awk -v m="@@$n " -v d="$d" -f "$d/split.awk" || exit ${EXIT_NO_WORKSPACE}
[ -f "$d/end" ] || { echo "the step list arrived incomplete: nothing was applied" >&2; exit ${EXIT_INCOMPLETE}; }` as const;

/** `run TOOL` feeds stdin to the restore tool a step names; `target NAME` is a persisted file's fixed path. */
const TOOLS = `run() {
  case $1 in
    ipset) ipset restore ;;
    ipset-exist) ipset -exist restore ;;
    ipset-revert) cat >"$d/revert" && IFS=" " read -r _ rs _ <"$d/revert" || return 1
      ipset -n list "$rs" >/dev/null 2>&1 || return 0
      ipset -exist restore <"$d/revert" ;;
    nft-ipv4) iptables-nft-restore -w 10 --noflush ;;
    nft-ipv6) ip6tables-nft-restore -w 10 --noflush ;;
    legacy-ipv4) iptables-legacy-restore -w 10 --noflush ;;
    legacy-ipv6) ip6tables-legacy-restore -w 10 --noflush ;;
    nftables) nft -j -f - ;;
    *) echo "unknown step tool" >&2; return ${EXIT_BAD_INPUT} ;;
  esac
}
target() {
  case $1 in
    config) echo ${STEP_FILE_PATHS.config} ;;
    ipsets) echo ${STEP_FILE_PATHS.ipsets} ;;
    rules-ipv4) echo ${STEP_FILE_PATHS["rules-ipv4"]} ;;
    rules-ipv6) echo ${STEP_FILE_PATHS["rules-ipv6"]} ;;
    restore) echo ${STEP_FILE_PATHS.restore} ;;
    unit) echo ${STEP_FILE_PATHS.unit} ;;
    nftables) echo ${STEP_FILE_PATHS.nftables} ;;
    managed-sets) echo ${STEP_FILE_PATHS["managed-sets"]} ;;
    *) return 1 ;;
  esac
}
names="${STEP_FILE_NAME_WORDS}"
e=${PERSIST_DIR}
u=${STEP_FILE_PATHS.unit}
links="${UNIT_LINK_WORDS}"
oldlinks=${OLD_UNIT_LINK}` as const;

/** `persist K` writes step K's files all or none and enables the unit; `unsave K` puts back what it replaced. */
const PERSIST = `unsave() {
  ok=0
  [ -f "$d/$1.saved" ] && while read -r f how; do
    t=$(target "$f")
    if [ "$how" = old ]; then mv -f "$t.dfw-old" "$t" || ok=1; else rm -f "$t" || ok=1; fi
  done <"$d/$1.saved"
  [ -f "$d/$1.links" ] && while read -r l had; do
    if [ "$had" = yes ]; then ln -sfn "$u" "$l" || ok=1; else rm -f "$l" || ok=1; fi
  done <"$d/$1.links"
  for g in $names; do rm -f "$(target "$g").dfw-new"; done
  systemctl daemon-reload >/dev/null 2>&1 || true
  return $ok
}
persist() {
  umask 022
  # A unit only systemd would start: without systemd on the host, files nothing runs would be a false promise.
  if [ ! -d /run/systemd/system ] && [ ! -x /lib/systemd/systemd ] && [ ! -x /usr/lib/systemd/systemd ]; then
    for f in ${BOOT_NAME_WORDS}; do
      [ -f "$d/$1.p.$f" ] && { echo "this host has no systemd, so nothing would run the boot files at boot (PersistentRuleset needs systemd): no persisted file was changed"; return 1; }
    done
  fi
  mkdir -p "$e" || { echo "cannot create $e (disk full or read-only?): no persisted file was changed"; return 1; }
  if [ -L "$e" ] || [ "$(stat -c %u "$e")" != 0 ]; then echo "$e is a symbolic link or not owned by root: refusing to write boot files there"; return 1; fi
  case $(stat -c %a "$e") in *[2367]?|*[2367]) echo "$e is writable by group or others: refusing to write boot files there"; return 1;; esac
  for f in $names; do
    [ -f "$d/$1.p.$f" ] || continue
    t=$(target "$f")
    if ! { mkdir -p "\${t%/*}" && cat "$d/$1.p.$f" >"$t.dfw-new" && { sync "$t.dfw-new" 2>/dev/null || sync; } && { [ ! -f "$t" ] || cp -p "$t" "$t.dfw-old"; }; }; then
      for g in $names; do rm -f "$(target "$g").dfw-new" "$(target "$g").dfw-old"; done
      echo "cannot write $t (disk full or read-only?): no persisted file was changed"
      return 1
    fi
  done
  : >"$d/$1.saved"
  for f in $names; do
    [ -f "$d/$1.p.$f" ] || continue
    t=$(target "$f")
    if [ -f "$t" ]; then echo "$f old"; else echo "$f none"; fi >>"$d/$1.saved"
    mv -f "$t.dfw-new" "$t" || { echo "cannot replace $t: the persisted files were put back"; unsave "$1"; return 1; }
  done
  if [ -f "$d/$1.p.unit" ]; then
    for l in $links $oldlinks; do if [ -L "$l" ]; then echo "$l yes"; else echo "$l no"; fi; done >"$d/$1.links"
    rm -f $oldlinks
    if [ -d /run/systemd/system ]; then
      # systemd runs: it makes the links the [Install] section of the unit names.
      { systemctl daemon-reload && systemctl enable ${UNIT_NAME}; } >"$d/enable.out" 2>&1 || { echo "systemctl enable ${UNIT_NAME} failed: $(cat "$d/enable.out"); the persisted files were put back"; unsave "$1"; return 1; }
    else
      # systemd installed but not running (a container, the lab nodes): the links systemctl enable would make.
      for l in $links; do
        { mkdir -p "\${l%/*}" && ln -sfn "$u" "$l"; } || { echo "cannot enable the boot unit ($l): the persisted files were put back"; unsave "$1"; return 1; }
      done
    fi
  fi
  sync
}
unpersist() {
  for f in ${BOOT_NAME_WORDS}; do rm -f "$(target "$f")"; done
  rm -f $links $oldlinks
  systemctl daemon-reload >/dev/null 2>&1 || true
}` as const;

/** Runs the steps in order; on a failure, the failing step's abort, then the undo of every earlier step. */
export const APPLY_STEPS = `trap "" HUP PIPE
d=$(mktemp -d) || exit ${EXIT_NO_WORKSPACE}
trap "rm -rf \\"$d\\"" EXIT
${SPLIT_STDIN}
${READ_BACK_BACKEND}
${CHECK_PROOF}
${TOOLS}
${PERSIST}
step() {
  IFS= read -r tool <"$d/$1.tool"
  case $tool in
    persist) persist "$1" ;;
    unpersist) unpersist ;;
    ipset-cleanup) ipset -exist restore <"$d/$1.do" || true ;;
    *) run "$tool" <"$d/$1.do" ;;
  esac
}
cleanup() {
  if [ "$2" = undo ] && [ -f "$d/$1.saved" ]; then
    unsave "$1" >"$d/out" 2>&1 || { printf "\\n@@%s ${CLEANUP_FAILED} %s\\n" "$n" "$1 $2"; cat "$d/out"; }
    return 0
  fi
  [ -f "$d/$1.$2tool" ] || return 0
  IFS= read -r tool <"$d/$1.$2tool"
  run "$tool" <"$d/$1.$2" >"$d/out" 2>&1 || { printf "\\n@@%s ${CLEANUP_FAILED} %s\\n" "$n" "$1 $2"; cat "$d/out"; }
}
k=1
failed=0
while [ -f "$d/$k.tool" ]; do
  if ! step "$k" >"$d/out" 2>&1; then failed=$k; break; fi
  k=$((k+1))
done
if [ "$failed" -ne 0 ]; then
  printf "\\n@@%s ${FAILED} %s\\n" "$n" "$failed"
  cat "$d/out"
  cleanup "$failed" abort
  j=$((failed-1))
  while [ "$j" -ge 1 ]; do cleanup "$j" undo; j=$((j-1)); done
else
  for g in $names; do rm -f "$(target "$g").dfw-old"; done
fi` as const;
