//! The in-memory backend, on every target: the reference implementation of [`Storage`] and
//! [`SyncStorage`].

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::platform::now_millis;
use crate::storage::{
    append_basis, decide_append_on, decide_enqueue, decide_stream_change, expiry_cutoff,
    record_after_append, stream_entries, AppendBatch, AppendDecision, AppendNotifier, Checkpoint,
    EnqueueDecision, ExistingEvent, LocalAppend, ManyOutcomes, MaxAges, OutboxEntry, OutboxState,
    Storage, StreamChange, StreamRecord, SyncChange, SyncSnapshot, SyncState, SyncStorage,
};
use crate::types::{AppendResult, Direction, Filter, RecordedEvent, StreamInfo};

/// Keeps everything in memory; gone when the last handle is dropped.
///
/// Clones share the same data, like several handles on one database, and an append through a
/// store over one clone wakes the subscriptions of stores over the others. Appends get gapless
/// positions; a synced client's mirror holds the server's positions, gaps included.
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
#[derive(Debug, Clone)]
pub struct MemoryStorage {
    inner: Arc<Mutex<Inner>>,
    notifier: AppendNotifier,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    /// All events in increasing position order (positions may have gaps in a mirror).
    events: Vec<RecordedEvent>,
    /// Per stream, in stream-id order, the indexes of its events in version order.
    streams: BTreeMap<String, Vec<usize>>,
    /// Event id → index.
    ids: HashMap<String, usize>,
    checkpoints: HashMap<String, Checkpoint>,
    /// Lifecycle records of the streams a lifecycle operation touched.
    records: HashMap<String, StreamRecord>,
    /// The head before events were removed: the head never goes down.
    removed_head: u64,
    /// A random id made with the store.
    store_id: String,
    /// The sync client's state and outbox.
    sync: Option<SyncState>,
    outbox: Vec<OutboxEntry>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStorage {
            inner: Arc::new(Mutex::new(Inner {
                store_id: uuid::Uuid::now_v7().to_string(),
                ..Inner::default()
            })),
            notifier: AppendNotifier::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated (writes mutate only
        // after every check passed), so a poisoned lock is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn head(&self) -> u64 {
        self.events
            .last()
            .map_or(0, |event| event.position)
            .max(self.removed_head)
    }

    /// Removes the events of `stream` below version `before`, keeping the head.
    fn remove_events(&mut self, stream: &str, before: u64) {
        if before == 0 {
            return;
        }
        self.remove_where(|event| event.stream_id == stream && event.version < before);
    }

    /// Removes the events of `stream` that a `maxAge` of `seconds` no longer keeps at `now`,
    /// except its last event.
    fn remove_expired(&mut self, stream: &str, seconds: u64, now: u64) {
        let cutoff = expiry_cutoff(seconds, now);
        let last = self.stream_version(stream);
        let expired = |event: &RecordedEvent| {
            event.stream_id == stream && event.version < last && event.recorded_at < cutoff
        };
        if self.events.iter().any(expired) {
            self.remove_where(expired);
        }
    }

    /// Removes the events `remove` picks, keeping the head.
    fn remove_where(&mut self, remove: impl Fn(&RecordedEvent) -> bool) {
        self.removed_head = self.head();
        self.events.retain(|event| !remove(event));
        self.streams.clear();
        self.ids.clear();
        for (index, event) in self.events.iter().enumerate() {
            self.ids.insert(event.id.clone(), index);
            self.streams
                .entry(event.stream_id.clone())
                .or_default()
                .push(index);
        }
    }

    fn stream_version(&self, stream: &str) -> u64 {
        self.streams
            .get(stream)
            .and_then(|indexes| indexes.last())
            .map_or(0, |&index| self.events[index].version)
    }

    fn existing(&self, id: &str) -> Option<ExistingEvent> {
        self.ids.get(id).map(|&index| {
            let found = &self.events[index];
            ExistingEvent {
                stream_id: found.stream_id.clone(),
                version: found.version,
                position: found.position,
            }
        })
    }

    /// Adds events whose positions are above the head (checked by the caller).
    fn push_events(&mut self, recorded: Vec<RecordedEvent>) {
        for event in recorded {
            let index = self.events.len();
            self.ids.insert(event.id.clone(), index);
            self.streams
                .entry(event.stream_id.clone())
                .or_default()
                .push(index);
            self.events.push(event);
        }
    }

    /// An append, decided and written under the lock.
    fn append(&mut self, batch: &AppendBatch) -> Result<AppendResult> {
        let inner = self;
        let record = inner.records.get(&batch.stream_id).cloned();
        let stored = inner.stream_version(&batch.stream_id);
        let basis = append_basis(&batch.stream_id, record.as_ref(), stored)?;
        let existing: Vec<Option<ExistingEvent>> =
            batch.events.iter().map(|e| inner.existing(&e.id)).collect();
        let first_version = match decide_append_on(batch, basis, &existing)? {
            AppendDecision::AlreadyAppended(result) => return Ok(result),
            AppendDecision::Write { first_version } => first_version,
        };
        // Build every record first so a failure leaves nothing behind.
        let head = inner.head();
        let recorded = batch
            .events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                event.to_recorded(
                    &batch.stream_id,
                    first_version + i as u64,
                    head + i as u64 + 1,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        inner.push_events(recorded);
        let version = first_version + batch.events.len() as u64 - 1;
        let position = inner.head();
        let max_age = record.as_ref().and_then(|record| record.metadata.max_age);
        if let Some((next, remove_before)) =
            record.and_then(|record| record_after_append(&record, version))
        {
            inner.remove_events(&batch.stream_id, remove_before);
            inner.records.insert(batch.stream_id.clone(), next);
        }
        if let Some(seconds) = max_age {
            inner.remove_expired(&batch.stream_id, seconds, now_millis());
        }
        Ok(AppendResult {
            next_expected_version: version,
            position,
        })
    }

    /// The streams with a `maxAge`.
    fn max_ages(&self) -> MaxAges {
        self.records
            .iter()
            .filter_map(|(stream, record)| Some((stream.clone(), record.metadata.max_age?)))
            .collect()
    }

    /// The index of the first event with a position above `position`.
    fn after(&self, position: u64) -> usize {
        self.events
            .partition_point(|event| event.position <= position)
    }
}

impl Storage for MemoryStorage {
    async fn append(&self, batch: AppendBatch) -> Result<AppendResult> {
        self.lock().append(&batch)
    }

    async fn append_many(&self, batches: Vec<AppendBatch>) -> Result<Vec<AppendResult>> {
        let mut inner = self.lock();
        // Each part is appended as a lone append would be (lifecycle records, `maxCount`
        // retention and all), seeing the parts before it; if any is refused, the whole store goes
        // back to how it was. The copy costs O(store) per call: this backend is for tests and
        // development, where that is the simple, obviously right choice.
        let before = inner.clone();
        let mut outcomes = ManyOutcomes::new();
        let decided = batches
            .iter()
            .try_for_each(|batch| outcomes.record(inner.append(batch)))
            .and_then(|()| outcomes.finish());
        if decided.is_err() {
            *inner = before;
        }
        decided
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
        // Versions increase along `indexes` (consecutive, though truncation may remove the first).
        let below = |version: u64| indexes.partition_point(|&i| inner.events[i].version < version);
        Ok(match direction {
            Direction::Forward => indexes[below(from_version)..]
                .iter()
                .take(limit)
                .map(pick)
                .collect(),
            Direction::Backward => indexes[..below(from_version.saturating_add(1))]
                .iter()
                .rev()
                .take(limit)
                .map(pick)
                .collect(),
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
        Ok(match direction {
            Direction::Forward => inner.events[inner.after(from_position)..]
                .iter()
                .filter(wanted)
                .take(limit)
                .cloned()
                .collect(),
            Direction::Backward => {
                let end = inner.after(from_position.saturating_sub(1));
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
        Ok(self.lock().head())
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

    async fn stream_record(&self, stream_id: &str) -> Result<Option<StreamRecord>> {
        Ok(self.lock().records.get(stream_id).cloned())
    }

    async fn change_stream(&self, change: StreamChange) -> Result<StreamRecord> {
        let mut inner = self.lock();
        let record = inner.records.get(&change.stream_id).cloned();
        let stored = inner.stream_version(&change.stream_id);
        let Some(plan) = decide_stream_change(&change, record.as_ref(), stored)? else {
            return Ok(record.unwrap_or_default());
        };
        inner.remove_events(&change.stream_id, plan.remove_before);
        inner
            .records
            .insert(change.stream_id.clone(), plan.record.clone());
        if let Some(marker) = &plan.marker {
            inner.append(marker)?;
        }
        Ok(plan.record)
    }

    async fn max_ages(&self) -> Result<MaxAges> {
        Ok(self.lock().max_ages())
    }

    async fn scavenge(&self) -> Result<()> {
        let mut inner = self.lock();
        let now = now_millis();
        for (stream, seconds) in inner.max_ages() {
            inner.remove_expired(&stream, seconds, now);
        }
        Ok(())
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

    async fn store_id(&self) -> Result<String> {
        Ok(self.lock().store_id.clone())
    }

    fn notifier(&self) -> AppendNotifier {
        self.notifier.clone()
    }
}

impl SyncStorage for MemoryStorage {
    async fn load_sync(&self) -> Result<SyncSnapshot> {
        let inner = self.lock();
        Ok(SyncSnapshot {
            state: inner.sync.clone(),
            outbox: inner.outbox.clone(),
        })
    }

    async fn enqueue(&self, batch_id: String, batch: AppendBatch) -> Result<LocalAppend> {
        let mut inner = self.lock();
        let mirror_version = inner.stream_version(&batch.stream_id);
        let in_mirror: Vec<Option<ExistingEvent>> =
            batch.events.iter().map(|e| inner.existing(&e.id)).collect();
        let stream_outbox = stream_entries(&inner.outbox, &batch.stream_id);
        if inner.outbox.iter().any(|entry| entry.batch_id == batch_id) {
            return Err(Error::invalid_input(format!(
                "batch id {batch_id} is already in the outbox"
            )));
        }
        match decide_enqueue(
            &batch,
            mirror_version,
            &stream_outbox,
            &batch_id,
            &in_mirror,
        )? {
            EnqueueDecision::AlreadyDone(result) => Ok(result),
            EnqueueDecision::Write(result) => {
                inner.outbox.push(OutboxEntry {
                    batch_id,
                    batch,
                    state: OutboxState::Pending,
                });
                Ok(result)
            }
        }
    }

    async fn apply_sync(&self, change: SyncChange) -> Result<()> {
        let mut inner = self.lock();
        let head = if change.reset_mirror { 0 } else { inner.head() };
        change.check_events(head)?;
        if let Some(event) = change
            .events
            .iter()
            .find(|event| !change.reset_mirror && inner.ids.contains_key(&event.id))
        {
            return Err(Error::DuplicateEventId {
                id: event.id.clone(),
            });
        }
        if change.reset_mirror {
            inner.events.clear();
            inner.streams.clear();
            inner.ids.clear();
            inner.records.clear();
            inner.removed_head = 0;
        }
        inner.push_events(change.events.clone());
        change.apply_to_outbox(&mut inner.outbox);
        if let Some(state) = change.state {
            inner.sync = Some(state);
        }
        Ok(())
    }
}
