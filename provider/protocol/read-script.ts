// The state read: one constant script that prints every section of READ (protocol/sections.ts), both iptables
// backends and families, the sets, a few facts and what is persisted for boot. netfilter/host-state.ts parses it.
import { EXIT_BAD_INPUT } from "./exit-codes";
import {
  MANAGED_SETS_PATH,
  OLD_UNIT_LINK,
  OTHER_PERSISTER_WORDS,
  PERSISTED_PATH_WORDS,
  PERSISTED_PATHS,
  UNIT_LINK_WORDS,
} from "./paths";
import { READ } from "./sections";

/** Reads the nonce from stdin's first line into $n. */
export const READ_NONCE = `IFS= read -r n || exit ${EXIT_BAD_INPUT}
case $n in ""|*[!a-f0-9]*) exit ${EXIT_BAD_INPUT};; esac` as const;

/** Prints every section parseHostState reads. Expects the nonce in $n, and in $rb the backend the host is known to
 * use (nft, legacy) or nothing. Legacy tables are read only when loaded: iptables-legacy-save would otherwise
 * instantiate an empty legacy filter table as a side effect. `has`, `show` (a small file's lines, as cat prints them
 * with a last newline) and `read` are shell builtins: each process the script starts costs milliseconds, twice per
 * transaction (read, read-back). With $rb set (the apply's read-back,
 * READ_BACK) the other backend's dumps, the IPv6 nat count and `nft list tables` print empty sections: verify needs
 * none of them and the apply changed none of them (netfilter/steps.ts keeps them from the read before). */
const READ_SECTIONS = `s() { printf "\\n@@%s %s\\n" "$n" "$1"; }
has() { while IFS= read -r hl; do [ "$hl" = "$1" ] && return 0; done <"$2"; return 1; }
show() { [ -f "$1" ] && [ -r "$1" ] || return 0; while IFS= read -r l || [ -n "$l" ]; do printf "%s\\n" "$l"; done <"$1"; }
s ${READ.tools}
for t in iptables-nft-restore ip6tables-nft-restore iptables-legacy-restore ip6tables-legacy-restore ipset nft flock; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done
s ${READ.nft4}
[ "$rb" = legacy ] || { command -v iptables-nft-save >/dev/null 2>&1 && iptables-nft-save -t filter 2>&1; }
s ${READ.nft6}
[ "$rb" = legacy ] || { command -v ip6tables-nft-save >/dev/null 2>&1 && ip6tables-nft-save -t filter 2>&1; }
s ${READ.legacy4}
[ "$rb" = nft ] || { has filter /proc/net/ip_tables_names 2>/dev/null && iptables-legacy-save -t filter 2>&1; }
s ${READ.legacy6}
[ "$rb" = nft ] || { has filter /proc/net/ip6_tables_names 2>/dev/null && ip6tables-legacy-save -t filter 2>&1; }
s ${READ.ipset}
command -v ipset >/dev/null 2>&1 && { ipset save 2>&1 || echo "ipset save failed: exit $?"; }
s ${READ.v6dnat}
[ -n "$rb" ] || for t in ip6tables-nft-save ip6tables-legacy-save; do case $t in *legacy*) has nat /proc/net/ip6_tables_names 2>/dev/null || continue;; esac; command -v "$t" >/dev/null 2>&1 && "$t" -t nat 2>/dev/null | grep -c -- "-j DNAT"; done
s ${READ.v6fwd}
{ IFS= read -r fw && echo "$fw"; } </proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null
s ${READ.nfttables}
[ -n "$rb" ] || { command -v nft >/dev/null 2>&1 && nft list tables 2>&1; }
s ${READ.dockerconf}
show /etc/docker/daemon.json 2>/dev/null
s ${READ.persistconfig}
show ${PERSISTED_PATHS.config} 2>/dev/null
s ${READ.managedsets}
show ${MANAGED_SETS_PATH} 2>/dev/null
s ${READ.persisted}
for f in ${PERSISTED_PATH_WORDS}; do [ -f "$f" ] && sha256sum "$f"; done
for f in ${UNIT_LINK_WORDS} ${OLD_UNIT_LINK}; do [ -L "$f" ] && echo "link $f"; done
s ${READ.otherpersisters}
for f in ${OTHER_PERSISTER_WORDS}; do [ -f "$f" ] && echo "$f $(grep -c DOCKER "$f" 2>/dev/null)"; done
s ${READ.end}` as const;

/** The whole state read (the backend is not known yet). */
export const READ_STATE = `rb=
${READ_SECTIONS}` as const;

/** The read-back after an apply: $rb was read from the apply's `readback` section (READ_BACK_BACKEND). */
export const READ_BACK = READ_SECTIONS;

/** Reads the apply's `readback` section (split to $d/readback) into $rb: a backend name or nothing. */
export const READ_BACK_BACKEND = `rb=
[ -f "$d/readback" ] && { IFS= read -r rb <"$d/readback" || rb=; }
case $rb in ""|nft|legacy) ;; *) echo "bad readback section" >&2; exit ${EXIT_BAD_INPUT};; esac` as const;
