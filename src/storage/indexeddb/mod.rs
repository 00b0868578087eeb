//! The IndexedDB backend, for the browser (and web workers).
//!
//! Built directly on the `idb` crate (the layer `rexie` is built on): opening runs numbered
//! schema upgrade steps ([`schema`]), which rexie's builder cannot express.
//!
//! Transactions follow the IndexedDB rule that a read-write transaction holds IndexedDB requests
//! and nothing else: records are encoded before the transaction opens, and between its requests
//! the code only awaits requests of that same transaction (the browser commits a transaction as
//! soon as it has no pending request at the end of a task). Continuations run in microtasks, while
//! the transaction is still active.
//!
//! Every request is awaited through [`request::Request`], never through idb's request futures: a
//! read abandoned mid-flight (a closed subscription) must not leave the browser a freed closure to
//! call when the request settles.

mod append_many;
mod common_append;
mod completion;
mod errors;
mod lifecycle;
mod lifecycle_marker;
mod records;
mod request;
mod schema;
mod sync;

use std::cell::Cell;
use std::rc::Rc;

use futures::future::join_all;
use idb::{CursorDirection, Database, KeyRange, ObjectStore, Query, TransactionMode};
use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbCursor, IdbCursorWithValue, IdbObjectStore};

use self::completion::Completion;
use self::errors::{corrupt, idb_error, js_error, DomFailure};
use self::lifecycle::{read_record, remove_events, remove_expired, write_record};
use self::lifecycle_marker::{is_marker_key, versions_from};
use self::request::Request;
use self::schema::{
    BY_CATEGORY, BY_ID, BY_STREAM_VERSION, BY_TYPE, CHECKPOINTS, EVENTS, META, STREAMS,
};
use crate::error::{Error, Result};
use crate::platform::now_millis;
use crate::storage::{
    append_basis, decide_append_on, record_after_append, AppendBasis, AppendBatch, AppendDecision,
    AppendNotifier, Checkpoint, ExistingEvent, MaxAges, Storage, StreamChange, StreamRecord,
};
use crate::types::{AppendResult, Direction, Filter, RecordedEvent, StreamInfo};

/// How many records a filtered forward scan fetches per request.
const SCAN_CHUNK: u32 = 500;

/// Events and checkpoints in an IndexedDB database of the browser.
///
/// Several handles (in one page, in other tabs, in workers) may open the same database: appends
/// are serialized by IndexedDB's read-write transactions and the expected-version check happens
/// inside them, so concurrent writers never both win. A handle's connection closes itself when
/// another page wants to upgrade or delete the database; later calls then fail with
/// [`Error::Storage`] and the store must be reopened.
///
/// ```no_run
/// # async fn demo() -> evstore::Result<()> {
/// use evstore::{EventStore, ExpectedVersion, IndexedDbStorage, NewEvent};
/// let store = EventStore::new(IndexedDbStorage::open("my-app").await?);
/// store
///     .append("todo-1", ExpectedVersion::NoStream, vec![NewEvent::new("Added", serde_json::json!({}))])
///     .await?;
/// # Ok(()) }
/// ```
pub struct IndexedDbStorage {
    name: String,
    database: Database,
    /// The same connection, for the JS helpers.
    raw: web_sys::IdbDatabase,
    state: Rc<Cell<Connection>>,
    /// Shared by every handle on this database in this page (or worker).
    notifier: AppendNotifier,
}

/// Whether the connection is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    Open,
    /// [`Storage::close`] was called.
    Closed,
    /// Another connection asked to upgrade or delete the database, so this one stepped aside.
    ClosedForVersionChange,
    /// The browser closed the connection (storage cleared, disk failure).
    ClosedByBrowser,
}

impl std::fmt::Debug for IndexedDbStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexedDbStorage")
            .field("name", &self.name)
            .field("connection", &self.state.get())
            .finish()
    }
}

impl IndexedDbStorage {
    /// The schema version this build writes, which is also the IndexedDB database version. A
    /// database with a higher version was written by a newer evstore and is not opened.
    pub const SCHEMA_VERSION: u32 = schema::SCHEMA_VERSION;

