//! The `append_many` transaction: the batches of one call decided one after another in one
//! transaction on a pooled connection of its own (not the group-commit writer's), all or
//! nothing.
//!
//! `BEGIN`, the rows of every stream of the call locked in stream id order (`lock_streams`, as a
//! group commit locks them, so the two never wait on each other in a cycle), then per batch a
//! savepoint and a call of `append_events`, decided by [`decide_append`](crate::storage::decide_append)
//! as a single append is. `append_events` writes nothing for a batch whose expected version
//! fails, so the later batches are still decided and the error names every conflicting stream
//! ([`ManyOutcomes`]). Any refusal rolls the whole transaction back; otherwise one `COMMIT`.
//! Positions come from the head row, locked by the first batch until the commit, so they are
//! dense and in call order, and `pg_notify` (one per transaction, PostgreSQL folds identical
//! notifications) wakes listeners once.

use deadpool_postgres::Object;
use tokio_postgres::Statement;

use super::append::{
    commit_failed, conclude, conflict_error, CallParams, PreparedAppend, Step, APPEND_SQL,
    LOCK_STREAMS_SQL,
};
use super::errors::{classify, describe, pg_error, stream_deleted, unique_conflict};
use crate::error::{Error, Result};
use crate::storage::ManyOutcomes;
use crate::types::AppendResult;

/// Runs `appends` in one transaction on `client`: every result in order, or the first refusal
/// (nothing written). After an `Err` the connection must not be reused when
/// [`Failure::broken`] says so.
pub(super) async fn append_many(
    client: &Object,
    appends: &[PreparedAppend],
    channel: &str,
) -> std::result::Result<Vec<AppendResult>, Failure> {
    let statement = client
        .prepare_cached(APPEND_SQL)
        .await
        .map_err(|e| Failure::broken(pg_error("cannot prepare the append", &e)))?;
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| Failure::broken(pg_error("cannot start the append transaction", &e)))?;
    match decide_all(client, &statement, appends, channel).await {
        Ok(results) => {
            client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| Failure::broken(commit_failed(&e)))?;
            Ok(results)
        }
        Err(error) => {
            let rolled_back = client.batch_execute("ROLLBACK").await;
            Err(Failure {
                broken: rolled_back.is_err(),
                error,
            })
        }
    }
}

/// Why an `append_many` failed, and whether its connection is still usable.
#[derive(Debug)]
pub(super) struct Failure {
    /// Whether the connection's state is unknown (drop it rather than pool it).
    pub(super) broken: bool,
    /// What the caller gets.
    pub(super) error: Error,
}

impl Failure {
    fn broken(error: Error) -> Self {
        Failure {
            broken: true,
            error,
        }
    }
}

/// Inside the transaction: lock the streams, decide and write every batch.
async fn decide_all(
    client: &Object,
    statement: &Statement,
    appends: &[PreparedAppend],
    channel: &str,
) -> Result<Vec<AppendResult>> {
    let mut streams: Vec<&str> = appends.iter().map(|a| a.batch.stream_id.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    if streams.len() > 1 {
        client
            .query(LOCK_STREAMS_SQL, &[&streams])
            .await
            .map_err(|e| pg_error("cannot lock the streams", &e))?;
    }
    let mut outcomes = ManyOutcomes::new();
    for (index, append) in appends.iter().enumerate() {
        let outcome = one_batch(client, statement, index, append, channel).await?;
        outcomes.record(outcome)?;
    }
    outcomes.finish()
}

/// One batch in its savepoint: its outcome (a refusal that wrote nothing is `Ok(Err(…))`), or
/// an `Err` that ends the call.
async fn one_batch(
    client: &Object,
    statement: &Statement,
    index: usize,
    append: &PreparedAppend,
    channel: &str,
) -> Result<Result<AppendResult>> {
    let call = CallParams::new(append, channel);
    let batch = &append.batch;
    let savepoint = format!("SAVEPOINT m{index}");
    client
        .batch_execute(&savepoint)
        .await
        .map_err(|e| pg_error("cannot set an append's savepoint", &e))?;
    // First without looking the ids up (UNIQUE (id) checks them); after a refused id, again
    // with the lookups, so decide_append tells a retry from a duplicate.
    for check_ids in [false, true] {
        match client.query(statement, &call.as_params(&check_ids)).await {
            Ok(rows) => {
                return match conclude(batch, &rows) {
                    Step::Done(outcome) => Ok(outcome),
                    Step::Undo(error) | Step::UndoneAlready(error) => Err(error),
                }
            }
            Err(error) if error.is_closed() => {
                return Err(pg_error("the append's connection was lost", &error));
            }
            // A tombstoned stream refuses the whole call, as it refuses a lone append.
            Err(error) if stream_deleted(&error) => {
                return Err(Error::StreamDeleted {
                    stream: batch.stream_id.clone(),
                })
            }
            Err(error) => match unique_conflict(&error) {
                Some(_) if !check_ids => {
                    client
                        .batch_execute(&format!("ROLLBACK TO SAVEPOINT m{index}"))
                        .await
                        .map_err(|e| pg_error("cannot undo a refused append", &e))?;
                }
                Some(conflict) => {
                    return Ok(Err(conflict_error(
                        client,
                        &format!("m{index}"),
                        batch,
                        conflict,
                        &error,
                    )
                    .await?))
                }
                // A full disk is QuotaExceeded, as for one append.
                None => {
                    return Err(classify(
                        format!(
                            "cannot append to stream `{}`: {}",
                            batch.stream_id,
                            describe(&error)
                        ),
                        &error,
                    ))
                }
            },
        }
    }
    Err(Error::storage("the append did not run"))
}
