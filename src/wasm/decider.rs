//! The JS `Decider`: the command helper of an aggregate (the Rust `Repository` for JS). It
//! loads a stream by folding its events with `evolve` from `initialState()`, asks `decide` for
//! new events, appends them with the loaded version as the expected version, and on a
//! conflict (another writer appended meanwhile) loads and decides again, up to `maxAttempts`.
//! What `decide` (or `evolve`) throws is passed through untouched: domain errors stay the
//! application's, apart from the store's `EvstoreError`s.

use futures::StreamExt;
use js_sys::{Array, Function, Object, Promise, Reflect};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::abort::{self, AbortSignal};
use super::backend::BrowserStorage;
use super::convert;
use super::error::to_js;
use super::store::JsEventStore;
use crate::error::{Error, ErrorKind};
use crate::store::EventStore;
use crate::types::{ExpectedVersion, NewEvent, ReadStreamOptions};

/// Tries per command unless `maxAttempts` says otherwise.
const DEFAULT_ATTEMPTS: u32 = 3;

/// Loads, decides and appends with optimistic concurrency. Its TypeScript declaration is
/// written in `typescript.rs`.
#[wasm_bindgen(js_name = Decider, skip_typescript)]
pub struct JsDecider {
    store: EventStore<BrowserStorage>,
    /// `None` only for the detached instance.
    core: Option<Decide>,
}

#[derive(Clone)]
struct Decide {
    initial_state: Function,
    evolve: Function,
    decide: Function,
    max_attempts: u32,
}

fn function(options: &JsValue, key: &str) -> Result<Function, Error> {
    convert::field(options, key)?
        .dyn_into::<Function>()
        .map_err(|_| Error::invalid_input(format!("the decider's `{key}` must be a function")))
}

