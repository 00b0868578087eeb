//! The stored shape of events and checkpoints: plain JavaScript objects, built before any
//! transaction opens (event records by one `JSON.parse` of the text of an append's records, the
//! others with `js_sys::Reflect`), read back field by field — or handed to JS untouched by the JS
//! API's reads, which make the event objects there.
//!
//! Event record: `{ position, id, streamId, version, category, eventType, data, metadata,
//! recordedAt, correlationId?, causationId? }` — `data` and `metadata` are the JSON text the store
//! prepared, `position` is the object store's auto-incremented key. Checkpoint record:
//! `{ name, position, skipped }` with `skipped` the JSON text of the skipped events.

use std::cell::RefCell;

use js_sys::{Array, Object, Reflect};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use super::errors::{corrupt, js_error};
use crate::error::Result;
use crate::storage::{
    parse_stored_json, AppendBatch, Checkpoint, ExistingEvent, OutboxEntry, OutboxState,
    PreparedEvent, SkippedEvent,
};
use crate::types::RecordedEvent;

pub(super) const POSITION: &str = "position";
pub(super) const ID: &str = "id";
pub(super) const STREAM_ID: &str = "streamId";
pub(super) const VERSION: &str = "version";
pub(super) const CATEGORY: &str = "category";
pub(super) const EVENT_TYPE: &str = "eventType";
const DATA: &str = "data";
const METADATA: &str = "metadata";
pub(super) const RECORDED_AT: &str = "recordedAt";
const CORRELATION_ID: &str = "correlationId";
const CAUSATION_ID: &str = "causationId";

pub(super) const OUTBOX_SEQ: &str = "seq";
pub(super) const BATCH_ID: &str = "batchId";
const BATCH: &str = "batch";
const CONFIRMED: &str = "confirmed";
pub(super) const META_KEY: &str = "key";
const META_VALUE: &str = "value";
/// The `meta` key of the store id.
pub(super) const STORE_ID_KEY: &str = "storeId";
/// The `meta` key of the sync client's state.
pub(super) const SYNC_STATE_KEY: &str = "syncState";

pub(super) const CHECKPOINT_NAME: &str = "name";
const CHECKPOINT_POSITION: &str = "position";
const CHECKPOINT_SKIPPED: &str = "skipped";

