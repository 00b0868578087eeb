#!/usr/bin/env bash
# Installs the node_modules of an npm project of this repository from its package-lock.json with
# `npm ci`, only when they are missing or were installed from another lockfile.
#
#   scripts/js-deps.sh                  # js/ (playwright-core, typescript, webpack, binaryen)
#   scripts/js-deps.sh package-tests    # package-tests/ (vite)
set -euo pipefail
cd "$(dirname "$0")/../${1:-js}"

if ! command -v npm >/dev/null; then
  echo "npm is missing: install Node.js 20+ (apt-get install -y nodejs npm)" >&2
  exit 1
fi

want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
stamp=node_modules/.evstore-lock-stamp
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
printf '==> %s\n' "npm ci (${1:-js}/)"
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
