//! Reads for JS (`readStream`, `readAll`, `iterateStream`, `iterateAll`): the stored event
//! records go to JS as they are and become event objects there — one `JSON.parse` of each
//! payload, as a hand-written reader does — instead of being decoded into [`RecordedEvent`]s
//! (every string copied into wasm, the payloads parsed into `serde_json::Value`) and encoded
//! again on the way out. The semantics are the core's (`EventStore::read_stream`,
//! `EventStore::all_events`): the same validation and bounds; `readStream` and `readAll` read
//! in one storage request (one transaction, so one consistent snapshot), the iterators page by
//! the store's page size.
//!
//! These reads go to the storage directly, not through `EventStore`'s reads. A store with
//! upcasters (`store.upcast`) reads through the core instead ([`EventStore::read_stream`] and
//! the others, which apply them, then converts), and so does a read that a stream's `maxAge`
//! limits (the streams with one are read beside each direct read, in a transaction of their own
//! that runs alongside, and the direct result is dropped when one applies): any other per-event
//! transform of the core's read path must be applied here too — `eventsOfRecords` in `glue.js`
//! is where every event object of the direct reads is made.

use futures::StreamExt;
use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;

use super::backend::BrowserStorage;
use super::convert;
use crate::error::{Error, Result};
use crate::platform::BoxStream;
use crate::storage::Storage;
use crate::store::EventStore;
use crate::types::{Direction, Filter, ReadAllOptions, ReadStreamOptions, RecordedEvent};

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// The event objects of stored event records; throws when a record is malformed.
    #[wasm_bindgen(catch, js_name = eventsOfRecords)]
    fn events_of_records(records: &Array) -> std::result::Result<Array, JsValue>;
}

