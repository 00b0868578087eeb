//! The SQLite backend (native targets), through `rusqlite` with a bundled SQLite.
//!
//! One file holds two tables, `events` and `checkpoints`; see [`SqliteStorage`] for the layout,
//! the connection settings and how several processes share one file.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::error::{Error, Result};
use crate::storage::sql_integers::{clamp, clamp_limit, to_u64};
use crate::storage::{
    decide_append, parse_stored_json, AppendBatch, AppendDecision, AppendNotifier, Checkpoint,
    ExistingEvent, SkippedEvent, Storage,
};
use crate::types::{AppendResult, Direction, Filter, RecordedEvent, StreamInfo};

mod errors;
mod schema;
mod wal;

use errors::{sqlite_error, unique_conflict, with_context, Conflict};
use schema::{open_connection, Location};
use wal::WalBound;

/// How hard SQLite works to keep committed appends across failures: the `PRAGMA synchronous`
/// setting of the connection. The database always runs in WAL mode.
///
/// | | survives a process crash | survives power loss / OS crash | append cost |
/// | --- | --- | --- | --- |
/// | [`Normal`](Durability::Normal) (default) | yes | the last commits may be lost, never corrupted | no fsync per commit |
/// | [`Full`](Durability::Full) | yes | yes | one fsync of the WAL per commit |
///
/// With `Normal`, a commit is complete once it is in the WAL file: a killed process loses
/// nothing it was told was committed, but an OS crash or power cut may roll the store back to
/// the last WAL checkpoint (the database stays consistent; acknowledged appends may vanish).
/// With `Full`, every commit waits for the WAL to reach the disk, so an acknowledged append
/// survives power loss, at the price of much slower small appends on spinning or cheap disks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: survives a process crash; a power loss may lose the most recent
    /// commits (never corrupts). The fast default.
    #[default]
    Normal,
    /// `synchronous=FULL`: every acknowledged append survives a power loss or OS crash.
    Full,
}

/// Options of [`SqliteStorage::open_with`].
///
/// ```
/// use std::time::Duration;
/// use evstore::{Durability, SqliteOptions};
///
/// let options = SqliteOptions::default()
///     .durability(Durability::Full)
///     .busy_timeout(Duration::from_secs(10));
/// assert_eq!(options.durability, Durability::Full);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The `synchronous` setting; see [`Durability`]. Default: [`Durability::Normal`].
    pub durability: Durability,
    /// How long a write waits for another process's write transaction to finish before it fails
    /// with a "database is locked" [`Error::Storage`]. The wait blocks the calling thread.
    /// Default: 5 s.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Normal,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteOptions {
    /// Sets the [`Durability`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the busy timeout.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }
}

/// Stores events in a SQLite file, shareable by several handles and several processes.
///
/// - **Connection**: WAL mode (readers never block the writer), a busy timeout (default 5 s) so
///   concurrent writers queue instead of failing, `synchronous` per [`Durability`]. Each handle
///   owns one connection behind a mutex; calls run synchronously on the calling thread (there is
///   no await inside), so the futures are `Send` and the type is `Send + Sync`.
/// - **Appends** run in one `BEGIN IMMEDIATE` transaction that reads the stream's version and
///   the batch's ids, decides with [`decide_append`], and inserts (when the version matches, the
///   ids are checked by the `UNIQUE (id)` index while inserting, and only a refused id sends the
///   append, rolled back, through the explicit lookups): writers across processes are
///   serialized by SQLite's write lock, so positions (`INTEGER PRIMARY KEY AUTOINCREMENT`)
///   increase in commit order and no event becomes visible below a position a reader passed.
///   `UNIQUE (stream_id, version)` and `UNIQUE (id)` back the checks up.
/// - **Head** is cached together with the connection's `PRAGMA data_version`, which changes only
///   when another connection commits; polling subscriptions therefore cost one tiny pragma.
/// - **Wake-ups**: every handle opened on one file in this process (found by its canonical path)
///   shares one [`AppendNotifier`], so an append through any of them wakes the subscriptions of
///   stores over all of them at once; other processes are noticed by the poll.
/// - **Disk use**: the database file, plus while any handle is open a write-ahead log
///   `<file>-wal` and a small `<file>-shm`. The WAL normally stays around 4 MB (SQLite
///   checkpoints it into the database every 1000 pages) and is deleted when the last connection
///   closes. When readers in other processes hold checkpoints back it can grow further, but an
///   append that finds it past [`WAL_SIZE_LIMIT`](Self::WAL_SIZE_LIMIT) (16 MiB) forces a full
///   checkpoint that empties it (waiting at most 50 ms for those readers, retried a second later
///   if they still hold on), and whenever it restarts it is truncated to at most that limit. So
///   expect the file plus up to about 16 MiB, a little more for the writes made while a
///   checkpoint is held back.
/// - **Schema**: versioned by `PRAGMA user_version` with numbered migrations and marked with an
///   `application_id`. A file written by a newer evstore is [`Error::IncompatibleSchema`]; a file
///   that is not an evstore database is an [`Error::Storage`] and is left untouched.
///
/// ```
/// # futures::executor::block_on(async {
/// use evstore::{EventStore, ExpectedVersion, NewEvent, ReadStreamOptions, SqliteStorage};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = EventStore::new(SqliteStorage::open(dir.path().join("events.db"))?);
/// store.append("todo-1", ExpectedVersion::NoStream,
///              vec![NewEvent::new("Added", serde_json::json!({ "title": "milk" }))]).await?;
/// let events = store.read_stream("todo-1", ReadStreamOptions::new()).await?;
/// assert_eq!(events[0].version, 1);
/// # Ok::<(), evstore::Error>(()) }).unwrap();
/// ```
pub struct SqliteStorage {
    state: Mutex<Option<Handle>>,
    path: Option<PathBuf>,
    options: SqliteOptions,
    notifier: AppendNotifier,
}