/// The largest integer a JavaScript number holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A `u64` as a JavaScript number (exact up to 2^53 - 1, far beyond any real position).
pub(super) fn number(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// The composite key `[text, number]` of the `stream_version`, `category` and `type` indexes.
pub(super) fn pair_key(text: &str, number: f64) -> JsValue {
    Array::of2(&JsValue::from_str(text), &JsValue::from_f64(number)).into()
}

thread_local! {
    /// The field names as JavaScript strings, made once: building a JS string from Rust text
    /// (UTF-8 decoding across the boundary) costs more than the property access it names, and
    /// every record reads or writes ten of them.
    static KEYS: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `use_key` with the JavaScript string of `field`.
fn with_key<R>(field: &'static str, use_key: impl FnOnce(&JsValue) -> R) -> R {
    KEYS.with(|keys| {
        if let Some((_, key)) = keys.borrow().iter().find(|(name, _)| *name == field) {
            return use_key(key);
        }
        let key = JsValue::from_str(field);
        let result = use_key(&key);
        keys.borrow_mut().push((field, key));
        result
    })
}

fn set(object: &Object, field: &'static str, value: &JsValue) -> Result<()> {
    with_key(field, |key| Reflect::set(object, key, value))
        .map(|_| ())
        .map_err(|e| js_error("building a record", &e))
}

/// An event record as JSON: built here in one piece and parsed by the browser (one
/// `JSON.parse` per append), rather than set field by field across the wasm boundary.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventRow<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
    id: &'a str,
    stream_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    category: &'a str,
    event_type: &'a str,
    data: &'a str,
    metadata: &'a str,
    recorded_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    causation_id: Option<&'a str>,
}

impl<'a> EventRow<'a> {
    fn new(stream_id: &'a str, category: &'a str, event: &'a PreparedEvent) -> Self {
        EventRow {
            position: None,
            id: &event.id,
            stream_id,
            version: None,
            category,
            event_type: &event.event_type,
            data: &event.data,
            metadata: &event.metadata,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id.as_deref(),
            causation_id: event.causation_id.as_deref(),
        }
    }
}

/// The records of `rows`, as a JavaScript array.
fn parse_rows(rows: &[EventRow<'_>]) -> Result<Array> {
    let text = serde_json::to_string(rows)
        .map_err(|e| crate::error::Error::storage(format!("cannot encode event records: {e}")))?;
    js_sys::JSON::parse(&text)
        .map(|records| records.unchecked_into())
        .map_err(|e| js_error("building records", &e))
}

/// The records of an append's events, without their versions (set inside the transaction, once
/// known) and positions (assigned by the object store).
pub(super) fn encode_events(batch: &AppendBatch) -> Result<Array> {
    let rows: Vec<EventRow<'_>> = batch
        .events
        .iter()
        .map(|event| EventRow::new(&batch.stream_id, &batch.category, event))
        .collect();
    parse_rows(&rows)
}

fn ensure_object(record: &JsValue) -> Result<()> {
    if record.is_object() {
        Ok(())
    } else {
        Err(corrupt("a record is not an object"))
    }
}

/// A field of `record`, which the caller checked is an object.
fn field(record: &JsValue, field: &'static str) -> Result<JsValue> {
    with_key(field, |key| Reflect::get(record, key)).map_err(|e| js_error("reading a record", &e))
}

fn get(record: &JsValue, name: &'static str) -> Result<JsValue> {
    ensure_object(record)?;
    field(record, name)
}

pub(super) fn get_string(record: &JsValue, field: &'static str) -> Result<String> {
    as_string(get(record, field)?, field)
}

fn as_string(value: JsValue, field: &str) -> Result<String> {
    value
        .as_string()
        .ok_or_else(|| corrupt(format_args!("field `{field}` is not a string")))
}

fn get_optional_string(record: &JsValue, field: &'static str) -> Result<Option<String>> {
    let value = get(record, field)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| corrupt(format_args!("field `{field}` is not a string")))
}

/// A non-negative integer stored as a JavaScript number.
pub(super) fn as_u64(value: &JsValue) -> Option<u64> {
    let number = value.as_f64()?;
    (number.is_finite() && number >= 0.0 && number.fract() == 0.0 && number <= MAX_SAFE_INTEGER)
        .then_some(number as u64)
}

pub(super) fn get_u64(record: &JsValue, field: &'static str) -> Result<u64> {
    to_u64(&get(record, field)?, field)
}

fn to_u64(value: &JsValue, field: &str) -> Result<u64> {
    as_u64(value).ok_or_else(|| {
        corrupt(format_args!(
            "field `{field}` is not a non-negative integer"
        ))
    })
}

/// Reads an event record back.
pub(super) fn decode_event(record: &JsValue) -> Result<RecordedEvent> {
    ensure_object(record)?;
    let text = |name| as_string(field(record, name)?, name);
    let number = |name| to_u64(&field(record, name)?, name);
    Ok(RecordedEvent {
        id: text(ID)?,
        stream_id: text(STREAM_ID)?,
        version: number(VERSION)?,
        position: number(POSITION)?,
        event_type: text(EVENT_TYPE)?,
        data: parse_stored_json(&text(DATA)?)?,
        metadata: parse_stored_json(&text(METADATA)?)?,
        recorded_at: number(RECORDED_AT)?,
        correlation_id: get_optional_string(record, CORRELATION_ID)?,
        causation_id: get_optional_string(record, CAUSATION_ID)?,
    })
}

/// The record of a server-confirmed event for a sync client's mirror, at its server position.
pub(super) fn encode_recorded(event: &RecordedEvent) -> Result<Object> {
    let prepared = PreparedEvent {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        data: event.data.to_string(),
        metadata: event.metadata.to_string(),
        correlation_id: event.correlation_id.clone(),
        causation_id: event.causation_id.clone(),
        recorded_at: event.recorded_at,
    };
    let category = crate::types::category_of(&event.stream_id);
    let row = EventRow {
        position: Some(event.position),
        version: Some(event.version),
        ..EventRow::new(&event.stream_id, category, &prepared)
    };
    Ok(parse_rows(std::slice::from_ref(&row))?
        .get(0)
        .unchecked_into())
}

/// The record of an outbox entry (its `seq` is assigned by the object store).
pub(super) fn encode_outbox(entry: &OutboxEntry) -> Result<Object> {
    let batch = serde_json::to_string(&entry.batch)
        .map_err(|e| crate::error::Error::storage(format!("cannot encode an outbox batch: {e}")))?;
    let record = Object::new();
    set(&record, BATCH_ID, &JsValue::from_str(&entry.batch_id))?;
    set(
        &record,
        STREAM_ID,
        &JsValue::from_str(&entry.batch.stream_id),
    )?;
    set(&record, BATCH, &JsValue::from_str(&batch))?;
    set_confirmed(&record, entry.state)?;
    Ok(record)
}

/// Sets the state of an outbox record: the confirmed position, or `null` while pending.
pub(super) fn set_confirmed(record: &Object, state: OutboxState) -> Result<()> {
    let confirmed = match state {
        OutboxState::Pending => JsValue::NULL,
        OutboxState::Confirmed { position } => number(position),
    };
    set(record, CONFIRMED, &confirmed)
}

/// Reads an outbox record back.
pub(super) fn decode_outbox(record: &JsValue) -> Result<OutboxEntry> {
    let batch = get_string(record, BATCH)?;
    let batch: AppendBatch =
        serde_json::from_str(&batch).map_err(|e| corrupt(format_args!("an outbox batch: {e}")))?;
    let confirmed = get(record, CONFIRMED)?;
    let state = if confirmed.is_null() || confirmed.is_undefined() {
        OutboxState::Pending
    } else {
        OutboxState::Confirmed {
            position: to_u64(&confirmed, CONFIRMED)?,
        }
    };
    Ok(OutboxEntry {
        batch_id: get_string(record, BATCH_ID)?,
        batch,
        state,
    })
}

/// A `meta` record: `{ key, value }` with `value` text.
pub(super) fn meta_record(key: &str, value: &str) -> Object {
    let record = Object::new();
    // Setting plain properties on a fresh object cannot fail.
    let _ = Reflect::set(
        &record,
        &JsValue::from_str(META_KEY),
        &JsValue::from_str(key),
    );
    let _ = Reflect::set(
        &record,
        &JsValue::from_str(META_VALUE),
        &JsValue::from_str(value),
    );
    record
}

/// The value of a `meta` record.
pub(super) fn meta_value(record: &JsValue) -> Result<String> {
    get_string(record, META_VALUE)
}

/// Where an event record sits, for [`decide_append`](crate::storage::decide_append).
pub(super) fn decode_existing(record: &JsValue) -> Result<ExistingEvent> {
    Ok(ExistingEvent {
        stream_id: get_string(record, STREAM_ID)?,
        version: get_u64(record, VERSION)?,
        position: get_u64(record, POSITION)?,
    })
}

/// The record of a checkpoint.
pub(super) fn encode_checkpoint(name: &str, checkpoint: &Checkpoint) -> Result<Object> {
    let skipped = serde_json::to_string(&checkpoint.skipped)
        .map_err(|e| crate::error::Error::storage(format!("cannot encode skipped events: {e}")))?;
    let record = Object::new();
    set(&record, CHECKPOINT_NAME, &JsValue::from_str(name))?;
    set(&record, CHECKPOINT_POSITION, &number(checkpoint.position))?;
    set(&record, CHECKPOINT_SKIPPED, &JsValue::from_str(&skipped))?;
    Ok(record)
}

/// Reads a checkpoint record back.
pub(super) fn decode_checkpoint(record: &JsValue) -> Result<Checkpoint> {
    let skipped = get_string(record, CHECKPOINT_SKIPPED)?;
    let skipped: Vec<SkippedEvent> = serde_json::from_str(&skipped)
        .map_err(|e| corrupt(format_args!("skipped events of a checkpoint: {e}")))?;
    Ok(Checkpoint {
        position: get_u64(record, CHECKPOINT_POSITION)?,
        skipped,
    })
}
