//! [`SyncStorage`] for IndexedDB: the mirror is the `events` object store (records added with
//! the server's positions as keys), the outbox the `outbox` store, the sync state a `meta`
//! record. Every change is one read-write transaction over the stores it touches, holding
//! IndexedDB requests only (records are encoded before it opens, decisions between requests are
//! plain synchronous code), so two tabs appending to one outbox are serialized by IndexedDB.

use futures::future::join_all;
use idb::{ObjectStore, TransactionMode};
use js_sys::Object;
use wasm_bindgen::JsValue;

use super::completion::Completion;
use super::errors::{corrupt, idb_error, js_error};
use super::request::Request;
use super::schema::{EVENTS, META, OUTBOX, OUTBOX_BY_BATCH, OUTBOX_BY_STREAM, STREAMS};
use super::IndexedDbStorage;
use super::{all_of, index, object_store, present, read_append_state, read_head, records};
use crate::error::{Error, Result};
use crate::storage::{
    decide_enqueue, AppendBatch, EnqueueDecision, LocalAppend, OutboxEntry, SyncChange,
    SyncSnapshot, SyncState, SyncStorage,
};

impl IndexedDbStorage {
    pub(super) fn transaction_over(
        &self,
        stores: &[&str],
        mode: TransactionMode,
    ) -> Result<idb::Transaction> {
        self.database()?
            .transaction(stores, mode)
            .map_err(|e| idb_error("starting a transaction", e))
    }

    /// The store id, a random value written by schema step 2.
    pub(super) async fn read_store_id(&self) -> Result<String> {
        let transaction = self.transaction_over(&[META], TransactionMode::ReadOnly)?;
        let meta = object_store(&transaction, META)?;
        read_meta(&meta, records::STORE_ID_KEY)
            .await?
            .ok_or_else(|| corrupt("the store has no id record"))
    }
}

pub(super) async fn read_meta(meta: &ObjectStore, key: &str) -> Result<Option<String>> {
    let context = "reading a meta record";
    let request = meta
        .get(JsValue::from_str(key))
        .map_err(|e| idb_error(context, e))?;
    let found = Request::new(request)
        .await
        .map_err(|failure| failure.into_error(context))?;
    present(found).as_ref().map(records::meta_value).transpose()
}

/// Outbox entries in order: all of them, or those of one stream.
async fn read_outbox(outbox: &ObjectStore, stream: Option<&str>) -> Result<Vec<OutboxEntry>> {
    let context = "reading the outbox";
    let request = match stream {
        None => outbox.get_all(None, None),
        Some(stream) => {
            index(outbox, OUTBOX_BY_STREAM)?.get_all(Some(JsValue::from_str(stream).into()), None)
        }
    }
    .map_err(|e| idb_error(context, e))?;
    let values = Request::new(request)
        .await
        .map_err(|failure| failure.into_error(context))?;
    all_of(values, context)?
        .iter()
        .map(|record| records::decode_outbox(&record))
        .collect()
}

/// Awaits every request; the first failure decides.
async fn settle_all(requests: Vec<Request>, context: &str) -> Result<Vec<JsValue>> {
    join_all(requests)
        .await
        .into_iter()
        .map(|result| result.map_err(|failure| failure.into_error(context)))
        .collect()
}

/// Runs `work` in `transaction`, then waits for the commit; aborts on an error.
pub(super) async fn commit<T>(completion: Completion, work: Result<T>, context: &str) -> Result<T> {
    match work {
        Ok(value) => {
            completion
                .await
                .map_err(|failure| failure.into_error(context))?;
            Ok(value)
        }
        Err(error) => Err(completion.abandon(error, context).await),
    }
}

impl SyncStorage for IndexedDbStorage {
    async fn load_sync(&self) -> Result<SyncSnapshot> {
        let transaction = self.transaction_over(&[OUTBOX, META], TransactionMode::ReadOnly)?;
        let outbox = object_store(&transaction, OUTBOX)?;
        let meta = object_store(&transaction, META)?;
        let (state, entries) = futures::join!(
            read_meta(&meta, records::SYNC_STATE_KEY),
            read_outbox(&outbox, None)
        );
        let state = state?
            .map(|text| {
                serde_json::from_str::<SyncState>(&text)
                    .map_err(|e| corrupt(format_args!("the sync state: {e}")))
            })
            .transpose()?;
        Ok(SyncSnapshot {
            state,
            outbox: entries?,
        })
    }

