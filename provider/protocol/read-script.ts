// The state read: one constant script that prints every section of READ (protocol/sections.ts), both iptables
// backends and families, the sets, a few facts and what is persisted for boot. netfilter/host-state.ts parses it.
import { EXIT_BAD_INPUT } from "./exit-codes";
import {
  BOOT_PATH_WORDS,
  MANAGED_SETS_PATH,
  NFT_FAMILY,
  NFT_TABLE,
  OLD_UNIT_LINK,
  OTHER_PERSISTER_WORDS,
  PERSISTED_PATHS,
  UNIT_LINK_WORDS,
} from "./paths";
import { READ } from "./sections";

/** The word after the nonce that asks the read for the running containers' published ports (a rule targets one). */
export const LIST_CONTAINERS = "containers";

/** Reads the nonce from stdin's first line into $n; `<nonce> containers` also sets $dc (list the containers). */
export const READ_NONCE = `IFS= read -r n || exit ${EXIT_BAD_INPUT}
dc=; case $n in *" ${LIST_CONTAINERS}") n=\${n%" ${LIST_CONTAINERS}"}; dc=1;; esac
case $n in ""|*[!a-f0-9]*) exit ${EXIT_BAD_INPUT};; esac` as const;

/** Only when asked: one JSON line per running container (name, published ports, labels; never its env), parsed
 * strictly by containers/container-list.ts. A container gone between ps and inspect is simply not listed; a hung
 * dockerd costs at most 20 s (exit 124), not the read's whole timeout. */
export const LIST_RUNNING_CONTAINERS = `if command -v docker >/dev/null 2>&1; then
dt=; command -v timeout >/dev/null 2>&1 && dt="timeout 20"
if ids=$($dt docker ps -q --no-trunc 2>&1); then
[ -n "$ids" ] && $dt docker inspect --format "{\\"name\\":{{json .Name}},\\"ports\\":{{json .NetworkSettings.Ports}},\\"labels\\":{{json .Config.Labels}}}" $ids 2>/dev/null
else echo "error docker ps failed (exit $?): $(echo "$ids" | head -n 1)"; fi
else echo "error the docker CLI is not installed on the host"; fi`;

/** Prints every section parseHostState reads. Expects the nonce in $n, and in $rb the iptables backend the host is
 * known to use (nft, legacy) or nothing. Legacy tables are read only when loaded: iptables-legacy-save would otherwise
 * instantiate an empty legacy filter table as a side effect. `has`, `show` (a small file's lines, as cat prints them
 * with a last newline) and `read` are shell builtins: each process the script starts costs milliseconds, twice per
 * transaction (read, read-back). With $rb set (the apply's read-back on an iptables host, READ_BACK) the other
 * backend's dumps, the IPv6 nat count and the nftables listings print empty sections: verify needs none of them and
 * the apply changed none (netfilter/steps.ts keeps them from the read before). An nftables host sends no $rb. */
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
nt=""; [ -n "$rb" ] || { command -v nft >/dev/null 2>&1 && { nt=$(nft list tables 2>&1); echo "$nt"; }; }
s ${READ.nftjson}
case $nt in *" docker-bridges"*|*" ${NFT_TABLE}"*) nft -j list ruleset 2>&1;; esac
s ${READ.nfttable}
case $nt in *" docker-bridges"*|*" ${NFT_TABLE}"*) nft -n -j list table ${NFT_FAMILY} ${NFT_TABLE} 2>&1;; esac
s ${READ.dockerconf}
show /etc/docker/daemon.json 2>/dev/null
s ${READ.persistconfig}
show ${PERSISTED_PATHS.config} 2>/dev/null
s ${READ.managedsets}
show ${MANAGED_SETS_PATH} 2>/dev/null
s ${READ.persisted}
for f in ${BOOT_PATH_WORDS}; do [ -f "$f" ] && sha256sum "$f"; done
for f in ${UNIT_LINK_WORDS} ${OLD_UNIT_LINK}; do [ -L "$f" ] && echo "link $f"; done
s ${READ.otherpersisters}
for f in ${OTHER_PERSISTER_WORDS}; do [ -f "$f" ] && echo "$f $(grep -c DOCKER "$f" 2>/dev/null)"; done
if [ -n "$dc" ]; then
s ${READ.containers}
${LIST_RUNNING_CONTAINERS}
fi
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
