//! The append transaction: one or more appends (a group commit) in one transaction, a savepoint
//! each, decided one by one with the shared [`decide_append_on`], committed once.
//!
//! A lone append is one round trip: `BEGIN`, the call and `COMMIT` pipelined. A group's first
//! round trip carries `BEGIN`, the stream locks (a group touching several streams locks them
//! all first, in stream id order, so that no two transactions ever wait on each other in a
//! cycle: every transaction takes stream rows in id order, then the head row) and, per append,
//! `SAVEPOINT` and a call of the `append_events` function; a second carries `COMMIT`. The
//! function locks the stream's row, reads the stream's version (and, unless the expected
//! version is met, where the batch's ids are stored — otherwise `UNIQUE (id)` checks them while
//! inserting, and a refused id runs the append again with the lookups), and writes only when
//! that makes a plain append; it returns what it read, and [`decide_append_on`] decides on it. An append that fails — an error, a constraint, a
//! disagreement between the two — is rolled back to its own savepoint and the appends after it
//! run again (pipelined as well), so one append's failure never fails another.

use deadpool_postgres::Object;
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

use super::errors::{classify, describe, pg_error, stream_deleted, unique_conflict, Conflict};
use super::refuse_nul;
use crate::error::{Error, Result};
use crate::platform::now_millis;
use crate::storage::sql_integers::{clamp, to_u64};
use crate::storage::{decide_append_on, AppendBasis, AppendBatch, AppendDecision, ExistingEvent};
use crate::types::{AppendResult, ExpectedVersion};

/// One append: see `append_events` in `migrations/003_max_age.sql`.
pub(super) const APPEND_SQL: &str = "SELECT current_version, written, last_position, found_index, \
     found_stream, found_version, found_position, base_version \
     FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// Locks the rows of a group's streams in stream id order (see `lock_streams`).
pub(super) const LOCK_STREAMS_SQL: &str = "SELECT lock_streams($1)";

/// A stream's version, read after `UNIQUE (stream_id, version)` refused a write twice.
const STREAM_VERSION_SQL: &str = "SELECT version FROM streams WHERE stream_id = $1";

/// An append ready for the transaction: the batch and its ids as UUIDs.
#[derive(Debug)]
pub(super) struct PreparedAppend {
    pub(super) batch: AppendBatch,
    ids: Vec<Uuid>,
}

impl PreparedAppend {
    /// Parses the batch's ids (the store generated or validated them as UUIDs).
    pub(super) fn new(batch: AppendBatch) -> Result<Self> {
        refuse_nul("stream id", &batch.stream_id)?;
        for event in &batch.events {
            refuse_nul("event type", &event.event_type)?;
            for id in [&event.correlation_id, &event.causation_id]
                .into_iter()
                .flatten()
            {
                refuse_nul("correlation or causation id", id)?;
            }
        }
        let ids = batch
            .events
            .iter()
            .map(|event| {
                Uuid::parse_str(&event.id).map_err(|e| {
                    Error::invalid_input(format!("event id `{}` is not a UUID: {e}", event.id))
                })
            })
            .collect::<Result<_>>()?;
        Ok(PreparedAppend { batch, ids })
    }
}

/// The parameters of one `append_events` call, borrowed from its [`PreparedAppend`].
pub(super) struct CallParams<'a> {
    stream: &'a str,
    category: &'a str,
    expected_kind: i16,
    expected: i64,
    ids: &'a [Uuid],
    types: Vec<&'a str>,
    data: Vec<&'a str>,
    metadata: Vec<&'a str>,
    recorded_at: Vec<i64>,
    correlation: Vec<Option<&'a str>>,
    causation: Vec<Option<&'a str>>,
    channel: &'a str,
    /// The store's clock when the call was made: what a stream's `maxAge` counts from.
    now: i64,
}

