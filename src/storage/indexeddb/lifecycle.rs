//! Stream lifecycle in IndexedDB: the `streams` object store of lifecycle records (schema 3,
//! `{ key: streamId, value: JSON }`), the removal of events inside the transaction that decides
//! it, and the head that never goes down (the `removedHead` meta record: the browser's key
//! generator never reuses a position, but the last key drops when the last events go).

use futures::future::join_all;
use idb::{ObjectStore, TransactionMode};
use wasm_bindgen::JsValue;

use super::completion::Completion;
use super::errors::{corrupt, idb_error};
use super::lifecycle_marker::{add_marker, versions_from};
use super::request::Request;
use super::schema::{BY_STREAM_VERSION, EVENTS, META, STREAMS};
use super::sync::{commit, read_meta};
use super::{all_of, index, key_range, object_store, present, read_head, read_stream_version};
use super::{records, write_batch, AppendStores, IndexedDbStorage, Written};
use crate::error::{Error, Result};
use crate::platform::now_millis;
use crate::storage::{
    decide_stream_change, expiry_cutoff, update_max_ages, MaxAges, StreamChange, StreamRecord,
};

/// The `meta` key of the head as it was before events were removed.
const REMOVED_HEAD_KEY: &str = "removedHead";

/// The `meta` key of the streams with a `maxAge` (a JSON array of `[stream id, seconds]` pairs),
/// written with their records so that reads find them with one request.
const MAX_AGES_KEY: &str = "maxAges";

/// The streams with a `maxAge`.
pub(super) async fn read_max_ages(meta: &ObjectStore) -> Result<MaxAges> {
    match read_meta(meta, MAX_AGES_KEY).await? {
        None => Ok(MaxAges::new()),
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| corrupt(format!("the maxAge map: {e}")))
        }
    }
}

/// Keeps the `maxAge` map in step with `record`, the new record of `stream_id`.
async fn write_max_ages(meta: &ObjectStore, stream_id: &str, record: &StreamRecord) -> Result<()> {
    let mut max_ages = read_max_ages(meta).await?;
    if !update_max_ages(&mut max_ages, stream_id, record) {
        return Ok(());
    }
    let context = "writing the maxAge map";
    let text = serde_json::to_string(&max_ages)
        .map_err(|e| Error::storage(format!("cannot encode the maxAge map: {e}")))?;
    let request = meta
        .put(&records::meta_record(MAX_AGES_KEY, &text), None)
        .map_err(|e| idb_error(context, e))?;
    Request::new(request)
        .await
        .map_err(|failure| failure.into_error(context))?;
    Ok(())
}

/// Removes the events of `stream_id` that a `maxAge` of `seconds` no longer keeps at `now`,
/// except its last event (the head is the last event of its stream, so it stays too).
pub(super) async fn remove_expired(
    events: &ObjectStore,
    stream_id: &str,
    seconds: u64,
    now: u64,
) -> Result<()> {
    let context = "removing expired events";
    let cutoff = expiry_cutoff(seconds, now);
    let range = versions_from(stream_id, 0.0)?;
    let request = index(events, BY_STREAM_VERSION)?
        .get_all(Some(range.into()), None)
        .map_err(|e| idb_error(context, e))?;
    let stored = all_of(
        Request::new(request)
            .await
            .map_err(|failure| failure.into_error(context))?,
        context,
    )?;
    let keep_last = stored.length().saturating_sub(1) as usize;
    let mut deletes = Vec::new();
    for record in stored.iter().take(keep_last) {
        if records::get_u64(&record, records::RECORDED_AT)? < cutoff {
            let position = records::get_u64(&record, records::POSITION)?;
            deletes.push(Request::new(
                events
                    .delete(records::number(position))
                    .map_err(|e| idb_error(context, e))?,
            ));
        }
    }
    for deleted in join_all(deletes).await {
        deleted.map_err(|failure| failure.into_error(context))?;
    }
    Ok(())
}

