//! The one error type of evstore, and the kind used to match on it.

use crate::types::ExpectedVersion;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in evstore.
///
/// Every variant holds owned data only (no `JsValue`, no borrowed backend error), so the error is
/// `Send + Sync` on native targets and can cross threads and `?` boundaries freely. Backend
/// failures (SQLite, IndexedDB) are flattened into [`Error::Storage`] with a readable reason.
///
/// Match on [`Error::kind`] when only the category matters; the kind's [`ErrorKind::code`] is the
/// stable string the JavaScript API exposes as `error.code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream's version did not match what the append expected. Nothing was written.
    ///
    /// An [`append_many`](crate::EventStore::append_many) names the first stream (in call
    /// order) whose expected version failed here and every other one in `others`; for a
    /// single-stream append `others` is empty.
    #[error("wrong expected version for stream `{stream}`: expected {expected}, actual version is {actual}{}", more_conflicts(others))]
    WrongExpectedVersion {
        /// The stream the append targeted.
        stream: String,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's version when the append was checked (0 = no stream).
        actual: u64,
        /// The other streams of the same `append_many` whose expected version failed too, in
        /// call order (empty for a single-stream append).
        others: Vec<VersionConflict>,
    },
    /// The stream has no events.
    #[error("stream `{stream}` not found")]
    StreamNotFound {
        /// The stream that was read.
        stream: String,
    },
    /// The stream was tombstoned ([`EventStore::tombstone_stream`](crate::EventStore::tombstone_stream)):
    /// it can never be read, appended to, truncated or deleted again. Nothing was written.
    #[error("stream `{stream}` is deleted for good (tombstoned)")]
    StreamDeleted {
        /// The tombstoned stream.
        stream: String,
    },
    /// An event id of the batch is already used by a different event. Nothing was written.
    #[error("event id {id} is already used by another event")]
    DuplicateEventId {
        /// The reused id.
        id: String,
    },
    /// The caller passed something the store cannot accept. Nothing was written.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong with the input.
        reason: String,
    },
    /// A typed event could not be encoded or decoded.
    #[error("cannot encode or decode event type `{event_type}`: {reason}")]
    Codec {
        /// The event type involved (empty when it could not be determined).
        event_type: String,
        /// What serde reported.
        reason: String,
    },
    /// The storage backend failed (I/O, SQLite, IndexedDB).
    #[error("storage error: {reason}")]
    Storage {
        /// The backend's own description, flattened to text.
        reason: String,
    },
    /// The store was written by a newer version of evstore than this one understands.
    #[error("the store's schema version {found} is newer than the newest this evstore supports ({supported}); upgrade evstore to open it")]
    IncompatibleSchema {
        /// The schema version found in the store.
        found: u64,
        /// The newest schema version this build understands.
        supported: u64,
    },
    /// The storage is full: the browser's quota for the origin (IndexedDB's
    /// `QuotaExceededError`), a full disk or `max_page_count` (SQLite's `SQLITE_FULL`), or a full
    /// disk of the PostgreSQL server (SQLSTATE 53100). Nothing of the refused write was stored;
    /// the store stays usable, and writes succeed again once there is room.
    #[error("storage quota exceeded: {reason}")]
    QuotaExceeded {
        /// The backend's description, with what evstore was doing.
        reason: String,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

/// One stream whose expected version failed: see [`Error::WrongExpectedVersion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConflict {
    /// The stream.
    pub stream: String,
    /// What the caller expected of it.
    pub expected: ExpectedVersion,
    /// Its version when the append was checked (0 = no stream).
    pub actual: u64,
}

fn more_conflicts(others: &[VersionConflict]) -> String {
    others
        .iter()
        .map(|c| {
            format!(
                "; stream `{}`: expected {}, actual version is {}",
                c.stream, c.expected, c.actual
            )
        })
        .collect()
}

/// The category of an [`Error`], for matching without destructuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::WrongExpectedVersion`].
    WrongExpectedVersion,
    /// See [`Error::StreamNotFound`].
    StreamNotFound,
    /// See [`Error::StreamDeleted`].
    StreamDeleted,
    /// See [`Error::DuplicateEventId`].
    DuplicateEventId,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::Codec`].
    Codec,
    /// See [`Error::Storage`].
    Storage,
    /// See [`Error::IncompatibleSchema`].
    IncompatibleSchema,
    /// See [`Error::QuotaExceeded`].
    QuotaExceeded,
    /// See [`Error::Closed`].
    Closed,
}

impl ErrorKind {
    /// The stable string code of this kind (`"WrongExpectedVersion"`, `"StreamNotFound"`, …),
    /// the same as the JavaScript API's `error.code`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::WrongExpectedVersion => "WrongExpectedVersion",
            ErrorKind::StreamNotFound => "StreamNotFound",
            ErrorKind::StreamDeleted => "StreamDeleted",
            ErrorKind::DuplicateEventId => "DuplicateEventId",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::Codec => "Codec",
            ErrorKind::Storage => "Storage",
            ErrorKind::IncompatibleSchema => "IncompatibleSchema",
            ErrorKind::QuotaExceeded => "QuotaExceeded",
            ErrorKind::Closed => "Closed",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Error {
    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::WrongExpectedVersion { .. } => ErrorKind::WrongExpectedVersion,
            Error::StreamNotFound { .. } => ErrorKind::StreamNotFound,
            Error::StreamDeleted { .. } => ErrorKind::StreamDeleted,
            Error::DuplicateEventId { .. } => ErrorKind::DuplicateEventId,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Codec { .. } => ErrorKind::Codec,
            Error::Storage { .. } => ErrorKind::Storage,
            Error::IncompatibleSchema { .. } => ErrorKind::IncompatibleSchema,
            Error::QuotaExceeded { .. } => ErrorKind::QuotaExceeded,
            Error::Closed => ErrorKind::Closed,
        }
    }

    /// A [`Error::WrongExpectedVersion`] for one stream (no `others`).
    pub fn wrong_expected_version(
        stream: impl Into<String>,
        expected: ExpectedVersion,
        actual: u64,
    ) -> Self {
        Error::WrongExpectedVersion {
            stream: stream.into(),
            expected,
            actual,
            others: Vec::new(),
        }
    }

    /// Every stream a [`Error::WrongExpectedVersion`] names (the first, then `others`); empty
    /// for any other error.
    pub fn conflicts(&self) -> Vec<VersionConflict> {
        match self {
            Error::WrongExpectedVersion {
                stream,
                expected,
                actual,
                others,
            } => std::iter::once(VersionConflict {
                stream: stream.clone(),
                expected: *expected,
                actual: *actual,
            })
            .chain(others.iter().cloned())
            .collect(),
            _ => Vec::new(),
        }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid_input(reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Storage`].
    pub fn storage(reason: impl Into<String>) -> Self {
        Error::Storage {
            reason: reason.into(),
        }
    }
}
