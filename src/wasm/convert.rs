//! Values crossing the JS boundary: checked on the way in (typed `InvalidInput` errors, never a
//! panic), shaped as the documented TypeScript types on the way out.

use js_sys::{Array, Reflect};
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::error::{Error, Result};
use crate::projector::{FailurePolicy, ProjectionOptions, RetryPolicy};
use crate::subscription::SubscribeOptions;
use crate::types::{
    AppendResult, Direction, ExpectedVersion, Filter, ListStreamsOptions, NewEvent, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, StartFrom, StreamInfo,
};

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// `JSON.stringify` that refuses functions, symbols and BigInts (and throws on cycles).
    #[wasm_bindgen(catch, js_name = encodeJson)]
    fn encode_json(value: &JsValue, what: &str) -> std::result::Result<String, JsValue>;
    /// The events of an append as one JSON array, checked as [`new_events`] does; throws the
    /// reason it refuses them.
    #[wasm_bindgen(catch, js_name = encodeEvents)]
    fn encode_events(events: &JsValue) -> std::result::Result<String, JsValue>;
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::invalid_input(reason)
}

/// A property of an options object; `undefined` when `object` is `undefined` or `null`.
pub fn field(object: &JsValue, key: &str) -> Result<JsValue> {
    if object.is_undefined() || object.is_null() {
        return Ok(JsValue::UNDEFINED);
    }
    if !object.is_object() {
        return Err(invalid(format!(
            "options must be an object, got {}",
            type_name(object)
        )));
    }
    Reflect::get(object, &JsValue::from_str(key))
        .map_err(|_| invalid(format!("cannot read `{key}`")))
}

fn type_name(value: &JsValue) -> String {
    super::error::describe(value)
}

/// A stream id: a string (the core checks its length).
pub fn stream_id(value: &JsValue) -> Result<String> {
    value.as_string().ok_or_else(|| {
        invalid(format!(
            "stream id must be a string, got {}",
            type_name(value)
        ))
    })
}

fn optional_string(value: JsValue, what: &str) -> Result<Option<String>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| invalid(format!("{what} must be a string")))
}

/// A non-negative safe integer, or `None` when undefined.
pub fn optional_count(value: JsValue, what: &str) -> Result<Option<u64>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => {
            Ok(Some(n as u64))
        }
        _ => Err(invalid(format!(
            "{what} must be a non-negative integer, got {}",
            super::error::describe(&value)
        ))),
    }
}

/// `value` as JSON text (`JSON.stringify`, refusing what JSON cannot hold); `what` names it in
/// the error.
pub fn json_text(value: &JsValue, what: &str) -> Result<String> {
    encode_json(value, what).map_err(|thrown| invalid(super::error::thrown_message(&thrown)))
}

fn json(value: &JsValue, what: &str) -> Result<Value> {
    let text = json_text(value, what)?;
    serde_json::from_str(&text).map_err(|e| invalid(format!("{what} is not JSON: {e}")))
}

/// The events of an append: an array of `{ type, data, metadata?, id?, correlationId?, causationId? }`.
///
/// Checked and encoded in JS (`encodeEvents`), then parsed here in one piece: one boundary
/// crossing per append rather than several per event.
pub fn new_events(value: &JsValue) -> Result<Vec<NewEvent>> {
    let text =
        encode_events(value).map_err(|thrown| invalid(super::error::thrown_message(&thrown)))?;
    let Ok(Value::Array(events)) = serde_json::from_str(&text) else {
        // JSON.stringify wrote something serde_json refuses (a lone surrogate): say where.
        return new_events_one_by_one(value);
    };
    events.into_iter().map(new_event).collect()
}

/// One event of `encodeEvents`'s array, whose fields it checked.
fn new_event(event: Value) -> Result<NewEvent> {
    let Value::Object(mut event) = event else {
        return Err(invalid("an event is not an object"));
    };
    let mut text = |key: &str| match event.remove(key) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    };
    let event_type = text("type").ok_or_else(|| invalid("an event needs a string `type`"))?;
    let (id, correlation_id, causation_id) =
        (text("id"), text("correlationId"), text("causationId"));
    Ok(NewEvent {
        id,
        event_type,
        data: event.remove("data").unwrap_or(Value::Null),
        metadata: event.remove("metadata").unwrap_or(Value::Null),
        correlation_id,
        causation_id,
    })
}

