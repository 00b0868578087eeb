//! Stream lifecycle in PostgreSQL: the lifecycle columns of `streams` (schema 2) and one
//! transaction per change that locks the stream's row, decides with the shared
//! [`decide_stream_change`] and removes the events. The head row is never touched: the head
//! never goes down.

use tokio_postgres::Row;

use super::append::{append_in_transaction, PreparedAppend, LOCK_STREAMS_SQL};
use super::errors::pg_error;
use super::{refuse_nul, PostgresStorage};
use crate::error::Result;
use crate::platform::now_millis;
use crate::storage::sql_integers::{clamp, to_u64};
use crate::storage::{
    decide_stream_change, expiry_cutoff, MaxAges, StreamChange, StreamMetadata, StreamRecord,
    LIFECYCLE_STREAM,
};

/// A stream's row, its lifecycle columns first.
const RECORD_SQL: &str = "SELECT version, deleted, tombstoned, truncated_before, max_count, \
     max_age FROM streams WHERE stream_id = $1";

/// The stream's row, locked (with the lifecycle stream's, for its marker) by `LOCK_STREAMS_SQL`.
const LOCKED_SQL: &str = "SELECT version, deleted, tombstoned, truncated_before, max_count, \
     max_age FROM streams WHERE stream_id = $1";

/// Removes the stream's events below a version.
const REMOVE_SQL: &str = "DELETE FROM events WHERE stream_id = $1 AND version < $2";

/// Stores the decided record.
const UPDATE_SQL: &str = "UPDATE streams SET version = $2, deleted = $3, tombstoned = $4, \
     truncated_before = $5, max_count = $6, max_age = $7 WHERE stream_id = $1";

/// The streams with a `maxAge` (through the partial index `streams_with_max_age`).
const MAX_AGES_SQL: &str = "SELECT stream_id, max_age FROM streams WHERE max_age IS NOT NULL";

/// Removes the events of a stream recorded before a cutoff, except its last event.
const REMOVE_EXPIRED_SQL: &str = "DELETE FROM events WHERE stream_id = $1 AND recorded_at < $2 \
     AND version < (SELECT max(version) FROM events WHERE stream_id = $1)";

/// The record in a row read by [`RECORD_SQL`] or [`LOCK_SQL`], and the version of the stream's
/// last stored event.
fn record_of(row: &Row) -> Result<(StreamRecord, u64)> {
    let version = to_u64(row.get(0), "version")?;
    let max_count: Option<i64> = row.get(4);
    let max_age: Option<i64> = row.get(5);
    let record = StreamRecord {
        last_version: version,
        deleted: row.get(1),
        tombstoned: row.get(2),
        truncated_before: to_u64(row.get(3), "version")?,
        metadata: StreamMetadata {
            max_count: max_count
                .map(|count| to_u64(count, "max count"))
                .transpose()?,
            max_age: max_age.map(|age| to_u64(age, "max age")).transpose()?,
        },
    };
    // Truncation keeps the last event, so unless every event is gone the last stored version is
    // the stream's version.
    let stored = if record.deleted || record.tombstoned {
        0
    } else {
        version
    };
    Ok((record, stored))
}

/// Reclaims the space of removed events (outside any transaction, as `VACUUM` must run).
const VACUUM_SQL: &str = "VACUUM (ANALYZE) events, streams";

impl PostgresStorage {
    /// [`Storage::max_ages`](crate::storage::Storage::max_ages).
    pub(super) async fn read_max_ages(&self) -> Result<MaxAges> {
        self.on_runtime(move |client| async move {
            let rows = client
                .query(MAX_AGES_SQL, &[])
                .await
                .map_err(|e| pg_error("cannot read the streams with a maxAge", &e))?;
            rows.iter()
                .map(|row| Ok((row.get(0), to_u64(row.get(1), "max age")?)))
                .collect()
        })
        .await
    }

    /// [`Storage::scavenge`](crate::storage::Storage::scavenge): removes the expired events of
    /// every stream with a `maxAge` (one transaction), then vacuums.
    pub(super) async fn scavenge_now(&self) -> Result<()> {
        let max_ages = self.read_max_ages().await?;
        self.on_runtime(move |mut client| async move {
            let context = "cannot remove expired events";
            let tx = client
                .transaction()
                .await
                .map_err(|e| pg_error(context, &e))?;
            let now = now_millis();
            for (stream, seconds) in &max_ages {
                let cutoff = clamp(expiry_cutoff(*seconds, now));
                tx.execute(REMOVE_EXPIRED_SQL, &[stream, &cutoff])
                    .await
                    .map_err(|e| pg_error(context, &e))?;
            }
            tx.commit().await.map_err(|e| pg_error(context, &e))?;
            client
                .batch_execute(VACUUM_SQL)
                .await
                .map_err(|e| pg_error("cannot vacuum the events", &e))
        })
        .await
    }

    /// [`Storage::stream_record`](crate::storage::Storage::stream_record).
    pub(super) async fn read_record(&self, stream_id: &str) -> Result<Option<StreamRecord>> {
        refuse_nul("stream id", stream_id)?;
        let stream_id = stream_id.to_owned();
        self.on_runtime(move |client| async move {
            let row = client
                .query_opt(RECORD_SQL, &[&stream_id])
                .await
                .map_err(|e| pg_error("cannot read a stream's record", &e))?;
            row.map(|row| record_of(&row).map(|(record, _)| record))
                .transpose()
        })
        .await
    }

    /// [`Storage::change_stream`](crate::storage::Storage::change_stream).
    pub(super) async fn change_stream_now(&self, change: StreamChange) -> Result<StreamRecord> {
        refuse_nul("stream id", &change.stream_id)?;
        let channel = self.shared.channel.clone();
        self.on_runtime(move |mut client| async move {
            let context = "cannot change a stream";
            let tx = client
                .transaction()
                .await
                .map_err(|e| pg_error(context, &e))?;
            let stream = &change.stream_id;
            // Both rows (created when missing: metadata may be set before the first event), in
            // stream id order as every transaction locks them, so none waits on another in a
            // cycle.
            let locked = vec![stream.clone(), LIFECYCLE_STREAM.to_owned()];
            tx.execute(LOCK_STREAMS_SQL, &[&locked])
                .await
                .map_err(|e| pg_error(context, &e))?;
            let row = tx
                .query_one(LOCKED_SQL, &[stream])
                .await
                .map_err(|e| pg_error(context, &e))?;
            let (record, stored) = record_of(&row)?;
            let Some(plan) = decide_stream_change(&change, Some(&record), stored)? else {
                return Ok(record);
            };
            if plan.remove_before > 0 {
                tx.execute(REMOVE_SQL, &[stream, &clamp(plan.remove_before)])
                    .await
                    .map_err(|e| pg_error("cannot remove events", &e))?;
            }
            let next = &plan.record;
            let max_count = next.metadata.max_count.map(clamp);
            let max_age = next.metadata.max_age.map(clamp);
            tx.execute(
                UPDATE_SQL,
                &[
                    stream,
                    &clamp(next.last_version),
                    &next.deleted,
                    &next.tombstoned,
                    &clamp(next.truncated_before),
                    &max_count,
                    &max_age,
                ],
            )
            .await
            .map_err(|e| pg_error(context, &e))?;
            if let Some(marker) = plan.marker.clone() {
                let marker = PreparedAppend::new(marker)?;
                append_in_transaction(&tx, &marker, &channel).await?;
            }
            tx.commit().await.map_err(|e| pg_error(context, &e))?;
            Ok(plan.record)
        })
        .await
    }
}
