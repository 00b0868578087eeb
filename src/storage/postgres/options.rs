//! [`PostgresOptions`] and the connection settings [`PostgresStorage::connect`] accepts.
//!
//! [`PostgresStorage::connect`]: super::PostgresStorage::connect

use std::time::Duration;

use crate::error::{Error, Result};

/// The longest schema name evstore accepts: the name also goes into the `NOTIFY` channel
/// (`evstore.<schema>`), which PostgreSQL limits to 63 bytes.
pub const MAX_SCHEMA_NAME_BYTES: usize = 48;

/// Options of [`PostgresStorage::connect`](super::PostgresStorage::connect).
///
/// ```
/// use std::time::Duration;
/// use evstore::PostgresOptions;
///
/// let options = PostgresOptions::default()
///     .schema("billing")
///     .pool_size(8)
///     .lock_timeout(Duration::from_secs(2));
/// assert_eq!(options.schema, "billing");
/// assert!(options.group_commit);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The schema holding the store's tables: several stores can share one database, each in
    /// its own schema. Lowercase ASCII letters, digits and `_`, starting with a letter or `_`, at
    /// most [`MAX_SCHEMA_NAME_BYTES`]. Created when missing. Default: `evstore`.
    pub schema: String,
    /// Whether [`connect`](super::PostgresStorage::connect) may create the store (the schema
    /// and its tables) when the schema holds none. Off, such a schema is an [`Error::Storage`]
    /// and nothing is created (for tools that must only open an existing store). A store of an
    /// older schema version is migrated either way. Default: on.
    pub create: bool,
    /// How many pooled connections reads and appends use at most. Default: 16.
    pub pool_size: usize,
    /// `statement_timeout` of every connection: a statement running longer fails with an
    /// [`Error::Storage`]. `None` = no limit. Default: 30 s.
    pub statement_timeout: Option<Duration>,
    /// `lock_timeout` of every connection: an append waiting longer for a stream's row or for
    /// the head row fails with an [`Error::Storage`] (nothing written). `None` = no limit.
    /// Default: 10 s.
    pub lock_timeout: Option<Duration>,
    /// `idle_in_transaction_session_timeout`: the server ends a connection whose transaction
    /// sat idle this long, so a frozen client cannot hold the head row and stall every writer.
    /// `None` = no limit. Default: 10 s.
    pub idle_in_transaction_timeout: Option<Duration>,
    /// How long getting a pooled connection may wait (all in use, or connecting). Default: 30 s.
    pub connection_timeout: Duration,
    /// Group commit: concurrent appends of this process are coalesced into one transaction
    /// (a savepoint per append, one commit). Default: on. Off, every append commits alone.
    pub group_commit: bool,
    /// The most appends one group commit takes. Default: 32 (PostgreSQL keeps up to 64
    /// subtransactions per transaction in shared memory; more would slow readers).
    pub max_group_size: usize,
    /// The most the group-commit writer waits, before starting a transaction, for appenders it
    /// expects: those its last transaction answered and those that queued up while it ran (an
    /// appender alone is not kept waiting; the first append after a burst may wait once).
    /// Raises the appends per commit under concurrency. Default: 1 ms.
    pub group_commit_wait: Duration,
    /// How long the `LISTEN` connection waits before reconnecting after it dropped (the server
    /// restarted, the network failed). Meanwhile subscriptions keep noticing appends by
    /// polling ([`StoreOptions::poll_interval`](crate::StoreOptions::poll_interval)), and after
    /// the reconnect they are woken to re-read. Default: 1 s.
    pub listen_reconnect_delay: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: "evstore".to_owned(),
            create: true,
            pool_size: 16,
            statement_timeout: Some(Duration::from_secs(30)),
            lock_timeout: Some(Duration::from_secs(10)),
            idle_in_transaction_timeout: Some(Duration::from_secs(10)),
            connection_timeout: Duration::from_secs(30),
            group_commit: true,
            max_group_size: 32,
            group_commit_wait: Duration::from_millis(1),
            listen_reconnect_delay: Duration::from_secs(1),
        }
    }
}

