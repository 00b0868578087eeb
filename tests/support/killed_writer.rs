//! The check after a writer process was killed mid-append (SIGKILL): every batch it
//! acknowledged is stored whole, and no batch is stored in part.
#![allow(dead_code)]

use std::collections::BTreeMap;

use evstore::RecordedEvent;

/// What the writer printed for one acknowledged batch: its size, and the version and position
/// of its last event.
pub type Acked = BTreeMap<u64, (u64, u64, u64)>;

/// Groups `events` by the `batch` number in their metadata (each event also carries the batch's
/// `size`) and checks that every stored batch is complete and contiguous, and that every
/// acknowledged batch is stored, ending at the version and position it was acknowledged with.
/// Returns the stored batches.
pub fn check_batches<'a>(
    events: &'a [RecordedEvent],
    acked: &Acked,
) -> BTreeMap<u64, Vec<&'a RecordedEvent>> {
    let mut batches: BTreeMap<u64, Vec<&RecordedEvent>> = BTreeMap::new();
    for event in events {
        let batch = event.metadata["batch"].as_u64().expect("batch");
        batches.entry(batch).or_default().push(event);
    }
    for (batch, parts) in &batches {
        let size = parts[0].metadata["size"].as_u64().expect("size");
        assert_eq!(parts.len() as u64, size, "batch {batch} is partial");
        assert!(
            parts.windows(2).all(|w| w[1].version == w[0].version + 1),
            "batch {batch} is contiguous"
        );
    }
    for (batch, (size, version, position)) in acked {
        let parts = batches
            .get(batch)
            .unwrap_or_else(|| panic!("acknowledged batch {batch} lost"));
        assert_eq!(parts.len() as u64, *size);
        let last = parts.last().expect("a stored batch has events");
        assert_eq!((last.version, last.position), (*version, *position));
    }
    batches
}
