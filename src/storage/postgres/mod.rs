//! The PostgreSQL backend (feature `postgres`, native targets), through `tokio-postgres` and a
//! `deadpool-postgres` pool; see [`PostgresStorage`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::channel::oneshot;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::error::{Error, Result};
use crate::storage::sql_integers::{clamp, clamp_limit, to_u64};
use crate::storage::{
    parse_stored_json, AppendBatch, AppendNotifier, Checkpoint, MaxAges, SkippedEvent, Storage,
    StreamChange, StreamRecord,
};
use crate::types::{AppendResult, Direction, Filter, RecordedEvent, StreamInfo};

mod append;
mod append_many;
mod errors;
mod group_commit;
mod lifecycle;
mod listener;
mod options;
mod schema;

use append::PreparedAppend;
use errors::{pg_error, pool_error};
pub use group_commit::CommitStats;
use group_commit::{run_group, spawn_writer, writer_gone, Counters, GroupPolicy, Queue, Request};
pub use options::{validate_schema_name, ConnectionConfig, PostgresOptions, MAX_SCHEMA_NAME_BYTES};
/// The `tokio-postgres` crate this backend is built on, for building a
/// [`Config`](tokio_postgres::Config) of the matching version.
pub use tokio_postgres;

/// The columns of a [`RecordedEvent`], in the order [`recorded_event`] reads them.
const EVENT_COLUMNS: &str = "position, id, stream_id, version, event_type, data::text, \
     metadata::text, recorded_at, correlation_id, causation_id";

/// The last committed position (the head row is only ever ahead of committed events inside an
/// uncommitted append, which readers do not see).
const HEAD_SQL: &str = "SELECT position FROM head";

/// The store id (schema 2).
const STORE_ID_SQL: &str = "SELECT value FROM meta WHERE key = 'store_id'";

/// A projection's checkpoint.
const LOAD_CHECKPOINT_SQL: &str = "SELECT position, skipped::text FROM checkpoints WHERE name = $1";

/// Stores a projection's checkpoint, replacing the previous one.
const SAVE_CHECKPOINT_SQL: &str = "INSERT INTO checkpoints (name, position, skipped) \
     VALUES ($1, $2, $3::text::json) \
     ON CONFLICT (name) DO UPDATE SET position = excluded.position, skipped = excluded.skipped";

