//! IndexedDB backend (being written).

use crate::error::{Error, Result};
use crate::storage::{AppendBatch, Checkpoint, Storage};
use crate::types::{AppendResult, Direction, Filter, RecordedEvent};

/// SQLite storage.
#[derive(Debug)]
pub struct IndexedDbStorage {}

impl Storage for IndexedDbStorage {
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
