//! The append transaction, and group commit: the appends waiting at one moment share one
//! transaction, each in its own savepoint, decided alone.
//!
//! Every append runs inside a `SAVEPOINT` of a `BEGIN IMMEDIATE` transaction: it reads the
//! stream's version, decides, and inserts; a failed append rolls back to its savepoint only, so
//! the others of the group still commit, and an append later in the group sees the ones before
//! it (two appends to one stream in one group behave exactly as if they ran one after the other).
//! One `COMMIT` — one fsync with [`Durability::Full`](super::Durability::Full) — then covers
//! the whole group. Writers across processes are still serialized by SQLite's write lock, so
//! positions (`INTEGER PRIMARY KEY AUTOINCREMENT`) increase in commit order and no event becomes
//! visible below a position a reader passed.
//!
//! The common case — an expected version the stream satisfies and ids never seen — is decided
//! without looking the ids up one by one: the `UNIQUE (id)` index looks them up anyway while
//! inserting, so the fast path inserts straight away. If the index refuses an id, the append
//! rolls back to its savepoint (nothing of it was written) and runs again on the full path, which
//! looks every id up and lets [`decide_append`] tell an idempotent retry from a duplicate. Either
//! way the decision and the write happen inside one transaction.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::errors::{sqlite_error, unique_conflict, with_context, Conflict};
use super::lifecycle::{read_record, remove_events, remove_expired, write_record};
use super::{clamp, to_u64};
use crate::error::{Error, Result};
use crate::platform::now_millis;
use crate::storage::{
    append_basis, decide_append_on, record_after_append, AppendBasis, AppendBatch, AppendDecision,
    ExistingEvent, ManyOutcomes,
};
use crate::types::AppendResult;

/// How one group went.
pub(super) enum GroupOutcome {
    /// Committed: the results of each unit (an append, or an `append_many`), in order (failed
    /// units wrote nothing).
    Committed(Vec<Result<Vec<AppendResult>>>),
    /// The append at this index failed in a way that made SQLite roll the whole transaction
    /// back (`SQLITE_FULL`, an I/O error…): it failed with this error, and the appends before it
    /// were undone with the transaction and must run again.
    Lost(usize, Error),
    /// The transaction could not start or commit: every append of the group failed with it.
    Failed(Error),
}

/// Runs `units` in one transaction, a savepoint each, and commits once. A unit is the batch of
/// one append, or the batches of one `append_many`: those run in an outer savepoint, each batch
/// in its own savepoint inside it, and any refusal rolls the whole unit back
/// ([`append_many_in_savepoint`]).
pub(super) fn append_group(conn: &mut Connection, units: &[&[AppendBatch]]) -> GroupOutcome {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            return GroupOutcome::Failed(with_context("cannot start the append transaction", &e))
        }
    };
    let mut results = Vec::with_capacity(units.len());
    for (index, unit) in units.iter().enumerate() {
        let result = match unit {
            [batch] => append_in_savepoint(&tx, batch).map(|result| vec![result]),
            batches => append_many_in_savepoint(&tx, batches),
        };
        if let Err(error) = &result {
            if tx.is_autocommit() {
                return GroupOutcome::Lost(index, error.clone());
            }
        }
        results.push(result);
    }
    match tx.commit() {
        Ok(()) => GroupOutcome::Committed(results),
        Err(e) => GroupOutcome::Failed(with_context("cannot commit the append", &e)),
    }
}

/// The statements of one named savepoint (prepared once per connection and cached, not parsed
/// for every append).
struct Savepoint {
    begin: &'static str,
    release: &'static str,
    rollback: &'static str,
}

/// Around each append.
const APPEND: Savepoint = Savepoint {
    begin: "SAVEPOINT append",
    release: "RELEASE append",
    rollback: "ROLLBACK TO append",
};

/// Around the appends of one `append_many` (each in its own [`APPEND`] inside it).
const APPEND_MANY: Savepoint = Savepoint {
    begin: "SAVEPOINT append_many",
    release: "RELEASE append_many",
    rollback: "ROLLBACK TO append_many",
};

/// Runs `body` in savepoint `point` of the open transaction: kept when it succeeds, undone when
/// it fails. When SQLite rolled the whole transaction back the savepoint is gone with it, and
/// the caller sees that.
fn in_savepoint<T>(
    conn: &Connection,
    point: &Savepoint,
    body: impl FnOnce() -> Result<T>,
) -> Result<T> {
    savepoint(conn, point.begin, "cannot start the append")?;
    match body() {
        Ok(value) => {
            savepoint(conn, point.release, "cannot finish the append")?;
            Ok(value)
        }
        Err(error) => {
            if !conn.is_autocommit() {
                let _ = savepoint(conn, point.rollback, "");
                let _ = savepoint(conn, point.release, "");
            }
            Err(error)
        }
    }
}

/// One append in its own savepoint of the open transaction: read, decide, write; a failure
/// undoes this append only.
pub(super) fn append_in_savepoint(conn: &Connection, batch: &AppendBatch) -> Result<AppendResult> {
    in_savepoint(conn, &APPEND, || decide_and_insert(conn, batch))
}

/// The batches of one `append_many` in an outer savepoint, each in its own savepoint inside it
/// (so each sees the ones before it), recorded in [`ManyOutcomes`]; if any is refused the outer
/// savepoint is rolled back and nothing of the call stays.
fn append_many_in_savepoint(
    conn: &Connection,
    batches: &[AppendBatch],
) -> Result<Vec<AppendResult>> {
    in_savepoint(conn, &APPEND_MANY, || {
        let mut outcomes = ManyOutcomes::new();
        for batch in batches {
            outcomes.record(append_in_savepoint(conn, batch))?;
        }
        outcomes.finish()
    })
}

