//! SQLite errors flattened into [`Error`] at the boundary: owned text with SQLite's extended
//! result code, so the error stays `Send + Sync` and says what SQLite said.

use rusqlite::ffi;

use crate::error::Error;

/// Flattens any rusqlite error into [`Error`], keeping SQLite's message and extended result
/// code: `SQLITE_FULL` (the disk, or the connection's `max_page_count`, is full) is
/// [`Error::QuotaExceeded`], everything else [`Error::Storage`].
pub(super) fn sqlite_error(error: rusqlite::Error) -> Error {
    classify(describe(&error), &error)
}

/// Like [`sqlite_error`], prefixed with what evstore was doing.
pub(super) fn with_context(context: &str, error: &rusqlite::Error) -> Error {
    classify(format!("{context}: {}", describe(error)), error)
}

/// The error `reason` (the description of `error`) is: SQLite's primary result code decides.
fn classify(reason: String, error: &rusqlite::Error) -> Error {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => Error::QuotaExceeded { reason },
        _ => Error::Storage { reason },
    }
}

fn describe(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let text = match message {
                Some(message) => message.clone(),
                None => ffi::code_to_str(failure.extended_code).to_owned(),
            };
            format!("SQLite: {text} (extended code {})", failure.extended_code)
        }
        other => format!("SQLite: {other}"),
    }
}

/// Which uniqueness constraint an insert into `events` violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Conflict {
    /// `UNIQUE (stream_id, version)`: another writer took the version.
    StreamVersion,
    /// `UNIQUE (id)`: the event id is used.
    EventId,
}

/// Classifies a failed insert into `events` by SQLite's extended code
/// (`SQLITE_CONSTRAINT_UNIQUE` / `SQLITE_CONSTRAINT_PRIMARYKEY`) and the constraint's columns.
pub(super) fn unique_conflict(error: &rusqlite::Error) -> Option<Conflict> {
    let rusqlite::Error::SqliteFailure(failure, message) = error else {
        return None;
    };
    if failure.extended_code != ffi::SQLITE_CONSTRAINT_UNIQUE
        && failure.extended_code != ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    {
        return None;
    }
    // SQLite names the columns: "UNIQUE constraint failed: events.stream_id, events.version".
    let message = message.as_deref().unwrap_or_default();
    if message.contains("events.stream_id") {
        Some(Conflict::StreamVersion)
    } else if message.contains("events.id") {
        Some(Conflict::EventId)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::schema::MIGRATIONS;

    #[test]
    fn unique_violations_are_classified_by_extended_code_and_columns() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        let insert = |id: &str, version: i64| {
            conn.execute(
                "INSERT INTO events (id, stream_id, version, category, event_type, data, \
                 metadata, recorded_at) VALUES (?1, 's-1', ?2, 's', 't', '{}', '{}', 0)",
                rusqlite::params![id, version],
            )
        };
        insert("a", 1).unwrap();
        let taken_version = insert("b", 1).unwrap_err();
        assert_eq!(
            unique_conflict(&taken_version),
            Some(Conflict::StreamVersion)
        );
        let taken_id = insert("a", 2).unwrap_err();
        assert_eq!(unique_conflict(&taken_id), Some(Conflict::EventId));

        let reason = sqlite_error(taken_id).to_string();
        assert!(reason.contains("extended code 2067"), "{reason}");
        assert_eq!(unique_conflict(&rusqlite::Error::QueryReturnedNoRows), None);
    }
}
