//! Stream lifecycle as a backend sees it: the per-stream record ([`StreamRecord`]) that
//! remembers deletes, tombstones, truncation and retention, and the shared decisions a backend
//! takes inside its write transaction ([`decide_stream_change`], [`append_basis`],
//! [`record_after_append`]), so every backend decides the same way.
//!
//! Removal is physical and immediate: a delete, tombstone, truncation or a `maxCount` that a
//! stream outgrows removes the events in the same transaction that records the change, so every
//! read path (reads, `$all`, iterators, subscriptions, the projector, export, the stream listing)
//! is right without filtering. Positions are never reused and the head never goes down: a backend
//! keeps the head at least at the position it had before removing the last events. The one
//! exception is `maxAge`, under which events expire without a write: the store hides them on
//! every read path and the backends remove them later (see [`crate::storage::Retention`]).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::storage::{check_expected, AppendBatch};
use crate::store::prepare_batch;
use crate::types::{ExpectedVersion, NewEvent};

/// The stream that records lifecycle markers: one event per delete, tombstone and truncation,
/// appended in the transaction of the operation, so that a projection that already handled the
/// removed events sees, in position order, that they are gone.
///
/// | event type | when | data |
/// | --- | --- | --- |
/// | `$streamDeleted` | [`delete_stream`](crate::EventStore::delete_stream) | `{ streamId, lastVersion }` |
/// | `$streamTombstoned` | [`tombstone_stream`](crate::EventStore::tombstone_stream) | `{ streamId, lastVersion }` |
/// | `$streamTruncated` | [`truncate_before`](crate::EventStore::truncate_before), or a `maxCount` set by [`set_stream_metadata`](crate::EventStore::set_stream_metadata) that removes events | `{ streamId, before, lastVersion }` (events below `before` are gone) |
///
/// Retention a `maxCount` applies at later appends writes no marker (one per append would double
/// the store). Markers name the stream: keep this stream short with its own `maxCount` or
/// truncate it (operations on it record no markers).
pub const LIFECYCLE_STREAM: &str = "$lifecycle";

/// The largest `maxAge` accepted, in seconds: 2^53 − 1 milliseconds (what a JS number holds
/// exactly), about 285,000 years.
pub const MAX_AGE_LIMIT: u64 = ((1 << 53) - 1) / 1000;

/// Retention settings of one stream (its *stream metadata*).
///
/// - `max_count`: keep only the newest `max_count` events. The older ones are removed when the
///   setting is made and at every append that makes the stream outgrow it.
/// - `max_age` (seconds, `maxAge` in JSON and JS, as KurrentDB's `$maxAge`): an event recorded
///   more than `max_age` seconds ago (its `recorded_at` before now − `max_age`) is hidden from
///   every read path at once, and physically removed by the next append to the stream and by
///   [`scavenge`](crate::EventStore::scavenge) (the stream's last event stays stored, hidden, so
///   that its version is kept; see [`crate::storage::Retention`]).
///
/// An event is kept only if both keep it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamMetadata {
    /// Keep at most this many of the newest events (`None` = keep all). Must be at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u64>,
    /// Keep only events recorded at most this many seconds ago (`None` = keep all). Must be at
    /// least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
}

impl StreamMetadata {
    /// No retention limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps at most `count` of the newest events.
    pub fn max_count(mut self, count: u64) -> Self {
        self.max_count = Some(count);
        self
    }

    /// Keeps only the events recorded at most `seconds` ago.
    pub fn max_age(mut self, seconds: u64) -> Self {
        self.max_age = Some(seconds);
        self
    }

    /// Refuses a `max_count` or `max_age` of 0, and a `max_age` above [`MAX_AGE_LIMIT`].
    pub fn validate(&self) -> Result<()> {
        if self.max_count == Some(0) {
            return Err(Error::invalid_input("maxCount must be at least 1"));
        }
        match self.max_age {
            Some(0) => Err(Error::invalid_input("maxAge must be at least 1 (second)")),
            Some(age) if age > MAX_AGE_LIMIT => Err(Error::invalid_input(format!(
                "maxAge must be at most {MAX_AGE_LIMIT} seconds, got {age}"
            ))),
            _ => Ok(()),
        }
    }
}

