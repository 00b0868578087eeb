#!/usr/bin/env bash
# The JS side of `make test`: type-checks a strict TypeScript file that uses every API against the
# built pkg/evstore.d.ts, then runs the end-to-end tests (js/tests/*.test.js, node's test runner)
# in headless Chromium driven by playwright-core, against the built package and the www/ demo
# served from a static server on a free 127.0.0.1 port. Screenshots go to test-output/.
#
#   scripts/test-js.sh                        # everything
#   scripts/test-js.sh js/tests/api.test.js   # some test files only
#
# Installs what is missing (npm ci into js/node_modules; Chromium via ensure-tools.sh), rebuilds
# pkg/ only when its inputs changed, ends with a line `N passed, M failed` (the tsc check counts
# as one test) and exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  scripts/ensure-tools.sh
fi

step "npm dependencies (js/)"
scripts/js-deps.sh

step "build pkg/"
scripts/build-pkg.sh

step "build the evstore program (the export test runs evstore import/export)"
cargo build --quiet -p evstore-cli
export EVSTORE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/evstore"

output="$root/test-output"
mkdir -p "$output"
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0

step "tsc --noEmit --strict (js/types/usage.ts against pkg/evstore.d.ts)"
if js/node_modules/.bin/tsc -p js/tsconfig.json; then
  echo "tsc: ok"
  passed=$((passed + 1))
else
  echo "tsc: FAILED"
  failed=$((failed + 1))
fi

step "static server for $root"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$root" >"$work/server.out" 2>"$output/server.log" &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.* port \([0-9][0-9]*\) .*/\1/p' "$work/server.out" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "the static server did not start" >&2
  cat "$output/server.log" >&2 || true
  exit 1
fi
export EVSTORE_BASE_URL="http://127.0.0.1:$port"
export EVSTORE_TEST_OUTPUT="$output"
export CHROMIUM="$chromium"
echo "serving on $EVSTORE_BASE_URL"

step "end-to-end tests in headless Chromium ($chromium)"
if [ $# -gt 0 ]; then
  files=()
  for file in "$@"; do files+=("$(realpath "$file")"); done
else
  files=("$root"/js/tests/*.test.js)
fi
status=0
(cd js && node --test --test-concurrency=1 --test-timeout=180000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$work/results.tap" \
  "${files[@]}") || status=$?

tap_pass=$(awk '/^# pass / { print $3 }' "$work/results.tap" | tail -n 1)
tap_fail=$(awk '/^# fail / { print $3 }' "$work/results.tap" | tail -n 1)
tap_cancelled=$(awk '/^# cancelled / { print $3 }' "$work/results.tap" | tail -n 1)
tap_todo=$(awk '/^# todo / { print $3 }' "$work/results.tap" | tail -n 1)
if [ -z "$tap_pass" ] || [ -z "$tap_fail" ]; then
  echo "no test results from node --test" >&2
  failed=$((failed + 1))
else
  passed=$((passed + tap_pass))
  failed=$((failed + tap_fail + ${tap_cancelled:-0}))
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi

step "summary"
echo "screenshots: $(find "$output" -maxdepth 1 -name '*.png' | wc -l) in test-output/"
echo "js: tsc check + end-to-end tests in Chromium"
if [ "${tap_todo:-0}" -gt 0 ]; then
  echo "known issues (node --test todo, not counted): $tap_todo"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
