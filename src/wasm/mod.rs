//! The JavaScript API of the npm package `evstore` — the only place with `#[wasm_bindgen]`.
//!
//! Thin wrappers over the Rust core: every semantic (validation, expected versions, paging,
//! subscriptions, the projector) is the core's; this layer converts values, turns errors into JS
//! `Error`s with a stable `code`, and keeps user callbacks from breaking the store. Its
//! JavaScript helpers live in one module, `glue.js` (one file for the browser to fetch: a test
//! server that serves few connections at once stalled on eight separate snippets).

mod abort;
mod append_many;
mod backend;
mod broadcast;
mod convert;
mod decider;
mod error;
mod export;
mod iterator;
mod lifecycle;
mod projector;
mod reads;
mod storage_pressure;
mod store;
mod stream_lifecycle;
mod subscription;
mod sync;
mod typescript;
mod upcast;
mod wait;
