//! Accounts as aggregates and a balance projection with a durable checkpoint, over one SQLite
//! file. Run it twice: the second run resumes the projection after its checkpoint instead of
//! replaying the whole store.
//!
//! ```text
//! cargo run --example bank            # uses target/bank.db, kept between runs
//! cargo run --example bank -- --fresh # starts over
//! ```
//!
//! The example needs SQLite, so it is native only: on `wasm32` it builds to an empty module.
#![cfg_attr(target_arch = "wasm32", no_main)]

#[cfg(not(target_arch = "wasm32"))]
#[path = "bank/app.rs"]
mod app;

#[cfg(not(target_arch = "wasm32"))]
use app::main;
