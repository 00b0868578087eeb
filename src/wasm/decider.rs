//! The JS `Decider`: the command helper of an aggregate (the Rust `Repository` for JS). It
//! loads a stream by folding its events with `evolve` from `initialState()`, asks `decide` for
//! new events, appends them with the loaded version as the expected version, and on a
//! conflict (another writer appended meanwhile) loads and decides again, up to `maxAttempts`.
//! What `decide` (or `evolve`) throws is passed through untouched: domain errors stay the
//! application's, apart from the store's `EvstoreError`s.
//!
//! Everything it does is calls of the app's functions and of the store's JS API, so it is
//! written in JS over that API (one module-sized class instead of Rust glue around every
//! callback, which cost the package ~4 KB gzipped); the class JS sees is this Rust type, for
//! the same disposal as every other class (`lifecycle.rs`).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
function invalid(reason) {
  const error = new Error(reason);
  error.name = "EvstoreError";
  error.code = "InvalidInput";
  error.reason = reason;
  return error;
}

function describe(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

function isConflict(error) {
  return error instanceof Error && error.name === "EvstoreError" && error.code === "WrongExpectedVersion";
}

class Decide {
  constructor(store, options) {
    if (store === null || typeof store !== "object" || typeof store.iterateStream !== "function") {
      throw invalid(`a Decider needs an EventStore, got ${describe(store)}`);
    }
    if (options === null || typeof options !== "object") {
      throw invalid(`the decider's options must be an object, got ${describe(options)}`);
    }
    for (const key of ["initialState", "evolve", "decide"]) {
      if (typeof options[key] !== "function") throw invalid(`the decider's \`${key}\` must be a function`);
    }
    const attempts = options.maxAttempts ?? 3;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw invalid(`maxAttempts must be an integer of at least 1, got ${describe(options.maxAttempts)}`);
    }
    this.store = store;
    this.options = options;
    this.maxAttempts = attempts;
  }

  async load(stream) {
    let state = this.options.initialState();
    let version = 0;
    for await (const event of this.store.iterateStream(stream)) {
      state = this.options.evolve(state, event);
      version = event.version;
    }
    return { state, version };
  }

  async handle(stream, command, options) {
    const { metadata, correlationId, causationId, signal } = options ?? {};
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw invalid(`signal must be an AbortSignal, got ${describe(signal)}`);
    }
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const { state, version } = await this.load(stream);
      const decided = await this.options.decide(command, state);
      if (!Array.isArray(decided)) {
        throw invalid(`decide must return an array of events, got ${describe(decided)}`);
      }
      if (decided.length === 0) {
        return { state, version, events: decided, appended: null, attempts: attempt };
      }
      const events = decided.map((event) => ({
        ...event,
        metadata: event.metadata ?? metadata,
        correlationId: event.correlationId ?? correlationId,
        causationId: event.causationId ?? causationId,
      }));
      let appended;
      try {
        appended = await this.store.append(stream, events, {
          expectedVersion: version === 0 ? "no_stream" : version,
        });
      } catch (error) {
        if (isConflict(error) && attempt < this.maxAttempts) continue;
        throw error;
      }
      const next = decided.reduce((current, event) => this.options.evolve(current, event), state);
      return { state: next, version: appended.nextExpectedVersion, events: decided, appended, attempts: attempt };
    }
  }
}

export function decider(store, options) {
  return new Decide(store, options);
}
"#)]
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
