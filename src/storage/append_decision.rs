//! The decision every backend takes inside its append transaction.

use crate::error::{Error, Result};
use crate::storage::{check_expected, AppendBasis, AppendBatch};
use crate::types::AppendResult;

/// Where an event id of the batch is already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingEvent {
    /// The stream it is in.
    pub stream_id: String,
    /// Its version there.
    pub version: u64,
    /// Its global position.
    pub position: u64,
}

/// What the backend must do with an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendDecision {
    /// Write the batch's events at versions `first_version`, `first_version + 1`, ….
    Write {
        /// The version of the batch's first event.
        first_version: u64,
    },
    /// The batch was already appended (an idempotent retry): write nothing, return this.
    AlreadyAppended(AppendResult),
}

/// Decides an append from what the backend read inside its write transaction: the stream's
/// `current_version` (0 = no stream) and, for each event of the batch in order, where its id is
/// already stored (`None` when it is new).
///
/// - If every id already exists, in this stream, in this order, at consecutive versions that the
///   batch's expected version would have given them, the append is a retry:
///   [`AppendDecision::AlreadyAppended`] with the original result.
/// - Any other reuse of an existing id is [`Error::DuplicateEventId`].
/// - Otherwise the expected version is checked against `current_version`
///   ([`Error::WrongExpectedVersion`] on mismatch) and the batch is written after it.
pub fn decide_append(
    batch: &AppendBatch,
    current_version: u64,
    existing: &[Option<ExistingEvent>],
) -> Result<AppendDecision> {
    let basis = AppendBasis {
        current: current_version,
        after: current_version,
    };
    decide_append_on(batch, basis, existing)
}

/// [`decide_append`] for a stream whose numbering does not follow its visible version (a
/// soft-deleted stream, see [`append_basis`](crate::storage::append_basis)): the expected
/// version is checked against `basis.current` and the batch is written after `basis.after`.
pub fn decide_append_on(
    batch: &AppendBatch,
    basis: AppendBasis,
    existing: &[Option<ExistingEvent>],
) -> Result<AppendDecision> {
    debug_assert_eq!(existing.len(), batch.events.len());
    if let Some(result) = earlier_identical_append(batch, existing) {
        return Ok(AppendDecision::AlreadyAppended(result));
    }
    if let Some(index) = existing.iter().position(Option::is_some) {
        return Err(Error::DuplicateEventId {
            id: batch.events[index].id.clone(),
        });
    }
    check_expected(&batch.stream_id, batch.expected, basis.current)?;
    Ok(AppendDecision::Write {
        first_version: basis.after + 1,
    })
}

fn earlier_identical_append(
    batch: &AppendBatch,
    existing: &[Option<ExistingEvent>],
) -> Option<AppendResult> {
    let first = existing.first()?.as_ref()?;
    let in_place = existing.iter().enumerate().all(|(offset, found)| {
        found.as_ref().is_some_and(|found| {
            found.stream_id == batch.stream_id && found.version == first.version + offset as u64
        })
    });
    // The version the stream had before the original append must satisfy the expectation.
    if !in_place || !batch.expected.accepts(first.version - 1) {
        return None;
    }
    let last = existing.last()?.as_ref()?;
    Some(AppendResult {
        next_expected_version: last.version,
        position: last.position,
    })
}
