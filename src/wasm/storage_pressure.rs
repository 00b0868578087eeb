//! `store.persist()` and `store.estimate()`: the origin's storage quota, through
//! `navigator.storage` (the `StorageManager`), in a page and in a worker alike.
//!
//! Browsers keep one quota per origin, shared by every database of the origin, so both calls
//! speak of the origin, whichever store they are called on. When a write does not fit,
//! IndexedDB aborts its transaction with a `QuotaExceededError`, which the backend reports as
//! code `QuotaExceeded` (see `storage/indexeddb/errors.rs`); nothing of that write is stored.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::thrown_message;
use super::store::{promise, JsEventStore};
use crate::error::Error;

#[wasm_bindgen(typescript_custom_section)]
const STORAGE_PRESSURE_TYPES: &'static str = r#"
/** What `store.estimate()` resolves to: the origin's storage, in bytes. */
export interface QuotaEstimate {
  /** Bytes the origin uses (every database of the origin, and its other storage). */
  usage: number;
  /**
   * The quota the browser reports, in bytes. Browsers pad it (Chromium reports about usage +
   * 10 GiB, whatever the real limit): a gauge, not a promise. A write past the real quota fails
   * with code `QuotaExceeded`.
   */
  quota: number;
  /** Whether the origin's storage is persistent (see `persist()`). */
  persisted: boolean;
}
"#;

#[wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// `navigator.storage.persist()`; in a worker, which has no `persist()`,
    /// `navigator.storage.persisted()`; `false` without a `StorageManager`.
    #[wasm_bindgen(js_name = storagePersist)]
    fn storage_persist() -> Promise;

    /// `navigator.storage.estimate()` and `persisted()` as a `QuotaEstimate`, or `undefined`
    /// without a `StorageManager`.
    #[wasm_bindgen(js_name = storageEstimate)]
    fn storage_estimate() -> Promise;
}

/// A failure of `navigator.storage.<call>`.
fn refused(call: &str, thrown: &JsValue) -> Error {
    Error::storage(format!(
        "navigator.storage.{call} failed: {}",
        thrown_message(thrown)
    ))
}

#[wasm_bindgen(js_class = EventStore)]
impl JsEventStore {
    /// Asks the browser to make the origin's storage persistent (`navigator.storage.persist()`):
    /// persistent storage is not evicted under storage pressure. Resolves to whether it is
    /// persistent now. The browser decides (Chromium grants it to sites the user engages with,
    /// Firefox may ask the user); in a worker, where browsers offer no `persist()`, it resolves
    /// to whether the origin already is persistent, and without `navigator.storage` (an
    /// insecure context, Node) to `false`.
    pub fn persist(&self) -> Promise {
        let store = self.live();
        promise(async move {
            store?;
            JsFuture::from(storage_persist())
                .await
                .map(|granted| JsValue::from_bool(granted.is_truthy()))
                .map_err(|thrown| refused("persist()", &thrown))
        })
    }

    /// The origin's storage usage and quota in bytes, and whether it is persistent
    /// (`navigator.storage.estimate()`, also in workers). Browsers round and pad these numbers
    /// (usage is an estimate); rejects with code `Storage` where there is no
    /// `navigator.storage` (an insecure context, Node).
    pub fn estimate(&self) -> Promise {
        let store = self.live();
        promise(async move {
            store?;
            let estimate = JsFuture::from(storage_estimate())
                .await
                .map_err(|thrown| refused("estimate()", &thrown))?;
            if estimate.is_undefined() {
                return Err(Error::storage(
                    "navigator.storage is not available here (it needs a secure context: \
                     https or localhost)",
                ));
            }
            Ok(estimate)
        })
    }
}
