//! The database schema and its numbered upgrade steps.
//!
//! The IndexedDB database version *is* the schema version. Opening runs every step after the
//! version found on disk, inside the browser's `versionchange` transaction, so an upgrade is all or
//! nothing. A database written by a newer evstore (a higher version) is refused with
//! [`Error::IncompatibleSchema`] and left untouched.
//!
//! To change the schema: append a step to [`STEPS`]; never edit a released one.

use std::cell::RefCell;
use std::rc::Rc;

use idb::event::VersionChangeEvent;
use idb::{
    Database, DatabaseEvent, Event, Factory, IndexParams, KeyPath, ObjectStoreParams, Request as _,
};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{IdbOpenDbRequest, IdbTransaction, IdbVersionChangeEvent};

use super::errors::{idb_error, DomFailure};
use super::lifecycle_marker::mark_existing_streams;
use super::records;
use super::request::{OpenRequest, UpgradeHandler};
use crate::error::{Error, Result};

/// The object store of events, keyed by their auto-incremented global position.
pub(super) const EVENTS: &str = "events";
/// The object store of projection checkpoints, keyed by projection name.
pub(super) const CHECKPOINTS: &str = "checkpoints";
/// Unique index on `[streamId, version]`: a stream's events in order, and the optimistic
/// concurrency guard.
pub(super) const BY_STREAM_VERSION: &str = "stream_version";
/// Unique index on `id`: idempotent appends.
pub(super) const BY_ID: &str = "id";
/// Index on `[category, position]`: category filters in position order.
pub(super) const BY_CATEGORY: &str = "category";
/// Index on `[eventType, position]`: event-type filters in position order.
pub(super) const BY_TYPE: &str = "type";
/// The object store of a sync client's pending appends, keyed by an auto-incremented sequence
/// number (the order they were appended in).
pub(super) const OUTBOX: &str = "outbox";
/// Index of the outbox on `streamId`: a stream's entries, in sequence order.
pub(super) const OUTBOX_BY_STREAM: &str = "outbox_stream";
/// Unique index of the outbox on `batchId`.
pub(super) const OUTBOX_BY_BATCH: &str = "outbox_batch";
/// The object store of small records keyed by `key`: the store id and the sync state.
pub(super) const META: &str = "meta";
/// The object store of stream lifecycle records, `{ key: streamId, value: JSON }`.
pub(super) const STREAMS: &str = "streams";

/// A step gets the database and the `versionchange` transaction it runs in.
type Step = fn(&Database, &IdbTransaction) -> std::result::Result<(), idb::Error>;

/// Upgrade steps: `STEPS[n]` takes the schema from version `n` to `n + 1`.
const STEPS: &[Step] = &[
    step_1_initial_schema,
    step_2_sync,
    step_3_stream_lifecycle,
    step_4_lifecycle_markers,
];

/// The schema version this build writes and the newest it can open.
pub(super) const SCHEMA_VERSION: u32 = STEPS.len() as u32;

/// Version 1: events with their indexes, and checkpoints.
fn step_1_initial_schema(
    database: &Database,
    _: &IdbTransaction,
) -> std::result::Result<(), idb::Error> {
    let mut events = ObjectStoreParams::new();
    events
        .key_path(Some(KeyPath::new_single(records::POSITION)))
        .auto_increment(true);
    let events = database.create_object_store(EVENTS, events)?;

    let mut unique = IndexParams::new();
    unique.unique(true);
    events.create_index(
        BY_STREAM_VERSION,
        KeyPath::new_array([records::STREAM_ID, records::VERSION]),
        Some(unique.clone()),
    )?;
    events.create_index(BY_ID, KeyPath::new_single(records::ID), Some(unique))?;
    events.create_index(
        BY_CATEGORY,
        KeyPath::new_array([records::CATEGORY, records::POSITION]),
        None,
    )?;
    events.create_index(
        BY_TYPE,
        KeyPath::new_array([records::EVENT_TYPE, records::POSITION]),
        None,
    )?;

    let mut checkpoints = ObjectStoreParams::new();
    checkpoints.key_path(Some(KeyPath::new_single(records::CHECKPOINT_NAME)));
    database.create_object_store(CHECKPOINTS, checkpoints)?;
    Ok(())
}

/// Version 2: the sync client's outbox and the `meta` records, with a random store id.
fn step_2_sync(database: &Database, _: &IdbTransaction) -> std::result::Result<(), idb::Error> {
    let mut outbox = ObjectStoreParams::new();
    outbox
        .key_path(Some(KeyPath::new_single(records::OUTBOX_SEQ)))
        .auto_increment(true);
    let outbox = database.create_object_store(OUTBOX, outbox)?;
    outbox.create_index(
        OUTBOX_BY_STREAM,
        KeyPath::new_single(records::STREAM_ID),
        None,
    )?;
    let mut unique = IndexParams::new();
    unique.unique(true);
    outbox.create_index(
        OUTBOX_BY_BATCH,
        KeyPath::new_single(records::BATCH_ID),
        Some(unique),
    )?;
    let mut meta = ObjectStoreParams::new();
    meta.key_path(Some(KeyPath::new_single(records::META_KEY)));
    let meta = database.create_object_store(META, meta)?;
    // Written by the versionchange transaction, with the upgrade.
    meta.add(
        &records::meta_record(records::STORE_ID_KEY, &uuid::Uuid::now_v7().to_string()),
        None,
    )?;
    Ok(())
}