impl<'a> CallParams<'a> {
    pub(super) fn new(append: &'a PreparedAppend, channel: &'a str) -> Self {
        let batch = &append.batch;
        let (expected_kind, expected) = match batch.expected {
            ExpectedVersion::Any => (0, 0),
            ExpectedVersion::NoStream => (1, 0),
            ExpectedVersion::StreamExists => (2, 0),
            ExpectedVersion::Exact(version) => (3, clamp(version)),
        };
        let events = &batch.events;
        CallParams {
            stream: &batch.stream_id,
            category: &batch.category,
            expected_kind,
            expected,
            ids: &append.ids,
            types: events.iter().map(|e| e.event_type.as_str()).collect(),
            data: events.iter().map(|e| e.data.as_str()).collect(),
            metadata: events.iter().map(|e| e.metadata.as_str()).collect(),
            recorded_at: events.iter().map(|e| clamp(e.recorded_at)).collect(),
            correlation: events.iter().map(|e| e.correlation_id.as_deref()).collect(),
            causation: events.iter().map(|e| e.causation_id.as_deref()).collect(),
            channel,
            now: clamp(now_millis()),
        }
    }

    /// The call's parameters; `check_ids`: look the ids up before writing (see
    /// `append_events`).
    pub(super) fn as_params<'p>(&'p self, check_ids: &'p bool) -> [&'p (dyn ToSql + Sync); 14] {
        [
            &self.stream,
            &self.category,
            &self.expected_kind,
            &self.expected,
            &self.ids,
            &self.types,
            &self.data,
            &self.metadata,
            &self.recorded_at,
            &self.correlation,
            &self.causation,
            check_ids,
            &self.channel,
            &self.now,
        ]
    }
}

/// What the next flight starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prelude {
    /// `BEGIN` and, for a group over several streams, the stream locks.
    Begin,
    /// `ROLLBACK TO SAVEPOINT a<index>`: undo a failed append.
    RollbackTo(usize),
    /// Nothing.
    Nothing,
}

