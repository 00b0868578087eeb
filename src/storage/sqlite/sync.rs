//! [`SyncStorage`] for SQLite: the mirror is the `events` table (rows inserted with the
//! server's positions), the outbox the `outbox` table, the sync state a `meta` record.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::append::{lookup_ids, stream_version};
use super::errors::{sqlite_error, with_context};
use super::wal::WalBound;
use super::writer::Writer;
use super::{Durability, SqliteStorage};
use crate::error::{Error, Result};
use crate::storage::sql_integers::{clamp, to_u64};
use crate::storage::{
    decide_enqueue, AppendBatch, EnqueueDecision, LocalAppend, OutboxEntry, OutboxState,
    SyncChange, SyncSnapshot, SyncStorage,
};
use crate::types::RecordedEvent;

/// The `meta` key of the store id (created by schema migration 2).
const STORE_ID: &str = "store_id";
/// The `meta` key of the sync client's state (JSON).
const SYNC_STATE: &str = "sync_state";

/// The store's id, a random value created with its schema.
pub(super) fn store_id(conn: &Connection) -> Result<String> {
    read_meta(conn, STORE_ID)?.ok_or_else(|| Error::storage("the store has no id record"))
}

/// The `meta` record `key`, if there is one.
pub(super) fn read_meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut statement| statement.query_row([key], |row| row.get(0)).optional())
        .map_err(sqlite_error)
}

/// Stores the `meta` record `key`, replacing it.
pub(super) fn write_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut statement| statement.execute(params![key, value]))
    .map(drop)
    .map_err(|e| with_context(&format!("cannot write the meta record `{key}`"), &e))
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> Error {
    Error::storage(format!("the stored {what} is corrupt: {error}"))
}

/// The outbox entries, all of them or of one stream, in order.
fn read_outbox(conn: &Connection, stream: Option<&str>) -> Result<Vec<OutboxEntry>> {
    let sql = match stream {
        None => "SELECT batch_id, batch, confirmed_position FROM outbox ORDER BY seq",
        Some(_) => {
            "SELECT batch_id, batch, confirmed_position FROM outbox WHERE stream_id = ?1 \
             ORDER BY seq"
        }
    };
    let mut statement = conn.prepare_cached(sql).map_err(sqlite_error)?;
    let read = |row: &rusqlite::Row<'_>| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<i64>>(2)?,
        ))
    };
    let rows = match stream {
        None => statement.query_map([], read),
        Some(stream) => statement.query_map([stream], read),
    }
    .map_err(sqlite_error)?;
    rows.map(|row| {
        let (batch_id, batch, confirmed) = row.map_err(sqlite_error)?;
        let batch: AppendBatch =
            serde_json::from_str(&batch).map_err(|e| corrupt("outbox batch", e))?;
        let state = match confirmed {
            None => OutboxState::Pending,
            Some(position) => OutboxState::Confirmed {
                position: to_u64(position, "outbox position")?,
            },
        };
        Ok(OutboxEntry {
            batch_id,
            batch,
            state,
        })
    })
    .collect()
}

fn insert_outbox(conn: &Connection, entry: &OutboxEntry) -> Result<()> {
    let batch = serde_json::to_string(&entry.batch)
        .map_err(|e| Error::storage(format!("cannot encode an outbox batch: {e}")))?;
    let confirmed = match entry.state {
        OutboxState::Pending => None,
        OutboxState::Confirmed { position } => Some(clamp(position)),
    };
    conn.prepare_cached(
        "INSERT INTO outbox (batch_id, stream_id, batch, confirmed_position) \
         VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            entry.batch_id,
            entry.batch.stream_id,
            batch,
            confirmed
        ])
    })
    .map_err(|e| with_context("cannot write to the outbox", &e))?;
    Ok(())
}

/// Mirror rows per `INSERT` statement: one statement (and one `AUTOINCREMENT` bookkeeping
/// update of `sqlite_sequence`) per this many events instead of per event.
/// 11 parameters a row, far below SQLite's limit of 32,766 per statement.
const ROWS_PER_INSERT: usize = 50;

