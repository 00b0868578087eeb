//! The common case of an append in one JS call: no lifecycle record on the stream, the expected
//! version matches, every id is new. `appendCommon` in `glue.js` runs the whole transaction — the
//! stream's last version (or its lifecycle marker, [`lifecycle_marker`](super::lifecycle_marker))
//! read with one request, the records added, the commit awaited — with the requests'
//! own handlers, so an append crosses into JS once and is awaited once, instead of once per
//! request and for the commit. Whatever it does not decide alone it hands back with nothing
//! written, and [`write_batch`](super::write_batch) decides as before.

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::errors::{corrupt, DomFailure};
use super::records;
use super::IndexedDbStorage;
use crate::error::Result;
use crate::storage::AppendBatch;
use crate::types::{AppendResult, ExpectedVersion};

#[wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// Resolves with `[nextExpectedVersion, position]` once committed, or with `null` when
    /// nothing was written and the full path must decide; rejects with what failed.
    #[wasm_bindgen(catch, js_name = appendCommon)]
    fn append_common(
        database: &web_sys::IdbDatabase,
        stream_id: &str,
        records: &Array,
        lowest: f64,
        highest: f64,
    ) -> std::result::Result<Promise, JsValue>;
}

/// The versions a stream may be at for `expected` to accept it, as JS numbers (`accepts` in
/// `types.rs`); `None` when a bound is past what a JS number holds exactly.
fn accepted_versions(expected: ExpectedVersion) -> Option<(f64, f64)> {
    match expected {
        ExpectedVersion::Any => Some((0.0, f64::INFINITY)),
        ExpectedVersion::NoStream => Some((0.0, 0.0)),
        ExpectedVersion::StreamExists => Some((1.0, f64::INFINITY)),
        ExpectedVersion::Exact(version) if version < 1 << 53 => {
            Some((version as f64, version as f64))
        }
        ExpectedVersion::Exact(_) => None,
    }
}

impl IndexedDbStorage {
    /// Appends `records` (the batch's, encoded) when the common case applies; `Ok(None)` when
    /// nothing was written and the full path must decide.
    pub(super) async fn append_common(
        &self,
        batch: &AppendBatch,
        records: &Array,
    ) -> Result<Option<AppendResult>> {
        let Some((lowest, highest)) = accepted_versions(batch.expected) else {
            return Ok(None);
        };
        if records.length() == 0 {
            return Ok(None);
        }
        self.database()?;
        let failed = |thrown: JsValue| DomFailure::from_js(&thrown).into_error("appending");
        let promise =
            append_common(&self.raw, &batch.stream_id, records, lowest, highest).map_err(failed)?;
        let outcome = JsFuture::from(promise).await.map_err(failed)?;
        if outcome.is_null() {
            return Ok(None);
        }
        let pair = Array::from(&outcome);
        let number = |index: u32, what: &str| {
            records::as_u64(&pair.get(index))
                .ok_or_else(|| corrupt(format!("{what} is not a number")))
        };
        Ok(Some(AppendResult {
            next_expected_version: number(0, "the appended version")?,
            position: number(1, "the generated key")?,
        }))
    }
}
