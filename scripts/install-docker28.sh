#!/usr/bin/env bash
# Fetches Docker 28.5.2 + containerd 2.1.9 from Debian's unstable suite into a cache folder and unpacks them there
# (never installed system-wide: unstable would upgrade libc). Pinned by version and sha256; idempotent.
# Prints the unpacked root (its usr/sbin/dockerd, usr/bin/containerd…). runc comes from Debian 12 (install-system-deps.sh).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${DFW_CACHE_DIR:-$repo/.cache/docker28}"
root="$cache/root"
DOCKER_VERSION="28.5.2+dfsg4-5"
CONTAINERD_VERSION="2.1.9+ds1-5"
declare -A SHA256=(
  [docker.io]="69a59cc77a1fb8ee9ad6859abc2e6de5d76b70887405595c2b1307818fecf682"
  [containerd]="2dda86ce7033fd612fc50e136679d8174ccad680eb29cd4611e0d2a1b84cf591"
)
declare -A VERSION=([docker.io]="$DOCKER_VERSION" [containerd]="$CONTAINERD_VERSION")

stamp="$root/.unpacked-${DOCKER_VERSION}-${CONTAINERD_VERSION}"
mkdir -p "$cache"
# Labs brought up at the same time (test runs, the demo) share the cache: one fetches and unpacks, the others wait.
exec 9>"$cache/.lock"
flock -w 600 9
if [ -f "$stamp" ] && [ -x "$root/usr/sbin/dockerd" ] && [ -x "$root/usr/bin/containerd" ]; then
  echo "$root"
  exit 0
fi

mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial" "$cache/debs"
printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main\n' \
  >"$cache/apt/sources.list"
# A private apt: its own sources, lists and cache, no system sources.list.d, no effect on the system's apt state.
apt_opts=(
  -o "Dir::Etc::sourcelist=$cache/apt/sources.list"
  -o "Dir::Etc::sourceparts=/dev/null"
  -o "Dir::State::Lists=$cache/apt/lists"
  -o "Dir::Cache=$cache/apt/cache"
  -o "Dir::State::status=/dev/null"
  -o "APT::Architecture=amd64"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
have_debs() {
  for p in docker.io containerd; do
    f="$cache/debs/${p}_${VERSION[$p]//:/%3a}_amd64.deb"
    [ -f "$f" ] && echo "${SHA256[$p]}  $f" | sha256sum -c --quiet - >/dev/null 2>&1 || return 1
  done
}
if ! have_debs; then
  apt-get "${apt_opts[@]}" -qq update >&2
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" -qq download "docker.io=$DOCKER_VERSION" "containerd=$CONTAINERD_VERSION" >&2)
fi
for p in docker.io containerd; do
  f="$cache/debs/${p}_${VERSION[$p]//:/%3a}_amd64.deb"
  if ! echo "${SHA256[$p]}  $f" | sha256sum -c --quiet - >&2; then
    echo "install-docker28: sha256 of $f is not the pinned ${SHA256[$p]}; refusing to unpack" >&2
    exit 1
  fi
done
rm -rf "$root.tmp" && mkdir -p "$root.tmp"
for p in docker.io containerd; do dpkg-deb -x "$cache/debs/${p}_${VERSION[$p]//:/%3a}_amd64.deb" "$root.tmp"; done
rm -rf "$root" && mv "$root.tmp" "$root"
touch "$stamp"
echo "$root"
