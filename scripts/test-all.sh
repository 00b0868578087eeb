#!/usr/bin/env bash
# `make test`: installs what is missing, checks formatting and lints on both targets, runs the
# native tests (memory + SQLite, and PostgreSQL on a private server the tests start), the tests
# of the `evstore` program (a real `evstore serve` and the CLI on real files), the browser tests
# (memory + IndexedDB in headless Chromium) and the JavaScript end-to-end tests of the npm
# package, checks the packages as published (the crate, its docs as docs.rs builds them, the
# `evstore` program installed by `cargo install`, the npm package installed from its tarball),
# and prints how many tests ran where.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/ensure-tools.sh

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
step() { printf '\n==> %s\n' "$*"; }
# Sums the "test result: ok. N passed; M failed" lines of cargo/wasm-bindgen logs and the final
# "N passed, M failed" line of the JS log.
tally() {
  awk '/^test result:/ { p += $4; f += $6 }
       /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
       END { printf "%d passed, %d failed", p, f }' "$@"
}

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (native, the whole workspace: library and evstore program)"
cargo clippy --quiet --workspace --all-targets -- -D warnings

step "clippy (native, the library with feature postgres)"
cargo clippy --quiet -p evstore --all-targets --features postgres -- -D warnings

step "clippy (native, the library with its native sync HTTP client: feature sync)"
cargo clippy --quiet -p evstore --all-targets --features sync -- -D warnings

step "clippy (wasm32-unknown-unknown, the library)"
cargo clippy --quiet -p evstore --target wasm32-unknown-unknown --all-targets -- -D warnings

step "native tests: memory + SQLite + PostgreSQL (cargo test --features postgres,sync)"
cargo test --features postgres,sync 2>&1 | tee "$logs/native.log"
# The PostgreSQL test binary's results get their own line.
awk '/^ *Running / { pg = /postgres_native/ } /^ *Doc-tests / { pg = 0 }
     { print > (pg ? "'"$logs"'/postgres.log" : "'"$logs"'/memory-sqlite.log") }' "$logs/native.log"
touch "$logs/postgres.log"
native=$(tally "$logs/memory-sqlite.log")
postgres=$(tally "$logs/postgres.log")

step "the evstore program: HTTP API against a real evstore serve, CLI on real files (cargo test -p evstore-cli)"
cargo test -p evstore-cli 2>&1 | tee "$logs/server.log"
server=$(tally "$logs/server.log")

step "browser tests: memory + IndexedDB in headless Chromium"
scripts/test-browser.sh 2>&1 | tee "$logs/browser.log"
browser=$(tally "$logs/browser.log")

step "JavaScript: tsc --strict + end-to-end tests of the npm package in headless Chromium"
scripts/test-js.sh 2>&1 | tee "$logs/js.log"
js=$(tail -n 1 "$logs/js.log")

step "packages as published: the crate, its docs, the evstore program, the npm package"
scripts/test-packages.sh 2>&1 | tee "$logs/packages.log"
packages=$(tail -n 1 "$logs/packages.log")

step "summary"
# The sync tests among those: the sync conformance suite (native, browser), evsync/1 against a
# real evstore serve (server), the browser sync client against it (JavaScript).
sync_native=$(grep -cE '^test (.*::)?sync[_:].* \.\.\. ok$' "$logs/native.log" || true)
sync_server=$(grep -cE '^test sync_.* \.\.\. ok$' "$logs/server.log" || true)
sync_browser=$(grep -cE '^test (.*::)?sync_.* \.\.\. ok$' "$logs/browser.log" || true)
sync_js=$(grep -cE '✔ sync: ' "$logs/js.log" || true)
# Not in the summary file: its lines are what the total adds up.
echo "sync, among the tests below (evsync/1): $sync_native native, $sync_browser browser, $sync_server server, $sync_js JavaScript"
{
  echo "native (memory, SQLite):       $native"
  echo "PostgreSQL (private server):   $postgres"
  echo "server, CLI (evstore program): $server"
  echo "browser (memory, IndexedDB):   $browser"
  echo "JavaScript (npm package, demo): $js"
  echo "packages (crate, CLI, npm):    $packages"
} | tee "$logs/summary"
for log in memory-sqlite postgres server browser; do
  if ! grep -q '^test result:' "$logs/$log.log"; then
    echo "no test ran in $log" >&2
    exit 1
  fi
done
grep -qE '^[1-9][0-9]* passed, 0 failed$' "$logs/js.log" || { echo "no JS test ran" >&2; exit 1; }
grep -qE '^[1-9][0-9]* passed, 0 failed$' "$logs/packages.log" || { echo "no package check ran" >&2; exit 1; }
# Each summary line ends with "N passed, M failed".
awk '{ p += $(NF - 3); f += $(NF - 1) } END { printf "%d passed, %d failed\n", p, f }' "$logs/summary"