/// Stores events in PostgreSQL, shareable by any number of processes on any number of machines.
///
/// **A tokio runtime is required**: [`connect`](Self::connect) must be called inside one (it
/// spawns the pool's connections, the group-commit writer and the `LISTEN` task on it), and
/// every call then runs on that runtime, so the store's futures can be awaited from any
/// executor afterwards. Without a runtime, `connect` fails with [`Error::Storage`].
///
/// - **Layout**: the tables live in one schema ([`PostgresOptions::schema`], default
///   `evstore`), so several stores share a database. `events` (`UNIQUE (id)`,
///   `UNIQUE (stream_id, version)`, indexes on category and event type), `streams` (one row per
///   stream with its version and lifecycle: deleted, tombstoned, truncated, `max_count`), `head`
///   (one row: the last position), `checkpoints`, `meta` (the store id), and the
///   `append_events` function. Data and metadata are `json` columns (kept as written).
/// - **Positions in commit order**: sequences are handed out before commit, so with concurrent
///   writers a reader could see position 12 before 11 commits and skip 11 forever. Instead every
///   append takes its positions from the `head` row, updated as late as possible in its
///   transaction and locked until it commits: positions are dense and appear in commit order,
///   and no event ever becomes visible below a position a reader has passed. The expected
///   version is checked under a lock on the stream's row, `UNIQUE (stream_id, version)` and
///   `UNIQUE (id)` back the checks up (mapped by SQLSTATE to the typed errors), and the
///   decision is the shared [`decide_append`](crate::storage::decide_append) (on what the
///   server-side `append_events` function read; it writes exactly when that decision is a
///   write). A lone append takes one round trip: `BEGIN`, the call and `COMMIT` pipelined.
/// - **Group commit** (on by default, [`PostgresOptions::group_commit`]): the head row makes
///   appends commit one at a time, about one per fsync. Concurrent appends of one process are
///   therefore coalesced into one transaction — a savepoint each, the head locked once, one
///   commit — and each is still decided alone: a conflict rolls back its own savepoint only.
/// - **Live across processes**: each append's transaction sends a `NOTIFY` (delivered on
///   commit); one `LISTEN` connection per storage wakes its subscriptions at once. It is a hint:
///   subscriptions re-read by position, keep polling [`head`](Storage::head) as a fallback, and
///   re-read after the listener reconnects.
/// - **Schema**: numbered migrations (`migrations/NNN_*.sql`) recorded in
///   `evstore_migrations`, applied under a transaction-scoped advisory lock, so any number of
///   processes may open a new database at once. A schema migrated by a newer evstore is
///   [`Error::IncompatibleSchema`]; a schema that holds anything but is not evstore's is an
///   [`Error::Storage`] and is left untouched.
///
/// ```no_run
/// # async fn run() -> evstore::Result<()> {
/// use evstore::{EventStore, ExpectedVersion, NewEvent, PostgresOptions, PostgresStorage};
///
/// // Inside a tokio runtime (e.g. #[tokio::main]).
/// let storage = PostgresStorage::connect(
///     "postgres://app@localhost/app",
///     PostgresOptions::default().schema("orders"),
/// )
/// .await?;
/// let store = EventStore::new(storage);
/// store.append("order-1", ExpectedVersion::NoStream,
///              vec![NewEvent::new("Placed", serde_json::json!({ "total": 42 }))]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStorage {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    runtime: tokio::runtime::Handle,
    options: PostgresOptions,
    /// The `NOTIFY` channel of this schema: `evstore.<schema>`.
    channel: String,
    /// The group-commit writer's queue (`None` without group commit, and once closed).
    writer: Mutex<Option<Queue>>,
    /// Shared by every handle on this schema of this database in the process.
    notifier: AppendNotifier,
    listener: tokio::task::JoinHandle<()>,
    counters: Arc<Counters>,
    closed: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.listener.abort();
        self.pool.close();
    }
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("options", &self.shared.options)
            .field("closed", &self.shared.closed.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// The newest schema version this build reads and writes.
    pub const SCHEMA_VERSION: u64 = schema::SCHEMA_VERSION;

    /// Connects to PostgreSQL and opens (creating or migrating it if needed) the store in
    /// `options.schema`. `config` is a connection string (`postgres://user@host/db` or
    /// `host=… user=… dbname=…`) or a [`tokio_postgres::Config`]. Must be called inside a tokio
    /// runtime; see [`PostgresStorage`].
    ///
    /// Errors: [`Error::InvalidInput`] for an unparsable connection string or bad options,
    /// [`Error::Storage`] when the server cannot be reached, there is no tokio runtime, or the
    /// schema holds something that is not an evstore store (left untouched),
    /// [`Error::IncompatibleSchema`] when the schema was written by a newer evstore.
    pub async fn connect(config: impl ConnectionConfig, options: PostgresOptions) -> Result<Self> {
        options.validate()?;
        let mut config = config.into_config()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::storage("PostgresStorage::connect must be called inside a tokio runtime")
        })?;
        let settings = match config.get_options() {
            Some(theirs) if !theirs.is_empty() => {
                format!("{theirs} {}", options.session_settings())
            }
            _ => options.session_settings(),
        };
        config.options(settings);

        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connection_timeout))
            .create_timeout(Some(options.connection_timeout))
            .build()
            .map_err(|e| Error::storage(format!("cannot make the connection pool: {e}")))?;
        let mut client = pool.get().await.map_err(pool_error)?;
        schema::migrate(&mut client, &options.schema, options.create).await?;
        drop(client);

        let channel = format!("evstore.{}", options.schema);
        let notifier = AppendNotifier::shared(&notifier_key(&config, &options.schema));
        let listener = runtime.spawn(listener::listen(
            config,
            channel.clone(),
            notifier.clone(),
            options.listen_reconnect_delay,
        ));
        let counters = Arc::new(Counters::default());
        let writer = options.group_commit.then(|| {
            spawn_writer(
                &runtime,
                pool.clone(),
                channel.clone(),
                GroupPolicy {
                    max_size: options.max_group_size,
                    max_wait: options.group_commit_wait,
                },
                Arc::clone(&counters),
            )
        });
        Ok(PostgresStorage {
            shared: Arc::new(Shared {
                pool,
                runtime,
                options,
                channel,
                writer: Mutex::new(writer),
                notifier,
                listener,
                counters,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &PostgresOptions {
        &self.shared.options
    }

    /// The schema holding the store.
    pub fn schema(&self) -> &str {
        &self.shared.options.schema
    }

    /// How many append transactions this storage (all clones) committed and how many appends
    /// they carried: with group commit under concurrent load, `appends / transactions` is the
    /// average group size.
    pub fn commit_stats(&self) -> CommitStats {
        self.shared.counters.snapshot()
    }

    /// Runs `work` with a pooled connection on the store's runtime, so that it neither needs
    /// the caller to be on tokio nor stops halfway when the caller's future is dropped.
    async fn on_runtime<T, F, Fut>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let pool = self.shared.pool.clone();
        let task = self.shared.runtime.spawn(async move {
            let client = pool.get().await.map_err(pool_error)?;
            work(client).await
        });
        task.await
            .map_err(|e| Error::storage(format!("a PostgreSQL task failed: {e}")))?
    }

    async fn query(&self, sql: String, params: Vec<Param>) -> Result<Vec<Row>> {
        self.on_runtime(move |client| async move {
            let statement = client
                .prepare_cached(&sql)
                .await
                .map_err(|e| pg_error("cannot prepare a query", &e))?;
            let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
            client
                .query(&statement, &params)
                .await
                .map_err(|e| pg_error("the query failed", &e))
        })
        .await
    }
}

// Compile-time proof that the storage and its store can be shared across the threads of a
// multi-threaded runtime.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PostgresStorage>();
    assert_send_sync::<crate::EventStore<PostgresStorage>>();
};

/// An owned query parameter (queries run on the store's runtime, so they own their input).
enum Param {
    Int(i64),
    Text(String),
    TextList(Vec<String>),
}

impl Param {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Int(value) => value,
            Param::Text(value) => value,
            Param::TextList(values) => values,
        }
    }
}

