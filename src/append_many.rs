//! [`StreamAppend`]: one stream's part of an atomic append to several streams
//! ([`EventStore::append_many`](crate::EventStore::append_many)), and its validation.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::storage::AppendBatch;
use crate::store::prepare_batch;
use crate::types::{ExpectedVersion, NewEvent};

/// The most streams (batches) one [`append_many`](crate::EventStore::append_many) takes; more is
/// [`Error::InvalidInput`]. It keeps one transaction's work bounded.
pub const MAX_APPEND_MANY_STREAMS: usize = 1000;

/// The events to append to one stream, if its version satisfies `expected`: one part of an
/// [`append_many`](crate::EventStore::append_many).
///
/// ```
/// use evstore::{ExpectedVersion, NewEvent, StreamAppend};
/// let part = StreamAppend::new("account-1", ExpectedVersion::Exact(3),
///                              vec![NewEvent::new("Withdrawn", serde_json::json!({ "amount": 5 }))]);
/// // A tuple converts too.
/// let same: StreamAppend = ("account-1", ExpectedVersion::Exact(3),
///                           vec![NewEvent::new("Withdrawn", serde_json::json!({ "amount": 5 }))]).into();
/// assert_eq!(part.stream, same.stream);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAppend {
    /// The stream.
    pub stream: String,
    /// What the stream's version must be (seeing the earlier parts of the same call).
    pub expected: ExpectedVersion,
    /// The events, at least one.
    pub events: Vec<NewEvent>,
}

impl StreamAppend {
    /// The events `events` for `stream`, if its version satisfies `expected`.
    pub fn new(
        stream: impl Into<String>,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        StreamAppend {
            stream: stream.into(),
            expected,
            events,
        }
    }
}

impl<S: Into<String>> From<(S, ExpectedVersion, Vec<NewEvent>)> for StreamAppend {
    fn from((stream, expected, events): (S, ExpectedVersion, Vec<NewEvent>)) -> Self {
        StreamAppend::new(stream, expected, events)
    }
}

/// Validates every part as [`EventStore::append`](crate::EventStore::append) validates one
/// (an [`Error::InvalidInput`] names the part), refuses an empty call or one of more than
/// [`MAX_APPEND_MANY_STREAMS`] parts, and an event id used twice anywhere in the call
/// ([`Error::DuplicateEventId`]).
pub(crate) fn prepare_many(parts: Vec<StreamAppend>) -> Result<Vec<AppendBatch>> {
    if parts.is_empty() {
        return Err(Error::invalid_input(
            "append_many needs at least one stream to append to",
        ));
    }
    if parts.len() > MAX_APPEND_MANY_STREAMS {
        return Err(Error::invalid_input(format!(
            "append_many takes at most {MAX_APPEND_MANY_STREAMS} streams, got {}",
            parts.len()
        )));
    }
    let mut ids = HashSet::new();
    parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| {
            let batch =
                prepare_batch(&part.stream, part.expected, part.events).map_err(|e| match e {
                    Error::InvalidInput { reason } => Error::invalid_input(format!(
                        "append {index} (stream `{}`): {reason}",
                        part.stream
                    )),
                    other => other,
                })?;
            if let Some(event) = batch.events.iter().find(|e| !ids.insert(e.id.clone())) {
                return Err(Error::DuplicateEventId {
                    id: event.id.clone(),
                });
            }
            Ok(batch)
        })
        .collect()
}
