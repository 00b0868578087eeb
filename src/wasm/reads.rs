//! Reads for JS (`readStream`, `readAll`, `iterateStream`, `iterateAll`, and the batches of
//! subscriptions and projectors, [`JsEvents`]): the stored event
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
//!
//! Subscriptions and projectors run the core's own loops (`subscription::follow`,
//! `projector::Projections`: validation, catch-up, waking, polling, batching, retries) over
//! [`JsEvents`], whose batches are read here the same way, with the same fallback.

use futures::StreamExt;
use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;

use super::backend::BrowserStorage;
use super::convert;
use crate::error::{Error, Result};
use crate::platform::{BoxFuture, BoxStream};
use crate::projector::ProjectionSource;
use crate::storage::{SkippedEvent, Storage};
use crate::store::EventStore;
use crate::subscription::{Batch, PageSource, Recorded};
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
    let Some(events) = direct_stream(store, stream, start, options.direction, limit).await? else {
        return Ok(convert::recorded_events(
            &store.read_stream(stream, options).await?,
        ));
    };
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
    match direct_all(store, start, options.direction, limit, &options.filter).await? {
        Some(events) => Ok(events),
        None => Ok(convert::recorded_events(&store.read_all(options).await?)),
    }
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
            let Some(events) = direct_stream(&store, &stream, from, direction, page).await? else {
                let read = store.stream_page_from(&stream, from, direction, page);
                return as_js_page(read.await?);
            };
            let events = events.to_vec();
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
            let Some(events) = direct_all(&store, from, direction, page, &filter).await? else {
                return as_js_page(store.all_page_from(from, direction, page, &filter).await?);
            };
            let events = events.to_vec();
            // Exclusive bounds: continue from the last position returned.
            let next = last_number(&events, "position")?;
            Ok((events, next))
        }
    }))
}

/// A page of `stream` read straight from the storage, as JS event objects, or `None` when the
/// core must read it instead: the store has upcasters, or the stream a `maxAge` (the streams
/// with one are read alongside, in a transaction of their own).
async fn direct_stream(
    store: &EventStore<BrowserStorage>,
    stream: &str,
    from: u64,
    direction: Direction,
    limit: usize,
) -> Result<Option<Array>> {
    if upcasting(store) {
        return Ok(None);
    }
    let (events, retention) = futures::join!(
        store
            .storage()
            .read_stream_js(stream, from, direction, limit),
        store.retention()
    );
    if retention?.limits(stream) {
        return Ok(None);
    }
    events.map(Some)
}

/// A page of all streams read straight from the storage, as JS event objects, or `None` when
/// the core must read it instead: the store has upcasters, or any stream a `maxAge`.
async fn direct_all(
    store: &EventStore<BrowserStorage>,
    from: u64,
    direction: Direction,
    limit: usize,
    filter: &Filter,
) -> Result<Option<Array>> {
    if upcasting(store) {
        return Ok(None);
    }
    let (events, retention) = futures::join!(
        store.storage().read_all_js(from, direction, limit, filter),
        store.retention()
    );
    if !retention?.is_empty() {
        return Ok(None);
    }
    events.map(Some)
}

/// The subscriptions' source of JS event objects (`subscribe`, `subscribeToStream`,
/// `subscribeAll`): each batch read straight from the storage, or through the core's page
/// reads (and converted) where a read is not direct — the same fallback as the reads above.
#[derive(Clone, Copy)]
pub struct JsEvents;

impl PageSource<BrowserStorage> for JsEvents {
    type Event = JsValue;

    fn read_all<'a>(
        &'a self,
        store: &'a EventStore<BrowserStorage>,
        position: u64,
        limit: usize,
        filter: &'a Filter,
    ) -> BoxFuture<'a, Result<Batch<JsValue>>> {
        Box::pin(async move {
            match direct_all(store, position, Direction::Forward, limit, filter).await? {
                Some(events) => direct_batch(events, "position"),
                None => Ok(converted(
                    Recorded.read_all(store, position, limit, filter).await?,
                )),
            }
        })
    }

    fn read_stream<'a>(
        &'a self,
        store: &'a EventStore<BrowserStorage>,
        stream: &'a str,
        version: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Batch<JsValue>>> {
        Box::pin(async move {
            match direct_stream(store, stream, version, Direction::Forward, limit).await? {
                Some(events) => direct_batch(events, "version"),
                None => Ok(converted(
                    Recorded.read_stream(store, stream, version, limit).await?,
                )),
            }
        })
    }
}

impl ProjectionSource<BrowserStorage> for JsEvents {
    fn position(event: &JsValue) -> u64 {
        number(event, "position").unwrap_or(0)
    }

    fn skipped(event: &JsValue) -> SkippedEvent {
        let text = |field: &str| {
            Reflect::get(event, &JsValue::from_str(field))
                .ok()
                .and_then(|value| value.as_string())
                .unwrap_or_default()
        };
        SkippedEvent {
            position: Self::position(event),
            event_id: text("id"),
            stream_id: text("streamId"),
            event_type: text("type"),
            error: String::new(),
            skipped_at: 0,
        }
    }

    fn read_again<'a>(
        &'a self,
        store: &'a EventStore<BrowserStorage>,
        position: u64,
        limit: usize,
        filter: &'a Filter,
    ) -> BoxFuture<'a, Result<Batch<JsValue>>> {
        Box::pin(async move {
            if upcasting(store) {
                return Ok(converted(
                    Recorded.read_again(store, position, limit, filter).await?,
                ));
            }
            // Expired events included: no `maxAge` applies, so the direct read is the batch.
            let events = store
                .storage()
                .read_all_js(position, Direction::Forward, limit, filter)
                .await?;
            direct_batch(events, "position")
        })
    }
}

/// A batch read straight from the storage: every event it returned is delivered; the next read
/// continues after the last one's `cursor` field (`position` or `version`).
fn direct_batch(events: Array, cursor: &str) -> Result<Batch<JsValue>> {
    let events = events.to_vec();
    Ok(Batch {
        last: last_number(&events, cursor)?,
        scanned: events.len(),
        events,
    })
}

/// A batch the core read, as JS event objects.
fn converted(batch: Batch<RecordedEvent>) -> Batch<JsValue> {
    Batch {
        events: convert::recorded_events(&batch.events).to_vec(),
        scanned: batch.scanned,
        last: batch.last,
    }
}

/// Whether reads must go through the core, which applies the store's upcasters.
fn upcasting(store: &EventStore<BrowserStorage>) -> bool {
    !store.upcasters().is_empty()
}

/// A page of the core's lazy read (`maxAge` applies), as JS event objects.
fn as_js_page(
    (events, next): (Vec<RecordedEvent>, Option<u64>),
) -> Result<(Vec<JsValue>, Option<u64>)> {
    Ok((convert::recorded_events(&events).to_vec(), next))
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
    number(last, field)
        .map(Some)
        .ok_or_else(|| Error::storage(format!("a read event has no numeric `{field}`")))
}

/// A number field of an event object.
fn number(event: &JsValue, field: &str) -> Option<u64> {
    Reflect::get(event, &JsValue::from_str(field))
        .ok()
        .and_then(|value| value.as_f64())
        .map(|number| number as u64)
}
