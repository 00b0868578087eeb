#!/usr/bin/env bash
# `make bench`: the native benchmarks in release (benches/native.rs) — evstore over SQLite beside a
# raw rusqlite baseline, and over PostgreSQL (a private server with fsync on, started by the
# benchmark) beside a raw tokio-postgres baseline, each doing the same work in the same run — then
# the report: the tables on stdout, bench/results.json (sections "native" and "postgres"),
# bench/ratios.svg and the native and PostgreSQL tables of BENCHMARKS.md. Takes a few minutes
# after the build on a 2-core machine (the build ~2 min cold).
#
#   scripts/bench-native.sh
#   BENCH_RUNS=7 scripts/bench-native.sh             # more runs per workload (default 5)
#   BENCH_SCALE=0.1 scripts/bench-native.sh          # a quick look at a tenth of the counts
#   BENCH_ONLY=append,read scripts/bench-native.sh   # some workload groups only
#
# Groups: append, single, read, catchup, live, cross, cross-default, projector, growth, writers,
# readers, idle, postgres.
# BENCH_TMP picks the directory of the databases (default: the system temp dir; ~450 MB for the
# 1M-event store, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

step "cargo bench --features postgres --bench native (release profile: lto, codegen-units = 1)"
cargo bench --features postgres --bench native

if command -v node >/dev/null; then
  step "report: bench/ratios.svg and the tables of BENCHMARKS.md"
  node bench/report.mjs
else
  echo "node not found: bench/results.json written, BENCHMARKS.md and bench/ratios.svg not updated"
fi

step "cargo bench -p evstore-cli --bench sync (evsync/1 against a real evstore serve; see BENCHMARKS.md)"
cargo bench -p evstore-cli --bench sync
