//! The in-memory backend, on every target: the reference implementation of [`Storage`].

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Result;
use crate::storage::{
    decide_append, AppendBatch, AppendDecision, AppendNotifier, Checkpoint, ExistingEvent, Storage,
};
use crate::types::{AppendResult, Direction, Filter, RecordedEvent, StreamInfo};

/// Keeps everything in memory; gone when the last handle is dropped.
///
/// Clones share the same data, like several handles on one database, and an append through a
/// store over one clone wakes the subscriptions of stores over the others. Positions are
/// gapless.
///
/// ```
/// # futures::executor::block_on(async {
/// use evstore::{EventStore, ExpectedVersion, MemoryStorage, NewEvent};
/// let store = EventStore::new(MemoryStorage::new());
/// let result = store
///     .append("todo-1", ExpectedVersion::NoStream, vec![NewEvent::new("Added", serde_json::json!({}))])
///     .await?;
/// assert_eq!(result.next_expected_version, 1);
/// # Ok::<(), evstore::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    inner: Arc<Mutex<Inner>>,
    notifier: AppendNotifier,
}

#[derive(Debug, Default)]
struct Inner {
    /// All events; the event at index `i` has position `i + 1`.
    events: Vec<RecordedEvent>,
    /// Per stream, in stream-id order, the indexes of its events in version order.
    streams: BTreeMap<String, Vec<usize>>,
    /// Event id → index.
    ids: HashMap<String, usize>,
    checkpoints: HashMap<String, Checkpoint>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated (appends mutate only
        // after every check passed), so a poisoned lock is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Storage for MemoryStorage {
    async fn append(&self, batch: AppendBatch) -> Result<AppendResult> {
        let mut inner = self.lock();
        let current = inner
            .streams
            .get(&batch.stream_id)
            .map_or(0, |s| s.len() as u64);
        let existing: Vec<Option<ExistingEvent>> = batch
            .events
            .iter()
            .map(|event| {
                inner.ids.get(&event.id).map(|&index| {
                    let found = &inner.events[index];
                    ExistingEvent {
                        stream_id: found.stream_id.clone(),
                        version: found.version,
                        position: found.position,
                    }
                })
            })
            .collect();
        let first_version = match decide_append(&batch, current, &existing)? {
            AppendDecision::AlreadyAppended(result) => return Ok(result),
            AppendDecision::Write { first_version } => first_version,
        };
        // Build every record first so a failure leaves nothing behind.
        let start = inner.events.len();
        let recorded = batch
            .events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                event.to_recorded(
                    &batch.stream_id,
                    first_version + i as u64,
                    (start + i + 1) as u64,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let Inner {
            events,
            streams,
            ids,
            ..
        } = &mut *inner;
        let stream = streams.entry(batch.stream_id.clone()).or_default();
        for (i, event) in recorded.into_iter().enumerate() {
            ids.insert(event.id.clone(), start + i);
            stream.push(start + i);
            events.push(event);
        }
        Ok(AppendResult {
            next_expected_version: first_version + batch.events.len() as u64 - 1,
            position: events.len() as u64,
        })
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let inner = self.lock();
        let Some(indexes) = inner.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        let pick = |&index: &usize| inner.events[index].clone();
        Ok(match direction {
            Direction::Forward => {
                let skip = from_version.saturating_sub(1).min(indexes.len() as u64) as usize;
                indexes[skip..].iter().take(limit).map(pick).collect()
            }
            Direction::Backward => {
                let end = from_version.min(indexes.len() as u64) as usize;
                indexes[..end].iter().rev().take(limit).map(pick).collect()
            }
        })
    }

    async fn read_all(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> Result<Vec<RecordedEvent>> {
        let inner = self.lock();
        let wanted = |event: &&RecordedEvent| filter.matches(&event.stream_id, &event.event_type);
        let len = inner.events.len() as u64;
        Ok(match direction {
            Direction::Forward => {
                let start = from_position.min(len) as usize;
                inner.events[start..]
                    .iter()
                    .filter(wanted)
                    .take(limit)
                    .cloned()
                    .collect()
            }
            Direction::Backward => {
                let end = from_position.saturating_sub(1).min(len) as usize;
                inner.events[..end]
                    .iter()
                    .rev()
                    .filter(wanted)
                    .take(limit)
                    .cloned()
                    .collect()
            }
        })
    }

    async fn head(&self) -> Result<u64> {
        Ok(self.lock().events.len() as u64)
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        let inner = self.lock();
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        Ok(inner
            .streams
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(id, _)| id.starts_with(prefix))
            .take(limit)
            .filter_map(|(id, indexes)| {
                let last = &inner.events[*indexes.last()?];
                Some(StreamInfo {
                    stream_id: id.clone(),
                    version: last.version,
                    position: last.position,
                })
            })
            .collect())
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        Ok(self.lock().checkpoints.get(name).cloned())
    }

    async fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<()> {
        self.lock()
            .checkpoints
            .insert(name.to_owned(), checkpoint.clone());
        Ok(())
    }

    fn notifier(&self) -> AppendNotifier {
        self.notifier.clone()
    }
}