/// The open connection and what this handle knows about the head and the WAL.
struct Handle {
    conn: Connection,
    head: Option<HeadCache>,
    /// `None` in memory.
    wal: Option<WalBound>,
}

/// The head as of a `PRAGMA data_version`: valid while no other connection committed.
#[derive(Clone, Copy)]
struct HeadCache {
    data_version: i64,
    head: u64,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SqliteStorage {
    /// The newest schema version (`PRAGMA user_version`) this build reads and writes.
    pub const SCHEMA_VERSION: u64 = schema::SCHEMA_VERSION;

    /// The bound on the write-ahead log file (`<file>-wal`), in bytes: 16 MiB. See
    /// "Disk use" above.
    pub const WAL_SIZE_LIMIT: u64 = wal::WAL_SIZE_LIMIT;

    /// Opens (or creates) the store at `path` with default [`SqliteOptions`].
    ///
    /// Errors: [`Error::IncompatibleSchema`] for a file written by a newer evstore,
    /// [`Error::Storage`] when the file cannot be opened or is not an evstore SQLite database
    /// (the file is then left unchanged).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (or creates) the store at `path` with `options`. See [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref();
        let conn = open_connection(Location::File(path), &options)?;
        // The file exists now. Two spellings of one file must find one notifier.
        let canonical = std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_owned());
        let notifier = AppendNotifier::shared(&format!("sqlite:{}", canonical.display()));
        Ok(Self::from_connection(
            conn,
            Some(path.to_owned()),
            options,
            notifier,
        ))
    }

    /// A private, empty store in memory, gone when dropped (useful in tests; for ephemeral use
    /// [`MemoryStorage`](crate::MemoryStorage) is simpler and faster).
    pub fn open_in_memory() -> Result<Self> {
        let options = SqliteOptions::default();
        let conn = open_connection(Location::Memory, &options)?;
        Ok(Self::from_connection(
            conn,
            None,
            options,
            AppendNotifier::new(),
        ))
    }

    fn from_connection(
        conn: Connection,
        path: Option<PathBuf>,
        options: SqliteOptions,
        notifier: AppendNotifier,
    ) -> Self {
        SqliteStorage {
            state: Mutex::new(Some(Handle {
                conn,
                head: None,
                wal: path.as_deref().map(WalBound::new),
            })),
            path,
            options,
            notifier,
        }
    }

    /// The file this store was opened from (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }

    fn lock(&self) -> MutexGuard<'_, Option<Handle>> {
        // A panic while the lock was held dropped any open transaction (rolled back) and never
        // left the head cache ahead of a commit, so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` on the open connection, or fails with [`Error::Closed`].
    fn with_handle<T>(&self, work: impl FnOnce(&mut Handle) -> Result<T>) -> Result<T> {
        match self.lock().as_mut() {
            Some(handle) => work(handle),
            None => Err(Error::Closed),
        }
    }
}

