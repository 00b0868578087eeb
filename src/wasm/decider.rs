//! The JS `Decider`: the command helper of an aggregate (the Rust `Repository` for JS). It
//! loads a stream by folding its events with `evolve` from `initialState()`, asks `decide` for
//! new events, appends them with the loaded version as the expected version, and on a
//! conflict (another writer appended meanwhile) loads and decides again, up to `maxAttempts`.
//! What `decide` (or `evolve`) throws is passed through untouched: domain errors stay the
//! application's, apart from the store's `EvstoreError`s.
//!
//! Everything it does is calls of the app's functions and of the store's JS API, so it is
//! written in JS over that API (`glue.js`; Rust glue around every callback cost the package
//! ~4 KB gzipped); the class JS sees is this Rust type, for the same disposal as every other
//! class (`lifecycle.rs`).

use wasm_bindgen::prelude::*;

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    type Decide;

    /// The JS implementation over `store`'s API; throws `InvalidInput` for bad options.
    #[wasm_bindgen(catch)]
    fn decider(store: &JsValue, options: &JsValue) -> Result<Decide, JsValue>;

    #[wasm_bindgen(method)]
    fn load(this: &Decide, stream: &JsValue) -> js_sys::Promise;

    #[wasm_bindgen(method)]
    fn handle(
        this: &Decide,
        stream: &JsValue,
        command: &JsValue,
        options: &JsValue,
    ) -> js_sys::Promise;
}

/// Loads, decides and appends with optimistic concurrency. Its TypeScript declaration is
/// written in `typescript.rs`.
#[wasm_bindgen(js_name = Decider, skip_typescript)]
pub struct JsDecider {
    /// `None` only for the detached instance.
    inner: Option<Decide>,
}

#[wasm_bindgen(js_class = Decider)]
impl JsDecider {
    /// A decider over `store` (an `EventStore`): `options` has `initialState()`,
    /// `evolve(state, event)`, `decide(command, state)` and optionally `maxAttempts` (default 3).
    #[wasm_bindgen(constructor)]
    pub fn new(store: JsValue, options: JsValue) -> Result<JsDecider, JsValue> {
        Ok(JsDecider {
            inner: Some(decider(&store, &options)?),
        })
    }

    /// The state of `stream` and its version: `{ state, version }` (version 0 = no stream).
    pub fn load(&self, stream: JsValue) -> js_sys::Promise {
        match &self.inner {
            Some(inner) => inner.load(&stream),
            None => closed(),
        }
    }

    /// Runs `command` against `stream`: load, decide, append with the loaded version; on a
    /// conflict, again (up to `maxAttempts`). Resolves `{ state, version, events, appended,
    /// attempts }` (`appended` is `null` when `decide` returned no events). Aborting
    /// `options.signal` rejects with its reason.
    pub fn handle(&self, stream: JsValue, command: JsValue, options: JsValue) -> js_sys::Promise {
        match &self.inner {
            Some(inner) => inner.handle(&stream, &command, &options),
            None => closed(),
        }
    }
}

fn closed() -> js_sys::Promise {
    js_sys::Promise::reject(&super::error::to_js(crate::error::Error::Closed))
}

impl JsDecider {
    /// A decider that decides nothing (for `lifecycle.rs`).
    pub fn detached() -> Self {
        JsDecider { inner: None }
    }
}
