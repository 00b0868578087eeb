//! Stream lifecycle in SQLite: the `streams` table of lifecycle records (schema 3), the removal
//! of events, and the head that never goes down (`meta.removed_head`).

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::errors::{sqlite_error, with_context};
use super::sync::{read_meta, write_meta};
use super::{clamp, to_u64, SqliteStorage};
use crate::error::{Error, Result};
use crate::platform::now_millis;
use crate::storage::{
    decide_stream_change, expiry_cutoff, update_max_ages, MaxAges, StreamChange, StreamRecord,
};

/// The `meta` key holding the head as it was before events were removed.
pub(super) const REMOVED_HEAD: &str = "removed_head";

/// The `meta` key holding the streams with a `maxAge` (a JSON array of `[stream id, seconds]` pairs),
/// written with their records so that reads find them with one lookup.
const MAX_AGES: &str = "max_ages";

/// The streams with a `maxAge` ([`Storage::max_ages`](crate::storage::Storage::max_ages)).
pub(super) fn read_max_ages(conn: &Connection) -> Result<MaxAges> {
    read_meta(conn, MAX_AGES)?.map_or(Ok(MaxAges::new()), |text| {
        serde_json::from_str(&text)
            .map_err(|e| Error::storage(format!("stored maxAge map is corrupt: {e}")))
    })
}

/// Keeps the `maxAge` map in step with `record`, the new record of `stream_id`.
fn write_max_ages(conn: &Connection, stream_id: &str, record: &StreamRecord) -> Result<()> {
    let mut max_ages = read_max_ages(conn)?;
    if !update_max_ages(&mut max_ages, stream_id, record) {
        return Ok(());
    }
    let text = serde_json::to_string(&max_ages)
        .map_err(|e| Error::storage(format!("cannot encode the maxAge map: {e}")))?;
    write_meta(conn, MAX_AGES, &text)
}

/// Removes the events of `stream_id` that a `maxAge` of `seconds` no longer keeps at `now`,
/// except its last event (the head is the last event of its stream, so it stays too).
pub(super) fn remove_expired(
    conn: &Connection,
    stream_id: &str,
    seconds: u64,
    now: u64,
) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM events WHERE stream_id = ?1 AND recorded_at < ?2 \
         AND version < (SELECT max(version) FROM events WHERE stream_id = ?1)",
    )
    .and_then(|mut statement| {
        statement.execute(params![stream_id, clamp(expiry_cutoff(seconds, now))])
    })
    .map_err(|e| with_context("cannot remove expired events", &e))?;
    Ok(())
}

/// The lifecycle record of `stream_id`, if it has one.
pub(super) fn read_record(conn: &Connection, stream_id: &str) -> Result<Option<StreamRecord>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT record FROM streams WHERE stream_id = ?1")
        .and_then(|mut statement| {
            statement
                .query_row([stream_id], |row| row.get(0))
                .optional()
        })
        .map_err(sqlite_error)?;
    text.map(|text| {
        serde_json::from_str(&text)
            .map_err(|e| Error::storage(format!("stored stream record is corrupt: {e}")))
    })
    .transpose()
}

/// Stores `record` as the lifecycle record of `stream_id`.
pub(super) fn write_record(
    conn: &Connection,
    stream_id: &str,
    record: &StreamRecord,
) -> Result<()> {
    let text = serde_json::to_string(record)
        .map_err(|e| Error::storage(format!("cannot encode a stream record: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO streams (stream_id, record) VALUES (?1, ?2) \
         ON CONFLICT (stream_id) DO UPDATE SET record = excluded.record",
    )
    .and_then(|mut statement| statement.execute(params![stream_id, text]))
    .map_err(|e| with_context("cannot write a stream record", &e))?;
    Ok(())
}

/// Removes the events of `stream_id` below version `before` (0: none), first recording the head
/// so that it never goes down.
pub(super) fn remove_events(conn: &Connection, stream_id: &str, before: u64) -> Result<()> {
    if before == 0 {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO meta (key, value) \
         VALUES (?1, (SELECT max(coalesce(max(position), 0), \
                                 coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1), 0)) \
                      FROM events)) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut statement| statement.execute([REMOVED_HEAD]))
    .map_err(|e| with_context("cannot record the head", &e))?;
    conn.prepare_cached("DELETE FROM events WHERE stream_id = ?1 AND version < ?2")
        .and_then(|mut statement| statement.execute(params![stream_id, clamp(before)]))
        .map_err(|e| with_context("cannot remove events", &e))?;
    Ok(())
}

