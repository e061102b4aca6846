#!/usr/bin/env bash
# Downloads (never installs) the Debian packages of the tools that restore whole firewall tables at boot, so the
# lab can unpack them into a node and boot it with their real unit files and scripts (test/lab/boot-order.test.ts).
# Usage: scripts/fetch-restorers.sh        (cache: $DFW_CACHE_DIR or <repo>/.cache, then restorers/)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${DFW_CACHE_DIR:-$repo/.cache}/restorers"
PKGS=(netfilter-persistent iptables-persistent nftables ufw firewalld)
mkdir -p "$dir"
have() { compgen -G "$dir/$1_*.deb" >/dev/null; }
missing=()
for p in "${PKGS[@]}"; do have "$p" || missing+=("$p"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
cd "$dir"
# apt-get download runs as root here; the _apt sandbox user cannot write the cache folder, which apt only warns about.
apt-get download "${missing[@]}" 2>/dev/null || { apt-get update -qq && apt-get download "${missing[@]}"; }
for p in "${PKGS[@]}"; do have "$p" || { echo "fetch-restorers: $p was not downloaded" >&2; exit 1; }; done