/// [`new_events`] field by field, which names the event and field that is not JSON.
#[cold]
fn new_events_one_by_one(value: &JsValue) -> Result<Vec<NewEvent>> {
    if !Array::is_array(value) {
        return Err(invalid(format!(
            "events must be an array, got {}",
            type_name(value)
        )));
    }
    Array::from(value)
        .iter()
        .enumerate()
        .map(|(index, event)| {
            if !event.is_object() {
                return Err(invalid(format!("event {index} must be an object")));
            }
            let get = |key: &str| field(&event, key);
            let event_type = get("type")?
                .as_string()
                .ok_or_else(|| invalid(format!("event {index} needs a string `type`")))?;
            let data = get("data")?;
            let data = if data.is_undefined() {
                Value::Null
            } else {
                json(&data, &format!("event {index} data"))?
            };
            let metadata = get("metadata")?;
            let metadata = if metadata.is_undefined() {
                Value::Null
            } else {
                json(&metadata, &format!("event {index} metadata"))?
            };
            Ok(NewEvent {
                id: optional_string(get("id")?, "event id")?,
                event_type,
                data,
                metadata,
                correlation_id: optional_string(get("correlationId")?, "correlationId")?,
                causation_id: optional_string(get("causationId")?, "causationId")?,
            })
        })
        .collect()
}

/// `expectedVersion`: a number, `"any"` (default), `"no_stream"` or `"stream_exists"`.
pub fn expected_version(options: &JsValue) -> Result<ExpectedVersion> {
    let value = field(options, "expectedVersion")?;
    if let Some(text) = value.as_string() {
        return match text.as_str() {
            "any" => Ok(ExpectedVersion::Any),
            "no_stream" => Ok(ExpectedVersion::NoStream),
            "stream_exists" => Ok(ExpectedVersion::StreamExists),
            other => Err(invalid(format!(
                "expectedVersion must be a version number, \"any\", \"no_stream\" or \"stream_exists\", got \"{other}\""
            ))),
        };
    }
    Ok(optional_count(value, "expectedVersion")?
        .map_or(ExpectedVersion::Any, ExpectedVersion::Exact))
}

fn direction(options: &JsValue) -> Result<Direction> {
    let value = field(options, "direction")?;
    match value.as_string().as_deref() {
        None if value.is_undefined() || value.is_null() => Ok(Direction::Forward),
        Some("forward") => Ok(Direction::Forward),
        Some("backward") => Ok(Direction::Backward),
        _ => Err(invalid("direction must be \"forward\" or \"backward\"")),
    }
}

/// `batchSize`: at least 1, like `maxCount` (checked at the call, not when the first batch is
/// read).
fn batch_size(options: &JsValue) -> Result<Option<usize>> {
    match optional_count(field(options, "batchSize")?, "batchSize")? {
        Some(0) => Err(invalid("batchSize must be at least 1, got 0")),
        size => Ok(size.map(|n| n as usize)),
    }
}

fn max_count(options: &JsValue) -> Result<Option<usize>> {
    Ok(optional_count(field(options, "maxCount")?, "maxCount")?.map(|n| n as usize))
}

fn string_list(value: JsValue, what: &str) -> Result<Vec<String>> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !Array::is_array(&value) {
        return Err(invalid(format!("{what} must be an array of strings")));
    }
    Array::from(&value)
        .iter()
        .map(|item| {
            item.as_string()
                .ok_or_else(|| invalid(format!("{what} must be an array of strings")))
        })
        .collect()
}

/// `filter: { streamPrefixes?, categories?, eventTypes? }`, checked at the call (no control
/// characters), so a subscription with a bad filter fails at `subscribe()` and not later.
pub fn filter(options: &JsValue) -> Result<Filter> {
    let value = field(options, "filter")?;
    let filter = Filter {
        stream_prefixes: string_list(field(&value, "streamPrefixes")?, "filter.streamPrefixes")?,
        categories: string_list(field(&value, "categories")?, "filter.categories")?,
        event_types: string_list(field(&value, "eventTypes")?, "filter.eventTypes")?,
    };
    filter.validate()?;
    Ok(filter)
}

/// `readStream` options.
pub fn read_stream_options(options: &JsValue) -> Result<ReadStreamOptions> {
    Ok(ReadStreamOptions {
        from_version: optional_count(field(options, "fromVersion")?, "fromVersion")?,
        direction: direction(options)?,
        max_count: max_count(options)?,
    })
}

/// `readAll` options.
pub fn read_all_options(options: &JsValue) -> Result<ReadAllOptions> {
    Ok(ReadAllOptions {
        from_position: optional_count(field(options, "fromPosition")?, "fromPosition")?,
        direction: direction(options)?,
        max_count: max_count(options)?,
        filter: filter(options)?,
    })
}

/// `listStreams` options: `{ prefix?, after?, maxCount? }`.
pub fn list_streams_options(options: &JsValue) -> Result<ListStreamsOptions> {
    Ok(ListStreamsOptions {
        prefix: optional_string(field(options, "prefix")?, "prefix")?.unwrap_or_default(),
        after: optional_string(field(options, "after")?, "after")?,
        max_count: max_count(options)?,
    })
}

/// Listed streams as `StreamInfo[]`.
pub fn stream_infos(streams: &[StreamInfo]) -> JsValue {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct JsStreamInfo<'a> {
        stream_id: &'a str,
        version: u64,
        position: u64,
    }
    let streams: Vec<JsStreamInfo<'_>> = streams
        .iter()
        .map(|s| JsStreamInfo {
            stream_id: &s.stream_id,
            version: s.version,
            position: s.position,
        })
        .collect();
    to_js(&streams)
}