impl Storage for PostgresStorage {
    async fn append(&self, batch: AppendBatch) -> Result<AppendResult> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let append = PreparedAppend::new(batch)?;
        let queue = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match queue {
            Some(queue) => {
                let (reply, outcome) = oneshot::channel();
                queue
                    .unbounded_send(Request { append, reply })
                    .map_err(|_| writer_gone())?;
                outcome.await.map_err(|_| writer_gone())?
            }
            None if self.shared.options.group_commit => Err(Error::Closed),
            None => {
                let (pool, channel) = (self.shared.pool.clone(), self.shared.channel.clone());
                let counters = Arc::clone(&self.shared.counters);
                let task = self.shared.runtime.spawn(async move {
                    let appends = std::slice::from_ref(&append);
                    let outcome = run_group(&pool, appends, &channel, &counters).await;
                    outcome.into_iter().next().unwrap_or(Err(Error::Closed))
                });
                task.await
                    .map_err(|e| Error::storage(format!("a PostgreSQL task failed: {e}")))?
            }
        }
    }

    async fn append_many(&self, batches: Vec<AppendBatch>) -> Result<Vec<AppendResult>> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let appends = batches
            .into_iter()
            .map(PreparedAppend::new)
            .collect::<Result<Vec<_>>>()?;
        let (pool, channel) = (self.shared.pool.clone(), self.shared.channel.clone());
        let counters = Arc::clone(&self.shared.counters);
        let task = self.shared.runtime.spawn(async move {
            let client = pool.get().await.map_err(pool_error)?;
            match append_many::append_many(&client, &appends, &channel).await {
                Ok(results) => {
                    counters.count(appends.len());
                    Ok(results)
                }
                Err(failure) => {
                    if failure.broken {
                        drop(deadpool_postgres::Object::take(client));
                    }
                    Err(failure.error)
                }
            }
        });
        task.await
            .map_err(|e| Error::storage(format!("a PostgreSQL task failed: {e}")))?
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let sql = match direction {
            Direction::Forward => format!(
                "SELECT {EVENT_COLUMNS} FROM events \
                 WHERE stream_id = $1 AND version >= $2 ORDER BY version ASC LIMIT $3"
            ),
            Direction::Backward => format!(
                "SELECT {EVENT_COLUMNS} FROM events \
                 WHERE stream_id = $1 AND version <= $2 ORDER BY version DESC LIMIT $3"
            ),
        };
        let params = vec![
            Param::Text(stream_id.to_owned()),
            Param::Int(clamp(from_version)),
            Param::Int(clamp_limit(limit)),
        ];
        collect_events(self.query(sql, params).await?)
    }

    async fn read_all(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> Result<Vec<RecordedEvent>> {
        let (sql, params) = read_all_query(from_position, direction, limit, filter);
        collect_events(self.query(sql, params).await?)
    }

    async fn head(&self) -> Result<u64> {
        let rows = self.query(HEAD_SQL.to_owned(), Vec::new()).await?;
        let head: i64 = rows
            .first()
            .ok_or_else(|| Error::storage("the head row is missing; the schema was altered"))?
            .get(0);
        to_u64(head, "head position")
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        let (lower_op, lower) = match after {
            Some(after) if after >= prefix => (">", after),
            _ => (">=", prefix),
        };
        // One range of the streams' primary key (COLLATE "C": code point order), each listed
        // stream's last event one more index lookup.
        let mut sql = format!(
            "SELECT s.stream_id, s.version, e.position FROM streams AS s \
             JOIN events AS e ON e.stream_id = s.stream_id AND e.version = s.version \
             WHERE s.version > 0 AND s.stream_id {lower_op} $1 AND starts_with(s.stream_id, $2)"
        );
        let mut params = vec![
            Param::Text(lower.to_owned()),
            Param::Text(prefix.to_owned()),
        ];
        if let Some(upper) = prefix_upper_bound(prefix) {
            params.push(Param::Text(upper));
            sql.push_str(" AND s.stream_id < $3");
        }
        params.push(Param::Int(clamp_limit(limit)));
        sql.push_str(&format!(" ORDER BY s.stream_id LIMIT ${}", params.len()));
        let rows = self.query(sql, params).await?;
        rows.iter()
            .map(|row| {
                Ok(StreamInfo {
                    stream_id: row.get(0),
                    version: to_u64(row.get(1), "version")?,
                    position: to_u64(row.get(2), "position")?,
                })
            })
            .collect()
    }

    async fn stream_record(&self, stream_id: &str) -> Result<Option<StreamRecord>> {
        self.read_record(stream_id).await
    }

    async fn change_stream(&self, change: StreamChange) -> Result<StreamRecord> {
        self.change_stream_now(change).await
    }

    async fn max_ages(&self) -> Result<MaxAges> {
        self.read_max_ages().await
    }

    async fn scavenge(&self) -> Result<()> {
        self.scavenge_now().await
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        refuse_nul("projection name", name)?;
        let rows = self
            .query(
                LOAD_CHECKPOINT_SQL.to_owned(),
                vec![Param::Text(name.to_owned())],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let skipped: String = row.get(1);
        let skipped: Vec<SkippedEvent> = serde_json::from_str(&skipped).map_err(|e| {
            Error::storage(format!(
                "the stored checkpoint of projection `{name}` is corrupt: {e}"
            ))
        })?;
        Ok(Some(Checkpoint {
            position: to_u64(row.get(0), "checkpoint position")?,
            skipped,
        }))
    }

    async fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<()> {
        refuse_nul("projection name", name)?;
        let skipped = serde_json::to_string(&checkpoint.skipped)
            .map_err(|e| Error::storage(format!("cannot encode skipped events: {e}")))?;
        let params = vec![
            Param::Text(name.to_owned()),
            Param::Int(clamp(checkpoint.position)),
            Param::Text(skipped),
        ];
        self.query(SAVE_CHECKPOINT_SQL.to_owned(), params).await?;
        Ok(())
    }

    async fn store_id(&self) -> Result<String> {
        let rows = self.query(STORE_ID_SQL.to_owned(), Vec::new()).await?;
        Ok(rows
            .first()
            .ok_or_else(|| Error::storage("the store id row is missing; the schema was altered"))?
            .get(0))
    }

    fn close(&self) {
        if !self.shared.closed.swap(true, Ordering::AcqRel) {
            // Appends already queued still run; the writer ends after them.
            self.shared
                .writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            self.shared.listener.abort();
            self.shared.pool.close();
        }
    }

    fn notifier(&self) -> AppendNotifier {
        self.shared.notifier.clone()
    }
}

/// What identifies one store in this process: the server(s), the database, the schema.
fn notifier_key(config: &tokio_postgres::Config, schema: &str) -> String {
    format!(
        "postgres:{:?}:{:?}:{:?}:{:?}:{schema}",
        config.get_hosts(),
        config.get_ports(),
        config.get_dbname(),
        config.get_user()
    )
}

/// The smallest string above every string that starts with `prefix` in code point order, or
/// `None` when there is none (an empty prefix, or one of only U+10FFFF): `[prefix, bound)` is
/// exactly the ids starting with `prefix`.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=0x10_FFFF).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Builds the `read_all` query. Each non-empty filter list becomes one condition (`=` for one
/// value, so PostgreSQL can walk the `(category, position)` / `(event_type, position)` index in
/// position order; `= ANY` for several; `starts_with` for stream-id prefixes). Lists are ANDed;
/// values within a list are ORed. The SQL depends only on the direction and the lists' shapes,
/// so a handful of prepared statements cover every call.
fn read_all_query(
    from_position: u64,
    direction: Direction,
    limit: usize,
    filter: &Filter,
) -> (String, Vec<Param>) {
    let (bound, order) = match direction {
        Direction::Forward => (">", "ASC"),
        Direction::Backward => ("<", "DESC"),
    };
    let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE position {bound} $1");
    let mut params = vec![Param::Int(clamp(from_position))];
    for (column, list) in [
        ("category", &filter.categories),
        ("event_type", &filter.event_types),
    ] {
        match list.as_slice() {
            [] => {}
            [one] => {
                params.push(Param::Text(one.clone()));
                sql.push_str(&format!(" AND {column} = ${}", params.len()));
            }
            many => {
                params.push(Param::TextList(many.to_vec()));
                sql.push_str(&format!(" AND {column} = ANY (${})", params.len()));
            }
        }
    }
    if !filter.stream_prefixes.is_empty() {
        params.push(Param::TextList(filter.stream_prefixes.clone()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM unnest(${}::text[]) AS prefix \
             WHERE starts_with(events.stream_id, prefix))",
            params.len()
        ));
    }
    params.push(Param::Int(clamp_limit(limit)));
    sql.push_str(&format!(
        " ORDER BY position {order} LIMIT ${}",
        params.len()
    ));
    (sql, params)
}

