//! The [`Storage`] trait — the small contract every backend implements — and the backends.
//!
//! A backend stores events and projection checkpoints and answers range queries; it holds no
//! business logic. Validation, id generation, timestamps, subscriptions, the projector and
//! aggregates all live above this trait, in [`EventStore`](crate::EventStore). The one decision a
//! backend must take inside its own write transaction — does this append pass its expected
//! version, or is it a retry of an append that already happened? — is made by the shared
//! [`decide_append`] function, so every backend decides the same way.
//!
//! # The visibility promise
//! Positions increase in commit order: once a reader has seen position `p`, no event with a
//! position `≤ p` may become visible later. SQLite and IndexedDB keep it because their writers
//! are serialized and positions are assigned inside the write transaction; PostgreSQL keeps it
//! by assigning positions from one head row that each append locks until it commits.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::platform::{MaybeSend, MaybeSync};
use crate::types::{AppendResult, Direction, ExpectedVersion, Filter, RecordedEvent, StreamInfo};

mod append_decision;
mod append_many;
pub mod conformance;
mod lifecycle;
mod memory;
mod notifier;
mod prepared;
mod retention;
#[cfg(not(target_arch = "wasm32"))]
mod sql_integers;
mod sync;

#[cfg(target_arch = "wasm32")]
mod indexeddb;
#[cfg(all(feature = "postgres", not(target_arch = "wasm32")))]
mod postgres;
#[cfg(not(target_arch = "wasm32"))]
mod sqlite;

pub use append_decision::{decide_append, decide_append_on, AppendDecision, ExistingEvent};
pub use append_many::ManyOutcomes;
#[cfg(target_arch = "wasm32")]
pub use indexeddb::IndexedDbStorage;
pub use lifecycle::{
    append_basis, decide_stream_change, record_after_append, AppendBasis, StreamChange,
    StreamMetadata, StreamOp, StreamPlan, StreamRecord, LIFECYCLE_STREAM, MAX_AGE_LIMIT,
};
pub use memory::MemoryStorage;
pub use notifier::AppendNotifier;
#[cfg(all(feature = "postgres", not(target_arch = "wasm32")))]
pub use postgres::{
    tokio_postgres, validate_schema_name, CommitStats, ConnectionConfig, PostgresOptions,
    PostgresStorage, MAX_SCHEMA_NAME_BYTES,
};
pub use prepared::{AppendBatch, PreparedEvent};
pub use retention::{expiry_cutoff, update_max_ages, MaxAges, Retention};
#[cfg(not(target_arch = "wasm32"))]
pub use sqlite::{Durability, SqliteOptions, SqliteStorage};
pub use sync::{
    decide_enqueue, pending_as_recorded, stream_entries, EnqueueDecision, LocalAppend, OutboxEntry,
    OutboxState, SyncChange, SyncSnapshot, SyncState, SyncStorage,
};

