//! The JS `EventStore` class.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::backend::BrowserStorage;
use super::broadcast::Broadcast;
use super::convert;
use super::error::to_js;
use super::subscription::{self, JsSubscription, SubscriptionIterator, Target};
use crate::error::Error;
use crate::storage::{IndexedDbStorage, MemoryStorage};
use crate::store::EventStore;

/// An event store in the browser: IndexedDB (`EventStore.open(name)`) or memory
/// (`EventStore.inMemory()`).
#[wasm_bindgen(js_name = EventStore)]
pub struct JsEventStore {
    pub(crate) store: EventStore<BrowserStorage>,
    /// Taken (and so the channel closed) by `close()`.
    broadcast: RefCell<Option<Rc<Broadcast>>>,
}

fn promise(future: impl std::future::Future<Output = Result<JsValue, Error>> + 'static) -> Promise {
    future_to_promise(async move { future.await.map_err(to_js) })
}

#[wasm_bindgen(js_class = EventStore)]
impl JsEventStore {
    /// Opens (creating or upgrading) the IndexedDB database `name`.
    #[wasm_bindgen(unchecked_return_type = "Promise<EventStore>")]
    pub fn open(#[wasm_bindgen(unchecked_param_type = "string")] name: JsValue) -> Promise {
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
    #[wasm_bindgen(js_name = inMemory, unchecked_return_type = "Promise<EventStore>")]
    pub fn in_memory() -> Promise {
        let store = EventStore::new(BrowserStorage::Memory(MemoryStorage::new()));
        Promise::resolve(&JsValue::from(JsEventStore {
            store,
            broadcast: RefCell::new(None),
        }))
    }

    /// Appends `events` to `stream` atomically; `options.expectedVersion` defaults to `"any"`.
    #[wasm_bindgen(unchecked_return_type = "Promise<AppendResult>")]
    pub fn append(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] stream: JsValue,
        #[wasm_bindgen(unchecked_param_type = "NewEvent[]")] events: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "AppendOptions")] options: JsValue,
    ) -> Promise {
        let (store, broadcast) = (self.store.clone(), self.broadcast.borrow().clone());
        // Convert now, while the caller's values are what they were at the call.
        let input = convert::stream_id(&stream).and_then(|stream| {
            Ok((
                stream,
                convert::new_events(&events)?,
                convert::expected_version(&options)?,
            ))
        });
        promise(async move {
            store.ensure_open()?;
            let (stream, events, expected) = input?;
            let result = store.append(&stream, expected, events).await?;
            if let Some(broadcast) = broadcast {
                broadcast.announce(result.position);
            }
            Ok(convert::append_result(result))
        })
    }

    /// Reads events of one stream (forward from the first by default, paged internally).
    #[wasm_bindgen(js_name = readStream, unchecked_return_type = "Promise<RecordedEvent[]>")]
    pub fn read_stream(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] stream: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ReadStreamOptions")] options: JsValue,
    ) -> Promise {
        let store = self.store.clone();
        let input = convert::stream_id(&stream)
            .and_then(|s| Ok((s, convert::read_stream_options(&options)?)));
        promise(async move {
            store.ensure_open()?;
            let (stream, options) = input?;
            Ok(convert::recorded_events(&store.read_stream(&stream, options).await?).into())
        })
    }

    /// Reads events of all streams in position order (`fromPosition` exclusive).
    #[wasm_bindgen(js_name = readAll, unchecked_return_type = "Promise<RecordedEvent[]>")]
    pub fn read_all(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "ReadAllOptions")] options: JsValue,
    ) -> Promise {
        let store = self.store.clone();
        let options = convert::read_all_options(&options);
        promise(async move {
            store.ensure_open()?;
            Ok(convert::recorded_events(&store.read_all(options?).await?).into())
        })
    }

    /// The streams with events, in stream-id order, with their versions and last positions:
    /// `prefix` narrows them, `after` (exclusive) and `maxCount` page through them.
    #[wasm_bindgen(js_name = listStreams, unchecked_return_type = "Promise<StreamInfo[]>")]
    pub fn list_streams(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "ListStreamsOptions")] options: JsValue,
    ) -> Promise {
        let store = self.store.clone();
        let options = convert::list_streams_options(&options);
        promise(async move {
            store.ensure_open()?;
            Ok(convert::stream_infos(&store.list_streams(options?).await?))
        })
    }

    /// The position of the last event (0 when empty).
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn head(&self) -> Promise {
        let store = self.store.clone();
        promise(async move { Ok((store.head().await? as f64).into()) })
    }

    /// The version of `stream` (0 when it has no events).
    #[wasm_bindgen(js_name = streamVersion, unchecked_return_type = "Promise<number>")]
    pub fn stream_version(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] stream: JsValue,
    ) -> Promise {
        let store = self.store.clone();
        let stream = convert::stream_id(&stream);
        promise(async move { Ok((store.stream_version(&stream?).await? as f64).into()) })
    }

    /// Calls `onEvent` for every event of all streams from `options.fromPosition`, then live.
    /// A throwing (or rejecting) `onEvent` closes the subscription and goes to `onError`.
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SubscribeOptions | undefined")] options: JsValue,
        #[wasm_bindgen(js_name = onEvent, unchecked_param_type = "(event: RecordedEvent) => void | Promise<void>")]
        on_event: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SubscribeCallbacks")] callbacks: JsValue,
    ) -> Result<JsSubscription, JsValue> {
        self.store.ensure_open().map_err(to_js)?;
        let options = convert::subscribe_options(&options, "fromPosition").map_err(to_js)?;
        subscription::with_callbacks(
            self.store.clone(),
            Target::All,
            options,
            subscription::on_event(on_event)?,
            &callbacks,
        )
    }

    /// Like `subscribe`, for one stream (`options.fromVersion` exclusive, or `"end"`).
    #[wasm_bindgen(js_name = subscribeToStream)]
    pub fn subscribe_to_stream(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] stream: JsValue,
        #[wasm_bindgen(unchecked_param_type = "StreamSubscribeOptions | undefined")]
        options: JsValue,
        #[wasm_bindgen(js_name = onEvent, unchecked_param_type = "(event: RecordedEvent) => void | Promise<void>")]
        on_event: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SubscribeCallbacks")] callbacks: JsValue,
    ) -> Result<JsSubscription, JsValue> {
        self.store.ensure_open().map_err(to_js)?;
        let stream = convert::stream_id(&stream).map_err(to_js)?;
        crate::types::validate_stream_id(&stream).map_err(to_js)?;
        let options = convert::subscribe_options(&options, "fromVersion").map_err(to_js)?;
        subscription::with_callbacks(
            self.store.clone(),
            Target::Stream(stream),
            options,
            subscription::on_event(on_event)?,
            &callbacks,
        )
    }

    /// The events of all streams as an async iterator (`for await … of`); `break` or `close()`
    /// ends it.
    #[wasm_bindgen(js_name = subscribeAll, unchecked_return_type = "EventSubscription")]
    pub fn subscribe_all(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SubscribeOptions")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.store.ensure_open().map_err(to_js)?;
        let options = convert::subscribe_options(&options, "fromPosition").map_err(to_js)?;
        Ok(subscription::async_iterable(SubscriptionIterator::new(
            self.store.clone(),
            options,
        )))
    }

    /// Closes the store: subscriptions end and later calls reject with code `"Closed"`.
    pub fn close(&self) {
        self.store.close();
        // Leave the cross-tab channel too: a closed store has nothing to wake.
        self.broadcast.borrow_mut().take();
    }

    /// Whether `close()` was called.
    #[wasm_bindgen(getter, js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.store.is_closed()
    }
}