/// A row of `events` as [`EVENT_COLUMNS`] selects it, as a [`RecordedEvent`].
fn recorded_event(row: &Row) -> Result<RecordedEvent> {
    let bad = |e: tokio_postgres::Error| Error::storage(format!("cannot read an event row: {e}"));
    let id: uuid::Uuid = row.try_get(1).map_err(bad)?;
    let data: String = row.try_get(5).map_err(bad)?;
    let metadata: String = row.try_get(6).map_err(bad)?;
    Ok(RecordedEvent {
        position: to_u64(row.try_get(0).map_err(bad)?, "position")?,
        id: id.hyphenated().to_string(),
        stream_id: row.try_get(2).map_err(bad)?,
        version: to_u64(row.try_get(3).map_err(bad)?, "version")?,
        event_type: row.try_get(4).map_err(bad)?,
        data: parse_stored_json(&data)?,
        metadata: parse_stored_json(&metadata)?,
        recorded_at: to_u64(row.try_get(7).map_err(bad)?, "recorded_at")?,
        correlation_id: row.try_get(8).map_err(bad)?,
        causation_id: row.try_get(9).map_err(bad)?,
    })
}

fn collect_events(rows: Vec<Row>) -> Result<Vec<RecordedEvent>> {
    rows.iter().map(recorded_event).collect()
}

/// PostgreSQL `text` cannot hold the NUL character: such input is [`Error::InvalidInput`].
fn refuse_nul(what: &str, text: &str) -> Result<()> {
    if text.contains('\0') {
        Err(Error::invalid_input(format!(
            "the {what} `{}` contains a NUL character, which PostgreSQL cannot store",
            text.escape_debug()
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn a_prefix_bound_is_the_next_string_in_code_point_order() {
        assert_eq!(prefix_upper_bound("account-").as_deref(), Some("account."));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        // The successor of U+D7FF skips the surrogates.
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("\u{10FFFF}\u{10FFFF}"), None);
        for (prefix, inside, outside) in [
            ("ab", "ab\u{10FFFF}z", "ac"),
            ("a\u{10FFFF}", "a\u{10FFFF}\u{10FFFF}", "b"),
        ] {
            let bound = prefix_upper_bound(prefix).unwrap();
            assert!(inside.starts_with(prefix) && inside < bound.as_str());
            assert!(outside >= bound.as_str());
        }
    }
}
