//! The JS `EventStore` class.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::abort;
use super::backend::BrowserStorage;
use super::broadcast::Broadcast;
use super::convert;
use super::error::to_js;
use super::iterator;
use super::reads;
use super::subscription::{self, JsSubscription, Target};
use crate::error::Error;
use crate::storage::{IndexedDbStorage, MemoryStorage};
use crate::store::EventStore;

/// An event store in the browser: IndexedDB (`EventStore.open(name)`) or memory
/// (`EventStore.inMemory()`). Its TypeScript declaration (generic over the app's events) is
/// written in `typescript.rs`.
#[wasm_bindgen(js_name = EventStore, skip_typescript)]
pub struct JsEventStore {
    pub(crate) store: EventStore<BrowserStorage>,
    /// Taken (and so the channel closed) by `close()`.
    broadcast: RefCell<Option<Rc<Broadcast>>>,
}

/// A method's work, type-erased: every exported async method goes through one
/// [`dispatch`] instead of instantiating `future_to_promise` for its own future type.
type Work = std::pin::Pin<Box<dyn std::future::Future<Output = Result<JsValue, Error>>>>;

/// The promise of `future`, its error as an `EvstoreError`.
pub(crate) fn promise(
    future: impl std::future::Future<Output = Result<JsValue, Error>> + 'static,
) -> Promise {
    dispatch(Box::pin(future))
}

/// The one instance of `future_to_promise` behind [`promise`] (the `.wasm` holds the machinery
/// that drives a future to a promise once, not once per exported method).
#[inline(never)]
fn dispatch(work: Work) -> Promise {
    future_to_promise(async move { work.await.map_err(to_js) })
}

impl JsEventStore {
    /// A store in memory that nothing uses (for `lifecycle.rs`).
    pub fn detached() -> Self {
        Self::sharing(EventStore::new(
            BrowserStorage::Memory(MemoryStorage::new()),
        ))
    }

    /// Another JS handle on `store` (no cross-tab channel of its own).
    pub fn sharing(store: EventStore<BrowserStorage>) -> Self {
        JsEventStore {
            store,
            broadcast: RefCell::new(None),
        }
    }

    /// The core store while it is usable. When the IndexedDB connection was closed under it
    /// (another page deleted or upgraded the database), the store closes: `isClosed` is then
    /// `true` and every call fails with `Closed`.
    pub(crate) fn live(&self) -> Result<EventStore<BrowserStorage>, Error> {
        if self.store.storage().connection_lost() {
            self.close();
        }
        self.store.ensure_open()?;
        Ok(self.store.clone())
    }

    /// The cross-tab channel that announces this handle's appends (none for a store in memory
    /// or after `close()`).
    pub(crate) fn broadcast(&self) -> Option<Rc<Broadcast>> {
        self.broadcast.borrow().clone()
    }
}

#[wasm_bindgen(js_class = EventStore)]
impl JsEventStore {
    /// Opens (creating or upgrading) the IndexedDB database `name`.
    pub fn open(name: JsValue) -> Promise {
        promise(async move {
            let name = name
                .as_string()
                .filter(|name| !name.is_empty())
                .ok_or_else(|| {
                    Error::invalid_input("the database name must be a non-empty string")
                })?;
            let storage = IndexedDbStorage::open(&name).await?;
            let store = EventStore::new(BrowserStorage::IndexedDb(storage));
            let woken = store.clone();
            let broadcast = Broadcast::join(&name, move || woken.wake_subscriptions()).map(Rc::new);
            Ok(JsEventStore {
                store,
                broadcast: RefCell::new(broadcast),
            }
            .into())
        })
    }

    /// A store in memory, gone with the page.
    #[wasm_bindgen(js_name = inMemory)]
    pub fn in_memory() -> Promise {
        let store = EventStore::new(BrowserStorage::Memory(MemoryStorage::new()));
        Promise::resolve(&JsValue::from(JsEventStore {
            store,
            broadcast: RefCell::new(None),
        }))
    }

    /// Appends `events` to `stream` atomically; `options.expectedVersion` defaults to `"any"`.
    pub fn append(&self, stream: JsValue, events: JsValue, options: JsValue) -> Promise {
        let (store, broadcast) = (self.live(), self.broadcast.borrow().clone());
        // Convert now, while the caller's values are what they were at the call.
        let input = convert::stream_id(&stream).and_then(|stream| {
            Ok((
                stream,
                convert::new_events(&events)?,
                convert::expected_version(&options)?,
            ))
        });
        promise(async move {
            let store = store?;
            let (stream, events, expected) = input?;
            let result = store.append(&stream, expected, events).await?;
            if let Some(broadcast) = broadcast {
                broadcast.announce(result.position);
            }
            Ok(convert::append_result(result))
        })
    }

    /// Reads events of one stream (forward from the first by default, paged internally).
    #[wasm_bindgen(js_name = readStream)]
    pub fn read_stream(&self, stream: JsValue, options: JsValue) -> Promise {
        let store = self.live();
        let input = convert::stream_id(&stream)
            .and_then(|s| Ok((s, convert::read_stream_options(&options)?)));
        promise(async move {
            let store = store?;
            let (stream, options) = input?;
            Ok(reads::read_stream(&store, &stream, options).await?.into())
        })
    }