/// Runs `appends` in one transaction on `client` and returns each one's outcome, in order.
///
/// `Err` means the transaction as a whole failed (the connection broke, a stream lock timed
/// out, the commit failed): no append of the group may be reported as done, and the connection
/// must not be reused.
pub(super) async fn append_group(
    client: &Object,
    appends: &[PreparedAppend],
    channel: &str,
) -> Result<Vec<Result<AppendResult>>> {
    let statement = client
        .prepare_cached(APPEND_SQL)
        .await
        .map_err(|e| pg_error("cannot prepare the append", &e))?;
    let mut streams: Vec<&str> = appends.iter().map(|a| a.batch.stream_id.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    let lock = if streams.len() > 1 {
        let lock = client
            .prepare_cached(LOCK_STREAMS_SQL)
            .await
            .map_err(|e| pg_error("cannot prepare the stream locks", &e))?;
        Some(lock)
    } else {
        None
    };
    if let [alone] = appends {
        if let Some(outcome) = append_alone(client, &statement, alone, channel).await? {
            return Ok(vec![outcome]);
        }
    }
    let params: Vec<CallParams<'_>> = appends
        .iter()
        .map(|append| CallParams::new(append, channel))
        .collect();

    let count = appends.len();
    let mut outcomes: Vec<Option<Result<AppendResult>>> = vec![None; count];
    let mut retried = vec![false; count];
    let mut from = 0;
    let mut prelude = Prelude::Begin;
    while from < count {
        // One flight, sent in this order: the prelude, then SAVEPOINT and the call of every
        // append from `from` on.
        let mut flight: Vec<BoxFuture<'_, std::result::Result<Vec<Row>, tokio_postgres::Error>>> =
            Vec::with_capacity(2 * (count - from) + 2);
        let lead = match prelude {
            Prelude::Begin => {
                flight.push(simple(client, "BEGIN".to_owned()));
                if let Some(lock) = &lock {
                    let streams = &streams;
                    flight.push(async move { client.query(lock, &[streams]).await }.boxed());
                }
                flight.len()
            }
            Prelude::RollbackTo(index) => {
                flight.push(simple(client, format!("ROLLBACK TO SAVEPOINT a{index}")));
                1
            }
            Prelude::Nothing => 0,
        };
        for (index, call) in params.iter().enumerate().skip(from) {
            // After a refused id the append runs again looking its ids up first.
            let (statement, check_ids) = (&statement, retried[index]);
            flight.push(simple(client, format!("SAVEPOINT a{index}")));
            flight.push(
                async move { client.query(statement, &call.as_params(&check_ids)).await }.boxed(),
            );
        }
        let mut results = futures::future::join_all(flight).await.into_iter();
        for result in results.by_ref().take(lead) {
            result.map_err(|e| pg_error("cannot start the append transaction", &e))?;
        }

        prelude = Prelude::Nothing;
        let mut next_from = count;
        for index in from..count {
            let (saved, called) = match (results.next(), results.next()) {
                (Some(saved), Some(called)) => (saved, called),
                _ => return Err(Error::storage("a pipelined append returned no result")),
            };
            saved.map_err(|e| pg_error("cannot set an append's savepoint", &e))?;
            let batch = &appends[index].batch;
            let step = match called {
                Ok(rows) => conclude(batch, &rows),
                Err(error) if error.is_closed() => {
                    return Err(pg_error("the append's connection was lost", &error));
                }
                Err(error) if stream_deleted(&error) => Step::Undo(Error::StreamDeleted {
                    stream: batch.stream_id.clone(),
                }),
                Err(error) => match unique_conflict(&error) {
                    // A constraint refused the write: run it again once, looking the ids up
                    // first; what it reads then is what the constraint saw, and decide_append
                    // decides on that.
                    Some(_) if !retried[index] => {
                        retried[index] = true;
                        prelude = Prelude::RollbackTo(index);
                        next_from = index;
                        break;
                    }
                    Some(conflict) => Step::UndoneAlready(
                        conflict_error(client, &format!("a{index}"), batch, conflict, &error)
                            .await?,
                    ),
                    None => Step::Undo(classify(
                        format!(
                            "cannot append to stream `{}`: {}",
                            batch.stream_id,
                            describe(&error)
                        ),
                        &error,
                    )),
                },
            };
            match step {
                Step::Done(outcome) => outcomes[index] = Some(outcome),
                Step::Undo(error) => {
                    outcomes[index] = Some(Err(error));
                    prelude = Prelude::RollbackTo(index);
                    next_from = index + 1;
                    break;
                }
                Step::UndoneAlready(error) => {
                    outcomes[index] = Some(Err(error));
                    next_from = index + 1;
                    break;
                }
            }
        }
        from = next_from;
    }
    if let Prelude::RollbackTo(index) = prelude {
        // The last append failed: undo it before committing the others.
        client
            .batch_execute(&format!("ROLLBACK TO SAVEPOINT a{index}"))
            .await
            .map_err(|e| pg_error("cannot undo a failed append", &e))?;
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| commit_failed(&e))?;
    Ok(outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or_else(|| Err(Error::storage("the append did not run"))))
        .collect())
}

