#!/usr/bin/env bash
# Installs js/node_modules (playwright-core, typescript, binaryen) from js/package-lock.json with
# `npm ci`, only when it is missing or was installed from another lockfile.
set -euo pipefail
cd "$(dirname "$0")/../js"

if ! command -v npm >/dev/null; then
  echo "npm is missing: install Node.js 20+ (apt-get install -y nodejs npm)" >&2
  exit 1
fi

want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
stamp=node_modules/.evstore-lock-stamp
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
printf '==> %s\n' "npm ci (js/)"
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