impl PostgresOptions {
    /// Sets the schema name.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets whether connecting may create the store.
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Sets the pool size.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Sets the statement timeout (`None` = no limit).
    pub fn statement_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.statement_timeout = timeout.into();
        self
    }

    /// Sets the lock timeout (`None` = no limit).
    pub fn lock_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.lock_timeout = timeout.into();
        self
    }

    /// Sets the idle-in-transaction timeout (`None` = no limit).
    pub fn idle_in_transaction_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_in_transaction_timeout = timeout.into();
        self
    }

    /// Sets how long getting a pooled connection may wait.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Turns group commit on or off.
    pub fn group_commit(mut self, on: bool) -> Self {
        self.group_commit = on;
        self
    }

    /// Sets the most appends one group commit takes.
    pub fn max_group_size(mut self, size: usize) -> Self {
        self.max_group_size = size;
        self
    }

    /// Sets the group-commit writer's longest wait for expected appenders.
    pub fn group_commit_wait(mut self, wait: Duration) -> Self {
        self.group_commit_wait = wait;
        self
    }

    /// Sets the delay between reconnect attempts of the `LISTEN` connection.
    pub fn listen_reconnect_delay(mut self, delay: Duration) -> Self {
        self.listen_reconnect_delay = delay;
        self
    }

    /// Checks the options: [`Error::InvalidInput`] naming the first bad one.
    pub(super) fn validate(&self) -> Result<()> {
        validate_schema_name(&self.schema)?;
        if self.pool_size == 0 {
            return Err(Error::invalid_input("pool_size must be at least 1"));
        }
        if self.max_group_size == 0 {
            return Err(Error::invalid_input("max_group_size must be at least 1"));
        }
        Ok(())
    }

    /// The `options` startup parameter carrying the session settings of every connection.
    pub(super) fn session_settings(&self) -> String {
        let mut settings = format!("-c search_path={}", self.schema);
        for (name, value) in [
            ("statement_timeout", self.statement_timeout),
            ("lock_timeout", self.lock_timeout),
            (
                "idle_in_transaction_session_timeout",
                self.idle_in_transaction_timeout,
            ),
        ] {
            // 0 disables each of them; a set limit is at least 1 ms.
            let millis = value.map_or(0, |limit| limit.as_millis().clamp(1, i32::MAX as u128));
            settings.push_str(&format!(" -c {name}={millis}"));
        }
        settings
    }
}

/// Checks a schema name: 1 to [`MAX_SCHEMA_NAME_BYTES`] bytes of `[a-z0-9_]`, not starting with
/// a digit, and not one of PostgreSQL's own (`pg_…`, `information_schema`, `public` is allowed).
pub fn validate_schema_name(schema: &str) -> Result<()> {
    let valid_chars = schema
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let starts_well = schema
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if !valid_chars || !starts_well || schema.len() > MAX_SCHEMA_NAME_BYTES {
        return Err(Error::invalid_input(format!(
            "schema name `{schema}` is not valid: use 1 to {MAX_SCHEMA_NAME_BYTES} lowercase \
             ASCII letters, digits and `_`, starting with a letter or `_`"
        )));
    }
    if schema.starts_with("pg_") || schema == "information_schema" {
        return Err(Error::invalid_input(format!(
            "schema name `{schema}` is reserved by PostgreSQL"
        )));
    }
    Ok(())
}

/// What [`PostgresStorage::connect`](super::PostgresStorage::connect) connects with: a
/// connection string (`postgres://user@host/db`, `postgresql://…`, or key-value
/// `host=/run/postgresql user=app dbname=app`) or a [`tokio_postgres::Config`].
pub trait ConnectionConfig {
    /// The parsed configuration; an unparsable string is [`Error::InvalidInput`].
    fn into_config(self) -> Result<tokio_postgres::Config>;
}

impl ConnectionConfig for tokio_postgres::Config {
    fn into_config(self) -> Result<tokio_postgres::Config> {
        Ok(self)
    }
}

impl ConnectionConfig for &str {
    fn into_config(self) -> Result<tokio_postgres::Config> {
        self.parse()
            .map_err(|e| Error::invalid_input(format!("not a PostgreSQL connection string: {e}")))
    }
}

impl ConnectionConfig for String {
    fn into_config(self) -> Result<tokio_postgres::Config> {
        self.as_str().into_config()
    }
}

impl ConnectionConfig for &String {
    fn into_config(self) -> Result<tokio_postgres::Config> {
        self.as_str().into_config()
    }
}
