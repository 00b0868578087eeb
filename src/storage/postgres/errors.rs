//! PostgreSQL errors flattened into [`Error`] at the boundary: owned text with the server's
//! SQLSTATE, so the error stays `Send + Sync` and says what PostgreSQL said.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::error::Error;

/// The constraint behind `UNIQUE (id)` in `001_initial.sql`.
pub(super) const EVENT_ID_CONSTRAINT: &str = "events_id_unique";
/// The constraint behind `UNIQUE (stream_id, version)` in `001_initial.sql`.
pub(super) const STREAM_VERSION_CONSTRAINT: &str = "events_stream_version_unique";

/// Flattens a client error into [`Error`], prefixed with what evstore was doing: see
/// [`classify`].
pub(super) fn pg_error(context: &str, error: &tokio_postgres::Error) -> Error {
    classify(format!("{context}: {}", describe(error)), error)
}

/// The error `reason` (which describes `error`) is, by SQLSTATE: `disk_full` (53100, the server
/// cannot extend a file; the statement and its transaction were rolled back) is
/// [`Error::QuotaExceeded`], everything else [`Error::Storage`].
pub(super) fn classify(reason: String, error: &tokio_postgres::Error) -> Error {
    match error.as_db_error() {
        Some(db) if *db.code() == SqlState::DISK_FULL => Error::QuotaExceeded { reason },
        _ => Error::Storage { reason },
    }
}

/// Flattens a pool error (no connection could be had) into [`Error::Storage`].
pub(super) fn pool_error(error: PoolError) -> Error {
    match error {
        PoolError::Backend(error) => pg_error("cannot connect to PostgreSQL", &error),
        PoolError::Closed => Error::Closed,
        other => Error::storage(format!("cannot get a PostgreSQL connection: {other}")),
    }
}

/// `PostgreSQL: <message> (SQLSTATE <code>)` for server errors; the client's own description
/// (connection refused, connection closed, …) otherwise.
pub(super) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!(
                "PostgreSQL: {} (SQLSTATE {})",
                db.message(),
                db.code().code()
            );
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            text
        }
        None => {
            let mut text = format!("PostgreSQL: {error}");
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let said = cause.to_string();
                if !text.ends_with(&said) {
                    text.push_str(&format!(": {said}"));
                }
                source = cause.source();
            }
            text
        }
    }
}

/// Which uniqueness constraint of `events` an error reports, by SQLSTATE 23505 and the
/// constraint's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Conflict {
    /// `UNIQUE (stream_id, version)`: another writer took the version.
    StreamVersion,
    /// `UNIQUE (id)`: the event id is used.
    EventId,
}

/// Classifies a failed append by SQLSTATE (`unique_violation`) and constraint name.
pub(super) fn unique_conflict(error: &tokio_postgres::Error) -> Option<Conflict> {
    let db = error.as_db_error()?;
    if *db.code() != SqlState::UNIQUE_VIOLATION {
        return None;
    }
    match db.constraint()? {
        EVENT_ID_CONSTRAINT => Some(Conflict::EventId),
        STREAM_VERSION_CONSTRAINT => Some(Conflict::StreamVersion),
        _ => None,
    }
}

/// The SQLSTATE `append_events` raises for a tombstoned stream (`002_stream_lifecycle.sql`).
const STREAM_DELETED_STATE: &str = "EV001";

/// Whether a failed append was refused because its stream is tombstoned.
pub(super) fn stream_deleted(error: &tokio_postgres::Error) -> bool {
    error
        .as_db_error()
        .is_some_and(|db| db.code().code() == STREAM_DELETED_STATE)
}