impl BrowserStorage {
    /// [`Storage::read_stream`], as JS event objects.
    async fn read_stream_js(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Array> {
        match self {
            BrowserStorage::IndexedDb(storage) => event_objects(
                &storage
                    .read_stream_records(stream_id, from_version, direction, limit)
                    .await?,
            ),
            BrowserStorage::Memory(storage) => Ok(convert::recorded_events(
                &storage
                    .read_stream(stream_id, from_version, direction, limit)
                    .await?,
            )),
        }
    }

    /// [`Storage::read_all`], as JS event objects.
    async fn read_all_js(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> Result<Array> {
        match self {
            BrowserStorage::IndexedDb(storage) => event_objects(
                &storage
                    .read_all_records(from_position, direction, limit, filter)
                    .await?,
            ),
            BrowserStorage::Memory(storage) => Ok(convert::recorded_events(
                &storage
                    .read_all(from_position, direction, limit, filter)
                    .await?,
            )),
        }
    }
}

fn event_objects(records: &Array) -> Result<Array> {
    events_of_records(records).map_err(|thrown| {
        Error::storage(format!(
            "IndexedDB record is corrupt: {}",
            super::error::thrown_message(&thrown)
        ))
    })
}

/// `readStream`: the events of `stream` in one storage read (one transaction); a stream without
/// events is `StreamNotFound`.
pub async fn read_stream(
    store: &EventStore<BrowserStorage>,
    stream: &str,
    options: ReadStreamOptions,
) -> Result<Array> {
    if upcasting(store) {
        return Ok(convert::recorded_events(
            &store.read_stream(stream, options).await?,
        ));
    }
    let (start, limit) = store.stream_bounds(stream, &options)?;
    let (events, retention) = futures::join!(
        store
            .storage()
            .read_stream_js(stream, start, options.direction, limit),
        store.retention()
    );
    if retention?.limits(stream) {
        return Ok(convert::recorded_events(
            &store.read_stream(stream, options).await?,
        ));
    }
    let events = events?;
    if events.length() == 0 && store.stream_version(stream).await? == 0 {
        return Err(Error::StreamNotFound {
            stream: stream.to_owned(),
        });
    }
    Ok(events)
}

/// `readAll`: the events of all streams in one storage read (one transaction).
pub async fn read_all(
    store: &EventStore<BrowserStorage>,
    options: ReadAllOptions,
) -> Result<Array> {
    if upcasting(store) {
        return Ok(convert::recorded_events(&store.read_all(options).await?));
    }
    let (start, limit) = store.all_bounds(&options)?;
    let (events, retention) = futures::join!(
        store
            .storage()
            .read_all_js(start, options.direction, limit, &options.filter),
        store.retention()
    );
    if !retention?.is_empty() {
        return Ok(convert::recorded_events(&store.read_all(options).await?));
    }
    events
}

/// `iterateStream`: the events of `stream`, read a page at a time as they are asked for.
pub fn stream_events(
    store: &EventStore<BrowserStorage>,
    stream: &str,
    options: ReadStreamOptions,
) -> Result<BoxStream<'static, Result<JsValue>>> {
    if upcasting(store) {
        return Ok(as_js(store.stream_events(stream, options)?));
    }
    let (start, limit) = store.stream_bounds(stream, &options)?;
    let (paging, stream, direction) = (store.clone(), stream.to_owned(), options.direction);
    Ok(store.paged(start, limit, move |from, page| {
        let (store, stream) = (paging.clone(), stream.clone());
        async move {
            let (events, retention) = futures::join!(
                store
                    .storage()
                    .read_stream_js(&stream, from, direction, page),
                store.retention()
            );
            if retention?.limits(&stream) {
                let read = store.stream_page_from(&stream, from, direction, page);
                return as_js_page(read.await?);
            }
            let events = events?.to_vec();
            // Inclusive bounds: continue after (or before) the last version returned.
            let next = last_number(&events, "version")?.map(|last| match direction {
                Direction::Forward => last + 1,
                Direction::Backward => last.saturating_sub(1),
            });
            Ok((events, next.filter(|&v| v > 0)))
        }
    }))
}

/// `iterateAll`: the events of all streams, read a page at a time as they are asked for.
pub fn all_events(
    store: &EventStore<BrowserStorage>,
    options: ReadAllOptions,
) -> Result<BoxStream<'static, Result<JsValue>>> {
    if upcasting(store) {
        return Ok(as_js(store.all_events(options)?));
    }
    let (start, limit) = store.all_bounds(&options)?;
    let (paging, direction) = (store.clone(), options.direction);
    let filter = std::rc::Rc::new(options.filter);
    Ok(store.paged(start, limit, move |from, page| {
        let (store, filter) = (paging.clone(), std::rc::Rc::clone(&filter));
        async move {
            let (events, retention) = futures::join!(
                store.storage().read_all_js(from, direction, page, &filter),
                store.retention()
            );
            if !retention?.is_empty() {
                return as_js_page(store.all_page_from(from, direction, page, &filter).await?);
            }
            let events = events?.to_vec();
            // Exclusive bounds: continue from the last position returned.
            let next = last_number(&events, "position")?;
            Ok((events, next))
        }
    }))
}

/// Whether reads must go through the core, which applies the store's upcasters.
fn upcasting(store: &EventStore<BrowserStorage>) -> bool {
    !store.upcasters().is_empty()
}

/// A page of the core's lazy read (`maxAge` applies), as JS event objects.
fn as_js_page(
    (events, next): (Vec<RecordedEvent>, Option<u64>),
) -> Result<(Vec<JsValue>, Option<u64>)> {
    Ok((events.iter().map(convert::recorded_event).collect(), next))
}

/// The core's lazy read, as JS event objects.
fn as_js(events: BoxStream<'static, Result<RecordedEvent>>) -> BoxStream<'static, Result<JsValue>> {
    Box::pin(events.map(|event| event.map(|event| convert::recorded_event(&event))))
}

/// A number field of the last event object of a page (`None` for an empty page).
fn last_number(events: &[JsValue], field: &str) -> Result<Option<u64>> {
    let Some(last) = events.last() else {
        return Ok(None);
    };
    Reflect::get(last, &JsValue::from_str(field))
        .ok()
        .and_then(|value| value.as_f64())
        .map(|number| Some(number as u64))
        .ok_or_else(|| Error::storage(format!("a read event has no numeric `{field}`")))
}
