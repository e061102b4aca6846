// The constant remote scripts behind a transaction: one read of the whole netfilter state, and one apply of an
// ordered list of restore steps (with cleanup and undo) followed by that same read, for verification. Rule and
// set content only ever arrives on stdin, framed by a random nonce (see netfilter/steps.ts, host-state.ts).
// Boot files are replaced all or none (kept copies put back on any failure), with the kernel steps' undo.
import { defineCommands } from "./commands";
import { RUN_DIR_GUARD } from "./run-dir";

/** Exit code of an apply whose node lock token is no longer current (an orphan): nothing was applied. */
export const EXIT_LOCK_LOST = 68;

/** Prints every section parseHostState reads. Expects the nonce in $n. Legacy tables are read only when loaded:
 * iptables-legacy-save would otherwise instantiate an empty legacy filter table as a side effect. */
const READ_STATE = `s() { printf "\\n@@%s %s\\n" "$n" "$1"; }
s tools
for t in iptables-nft-restore ip6tables-nft-restore iptables-legacy-restore ip6tables-legacy-restore ipset nft flock; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done
s nft4
command -v iptables-nft-save >/dev/null 2>&1 && iptables-nft-save -t filter 2>&1
s nft6
command -v ip6tables-nft-save >/dev/null 2>&1 && ip6tables-nft-save -t filter 2>&1
s legacy4
grep -qx filter /proc/net/ip_tables_names 2>/dev/null && iptables-legacy-save -t filter 2>&1
s legacy6
grep -qx filter /proc/net/ip6_tables_names 2>/dev/null && ip6tables-legacy-save -t filter 2>&1
s ipset
command -v ipset >/dev/null 2>&1 && { ipset save 2>&1 || echo "ipset save failed: exit $?"; }
s v6dnat
for t in ip6tables-nft-save ip6tables-legacy-save; do case $t in *legacy*) grep -qx nat /proc/net/ip6_tables_names 2>/dev/null || continue;; esac; command -v "$t" >/dev/null 2>&1 && "$t" -t nat 2>/dev/null | grep -c -- "-j DNAT"; done
s v6fwd
cat /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null
s nfttables
command -v nft >/dev/null 2>&1 && nft list tables 2>&1
s dockerconf
cat /etc/docker/daemon.json 2>/dev/null
s persistconfig
cat /etc/docker-firewall/persistence.json 2>/dev/null
s managedsets
cat /etc/docker-firewall/managed-sets 2>/dev/null
s persisted
for f in /etc/docker-firewall/persistence.json /etc/docker-firewall/ipsets.restore /etc/docker-firewall/rules-ipv4.restore /etc/docker-firewall/rules-ipv6.restore /etc/docker-firewall/restore /etc/systemd/system/docker-firewall.service; do [ -f "$f" ] && sha256sum "$f"; done
for f in /etc/systemd/system/multi-user.target.wants/docker-firewall.service /etc/systemd/system/docker.service.requires/docker-firewall.service /etc/systemd/system/docker.service.wants/docker-firewall.service; do [ -L "$f" ] && echo "link $f"; done
s otherpersisters
for f in /etc/iptables/rules.v4 /etc/iptables/rules.v6 /etc/sysconfig/iptables /etc/sysconfig/ip6tables; do [ -f "$f" ] && echo "$f $(grep -c DOCKER "$f" 2>/dev/null)"; done
s end` as const;

const READ_NONCE = `IFS= read -r n || exit 64
case $n in ""|*[!a-f0-9]*) exit 64;; esac` as const;

/** Serialises with any apply still running on the node (one orphaned by a dropped connection finishes first). */
const APPLY_LOCK = `${RUN_DIR_GUARD}
owned "$r/apply.lock" || unsafe "$r/apply.lock: a symbolic link or not owned by root"
exec 8>>"$r/apply.lock" || exit 65
flock -w 300 8 || exit 75` as const;

/** The second stdin line of an apply: the node lock's name and the token its holder recorded. */
const READ_PROOF = `IFS=" " read -r lk tok || exit 64
case $lk in ""|*[!a-z0-9-]*) exit 64;; esac
case $tok in ""|*[!a-f0-9]*) exit 64;; esac` as const;

/** Under the apply lock: an apply whose run lost the node lock (its holder gave up, another run may hold it and
 * have read the state) must change nothing. The holder removes its token when it lets go. */
const CHECK_PROOF = `owned "$r/$lk.token" || unsafe "$r/$lk.token: a symbolic link or not owned by root"
if [ "$(cat "$r/$lk.token" 2>/dev/null)" != "$tok" ]; then
  echo "the node lock was lost before this apply ran (another run may hold it now): nothing was applied" >&2; exit 68
fi` as const;

