//! The JS `Projector` class.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use js_sys::{Function, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

use super::abort::{self, until_aborted, AbortSignal};
use super::backend::BrowserStorage;
use super::convert;
use super::error::{projection_failed, thrown_message, to_js};
use super::store::JsEventStore;
use crate::error::{Error, Result};
use crate::platform::sleep;
use crate::projector::{ProjectionOptions, ProjectionState, Projector, ProjectorHandle};
use crate::store::EventStore;
use crate::types::{Filter, ReadAllOptions, RecordedEvent};

/// How often `waitFor` looks at the projections' progress (in memory; it reads storage only
/// when a checkpoint moved).
const WAIT_TICK: Duration = Duration::from_millis(10);

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

fn promise(future: impl std::future::Future<Output = Result<JsValue>> + 'static) -> Promise {
    future_to_promise(async move { future.await.map_err(to_js) })
}

/// A JS handler as a projection handler: its throw or rejection is a handler failure (retried
/// per the retry policy), never an error of the store.
fn handler(
    function: Function,
) -> impl FnMut(Vec<RecordedEvent>) -> crate::platform::BoxFuture<'static, std::result::Result<(), String>>
{
    move |events: Vec<RecordedEvent>| {
        let returned = function.call1(&JsValue::NULL, &convert::recorded_events(&events));
        Box::pin(async move {
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
        })
    }
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

    /// Resolves once every projection (or `options.name` only) has handled everything up to
    /// `position` (default: the store's head at the call) — also when its filter leaves no
    /// event to handle there. Rejects with code `ProjectionFailed` when a projection failed,
    /// `InvalidInput` when the projector is not running (and the position is not reached), and
    /// with the signal's reason when `options.signal` aborts.
    #[wasm_bindgen(js_name = waitFor)]
    pub fn wait_for(&self, position: JsValue, options: JsValue) -> Promise {
        let input = self.wait_input(&position, &options);
        let (store, running, last) = (
            self.store.clone(),
            Rc::clone(&self.running),
            Rc::clone(&self.last),
        );
        future_to_promise(async move {
            let (target, wanted, signal) = input.map_err(to_js)?;
            let target = match target {
                Some(target) => target,
                None => store.head().await.map_err(to_js)?,
            };
            let mut reached = vec![false; wanted.len()];
            // The checkpoint at which each projection's next matching event was last looked up.
            let mut looked: Vec<Option<u64>> = vec![None; wanted.len()];
            loop {
                if let Some(signal) = signal.as_ref().filter(|s| s.is_aborted()) {
                    return Err(signal.rejection());
                }
                let is_running = running.borrow().is_some();
                // The last run's statuses (also after it ended: a failure stays visible).
                let handle = last
                    .borrow()
                    .clone()
                    .unwrap_or_else(|| Projector::new(store.clone()).handle());
                let mut pending = false;
                for (index, (name, filter)) in wanted.iter().enumerate() {
                    if reached[index] {
                        continue;
                    }
                    let status = handle.status(name);
                    if let Some(ProjectionState::Failed { position, error }) =
                        status.as_ref().map(|s| &s.state)
                    {
                        return Err(projection_failed(name, *position, error));
                    }
                    let checkpoint = match status {
                        Some(status) if status.state != ProjectionState::Idle => status.checkpoint,
                        _ => handle.checkpoint(name).await.map_err(to_js)?,
                    };
                    let done = checkpoint >= target
                        || (looked[index] != Some(checkpoint)
                            && match nothing_to_handle(&store, checkpoint, target, filter)
                                .await
                                .map_err(to_js)?
                            {
                                // The head has not reached the target yet: look again.
                                None => false,
                                Some(nothing) => {
                                    looked[index] = Some(checkpoint);
                                    nothing
                                }
                            });
                    if done {
                        reached[index] = true;
                    } else {
                        pending = true;
                    }
                }
                if !pending {
                    return Ok(JsValue::UNDEFINED);
                }
                if !is_running {
                    return Err(to_js(Error::invalid_input(format!(
                        "the projector is not running, so position {target} will not be reached: \
                         start() it before waitFor()"
                    ))));
                }
                until_aborted(signal.as_ref(), sleep(WAIT_TICK)).await;
            }
        })
    }

    /// Removes projection `name` and forgets its checkpoint and skipped events, so a projection
    /// added again under that name starts from the first event. Rejects while running.
    pub fn remove(&self, name: JsValue) -> Promise {
        let running = self.running.borrow().is_some();
        let handle = self.handle();
        let registrations = Rc::clone(&self.registrations);
        promise(async move {
            let name = projection_name(&name)?;
            if running {
                return Err(Error::invalid_input(format!(
                    "stop the projector before removing projection `{name}`"
                )));
            }
            registrations.borrow_mut().retain(|r| r.name != name);
            handle.reset(&name).await?;
            Ok(JsValue::UNDEFINED)
        })
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

/// Whether no event matching `filter` lies in `(checkpoint, target]` — a projection at
/// `checkpoint` has then handled everything up to `target` that concerns it; `None` while the
/// store's head is below `target` (events up to it may still come).
async fn nothing_to_handle(
    store: &EventStore<BrowserStorage>,
    checkpoint: u64,
    target: u64,
    filter: &Filter,
) -> Result<Option<bool>> {
    if store.head().await? < target {
        return Ok(None);
    }
    let next = store
        .read_all(ReadAllOptions {
            from_position: Some(checkpoint),
            max_count: Some(1),
            filter: filter.clone(),
            ..ReadAllOptions::default()
        })
        .await?;
    Ok(Some(
        next.first().map_or(true, |event| event.position > target),
    ))
}

/// What `waitFor` waits for: a position (`None` = the head), projections by name and filter,
/// and a signal.
type WaitInput = (Option<u64>, Vec<(String, Filter)>, Option<AbortSignal>);

impl JsProjector {
    fn wait_input(&self, position: &JsValue, options: &JsValue) -> Result<WaitInput> {
        let target = if position.is_undefined() || position.is_null() {
            None
        } else {
            match position.as_f64() {
                Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => {
                    Some(n as u64)
                }
                _ => {
                    return Err(Error::invalid_input(format!(
                        "waitFor's position must be a non-negative integer, got {}",
                        super::error::describe(position)
                    )))
                }
            }
        };
        let name = convert::field(options, "name")?;
        let registrations = self.registrations.borrow();
        let wanted: Vec<(String, Filter)> = if name.is_undefined() {
            registrations
                .iter()
                .map(|r| (r.name.clone(), r.options.filter.clone()))
                .collect()
        } else {
            let name = projection_name(&name)?;
            let registration = registrations
                .iter()
                .find(|r| r.name == name)
                .ok_or_else(|| Error::invalid_input(format!("no projection `{name}` was added")))?;
            vec![(name, registration.options.filter.clone())]
        };
        Ok((target, wanted, abort::signal(options)?))
    }

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
        let mut projector = Projector::new(self.store.clone());
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
