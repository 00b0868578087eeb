//! `make bench`: evstore over SQLite beside a raw rusqlite baseline, in the same run.
//! The benchmarks live in `native/bench.rs`; see BENCHMARKS.md. Native targets only (the wasm
//! build of `--all-targets` gets an empty main).

#[cfg(not(target_arch = "wasm32"))]
#[path = "native/bench.rs"]
mod bench;

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    bench::main();
}
