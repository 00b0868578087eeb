#!/usr/bin/env bash
# `make test`: installs what is missing, checks formatting and lints on both targets, runs the
# native tests (memory + SQLite), then the browser tests (memory + IndexedDB in headless
# Chromium), and prints how many tests ran where.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/ensure-tools.sh

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
step() { printf '\n==> %s\n' "$*"; }
# Sums the "test result: ok. N passed; M failed" lines of a cargo/wasm-bindgen log.
tally() { awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$1"; }

step "cargo fmt --check"
cargo fmt --check

step "clippy (native)"
cargo clippy --quiet --all-targets -- -D warnings

step "clippy (wasm32-unknown-unknown)"
cargo clippy --quiet --target wasm32-unknown-unknown --all-targets -- -D warnings

step "native tests: memory + SQLite (cargo test)"
cargo test 2>&1 | tee "$logs/native.log"
native=$(tally "$logs/native.log")

step "browser tests: memory + IndexedDB in headless Chromium"
scripts/test-browser.sh 2>&1 | tee "$logs/browser.log"
browser=$(tally "$logs/browser.log")

step "summary"
echo "native (memory, SQLite):       $native"
echo "browser (memory, IndexedDB):   $browser"
for log in "$logs"/*.log; do
  if ! grep -q '^test result:' "$log"; then
    echo "no test ran in $(basename "$log" .log)" >&2
    exit 1
  fi
done
cat "$logs"/*.log | tally /dev/stdin
echo
