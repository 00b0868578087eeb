//! `AbortSignal`s in options (`{ signal }`): aborting ends a subscription or an iteration (the
//! JS-side waits, `waitFor` and `Decider.handle`, reject with the signal's reason instead).

use futures::future::{self, Either};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::convert;
use crate::error::{Error, Result};

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// A promise that resolves when `signal` aborts (at once if it already has).
    #[wasm_bindgen(js_name = whenAborted)]
    fn when_aborted(signal: &AbortSignal) -> js_sys::Promise;
}

#[wasm_bindgen]
extern "C" {
    /// The DOM's (and Node's) global `AbortSignal`.
    #[derive(Clone)]
    pub type AbortSignal;

    #[wasm_bindgen(method, getter)]
    fn aborted(this: &AbortSignal) -> bool;
}

impl AbortSignal {
    /// Whether it aborted.
    pub fn is_aborted(&self) -> bool {
        self.aborted()
    }

    /// Resolves when the signal aborts.
    pub async fn aborted_future(&self) {
        let _ = JsFuture::from(when_aborted(self)).await;
    }
}

/// `options.signal`: an `AbortSignal`, or `None` when absent.
pub fn signal(options: &JsValue) -> Result<Option<AbortSignal>> {
    let value = convert::field(options, "signal")?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.dyn_into::<AbortSignal>().map(Some).map_err(|value| {
        Error::invalid_input(format!(
            "signal must be an AbortSignal, got {}",
            super::error::describe(&value)
        ))
    })
}

/// Runs `work` until it finishes or `signal` aborts (`None` then).
pub async fn until_aborted<T>(
    signal: Option<&AbortSignal>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    let Some(signal) = signal else {
        return Some(work.await);
    };
    if signal.is_aborted() {
        return None;
    }
    let aborted = signal.aborted_future();
    match future::select(Box::pin(work), Box::pin(aborted)).await {
        Either::Left((done, _)) => Some(done),
        Either::Right(((), _)) => None,
    }
}
