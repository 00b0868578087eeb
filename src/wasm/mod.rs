//! The JavaScript API of the npm package `evstore` — the only place with `#[wasm_bindgen]`.
//!
//! Thin wrappers over the Rust core: every semantic (validation, expected versions, paging,
//! subscriptions, the projector) is the core's; this layer converts values, turns errors into JS
//! `Error`s with a stable `code`, and keeps user callbacks from breaking the store.

mod backend;
mod broadcast;
mod convert;
mod error;
mod export;
mod projector;
mod store;
mod subscription;
mod typescript;
