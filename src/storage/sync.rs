//! What a backend stores for a synced client: the **mirror** (server-confirmed events at their
//! server positions — the backend's ordinary event table), the **outbox** (pending local
//! appends) and the sync state, behind the [`SyncStorage`] trait.
//!
//! The trait is separate from [`Storage`] because only client backends need it (memory, SQLite,
//! IndexedDB); a server backend such as PostgreSQL implements [`Storage`] alone. As with
//! [`decide_append`], the one decision a backend takes inside its transaction — may this local
//! append go into the outbox? — is made by the shared [`decide_enqueue`], so every backend decides
//! the same way.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::platform::MaybeSend;
use crate::storage::{decide_append, AppendBatch, AppendDecision, ExistingEvent, Storage};
use crate::types::RecordedEvent;

/// A backend that can hold a synced client: mirror, outbox and sync state, each change atomic.
///
/// The mirror is the backend's ordinary event table, written only through
/// [`apply_sync`](Self::apply_sync) with the positions and versions the server gave, so reads,
/// subscriptions and projections over it see the server's global order. Never append to a
/// synced store's events directly (with [`Storage::append`]): local appends go to the outbox
/// through [`enqueue`](Self::enqueue).
pub trait SyncStorage: Storage {
    /// The sync state (`None` before the first [`apply_sync`](Self::apply_sync) that saved one)
    /// and every outbox entry, in the order they were enqueued.
    fn load_sync(&self) -> impl Future<Output = Result<SyncSnapshot>> + MaybeSend;

    /// A local append: in one transaction, reads the stream's mirror version, the stream's
    /// outbox entries and where the batch's event ids already are in the mirror, calls
    /// [`decide_enqueue`] and, when it says so, appends `OutboxEntry { batch_id, batch, state:
    /// Pending }` at the end of the outbox. Nothing is written on an error or a retry.
    fn enqueue(
        &self,
        batch_id: String,
        batch: AppendBatch,
    ) -> impl Future<Output = Result<LocalAppend>> + MaybeSend;

    /// Applies `change` atomically, in this order: clear the mirror (`reset_mirror`), insert
    /// `events` at their given positions and versions, remove the outbox entries `remove`,
    /// mark `confirm`ed entries, append `add` at the end of the outbox (unchecked: the caller
    /// decided them), and replace the sync state with `state` when given.
    ///
    /// `events` must be in increasing position order, every position above the mirror's head
    /// (after the reset), with ids not in the mirror; otherwise nothing is written and the
    /// call fails with [`Error::InvalidInput`] (see [`SyncChange::check_events`]).
    fn apply_sync(&self, change: SyncChange) -> impl Future<Output = Result<()>> + MaybeSend;
}

/// The durable sync state of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// This client's id, sent with every push (generated on first use).
    pub client_id: String,
    /// The id of the server store the mirror came from (`None` before the first contact).
    pub store_id: Option<String>,
    /// The server position pulled up to: the next pull asks for events after it.
    pub pulled: u64,
}

/// What [`SyncStorage::load_sync`] returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSnapshot {
    /// The sync state, if one was saved.
    pub state: Option<SyncState>,
    /// The outbox, oldest first.
    pub outbox: Vec<OutboxEntry>,
}

/// One pending local append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The id of this batch (a UUID), unique in the outbox.
    pub batch_id: String,
    /// The stream, expectation and events (ids assigned) as the application appended them.
    pub batch: AppendBatch,
    /// Where the batch stands.
    pub state: OutboxState,
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Not yet confirmed by the server.
    Pending,
    /// The server has the batch, its last event at `position`; the entry leaves the outbox
    /// once the mirror has pulled past that position.
    Confirmed {
        /// The server position of the batch's last event.
        position: u64,
    },
}

/// The result of a local append to a synced store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAppend {
    /// The stream's version after the append, counting pending events: pass it as
    /// [`ExpectedVersion::Exact`](crate::ExpectedVersion::Exact) next time.
    pub next_expected_version: u64,
    /// The outbox batch holding the events (`None` when a retried append's events are already
    /// confirmed in the mirror).
    pub batch_id: Option<String>,
    /// The server position of the last event, once confirmed: `None` while pending (a position
    /// exists only once the server assigned it).
    pub position: Option<u64>,
}

/// A set of changes [`SyncStorage::apply_sync`] applies in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncChange {
    /// Clear the mirror first (the server store changed). The outbox is kept.
    pub reset_mirror: bool,
    /// Confirmed events to insert into the mirror, at their server positions.
    pub events: Vec<RecordedEvent>,
    /// Outbox entries to remove, by batch id (unknown ids are ignored).
    pub remove: Vec<String>,
    /// Outbox entries to mark [`OutboxState::Confirmed`], by batch id, with their position.
    pub confirm: Vec<(String, u64)>,
    /// Entries to append to the outbox.
    pub add: Vec<OutboxEntry>,
    /// Outbox entries to mark [`OutboxState::Pending`] again (after a server store change).
    pub unconfirm: Vec<String>,
    /// The new sync state.
    pub state: Option<SyncState>,
}

