#!/usr/bin/env bash
# npm run demo: on a fresh Debian machine (as root) installs what is missing, builds, then runs the demo
# (demo/main.ts): a lab of real Docker hosts, the top-level program applied, tampered with, refreshed, repaired.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "the demo builds network namespaces and runs dockerd: run it as root" >&2
  exit 1
fi
echo "[0/9] setup: system packages, node modules, build"
bash scripts/install-system-deps.sh
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
exec node --import tsx demo/main.ts "$@"
