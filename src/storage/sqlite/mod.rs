//! The SQLite backend (native targets), through `rusqlite` with a bundled SQLite.
//!
//! One file holds two tables, `events` and `checkpoints`; see [`SqliteStorage`] for the layout,
//! the connection settings and how several processes share one file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::params;

use crate::error::{Error, Result};
use crate::storage::sql_integers::{clamp, clamp_limit, to_u64};
use crate::storage::{
    AppendBatch, AppendNotifier, Checkpoint, MaxAges, Storage, StreamChange, StreamRecord,
};
use crate::types::{AppendResult, Direction, Filter, RecordedEvent, StreamInfo};

mod append;
mod conn;
mod errors;
mod file_events;
mod lifecycle;
mod readers;
mod schema;
mod spin;
mod sync;
mod wal;
mod watch;
mod workers;
mod writer;

use conn::{read_all_query, Conn};
use errors::sqlite_error;
use readers::Readers;
use schema::{open_connection, Location};
use spin::{wait_for_writer, InFlight};
use wal::WalBound;
use watch::FileWatch;
use workers::Workers;
use writer::{WriteJob, Writer};

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
///
/// A synced store (a [`SyncClient`](crate::sync::SyncClient)'s backend) keeps `Full` for its
/// local appends, which go to the outbox
/// ([`SyncStorage::enqueue`](crate::storage::SyncStorage::enqueue)), but commits what the sync
/// rounds write ([`SyncStorage::apply_sync`](crate::storage::SyncStorage::apply_sync): pulled
/// pages, confirmations, the sync state) with `Normal`: all of it is had again after a power
/// loss. The pulled position is committed with its page, so a lost page is pulled again from
/// where the mirror really is; lost confirmations leave their batches pending, pushed again and
/// answered `duplicate`. The next `Full` commit syncs the WAL with every earlier frame in it.
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
    /// with a "database is locked" [`Error::Storage`]. The wait happens on the store's writer
    /// thread; the calling task just awaits. Default: 5 s.
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
/// - **Threads**: no method waits on the calling thread for a lock or an fsync. Each handle has
///   a writer thread that owns its write connection (appends, checkpoint saves); the async
///   methods queue their writes and await the answer, so a task whose append waits for another
///   process's write lock, or for an fsync, leaves its executor thread free, on any executor.
///   Thread wake-ups cost more than an append on virtual machines, so neither side blocks at
///   once: the writer thread looks for its next job for 200 µs before it blocks, and the only
///   append in flight on a handle keeps its task runnable (polled again after the executor's
///   other tasks; its thread never blocks) for up to 1 ms while it waits; longer waits wait as
///   any other. An idle store spends no CPU on this.
///   Reads of a file store run on a pool of read connections (one per core, 2 to 4), in
///   parallel with each other and with the writer (WAL): at once on the calling thread, as a
///   raw query would, because a WAL reader has no lock to wait for — in the rare moments SQLite
///   would make it wait (another process recovering the WAL), or when every pooled connection is
///   busy, the read goes to a reader thread and is awaited instead. The futures are `Send` and
///   the type is `Send + Sync`. [`close`](Storage::close) (and dropping the handle) waits for the
///   work already queued, then closes the connections.
/// - **Connections**: WAL mode (readers never block the writer), a busy timeout (default 5 s) so
///   writers of several handles or processes queue instead of failing, `synchronous` per
///   [`Durability`].
/// - **Appends** are group-committed: the appends waiting for the writer at one moment run in one
///   `BEGIN IMMEDIATE` transaction, each in its own `SAVEPOINT`, then one commit (with
///   [`Durability::Full`] one fsync) acknowledges them all. Each is decided alone: it reads the
///   stream's version (seeing the appends before it in the group) and the batch's ids, decides
///   with [`decide_append`](crate::storage::decide_append), and inserts (when the version
///   matches, the ids are checked by the `UNIQUE (id)` index while inserting, and only a refused
///   id sends the append, rolled back to its savepoint, through the explicit lookups); an append
///   that fails rolls back to its savepoint and the others still commit. Writers across
///   processes are serialized by SQLite's write lock, so positions (`INTEGER PRIMARY KEY
///   AUTOINCREMENT`) increase in commit order and no event becomes visible below a position a
///   reader passed. `UNIQUE (stream_id, version)` and `UNIQUE (id)` back the checks up.
/// - **Head** is cached per read connection together with its `PRAGMA data_version`, which
///   changes only when another connection commits; polling subscriptions therefore cost one tiny
///   pragma.
/// - **Wake-ups**: every handle opened on one file in this process (found by its canonical path)
///   shares one [`AppendNotifier`], so an append through any of them wakes the subscriptions of
///   stores over all of them at once. Commits of other processes are noticed by the file's
///   watch while a subscription waits: a thread woken by the operating system's notification of
///   a write to the file's WAL (inotify, FSEvents, `ReadDirectoryChangesW`, kqueue), which then
///   looks at `PRAGMA data_version` every 5 ms until the writes stop, and otherwise only every
///   250 ms (where the platform sends no notifications, every 5 ms); behind it, the
///   subscription's own poll.
/// - **Disk use**: the database file, plus while any handle is open a write-ahead log
///   `<file>-wal` and a small `<file>-shm`. The WAL normally stays around 4 MB (SQLite
///   checkpoints it into the database every 1000 pages) and is deleted when the last connection
///   closes. While a synced store pulls, its commits leave the checkpoint to a reader thread
///   (the copying and its fsyncs run beside the writer, not inside the next page's commit), and
///   the WAL may grow to the 16 MiB bound below before the writer checkpoints it itself. When
///   readers in other processes hold checkpoints back it can grow further, but an
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
    writer: Workers<WriteJob>,
    /// The calls waiting for the writer thread (see [`spin`]).
    writing: InFlight,
    /// `None` in memory: one connection only, so reads run on the writer thread.
    readers: Option<Readers>,
    path: Option<PathBuf>,
    options: SqliteOptions,
    notifier: AppendNotifier,
    /// Wakes this process's subscriptions on commits of other processes; `None` in memory or
    /// once closed.
    watch: Mutex<Option<Arc<FileWatch>>>,
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
        let readers = Readers::open(path, &options)?;
        let watch = FileWatch::of(&canonical, notifier.clone(), &options);
        let writer = Writer {
            conn: Conn::new(conn),
            committed: Some(watch.committed()),
            wal: Some(WalBound::new(path)),
            busy_timeout: options.busy_timeout,
        };
        Ok(SqliteStorage {
            writer: Workers::start("evstore-sqlite-writer", vec![writer], writer::serve)?,
            writing: InFlight::default(),
            readers: Some(readers),
            path: Some(path.to_owned()),
            options,
            notifier,
            watch: Mutex::new(Some(watch)),
        })
    }

    /// A private, empty store in memory, gone when dropped (useful in tests; for ephemeral use
    /// [`MemoryStorage`](crate::MemoryStorage) is simpler and faster).
    pub fn open_in_memory() -> Result<Self> {
        let options = SqliteOptions::default();
        let conn = open_connection(Location::Memory, &options)?;
        let writer = Writer {
            conn: Conn::new(conn),
            committed: None,
            wal: None,
            busy_timeout: options.busy_timeout,
        };
        Ok(SqliteStorage {
            writer: Workers::start("evstore-sqlite-writer", vec![writer], writer::serve)?,
            writing: InFlight::default(),
            readers: None,
            path: None,
            options,
            notifier: AppendNotifier::new(),
            watch: Mutex::new(None),
        })
    }

    /// The file this store was opened from (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }

    /// Runs `work` on a read connection (see [`Readers`]; on the writer thread in memory),
    /// never waiting on the calling thread for a lock.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Conn) -> Result<T> + Clone + Send + 'static,
    ) -> Result<T> {
        match &self.readers {
            Some(readers) => readers.read(work).await,
            None => self.write(move |writer| work(&mut writer.conn)).await,
        }
    }

    /// Runs `work` on the writer thread, alone, and waits for it without blocking the calling
    /// thread.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Writer) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (job, reply) = workers::work(work);
        self.writer.send(WriteJob::Run(job))?;
        wait_for_writer(&self.writing, reply).await
    }
}