fn savepoint(conn: &Connection, sql: &str, context: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(|e| with_context(context, &e))
}

/// Inside the append's savepoint: the fast path, else the full path; then what the stream's
/// lifecycle record asks for (retention).
fn decide_and_insert(conn: &Connection, batch: &AppendBatch) -> Result<AppendResult> {
    let record = read_record(conn, &batch.stream_id)?;
    let stored = stream_version(conn, &batch.stream_id)?;
    let basis = append_basis(&batch.stream_id, record.as_ref(), stored)?;
    let result = insert_decided(conn, batch, basis)?;
    if let Some((next, remove_before)) = record
        .as_ref()
        .and_then(|record| record_after_append(record, result.next_expected_version))
    {
        remove_events(conn, &batch.stream_id, remove_before)?;
        write_record(conn, &batch.stream_id, &next)?;
    }
    if let Some(seconds) = record.and_then(|record| record.metadata.max_age) {
        remove_expired(conn, &batch.stream_id, seconds, now_millis())?;
    }
    Ok(result)
}

fn insert_decided(
    conn: &Connection,
    batch: &AppendBatch,
    basis: AppendBasis,
) -> Result<AppendResult> {
    if batch.expected.accepts(basis.current) {
        match insert_events(conn, batch, basis.after + 1) {
            Ok(result) => return Ok(result),
            // An id is taken: undo this append's inserts (the savepoint stays) and decide on
            // the full path.
            Err(Refused::EventId(_)) => {
                savepoint(conn, APPEND.rollback, "cannot roll the append back")?
            }
            Err(Refused::Other(error)) => return Err(error),
        }
    }
    // A mismatch, unless the batch is a retry or reuses ids: decide on the full path.
    decide_and_write(conn, batch, basis)
}

/// The full path: look every id of the batch up, decide with [`decide_append_on`], write.
fn decide_and_write(
    conn: &Connection,
    batch: &AppendBatch,
    basis: AppendBasis,
) -> Result<AppendResult> {
    let existing = lookup_ids(conn, batch)?;
    let first_version = match decide_append_on(batch, basis, &existing)? {
        // A retry of an append that already happened: write nothing.
        AppendDecision::AlreadyAppended(result) => return Ok(result),
        AppendDecision::Write { first_version } => first_version,
    };
    match insert_events(conn, batch, first_version) {
        Ok(result) => Ok(result),
        // Cannot happen after the lookups under SQLite's write lock, but if the index is what
        // catches a reused id, report it as the typed error it is.
        Err(Refused::EventId(id)) => Err(Error::DuplicateEventId { id }),
        Err(Refused::Other(error)) => Err(error),
    }
}

/// Where each event id of `batch` is already stored (`None` when it is new).
pub(super) fn lookup_ids(
    conn: &Connection,
    batch: &AppendBatch,
) -> Result<Vec<Option<ExistingEvent>>> {
    let mut lookup = conn
        .prepare_cached("SELECT stream_id, version, position FROM events WHERE id = ?1")
        .map_err(sqlite_error)?;
    batch
        .events
        .iter()
        .map(|event| {
            let found = lookup
                .query_row([&event.id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
                .optional()
                .map_err(sqlite_error)?;
            found
                .map(|(stream_id, version, position)| {
                    Ok(ExistingEvent {
                        stream_id,
                        version: to_u64(version, "version")?,
                        position: to_u64(position, "position")?,
                    })
                })
                .transpose()
        })
        .collect()
}

/// Why [`insert_events`] wrote nothing (its inserts are undone with the savepoint).
enum Refused {
    /// `UNIQUE (id)` refused this event id of the batch.
    EventId(String),
    /// Any other failure, as the error to report.
    Other(Error),
}

/// Inserts the batch's events at `first_version`, `first_version + 1`, ….
fn insert_events(
    conn: &Connection,
    batch: &AppendBatch,
    first_version: u64,
) -> std::result::Result<AppendResult, Refused> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO events (id, stream_id, version, category, event_type, data, \
             metadata, recorded_at, correlation_id, causation_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(|e| Refused::Other(sqlite_error(e)))?;
    let mut position = 0;
    for (offset, event) in batch.events.iter().enumerate() {
        let version = first_version + offset as u64;
        let inserted = insert.execute(params![
            event.id,
            batch.stream_id,
            clamp(version),
            batch.category,
            event.event_type,
            event.data,
            event.metadata,
            clamp(event.recorded_at),
            event.correlation_id,
            event.causation_id,
        ]);
        if let Err(error) = inserted {
            return Err(match unique_conflict(&error) {
                Some(Conflict::EventId) => Refused::EventId(event.id.clone()),
                // Cannot happen while SQLite serializes writers, but if the constraint is what
                // catches a conflict, report it as the typed error it is.
                Some(Conflict::StreamVersion) => {
                    Refused::Other(match stream_version(conn, &batch.stream_id) {
                        Ok(actual) => Error::wrong_expected_version(
                            batch.stream_id.clone(),
                            batch.expected,
                            actual,
                        ),
                        Err(error) => error,
                    })
                }
                None => Refused::Other(with_context("cannot insert an event", &error)),
            });
        }
        position = to_u64(conn.last_insert_rowid(), "position").map_err(Refused::Other)?;
    }
    Ok(AppendResult {
        next_expected_version: first_version + batch.events.len() as u64 - 1,
        position,
    })
}

pub(super) fn stream_version(conn: &Connection, stream_id: &str) -> Result<u64> {
    let version: Option<i64> = conn
        .prepare_cached("SELECT max(version) FROM events WHERE stream_id = ?1")
        .and_then(|mut statement| statement.query_row([stream_id], |row| row.get(0)))
        .map_err(sqlite_error)?;
    version.map_or(Ok(0), |version| to_u64(version, "version"))
}