/// `subscribe` options: `fromPosition` (number, exclusive, or `"end"`), `filter`, `batchSize`.
pub fn subscribe_options(options: &JsValue, start_key: &str) -> Result<SubscribeOptions> {
    let from = field(options, start_key)?;
    let start = if from.as_string().as_deref() == Some("end") {
        StartFrom::End
    } else {
        match optional_count(from, start_key)? {
            None | Some(0) => StartFrom::Start,
            Some(after) => StartFrom::After(after),
        }
    };
    let mut subscribe = SubscribeOptions {
        start,
        filter: filter(options)?,
        ..SubscribeOptions::default()
    };
    if let Some(size) = batch_size(options)? {
        subscribe.batch_size = size;
    }
    Ok(subscribe)
}

/// `Projector.add` options.
pub fn projection_options(options: &JsValue) -> Result<ProjectionOptions> {
    let mut projection = ProjectionOptions {
        filter: filter(options)?,
        ..ProjectionOptions::default()
    };
    if let Some(size) = batch_size(options)? {
        projection.batch_size = size;
    }
    let millis = |value: Option<u64>| value.map(std::time::Duration::from_millis);
    projection.flush_after = millis(optional_count(
        field(options, "flushAfterMs")?,
        "flushAfterMs",
    )?);
    let retry = field(options, "retry")?;
    let defaults = RetryPolicy::default();
    projection.retry = RetryPolicy {
        max_attempts: optional_count(field(&retry, "maxAttempts")?, "retry.maxAttempts")?
            .map_or(defaults.max_attempts, |n| n.min(u32::MAX as u64) as u32),
        initial_delay: millis(optional_count(
            field(&retry, "initialDelayMs")?,
            "retry.initialDelayMs",
        )?)
        .unwrap_or(defaults.initial_delay),
        factor: match field(&retry, "factor")? {
            value if value.is_undefined() => defaults.factor,
            value => value
                .as_f64()
                .ok_or_else(|| invalid("retry.factor must be a number"))?,
        },
        max_delay: millis(optional_count(
            field(&retry, "maxDelayMs")?,
            "retry.maxDelayMs",
        )?)
        .unwrap_or(defaults.max_delay),
    };
    projection.on_failure = match field(options, "onFailure")?.as_string().as_deref() {
        None | Some("stop") => FailurePolicy::Stop,
        Some("skip") => FailurePolicy::Skip,
        Some(other) => {
            return Err(invalid(format!(
                "onFailure must be \"stop\" or \"skip\", got \"{other}\""
            )))
        }
    };
    Ok(projection)
}

/// The JS shape of a recorded event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsRecordedEvent<'a> {
    id: &'a str,
    stream_id: &'a str,
    version: u64,
    position: u64,
    #[serde(rename = "type")]
    event_type: &'a str,
    data: &'a Value,
    metadata: &'a Value,
    recorded_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    causation_id: Option<&'a str>,
}

fn to_js<T: Serialize>(value: &T) -> JsValue {
    // Plain objects, and numbers (not BigInts) for u64: versions, positions and timestamps stay
    // far below 2^53.
    parsed(value)
}

impl<'a> From<&'a RecordedEvent> for JsRecordedEvent<'a> {
    fn from(event: &'a RecordedEvent) -> Self {
        JsRecordedEvent {
            id: &event.id,
            stream_id: &event.stream_id,
            version: event.version,
            position: event.position,
            event_type: &event.event_type,
            data: &event.data,
            metadata: &event.metadata,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id.as_deref(),
            causation_id: event.causation_id.as_deref(),
        }
    }
}

/// Builds JS values from JSON text in one `JSON.parse` — much cheaper than one boundary call
/// per field and value, which is what a field-by-field conversion costs for every event.
fn parsed<T: Serialize>(value: &T) -> JsValue {
    serde_json::to_string(value)
        .ok()
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .unwrap_or(JsValue::UNDEFINED)
}

/// A recorded event as a plain JS object.
pub fn recorded_event(event: &RecordedEvent) -> JsValue {
    parsed(&JsRecordedEvent::from(event))
}

/// Recorded events as a JS array.
pub fn recorded_events(events: &[RecordedEvent]) -> Array {
    let shaped: Vec<JsRecordedEvent<'_>> = events.iter().map(JsRecordedEvent::from).collect();
    parsed(&shaped).unchecked_into()
}

/// `{ nextExpectedVersion, position }`.
pub fn append_result(result: AppendResult) -> JsValue {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct JsAppendResult {
        next_expected_version: u64,
        position: u64,
    }
    to_js(&JsAppendResult {
        next_expected_version: result.next_expected_version,
        position: result.position,
    })
}

/// Any serializable value as a plain JS value.
pub fn plain<T: Serialize>(value: &T) -> JsValue {
    to_js(value)
}
