#!/usr/bin/env bash
# `make bench-browser`: builds the npm package (scripts/build-pkg.sh → pkg/), then runs
# bench/browser/ in headless Chromium through playwright-core (js/node_modules): evstore beside raw
# IndexedDB in the same page, several interleaved runs per workload, plus the .wasm size. Prints
# the table, writes the "browser" section of bench/results.json, then bench/ratios.svg and the
# browser table of BENCHMARKS.md. About 2 minutes on a 2-core machine once pkg/ is built.
#
#   scripts/bench-browser.sh
#   BENCH_RUNS=7 scripts/bench-browser.sh       # more runs per workload (default 5)
#   BENCH_SCALE=0.1 scripts/bench-browser.sh    # a quick look at a tenth of the counts
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  scripts/ensure-tools.sh
fi

step "npm dependencies (js/)"
scripts/js-deps.sh

step "build pkg/"
scripts/build-pkg.sh

step "browser benchmarks in headless Chromium"
node bench/browser/run.mjs

step "report: bench/ratios.svg and the tables of BENCHMARKS.md"
node bench/report.mjs