/// Calls `callback`, awaiting a returned promise; a throw or rejection passes through as is.
async fn call(callback: &Function, args: &Array) -> Result<JsValue, JsValue> {
    let returned = callback.apply(&JsValue::NULL, args)?;
    match returned.dyn_into::<Promise>() {
        Ok(promise) => JsFuture::from(promise).await,
        Err(value) => Ok(value),
    }
}

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in fields {
        // Setting a property on a fresh object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}

/// What `handle` stamps on the decided events that do not carry their own.
struct Stamp {
    metadata: Value,
    correlation_id: Option<String>,
    causation_id: Option<String>,
}

impl Stamp {
    fn from_options(options: &JsValue) -> Result<Self, Error> {
        let metadata = convert::field(options, "metadata")?;
        let text = |key: &str| -> Result<Option<String>, Error> {
            let value = convert::field(options, key)?;
            if value.is_undefined() || value.is_null() {
                return Ok(None);
            }
            value
                .as_string()
                .map(Some)
                .ok_or_else(|| Error::invalid_input(format!("{key} must be a string")))
        };
        let metadata = if metadata.is_undefined() {
            Value::Null
        } else {
            // The same checks as an event's metadata.
            let probe = object(&[("type", "".into()), ("metadata", metadata)]);
            convert::new_events(&Array::of1(&probe))?.remove(0).metadata
        };
        Ok(Stamp {
            metadata,
            correlation_id: text("correlationId")?,
            causation_id: text("causationId")?,
        })
    }

    fn apply(&self, event: &mut NewEvent) {
        if event.metadata.is_null() {
            event.metadata = self.metadata.clone();
        }
        if event.correlation_id.is_none() {
            event.correlation_id = self.correlation_id.clone();
        }
        if event.causation_id.is_none() {
            event.causation_id = self.causation_id.clone();
        }
    }
}

impl Decide {
    /// The state of `stream` and its version (0 = no stream).
    async fn load(
        &self,
        store: &EventStore<BrowserStorage>,
        stream: &str,
    ) -> Result<(JsValue, u64), JsValue> {
        let mut state = call(&self.initial_state, &Array::new()).await?;
        let mut version = 0;
        let mut events = store
            .stream_events(stream, ReadStreamOptions::new())
            .map_err(to_js)?;
        while let Some(event) = events.next().await {
            let event = event.map_err(to_js)?;
            state = call(
                &self.evolve,
                &Array::of2(&state, &convert::recorded_event(&event)),
            )
            .await?;
            version = event.version;
        }
        Ok((state, version))
    }

    async fn handle(
        &self,
        store: &EventStore<BrowserStorage>,
        stream: &str,
        command: &JsValue,
        stamp: &Stamp,
        signal: Option<&AbortSignal>,
    ) -> Result<JsValue, JsValue> {
        let mut attempt = 1;
        loop {
            if let Some(signal) = signal.filter(|s| s.is_aborted()) {
                return Err(signal.rejection());
            }
            let (mut state, version) = self.load(store, stream).await?;
            let decided = call(&self.decide, &Array::of2(command, &state)).await?;
            let mut events = convert::new_events(&decided).map_err(|error| {
                to_js(Error::invalid_input(format!(
                    "decide must return an array of events: {error}"
                )))
            })?;
            let appended = if events.is_empty() {
                JsValue::NULL
            } else {
                for event in &mut events {
                    stamp.apply(event);
                }
                let expected = match version {
                    0 => ExpectedVersion::NoStream,
                    version => ExpectedVersion::Exact(version),
                };
                match store.append(stream, expected, events).await {
                    Ok(result) => convert::append_result(result),
                    Err(error)
                        if error.kind() == ErrorKind::WrongExpectedVersion
                            && attempt < self.max_attempts =>
                    {
                        attempt += 1;
                        continue;
                    }
                    Err(error) => return Err(to_js(error)),
                }
            };
            let decided = Array::from(&decided);
            for event in decided.iter() {
                state = call(&self.evolve, &Array::of2(&state, &event)).await?;
            }
            let version = if appended.is_null() {
                version
            } else {
                version + decided.length() as u64
            };
            return Ok(object(&[
                ("state", state),
                ("version", (version as f64).into()),
                ("events", decided.into()),
                ("appended", appended),
                ("attempts", attempt.into()),
            ]));
        }
    }
}

#[wasm_bindgen(js_class = Decider)]
impl JsDecider {
    /// A decider over `store`: `options` has `initialState()`, `evolve(state, event)`,
    /// `decide(command, state)` and optionally `maxAttempts` (default 3).
    #[wasm_bindgen(constructor)]
    pub fn new(store: &JsEventStore, options: JsValue) -> Result<JsDecider, JsValue> {
        (|| {
            let max_attempts = match convert::field(&options, "maxAttempts")? {
                value if value.is_undefined() => DEFAULT_ATTEMPTS,
                value => match value.as_f64() {
                    Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => n as u32,
                    _ => {
                        return Err(Error::invalid_input(format!(
                            "maxAttempts must be an integer of at least 1, got {}",
                            super::error::describe(&value)
                        )))
                    }
                },
            };
            Ok(JsDecider {
                store: store.store.clone(),
                core: Some(Decide {
                    initial_state: function(&options, "initialState")?,
                    evolve: function(&options, "evolve")?,
                    decide: function(&options, "decide")?,
                    max_attempts,
                }),
            })
        })()
        .map_err(to_js)
    }

    /// The state of `stream` and its version: `{ state, version }` (version 0 = no stream).
    pub fn load(&self, stream: JsValue) -> Promise {
        let (store, core) = (self.core_store(), self.core.clone());
        future_to_promise(async move {
            let (store, core) = (store?, core.ok_or_else(|| to_js(Error::Closed))?);
            let stream = convert::stream_id(&stream).map_err(to_js)?;
            let (state, version) = core.load(&store, &stream).await?;
            Ok(object(&[
                ("state", state),
                ("version", (version as f64).into()),
            ]))
        })
    }

    /// Runs `command` against `stream`: load, decide, append with the loaded version; on a
    /// conflict, again (up to `maxAttempts`). Resolves `{ state, version, events, appended,
    /// attempts }` (`appended` is `null` when `decide` returned no events).
    pub fn handle(&self, stream: JsValue, command: JsValue, options: JsValue) -> Promise {
        let (store, core) = (self.core_store(), self.core.clone());
        let input = (|| {
            Ok::<_, Error>((
                convert::stream_id(&stream)?,
                Stamp::from_options(&options)?,
                abort::signal(&options)?,
            ))
        })();
        future_to_promise(async move {
            let (store, core) = (store?, core.ok_or_else(|| to_js(Error::Closed))?);
            let (stream, stamp, signal) = input.map_err(to_js)?;
            crate::types::validate_stream_id(&stream).map_err(to_js)?;
            core.handle(&store, &stream, &command, &stamp, signal.as_ref())
                .await
        })
    }
}

impl JsDecider {
    /// A decider that decides nothing (for `lifecycle.rs`).
    pub fn detached(store: &JsEventStore) -> Self {
        JsDecider {
            store: store.store.clone(),
            core: None,
        }
    }

    /// The store while it is usable.
    fn core_store(&self) -> Result<EventStore<BrowserStorage>, JsValue> {
        super::store::live(&self.store).map_err(to_js)
    }
}
