//! What every backend does with the outcome of each batch of an
//! [`append_many`](super::Storage::append_many): collect the results, collect the expected
//! version conflicts (so the error names every stream that failed), stop at any other error.

use crate::error::{Error, Result, VersionConflict};
use crate::types::AppendResult;

/// The outcomes of the batches of one `append_many` so far, in call order.
///
/// A backend decides the batches one after another inside its transaction (each seeing the
/// writes of the batches before it), records each outcome here, and writes a batch only when it
/// was decided a write. A batch refused for its expected version is not written and the others
/// are still decided, so [`finish`](Self::finish) can name every conflicting stream; any other
/// refusal ends the call at once. If `finish` fails, the backend must write nothing at all.
#[derive(Debug, Default)]
pub struct ManyOutcomes {
    results: Vec<AppendResult>,
    conflicts: Vec<VersionConflict>,
}

impl ManyOutcomes {
    /// No outcome yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one batch's outcome: its result, or a refusal. A
    /// [`Error::WrongExpectedVersion`] is kept for [`finish`](Self::finish) and `Ok(())`
    /// returned (decide the next batch); any other error is returned (give up, write nothing).
    pub fn record(&mut self, outcome: Result<AppendResult>) -> Result<()> {
        match outcome {
            Ok(result) => {
                self.results.push(result);
                Ok(())
            }
            Err(error @ Error::WrongExpectedVersion { .. }) => {
                self.conflicts.extend(error.conflicts());
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Whether a batch was refused for its expected version so far.
    pub fn has_conflicts(&self) -> bool {
        !self.conflicts.is_empty()
    }

    /// Every batch's result, in call order; or, if any batch was refused for its expected
    /// version, one [`Error::WrongExpectedVersion`] naming the first such stream and the
    /// others in `others`.
    pub fn finish(self) -> Result<Vec<AppendResult>> {
        let mut conflicts = self.conflicts.into_iter();
        match conflicts.next() {
            None => Ok(self.results),
            Some(first) => Err(Error::WrongExpectedVersion {
                stream: first.stream,
                expected: first.expected,
                actual: first.actual,
                others: conflicts.collect(),
            }),
        }
    }
}