    /// Reads events of all streams in position order (`fromPosition` exclusive).
    #[wasm_bindgen(js_name = readAll)]
    pub fn read_all(&self, options: JsValue) -> Promise {
        let store = self.live();
        let options = convert::read_all_options(&options);
        promise(async move { Ok(reads::read_all(&store?, options?).await?.into()) })
    }

    /// The events of one stream as an async iterator that reads a page at a time as the loop
    /// asks (`for await … of`); nothing is read before the first `next()`. A stream without
    /// events yields nothing. `break`, `close()` or aborting `options.signal` ends it.
    #[wasm_bindgen(js_name = iterateStream)]
    pub fn iterate_stream(&self, stream: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
        let events = (|| {
            let store = self.live()?;
            let stream = convert::stream_id(&stream)?;
            reads::stream_events(&store, &stream, convert::read_stream_options(&options)?)
        })()
        .map_err(to_js)?;
        Ok(iterator::async_iterable(
            events,
            abort::signal(&options).map_err(to_js)?,
        ))
    }

    /// The events of all streams in position order (optionally filtered) as an async iterator
    /// that reads a page at a time; see `iterateStream`.
    #[wasm_bindgen(js_name = iterateAll)]
    pub fn iterate_all(&self, options: JsValue) -> Result<JsValue, JsValue> {
        let events = (|| reads::all_events(&self.live()?, convert::read_all_options(&options)?))()
            .map_err(to_js)?;
        Ok(iterator::async_iterable(
            events,
            abort::signal(&options).map_err(to_js)?,
        ))
    }

    /// The streams with events, in stream-id order, with their versions and last positions:
    /// `prefix` narrows them, `after` (exclusive) and `maxCount` page through them.
    #[wasm_bindgen(js_name = listStreams)]
    pub fn list_streams(&self, options: JsValue) -> Promise {
        let store = self.live();
        let options = convert::list_streams_options(&options);
        promise(async move { Ok(convert::stream_infos(&store?.list_streams(options?).await?)) })
    }

    /// The position of the last event (0 when empty).
    pub fn head(&self) -> Promise {
        let store = self.live();
        promise(async move { Ok((store?.head().await? as f64).into()) })
    }

    /// The version of `stream` (0 when it has no events).
    #[wasm_bindgen(js_name = streamVersion)]
    pub fn stream_version(&self, stream: JsValue) -> Promise {
        let store = self.live();
        let stream = convert::stream_id(&stream);
        promise(async move { Ok((store?.stream_version(&stream?).await? as f64).into()) })
    }

    /// Calls `onEvent` for every event of all streams from `options.fromPosition`, then live.
    /// A throwing (or rejecting) `onEvent` closes the subscription and goes to `onError`.
    pub fn subscribe(
        &self,
        options: JsValue,
        on_event: JsValue,
        callbacks: JsValue,
    ) -> Result<JsSubscription, JsValue> {
        let store = self.live().map_err(to_js)?;
        let signal = abort::signal(&options).map_err(to_js)?;
        let options = convert::subscribe_options(&options, "fromPosition").map_err(to_js)?;
        subscription::with_callbacks(
            store,
            Target::All,
            options,
            subscription::on_event(on_event)?,
            &callbacks,
            signal,
        )
    }

    /// Like `subscribe`, for one stream (`options.fromVersion` exclusive, or `"end"`).
    #[wasm_bindgen(js_name = subscribeToStream)]
    pub fn subscribe_to_stream(
        &self,
        stream: JsValue,
        options: JsValue,
        on_event: JsValue,
        callbacks: JsValue,
    ) -> Result<JsSubscription, JsValue> {
        let store = self.live().map_err(to_js)?;
        let stream = convert::stream_id(&stream).map_err(to_js)?;
        crate::types::validate_stream_id(&stream).map_err(to_js)?;
        let signal = abort::signal(&options).map_err(to_js)?;
        let options = convert::subscribe_options(&options, "fromVersion").map_err(to_js)?;
        subscription::with_callbacks(
            store,
            Target::Stream(stream),
            options,
            subscription::on_event(on_event)?,
            &callbacks,
            signal,
        )
    }

    /// The events of all streams as an async iterator (`for await … of`), catch-up then live;
    /// `break`, `close()` or aborting `options.signal` ends it.
    #[wasm_bindgen(js_name = subscribeAll)]
    pub fn subscribe_all(&self, options: JsValue) -> Result<JsValue, JsValue> {
        let store = self.live().map_err(to_js)?;
        let signal = abort::signal(&options).map_err(to_js)?;
        let options = convert::subscribe_options(&options, "fromPosition").map_err(to_js)?;
        Ok(iterator::async_iterable(
            iterator::subscription_events(store, options),
            signal,
        ))
    }

    /// Closes the store: subscriptions end and later calls reject with code `"Closed"`.
    pub fn close(&self) {
        self.store.close();
        // Leave the cross-tab channel too: a closed store has nothing to wake.
        self.broadcast.borrow_mut().take();
    }

    /// Whether the store is closed: `close()` (or `free()`) was called, or another page
    /// deleted the IndexedDB database.
    #[wasm_bindgen(getter, js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.live().is_err()
    }
}