impl SqliteStorage {
    /// [`Storage::change_stream`](crate::storage::Storage::change_stream) on the writer thread.
    pub(super) async fn change_stream_now(&self, change: StreamChange) -> Result<StreamRecord> {
        self.write(move |writer| {
            let tx = writer
                .conn
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| with_context("cannot start the lifecycle transaction", &e))?;
            let record = read_record(&tx, &change.stream_id)?;
            let stored = super::append::stream_version(&tx, &change.stream_id)?;
            let Some(plan) = decide_stream_change(&change, record.as_ref(), stored)? else {
                return Ok(record.unwrap_or_default());
            };
            remove_events(&tx, &change.stream_id, plan.remove_before)?;
            write_record(&tx, &change.stream_id, &plan.record)?;
            write_max_ages(&tx, &change.stream_id, &plan.record)?;
            let marked = plan
                .marker
                .as_ref()
                .map(|marker| super::append::append_in_savepoint(&tx, marker))
                .transpose()?;
            tx.commit()
                .map_err(|e| with_context("cannot commit the lifecycle change", &e))?;
            if let Some(marked) = marked {
                // As after an append: other handles on the file learn of the new head.
                if let Some(committed) = &writer.committed {
                    committed.fetch_max(marked.position, std::sync::atomic::Ordering::AcqRel);
                }
                if let Some(cache) = &mut writer.conn.head {
                    cache.head = cache.head.max(marked.position);
                }
            }
            Ok(plan.record)
        })
        .await
    }

    /// [`Storage::scavenge`](crate::storage::Storage::scavenge) on the writer thread: removes
    /// the expired events of every stream with a `maxAge`, then `VACUUM`, then a checkpoint that
    /// truncates the write-ahead log, so the file ends at its new size.
    pub(super) async fn scavenge_now(&self) -> Result<()> {
        self.write(move |writer| {
            let tx = writer
                .conn
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| with_context("cannot start the scavenge", &e))?;
            let now = now_millis();
            for (stream, seconds) in read_max_ages(&tx)? {
                remove_expired(&tx, &stream, seconds, now)?;
            }
            tx.commit()
                .map_err(|e| with_context("cannot commit the scavenge", &e))?;
            let conn = &writer.conn.conn;
            conn.execute_batch("VACUUM")
                .map_err(|e| with_context("cannot vacuum the database", &e))?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| with_context("cannot checkpoint the write-ahead log", &e))?;
            Ok(())
        })
        .await
    }

    /// [`Storage::max_ages`](crate::storage::Storage::max_ages) on a reader.
    pub(super) async fn read_max_ages_now(&self) -> Result<MaxAges> {
        self.read(move |conn| read_max_ages(&conn.conn)).await
    }

    /// [`Storage::stream_record`](crate::storage::Storage::stream_record) on a reader.
    pub(super) async fn read_record_now(&self, stream_id: &str) -> Result<Option<StreamRecord>> {
        let stream_id = stream_id.to_owned();
        self.read(move |conn| read_record(&conn.conn, &stream_id))
            .await
    }
}

/// The head recorded before events were removed (0 when none were).
pub(super) fn removed_head(conn: &Connection) -> Result<u64> {
    let value: Option<i64> = conn
        .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")
        .and_then(|mut statement| {
            statement
                .query_row([REMOVED_HEAD], |row| row.get(0))
                .optional()
        })
        .map_err(sqlite_error)?;
    value.map_or(Ok(0), |value| to_u64(value, "removed head"))
}
