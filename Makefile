# The two set-up commands are `make demo` and `make test`; both install what is missing.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: test demo tools

## make test — install missing tools, lint both targets, run every test (native + headless Chromium)
test:
	scripts/test-all.sh

## make demo — build and run the native examples (the bank runs twice to show resumption)
demo:
	cargo run --quiet --example quickstart
	cargo run --quiet --example bank -- --fresh
	cargo run --quiet --example bank

## make tools — only install what is missing
tools:
	scripts/ensure-tools.sh
