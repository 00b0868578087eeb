//! The data model: stream ids, expected versions, events as appended and as recorded, and the
//! options of reads and subscriptions.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The longest stream id accepted, in UTF-8 bytes.
pub const MAX_STREAM_ID_BYTES: usize = 1024;

/// Checks that `stream` is a valid stream id: non-empty UTF-8 of at most
/// [`MAX_STREAM_ID_BYTES`] bytes, without control characters.
///
/// ```
/// assert!(evstore::validate_stream_id("account-42").is_ok());
/// assert!(evstore::validate_stream_id("").is_err());
/// assert!(evstore::validate_stream_id("account\0-42").is_err());
/// ```
pub fn validate_stream_id(stream: &str) -> Result<()> {
    if stream.is_empty() {
        return Err(Error::invalid_input("stream id must not be empty"));
    }
    if stream.len() > MAX_STREAM_ID_BYTES {
        return Err(Error::invalid_input(format!(
            "stream id is {} bytes long; the limit is {MAX_STREAM_ID_BYTES}",
            stream.len()
        )));
    }
    refuse_control_characters("stream id", stream)
}

/// Refuses text containing a control character (Unicode category Cc: U+0000–U+001F and
/// U+007F–U+009F, NUL included).
///
/// Stream ids, filter prefixes and categories, and event types are compared byte for byte by
/// every backend; control characters have no business in them and some backends' string
/// functions stop at NUL, so they are refused above the [`Storage`](crate::Storage) trait, once.
pub(crate) fn refuse_control_characters(what: &str, text: &str) -> Result<()> {
    match text.char_indices().find(|(_, c)| c.is_control()) {
        None => Ok(()),
        Some((at, c)) => Err(Error::invalid_input(format!(
            "{what} {text:?} contains the control character U+{:04X} at byte {at}; control \
             characters are not allowed",
            c as u32
        ))),
    }
}

/// The category of a stream: the part of its id before the first `-`
/// (`account-42` → `account`); a stream id without `-` is its own category.
///
/// ```
/// assert_eq!(evstore::category_of("account-42"), "account");
/// assert_eq!(evstore::category_of("ledger"), "ledger");
/// ```
pub fn category_of(stream: &str) -> &str {
    stream
        .split_once('-')
        .map_or(stream, |(category, _)| category)
}

/// What an append expects of the stream's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedVersion {
    /// No check: append whatever the stream's version.
    #[default]
    Any,
    /// The stream must have no events.
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's version must be exactly this (`Exact(0)` is the same as `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream at `actual` version satisfies this expectation.
    pub fn accepts(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::StreamExists => actual > 0,
            ExpectedVersion::Exact(version) => actual == version,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("stream exists"),
            ExpectedVersion::Exact(version) => write!(f, "version {version}"),
        }
    }
}

/// An event to append.
///
/// ```
/// use evstore::NewEvent;
/// use serde_json::json;
///
/// let event = NewEvent::new("Deposited", json!({ "amount": 10 }))
///     .with_metadata(json!({ "user": "ada" }))
///     .with_correlation_id("req-1");
/// assert_eq!(event.event_type, "Deposited");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The event id (a UUID string); generated (UUIDv7) when `None`.
    pub id: Option<String>,
    /// The event type, for example `"Deposited"`. Must not be empty.
    pub event_type: String,
    /// The event's payload.
    pub data: Value,
    /// A JSON object of metadata; `Value::Null` means an empty object.
    pub metadata: Value,
    /// The id of the request or process this event belongs to.
    pub correlation_id: Option<String>,
    /// The id of the message that caused this event.
    pub causation_id: Option<String>,
}

impl NewEvent {
    /// An event of type `event_type` carrying `data`, with no metadata and a generated id.
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        NewEvent {
            id: None,
            event_type: event_type.into(),
            data,
            metadata: Value::Null,
            correlation_id: None,
            causation_id: None,
        }
    }

    /// Sets the event id (a UUID string). Retrying an append with the same ids is idempotent.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the metadata; it must be a JSON object.
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the correlation id.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the causation id.
    pub fn with_causation_id(mut self, id: impl Into<String>) -> Self {
        self.causation_id = Some(id.into());
        self
    }
}

/// An event as stored and returned by reads and subscriptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// The event id (a UUID string), unique in the store.
    pub id: String,
    /// The stream the event belongs to.
    pub stream_id: String,
    /// The event's version in its stream, starting at 1.
    pub version: u64,
    /// The event's global position, starting at 1, increasing in commit order.
    pub position: u64,
    /// The event type.
    pub event_type: String,
    /// The payload.
    pub data: Value,
    /// The metadata, always a JSON object (possibly empty).
    pub metadata: Value,
    /// When the store recorded the event, in UTC milliseconds since the Unix epoch.
    pub recorded_at: u64,
    /// The correlation id, if one was given.
    pub correlation_id: Option<String>,
    /// The causation id, if one was given.
    pub causation_id: Option<String>,
}

/// The outcome of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppendResult {
    /// The stream's version after the append: pass it as `ExpectedVersion::Exact` next time.
    pub next_expected_version: u64,
    /// The global position of the last event written.
    pub position: u64,
}

/// A stream as listed by [`EventStore::list_streams`](crate::EventStore::list_streams).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The stream id.
    pub stream_id: String,
    /// The stream's current version: the version of its last event (≥ 1).
    pub version: u64,
    /// The global position of the stream's last event.
    pub position: u64,
}

