//! SQLite backend (being written).
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::storage::{AppendBatch, Checkpoint, Storage};
use crate::types::{AppendResult, Direction, Filter, RecordedEvent};

/// How hard SQLite works to keep committed appends across failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL` with WAL.
    #[default]
    Normal,
    /// `synchronous=FULL`.
    Full,
}

/// Options of [`SqliteStorage::open_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Durability.
    pub durability: Durability,
    /// Busy timeout.
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

/// SQLite storage.
#[derive(Debug)]
pub struct SqliteStorage {}

impl SqliteStorage {
    /// Opens.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }
    /// Opens with options.
    pub fn open_with(_path: impl AsRef<Path>, _options: SqliteOptions) -> Result<Self> {
        Err(Error::storage("not yet"))
    }
}

impl Storage for SqliteStorage {
    async fn append(&self, _batch: AppendBatch) -> Result<AppendResult> {
        Err(Error::storage("not yet"))
    }
    async fn read_stream(
        &self,
        _s: &str,
        _f: u64,
        _d: Direction,
        _l: usize,
    ) -> Result<Vec<RecordedEvent>> {
        Err(Error::storage("not yet"))
    }
    async fn read_all(
        &self,
        _f: u64,
        _d: Direction,
        _l: usize,
        _filter: &Filter,
    ) -> Result<Vec<RecordedEvent>> {
        Err(Error::storage("not yet"))
    }
    async fn head(&self) -> Result<u64> {
        Err(Error::storage("not yet"))
    }
    async fn load_checkpoint(&self, _name: &str) -> Result<Option<Checkpoint>> {
        Err(Error::storage("not yet"))
    }
    async fn save_checkpoint(&self, _name: &str, _c: &Checkpoint) -> Result<()> {
        Err(Error::storage("not yet"))
    }
}