    /// Opens (creating or upgrading as needed) the IndexedDB database `name`.
    ///
    /// Fails with [`Error::IncompatibleSchema`] when the database was written by a newer schema
    /// version, and with [`Error::Storage`] when IndexedDB is unavailable (for example in a
    /// private window that forbids it).
    pub async fn open(name: &str) -> Result<Self> {
        let database = schema::open(name).await?;
        let state = Rc::new(Cell::new(Connection::Open));
        // Keep a second handle on the connection for the handlers, which must close it.
        let raw = web_sys::IdbDatabase::from(database);
        let mut database = Database::from(raw.clone());
        let handle = raw.clone();
        let on_version_change = Rc::clone(&state);
        database.on_version_change(move |_| {
            // Another page wants to upgrade or delete the database: step aside, or it stays
            // blocked until this page goes away.
            raw.close();
            if on_version_change.get() == Connection::Open {
                on_version_change.set(Connection::ClosedForVersionChange);
            }
        });
        let on_close = Rc::clone(&state);
        database.on_close(move |_| {
            if on_close.get() == Connection::Open {
                on_close.set(Connection::ClosedByBrowser);
            }
        });
        Ok(IndexedDbStorage {
            name: name.to_owned(),
            database,
            raw: handle,
            state,
            notifier: AppendNotifier::shared(&format!("indexeddb:{name}")),
        })
    }

    /// The name of the IndexedDB database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the connection is usable: `false` after [`Storage::close`], and after the
    /// browser or another page (deleting or upgrading the database) closed it.
    pub fn is_connected(&self) -> bool {
        self.state.get() == Connection::Open
    }

    fn database(&self) -> Result<&Database> {
        match self.state.get() {
            Connection::Open => Ok(&self.database),
            Connection::Closed => Err(Error::Closed),
            Connection::ClosedForVersionChange => Err(Error::storage(format!(
                "the IndexedDB database `{}` was closed because another page is upgrading or \
                 deleting it; reopen the store",
                self.name
            ))),
            Connection::ClosedByBrowser => Err(Error::storage(format!(
                "the browser closed the IndexedDB database `{}` (storage cleared or failed); \
                 reopen the store",
                self.name
            ))),
        }
    }

    fn transaction(&self, store: &str, mode: TransactionMode) -> Result<idb::Transaction> {
        self.database()?
            .transaction(&[store], mode)
            .map_err(|e| idb_error("starting a transaction", e))
    }

    /// After a unique index refused a write — an id of the batch is already stored (a retry, or
    /// a reused id: the fast path of [`write_batch`] lets the `id` index find them), or a writer
    /// IndexedDB did not serialize with this one, or a record written outside evstore — decide
    /// again from what is stored now, so the caller gets the typed error (or the earlier result
    /// of an identical append).
    async fn explain_conflict(
        &self,
        batch: &AppendBatch,
        failure: DomFailure,
    ) -> Result<AppendResult> {
        let ids = ids_of(batch);
        let transaction = self.transaction_over(&[EVENTS, STREAMS], TransactionMode::ReadOnly)?;
        let events = object_store(&transaction, EVENTS)?;
        let streams = object_store(&transaction, STREAMS)?;
        let (basis, existing) =
            read_append_basis(&events, &streams, &batch.stream_id, &ids).await?;
        match decide_append_on(batch, basis, &existing)? {
            AppendDecision::AlreadyAppended(result) => Ok(result),
            AppendDecision::Write { .. } => Err(failure.into_error("appending")),
        }
    }
}