/// What a backend remembers of a stream beyond its events. Backends keep one only for streams a
/// lifecycle operation touched; a stream without one is described by its events alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRecord {
    /// The highest version the stream ever had: numbering continues after it, even once the
    /// events are gone.
    pub last_version: u64,
    /// Soft-deleted: no events, reads say `StreamNotFound`, and the next append (expecting no
    /// stream) continues at `last_version + 1`.
    pub deleted: bool,
    /// Tombstoned: no events, and every later call on the stream is `StreamDeleted`.
    pub tombstoned: bool,
    /// Versions below this were removed (0 or 1: none).
    pub truncated_before: u64,
    /// The stream's retention settings.
    pub metadata: StreamMetadata,
}

/// A lifecycle operation on one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamOp {
    /// Soft delete: remove every event; the stream can be appended to again.
    Delete,
    /// Hard delete: remove every event and refuse the stream forever.
    Tombstone,
    /// Remove the events below this version.
    TruncateBefore(u64),
    /// Replace the stream's metadata, removing the events it no longer keeps.
    SetMetadata(StreamMetadata),
}

/// A validated lifecycle call, as the store hands it to [`Storage::change_stream`](crate::storage::Storage::change_stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamChange {
    /// The stream (a valid stream id).
    pub stream_id: String,
    /// What the caller expects of the stream's version.
    pub expected: ExpectedVersion,
    /// What to do.
    pub op: StreamOp,
}

/// What [`decide_stream_change`] tells a backend to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPlan {
    /// The record to store (replacing the stream's record).
    pub record: StreamRecord,
    /// Remove the stream's events with a version below this (0: remove nothing).
    pub remove_before: u64,
    /// The lifecycle marker to append to [`LIFECYCLE_STREAM`] in the same transaction, after the
    /// removal (appended like any batch, expecting `Any`).
    pub marker: Option<AppendBatch>,
}

/// The stream's version as appends and reads see it: 0 once soft-deleted or tombstoned.
fn visible_version(record: Option<&StreamRecord>, stored_version: u64) -> u64 {
    match record {
        Some(record) if record.deleted || record.tombstoned => 0,
        _ => stored_version,
    }
}