/** Runs the steps in order; on a failure, the failing step's abort, then the undo of every earlier step. */
const APPLY_STEPS = `trap "" HUP PIPE
d=$(mktemp -d) || exit 65
trap "rm -rf \\"$d\\"" EXIT
awk -v m="@@$n " -v d="$d" "index(\\$0,m)==1{if(f!=\\"\\")close(f);f=d \\"/\\" substr(\\$0,length(m)+1);printf \\"\\" > f;next}f!=\\"\\"{print > f}" || exit 65
[ -f "$d/end" ] || { echo "the step list arrived incomplete: nothing was applied" >&2; exit 66; }
${CHECK_PROOF}
run() {
  case $1 in
    ipset) ipset restore ;;
    ipset-exist) ipset -exist restore ;;
    nft-ipv4) iptables-nft-restore -w 10 --noflush ;;
    nft-ipv6) ip6tables-nft-restore -w 10 --noflush ;;
    legacy-ipv4) iptables-legacy-restore -w 10 --noflush ;;
    legacy-ipv6) ip6tables-legacy-restore -w 10 --noflush ;;
    *) echo "unknown step tool" >&2; return 64 ;;
  esac
}
target() {
  case $1 in
    config) echo /etc/docker-firewall/persistence.json ;;
    ipsets) echo /etc/docker-firewall/ipsets.restore ;;
    rules-ipv4) echo /etc/docker-firewall/rules-ipv4.restore ;;
    rules-ipv6) echo /etc/docker-firewall/rules-ipv6.restore ;;
    restore) echo /etc/docker-firewall/restore ;;
    unit) echo /etc/systemd/system/docker-firewall.service ;;
    managed-sets) echo /etc/docker-firewall/managed-sets ;;
    *) return 1 ;;
  esac
}
names="config ipsets rules-ipv4 rules-ipv6 restore unit managed-sets"
e=/etc/docker-firewall
u=/etc/systemd/system/docker-firewall.service
links="/etc/systemd/system/multi-user.target.wants/docker-firewall.service /etc/systemd/system/docker.service.requires/docker-firewall.service"
oldlinks=/etc/systemd/system/docker.service.wants/docker-firewall.service
unsave() {
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
    for l in $links; do
      { mkdir -p "\${l%/*}" && ln -sfn "$u" "$l"; } || { echo "cannot enable the boot unit ($l): the persisted files were put back"; unsave "$1"; return 1; }
    done
    rm -f $oldlinks
    systemctl daemon-reload >/dev/null 2>&1 || true
  fi
  sync
}
unpersist() {
  for f in config ipsets rules-ipv4 rules-ipv6 restore unit; do rm -f "$(target "$f")"; done
  rm -f $links $oldlinks
  systemctl daemon-reload >/dev/null 2>&1 || true
}
step() {
  tool=$(cat "$d/$1.tool")
  case $tool in
    persist) persist "$1" ;;
    unpersist) unpersist ;;
    ipset-cleanup) ipset -exist restore <"$d/$1.do" || true ;;
    *) run "$tool" <"$d/$1.do" ;;
  esac
}
cleanup() {
  if [ "$2" = undo ] && [ -f "$d/$1.saved" ]; then
    unsave "$1" >"$d/out" 2>&1 || { printf "\\n@@%s cleanupfailed %s\\n" "$n" "$1 $2"; cat "$d/out"; }
    return 0
  fi
  [ -f "$d/$1.$2tool" ] || return 0
  run "$(cat "$d/$1.$2tool")" <"$d/$1.$2" >"$d/out" 2>&1 || { printf "\\n@@%s cleanupfailed %s\\n" "$n" "$1 $2"; cat "$d/out"; }
}
k=1
failed=0
while [ -f "$d/$k.tool" ]; do
  if ! step "$k" >"$d/out" 2>&1; then failed=$k; break; fi
  k=$((k+1))
done
if [ "$failed" -ne 0 ]; then
  printf "\\n@@%s failed %s\\n" "$n" "$failed"
  cat "$d/out"
  cleanup "$failed" abort
  j=$((failed-1))
  while [ "$j" -ge 1 ]; do cleanup "$j" undo; j=$((j-1)); done
else
  for g in $names; do rm -f "$(target "$g").dfw-old"; done
fi` as const;

export const NetfilterCommands = defineCommands({
  /** stdin: nonce. stdout: the state sections. */
  readState: `sh -c '${READ_NONCE}
${APPLY_LOCK}
${READ_STATE}'`,
  /**
   * stdin: nonce, "<lock name> <token>" of the held node lock, then the step sections. stdout: failure sections if any, then the state sections. Runs to the
   * end even if the connection drops (HUP and PIPE ignored), and runs nothing unless the whole input arrived.
   */
  applySteps: `sh -c '${READ_NONCE}
${READ_PROOF}
${APPLY_LOCK}
${APPLY_STEPS}
${READ_STATE}'`,
});
