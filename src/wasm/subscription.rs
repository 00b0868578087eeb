//! Subscriptions in JS: with callbacks (`subscribe`) or as an async iterator (`subscribeAll`).

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::{AbortHandle, Abortable};
use futures::StreamExt;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

use super::backend::BrowserStorage;
use super::convert;
use super::error::to_js;
use crate::error::{Error, Result};
use crate::store::EventStore;
use crate::subscription::{SubscribeOptions, Subscription};
use crate::types::SubscriptionItem;

#[wasm_bindgen(inline_js = r#"
export function asyncIterable(source) {
  const done = { done: true, value: undefined };
  return {
    next() {
      return source.next().then((value) => (value === undefined ? done : { done: false, value }));
    },
    return() {
      source.close();
      return Promise.resolve(done);
    },
    close() {
      source.close();
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = asyncIterable)]
    fn wrap_async_iterable(source: SubscriptionIterator) -> JsValue;
}

/// What a subscription follows.
pub enum Target {
    All,
    Stream(String),
}

async fn start(
    store: &EventStore<BrowserStorage>,
    target: &Target,
    options: SubscribeOptions,
) -> Result<Subscription> {
    match target {
        Target::All => store.subscribe_all(options).await,
        Target::Stream(stream) => store.subscribe_to_stream(stream, options).await,
    }
}

/// A running callback subscription; `close()` ends it.
#[wasm_bindgen(js_name = Subscription)]
pub struct JsSubscription {
    abort: AbortHandle,
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
/// if it fails — after which it is closed. A throwing callback never reaches the store.
pub fn with_callbacks(
    store: EventStore<BrowserStorage>,
    target: Target,
    options: SubscribeOptions,
    on_event: Function,
    callbacks: &JsValue,
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
            let mut subscription = start(&store, &target, options).await.map_err(to_js)?;
            while let Some(item) = subscription.next().await {
                match item.map_err(to_js)? {
                    SubscriptionItem::Event(event) => {
                        call(&on_event, &convert::recorded_event(&event)).await?
                    }
                    SubscriptionItem::CaughtUp => {
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
        if let (Err(error), Some(on_error)) = (failure, on_error) {
            // The subscription is over; an onError that throws has nobody left to tell.
            let _ = on_error.call1(&JsValue::NULL, &error);
        }
    };
    spawn_local(async move {
        let _ = Abortable::new(run, registration).await;
    });
    Ok(JsSubscription { abort })
}

enum IteratorState {
    NotStarted(EventStore<BrowserStorage>, SubscribeOptions),
    Ready(Subscription),
    /// A `next()` is in flight and holds the subscription.
    Busy,
    Closed,
}

/// The source behind `subscribeAll`'s async iterator: `next()` resolves to the next event, or
/// `undefined` once closed. Internal: JS sees it only wrapped as an `EventSubscription`, so it
/// stays out of the TypeScript declarations.
#[wasm_bindgen(skip_typescript)]
pub struct SubscriptionIterator {
    state: Rc<RefCell<IteratorState>>,
    /// Aborts the wait of the `next()` in flight, so `close()` ends a waiting `for await` at
    /// once instead of at the next event.
    in_flight: Rc<RefCell<Option<AbortHandle>>>,
}

impl SubscriptionIterator {
    /// An iterator that subscribes on its first `next()`.
    pub fn new(store: EventStore<BrowserStorage>, options: SubscribeOptions) -> Self {
        SubscriptionIterator {
            state: Rc::new(RefCell::new(IteratorState::NotStarted(store, options))),
            in_flight: Rc::default(),
        }
    }
}

#[wasm_bindgen]
impl SubscriptionIterator {
    /// The next event, or `undefined` when the subscription is over.
    #[wasm_bindgen(unchecked_return_type = "Promise<RecordedEvent | undefined>")]
    pub fn next(&self) -> Promise {
        let state = Rc::clone(&self.state);
        let in_flight = Rc::clone(&self.in_flight);
        future_to_promise(async move {
            let taken = std::mem::replace(&mut *state.borrow_mut(), IteratorState::Busy);
            let mut subscription = match taken {
                IteratorState::Ready(subscription) => subscription,
                IteratorState::NotStarted(store, options) => {
                    match store.subscribe_all(options).await {
                        Ok(subscription) => subscription,
                        Err(error) => {
                            *state.borrow_mut() = IteratorState::Closed;
                            return Err(to_js(error));
                        }
                    }
                }
                IteratorState::Closed => {
                    *state.borrow_mut() = IteratorState::Closed;
                    return Ok(JsValue::UNDEFINED);
                }
                IteratorState::Busy => {
                    return Err(to_js(Error::invalid_input(
                        "next() called before the previous next() settled",
                    )))
                }
            };
            let (abort, registration) = AbortHandle::new_pair();
            *in_flight.borrow_mut() = Some(abort);
            let waited = Abortable::new(
                async {
                    loop {
                        match subscription.next().await {
                            Some(Ok(SubscriptionItem::CaughtUp)) => continue,
                            other => break other,
                        }
                    }
                },
                registration,
            )
            .await;
            in_flight.borrow_mut().take();
            // Aborted by close(): the iteration is over.
            let next = waited.unwrap_or(None);
            let mut current = state.borrow_mut();
            // close() while this next() was in flight: drop the subscription.
            if matches!(*current, IteratorState::Busy) {
                *current = IteratorState::Ready(subscription);
            }
            match next {
                Some(Ok(SubscriptionItem::Event(event))) => Ok(convert::recorded_event(&event)),
                Some(Err(error)) => {
                    *current = IteratorState::Closed;
                    Err(to_js(error))
                }
                _ => {
                    *current = IteratorState::Closed;
                    Ok(JsValue::UNDEFINED)
                }
            }
        })
    }

    /// Ends the subscription.
    pub fn close(&self) {
        *self.state.borrow_mut() = IteratorState::Closed;
        if let Some(waiting) = self.in_flight.borrow_mut().take() {
            waiting.abort();
        }
    }
}

/// The object `subscribeAll` returns: an async iterable iterator with `close()`.
pub fn async_iterable(source: SubscriptionIterator) -> JsValue {
    wrap_async_iterable(source)
}
