//! Async iterators over events (`for await … of`): a subscription (`subscribeAll`), or a lazy
//! read of a stream or of all streams (`iterateStream`, `iterateAll`) that fetches one page at
//! a time as the loop asks for more. `break`, `return()`, `close()` or aborting the options'
//! `signal` ends the iteration (it finishes, no error) and releases what it held.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::{AbortHandle, Abortable};
use futures::{StreamExt, TryStreamExt};
use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::abort::AbortSignal;
use super::backend::BrowserStorage;
use super::store::promise;
use super::subscription::{self, Target};
use crate::error::{Error, Result};
use crate::platform::BoxStream;
use crate::store::EventStore;
use crate::subscription::{Delivery, SubscribeOptions};

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = asyncIterable)]
    fn wrap_async_iterable(source: EventIterator, signal: Option<AbortSignal>) -> JsValue;
}

enum State {
    Ready(BoxStream<'static, Result<JsValue>>),
    /// A `next()` is in flight and holds the stream.
    Busy,
    Closed,
}

/// The source behind an iterator: `next()` resolves to the next event, or `undefined` once
/// over. Internal: JS sees it only wrapped (see `asyncIterable`), so it stays out of the
/// TypeScript declarations.
#[wasm_bindgen(skip_typescript)]
pub struct EventIterator {
    state: Rc<RefCell<State>>,
    /// Aborts the wait of the `next()` in flight, so `close()` ends a waiting `for await` at
    /// once instead of at the next event.
    in_flight: Rc<RefCell<Option<AbortHandle>>>,
}

/// The events of a subscription (as JS event objects, see `subscription::start`), started on
/// the first `next()`; catch-up markers are skipped.
pub fn subscription_events(
    store: EventStore<BrowserStorage>,
    options: SubscribeOptions,
) -> BoxStream<'static, Result<JsValue>> {
    futures::stream::once(subscription::start(store, Target::All, options))
        .map_ok(|deliveries| {
            deliveries.filter_map(|item| {
                futures::future::ready(match item {
                    Ok(Delivery::CaughtUp) => None,
                    Ok(Delivery::Event(event)) => Some(Ok(event)),
                    Err(error) => Some(Err(error)),
                })
            })
        })
        .try_flatten()
        .boxed_local()
}

/// The JS async iterator over `events` (JS event objects), ended early by `signal`.
pub fn async_iterable(
    events: BoxStream<'static, Result<JsValue>>,
    signal: Option<AbortSignal>,
) -> JsValue {
    let source = EventIterator {
        state: Rc::new(RefCell::new(State::Ready(events))),
        in_flight: Rc::default(),
    };
    wrap_async_iterable(source, signal)
}

#[wasm_bindgen]
impl EventIterator {
    /// The next event, or `undefined` when the iteration is over.
    pub fn next(&self) -> Promise {
        let state = Rc::clone(&self.state);
        let in_flight = Rc::clone(&self.in_flight);
        promise(async move {
            let taken = std::mem::replace(&mut *state.borrow_mut(), State::Busy);
            let mut events = match taken {
                State::Ready(events) => events,
                State::Closed => {
                    *state.borrow_mut() = State::Closed;
                    return Ok(JsValue::UNDEFINED);
                }
                State::Busy => {
                    return Err(Error::invalid_input(
                        "next() called before the previous next() settled",
                    ))
                }
            };
            let (abort, registration) = AbortHandle::new_pair();
            *in_flight.borrow_mut() = Some(abort);
            let waited = Abortable::new(events.next(), registration).await;
            in_flight.borrow_mut().take();
            // Aborted by close(): the iteration is over.
            let next = waited.unwrap_or(None);
            let mut current = state.borrow_mut();
            // close() while this next() was in flight: drop the stream.
            if matches!(*current, State::Busy) {
                *current = State::Ready(events);
            }
            match next {
                Some(Ok(event)) => Ok(event),
                Some(Err(error)) => {
                    *current = State::Closed;
                    Err(error)
                }
                None => {
                    *current = State::Closed;
                    Ok(JsValue::UNDEFINED)
                }
            }
        })
    }

    /// Ends the iteration.
    pub fn close(&self) {
        *self.state.borrow_mut() = State::Closed;
        if let Some(waiting) = self.in_flight.borrow_mut().take() {
            waiting.abort();
        }
    }
}