/// A lone append in one round trip: `BEGIN`, the call and `COMMIT` pipelined, so the head row
/// is held only while the call finishes and commits. [`decide_append_on`] decides on what the call
/// read, as in a group; the call writes exactly when that decision is a write, so the two agree
/// unless the stored function was altered outside evstore, which is then reported as an
/// [`Error::Storage`] (the write is already committed). `None` when `UNIQUE (id)` refused an id:
/// nothing was written (the `COMMIT` rolled back) and the append must take the group path, which
/// looks its ids up.
async fn append_alone(
    client: &Object,
    statement: &tokio_postgres::Statement,
    append: &PreparedAppend,
    channel: &str,
) -> Result<Option<Result<AppendResult>>> {
    let call = CallParams::new(append, channel);
    let check_ids = false;
    let params = call.as_params(&check_ids);
    let (begun, called, committed) = futures::join!(
        client.batch_execute("BEGIN"),
        client.query(statement, &params),
        client.batch_execute("COMMIT"),
    );
    begun.map_err(|e| pg_error("cannot start the append transaction", &e))?;
    let batch = &append.batch;
    match called {
        Ok(rows) => {
            committed.map_err(|e| commit_failed(&e))?;
            Ok(Some(match conclude(batch, &rows) {
                Step::Done(outcome) => outcome,
                Step::Undo(error) | Step::UndoneAlready(error) => Err(error),
            }))
        }
        Err(error) if error.is_closed() => {
            Err(pg_error("the append's connection was lost", &error))
        }
        Err(error) => {
            // The failed call made the COMMIT a rollback.
            committed.map_err(|e| pg_error("cannot end the failed append", &e))?;
            if stream_deleted(&error) {
                return Ok(Some(Err(Error::StreamDeleted {
                    stream: batch.stream_id.clone(),
                })));
            }
            Ok(match unique_conflict(&error) {
                Some(_) => None,
                None => Some(Err(classify(
                    format!(
                        "cannot append to stream `{}`: {}",
                        batch.stream_id,
                        describe(&error)
                    ),
                    &error,
                ))),
            })
        }
    }
}

/// One append inside a transaction the caller runs and commits (a lifecycle marker, appended in
/// the transaction of its operation), decided as in a group.
pub(super) async fn append_in_transaction(
    transaction: &deadpool_postgres::Transaction<'_>,
    append: &PreparedAppend,
    channel: &str,
) -> Result<AppendResult> {
    let call = CallParams::new(append, channel);
    let check_ids = false;
    let rows = transaction
        .query(APPEND_SQL, &call.as_params(&check_ids))
        .await
        .map_err(|e| pg_error("cannot append to the lifecycle stream", &e))?;
    match conclude(&append.batch, &rows) {
        Step::Done(outcome) => outcome,
        Step::Undo(error) | Step::UndoneAlready(error) => Err(error),
    }
}

/// The error of a `COMMIT` that failed: the outcome is unknown.
pub(super) fn commit_failed(error: &tokio_postgres::Error) -> Error {
    classify(
        format!(
            "cannot commit the append ({}); it may or may not be stored, and retrying it with \
             the same event ids is safe",
            describe(error)
        ),
        error,
    )
}

/// A simple-protocol statement as a flight entry.
fn simple(
    client: &Object,
    sql: String,
) -> BoxFuture<'_, std::result::Result<Vec<Row>, tokio_postgres::Error>> {
    async move { client.batch_execute(&sql).await.map(|()| Vec::new()) }.boxed()
}

/// What to do with one append after its call returned.
pub(super) enum Step {
    /// Keep what the call did (a write both agree on, or nothing written) and report this.
    Done(Result<AppendResult>),
    /// Roll back to the append's savepoint and report this error.
    Undo(Error),
    /// Report this error; the rollback to the savepoint already ran.
    UndoneAlready(Error),
}

/// Decides an append with [`decide_append_on`] on what `append_events` read, and checks that the
/// function wrote exactly when the decision is a write.
pub(super) fn conclude(batch: &AppendBatch, rows: &[Row]) -> Step {
    match facts(batch, rows) {
        Ok((basis, written, existing)) => {
            let decision = decide_append_on(batch, basis, &existing);
            match (decision, written) {
                (Ok(AppendDecision::Write { first_version }), Some(position))
                    if first_version == basis.after + 1 =>
                {
                    Step::Done(Ok(AppendResult {
                        next_expected_version: basis.after + batch.events.len() as u64,
                        position,
                    }))
                }
                (Ok(AppendDecision::AlreadyAppended(result)), None) => Step::Done(Ok(result)),
                (Err(error), None) => Step::Done(Err(error)),
                (decision, Some(_)) => Step::Undo(disagreement(batch, &decision)),
                (decision, None) => Step::Done(Err(disagreement(batch, &decision))),
            }
        }
        Err(error) => Step::Undo(error),
    }
}

