//! Integers between evstore's `u64` positions, versions and counts and the signed 64-bit
//! integers SQL databases store (SQLite `INTEGER`, PostgreSQL `bigint`).

use crate::error::{Error, Result};

/// A `u64` bound as a signed 64-bit integer; bounds past `i64::MAX` mean "everything", which
/// `i64::MAX` also means for positions and versions such a column can hold.
pub(crate) fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A read limit as a signed 64-bit integer (`usize::MAX`, "no limit", becomes `i64::MAX`).
pub(crate) fn clamp_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A stored integer as a `u64`; a negative one is an [`Error::Storage`] naming `what`.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| {
        Error::storage(format!(
            "stored {what} {value} is negative; the store was altered outside evstore"
        ))
    })
}
