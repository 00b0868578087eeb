//! The evsync/1 wire types: what a client sends to `POST /v1/sync/push` and `GET /v1/sync/pull`
//! and what it gets back, as JSON with the JavaScript API's camelCase field names.
//!
//! ```
//! use evstore::sync::{BatchResult, PushResponse};
//! let response: PushResponse = serde_json::from_str(
//!     r#"{"storeId":"s1","results":[{"batchId":"b1","result":"appended","position":7,"nextExpectedVersion":2}]}"#,
//! )?;
//! assert!(matches!(response.results[0], BatchResult::Appended { position: 7, .. }));
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::json::{ExpectedVersionJson, NewEventJson, RecordedEventJson};
use crate::types::Filter;

/// The protocol's name and version.
pub const PROTOCOL: &str = "evsync/1";

/// `POST /v1/sync/push`: pending batches, in the order the client appended them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushRequest {
    /// The server store the client's mirror came from; omitted on a client's first contact.
    /// When it differs from the server's, nothing is processed (`results` is empty) and the
    /// client rebuilds its mirror before pushing again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// The client's id.
    pub client_id: String,
    /// The batches, each appended atomically, in order.
    pub batches: Vec<PushBatch>,
}

/// One pending append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushBatch {
    /// The batch's id (reported back with its result).
    pub batch_id: String,
    /// The stream.
    pub stream: String,
    /// The expected version, as the JavaScript `expectedVersion` (default `"any"`).
    #[serde(default)]
    pub expected: ExpectedVersionJson,
    /// The events, each with its id (a batch without ids is rejected: retries rely on them).
    pub events: Vec<NewEventJson>,
}

/// The answer to a push: one result per batch processed, in request order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushResponse {
    /// The server store's id.
    pub store_id: String,
    /// One result per batch, in request order (empty when the request's store id was stale).
    pub results: Vec<BatchResult>,
}

/// What happened to one pushed batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum BatchResult {
    /// Appended now.
    #[serde(rename_all = "camelCase")]
    Appended {
        /// The batch.
        batch_id: String,
        /// The server position of the batch's last event.
        position: u64,
        /// The stream's version after it.
        next_expected_version: u64,
    },
    /// Every event id was already there, in place: an earlier push of this batch went through
    /// (a retry after a lost response). Nothing was written.
    #[serde(rename_all = "camelCase")]
    Duplicate {
        /// The batch.
        batch_id: String,
        /// The server position of the batch's last event.
        position: u64,
        /// The stream's version after it.
        next_expected_version: u64,
    },
    /// The stream's version did not satisfy `expected`. Nothing was written.
    #[serde(rename_all = "camelCase")]
    Conflict {
        /// The batch.
        batch_id: String,
        /// The stream's version on the server.
        current_version: u64,
        /// The stream's events the client did not know of (after its expected version; the
        /// first page of them, when there are many), if the client may read the stream.
        since: Vec<RecordedEventJson>,
    },
    /// Permanently refused (invalid, not authorized, an id used by another event). Nothing was
    /// written; pushing it again gives the same answer.
    #[serde(rename_all = "camelCase")]
    Rejected {
        /// The batch.
        batch_id: String,
        /// The error code (`InvalidInput`, `DuplicateEventId`, `Forbidden`, …).
        code: String,
        /// A readable reason.
        message: String,
    },
    /// Not tried: an earlier batch of the same stream in this request conflicted or was
    /// rejected, and this one was written against it.
    #[serde(rename_all = "camelCase")]
    Skipped {
        /// The batch.
        batch_id: String,
    },
}

impl BatchResult {
    /// The batch this result is about.
    pub fn batch_id(&self) -> &str {
        match self {
            BatchResult::Appended { batch_id, .. }
            | BatchResult::Duplicate { batch_id, .. }
            | BatchResult::Conflict { batch_id, .. }
            | BatchResult::Rejected { batch_id, .. }
            | BatchResult::Skipped { batch_id } => batch_id,
        }
    }
}

/// `GET /v1/sync/pull?after=&limit=&streamPrefix=&category=&wait=`: the next page of events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    /// Events after this server position (exclusive; 0 = from the start).
    #[serde(default)]
    pub after: u64,
    /// At most this many events (the server caps it; default the server's page size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Stream-id prefixes (repeatable `streamPrefix`); empty = every stream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_prefixes: Vec<String>,
    /// Categories (repeatable `category`); empty = every category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Long poll: when nothing is there yet, wait up to this many milliseconds for events
    /// (the server caps it). 0 or absent = answer at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u64>,
}

impl PullRequest {
    /// The filter the request asks for (whole streams: prefixes and categories).
    pub fn filter(&self) -> Filter {
        Filter {
            stream_prefixes: self.stream_prefixes.clone(),
            categories: self.categories.clone(),
            event_types: Vec::new(),
        }
    }

    /// The request as a URL query string (`after=0&limit=500&streamPrefix=a-`), percent-encoded.
    pub fn to_query(&self) -> String {
        let mut pairs = vec![format!("after={}", self.after)];
        if let Some(limit) = self.limit {
            pairs.push(format!("limit={limit}"));
        }
        for prefix in &self.stream_prefixes {
            pairs.push(format!("streamPrefix={}", encode(prefix)));
        }
        for category in &self.categories {
            pairs.push(format!("category={}", encode(category)));
        }
        if let Some(wait) = self.wait {
            pairs.push(format!("wait={wait}"));
        }
        pairs.join("&")
    }

    /// Parses the query's decoded `(name, value)` pairs. Unknown names and non-numbers where a
    /// number belongs are errors.
    pub fn from_query_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> crate::Result<Self> {
        let number = |name: &str, value: &str| {
            value.parse::<u64>().map_err(|_| {
                crate::Error::invalid_input(format!("`{name}` must be a number, got `{value}`"))
            })
        };
        let mut request = PullRequest::default();
        for (name, value) in pairs {
            match name {
                "after" => request.after = number(name, value)?,
                "limit" => request.limit = Some(number(name, value)? as usize),
                "wait" => request.wait = Some(number(name, value)?),
                "streamPrefix" => request.stream_prefixes.push(value.to_owned()),
                "category" => request.categories.push(value.to_owned()),
                other => {
                    return Err(crate::Error::invalid_input(format!(
                        "unknown pull parameter `{other}`"
                    )))
                }
            }
        }
        Ok(request)
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The answer to a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullResponse {
    /// Events after `after` that the caller may read and asked for, in position order.
    pub events: Vec<RecordedEventJson>,
    /// Where the next pull starts (`after=next`): past the last event returned, or past every
    /// position the server had when no more events matched.
    pub next: u64,
    /// The server's head position when it answered.
    pub head: u64,
    /// The server store's id.
    pub store_id: String,
}