fn disagreement(batch: &AppendBatch, decision: &Result<AppendDecision>) -> Error {
    Error::storage(format!(
        "the append to stream `{}` was refused: the stored append_events function and \
         decide_append disagree (decision {decision:?}); the schema was altered outside evstore",
        batch.stream_id
    ))
}

/// The stream's versions, whether the function wrote (with the last position) and where each id
/// of the batch is stored, from the rows `append_events` returned.
fn facts(
    batch: &AppendBatch,
    rows: &[Row],
) -> Result<(AppendBasis, Option<u64>, Vec<Option<ExistingEvent>>)> {
    let bad = |what: &str| Error::storage(format!("append_events returned {what}"));
    let first = rows.first().ok_or_else(|| bad("no row"))?;
    let current = AppendBasis {
        current: to_u64(first.try_get(0).map_err(|_| bad("no version"))?, "version")?,
        after: to_u64(
            first.try_get(7).map_err(|_| bad("no base version"))?,
            "version",
        )?,
    };
    let written: bool = first.try_get(1).map_err(|_| bad("no written flag"))?;
    let mut existing = vec![None; batch.events.len()];
    if written {
        let last: i64 = first.try_get(2).map_err(|_| bad("no position"))?;
        return Ok((current, Some(to_u64(last, "position")?), existing));
    }
    for row in rows {
        let Some(index) = row
            .try_get::<_, Option<i32>>(3)
            .map_err(|_| bad("a bad index"))?
        else {
            continue;
        };
        let slot = usize::try_from(index)
            .ok()
            .and_then(|index| index.checked_sub(1))
            .and_then(|index| existing.get_mut(index))
            .ok_or_else(|| bad("an index out of range"))?;
        let found = |column: usize| row.try_get::<_, i64>(column).map_err(|_| bad("a bad row"));
        *slot = Some(ExistingEvent {
            stream_id: row.try_get(4).map_err(|_| bad("a bad stream"))?,
            version: to_u64(found(5)?, "version")?,
            position: to_u64(found(6)?, "position")?,
        });
    }
    Ok((current, None, existing))
}

/// The typed error of a write a constraint refused twice: the savepoint is rolled back here
/// first (to read the stream's version), so the caller must not roll back again.
pub(super) async fn conflict_error(
    client: &Object,
    savepoint: &str,
    batch: &AppendBatch,
    conflict: Conflict,
    error: &tokio_postgres::Error,
) -> Result<Error> {
    client
        .batch_execute(&format!("ROLLBACK TO SAVEPOINT {savepoint}"))
        .await
        .map_err(|e| pg_error("cannot undo a refused append", &e))?;
    Ok(match conflict {
        Conflict::EventId => Error::DuplicateEventId {
            id: conflicting_id(error).unwrap_or_else(|| batch.events[0].id.clone()),
        },
        Conflict::StreamVersion => {
            let actual: Option<i64> = client
                .query_opt(STREAM_VERSION_SQL, &[&batch.stream_id])
                .await
                .map_err(|e| pg_error("cannot read the stream's version", &e))?
                .map(|row| row.get(0));
            Error::wrong_expected_version(
                batch.stream_id.clone(),
                batch.expected,
                to_u64(actual.unwrap_or(0), "version")?,
            )
        }
    })
}

/// The id in a unique violation's detail: `Key (id)=(…) already exists.`
fn conflicting_id(error: &tokio_postgres::Error) -> Option<String> {
    let detail = error.as_db_error()?.detail()?;
    let start = detail.find("=(")? + 2;
    let end = start + detail[start..].find(')')?;
    Some(detail[start..end].to_owned())
}