/// The lifecycle record of `stream_id`, if it has one.
pub(super) async fn read_record(
    streams: &ObjectStore,
    stream_id: &str,
) -> Result<Option<StreamRecord>> {
    let context = "reading a stream record";
    let request = streams
        .get(JsValue::from_str(stream_id))
        .map_err(|e| idb_error(context, e))?;
    let found = Request::new(request)
        .await
        .map_err(|failure| failure.into_error(context))?;
    present(found)
        .map(|record| {
            let text = records::meta_value(&record)?;
            serde_json::from_str(&text).map_err(|e| corrupt(format!("a stream record: {e}")))
        })
        .transpose()
}

/// Stores `record` as the lifecycle record of `stream_id`.
pub(super) async fn write_record(
    streams: &ObjectStore,
    stream_id: &str,
    record: &StreamRecord,
) -> Result<()> {
    let context = "writing a stream record";
    let text = serde_json::to_string(record)
        .map_err(|e| Error::storage(format!("cannot encode a stream record: {e}")))?;
    let request = streams
        .put(&records::meta_record(stream_id, &text), None)
        .map_err(|e| idb_error(context, e))?;
    Request::new(request)
        .await
        .map_err(|failure| failure.into_error(context))?;
    Ok(())
}

/// The head recorded before events were removed (0 when none were).
pub(super) async fn read_removed_head(meta: &ObjectStore) -> Result<u64> {
    match read_meta(meta, REMOVED_HEAD_KEY).await? {
        None => Ok(0),
        Some(text) => text
            .parse()
            .map_err(|_| corrupt("the removed head is not a position")),
    }
}

/// Drops the removed head and the `maxAge` map (the mirror of a synced store was cleared, with
/// its stream records).
pub(super) async fn forget_lifecycle_meta(meta: &ObjectStore) -> Result<()> {
    let context = "clearing the removed head and the maxAge map";
    let mut deletes = Vec::new();
    for key in [REMOVED_HEAD_KEY, MAX_AGES_KEY] {
        deletes.push(Request::new(
            meta.delete(JsValue::from_str(key))
                .map_err(|e| idb_error(context, e))?,
        ));
    }
    for deleted in join_all(deletes).await {
        deleted.map_err(|failure| failure.into_error(context))?;
    }
    Ok(())
}

/// The head of a store with removals: the last position, or the one before the last events were
/// removed, whichever is higher.
pub(super) async fn read_kept_head(events: &ObjectStore, meta: &ObjectStore) -> Result<u64> {
    let (head, removed) = futures::join!(read_head(events), read_removed_head(meta));
    Ok(head?.max(removed?))
}

/// Removes the events of `stream_id` below version `before` (0: none), recording the head first.
pub(super) async fn remove_events(
    events: &ObjectStore,
    meta: &ObjectStore,
    stream_id: &str,
    before: u64,
) -> Result<()> {
    if before == 0 {
        return Ok(());
    }
    let context = "removing events";
    let head = read_kept_head(events, meta).await?;
    let kept = meta
        .put(
            &records::meta_record(REMOVED_HEAD_KEY, &head.to_string()),
            None,
        )
        .map_err(|e| idb_error(context, e))?;
    let upper = if before == u64::MAX {
        f64::INFINITY
    } else {
        before as f64
    };
    let range = key_range(
        &records::pair_key(stream_id, 0.0),
        &records::pair_key(stream_id, upper),
        false,
        true,
    )?;
    let keys = index(events, BY_STREAM_VERSION)?
        .get_all_keys(Some(range.into()), None)
        .map_err(|e| idb_error(context, e))?;
    let (kept, keys) = futures::join!(Request::new(kept), Request::new(keys));
    kept.map_err(|failure| failure.into_error(context))?;
    let keys = all_of(
        keys.map_err(|failure| failure.into_error(context))?,
        context,
    )?;
    let mut deletes = Vec::with_capacity(keys.length() as usize);
    for key in keys.iter() {
        deletes.push(Request::new(
            events.delete(key).map_err(|e| idb_error(context, e))?,
        ));
    }
    for deleted in join_all(deletes).await {
        deleted.map_err(|failure| failure.into_error(context))?;
    }
    Ok(())
}

