//! Core errors as JS `Error`s with a stable `code` and the error's fields.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

use crate::error::Error;
use crate::types::ExpectedVersion;

/// A JS `Error` (name `EvstoreError`) with `code`, `message` and the variant's fields.
pub fn to_js(error: Error) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name("EvstoreError");
    let set = |key: &str, value: JsValue| {
        // Setting a property on a fresh Error object cannot fail.
        let _ = Reflect::set(&js, &JsValue::from_str(key), &value);
    };
    set("code", error.kind().code().into());
    match &error {
        Error::WrongExpectedVersion {
            stream,
            expected,
            actual,
            others,
        } => {
            set("stream", stream.as_str().into());
            set("expected", expected_to_js(*expected));
            set("actual", (*actual as f64).into());
            let list = js_sys::Array::new();
            for conflict in others {
                let item = js_sys::Object::new();
                let put = |key: &str, value: JsValue| {
                    let _ = Reflect::set(&item, &JsValue::from_str(key), &value);
                };
                put("stream", conflict.stream.as_str().into());
                put("expected", expected_to_js(conflict.expected));
                put("actual", (conflict.actual as f64).into());
                list.push(&item);
            }
            set("others", list.into());
        }
        Error::StreamNotFound { stream } | Error::StreamDeleted { stream } => {
            set("stream", stream.as_str().into())
        }
        Error::DuplicateEventId { id } => set("id", id.as_str().into()),
        Error::InvalidInput { reason }
        | Error::Storage { reason }
        | Error::QuotaExceeded { reason } => set("reason", reason.as_str().into()),
        Error::Codec { event_type, reason } => {
            set("eventType", event_type.as_str().into());
            set("reason", reason.as_str().into());
        }
        Error::IncompatibleSchema { found, supported } => {
            set("found", (*found as f64).into());
            set("supported", (*supported as f64).into());
        }
        Error::Closed => {}
    }
    js.unchecked_into()
}

/// The JS form of an expected version: a number or `"any"` / `"no_stream"` / `"stream_exists"`.
pub fn expected_to_js(expected: ExpectedVersion) -> JsValue {
    match expected {
        ExpectedVersion::Any => "any".into(),
        ExpectedVersion::NoStream => "no_stream".into(),
        ExpectedVersion::StreamExists => "stream_exists".into(),
        ExpectedVersion::Exact(version) => (version as f64).into(),
    }
}

/// The message of a value a JS callback threw (an `Error`'s message, or its string form).
pub fn thrown_message(thrown: &JsValue) -> String {
    if let Some(error) = thrown.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    thrown.as_string().unwrap_or_else(|| describe(thrown))
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// A value as a JS developer would write it in a message: `-1`, `1.5`, `"text"`, `true`,
    /// `null`, `undefined`, or its kind (`an object`, `a function`, …) — never Rust's
    /// `JsValue(…)`.
    pub fn describe(value: &JsValue) -> String;

    #[wasm_bindgen(js_name = isEvstoreError)]
    fn is_evstore_error_js(error: &JsValue, code: &JsValue) -> bool;
}

/// `isEvstoreError(error, code?)`: whether `error` is an `EvstoreError` (of `code`, when
/// given). Its TypeScript declaration, a type guard, is in `typescript.rs`.
#[wasm_bindgen::prelude::wasm_bindgen(js_name = isEvstoreError, skip_typescript)]
pub fn is_evstore_error(error: &JsValue, code: &JsValue) -> bool {
    is_evstore_error_js(error, code)
}
