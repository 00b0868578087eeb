//! The backend of a JS store: IndexedDB, or memory.

use crate::error::Result;
use crate::storage::{
    AppendBatch, AppendNotifier, Checkpoint, IndexedDbStorage, MaxAges, MemoryStorage, Storage,
    StreamChange, StreamRecord,
};
use crate::types::{AppendResult, Direction, Filter, RecordedEvent, StreamInfo};

/// Either backend a JS `EventStore` can be opened on.
pub enum BrowserStorage {
    /// `EventStore.open(name)`.
    IndexedDb(IndexedDbStorage),
    /// `EventStore.inMemory()`.
    Memory(MemoryStorage),
}

impl BrowserStorage {
    /// Whether the browser (or another page deleting or upgrading the database) closed the
    /// IndexedDB connection under the store.
    pub fn connection_lost(&self) -> bool {
        match self {
            BrowserStorage::IndexedDb(storage) => !storage.is_connected(),
            BrowserStorage::Memory(_) => false,
        }
    }
}

impl Storage for BrowserStorage {
    async fn append(&self, batch: AppendBatch) -> Result<AppendResult> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.append(batch).await,
            BrowserStorage::Memory(storage) => storage.append(batch).await,
        }
    }

    async fn append_many(&self, batches: Vec<AppendBatch>) -> Result<Vec<AppendResult>> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.append_many(batches).await,
            BrowserStorage::Memory(storage) => storage.append_many(batches).await,
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
            BrowserStorage::IndexedDb(s) => {
                s.read_stream(stream_id, from_version, direction, limit)
                    .await
            }
            BrowserStorage::Memory(s) => {
                s.read_stream(stream_id, from_version, direction, limit)
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
            BrowserStorage::IndexedDb(s) => {
                s.read_all(from_position, direction, limit, filter).await
            }
            BrowserStorage::Memory(s) => s.read_all(from_position, direction, limit, filter).await,
        }
    }

    async fn head(&self) -> Result<u64> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.head().await,
            BrowserStorage::Memory(storage) => storage.head().await,
        }
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        match self {
            BrowserStorage::IndexedDb(s) => s.list_streams(prefix, after, limit).await,
            BrowserStorage::Memory(s) => s.list_streams(prefix, after, limit).await,
        }
    }

    async fn stream_record(&self, stream_id: &str) -> Result<Option<StreamRecord>> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.stream_record(stream_id).await,
            BrowserStorage::Memory(storage) => storage.stream_record(stream_id).await,
        }
    }

    async fn change_stream(&self, change: StreamChange) -> Result<StreamRecord> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.change_stream(change).await,
            BrowserStorage::Memory(storage) => storage.change_stream(change).await,
        }
    }

    async fn max_ages(&self) -> Result<MaxAges> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.max_ages().await,
            BrowserStorage::Memory(storage) => storage.max_ages().await,
        }
    }

    async fn scavenge(&self) -> Result<()> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.scavenge().await,
            BrowserStorage::Memory(storage) => storage.scavenge().await,
        }
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.load_checkpoint(name).await,
            BrowserStorage::Memory(storage) => storage.load_checkpoint(name).await,
        }
    }

    async fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<()> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.save_checkpoint(name, checkpoint).await,
            BrowserStorage::Memory(storage) => storage.save_checkpoint(name, checkpoint).await,
        }
    }

    async fn store_id(&self) -> Result<String> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.store_id().await,
            BrowserStorage::Memory(storage) => storage.store_id().await,
        }
    }

    fn close(&self) {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.close(),
            BrowserStorage::Memory(storage) => storage.close(),
        }
    }

    fn notifier(&self) -> AppendNotifier {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.notifier(),
            BrowserStorage::Memory(storage) => storage.notifier(),
        }
    }
}