/// The `INSERT` of `rows` mirror events.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (position, id, stream_id, version, category, event_type, data, \
         metadata, recorded_at, correlation_id, causation_id) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        let n = row * 11;
        sql.push_str(&format!(
            "(?{},?{},?{},?{},?{},?{},?{},?{},?{},?{},?{})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 7,
            n + 8,
            n + 9,
            n + 10,
            n + 11
        ));
    }
    sql
}

/// Inserts pulled events into the mirror at their server positions: full chunks of
/// [`ROWS_PER_INSERT`] rows through one cached statement, the rest through a one-row statement
/// (two statement shapes in all, both cached).
fn insert_mirror_events(tx: &Connection, events: &[RecordedEvent]) -> Result<()> {
    let mut chunks = events.chunks_exact(ROWS_PER_INSERT);
    if events.len() >= ROWS_PER_INSERT {
        let mut insert = tx
            .prepare_cached(&insert_sql(ROWS_PER_INSERT))
            .map_err(sqlite_error)?;
        for chunk in chunks.by_ref() {
            bind_rows(&mut insert, chunk)?;
            insert
                .raw_execute()
                .map_err(|e| with_context("cannot write mirror events", &e))?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut insert = tx.prepare_cached(&insert_sql(1)).map_err(sqlite_error)?;
        for event in rest {
            bind_rows(&mut insert, std::slice::from_ref(event))?;
            insert
                .raw_execute()
                .map_err(|e| with_context("cannot write a mirror event", &e))?;
        }
    }
    Ok(())
}

/// Binds `events` as the rows of an insert made by [`insert_sql`].
fn bind_rows(insert: &mut rusqlite::CachedStatement<'_>, events: &[RecordedEvent]) -> Result<()> {
    for (row, event) in events.iter().enumerate() {
        let n = row * 11;
        let values: [&dyn rusqlite::ToSql; 11] = [
            &clamp(event.position),
            &event.id,
            &event.stream_id,
            &clamp(event.version),
            &crate::types::category_of(&event.stream_id),
            &event.event_type,
            &event.data.to_string(),
            &event.metadata.to_string(),
            &clamp(event.recorded_at),
            &event.correlation_id,
            &event.causation_id,
        ];
        for (offset, value) in values.iter().enumerate() {
            insert
                .raw_bind_parameter(n + offset + 1, value)
                .map_err(sqlite_error)?;
        }
    }
    Ok(())
}

impl SyncStorage for SqliteStorage {
    async fn load_sync(&self) -> Result<SyncSnapshot> {
        self.read(|conn| {
            let tx = conn.conn.unchecked_transaction().map_err(sqlite_error)?;
            let state = read_meta(&tx, SYNC_STATE)?
                .map(|text| serde_json::from_str(&text).map_err(|e| corrupt("sync state", e)))
                .transpose()?;
            let outbox = read_outbox(&tx, None)?;
            Ok(SyncSnapshot { state, outbox })
        })
        .await
    }

    async fn enqueue(&self, batch_id: String, batch: AppendBatch) -> Result<LocalAppend> {
        self.write(move |writer| {
            let tx = writer
                .conn
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| with_context("cannot start the outbox transaction", &e))?;
            let mirror_version = stream_version(&tx, &batch.stream_id)?;
            let in_mirror = lookup_ids(&tx, &batch)?;
            let stream_outbox = read_outbox(&tx, Some(&batch.stream_id))?;
            match decide_enqueue(
                &batch,
                mirror_version,
                &stream_outbox,
                &batch_id,
                &in_mirror,
            )? {
                EnqueueDecision::AlreadyDone(result) => Ok(result),
                EnqueueDecision::Write(result) => {
                    insert_outbox(
                        &tx,
                        &OutboxEntry {
                            batch_id,
                            batch,
                            state: OutboxState::Pending,
                        },
                    )?;
                    tx.commit()
                        .map_err(|e| with_context("cannot commit to the outbox", &e))?;
                    Ok(result)
                }
            }
        })
        .await
    }

    async fn apply_sync(&self, change: SyncChange) -> Result<()> {
        let state = change
            .state
            .as_ref()
            .map(|state| {
                serde_json::to_string(state)
                    .map_err(|e| Error::storage(format!("cannot encode the sync state: {e}")))
            })
            .transpose()?;
        // The mirror's writes are had again after a loss (see `relaxed_commit`): with
        // `Durability::Full` they commit with `synchronous=NORMAL` all the same.
        let relax = self.options.durability == Durability::Full;
        let checkpoint = self
            .write(move |writer| {
                if !relax {
                    return apply_change(writer, change, state);
                }
                relaxed_commit(&writer.conn.conn, "NORMAL")?;
                let applied = apply_change(writer, change, state);
                relaxed_commit(&writer.conn.conn, "FULL")?;
                applied
            })
            .await?;
        if checkpoint {
            if let Some(readers) = &self.readers {
                readers.checkpoint_beside();
            }
        }
        Ok(())
    }
}

