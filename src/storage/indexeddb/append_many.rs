//! `append_many` in IndexedDB: every batch of the call decided and written in one read-write
//! transaction, which is aborted (nothing written) if any batch is refused.

use super::completion::Completion;
use super::{
    object_store, records, write_batch, AppendStores, IndexedDbStorage, Written, EVENTS, META,
    STREAMS,
};
use crate::error::Result;
use crate::storage::{AppendBatch, ManyOutcomes};
use crate::types::AppendResult;

impl IndexedDbStorage {
    /// The batches one after another in one transaction, each deciding on what the batches
    /// before it wrote; their ids are always looked up first (a refused `add` would abort the
    /// transaction before the other batches are decided).
    pub(super) async fn append_batches(
        &self,
        batches: &[AppendBatch],
    ) -> Result<Vec<AppendResult>> {
        // Encode everything before the transaction opens: inside it, only requests.
        let encoded = batches
            .iter()
            .map(records::encode_events)
            .collect::<Result<Vec<_>>>()?;

        let transaction =
            self.transaction_over(&[EVENTS, STREAMS, META], idb::TransactionMode::ReadWrite)?;
        let events = object_store(&transaction, EVENTS)?;
        let streams = object_store(&transaction, STREAMS)?;
        let meta = object_store(&transaction, META)?;
        let stores = AppendStores {
            events: &events,
            streams: &streams,
            meta: &meta,
        };
        let completion = Completion::new(transaction);
        let decided = async {
            let mut outcomes = ManyOutcomes::new();
            for (batch, records) in batches.iter().zip(&encoded) {
                let outcome = match write_batch(&stores, batch, records, true).await {
                    Ok(Written::Appended(result) | Written::AlreadyAppended(result)) => Ok(result),
                    // The ids were looked up in this transaction: only a writer IndexedDB did not
                    // serialize with this one, or a record written outside evstore, gets here.
                    Ok(Written::Conflict(failure)) => return Err(failure.into_error("appending")),
                    Err(error) => Err(error),
                };
                outcomes.record(outcome)?;
            }
            outcomes.finish()
        }
        .await;
        match decided {
            Ok(results) => {
                completion
                    .await
                    .map_err(|failure| failure.into_error("committing an append"))?;
                Ok(results)
            }
            Err(error) => {
                completion.abort();
                let _ = completion.await;
                Err(error)
            }
        }
    }
}