impl IndexedDbStorage {
    /// What [`Storage::read_stream`] reads, as the stored records themselves (see [`records`]):
    /// the JavaScript API hands them to JS without decoding them into [`RecordedEvent`]s.
    pub(crate) async fn read_stream_records(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Array> {
        if limit == 0 || (direction == Direction::Backward && from_version == 0) {
            return Ok(Array::new());
        }
        let range = match direction {
            Direction::Forward => versions_from(stream_id, from_version as f64)?,
            Direction::Backward => key_range(
                &records::pair_key(stream_id, 0.0),
                &records::pair_key(stream_id, from_version as f64),
                false,
                false,
            )?,
        };
        let transaction = self.transaction(EVENTS, TransactionMode::ReadOnly)?;
        let index = index(&object_store(&transaction, EVENTS)?, BY_STREAM_VERSION)?;
        let context = "reading a stream";
        match direction {
            Direction::Forward => {
                let request = index
                    .get_all(Some(range.into()), request_limit(limit))
                    .map_err(|e| idb_error(context, e))?;
                let values = Request::new(request)
                    .await
                    .map_err(|failure| failure.into_error(context))?;
                all_of(values, context)
            }
            Direction::Backward => {
                let request = index
                    .open_cursor(Some(range.into()), Some(CursorDirection::Prev))
                    .map_err(|e| idb_error(context, e))?;
                scan_cursor(Request::new(request), limit, &Filter::default()).await
            }
        }
    }

    /// What [`Storage::read_all`] reads, as the stored records themselves (see
    /// [`read_stream_records`](Self::read_stream_records)).
    pub(crate) async fn read_all_records(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> Result<Array> {
        // Positions start at 1: nothing is before position 1.
        if limit == 0 || (direction == Direction::Backward && from_position <= 1) {
            return Ok(Array::new());
        }
        let (source, exact) = Source::for_filter(filter);
        let transaction = self.transaction(EVENTS, TransactionMode::ReadOnly)?;
        let events = object_store(&transaction, EVENTS)?;
        match direction {
            Direction::Forward => {
                scan_forward(&events, &source, exact, from_position, limit, filter).await
            }
            Direction::Backward => {
                let request = source.open_cursor_before(&events, from_position)?;
                scan_cursor(Request::new(request), limit, filter).await
            }
        }
    }
}

/// Decodes stored event records.
fn decode_all(records: &Array) -> Result<Vec<RecordedEvent>> {
    records
        .iter()
        .map(|record| records::decode_event(&record))
        .collect()
}

impl Drop for IndexedDbStorage {
    fn drop(&mut self) {
        // Closing waits for running transactions; it also stops the handlers from firing.
        self.database.close();
    }
}

/// What an append transaction did.
enum Written {
    /// The batch was written.
    Appended(AppendResult),
    /// Nothing was written: the batch had been appended before (an idempotent retry).
    AlreadyAppended(AppendResult),
    /// A unique index refused a record; the transaction aborted.
    Conflict(DomFailure),
}

impl Storage for IndexedDbStorage {
    async fn append(&self, batch: AppendBatch) -> Result<AppendResult> {
        // Encode everything before the transaction opens: inside it, only requests.
        let records = records::encode_events(&batch)?;
        if let Some(result) = self.append_common(&batch, &records).await? {
            return Ok(result);
        }

        let transaction =
            self.transaction_over(&[EVENTS, STREAMS, META], TransactionMode::ReadWrite)?;
        let events = object_store(&transaction, EVENTS)?;
        let streams = object_store(&transaction, STREAMS)?;
        let meta = object_store(&transaction, META)?;
        let completion = Completion::new(transaction);
        let stores = AppendStores {
            events: &events,
            streams: &streams,
            meta: &meta,
        };
        let written = write_batch(&stores, &batch, &records, false).await;
        match written {
            Ok(Written::Appended(result)) | Ok(Written::AlreadyAppended(result)) => {
                completion
                    .await
                    .map_err(|failure| failure.into_error("committing an append"))?;
                Ok(result)
            }
            Ok(Written::Conflict(failure)) => {
                completion.abort();
                let _ = completion.await;
                self.explain_conflict(&batch, failure).await
            }
            Err(error) => Err(completion.abandon(error, "appending").await),
        }
    }

    async fn append_many(&self, batches: Vec<AppendBatch>) -> Result<Vec<AppendResult>> {
        self.append_batches(&batches).await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>> {
        decode_all(
            &self
                .read_stream_records(stream_id, from_version, direction, limit)
                .await?,
        )
    }

    async fn read_all(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> Result<Vec<RecordedEvent>> {
        decode_all(
            &self
                .read_all_records(from_position, direction, limit, filter)
                .await?,
        )
    }

    async fn head(&self) -> Result<u64> {
        self.read_head_now().await
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        let context = "listing streams";
        if limit == 0 {
            return Ok(Vec::new());
        }
        // A key cursor over the `[streamId, version]` index that jumps from stream to stream
        // (`continue(key)` past each stream's versions); each stream's last event is one more
        // key cursor, opened backward over that stream's range.
        let first = match after {
            Some(after) if after >= prefix => records::pair_key(after, f64::INFINITY),
            _ => records::pair_key(prefix, 0.0),
        };
        let range = KeyRange::lower_bound(&first, Some(true))
            .map_err(|e| idb_error("building a key range", e))?;
        let transaction = self.transaction(EVENTS, TransactionMode::ReadOnly)?;
        let by_stream = index(&object_store(&transaction, EVENTS)?, BY_STREAM_VERSION)?;
        let mut request = by_stream
            .open_key_cursor(Some(range.into()), None)
            .map_err(|e| idb_error(context, e))
            .map(Request::new)?;
        let mut streams = Vec::new();
        while streams.len() < limit {
            let result = (&mut request)
                .await
                .map_err(|failure| failure.into_error(context))?;
            let Some(cursor) = cursor_of::<IdbCursor>(result, context)? else {
                break;
            };
            let key = cursor.key().map_err(|e| js_error(context, &e))?;
            let stream_id = stream_of_key(&key)?;
            if !stream_id.starts_with(prefix) {
                break;
            }
            if is_marker_key(&key) {
                // A lifecycle marker with no events before it (they were removed, or the stream
                // only has metadata): not a stream to list.
                cursor.continue_().map_err(|e| js_error(context, &e))?;
                continue;
            }
            let (version, position) = last_of_stream(&by_stream, &stream_id)
                .await?
                .ok_or_else(|| corrupt("a listed stream has no last event"))?;
            cursor
                .continue_with_key(&records::pair_key(&stream_id, f64::INFINITY))
                .map_err(|e| js_error(context, &e))?;
            streams.push(StreamInfo {
                stream_id,
                version,
                position,
            });
        }
        Ok(streams)
    }

    async fn stream_record(&self, stream_id: &str) -> Result<Option<StreamRecord>> {
        self.read_record_now(stream_id).await
    }

    async fn max_ages(&self) -> Result<MaxAges> {
        self.read_max_ages_now().await
    }

    async fn scavenge(&self) -> Result<()> {
        self.scavenge_now().await
    }

    async fn change_stream(&self, change: StreamChange) -> Result<StreamRecord> {
        self.change_stream_now(change).await
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        let key = JsValue::from_str(name);
        let context = "loading a checkpoint";
        let transaction = self.transaction(CHECKPOINTS, TransactionMode::ReadOnly)?;
        let request = object_store(&transaction, CHECKPOINTS)?
            .get(key)
            .map_err(|e| idb_error(context, e))?;
        let found = Request::new(request)
            .await
            .map_err(|failure| failure.into_error(context))?;
        present(found)
            .as_ref()
            .map(records::decode_checkpoint)
            .transpose()
    }

    async fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<()> {
        let record = records::encode_checkpoint(name, checkpoint)?;
        let transaction = self.transaction(CHECKPOINTS, TransactionMode::ReadWrite)?;
        let checkpoints = object_store(&transaction, CHECKPOINTS)?;
        let completion = Completion::new(transaction);
        let put = match checkpoints.put(&record, None) {
            Ok(request) => Request::new(request)
                .await
                .map_err(|failure| failure.into_error("saving a checkpoint")),
            Err(error) => Err(idb_error("saving a checkpoint", error)),
        };
        if let Err(error) = put {
            return Err(completion.abandon(error, "saving a checkpoint").await);
        }
        completion
            .await
            .map_err(|failure| failure.into_error("saving a checkpoint"))
    }

    async fn store_id(&self) -> Result<String> {
        self.read_store_id().await
    }

    fn close(&self) {
        self.state.set(Connection::Closed);
        self.database.close();
    }

    fn notifier(&self) -> AppendNotifier {
        self.notifier.clone()
    }
}

/// The last position in `events` (0 when empty).
async fn read_head(events: &ObjectStore) -> Result<u64> {
    let context = "reading the head position";
    // Positions start at 1; the lifecycle markers' keys are below 0.
    let positions = KeyRange::lower_bound(&JsValue::from_f64(0.0), Some(true))
        .map_err(|e| idb_error("building a key range", e))?;
    let request = events
        .open_key_cursor(Some(positions.into()), Some(CursorDirection::Prev))
        .map_err(|e| idb_error(context, e))?;
    let last = Request::new(request)
        .await
        .map_err(|failure| failure.into_error(context))?;
    match cursor_of::<IdbCursor>(last, context)? {
        None => Ok(0),
        Some(cursor) => {
            let key = cursor.key().map_err(|e| js_error(context, &e))?;
            records::as_u64(&key).ok_or_else(|| corrupt("an event key is not a position"))
        }
    }
}

fn object_store(transaction: &idb::Transaction, name: &str) -> Result<ObjectStore> {
    transaction
        .object_store(name)
        .map_err(|e| idb_error("opening an object store", e))
}

fn index(store: &ObjectStore, name: &str) -> Result<idb::Index> {
    store
        .index(name)
        .map_err(|e| idb_error("opening an index", e))
}

fn key_range(
    lower: &JsValue,
    upper: &JsValue,
    lower_open: bool,
    upper_open: bool,
) -> Result<KeyRange> {
    KeyRange::bound(lower, upper, Some(lower_open), Some(upper_open))
        .map_err(|e| idb_error("building a key range", e))
}

/// `limit` as IndexedDB's `count` argument; `None` (no limit) when it does not fit in `u32`.
fn request_limit(limit: usize) -> Option<u32> {
    u32::try_from(limit).ok()
}

/// A `get` result: `None` when nothing is stored under the key.
fn present(value: JsValue) -> Option<JsValue> {
    (!value.is_undefined() && !value.is_null()).then_some(value)
}

/// The records of a `getAll` result.
fn all_of(value: JsValue, context: &str) -> Result<Array> {
    if value.is_undefined() || value.is_null() {
        return Ok(Array::new());
    }
    value
        .dyn_into::<Array>()
        .map_err(|value| unexpected(context, &value))
}

/// The cursor of an `openCursor` or `openKeyCursor` result (again after each `continue()`):
/// `None` past the last record.
fn cursor_of<C: JsCast>(value: JsValue, context: &str) -> Result<Option<C>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .dyn_into::<C>()
        .map(Some)
        .map_err(|value| unexpected(context, &value))
}

fn unexpected(context: &str, value: &JsValue) -> Error {
    Error::storage(format!(
        "IndexedDB {context} failed: unexpected result {value:?}"
    ))
}

/// Reads, inside the append transaction, the stream's current version and where each id of the
/// batch is already stored. All requests go out at once.
async fn read_append_state(
    events: &ObjectStore,
    stream_id: &str,
    ids: &[JsValue],
) -> Result<(u64, Vec<Option<ExistingEvent>>)> {
    let (current, existing) = futures::join!(
        read_stream_version(events, stream_id),
        look_up_ids(events, ids)
    );
    Ok((current?, existing?))
}

/// [`read_append_state`] with the stream's lifecycle record: what an append is decided against.
async fn read_append_basis(
    events: &ObjectStore,
    streams: &ObjectStore,
    stream_id: &str,
    ids: &[JsValue],
) -> Result<(AppendBasis, Vec<Option<ExistingEvent>>)> {
    let (current, record, existing) = futures::join!(
        read_stream_version(events, stream_id),
        read_record(streams, stream_id),
        look_up_ids(events, ids)
    );
    Ok((
        append_basis(stream_id, record?.as_ref(), current?)?,
        existing?,
    ))
}

/// The stream's current version (0 when it has no events).
async fn read_stream_version(events: &ObjectStore, stream_id: &str) -> Result<u64> {
    let last = last_of_stream(&index(events, BY_STREAM_VERSION)?, stream_id).await?;
    Ok(last.map_or(0, |(version, _)| version))
}

/// Where each of `ids` is already stored (`None` when it is new). All requests go out at once.
async fn look_up_ids(events: &ObjectStore, ids: &[JsValue]) -> Result<Vec<Option<ExistingEvent>>> {
    let context = "looking up event ids";
    let by_id = index(events, BY_ID)?;
    let lookups = ids
        .iter()
        .map(|id| by_id.get(id.clone()).map(Request::new))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| idb_error(context, e))?;
    join_all(lookups)
        .await
        .into_iter()
        .map(|found| {
            let found = found.map_err(|failure| failure.into_error(context))?;
            present(found)
                .as_ref()
                .map(records::decode_existing)
                .transpose()
        })
        .collect()
}

/// The version and position of the last event of `stream_id` (`None` when it has no events):
/// the last key of its range of the `stream_version` index, and that key's primary key.
async fn last_of_stream(by_stream: &idb::Index, stream_id: &str) -> Result<Option<(u64, u64)>> {
    let context = "reading a stream's last event";
    let versions = versions_from(stream_id, 0.0)?;
    let last = by_stream
        .open_key_cursor(Some(versions.into()), Some(CursorDirection::Prev))
        .map_err(|e| idb_error(context, e))
        .map(Request::new)?
        .await
        .map_err(|failure| failure.into_error(context))?;
    let Some(cursor) = cursor_of::<IdbCursor>(last, context)? else {
        return Ok(None);
    };
    let key = cursor.key().map_err(|e| js_error(context, &e))?;
    let position = cursor.primary_key().map_err(|e| js_error(context, &e))?;
    Ok(Some((
        version_of_key(&key)?,
        records::as_u64(&position).ok_or_else(|| corrupt("an event key is not a position"))?,
    )))
}

/// The stream id in a `stream_version` index key `[streamId, version]`.
fn stream_of_key(key: &JsValue) -> Result<String> {
    js_sys::Array::is_array(key)
        .then(|| js_sys::Array::from(key).get(0).as_string())
        .flatten()
        .ok_or_else(|| corrupt("a stream_version key is not [streamId, version]"))
}

/// The version in a `stream_version` index key `[streamId, version]`.
fn version_of_key(key: &JsValue) -> Result<u64> {
    js_sys::Array::is_array(key)
        .then(|| records::as_u64(&js_sys::Array::from(key).get(1)))
        .flatten()
        .ok_or_else(|| corrupt("a stream_version key is not [streamId, version]"))
}

/// The body of the append transaction: read, decide, write.
///
/// When the stream's version satisfies the expectation, the ids are not looked up one by one: the
/// unique `id` index checks them while the records are added, and a refused id aborts the
/// transaction (nothing written) and comes back as [`Written::Conflict`], which
/// [`IndexedDbStorage::explain_conflict`] turns into the earlier result of an identical append or
/// a `DuplicateEventId`, as [`decide_append`] would have. On a version mismatch, or always with
/// `always_look_up` (an `append_many`, whose transaction must survive to decide the other batches),
/// the ids are looked up in this transaction and [`decide_append`] tells a retry or a reused id
/// from a conflict.
async fn write_batch(
    stores: &AppendStores<'_>,
    batch: &AppendBatch,
    records: &Array,
    always_look_up: bool,
) -> Result<Written> {
    let events = stores.events;
    let (current, record) = futures::join!(
        read_stream_version(events, &batch.stream_id),
        read_record(stores.streams, &batch.stream_id)
    );
    let record = record?;
    let basis = append_basis(&batch.stream_id, record.as_ref(), current?)?;
    let first_version = if batch.expected.accepts(basis.current) && !always_look_up {
        basis.after + 1
    } else {
        let existing = look_up_ids(events, &ids_of(batch)).await?;
        match decide_append_on(batch, basis, &existing)? {
            AppendDecision::AlreadyAppended(result) => return Ok(Written::AlreadyAppended(result)),
            AppendDecision::Write { first_version } => first_version,
        }
    };
    // One call adds every record (IndexedDB runs the requests in order) and only the last request
    // is awaited. A failing request aborts the transaction, which fails those after it with
    // `AbortError` and keeps the first failure as its `error`: that one decides.
    let store = IdbObjectStore::from(events.clone());
    let last = add_records(&store, records, first_version as f64)
        .map_err(|thrown| DomFailure::from_js(&thrown).into_error("appending"))?;
    let position = match Request::new(last).await {
        Ok(key) => {
            records::as_u64(&key).ok_or_else(|| corrupt("the generated key is not a position"))?
        }
        Err(failure) => {
            let first = match store.transaction().error() {
                Some(error) if failure.name == "AbortError" => DomFailure::from_exception(&error),
                _ => failure,
            };
            if first.name == "ConstraintError" {
                return Ok(Written::Conflict(first));
            }
            return Err(first.into_error("appending"));
        }
    };
    let version = first_version + u64::from(records.length()) - 1;
    if let Some((next, remove_before)) = record
        .as_ref()
        .and_then(|record| record_after_append(record, version))
    {
        remove_events(events, stores.meta, &batch.stream_id, remove_before).await?;
        write_record(stores.streams, &batch.stream_id, &next).await?;
    }
    if let Some(seconds) = record.as_ref().and_then(|record| record.metadata.max_age) {
        remove_expired(events, &batch.stream_id, seconds, now_millis()).await?;
    }
    Ok(Written::Appended(AppendResult {
        next_expected_version: version,
        position,
    }))
}

/// The object stores of the append transaction.
pub(super) struct AppendStores<'a> {
    pub(super) events: &'a ObjectStore,
    pub(super) streams: &'a ObjectStore,
    pub(super) meta: &'a ObjectStore,
}

/// The ids of a batch's events, as JavaScript strings (to look them up).
fn ids_of(batch: &AppendBatch) -> Vec<JsValue> {
    batch
        .events
        .iter()
        .map(|event| JsValue::from_str(&event.id))
        .collect()
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// Adds `records` to `store`, numbering their versions from `first_version`, and returns
    /// the last request; throws what `add` throws.
    #[wasm_bindgen(catch, js_name = addRecords)]
    fn add_records(
        store: &IdbObjectStore,
        records: &Array,
        first_version: f64,
    ) -> std::result::Result<web_sys::IdbRequest, JsValue>;
}

/// Where a `read_all` scans: the whole object store, or an index narrowing it to one category or
/// one event type, in position order either way.
enum Source<'f> {
    Everything,
    Category(&'f str),
    EventType(&'f str),
}

impl<'f> Source<'f> {
    /// The narrowest source for `filter`, and whether every record of it matches the filter.
    fn for_filter(filter: &'f Filter) -> (Self, bool) {
        match (filter.event_types.as_slice(), filter.categories.as_slice()) {
            ([event_type], categories) => (
                Source::EventType(event_type),
                categories.is_empty() && filter.stream_prefixes.is_empty(),
            ),
            (event_types, [category]) => (
                Source::Category(category),
                event_types.is_empty() && filter.stream_prefixes.is_empty(),
            ),
            _ => (Source::Everything, filter.is_empty()),
        }
    }

    fn index_of(&self) -> Option<(&'static str, &'f str)> {
        match *self {
            Source::Everything => None,
            Source::Category(category) => Some((BY_CATEGORY, category)),
            Source::EventType(event_type) => Some((BY_TYPE, event_type)),
        }
    }

    /// Records strictly after `position`.
    fn range_after(&self, position: u64) -> Result<KeyRange> {
        let position = position as f64;
        match self.index_of() {
            None => KeyRange::lower_bound(&JsValue::from_f64(position), Some(true))
                .map_err(|e| idb_error("building a key range", e)),
            Some((_, value)) => key_range(
                &records::pair_key(value, position),
                &records::pair_key(value, f64::INFINITY),
                true,
                false,
            ),
        }
    }

    /// Up to `limit` records strictly after `position`, oldest first.
    async fn get_all_after(
        &self,
        events: &ObjectStore,
        position: u64,
        limit: Option<u32>,
    ) -> Result<Array> {
        let query = Some(Query::from(self.range_after(position)?));
        let context = "reading events";
        let request = match self.index_of() {
            None => events.get_all(query, limit),
            Some((name, _)) => index(events, name)?.get_all(query, limit),
        }
        .map_err(|e| idb_error(context, e))?;
        let values = Request::new(request)
            .await
            .map_err(|failure| failure.into_error(context))?;
        all_of(values, context)
    }

    /// A cursor over the records strictly before `position` (> 1), newest first.
    fn open_cursor_before(
        &self,
        events: &ObjectStore,
        position: u64,
    ) -> Result<idb::request::OpenCursorStoreRequest> {
        let position = position as f64;
        let direction = Some(CursorDirection::Prev);
        match self.index_of() {
            None => {
                // Not below 1: the lifecycle markers' keys are below 0.
                let range = key_range(
                    &JsValue::from_f64(0.0),
                    &JsValue::from_f64(position),
                    true,
                    true,
                )?;
                events.open_cursor(Some(range.into()), direction)
            }
            Some((name, value)) => {
                let range = key_range(
                    &records::pair_key(value, 0.0),
                    &records::pair_key(value, position),
                    false,
                    true,
                )?;
                index(events, name)?.open_cursor(Some(range.into()), direction)
            }
        }
        .map_err(|e| idb_error("reading events", e))
    }
}

/// Reads forward after `from_position`: one `getAll` when every record of the source matches,
/// otherwise chunks filtered here until `limit` records matched or the source is exhausted.
async fn scan_forward(
    events: &ObjectStore,
    source: &Source<'_>,
    exact: bool,
    from_position: u64,
    limit: usize,
    filter: &Filter,
) -> Result<Array> {
    if exact {
        return source
            .get_all_after(events, from_position, request_limit(limit))
            .await;
    }
    let found = Array::new();
    let mut after = from_position;
    loop {
        let values = source
            .get_all_after(events, after, Some(SCAN_CHUNK))
            .await?;
        for value in values.iter() {
            after = records::get_u64(&value, records::POSITION)?;
            if matches(filter, &value)? {
                found.push(&value);
                if found.length() as usize >= limit {
                    return Ok(found);
                }
            }
        }
        if values.length() < SCAN_CHUNK {
            return Ok(found);
        }
    }
}

/// Walks a cursor (its `openCursor` request), keeping up to `limit` records that match `filter`.
async fn scan_cursor(mut request: Request, limit: usize, filter: &Filter) -> Result<Array> {
    let context = "reading events";
    let found = Array::new();
    loop {
        // The opening, then each `continue()`, fires `success` on the same request.
        let result = (&mut request)
            .await
            .map_err(|failure| failure.into_error(context))?;
        let Some(cursor) = cursor_of::<IdbCursorWithValue>(result, context)? else {
            break;
        };
        let value = cursor.value().map_err(|e| js_error(context, &e))?;
        if matches(filter, &value)? {
            found.push(&value);
            if found.length() as usize >= limit {
                break;
            }
        }
        cursor.continue_().map_err(|e| js_error(context, &e))?;
    }
    Ok(found)
}

/// Whether a stored event record passes `filter`, without decoding its payload.
fn matches(filter: &Filter, record: &JsValue) -> Result<bool> {
    if filter.is_empty() {
        return Ok(true);
    }
    let stream_id = records::get_string(record, records::STREAM_ID)?;
    let event_type = records::get_string(record, records::EVENT_TYPE)?;
    Ok(filter.matches(&stream_id, &event_type))
}
