//! Time-based retention (`maxAge`): which events the `maxAge` of their stream still keeps.
//!
//! Unlike every other lifecycle removal, an event expires without any write: the store hides
//! expired events on every read path ([`Retention::keeps`], applied once in the store's page
//! reads, and by export and the sync server, which read the storage directly), and the backends
//! remove them physically at the next append to the stream and at a
//! [`scavenge`](crate::EventStore::scavenge). The physical removal always keeps the stream's
//! last event (hidden once expired), so that the stream's version and numbering stay as they
//! are, as KurrentDB's scavenge keeps the last event of a stream.

use std::collections::HashMap;

use crate::error::Result;
use crate::platform::now_millis;
use crate::storage::{Storage, StreamRecord};
use crate::types::RecordedEvent;

/// The streams that have a `maxAge`, each with it in seconds, in no particular order: what
/// [`Storage::max_ages`] returns (a list rather than a map: it is small, and the browser package
/// stays smaller without another map type).
pub type MaxAges = Vec<(String, u64)>;

/// The first `recorded_at` (UTC milliseconds) that a `max_age` of `seconds` keeps at `now`:
/// events recorded before it are expired.
pub fn expiry_cutoff(seconds: u64, now: u64) -> u64 {
    now.saturating_sub(seconds.saturating_mul(1000))
}

/// Updates `max_ages` (the map a backend keeps beside its stream records) for `stream`, whose
/// record is now `record`; `true` when the map changed.
pub fn update_max_ages(max_ages: &mut MaxAges, stream: &str, record: &StreamRecord) -> bool {
    let found = max_ages.iter().position(|(id, _)| id == stream);
    match (found, record.metadata.max_age) {
        (Some(index), Some(age)) if max_ages[index].1 == age => false,
        (Some(index), Some(age)) => {
            max_ages[index].1 = age;
            true
        }
        (None, Some(age)) => {
            max_ages.push((stream.to_owned(), age));
            true
        }
        (Some(index), None) => {
            max_ages.swap_remove(index);
            true
        }
        (None, None) => false,
    }
}

/// Which events the `maxAge` of their streams keeps, as of one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Per stream with a `maxAge`: the first `recorded_at` it keeps.
    cutoffs: HashMap<String, u64>,
}

impl Retention {
    /// The retention of `max_ages` at `now` (UTC milliseconds).
    pub fn at(max_ages: MaxAges, now: u64) -> Self {
        Retention {
            cutoffs: max_ages
                .into_iter()
                .map(|(stream, age)| (stream, expiry_cutoff(age, now)))
                .collect(),
        }
    }

    /// The retention of `storage`'s streams now.
    pub async fn load<S: Storage>(storage: &S) -> Result<Self> {
        Ok(Self::at(storage.max_ages().await?, now_millis()))
    }

    /// Whether no stream has a `maxAge` (every event is kept).
    pub fn is_empty(&self) -> bool {
        self.cutoffs.is_empty()
    }

    /// Whether `stream` has a `maxAge`.
    pub fn limits(&self, stream: &str) -> bool {
        self.cutoffs.contains_key(stream)
    }

    /// Whether `event` is kept: its stream has no `maxAge`, or it was recorded within it.
    pub fn keeps(&self, event: &RecordedEvent) -> bool {
        self.cutoffs
            .get(&event.stream_id)
            .is_none_or(|cutoff| event.recorded_at >= *cutoff)
    }

    /// `events` without the expired ones.
    pub fn retain(&self, mut events: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
        if !self.is_empty() {
            events.retain(|event| self.keeps(event));
        }
        events
    }
}