impl IndexedDbStorage {
    /// [`Storage::stream_record`](crate::storage::Storage::stream_record).
    pub(super) async fn read_record_now(&self, stream_id: &str) -> Result<Option<StreamRecord>> {
        let transaction = self.transaction_over(&[STREAMS], TransactionMode::ReadOnly)?;
        read_record(&object_store(&transaction, STREAMS)?, stream_id).await
    }

    /// [`Storage::max_ages`](crate::storage::Storage::max_ages).
    pub(super) async fn read_max_ages_now(&self) -> Result<MaxAges> {
        let transaction = self.transaction_over(&[META], TransactionMode::ReadOnly)?;
        read_max_ages(&object_store(&transaction, META)?).await
    }

    /// [`Storage::scavenge`](crate::storage::Storage::scavenge): removes the expired events of
    /// every stream with a `maxAge`, in one read-write transaction (IndexedDB compacts its files
    /// on its own).
    pub(super) async fn scavenge_now(&self) -> Result<()> {
        let transaction = self.transaction_over(&[EVENTS, META], TransactionMode::ReadWrite)?;
        let events = object_store(&transaction, EVENTS)?;
        let meta = object_store(&transaction, META)?;
        let completion = Completion::new(transaction);
        let work = async {
            let now = now_millis();
            for (stream, seconds) in read_max_ages(&meta).await? {
                remove_expired(&events, &stream, seconds, now).await?;
            }
            Ok(())
        }
        .await;
        commit(completion, work, "committing a scavenge").await
    }

    /// [`Storage::head`](crate::storage::Storage::head).
    pub(super) async fn read_head_now(&self) -> Result<u64> {
        let transaction = self.transaction_over(&[EVENTS, META], TransactionMode::ReadOnly)?;
        let events = object_store(&transaction, EVENTS)?;
        read_kept_head(&events, &object_store(&transaction, META)?).await
    }

    /// [`Storage::change_stream`](crate::storage::Storage::change_stream): one read-write
    /// transaction that reads, decides (plain code between requests) and writes.
    pub(super) async fn change_stream_now(&self, change: StreamChange) -> Result<StreamRecord> {
        let transaction =
            self.transaction_over(&[EVENTS, STREAMS, META], TransactionMode::ReadWrite)?;
        let events = object_store(&transaction, EVENTS)?;
        let streams = object_store(&transaction, STREAMS)?;
        let meta = object_store(&transaction, META)?;
        let completion = Completion::new(transaction);
        let stream = &change.stream_id;
        let work = async {
            let (record, stored) = futures::join!(
                read_record(&streams, stream),
                read_stream_version(&events, stream)
            );
            let record = record?;
            let Some(plan) = decide_stream_change(&change, record.as_ref(), stored?)? else {
                return Ok(record.unwrap_or_default());
            };
            remove_events(&events, &meta, stream, plan.remove_before).await?;
            write_record(&streams, stream, &plan.record).await?;
            if record.is_none() {
                add_marker(&events, stream).await?;
            }
            write_max_ages(&meta, stream, &plan.record).await?;
            if let Some(marker) = &plan.marker {
                // Encoding between requests is plain code: the transaction stays active.
                let encoded = records::encode_events(marker)?;
                let stores = AppendStores {
                    events: &events,
                    streams: &streams,
                    meta: &meta,
                };
                match write_batch(&stores, marker, &encoded, false).await? {
                    Written::Appended(_) | Written::AlreadyAppended(_) => {}
                    Written::Conflict(failure) => {
                        return Err(failure.into_error("recording a lifecycle marker"))
                    }
                }
            }
            Ok(plan.record)
        }
        .await;
        commit(completion, work, "committing a stream change").await
    }
}
