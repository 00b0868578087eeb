//! `store.upcast(type, fn)`: a JS upcaster, applied by the core's upcasters (`crate::upcast`) to
//! every event read through the store. The hook is one small function, [`upcast_in_js`]: the
//! event in as a JS object, the JS function's result back as a recorded event.

use js_sys::{Function, Promise};
use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::convert;
use super::error::{describe, thrown_message, to_js};
use super::store::JsEventStore;
use crate::error::Error;
use crate::types::RecordedEvent;

#[wasm_bindgen(js_class = EventStore)]
impl JsEventStore {
    /// Registers `upcaster` (a function) for events stored with type `event_type`.
    pub fn upcast(&self, event_type: JsValue, upcaster: JsValue) -> Result<(), JsValue> {
        let store = self.live().map_err(to_js)?;
        let event_type = event_type
            .as_string()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| to_js(Error::invalid_input("upcast needs a non-empty event type")))?;
        let function: Function = upcaster.dyn_into().map_err(|value| {
            to_js(Error::invalid_input(format!(
                "an upcaster must be a function, got {}",
                describe(&value)
            )))
        })?;
        store.register_upcaster(event_type, move |event| upcast_in_js(&function, event));
        Ok(())
    }
}

/// Calls the JS upcaster on `event` (as the JS object reads hand out) and reads its result back.
fn upcast_in_js(function: &Function, event: RecordedEvent) -> Result<RecordedEvent, String> {
    let returned = function
        .call1(&JsValue::UNDEFINED, &convert::recorded_event(&event))
        .map_err(|thrown| format!("it threw: {}", thrown_message(&thrown)))?;
    if returned.is_instance_of::<Promise>() {
        return Err("it returned a Promise; upcasters must be synchronous".to_owned());
    }
    if !returned.is_object() {
        return Err(format!(
            "it returned {}, not an event object",
            describe(&returned)
        ));
    }
    let text = convert::json_text(&returned, "the upcast event").map_err(|e| e.to_string())?;
    let back: JsEvent = serde_json::from_str(&text)
        .map_err(|e| format!("it returned an event that is not one: {e}"))?;
    Ok(RecordedEvent {
        id: back.id,
        stream_id: back.stream_id,
        version: back.version,
        position: back.position,
        event_type: back.event_type,
        data: back.data,
        metadata: back.metadata,
        recorded_at: back.recorded_at,
        correlation_id: back.correlation_id,
        causation_id: back.causation_id,
    })
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A recorded event as JS reads it (see `convert::recorded_event`), read back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsEvent {
    id: String,
    stream_id: String,
    version: u64,
    position: u64,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    data: Value,
    /// A missing `metadata` is empty; any other non-object is refused by the core.
    #[serde(default = "empty_object")]
    metadata: Value,
    recorded_at: u64,
    correlation_id: Option<String>,
    causation_id: Option<String>,
}
