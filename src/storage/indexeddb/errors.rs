//! Flattening IndexedDB failures into [`Error`]: a `DOMException`'s name and message become owned
//! text, so no `JsValue` ever leaves the backend.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::DomException;

use crate::error::Error;

/// A `DOMException` flattened to owned data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DomFailure {
    /// The exception's name (`"ConstraintError"`, `"QuotaExceededError"`, …).
    pub name: String,
    /// The browser's message.
    pub message: String,
}

impl DomFailure {
    pub(super) fn from_exception(exception: &DomException) -> Self {
        DomFailure {
            name: exception.name(),
            message: exception.message(),
        }
    }

    /// Any thrown JavaScript value: a `DOMException` as such, an `Error` by its name and message.
    pub(super) fn from_js(value: &JsValue) -> Self {
        if let Some(exception) = value.dyn_ref::<DomException>() {
            return Self::from_exception(exception);
        }
        match value.dyn_ref::<js_sys::Error>() {
            Some(error) => DomFailure {
                name: String::from(error.name()),
                message: String::from(error.message()),
            },
            None => DomFailure {
                name: "Error".to_owned(),
                message: format!("{value:?}"),
            },
        }
    }

    /// Whether the browser refused the write for the origin's storage quota.
    pub(super) fn is_quota(&self) -> bool {
        self.name == "QuotaExceededError"
    }

    /// The error this failure is for evstore, `context` saying what was being done.
    pub(super) fn into_error(self, context: &str) -> Error {
        if self.is_quota() {
            // Chromium aborts the commit with an empty message.
            let message = if self.message.is_empty() {
                "the origin's storage quota is used up"
            } else {
                &self.message
            };
            Error::QuotaExceeded {
                reason: format!("IndexedDB {context}: {message}"),
            }
        } else {
            Error::storage(format!(
                "IndexedDB {context} failed: {}: {}",
                self.name, self.message
            ))
        }
    }
}

/// The `DOMException` behind an idb error, if there is one.
pub(super) fn dom_failure(error: &idb::Error) -> Option<DomFailure> {
    use idb::Error as E;
    let value: &JsValue = match error {
        E::DomException(exception) => return Some(DomFailure::from_exception(exception)),
        E::AddFailed(value)
        | E::ClearFailed(value)
        | E::CountFailed(value)
        | E::CursorAdvanceFailed(value)
        | E::CursorContinueFailed(value)
        | E::CursorKeyNotFound(value)
        | E::CursorPrimaryKeyNotFound(value)
        | E::CursorValueNotFound(value)
        | E::DeleteFailed(value)
        | E::GetAllFailed(value)
        | E::GetAllKeysFailed(value)
        | E::GetFailed(value)
        | E::GetKeyFailed(value)
        | E::IndexCreateFailed(value)
        | E::IndexDeleteFailed(value)
        | E::IndexedDbDeleteFailed(value)
        | E::IndexedDbNotFound(value)
        | E::IndexedDbOpenFailed(value)
        | E::IndexNotFound(value)
        | E::KeyRangeCreateFailed(value)
        | E::ObjectStoreCreateFailed(value)
        | E::ObjectStoreDeleteFailed(value)
        | E::ObjectStoreNotFound(value)
        | E::OpenCursorFailed(value)
        | E::OpenKeyCursorFailed(value)
        | E::TransactionAbortError(value)
        | E::TransactionCommitError(value)
        | E::TransactionOpenFailed(value)
        | E::UpdateFailed(value) => value,
        _ => return None,
    };
    value
        .dyn_ref::<DomException>()
        .map(DomFailure::from_exception)
}

/// Flattens an idb error. Its `Display` says little ("idb error"), so without a `DOMException`
/// the `Debug` form is kept.
pub(super) fn idb_error(context: &str, error: idb::Error) -> Error {
    match dom_failure(&error) {
        Some(failure) => failure.into_error(context),
        None => Error::storage(format!("IndexedDB {context} failed: {error:?}")),
    }
}

/// Flattens a raw JavaScript exception (from `js_sys::Reflect` and friends).
pub(super) fn js_error(context: &str, value: &JsValue) -> Error {
    match value.dyn_ref::<DomException>() {
        Some(exception) => DomFailure::from_exception(exception).into_error(context),
        None => match value.dyn_ref::<js_sys::Error>() {
            Some(error) => Error::storage(format!(
                "IndexedDB {context} failed: {}",
                String::from(error.message())
            )),
            None => Error::storage(format!("IndexedDB {context} failed: {value:?}")),
        },
    }
}

/// A stored record that is not what evstore writes (the database was altered outside evstore).
pub(super) fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::storage(format!("IndexedDB record is corrupt: {what}"))
}
