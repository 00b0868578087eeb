//! Disposal: `free()`, `[Symbol.dispose]()` (`using`) and, for the projector,
//! `[Symbol.asyncDispose]()` (`await using`) close what they dispose — a store closes, a
//! subscription stops delivering, a projector stops — and every later call fails with an
//! `EvstoreError` of code `Closed` instead of wasm-bindgen's "null pointer passed to rust".
//!
//! wasm-bindgen generates `free()` on each class (it drops the Rust value and zeroes the
//! object's pointer). When the module starts, each class's prototype is wrapped once: `free()`
//! first calls the class's close method, then frees, and remembers the object as disposed; every
//! method of a disposed object fails with `Closed` (async methods reject, the others throw), its
//! close method does nothing, and `isClosed` reads `true`. Dropping without `free()` (the
//! garbage collector) closes nothing: a store left unreferenced keeps serving its subscriptions.

use wasm_bindgen::prelude::*;

use super::decider::JsDecider;
use super::projector::JsProjector;
use super::store::JsEventStore;
use super::subscription::JsSubscription;
use crate::error::Error;

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// Wraps the prototype of `instance`'s class (once), then frees `instance`. `close` names the
    /// method that disposing calls first (`""`: none).
    fn harden(instance: JsValue, close: &str, sync_methods: Vec<String>, closed_message: &str);
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| (*name).to_owned()).collect()
}

/// Runs when the module is instantiated (`init()` / `initSync()`): wraps every class once,
/// through a throwaway instance of each.
#[wasm_bindgen(start, js_name = __evstoreStart, skip_typescript)]
fn start() {
    let message = Error::Closed.to_string();
    let store = JsEventStore::detached();
    harden(JsDecider::detached().into(), "", names(&[]), &message);
    let projector = JsValue::from(JsProjector::new(&store));
    super::wait::install_wait_for(&projector);
    harden(projector, "stop", names(&["add", "status"]), &message);
    harden(
        JsSubscription::detached().into(),
        "close",
        names(&["close"]),
        &message,
    );
    harden(
        store.into(),
        "close",
        names(&[
            "close",
            "subscribe",
            "subscribeToStream",
            "subscribeAll",
            "iterateStream",
            "iterateAll",
            "upcast",
        ]),
        &message,
    );
}