impl Storage for SqliteStorage {
    async fn append(&self, batch: AppendBatch) -> Result<AppendResult> {
        let (job, reply) = WriteJob::append(vec![batch]);
        self.writer.send(job)?;
        wait_for_writer(&self.writing, reply)
            .await?
            .pop()
            .ok_or_else(|| Error::storage("the append returned no result"))
    }

    async fn append_many(&self, batches: Vec<AppendBatch>) -> Result<Vec<AppendResult>> {
        let (job, reply) = WriteJob::append(batches);
        self.writer.send(job)?;
        wait_for_writer(&self.writing, reply).await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let stream_id = stream_id.to_owned();
        self.read(move |conn| conn.read_stream(&stream_id, from_version, direction, limit))
            .await
    }

    async fn read_all(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> Result<Vec<RecordedEvent>> {
        let (sql, values) = read_all_query(from_position, direction, limit, filter)?;
        self.read(move |conn| conn.read_all(&sql, values)).await
    }

    async fn head(&self) -> Result<u64> {
        self.read(Conn::head).await
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        let prefix = prefix.to_owned();
        let after = after.map(str::to_owned);
        self.read(move |conn| conn.list_streams(&prefix, after.as_deref(), limit))
            .await
    }

    async fn stream_record(&self, stream_id: &str) -> Result<Option<StreamRecord>> {
        self.read_record_now(stream_id).await
    }

    async fn change_stream(&self, change: StreamChange) -> Result<StreamRecord> {
        self.change_stream_now(change).await
    }

    async fn max_ages(&self) -> Result<MaxAges> {
        self.read_max_ages_now().await
    }

    async fn scavenge(&self) -> Result<()> {
        self.scavenge_now().await
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        let name = name.to_owned();
        self.read(move |conn| conn.load_checkpoint(&name)).await
    }

    async fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<()> {
        let skipped = serde_json::to_string(&checkpoint.skipped)
            .map_err(|e| Error::storage(format!("cannot encode skipped events: {e}")))?;
        let (name, position) = (name.to_owned(), clamp(checkpoint.position));
        self.write(move |writer| {
            writer
                .conn
                .conn
                .prepare_cached(
                    "INSERT INTO checkpoints (name, position, skipped) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE \
                     SET position = excluded.position, skipped = excluded.skipped",
                )
                .and_then(|mut statement| statement.execute(params![name, position, skipped]))
                .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn store_id(&self) -> Result<String> {
        self.read(|conn| sync::store_id(&conn.conn)).await
    }

    fn notifier(&self) -> AppendNotifier {
        self.notifier.clone()
    }

    fn close(&self) {
        // The watch first (its connection closes with the last handle on the file), then the
        // readers, so that the writer's connection is the last to close: the last
        // connection checkpoints the WAL and deletes it.
        drop(
            self.watch
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(readers) = &self.readers {
            readers.close();
        }
        self.writer.close();
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