/// Version 3: lifecycle records of the streams a delete, tombstone, truncation or metadata
/// touched.
fn step_3_stream_lifecycle(
    database: &Database,
    _: &IdbTransaction,
) -> std::result::Result<(), idb::Error> {
    let mut streams = ObjectStoreParams::new();
    streams.key_path(Some(KeyPath::new_single(records::META_KEY)));
    database.create_object_store(STREAMS, streams)?;
    Ok(())
}

/// Version 4: a lifecycle marker in `events` for each stream with a lifecycle record, so that an
/// append learns the stream's last version or that it has a record with one request
/// ([`lifecycle_marker`](super::lifecycle_marker)).
fn step_4_lifecycle_markers(
    _: &Database,
    transaction: &IdbTransaction,
) -> std::result::Result<(), idb::Error> {
    mark_existing_streams(transaction)
}

/// Runs the steps after the version on disk. Called inside the `versionchange` transaction.
fn upgrade(event: &VersionChangeEvent, transaction: Option<&IdbTransaction>) -> Result<()> {
    let old_version = event
        .old_version()
        .map_err(|e| idb_error("reading the schema version", e))?;
    let database = event
        .database()
        .map_err(|e| idb_error("upgrading the schema", e))?;
    let transaction =
        transaction.ok_or_else(|| Error::storage("IndexedDB upgrading without a transaction"))?;
    for (from, step) in STEPS.iter().enumerate().skip(old_version as usize) {
        step(&database, transaction)
            .map_err(|e| idb_error(&format!("upgrading the schema to version {}", from + 1), e))?;
    }
    Ok(())
}

/// Opens database `name` at [`SCHEMA_VERSION`], creating or upgrading it.
pub(super) async fn open(name: &str) -> Result<Database> {
    let factory = Factory::new().map_err(|_| {
        Error::storage("IndexedDB is not available here (no `indexedDB` in this global scope)")
    })?;
    let request = factory
        .open(name, Some(SCHEMA_VERSION))
        .map_err(|e| idb_error("opening the database", e))?;
    let upgrade_failure: Rc<RefCell<Option<Error>>> = Rc::default();
    let failure = Rc::clone(&upgrade_failure);
    // The versionchange transaction, to learn why it aborted if it does.
    let upgrading: Rc<RefCell<Option<IdbTransaction>>> = Rc::default();
    let transaction = Rc::clone(&upgrading);
    let on_upgrade_needed: UpgradeHandler = Closure::new(move |event: IdbVersionChangeEvent| {
        *transaction.borrow_mut() = event
            .target()
            .and_then(|target| target.dyn_into::<IdbOpenDbRequest>().ok())
            .and_then(|request| request.transaction());
        let event = VersionChangeEvent::from(event);
        if let Err(error) = upgrade(&event, transaction.borrow().as_ref()) {
            // Abort the versionchange transaction: the open fails and no step is half-applied.
            if let Some(transaction) = event.target().ok().and_then(|t| t.transaction()) {
                let _ = transaction.abort();
            }
            *failure.borrow_mut() = Some(error);
        }
    });
    match OpenRequest::new(request, Some(on_upgrade_needed)).await {
        Ok(database) => Ok(Database::from(database)),
        Err(failure) => {
            if let Some(failure) = upgrade_failure.borrow_mut().take() {
                return Err(failure);
            }
            // The open fails with a bare `AbortError` when the browser aborted the upgrade
            // (the first open of a database while the origin's quota is used up): the
            // transaction holds the cause.
            let cause = upgrading.borrow_mut().take().and_then(|t| t.error());
            if let Some(cause) = cause.map(|cause| DomFailure::from_exception(&cause)) {
                if cause.is_quota() {
                    return Err(cause.into_error("creating or upgrading the database"));
                }
            }
            if failure.name == "VersionError" {
                Err(newer_schema(&factory, name, failure.message).await)
            } else {
                Err(failure.into_error("opening the database"))
            }
        }
    }
}

/// The error for a database whose version is above [`SCHEMA_VERSION`]: opens it without a
/// version (no upgrade) to learn the version, then closes it.
async fn newer_schema(factory: &Factory, name: &str, message: String) -> Error {
    let found = match factory.open(name, None) {
        Ok(request) => match OpenRequest::new(request, None).await {
            Ok(database) => {
                let database = Database::from(database);
                let version = database.version();
                database.close();
                version.ok()
            }
            Err(_) => None,
        },
        Err(_) => None,
    };
    match found {
        Some(found) if found > SCHEMA_VERSION => Error::IncompatibleSchema {
            found: u64::from(found),
            supported: u64::from(SCHEMA_VERSION),
        },
        _ => Error::storage(format!(
            "IndexedDB opening the database failed: VersionError: {message}"
        )),
    }
}