impl SyncChange {
    /// Checks `events` against the mirror's `head` (after any reset): increasing positions, all
    /// above `head`. Backends call it before writing anything.
    pub fn check_events(&self, head: u64) -> Result<()> {
        let mut last = head;
        for event in &self.events {
            if event.position <= last {
                return Err(Error::invalid_input(format!(
                    "mirror event {} at position {} is not above position {last}",
                    event.id, event.position
                )));
            }
            last = event.position;
        }
        Ok(())
    }

    /// The outbox after this change, given the outbox before it (for backends that rewrite
    /// their outbox as a whole).
    pub fn apply_to_outbox(&self, outbox: &mut Vec<OutboxEntry>) {
        outbox.retain(|entry| !self.remove.contains(&entry.batch_id));
        for entry in outbox.iter_mut() {
            if let Some((_, position)) = self.confirm.iter().find(|(id, _)| *id == entry.batch_id) {
                entry.state = OutboxState::Confirmed {
                    position: *position,
                };
            }
            if self.unconfirm.contains(&entry.batch_id) {
                entry.state = OutboxState::Pending;
            }
        }
        outbox.extend(self.add.iter().cloned());
    }
}

/// Decides a local append from what the backend read inside its transaction: the stream's
/// `mirror_version` (confirmed events), the stream's outbox entries in order, and for each event
/// of the batch where its id already is in the mirror (`None` when it is not).
///
/// The stream's current version is its mirror version plus its pending events, so appends
/// from two tabs against the same version conflict at once. An event id found in the stream's
/// outbox counts at the version it will get. The rules are those of [`decide_append`]: a batch
/// whose ids are all there in order, at the versions this append would have given them, is a
/// retry (`Ok(Some(result))`, nothing to write); any other reuse of an id is
/// [`Error::DuplicateEventId`]; an expectation the current version fails is
/// [`Error::WrongExpectedVersion`].
///
/// An id reused from another stream's pending batch is not seen here; the server refuses it
/// on push ([`BatchResult::Rejected`](crate::sync::BatchResult::Rejected)).
pub fn decide_enqueue(
    batch: &AppendBatch,
    mirror_version: u64,
    stream_outbox: &[OutboxEntry],
    batch_id: &str,
    in_mirror: &[Option<ExistingEvent>],
) -> Result<EnqueueDecision> {
    let mut pending = Vec::new();
    for entry in stream_outbox {
        for event in &entry.batch.events {
            pending.push((event.id.as_str(), &entry.batch_id, entry.state));
        }
    }
    let existing: Vec<Option<ExistingEvent>> = batch
        .events
        .iter()
        .zip(in_mirror)
        .map(|(event, found)| {
            found.clone().or_else(|| {
                pending
                    .iter()
                    .position(|(id, _, _)| *id == event.id)
                    .map(|offset| ExistingEvent {
                        stream_id: batch.stream_id.clone(),
                        version: mirror_version + offset as u64 + 1,
                        position: 0,
                    })
            })
        })
        .collect();
    let current = mirror_version + pending.len() as u64;
    match decide_append(batch, current, &existing)? {
        AppendDecision::Write { .. } => Ok(EnqueueDecision::Write(LocalAppend {
            next_expected_version: current + batch.events.len() as u64,
            batch_id: Some(batch_id.to_owned()),
            position: None,
        })),
        AppendDecision::AlreadyAppended(result) => {
            let queued = pending
                .iter()
                .find(|(id, _, _)| Some(*id) == batch.events.last().map(|e| e.id.as_str()));
            Ok(EnqueueDecision::AlreadyDone(match queued {
                Some((_, batch_id, state)) => LocalAppend {
                    next_expected_version: result.next_expected_version,
                    batch_id: Some((*batch_id).clone()),
                    position: match state {
                        OutboxState::Pending => None,
                        OutboxState::Confirmed { position } => Some(*position),
                    },
                },
                None => LocalAppend {
                    next_expected_version: result.next_expected_version,
                    batch_id: None,
                    position: Some(result.position),
                },
            }))
        }
    }
}

/// What a backend does with a local append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueDecision {
    /// Append the entry to the outbox and return this.
    Write(LocalAppend),
    /// An identical append is already in the outbox or the mirror: write nothing, return this.
    AlreadyDone(LocalAppend),
}

impl EnqueueDecision {
    /// The result the caller gets either way.
    pub fn result(&self) -> &LocalAppend {
        match self {
            EnqueueDecision::Write(result) | EnqueueDecision::AlreadyDone(result) => result,
        }
    }
}

/// Pending events as [`RecordedEvent`]s of their stream, for reads that include them: versions
/// after `mirror_version` in outbox order, position 0 (no position until confirmed).
pub fn pending_as_recorded(
    mirror_version: u64,
    stream_outbox: &[OutboxEntry],
) -> Result<Vec<RecordedEvent>> {
    let mut version = mirror_version;
    let mut out = Vec::new();
    for entry in stream_outbox {
        for event in &entry.batch.events {
            version += 1;
            out.push(event.to_recorded(&entry.batch.stream_id, version, 0)?);
        }
    }
    Ok(out)
}

/// The outbox entries of `stream`, in order.
pub fn stream_entries(outbox: &[OutboxEntry], stream: &str) -> Vec<OutboxEntry> {
    outbox
        .iter()
        .filter(|entry| entry.batch.stream_id == stream)
        .cloned()
        .collect()
}