/// Decides a lifecycle change from what the backend read inside its write transaction: the
/// stream's record (`None` when it has none) and `stored_version`, the version of its last
/// stored event (0 when it has none).
///
/// - A tombstoned stream: another [`StreamOp::Tombstone`] is an idempotent retry (`Ok(None)`:
///   write nothing); anything else is [`Error::StreamDeleted`].
/// - The expected version is checked against the visible version (0 once soft-deleted):
///   [`Error::WrongExpectedVersion`] on a mismatch.
/// - Delete and truncate need a stream with events ([`Error::StreamNotFound`]); a tombstone
///   needs a stream that has or had events; metadata may be set before the first event.
/// - [`LIFECYCLE_STREAM`] cannot be tombstoned ([`Error::InvalidInput`]), and operations on it
///   record no marker.
/// - `TruncateBefore(v)` needs `1 ≤ v ≤ version` ([`Error::InvalidInput`]); a version at or
///   below an earlier truncation removes nothing more.
pub fn decide_stream_change(
    change: &StreamChange,
    record: Option<&StreamRecord>,
    stored_version: u64,
) -> Result<Option<StreamPlan>> {
    let stream = &change.stream_id;
    if record.is_some_and(|record| record.tombstoned) {
        return match change.op {
            StreamOp::Tombstone => Ok(None),
            _ => Err(Error::StreamDeleted {
                stream: stream.clone(),
            }),
        };
    }
    let visible = visible_version(record, stored_version);
    check_expected(stream, change.expected, visible)?;
    let mut next = record.cloned().unwrap_or_default();
    next.last_version = next.last_version.max(stored_version);
    let truncated_before = next.truncated_before;
    let not_found = || Error::StreamNotFound {
        stream: stream.clone(),
    };
    let remove_before = match &change.op {
        StreamOp::Delete => {
            if visible == 0 {
                return Err(not_found());
            }
            next.deleted = true;
            // As KurrentDB's `$tb`: what is appended later starts after the last version.
            next.truncated_before = next.last_version + 1;
            u64::MAX
        }
        StreamOp::Tombstone => {
            if stream == LIFECYCLE_STREAM {
                return Err(Error::invalid_input(format!(
                    "`{LIFECYCLE_STREAM}` records lifecycle markers and cannot be tombstoned; \
                     truncate it or give it a maxCount"
                )));
            }
            if next.last_version == 0 {
                return Err(not_found());
            }
            next.deleted = false;
            next.tombstoned = true;
            next.truncated_before = next.last_version + 1;
            next.metadata = StreamMetadata::default();
            u64::MAX
        }
        StreamOp::TruncateBefore(version) => {
            if visible == 0 {
                return Err(not_found());
            }
            if *version == 0 || *version > visible {
                return Err(Error::invalid_input(format!(
                    "cannot truncate stream `{stream}` before version {version}: it must be \
                     between 1 and the stream's version {visible} (delete the stream to remove \
                     every event)"
                )));
            }
            next.truncated_before = next.truncated_before.max(*version);
            *version
        }
        StreamOp::SetMetadata(metadata) => {
            metadata.validate()?;
            next.metadata = *metadata;
            let keep_from = keep_from(metadata, visible);
            next.truncated_before = next.truncated_before.max(keep_from);
            keep_from
        }
    };
    let marker = match &change.op {
        _ if change.stream_id == LIFECYCLE_STREAM => None,
        StreamOp::Delete => Some(("$streamDeleted", None)),
        StreamOp::Tombstone => Some(("$streamTombstoned", None)),
        StreamOp::TruncateBefore(_) | StreamOp::SetMetadata(_)
            if remove_before > truncated_before.max(1) =>
        {
            Some(("$streamTruncated", Some(remove_before)))
        }
        _ => None,
    };
    let marker = marker
        .map(|(event_type, before)| {
            let mut data = json!({ "streamId": stream, "lastVersion": next.last_version });
            if let Some(before) = before {
                data["before"] = before.into();
            }
            prepare_batch(
                LIFECYCLE_STREAM,
                ExpectedVersion::Any,
                vec![NewEvent::new(event_type, data)],
            )
        })
        .transpose()?;
    Ok(Some(StreamPlan {
        record: next,
        remove_before,
        marker,
    }))
}

/// The first version `metadata` keeps of a stream at `version` (0: all).
fn keep_from(metadata: &StreamMetadata, version: u64) -> u64 {
    match metadata.max_count {
        Some(count) if version > count => version - count + 1,
        _ => 0,
    }
}

/// What an append is decided against: the version its expectation is checked against, and the
/// version its first event follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendBasis {
    /// The stream's visible version (0 for a soft-deleted stream).
    pub current: u64,
    /// The version the batch's first event follows (a soft-deleted stream continues its
    /// numbering).
    pub after: u64,
}

/// The [`AppendBasis`] of a stream from its record and `stored_version` (the version of its last
/// stored event); [`Error::StreamDeleted`] for a tombstoned stream.
pub fn append_basis(
    stream: &str,
    record: Option<&StreamRecord>,
    stored_version: u64,
) -> Result<AppendBasis> {
    match record {
        Some(record) if record.tombstoned => Err(Error::StreamDeleted {
            stream: stream.to_owned(),
        }),
        Some(record) => Ok(AppendBasis {
            current: visible_version(Some(record), stored_version),
            after: record.last_version.max(stored_version),
        }),
        None => Ok(AppendBasis {
            current: stored_version,
            after: stored_version,
        }),
    }
}

/// After an append took a stream with a record to `version`: the record to store and the
/// versions to remove (below the returned version; 0 = none), or `None` when the record stays as
/// it is and nothing is removed.
pub fn record_after_append(record: &StreamRecord, version: u64) -> Option<(StreamRecord, u64)> {
    let keep_from = keep_from(&record.metadata, version);
    // `last_version` only matters once the events are gone, and a delete sets it then.
    if !record.deleted && keep_from <= record.truncated_before {
        return None;
    }
    let mut next = record.clone();
    next.deleted = false;
    next.last_version = version;
    next.truncated_before = next.truncated_before.max(keep_from);
    Some((next, keep_from))
}