impl Storage for SqliteStorage {
    async fn append(&self, batch: AppendBatch) -> Result<AppendResult> {
        self.with_handle(|handle| {
            let result = append(&mut handle.conn, &batch)?;
            if let Some(cache) = &mut handle.head {
                // Our own commits do not change our data_version; keep the cache current.
                cache.head = cache.head.max(result.position);
            }
            if let Some(wal) = &mut handle.wal {
                wal.after_append(&handle.conn, self.options.busy_timeout);
            }
            Ok(result)
        })
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let sql = match direction {
            Direction::Forward => {
                "SELECT position, id, stream_id, version, event_type, data, metadata, \
                 recorded_at, correlation_id, causation_id FROM events \
                 WHERE stream_id = ?1 AND version >= ?2 ORDER BY version ASC LIMIT ?3"
            }
            Direction::Backward => {
                "SELECT position, id, stream_id, version, event_type, data, metadata, \
                 recorded_at, correlation_id, causation_id FROM events \
                 WHERE stream_id = ?1 AND version <= ?2 ORDER BY version DESC LIMIT ?3"
            }
        };
        self.with_handle(|handle| {
            let mut statement = handle.conn.prepare_cached(sql).map_err(sqlite_error)?;
            let rows = statement
                .query_map(
                    params![stream_id, clamp(from_version), clamp_limit(limit)],
                    StoredEvent::from_row,
                )
                .map_err(sqlite_error)?;
            collect_events(rows)
        })
    }

