# The two set-up commands are `make demo` and `make test`; both install what is missing.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: test demo tools pkg bench bench-browser

## make test — install what is missing, lint both targets, run every test: native (memory +
## SQLite + PostgreSQL on a private server), wasm in headless Chromium (memory + IndexedDB), JS
## end-to-end of the npm package, and the crate, the evstore program and the npm package as
## published (scripts/test-packages.sh)
test:
	scripts/test-all.sh

## make demo — the native examples (the bank runs twice to show resumption), then the browser
## demo served on http://127.0.0.1:8080 beside `evstore serve` on 127.0.0.1:7070 for its sync
## mode (http://127.0.0.1:8080/?sync); Ctrl-C stops both
demo:
	cargo run --quiet --example quickstart
	cargo run --quiet --example bank -- --fresh
	cargo run --quiet --example bank
	scripts/demo-serve.sh

## make pkg — the npm package in pkg/ (release, wasm-opt), with its .wasm size
pkg:
	scripts/build-pkg.sh

## make bench — native benchmarks beside raw rusqlite and raw tokio-postgres;
## make bench-browser — beside raw IndexedDB
bench:
	scripts/bench-native.sh

bench-browser:
	scripts/bench-browser.sh

## make tools — only install what is missing
tools:
	scripts/ensure-tools.sh
