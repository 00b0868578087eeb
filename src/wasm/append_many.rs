//! `store.appendMany([...])`: one atomic append across several streams.

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;

use super::convert;
use super::store::{promise, JsEventStore};
use crate::error::{Error, Result};
use crate::StreamAppend;

/// The parts of an `appendMany`: an array of `{ stream, events, expectedVersion? }`.
fn parts(value: &JsValue) -> Result<Vec<StreamAppend>> {
    if !Array::is_array(value) {
        return Err(Error::invalid_input(
            "appendMany takes an array of { stream, events, expectedVersion? }",
        ));
    }
    Array::from(value)
        .iter()
        .enumerate()
        .map(|(index, part)| {
            if !part.is_object() {
                return Err(Error::invalid_input(format!(
                    "append {index} must be an object {{ stream, events, expectedVersion? }}"
                )));
            }
            let named = |e: Error| match e {
                Error::InvalidInput { reason } => {
                    Error::invalid_input(format!("append {index}: {reason}"))
                }
                other => other,
            };
            let stream = convert::stream_id(&convert::field(&part, "stream")?).map_err(named)?;
            let events = convert::new_events(&convert::field(&part, "events")?).map_err(named)?;
            let expected = convert::expected_version(&part).map_err(named)?;
            Ok(StreamAppend::new(stream, expected, events))
        })
        .collect()
}

#[wasm_bindgen(js_class = EventStore)]
impl JsEventStore {
    /// Appends to several streams atomically (all or nothing); resolves to each part's result.
    #[wasm_bindgen(js_name = appendMany)]
    pub fn append_many(&self, appends: JsValue) -> Promise {
        let (store, broadcast) = (self.live(), self.broadcast());
        // Convert now, while the caller's values are what they were at the call.
        let input = parts(&appends);
        promise(async move {
            let store = store?;
            let results = store.append_many(input?).await?;
            if let (Some(broadcast), Some(last)) =
                (broadcast, results.iter().map(|r| r.position).max())
            {
                broadcast.announce(last);
            }
            Ok(results
                .into_iter()
                .map(convert::append_result)
                .collect::<Array>()
                .into())
        })
    }
}
