//! evstore in five steps over a SQLite file: append typed events, lose an optimistic-concurrency
//! race, retry an append safely, read a stream back, and follow the store with a subscription
//! that catches up and then sees a live append.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Each run starts from a fresh database in a temporary directory.
//!
//! The example needs SQLite, so it is native only: on `wasm32` it builds to an empty module.
#![cfg_attr(target_arch = "wasm32", no_main)]

#[cfg(not(target_arch = "wasm32"))]
#[path = "quickstart/app.rs"]
mod app;

#[cfg(not(target_arch = "wasm32"))]
use app::main;