/// Options of [`EventStore::list_streams`](crate::EventStore::list_streams).
///
/// ```
/// use evstore::ListStreamsOptions;
/// let first_page = ListStreamsOptions::new().prefix("account-").max_count(100);
/// let next_page = first_page.clone().after("account-0099");
/// assert_eq!(next_page.after.as_deref(), Some("account-0099"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListStreamsOptions {
    /// Only streams whose id starts with this (`""`, the default: every stream).
    pub prefix: String,
    /// Only streams whose id sorts strictly after this one: pass the last id of the previous
    /// page to get the next. Default: from the first stream.
    pub after: Option<String>,
    /// At most this many streams (≥ 1). Default: all.
    pub max_count: Option<usize>,
}

impl ListStreamsOptions {
    /// Every stream, from the first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only streams whose id starts with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Only streams whose id sorts after `stream_id`.
    pub fn after(mut self, stream_id: impl Into<String>) -> Self {
        self.after = Some(stream_id.into());
        self
    }

    /// Returns at most `count` streams.
    pub fn max_count(mut self, count: usize) -> Self {
        self.max_count = Some(count);
        self
    }
}

/// The order of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// Options of [`EventStore::read_stream`](crate::EventStore::read_stream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStreamOptions {
    /// The first version to return (inclusive). Default: the first event reading forward, the
    /// last reading backward.
    pub from_version: Option<u64>,
    /// Forward (default) or backward.
    pub direction: Direction,
    /// At most this many events (≥ 1). Default: all.
    pub max_count: Option<usize>,
}

impl ReadStreamOptions {
    /// Reads forward from the first event, everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads backward from the last event.
    pub fn backward() -> Self {
        ReadStreamOptions {
            direction: Direction::Backward,
            ..Self::default()
        }
    }

    /// Starts at `version` (inclusive).
    pub fn from_version(mut self, version: u64) -> Self {
        self.from_version = Some(version);
        self
    }

    /// Returns at most `count` events.
    pub fn max_count(mut self, count: usize) -> Self {
        self.max_count = Some(count);
        self
    }
}

/// Options of [`EventStore::read_all`](crate::EventStore::read_all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadAllOptions {
    /// Start after this position (**exclusive**; 0 = from the start). Reading backward, start
    /// before it. Default: the start forward, the end backward.
    pub from_position: Option<u64>,
    /// Forward (default) or backward.
    pub direction: Direction,
    /// At most this many events (≥ 1). Default: all.
    pub max_count: Option<usize>,
    /// Only events matching this filter.
    pub filter: Filter,
}

impl ReadAllOptions {
    /// Reads forward from the start, everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads backward from the end.
    pub fn backward() -> Self {
        ReadAllOptions {
            direction: Direction::Backward,
            ..Self::default()
        }
    }

    /// Starts after (forward) or before (backward) `position`.
    pub fn from_position(mut self, position: u64) -> Self {
        self.from_position = Some(position);
        self
    }

    /// Returns at most `count` events.
    pub fn max_count(mut self, count: usize) -> Self {
        self.max_count = Some(count);
        self
    }

    /// Returns only events matching `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }
}

/// Which events a read, subscription or projection wants.
///
/// Each non-empty list must match: an event passes when its stream id starts with one of
/// `stream_prefixes` (if any are given) **and** its stream's category is one of `categories`
/// (if any) **and** its type is one of `event_types` (if any). The empty filter passes
/// everything. Filters are evaluated by the backend, next to the data.
///
/// ```
/// use evstore::Filter;
/// let deposits_to_accounts = Filter::new().category("account").event_type("Deposited");
/// assert!(!deposits_to_accounts.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filter {
    /// Stream-id prefixes (`"account-"`).
    pub stream_prefixes: Vec<String>,
    /// Stream categories (`"account"`).
    pub categories: Vec<String>,
    /// Event types (`"Deposited"`).
    pub event_types: Vec<String>,
}

impl Filter {
    /// The filter that passes everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a stream-id prefix.
    pub fn stream_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.stream_prefixes.push(prefix.into());
        self
    }

    /// Adds a category.
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.categories.push(category.into());
        self
    }

    /// Adds an event type.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types.push(event_type.into());
        self
    }

    /// Whether this filter passes everything.
    pub fn is_empty(&self) -> bool {
        self.stream_prefixes.is_empty() && self.categories.is_empty() && self.event_types.is_empty()
    }

    /// Checks the filter: no stream prefix, category or event type may contain a control
    /// character (as in stream ids and event types). Reads, subscriptions and projections check
    /// their filter with it and fail with [`Error::InvalidInput`].
    pub fn validate(&self) -> Result<()> {
        for (what, list) in [
            ("stream prefix", &self.stream_prefixes),
            ("category", &self.categories),
            ("event type", &self.event_types),
        ] {
            for value in list {
                refuse_control_characters(&format!("filter {what}"), value)?;
            }
        }
        Ok(())
    }

    /// Whether an event of `event_type` in `stream_id` passes the filter.
    pub fn matches(&self, stream_id: &str, event_type: &str) -> bool {
        (self.stream_prefixes.is_empty()
            || self
                .stream_prefixes
                .iter()
                .any(|prefix| stream_id.starts_with(prefix.as_str())))
            && (self.categories.is_empty()
                || self
                    .categories
                    .iter()
                    .any(|category| category == category_of(stream_id)))
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
    }
}

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StartFrom {
    /// From the first event.
    #[default]
    Start,
    /// After this position (subscribe_all) or version (subscribe_to_stream), exclusive.
    After(u64),
    /// Only events committed after the subscription started.
    End,
}

/// What a subscription yields.
// Items are moved once from the subscription to the consumer; boxing events would cost an
// allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionItem {
    /// The next event, in order.
    Event(RecordedEvent),
    /// Everything committed when the subscription last looked has been delivered; live events
    /// follow. Yielded again each time the subscription catches up after falling behind.
    CaughtUp,
}
