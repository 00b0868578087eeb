//! Subscriptions with callbacks (`subscribe`, `subscribeToStream`); the async-iterator form
//! (`subscribeAll`) is in `iterator.rs`.

use futures::future::{AbortHandle, Abortable};
use futures::StreamExt;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::abort::{until_aborted, AbortSignal};
use super::backend::BrowserStorage;
use super::convert;
use super::error::to_js;
use super::reads::JsEvents;
use crate::error::{Error, Result};
use crate::platform::BoxStream;
use crate::store::EventStore;
use crate::subscription::{self, Delivery, SubscribeOptions, SubscriptionTarget};

/// What a subscription follows.
pub enum Target {
    All,
    Stream(String),
}

/// The events of a subscription to `target`, as JS event objects made straight from the stored
/// records where the reads make them so (see `reads.rs`).
pub fn start(
    store: EventStore<BrowserStorage>,
    target: Target,
    options: SubscribeOptions,
) -> impl std::future::Future<Output = Result<BoxStream<'static, Result<Delivery<JsValue>>>>> {
    let target = match target {
        Target::All => SubscriptionTarget::All,
        Target::Stream(stream) => SubscriptionTarget::Stream(stream),
    };
    subscription::follow(store, target, options, JsEvents)
}

/// A running callback subscription; `close()` ends it.
#[wasm_bindgen(js_name = Subscription, skip_typescript)]
pub struct JsSubscription {
    abort: AbortHandle,
}

impl JsSubscription {
    /// A subscription that is already over.
    pub fn detached() -> Self {
        let (abort, _) = AbortHandle::new_pair();
        abort.abort();
        JsSubscription { abort }
    }
}

/// Reports the end of a subscription that has no `onError` on the console, so a throwing
/// `onEvent` does not end it silently.
fn report_unhandled(error: &JsValue) {
    let global = js_sys::global();
    let Ok(console) = Reflect::get(&global, &JsValue::from_str("console")) else {
        return;
    };
    if let Ok(log) = Reflect::get(&console, &JsValue::from_str("error")) {
        if let Some(log) = log.dyn_ref::<Function>() {
            let _ = log.call2(
                &console,
                &JsValue::from_str("evstore: a subscription without onError ended:"),
                error,
            );
        }
    }
}

#[wasm_bindgen(js_class = Subscription)]
impl JsSubscription {
    /// Ends the subscription: no callback runs after this returns.
    pub fn close(&self) {
        self.abort.abort();
    }

    /// Whether the subscription ended (closed, failed or the store closed).
    #[wasm_bindgen(getter, js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.abort.is_aborted()
    }
}

/// The `onEvent` argument: a function, else `InvalidInput` at the call (not at the first event).
pub fn on_event(value: JsValue) -> std::result::Result<Function, JsValue> {
    value
        .dyn_into::<Function>()
        .map_err(|_| to_js(Error::invalid_input("onEvent must be a function")))
}

/// Calls a user callback; a throw or a rejected promise becomes the error message.
async fn call(callback: &Function, argument: &JsValue) -> std::result::Result<(), JsValue> {
    let returned = callback.call1(&JsValue::NULL, argument)?;
    if let Some(promise) = returned.dyn_ref::<Promise>() {
        JsFuture::from(promise.clone()).await?;
    }
    Ok(())
}

/// Starts a subscription that calls `on_event` for each event (awaiting a returned promise
/// before the next one), `callbacks.onCaughtUp` at each catch-up and `callbacks.onError` once
/// if it fails — after which it is closed (without `onError` the failure goes to
/// `console.error`). Aborting `signal` closes it. A throwing callback never reaches the store.
pub fn with_callbacks(
    store: EventStore<BrowserStorage>,
    target: Target,
    options: SubscribeOptions,
    on_event: Function,
    callbacks: &JsValue,
    signal: Option<AbortSignal>,
) -> std::result::Result<JsSubscription, JsValue> {
    let callback = |key: &str| -> std::result::Result<Option<Function>, JsValue> {
        let value = convert::field(callbacks, key).map_err(to_js)?;
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        value
            .dyn_into::<Function>()
            .map(Some)
            .map_err(|_| to_js(Error::invalid_input(format!("{key} must be a function"))))
    };
    let (on_caught_up, on_error) = (callback("onCaughtUp")?, callback("onError")?);
    let (abort, registration) = AbortHandle::new_pair();
    let handle = abort.clone();
    let run = async move {
        let failure = async {
            let mut subscription = start(store, target, options).await.map_err(to_js)?;
            while let Some(item) = subscription.next().await {
                match item.map_err(to_js)? {
                    Delivery::Event(event) => call(&on_event, &event).await?,
                    Delivery::CaughtUp => {
                        if let Some(on_caught_up) = &on_caught_up {
                            call(on_caught_up, &JsValue::UNDEFINED).await?;
                        }
                    }
                }
            }
            Ok::<(), JsValue>(())
        }
        .await;
        handle.abort();
        match (failure, on_error) {
            (Ok(()), _) => {}
            // The subscription is over; an onError that throws has nobody left to tell.
            (Err(error), Some(on_error)) => drop(on_error.call1(&JsValue::NULL, &error)),
            (Err(error), None) => report_unhandled(&error),
        }
    };
    let aborted = abort.clone();
    spawn_local(async move {
        let _ = until_aborted(signal.as_ref(), Abortable::new(run, registration)).await;
        aborted.abort();
    });
    Ok(JsSubscription { abort })
}
