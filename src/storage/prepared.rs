//! Events as the store hands them to a backend: validated, with id and timestamp assigned and
//! JSON already encoded, so a backend's write transaction does nothing but write.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::storage::parse_stored_json;
use crate::types::{ExpectedVersion, RecordedEvent};

/// A validated event ready to be written. `data` and `metadata` are JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedEvent {
    /// The event id (a UUID string).
    pub id: String,
    /// The event type (non-empty).
    pub event_type: String,
    /// The payload, as JSON text.
    pub data: String,
    /// The metadata, as the JSON text of an object.
    pub metadata: String,
    /// The correlation id.
    pub correlation_id: Option<String>,
    /// The causation id.
    pub causation_id: Option<String>,
    /// When the store accepted the event, in UTC milliseconds.
    pub recorded_at: u64,
}

impl PreparedEvent {
    /// The recorded event this becomes once written at `version` and `position` of `stream_id`.
    pub fn to_recorded(
        &self,
        stream_id: &str,
        version: u64,
        position: u64,
    ) -> Result<RecordedEvent> {
        Ok(RecordedEvent {
            id: self.id.clone(),
            stream_id: stream_id.to_owned(),
            version,
            position,
            event_type: self.event_type.clone(),
            data: parse_stored_json(&self.data)?,
            metadata: parse_stored_json(&self.metadata)?,
            recorded_at: self.recorded_at,
            correlation_id: self.correlation_id.clone(),
            causation_id: self.causation_id.clone(),
        })
    }
}

/// One append call, validated: a non-empty batch for one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendBatch {
    /// The stream (a valid stream id).
    pub stream_id: String,
    /// The stream's category, derived from its id.
    pub category: String,
    /// What the caller expects of the stream's version.
    pub expected: ExpectedVersion,
    /// The events, at least one, with distinct ids.
    pub events: Vec<PreparedEvent>,
}
