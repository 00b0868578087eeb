#!/usr/bin/env bash
# Runs every browser test (tests/wasm_*.rs) in headless Chromium and prints the counts.
#
#   scripts/test-browser.sh                  # all browser tests
#   scripts/test-browser.sh -- checkpoints   # extra arguments go to `cargo test`
#
# `cargo test --target wasm32-unknown-unknown` hands each test binary to wasm-bindgen-test-runner
# (the runner set in .cargo/config.toml), which serves it to Chromium through chromedriver. The
# runner already passes --headless --no-sandbox --disable-dev-shm-usage, which is what Chromium
# needs as root. Exits non-zero when a test fails or when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v wasm-bindgen-test-runner >/dev/null || ! command -v chromedriver >/dev/null; then
  scripts/ensure-tools.sh
fi

export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
# Seconds a whole test binary may take in the browser (the runner's default is 20).
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-180}"
# Seconds chromedriver and Chromium get to start on a busy 2-core machine (default 5).
export WASM_BINDGEN_TEST_DRIVER_TIMEOUT="${WASM_BINDGEN_TEST_DRIVER_TIMEOUT:-30}"

targets=()
for file in tests/wasm_*.rs; do
  [ -e "$file" ] || continue
  name=$(basename "$file" .rs)
  targets+=(--test "$name")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "no browser tests found (tests/wasm_*.rs)" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --target wasm32-unknown-unknown --no-fail-fast "${targets[@]}" "$@" 2>&1 | tee "$log" ||
  status=$?

# Each test binary reports "test result: ok. N passed; M failed; ...".
binaries=$(grep -c '^test result:' "$log" || true)
summary=$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$log")
echo
echo "browser tests: $binaries test binaries in headless Chromium"
echo "browser: $summary"
if ! grep -q '^test result:' "$log"; then
  echo "no browser test ran" >&2
  exit 1
fi
exit "$status"