    async fn read_all(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> Result<Vec<RecordedEvent>> {
        let (sql, values) = read_all_query(from_position, direction, limit, filter)?;
        self.with_handle(|handle| {
            // The SQL depends only on the direction and on which filter lists are empty or
            // single-valued, so a handful of shapes cover every call and stay cached.
            let mut statement = handle.conn.prepare_cached(&sql).map_err(sqlite_error)?;
            let rows = statement
                .query_map(rusqlite::params_from_iter(values), StoredEvent::from_row)
                .map_err(sqlite_error)?;
            collect_events(rows)
        })
    }

    async fn head(&self) -> Result<u64> {
        self.with_handle(|handle| {
            let data_version: i64 = handle
                .conn
                .prepare_cached("PRAGMA data_version")
                .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
                .map_err(sqlite_error)?;
            if let Some(cache) = handle.head {
                if cache.data_version == data_version {
                    return Ok(cache.head);
                }
            }
            let head: Option<i64> = handle
                .conn
                .prepare_cached("SELECT max(position) FROM events")
                .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
                .map_err(sqlite_error)?;
            let head = head.map_or(Ok(0), |head| to_u64(head, "position"))?;
            handle.head = Some(HeadCache { data_version, head });
            Ok(head)
        })
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        // A skip scan of the `(stream_id, version)` index: each step jumps to the next stream id
        // (one index seek), then each listed stream's last event is one more seek. A page costs
        // about `limit` seeks, however long the streams.
        let (first, bound) = match after {
            Some(after) if after >= prefix => (">", after),
            _ => (">=", prefix),
        };
        let sql = format!(
            "WITH RECURSIVE listed(stream_id) AS ( \
                 SELECT (SELECT min(stream_id) FROM events WHERE stream_id {first} ?1) \
                 UNION ALL \
                 SELECT (SELECT min(stream_id) FROM events WHERE stream_id > listed.stream_id) \
                 FROM listed \
                 WHERE substr(listed.stream_id, 1, length(?2)) = ?2 \
                 LIMIT ?3) \
             SELECT events.stream_id, events.version, events.position \
             FROM listed JOIN events ON events.position = ( \
                 SELECT position FROM events AS last WHERE last.stream_id = listed.stream_id \
                 ORDER BY last.version DESC LIMIT 1) \
             WHERE substr(listed.stream_id, 1, length(?2)) = ?2 \
             ORDER BY events.stream_id"
        );
        self.with_handle(|handle| {
            let mut statement = handle.conn.prepare_cached(&sql).map_err(sqlite_error)?;
            let rows = statement
                .query_map(params![bound, prefix, clamp_limit(limit)], |row| {
                    Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?))
                })
                .map_err(sqlite_error)?;
            rows.map(|row| {
                let (stream_id, version, position) = row.map_err(sqlite_error)?;
                Ok(StreamInfo {
                    stream_id,
                    version: to_u64(version, "version")?,
                    position: to_u64(position, "position")?,
                })
            })
            .collect()
        })
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        self.with_handle(|handle| {
            let found: Option<(i64, String)> = handle
                .conn
                .prepare_cached("SELECT position, skipped FROM checkpoints WHERE name = ?1")
                .and_then(|mut statement| {
                    statement
                        .query_row([name], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(sqlite_error)?;
            let Some((position, skipped)) = found else {
                return Ok(None);
            };
            let skipped: Vec<SkippedEvent> = serde_json::from_str(&skipped).map_err(|e| {
                Error::storage(format!(
                    "the stored checkpoint of projection `{name}` is corrupt: {e}"
                ))
            })?;
            Ok(Some(Checkpoint {
                position: to_u64(position, "checkpoint position")?,
                skipped,
            }))
        })
    }

    async fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<()> {
        let skipped = serde_json::to_string(&checkpoint.skipped)
            .map_err(|e| Error::storage(format!("cannot encode skipped events: {e}")))?;
        self.with_handle(|handle| {
            handle
                .conn
                .prepare_cached(
                    "INSERT INTO checkpoints (name, position, skipped) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE \
                     SET position = excluded.position, skipped = excluded.skipped",
                )
                .and_then(|mut statement| {
                    statement.execute(params![name, clamp(checkpoint.position), skipped])
                })
                .map_err(sqlite_error)?;
            Ok(())
        })
    }

    fn notifier(&self) -> AppendNotifier {
        self.notifier.clone()
    }

    fn close(&self) {
        if let Some(handle) = self.lock().take() {
            // Closing finalizes cached statements and, for the last connection, checkpoints the
            // WAL. A failure leaves nothing to undo: the connection is dropped either way.
            let _ = handle.conn.close();
        }
    }
}

/// The append transaction: read, decide, write, commit — all under SQLite's write lock.
///
/// The common case — an expected version the stream satisfies and ids never seen — is decided
/// without looking the ids up one by one: the `UNIQUE (id)` index looks them up anyway while
/// inserting, so the fast path inserts straight away and commits. If the index refuses an id, the
/// transaction rolls back (nothing was written) and the append runs again on the full path, which
/// looks every id up and lets [`decide_append`] tell an idempotent retry from a duplicate. Either
/// way the decision and the write happen inside one transaction.
fn append(conn: &mut Connection, batch: &AppendBatch) -> Result<AppendResult> {
    {
        let tx = begin_append(conn)?;
        let current = stream_version(&tx, &batch.stream_id)?;
        if !batch.expected.accepts(current) {
            // A mismatch, unless the batch is a retry or reuses ids: decide on the full path, in
            // this same transaction.
            return decide_and_write(tx, batch, current);
        }
        match insert_events(&tx, batch, current + 1) {
            Ok(result) => return commit_append(tx, result),
            // An id is taken: roll back (dropping `tx`) and decide on the full path.
            Err(Refused::EventId(_)) => {}
            Err(Refused::Other(error)) => return Err(error),
        }
    }
    let tx = begin_append(conn)?;
    let current = stream_version(&tx, &batch.stream_id)?;
    decide_and_write(tx, batch, current)
}

fn begin_append(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| with_context("cannot start the append transaction", &e))
}

fn commit_append(tx: rusqlite::Transaction<'_>, result: AppendResult) -> Result<AppendResult> {
    tx.commit()
        .map_err(|e| with_context("cannot commit the append", &e))?;
    Ok(result)
}

/// The full path: look every id of the batch up, decide with [`decide_append`], write.
fn decide_and_write(
    tx: rusqlite::Transaction<'_>,
    batch: &AppendBatch,
    current: u64,
) -> Result<AppendResult> {
    let existing = {
        let mut lookup = tx
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
            .collect::<Result<Vec<_>>>()?
    };
    let first_version = match decide_append(batch, current, &existing)? {
        // A retry of an append that already happened: write nothing (the transaction rolls
        // back when dropped).
        AppendDecision::AlreadyAppended(result) => return Ok(result),
        AppendDecision::Write { first_version } => first_version,
    };
    match insert_events(&tx, batch, first_version) {
        Ok(result) => commit_append(tx, result),
        // Cannot happen after the lookups under SQLite's write lock, but if the index is what
        // catches a reused id, report it as the typed error it is.
        Err(Refused::EventId(id)) => Err(Error::DuplicateEventId { id }),
        Err(Refused::Other(error)) => Err(error),
    }
}

/// Why [`insert_events`] wrote nothing (its inserts are undone with the transaction).
enum Refused {
    /// `UNIQUE (id)` refused this event id of the batch.
    EventId(String),
    /// Any other failure, as the error to report.
    Other(Error),
}

/// Inserts the batch's events at `first_version`, `first_version + 1`, ….
fn insert_events(
    tx: &rusqlite::Transaction<'_>,
    batch: &AppendBatch,
    first_version: u64,
) -> std::result::Result<AppendResult, Refused> {
    let mut insert = tx
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
                    Refused::Other(match stream_version(tx, &batch.stream_id) {
                        Ok(actual) => Error::WrongExpectedVersion {
                            stream: batch.stream_id.clone(),
                            expected: batch.expected,
                            actual,
                        },
                        Err(error) => error,
                    })
                }
                None => Refused::Other(with_context("cannot insert an event", &error)),
            });
        }
        position = to_u64(tx.last_insert_rowid(), "position").map_err(Refused::Other)?;
    }
    Ok(AppendResult {
        next_expected_version: first_version + batch.events.len() as u64 - 1,
        position,
    })
}