/// Sets `synchronous` on the writer connection around a sync change, for a store opened with
/// [`Durability::Full`].
///
/// What a sync change writes can all be had again after a power loss or OS crash took its
/// commit away: the mirror's events, the pulled position (in the same transaction, so a lost
/// page is pulled again from where the mirror really is), the outbox confirmations and
/// removals (the batches are pushed again and answered `duplicate`, or again rejected or in
/// conflict), a conflict's resolution (asked for again) and the sync state (a new client id is
/// only a new name for the next pushes). So those commits skip the fsync per commit, while the
/// outbox's own appends ([`SyncStorage::enqueue`]) keep the store's durability: their commit
/// syncs the WAL, every earlier frame with it.
fn relaxed_commit(conn: &Connection, synchronous: &str) -> Result<()> {
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(sqlite_error)
}

/// The writer-thread part of [`SyncStorage::apply_sync`]: `change` in one transaction (with
/// `state`, encoded); whether a checkpoint beside the writer is due.
fn apply_change(writer: &mut Writer, change: SyncChange, state: Option<String>) -> Result<bool> {
    // The head cache only tracks commits of other connections: drop it.
    writer.conn.head = None;
    let last = change.events.last().map(|event| event.position);
    let tx = writer
        .conn
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| with_context("cannot start the sync transaction", &e))?;
    if change.reset_mirror {
        tx.execute_batch(
            "DELETE FROM events; DELETE FROM streams; \
             DELETE FROM meta WHERE key IN ('removed_head', 'max_ages');",
        )
        .map_err(|e| with_context("cannot clear the mirror", &e))?;
    }
    let head: Option<i64> = tx
        .query_row("SELECT max(position) FROM events", [], |row| row.get(0))
        .map_err(sqlite_error)?;
    change.check_events(head.map_or(Ok(0), |h| to_u64(h, "position"))?)?;
    {
        insert_mirror_events(&tx, &change.events)?;
        let mut remove = tx
            .prepare_cached("DELETE FROM outbox WHERE batch_id = ?1")
            .map_err(sqlite_error)?;
        for batch_id in &change.remove {
            remove.execute([batch_id]).map_err(sqlite_error)?;
        }
        let mut confirm = tx
            .prepare_cached("UPDATE outbox SET confirmed_position = ?2 WHERE batch_id = ?1")
            .map_err(sqlite_error)?;
        for (batch_id, position) in &change.confirm {
            confirm
                .execute(params![batch_id, clamp(*position)])
                .map_err(sqlite_error)?;
        }
        let mut unconfirm = tx
            .prepare_cached("UPDATE outbox SET confirmed_position = NULL WHERE batch_id = ?1")
            .map_err(sqlite_error)?;
        for batch_id in &change.unconfirm {
            unconfirm.execute([batch_id]).map_err(sqlite_error)?;
        }
    }
    for entry in &change.add {
        insert_outbox(&tx, entry)?;
    }
    if let Some(state) = &state {
        write_meta(&tx, SYNC_STATE, state)?;
    }
    let automatic = writer.wal.as_ref().map(|_| WalBound::pause_automatic(&tx));
    let committed = tx.commit();
    let checkpoint = match (&mut writer.wal, automatic) {
        (Some(wal), Some(automatic)) => {
            wal.after_sync_commit(&writer.conn.conn, automatic, writer.busy_timeout)
        }
        _ => false,
    };
    committed.map_err(|e| with_context("cannot commit the sync changes", &e))?;
    // Other handles on the file in this process learn of the mirror's new events.
    if let (Some(committed), Some(last)) = (&writer.committed, last) {
        committed.fetch_max(last, std::sync::atomic::Ordering::AcqRel);
    }
    Ok(checkpoint)
}
