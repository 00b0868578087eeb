//! Lifecycle markers (schema 4): which streams have a lifecycle record, answered by the request
//! that reads a stream's last version.
//!
//! Every stream with a record in the `streams` store has a marker in the `events` store,
//! `{ position: -n, streamId, version: Infinity }`:
//!
//! - its key is negative, below every position (positions start at 1), so reads by position,
//!   the head and the key generator never meet it;
//! - it has no `id`, `category` or `eventType`, so the `id`, `category` and `type` indexes do
//!   not hold it;
//! - the `stream_version` index holds it at `[streamId, Infinity]`, after every version of its
//!   stream.
//!
//! So the backward key cursor over `[streamId, 0] ..= [streamId, Infinity]` that an append opens
//! answers in one request either the stream's last version (no lifecycle record: the common case
//! of [`common_append`](super::common_append), with one request before the writes as a raw
//! IndexedDB append has) or the marker (a record: the full path reads it and decides). Every
//! other read of a stream's versions stops below the marker ([`versions_from`]).

use idb::{CursorDirection, KeyRange, ObjectStore};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{IdbCursor, IdbTransaction};

use super::errors::{corrupt, idb_error, js_error};
use super::records;
use super::request::Request;
use super::{cursor_of, key_range};
use crate::error::Result;

#[wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// Adds the markers of the streams that have a record in `streams`, inside the upgrade's
    /// `versionchange` transaction (its failure aborts the upgrade).
    #[wasm_bindgen(catch, js_name = markRecordedStreams)]
    fn mark_recorded_streams(transaction: &IdbTransaction) -> std::result::Result<(), JsValue>;
}

/// The version under which the `stream_version` index holds a stream's marker.
pub(super) const MARKER_VERSION: f64 = f64::INFINITY;

/// The versions of `stream_id` from `lower` on, stopping below its marker.
pub(super) fn versions_from(stream_id: &str, lower: f64) -> Result<KeyRange> {
    key_range(
        &records::pair_key(stream_id, lower),
        &records::pair_key(stream_id, MARKER_VERSION),
        false,
        true,
    )
}

/// Whether a `stream_version` index key is a marker's.
pub(super) fn is_marker_key(key: &JsValue) -> bool {
    js_sys::Array::is_array(key) && js_sys::Array::from(key).get(1).as_f64() == Some(MARKER_VERSION)
}

/// Adds the marker of `stream_id`, whose first lifecycle record is being written, under the key
/// below the lowest one in use.
pub(super) async fn add_marker(events: &ObjectStore, stream_id: &str) -> Result<()> {
    let context = "marking a stream with a lifecycle record";
    let below_positions = KeyRange::upper_bound(&JsValue::from_f64(0.0), Some(true))
        .map_err(|e| idb_error("building a key range", e))?;
    let lowest = events
        .open_key_cursor(Some(below_positions.into()), Some(CursorDirection::Next))
        .map_err(|e| idb_error(context, e))
        .map(Request::new)?
        .await
        .map_err(|failure| failure.into_error(context))?;
    let key = match cursor_of::<IdbCursor>(lowest, context)? {
        None => -1.0,
        Some(cursor) => {
            let lowest = cursor.key().map_err(|e| js_error(context, &e))?;
            lowest
                .as_f64()
                .ok_or_else(|| corrupt("a lifecycle marker's key is not a number"))?
                - 1.0
        }
    };
    let marker = Object::new();
    for (field, value) in [
        (records::POSITION, JsValue::from_f64(key)),
        (records::STREAM_ID, JsValue::from_str(stream_id)),
        (records::VERSION, JsValue::from_f64(MARKER_VERSION)),
    ] {
        Reflect::set(&marker, &JsValue::from_str(field), &value)
            .map_err(|e| js_error(context, &e))?;
    }
    let added = events
        .add(&marker, None)
        .map_err(|e| idb_error(context, e))?;
    Request::new(added)
        .await
        .map_err(|failure| failure.into_error(context))?;
    Ok(())
}

/// Schema step 4: the markers of the streams that already have a lifecycle record.
pub(super) fn mark_existing_streams(
    transaction: &IdbTransaction,
) -> std::result::Result<(), idb::Error> {
    mark_recorded_streams(transaction).map_err(idb::Error::GetAllKeysFailed)
}
