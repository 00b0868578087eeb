//! The JS `Projector` class.

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::oneshot;
use js_sys::{Array, Function, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::backend::BrowserStorage;
use super::convert;
use super::error::{thrown_message, to_js};
use super::reads::JsEvents;
use super::store::{promise, JsEventStore};
use crate::error::{Error, Result};
use crate::platform::BoxFuture;
use crate::projector::{
    BatchHandler, ProjectionOptions, ProjectionState, Projections, Projector, ProjectorHandle,
};
use crate::store::EventStore;

struct Registration {
    name: String,
    handler: Function,
    options: ProjectionOptions,
}

struct Running {
    handle: ProjectorHandle<BrowserStorage>,
    done: oneshot::Receiver<Result<()>>,
    /// Tells this run apart from a later one.
    run: Rc<()>,
}

/// Runs named projections with durable checkpoints over a store. Its TypeScript declaration is
/// written in `typescript.rs`.
#[wasm_bindgen(js_name = Projector, skip_typescript)]
pub struct JsProjector {
    store: EventStore<BrowserStorage>,
    registrations: Rc<RefCell<Vec<Registration>>>,
    running: Rc<RefCell<Option<Running>>>,
    /// The handle of the last run, for statuses after it stopped.
    last: Rc<RefCell<Option<ProjectorHandle<BrowserStorage>>>>,
}

/// A JS handler as a projection handler over JS event objects (see `reads::JsEvents`): its
/// throw or rejection is a handler failure (retried per the retry policy), never an error of
/// the store.
fn handler(function: Function) -> Box<dyn BatchHandler<JsValue>> {
    Box::new(move |events: Vec<JsValue>| {
        let events: Array = events.into_iter().collect();
        let returned = function.call1(&JsValue::NULL, &events);
        let settled: BoxFuture<'static, std::result::Result<(), String>> = Box::pin(async move {
            match returned {
                Err(thrown) => Err(thrown_message(&thrown)),
                Ok(value) => match value.dyn_into::<Promise>() {
                    Ok(promise) => JsFuture::from(promise)
                        .await
                        .map(drop)
                        .map_err(|e| thrown_message(&e)),
                    Err(_) => Ok(()),
                },
            }
        });
        settled
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsStatus<'a> {
    state: &'a str,
    checkpoint: u64,
    handled: u64,
    failed_attempts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_position: Option<u64>,
}

#[wasm_bindgen(js_class = Projector)]
impl JsProjector {
    /// A projector over `store`.
    #[wasm_bindgen(constructor)]
    pub fn new(store: &JsEventStore) -> JsProjector {
        JsProjector {
            store: store.store.clone(),
            registrations: Rc::default(),
            running: Rc::default(),
            last: Rc::default(),
        }
    }

    /// Adds projection `name`: `handler` receives arrays of events (length 1 unless batched).
    /// Throws `InvalidInput` while the projector runs: stop it first.
    pub fn add(
        &self,
        name: JsValue,
        handler: JsValue,
        options: JsValue,
    ) -> std::result::Result<(), JsValue> {
        self.register(name, handler, options).map_err(to_js)
    }

    /// Starts every projection; each resumes after its stored checkpoint.
    pub fn start(&self) -> Promise {
        let started = self.launch();
        promise(async move { started.map(|()| JsValue::UNDEFINED) })
    }

    /// Stops gracefully: batches in flight finish and their checkpoints are saved.
    pub fn stop(&self) -> Promise {
        let running = self.running.borrow_mut().take();
        // Asked now, not when the promise first runs: no new batch starts after this call.
        if let Some(running) = &running {
            running.handle.stop();
        }
        promise(async move {
            let Some(Running { done, .. }) = running else {
                return Ok(JsValue::UNDEFINED);
            };
            done.await.unwrap_or(Ok(()))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The stored checkpoint of projection `name`: the last position it handled (0 if none).
    pub fn checkpoint(&self, name: JsValue) -> Promise {
        let handle = self.handle();
        promise(
            async move { Ok((handle.checkpoint(&projection_name(&name)?).await? as f64).into()) },
        )
    }

    /// The events projection `name` skipped (`onFailure: "skip"`).
    pub fn skipped(&self, name: JsValue) -> Promise {
        let handle = self.handle();
        promise(async move {
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct JsSkipped {
                position: u64,
                event_id: String,
                stream_id: String,
                event_type: String,
                error: String,
                skipped_at: u64,
            }
            let skipped: Vec<JsSkipped> = handle
                .skipped(&projection_name(&name)?)
                .await?
                .into_iter()
                .map(|s| JsSkipped {
                    position: s.position,
                    event_id: s.event_id,
                    stream_id: s.stream_id,
                    event_type: s.event_type,
                    error: s.error,
                    skipped_at: s.skipped_at,
                })
                .collect();
            Ok(convert::plain(&skipped))
        })
    }

    /// Rebuilds projection `name` from the start on the next `start()`. Rejects while running.
    pub fn reset(&self, name: JsValue) -> Promise {
        let running = self.running.borrow().is_some();
        let handle = self.handle();
        promise(async move {
            if running {
                return Err(Error::invalid_input(
                    "stop the projector before resetting a projection",
                ));
            }
            handle.reset(&projection_name(&name)?).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The state of projection `name` in the current or last run, or `undefined`.
    pub fn status(&self, name: JsValue) -> JsValue {
        let Some(name) = name.as_string() else {
            return JsValue::UNDEFINED;
        };
        let Some(status) = self
            .last
            .borrow()
            .as_ref()
            .and_then(|handle| handle.status(&name))
        else {
            let known = self.registrations.borrow().iter().any(|r| r.name == name);
            return if known {
                idle_status()
            } else {
                JsValue::UNDEFINED
            };
        };
        let (state, error, failed_position) = match &status.state {
            ProjectionState::Idle => ("idle", None, None),
            ProjectionState::Running => ("running", None, None),
            ProjectionState::Stopped => ("stopped", None, None),
            ProjectionState::Failed { position, error } => {
                ("failed", Some(error.as_str()), Some(*position))
            }
        };
        convert::plain(&JsStatus {
            state,
            checkpoint: status.checkpoint,
            handled: status.handled,
            failed_attempts: status.failed_attempts,
            error,
            failed_position,
        })
    }

    /// `[{ name, filter }]` of the projections added, for `waitFor` (`wait.rs`).
    #[wasm_bindgen(js_name = __projections, skip_typescript)]
    pub fn projections(&self) -> JsValue {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct JsFilter<'a> {
            stream_prefixes: &'a [String],
            categories: &'a [String],
            event_types: &'a [String],
        }
        #[derive(Serialize)]
        struct JsProjection<'a> {
            name: &'a str,
            filter: JsFilter<'a>,
        }
        let registrations = self.registrations.borrow();
        let projections: Vec<JsProjection<'_>> = registrations
            .iter()
            .map(|r| JsProjection {
                name: &r.name,
                filter: JsFilter {
                    stream_prefixes: &r.options.filter.stream_prefixes,
                    categories: &r.options.filter.categories,
                    event_types: &r.options.filter.event_types,
                },
            })
            .collect();
        convert::plain(&projections)
    }

    /// The projector's store, as a JS `EventStore` sharing it, for `waitFor` (`wait.rs`).
    #[wasm_bindgen(js_name = __store, skip_typescript)]
    pub fn store(&self) -> JsEventStore {
        JsEventStore::sharing(self.store.clone())
    }

    /// Removes projection `name` and forgets its checkpoint and skipped events, so a projection
    /// added again under that name starts from the first event. Rejects while running.
    pub fn remove(&self, name: JsValue) -> Promise {
        if !self.is_running() {
            if let Some(name) = name.as_string() {
                self.registrations.borrow_mut().retain(|r| r.name != name);
            }
        }
        // The same checks and the same forgetting as `reset`.
        self.reset(name)
    }

    /// Whether the projector runs.
    #[wasm_bindgen(getter, js_name = isRunning)]
    pub fn is_running(&self) -> bool {
        self.running.borrow().is_some()
    }
}

fn idle_status() -> JsValue {
    convert::plain(&JsStatus {
        state: "idle",
        checkpoint: 0,
        handled: 0,
        failed_attempts: 0,
        error: None,
        failed_position: None,
    })
}

fn projection_name(name: &JsValue) -> Result<String> {
    name.as_string()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| Error::invalid_input("projection name must be a non-empty string"))
}

impl JsProjector {
    fn register(&self, name: JsValue, handler: JsValue, options: JsValue) -> Result<()> {
        let name = projection_name(&name)?;
        let handler = handler.dyn_into::<Function>().map_err(|_| {
            Error::invalid_input(format!(
                "the handler of projection `{name}` must be a function"
            ))
        })?;
        let options = convert::projection_options(&options)?;
        options.validate()?;
        if self.running.borrow().is_some() {
            // The running projector has its projections; one added now would silently wait for
            // the next start().
            return Err(Error::invalid_input(format!(
                "stop the projector before adding projection `{name}`"
            )));
        }
        let mut registrations = self.registrations.borrow_mut();
        if registrations.iter().any(|r| r.name == name) {
            return Err(Error::invalid_input(format!(
                "projection `{name}` is already added"
            )));
        }
        registrations.push(Registration {
            name,
            handler,
            options,
        });
        Ok(())
    }

    /// A handle for reading checkpoints: the running one, or one over the store.
    fn handle(&self) -> ProjectorHandle<BrowserStorage> {
        match self.running.borrow().as_ref() {
            Some(running) => running.handle.clone(),
            None => Projector::new(self.store.clone()).handle(),
        }
    }

    fn launch(&self) -> Result<()> {
        self.store.ensure_open()?;
        let mut running = self.running.borrow_mut();
        if running.is_some() {
            return Err(Error::invalid_input("the projector is already running"));
        }
        let mut projector = Projections::new(self.store.clone(), JsEvents);
        for registration in self.registrations.borrow().iter() {
            projector.add(
                &registration.name,
                registration.options.clone(),
                handler(registration.handler.clone()),
            )?;
        }
        let handle = projector.handle();
        let (sender, done) = oneshot::channel();
        let run = Rc::new(());
        let (this_run, cell) = (Rc::clone(&run), Rc::clone(&self.running));
        spawn_local(async move {
            let _ = sender.send(projector.run().await);
            // A run that ended by itself (the store closed, every projection failed) is no
            // longer running: `isRunning` says so and `start()` may run it again.
            let mut running = cell.borrow_mut();
            if running
                .as_ref()
                .is_some_and(|r| Rc::ptr_eq(&r.run, &this_run))
            {
                *running = None;
            }
        });
        *self.last.borrow_mut() = Some(handle.clone());
        *running = Some(Running { handle, done, run });
        Ok(())
    }
}