    async fn enqueue(&self, batch_id: String, batch: AppendBatch) -> Result<LocalAppend> {
        let record = records::encode_outbox(&OutboxEntry {
            batch_id: batch_id.clone(),
            batch: batch.clone(),
            state: crate::storage::OutboxState::Pending,
        })?;
        let ids: Vec<JsValue> = batch
            .events
            .iter()
            .map(|event| JsValue::from_str(&event.id))
            .collect();
        let transaction = self.transaction_over(&[EVENTS, OUTBOX], TransactionMode::ReadWrite)?;
        let events = object_store(&transaction, EVENTS)?;
        let outbox = object_store(&transaction, OUTBOX)?;
        let completion = Completion::new(transaction);
        let work = async {
            let ((mirror_version, in_mirror), stream_outbox) = {
                let (state, entries) = futures::join!(
                    read_append_state(&events, &batch.stream_id, &ids),
                    read_outbox(&outbox, Some(&batch.stream_id))
                );
                (state?, entries?)
            };
            let decision = decide_enqueue(
                &batch,
                mirror_version,
                &stream_outbox,
                &batch_id,
                &in_mirror,
            )?;
            if let EnqueueDecision::Write(_) = decision {
                let request = outbox
                    .add(&record, None)
                    .map_err(|e| idb_error("writing to the outbox", e))?;
                Request::new(request)
                    .await
                    .map_err(|failure| failure.into_error("writing to the outbox"))?;
            }
            Ok(decision.result().clone())
        }
        .await;
        commit(completion, work, "committing to the outbox").await
    }

    async fn apply_sync(&self, change: SyncChange) -> Result<()> {
        // Encode first: inside the transaction, only requests.
        let mirror: Vec<Object> = change
            .events
            .iter()
            .map(records::encode_recorded)
            .collect::<Result<_>>()?;
        let added: Vec<Object> = change
            .add
            .iter()
            .map(records::encode_outbox)
            .collect::<Result<_>>()?;
        let state = change
            .state
            .as_ref()
            .map(|state| {
                serde_json::to_string(state)
                    .map(|text| records::meta_record(records::SYNC_STATE_KEY, &text))
                    .map_err(|e| Error::storage(format!("cannot encode the sync state: {e}")))
            })
            .transpose()?;
        let transaction =
            self.transaction_over(&[EVENTS, OUTBOX, META, STREAMS], TransactionMode::ReadWrite)?;
        let events = object_store(&transaction, EVENTS)?;
        let outbox = object_store(&transaction, OUTBOX)?;
        let meta = object_store(&transaction, META)?;
        let streams = object_store(&transaction, STREAMS)?;
        let completion = Completion::new(transaction);
        let work = async {
            let context = "applying sync changes";
            if change.reset_mirror {
                let cleared = [
                    events.clear().map_err(|e| idb_error(context, e))?,
                    streams.clear().map_err(|e| idb_error(context, e))?,
                ];
                settle_all(cleared.into_iter().map(Request::new).collect(), context).await?;
                super::lifecycle::forget_lifecycle_meta(&meta).await?;
            }
            change.check_events(read_head(&events).await?)?;
            let mut requests = Vec::new();
            for record in &mirror {
                requests.push(Request::new(
                    events
                        .add(record, None)
                        .map_err(|e| idb_error(context, e))?,
                ));
            }
            settle_all(requests, "writing mirror events").await?;
            // Outbox entries touched by batch id: find their records, then change them.
            let by_batch = index(&outbox, OUTBOX_BY_BATCH)?;
            let touched: Vec<&String> = change
                .remove
                .iter()
                .chain(change.confirm.iter().map(|(id, _)| id))
                .chain(change.unconfirm.iter())
                .collect();
            let mut lookups = Vec::new();
            for batch_id in &touched {
                lookups.push(Request::new(
                    by_batch
                        .get(JsValue::from_str(batch_id))
                        .map_err(|e| idb_error(context, e))?,
                ));
            }
            let found = settle_all(lookups, "reading the outbox").await?;
            let mut writes = Vec::new();
            for (batch_id, record) in touched.iter().zip(found) {
                let Some(record) = present(record) else {
                    continue;
                };
                let seq = js_sys::Reflect::get(&record, &JsValue::from_str(records::OUTBOX_SEQ))
                    .map_err(|e| js_error(context, &e))?;
                if change.remove.contains(batch_id) {
                    writes.push(
                        outbox
                            .delete(seq)
                            .map_err(|e| idb_error(context, e))
                            .map(Request::new)?,
                    );
                    continue;
                }
                let record: Object = record.into();
                let state = match change.confirm.iter().find(|(id, _)| id == *batch_id) {
                    Some((_, position)) => crate::storage::OutboxState::Confirmed {
                        position: *position,
                    },
                    None => crate::storage::OutboxState::Pending,
                };
                records::set_confirmed(&record, state)?;
                writes.push(Request::new(
                    outbox
                        .put(&record, None)
                        .map_err(|e| idb_error(context, e))?,
                ));
            }
            for record in &added {
                writes.push(Request::new(
                    outbox
                        .add(record, None)
                        .map_err(|e| idb_error(context, e))?,
                ));
            }
            if let Some(state) = &state {
                writes.push(Request::new(
                    meta.put(state, None).map_err(|e| idb_error(context, e))?,
                ));
            }
            settle_all(writes, context).await?;
            Ok(())
        }
        .await;
        commit(completion, work, "committing sync changes").await
    }
}
