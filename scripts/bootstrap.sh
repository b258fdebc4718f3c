#!/usr/bin/env bash
# Makes a checkout ready to run: Debian packages (scripts/setup.sh; needs root only when something
# is missing), npm packages (npm ci when node_modules is missing or older than the lock file), and a
# build of the CLI/server (dist/) and the console (console/dist/) when their sources are newer.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

stale() { # stale OUTPUT SOURCE... : true when OUTPUT is missing or any SOURCE file is newer
  local output=$1; shift
  [ -e "$output" ] || return 0
  [ -n "$(find "$@" -newer "$output" -type f -print -quit 2>/dev/null)" ]
}

if stale dist/cli/main.js src tsconfig.json tsconfig.build.json; then
  echo "bootstrap: building the CLI and server (tsc)"
  node_modules/.bin/tsc -p tsconfig.build.json
fi
if [ -f console/vite.config.ts ] && stale console/dist/index.html console/src console/index.html console/vite.config.ts; then
  echo "bootstrap: building the console (vite)"
  node_modules/.bin/vite build console --logLevel warn
fi
