#!/usr/bin/env bash
# Builds Docker 29's dockerd from the Go module github.com/moby/moby/v2 (cmd/dockerd) through the Go module proxy,
# pinned by scripts/docker29/go.mod + go.sum, into a cache folder; idempotent (a warm run only compares a stamp).
# Prints the folder holding `dockerd`. containerd 2.x comes from install-docker28.sh; runc from Debian 12.
#
# Why a v2.0.0-beta.N module version and not a docker-v29.x.y tag: the proxy reached here answers
# "403 This module version is not available" to the revision queries docker-v29.1.0 and docker-v29.8.0; it serves only
# the v2.0.0-beta.N tags, which moby cuts on master and merges into its docker-29.x release branch.
# beta.24's releases/versions.yaml names 29.8.0 as the last release, hence the "29.8.1-dev" version stamp.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${DFW_CACHE_DIR:-$repo/.cache/docker29}"
bin="$cache/bin"
mod="$repo/scripts/docker29"

DOCKER_VERSION="29.8.1-dev"
# moby's hack/make.sh tags, less static_build (a dynamic build, as Debian ships) and btrfs (cgo + headers; vfs is
# enough for the lab). Without the libnftables tag dockerd drives nftables through the `nft` binary.
BUILD_TAGS="netgo osusergo nri_no_wasm exclude_graphdriver_btrfs"

module_version="$(awk '$1 == "github.com/moby/moby/v2" { print $2 }' "$mod/go.mod")"
[ -n "$module_version" ] || { echo "install-docker29: no github.com/moby/moby/v2 in $mod/go.mod" >&2; exit 1; }
stamp="module=$module_version version=$DOCKER_VERSION tags=$BUILD_TAGS go.sum=$(sha256sum "$mod/go.sum" | cut -d' ' -f1)"

if [ -x "$bin/dockerd" ] && [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$stamp" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "install-docker29: go is not on PATH (the go machine kind has it)" >&2; exit 1; }
mkdir -p "$bin"
pkg="github.com/moby/moby/v2"
ldflags="-w -X $pkg/dockerversion.Version=$DOCKER_VERSION -X $pkg/dockerversion.GitCommit=$module_version"
ldflags+=" -X $pkg/dockerversion.PlatformName=dfw-lab"
# -mod=readonly: go.mod/go.sum are the pin; a build that would change them fails instead.
(cd "$mod" && CGO_ENABLED=1 go build -mod=readonly -buildvcs=false -trimpath -tags "$BUILD_TAGS" -ldflags "$ldflags" \
  -o "$bin/dockerd.tmp" "$pkg/cmd/dockerd") >&2
"$bin/dockerd.tmp" --version >&2
mv "$bin/dockerd.tmp" "$bin/dockerd"
printf '%s' "$stamp" >"$bin/.stamp"
echo "$bin"