/// What a backend implements.
///
/// Every method is called with already validated input. Positions and versions are `u64`;
/// `from` bounds are as documented per method. Implementations write plain `async fn`s; on native
/// targets their futures must be `Send` (checked by the compiler through [`MaybeSend`]).
pub trait Storage: MaybeSend + MaybeSync + 'static {
    /// Appends `batch` atomically, in one storage transaction that also reads the stream's
    /// current version and looks up every event id of the batch, then calls [`decide_append`]
    /// with what it read and acts on the decision: write the events at consecutive versions
    /// (positions assigned by the backend, increasing in commit order), return the earlier result
    /// of an identical append, or fail with nothing written.
    fn append(&self, batch: AppendBatch) -> impl Future<Output = Result<AppendResult>> + MaybeSend;

    /// Appends several batches (at least one; distinct event ids across all of them) in one
    /// storage transaction, all or nothing, and returns each batch's result in order.
    ///
    /// The batches are decided one after another inside the transaction, each exactly as
    /// [`append`](Self::append) decides one (with [`decide_append`]) and each seeing the writes
    /// of the batches before it (two batches for one stream behave as two appends in a row).
    /// Every outcome is recorded in a [`ManyOutcomes`]: a batch refused for its expected version
    /// is not written and the later batches are still decided, so the error names every
    /// conflicting stream; any other refusal ends the call. If any batch was refused, nothing of
    /// the call is written. Positions increase in call order.
    fn append_many(
        &self,
        batches: Vec<AppendBatch>,
    ) -> impl Future<Output = Result<Vec<AppendResult>>> + MaybeSend;

    /// Up to `limit` events of `stream_id`, starting at `from_version` **inclusive** and going
    /// in `direction`. Returns an empty vector when nothing is there (including when the stream
    /// does not exist).
    fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>>> + MaybeSend;

    /// Up to `limit` events matching `filter`, strictly after `from_position` going forward or
    /// strictly before it going backward, in position order of `direction`.
    fn read_all(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>>> + MaybeSend;

    /// The position of the last committed event (0 when the store is empty). It must be cheap:
    /// subscriptions poll it to notice appends made by other processes or tabs.
    fn head(&self) -> impl Future<Output = Result<u64>> + MaybeSend;

    /// One page of the stream listing: up to `limit` (≥ 1) streams, in ascending order of
    /// stream id, each with its current version and the position of its last event.
    ///
    /// - Only streams with at least one event are listed.
    /// - `prefix`: only stream ids that start with it (byte for byte); `""` lists every stream.
    /// - `after`: only stream ids that sort strictly after it; `None` starts at the first. It
    ///   need not be the id of an existing stream.
    /// - Order: ascending by the backend's string order, which must be a total order in which
    ///   every id starting with a given prefix sorts after the prefix and contiguously — byte
    ///   order of the UTF-8 id (= Unicode code point order) for memory and SQLite (and a
    ///   `COLLATE "C"` column elsewhere); UTF-16 code unit order for IndexedDB, which differs from
    ///   code point order only between ids holding characters above U+FFFF and ids holding
    ///   characters U+E000–U+FFFF at the same place. The caller pages by passing the last id of a
    ///   page as the next `after`, so any such order lists every stream exactly once.
    /// - [`StreamInfo::version`] is the version of the stream's last event and
    ///   [`StreamInfo::position`] that event's global position, both as committed when the page
    ///   was read.
    ///
    /// It should not read every event of the listed streams: a page costs about `limit` index
    /// lookups in SQLite and IndexedDB.
    fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StreamInfo>>> + MaybeSend;

    /// The lifecycle record of `stream_id` (see [`StreamRecord`]), `None` when it has none.
    fn stream_record(
        &self,
        stream_id: &str,
    ) -> impl Future<Output = Result<Option<StreamRecord>>> + MaybeSend;

    /// Applies a lifecycle change in one write transaction: reads the stream's record and the
    /// version of its last stored event, calls [`decide_stream_change`], and carries the plan
    /// out — removes the stream's events below [`StreamPlan::remove_before`], stores
    /// [`StreamPlan::record`], keeps [`head`](Self::head) where it was even when the removed
    /// events were the last ones, and appends [`StreamPlan::marker`] as it appends any batch.
    /// Returns the stored record (the current one when the decision was to write nothing).
    ///
    /// Appends honour the record too: inside the append transaction a backend reads the record,
    /// decides with [`append_basis`] and [`decide_append_on`], and after writing applies
    /// [`record_after_append`] (storing the record and removing the events it no longer keeps).
    fn change_stream(
        &self,
        change: StreamChange,
    ) -> impl Future<Output = Result<StreamRecord>> + MaybeSend;

    /// The streams whose metadata has a `maxAge` (see [`StreamMetadata::max_age`]), with it in
    /// seconds. The store calls it for every page it reads, to hide expired events
    /// ([`Retention`]), so it must be cheap: memory scans its records, SQLite and IndexedDB keep
    /// the map in one `meta` record written with the stream records, PostgreSQL reads a partial
    /// index.
    ///
    /// Backends do not hide expired events themselves; they remove them physically, keeping each
    /// stream's last event: at every append to a stream with a `maxAge` (in the append's
    /// transaction) and at [`scavenge`](Self::scavenge) for every such stream.
    fn max_ages(&self) -> impl Future<Output = Result<MaxAges>> + MaybeSend;

    /// Removes the events that the `maxAge` of their streams no longer keeps (each stream's
    /// last event stays), then gives the space of removed events back where the backend does
    /// not reuse it by itself: SQLite rewrites its file (`VACUUM`, so the file shrinks),
    /// PostgreSQL vacuums the events table; memory frees removed events at once, and IndexedDB
    /// compacts its files on its own.
    fn scavenge(&self) -> impl Future<Output = Result<()>> + MaybeSend;

    /// The stored checkpoint of projection `name`, or `None` if it never saved one.
    fn load_checkpoint(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Checkpoint>>> + MaybeSend;

    /// Stores the checkpoint of projection `name`, replacing the previous one, atomically.
    fn save_checkpoint(
        &self,
        name: &str,
        checkpoint: &Checkpoint,
    ) -> impl Future<Output = Result<()>> + MaybeSend;

    /// A stable id of this store, which sync clients compare to notice that the server's store
    /// was replaced (a new or reset store has a new id, and a client then rebuilds its mirror).
    ///
    /// Default: derived from the id of the store's first event (`"empty"` while there is none),
    /// so a reset store gets a new one. Every evstore backend keeps a random id created with
    /// the store instead (memory, SQLite, IndexedDB, and PostgreSQL from schema 2 — an upgraded
    /// store keeps the id it had), since the first event can be deleted.
    fn store_id(&self) -> impl Future<Output = Result<String>> + MaybeSend {
        async move {
            let everything = Filter::default();
            let first = self.read_all(0, Direction::Forward, 1, &everything).await?;
            Ok(first
                .first()
                .map_or_else(|| "empty".to_owned(), |event| format!("first-{}", event.id)))
        }
    }

    /// Releases the backend's resources (connections, database handles). Later calls may fail.
    fn close(&self) {}

    /// The notifier an [`EventStore`](crate::EventStore) over this backend notifies after its
    /// appends and its idle subscriptions listen to; called once, when the store is made.
    ///
    /// Handles that reach the same data in this process must return the same notifier, so that
    /// an append through any of them wakes the subscriptions of all at once: in-memory clones
    /// share one, SQLite and IndexedDB take [`AppendNotifier::shared`] keyed by the canonical
    /// file path or the database name. The default is a notifier of its own: only clones of one
    /// `EventStore` then wake each other, and other handles notice appends by polling
    /// [`head`](Self::head).
    fn notifier(&self) -> AppendNotifier {
        AppendNotifier::new()
    }
}

/// The durable state of one projection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last position the projection handled (0 = none).
    pub position: u64,
    /// Events the projection gave up on under the `Skip` failure policy, oldest first.
    pub skipped: Vec<SkippedEvent>,
}

/// An event a projection skipped after its handler kept failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEvent {
    /// The event's global position.
    pub position: u64,
    /// The event id.
    pub event_id: String,
    /// The event's stream.
    pub stream_id: String,
    /// The event type.
    pub event_type: String,
    /// The handler's last error message.
    pub error: String,
    /// When it was skipped, in UTC milliseconds.
    pub skipped_at: u64,
}

/// Parses JSON text a backend stored back into a value; stored text that is not JSON is a
/// [`Error::Storage`] (the store was altered outside evstore).
pub fn parse_stored_json(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| Error::storage(format!("stored JSON is corrupt: {e}")))
}

/// Checks an expected version against the current one, as every backend must.
pub(crate) fn check_expected(stream: &str, expected: ExpectedVersion, actual: u64) -> Result<()> {
    if expected.accepts(actual) {
        Ok(())
    } else {
        Err(Error::wrong_expected_version(stream, expected, actual))
    }
}
