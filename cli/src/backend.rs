//! The store a command opens: SQLite (a file path) or PostgreSQL (a `postgres://` URL), as one
//! [`Storage`] so every command and the server are written once over it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use evstore::storage::{
    AppendBatch, AppendNotifier, Checkpoint, MaxAges, Storage, StreamChange, StreamRecord,
};
use evstore::{
    AppendResult, Direction, Filter, PostgresOptions, PostgresStorage, RecordedEvent, Result,
    SqliteStorage, StreamInfo,
};

/// Whether opening may create a new, empty store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the store when it does not exist (`serve`, `import`).
    Create,
    /// The store must exist (`info`, `streams`, `read`, `tail`, `export`).
    Existing,
}

/// Any backend the program serves.
pub enum Backend {
    /// A SQLite file.
    Sqlite(Box<SqliteStorage>),
    /// A PostgreSQL database (schema `evstore`).
    Postgres(PostgresStorage),
}

impl Backend {
    /// Opens `db`: a `postgres://` (or `postgresql://`) URL, else a SQLite file path.
    pub async fn open(db: &str, mode: OpenMode) -> anyhow::Result<Backend> {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            // The URL may hold a password: it is never echoed, only where it points.
            let options = PostgresOptions::default().create(mode == OpenMode::Create);
            let storage = PostgresStorage::connect(db, options)
                .await
                .with_context(|| format!("cannot open the PostgreSQL store at {}", redact(db)))?;
            return Ok(Backend::Postgres(storage));
        }
        let path = PathBuf::from(db);
        if mode == OpenMode::Existing && !path.exists() {
            bail!(
                "no store at `{}`: the file does not exist (pass --db PATH)",
                path.display()
            );
        }
        let storage = SqliteStorage::open(&path)
            .with_context(|| format!("cannot open the store `{}`", path.display()))?;
        Ok(Backend::Sqlite(Box::new(storage)))
    }

    /// What to call the store in messages (a path; never a URL's password).
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(storage) => storage
                .path()
                .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string()),
            Backend::Postgres(storage) => format!("PostgreSQL schema `{}`", storage.schema()),
        }
    }

    /// The SQLite file, when the store is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Backend::Sqlite(storage) => storage.path(),
            Backend::Postgres(_) => None,
        }
    }

    /// The newest schema version of the backend (the store is migrated to it when opened).
    pub fn schema_version(&self) -> u64 {
        match self {
            Backend::Sqlite(_) => SqliteStorage::SCHEMA_VERSION,
            Backend::Postgres(_) => PostgresStorage::SCHEMA_VERSION,
        }
    }
}

impl Storage for Backend {
    async fn append(&self, batch: AppendBatch) -> Result<AppendResult> {
        match self {
            Backend::Sqlite(storage) => storage.append(batch).await,
            Backend::Postgres(storage) => storage.append(batch).await,
        }
    }

    async fn append_many(&self, batches: Vec<AppendBatch>) -> Result<Vec<AppendResult>> {
        match self {
            Backend::Sqlite(storage) => storage.append_many(batches).await,
            Backend::Postgres(storage) => storage.append_many(batches).await,
        }
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>> {
        match self {
            Backend::Sqlite(storage) => {
                storage
                    .read_stream(stream_id, from_version, direction, limit)
                    .await
            }
            Backend::Postgres(storage) => {
                storage
                    .read_stream(stream_id, from_version, direction, limit)
                    .await
            }
        }
    }

    async fn read_all(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> Result<Vec<RecordedEvent>> {
        match self {
            Backend::Sqlite(storage) => {
                storage
                    .read_all(from_position, direction, limit, filter)
                    .await
            }
            Backend::Postgres(storage) => {
                storage
                    .read_all(from_position, direction, limit, filter)
                    .await
            }
        }
    }

    async fn head(&self) -> Result<u64> {
        match self {
            Backend::Sqlite(storage) => storage.head().await,
            Backend::Postgres(storage) => storage.head().await,
        }
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        match self {
            Backend::Sqlite(storage) => storage.list_streams(prefix, after, limit).await,
            Backend::Postgres(storage) => storage.list_streams(prefix, after, limit).await,
        }
    }

    async fn stream_record(&self, stream_id: &str) -> Result<Option<StreamRecord>> {
        match self {
            Backend::Sqlite(storage) => storage.stream_record(stream_id).await,
            Backend::Postgres(storage) => storage.stream_record(stream_id).await,
        }
    }

    async fn change_stream(&self, change: StreamChange) -> Result<StreamRecord> {
        match self {
            Backend::Sqlite(storage) => storage.change_stream(change).await,
            Backend::Postgres(storage) => storage.change_stream(change).await,
        }
    }

    async fn max_ages(&self) -> Result<MaxAges> {
        match self {
            Backend::Sqlite(storage) => storage.max_ages().await,
            Backend::Postgres(storage) => storage.max_ages().await,
        }
    }

    async fn scavenge(&self) -> Result<()> {
        match self {
            Backend::Sqlite(storage) => storage.scavenge().await,
            Backend::Postgres(storage) => storage.scavenge().await,
        }
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        match self {
            Backend::Sqlite(storage) => storage.load_checkpoint(name).await,
            Backend::Postgres(storage) => storage.load_checkpoint(name).await,
        }
    }

    async fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<()> {
        match self {
            Backend::Sqlite(storage) => storage.save_checkpoint(name, checkpoint).await,
            Backend::Postgres(storage) => storage.save_checkpoint(name, checkpoint).await,
        }
    }

    fn close(&self) {
        match self {
            Backend::Sqlite(storage) => storage.close(),
            Backend::Postgres(storage) => storage.close(),
        }
    }

    async fn store_id(&self) -> Result<String> {
        match self {
            Backend::Sqlite(storage) => storage.store_id().await,
            Backend::Postgres(storage) => storage.store_id().await,
        }
    }

    fn notifier(&self) -> AppendNotifier {
        match self {
            Backend::Sqlite(storage) => storage.notifier(),
            Backend::Postgres(storage) => storage.notifier(),
        }
    }
}

/// Where a PostgreSQL URL points, without its user and password: `host[:port]/database`.
fn redact(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
    format!("postgres://{rest}")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_redacted_url_keeps_no_credentials() {
        assert_eq!(
            redact("postgres://ada:secret@db.local:5433/app?sslmode=require&password=x"),
            "postgres://db.local:5433/app"
        );
        assert_eq!(redact("postgresql://db/app"), "postgres://db/app");
    }
}