fn stream_version(conn: &Connection, stream_id: &str) -> Result<u64> {
    let version: Option<i64> = conn
        .prepare_cached("SELECT max(version) FROM events WHERE stream_id = ?1")
        .and_then(|mut statement| statement.query_row([stream_id], |row| row.get(0)))
        .map_err(sqlite_error)?;
    version.map_or(Ok(0), |version| to_u64(version, "version"))
}

/// Builds the `read_all` query. Each filter list becomes one condition: `= ?` for one value
/// (so SQLite walks the `(category, position)` / `(event_type, position)` index in position
/// order), a `json_each` set for several (one parameter whatever the length), and stream-id
/// prefixes an `EXISTS` over `substr`. Lists are ANDed; values within a list are ORed.
fn read_all_query(
    from_position: u64,
    direction: Direction,
    limit: usize,
    filter: &Filter,
) -> Result<(String, Vec<SqlValue>)> {
    let (bound, order) = match direction {
        Direction::Forward => (">", "ASC"),
        Direction::Backward => ("<", "DESC"),
    };
    let mut sql = format!(
        "SELECT position, id, stream_id, version, event_type, data, metadata, recorded_at, \
         correlation_id, causation_id FROM events WHERE position {bound} ?1"
    );
    let mut values = vec![SqlValue::Integer(clamp(from_position))];
    let parameter = |values: &mut Vec<SqlValue>, value: SqlValue| {
        values.push(value);
        values.len()
    };
    for (column, list) in [
        ("category", &filter.categories),
        ("event_type", &filter.event_types),
    ] {
        match list.as_slice() {
            [] => {}
            [one] => {
                let n = parameter(&mut values, SqlValue::Text(one.clone()));
                sql.push_str(&format!(" AND {column} = ?{n}"));
            }
            many => {
                let n = parameter(&mut values, SqlValue::Text(json_list(many)?));
                sql.push_str(&format!(
                    " AND {column} IN (SELECT value FROM json_each(?{n}))"
                ));
            }
        }
    }
    if !filter.stream_prefixes.is_empty() {
        let n = parameter(
            &mut values,
            SqlValue::Text(json_list(&filter.stream_prefixes)?),
        );
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM json_each(?{n}) AS prefix \
             WHERE substr(events.stream_id, 1, length(prefix.value)) = prefix.value)"
        ));
    }
    let n = parameter(&mut values, SqlValue::Integer(clamp_limit(limit)));
    sql.push_str(&format!(" ORDER BY position {order} LIMIT ?{n}"));
    Ok((sql, values))
}

fn json_list(values: &[String]) -> Result<String> {
    serde_json::to_string(values).map_err(|e| Error::storage(format!("cannot encode filter: {e}")))
}

/// A row of `events` as stored, before its JSON is parsed.
struct StoredEvent {
    position: i64,
    id: String,
    stream_id: String,
    version: i64,
    event_type: String,
    data: String,
    metadata: String,
    recorded_at: i64,
    correlation_id: Option<String>,
    causation_id: Option<String>,
}

impl StoredEvent {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredEvent {
            position: row.get(0)?,
            id: row.get(1)?,
            stream_id: row.get(2)?,
            version: row.get(3)?,
            event_type: row.get(4)?,
            data: row.get(5)?,
            metadata: row.get(6)?,
            recorded_at: row.get(7)?,
            correlation_id: row.get(8)?,
            causation_id: row.get(9)?,
        })
    }

    fn into_recorded(self) -> Result<RecordedEvent> {
        Ok(RecordedEvent {
            position: to_u64(self.position, "position")?,
            version: to_u64(self.version, "version")?,
            recorded_at: to_u64(self.recorded_at, "recorded_at")?,
            data: parse_stored_json(&self.data)?,
            metadata: parse_stored_json(&self.metadata)?,
            id: self.id,
            stream_id: self.stream_id,
            event_type: self.event_type,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
        })
    }
}

fn collect_events(
    rows: impl Iterator<Item = rusqlite::Result<StoredEvent>>,
) -> Result<Vec<RecordedEvent>> {
    rows.map(|row| row.map_err(sqlite_error)?.into_recorded())
        .collect()
}

#[cfg(test)]
mod tests;
