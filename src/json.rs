//! The JSON shapes of events outside Rust: the field names of the JavaScript API's types
//! (`streamId`, `type`, `recordedAt`, …), shared by the export format and the HTTP API of
//! `evstore serve`.
//!
//! The Rust types ([`RecordedEvent`], [`NewEvent`], [`AppendResult`], [`ExpectedVersion`]) keep
//! their own serde form; these are the camelCase twins, converted by `From`, plus the JSON form
//! of an expected version (a number, `"any"`, `"no_stream"` or `"stream_exists"`).
//!
//! ```
//! use evstore::json::RecordedEventJson;
//!
//! let line = r#"{"id":"0190c5a4-0000-7000-8000-000000000001","streamId":"account-1","version":1,
//!                "position":1,"type":"Opened","data":{"owner":"ada"},"metadata":{},"recordedAt":0}"#;
//! let event: evstore::RecordedEvent = serde_json::from_str::<RecordedEventJson>(line)?.into();
//! assert_eq!(event.event_type, "Opened");
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::types::{AppendResult, ExpectedVersion, NewEvent, RecordedEvent};

/// A recorded event with the JavaScript API's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEventJson {
    /// The event id.
    pub id: String,
    /// The stream.
    pub stream_id: String,
    /// The version in the stream.
    pub version: u64,
    /// The global position.
    pub position: u64,
    /// The event type (`type` in JSON).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload.
    pub data: Value,
    /// The metadata object (`{}` when absent).
    #[serde(default = "empty_object")]
    pub metadata: Value,
    /// UTC milliseconds.
    pub recorded_at: u64,
    /// The correlation id; omitted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The causation id; omitted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl From<RecordedEvent> for RecordedEventJson {
    fn from(event: RecordedEvent) -> Self {
        RecordedEventJson {
            id: event.id,
            stream_id: event.stream_id,
            version: event.version,
            position: event.position,
            event_type: event.event_type,
            data: event.data,
            metadata: event.metadata,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
        }
    }
}

impl From<RecordedEventJson> for RecordedEvent {
    fn from(event: RecordedEventJson) -> Self {
        RecordedEvent {
            id: event.id,
            stream_id: event.stream_id,
            version: event.version,
            position: event.position,
            event_type: event.event_type,
            data: event.data,
            metadata: event.metadata,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
        }
    }
}

/// An event to append, with the JavaScript API's field names:
/// `{ type, data?, metadata?, id?, correlationId?, causationId? }`. Unknown fields are refused,
/// so a misspelt field is an error instead of silently lost data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEventJson {
    /// The event type (`type` in JSON).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload (`null` when absent).
    #[serde(default)]
    pub data: Value,
    /// The metadata object (`null` or absent = empty).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub metadata: Value,
    /// The event id (a UUID); generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The causation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
}

impl From<NewEventJson> for NewEvent {
    fn from(event: NewEventJson) -> Self {
        NewEvent {
            id: event.id,
            event_type: event.event_type,
            data: event.data,
            metadata: event.metadata,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
        }
    }
}

impl From<NewEvent> for NewEventJson {
    fn from(event: NewEvent) -> Self {
        NewEventJson {
            event_type: event.event_type,
            data: event.data,
            metadata: event.metadata,
            id: event.id,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
        }
    }
}

/// The result of an append: `{ nextExpectedVersion, position }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendResultJson {
    /// The stream's version after the append.
    pub next_expected_version: u64,
    /// The position of the last event written.
    pub position: u64,
}

impl From<AppendResult> for AppendResultJson {
    fn from(result: AppendResult) -> Self {
        AppendResultJson {
            next_expected_version: result.next_expected_version,
            position: result.position,
        }
    }
}

impl From<AppendResultJson> for AppendResult {
    fn from(result: AppendResultJson) -> Self {
        AppendResult {
            next_expected_version: result.next_expected_version,
            position: result.position,
        }
    }
}

/// An [`ExpectedVersion`] in its JSON form: a version number, `"any"`, `"no_stream"` or
/// `"stream_exists"` (the JavaScript API's `expectedVersion`).
///
/// ```
/// use evstore::{json::ExpectedVersionJson, ExpectedVersion};
/// let parsed: ExpectedVersionJson = serde_json::from_str("\"no_stream\"")?;
/// assert_eq!(parsed.0, ExpectedVersion::NoStream);
/// assert_eq!(serde_json::to_string(&ExpectedVersionJson(ExpectedVersion::Exact(3)))?, "3");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpectedVersionJson(pub ExpectedVersion);

impl Serialize for ExpectedVersionJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            ExpectedVersion::Any => serializer.serialize_str("any"),
            ExpectedVersion::NoStream => serializer.serialize_str("no_stream"),
            ExpectedVersion::StreamExists => serializer.serialize_str("stream_exists"),
            ExpectedVersion::Exact(version) => serializer.serialize_u64(version),
        }
    }
}

impl<'de> Deserialize<'de> for ExpectedVersionJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpectedVisitor;

        impl Visitor<'_> for ExpectedVisitor {
            type Value = ExpectedVersionJson;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a version number (a non-negative integer), \"any\", \"no_stream\" or \"stream_exists\"",
                )
            }

            fn visit_u64<E: de::Error>(self, version: u64) -> Result<Self::Value, E> {
                Ok(ExpectedVersionJson(ExpectedVersion::Exact(version)))
            }

            fn visit_i64<E: de::Error>(self, version: i64) -> Result<Self::Value, E> {
                u64::try_from(version)
                    .map(|v| ExpectedVersionJson(ExpectedVersion::Exact(v)))
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(version), &self))
            }

            fn visit_f64<E: de::Error>(self, version: f64) -> Result<Self::Value, E> {
                Err(E::invalid_value(de::Unexpected::Float(version), &self))
            }

            fn visit_str<E: de::Error>(self, word: &str) -> Result<Self::Value, E> {
                match word {
                    "any" => Ok(ExpectedVersionJson(ExpectedVersion::Any)),
                    "no_stream" => Ok(ExpectedVersionJson(ExpectedVersion::NoStream)),
                    "stream_exists" => Ok(ExpectedVersionJson(ExpectedVersion::StreamExists)),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }

        deserializer.deserialize_any(ExpectedVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_versions_round_trip_and_refuse_other_values() {
        for (text, expected) in [
            ("\"any\"", ExpectedVersion::Any),
            ("\"no_stream\"", ExpectedVersion::NoStream),
            ("\"stream_exists\"", ExpectedVersion::StreamExists),
            ("7", ExpectedVersion::Exact(7)),
        ] {
            let parsed: ExpectedVersionJson = serde_json::from_str(text).unwrap();
            assert_eq!(parsed.0, expected);
            assert_eq!(serde_json::to_string(&parsed).unwrap(), text);
        }
        for bad in ["-1", "1.5", "\"exact\"", "null", "[]", "{}", "true"] {
            assert!(
                serde_json::from_str::<ExpectedVersionJson>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn new_events_refuse_unknown_fields_and_default_data() {
        let event: NewEventJson = serde_json::from_str(r#"{"type":"A"}"#).unwrap();
        assert_eq!(event.data, Value::Null);
        assert!(serde_json::from_str::<NewEventJson>(r#"{"type":"A","eventType":"B"}"#).is_err());
        assert!(serde_json::from_str::<NewEventJson>(r#"{"data":1}"#).is_err());
    }
}
