//! Awaiting IndexedDB requests without ever leaving the browser a freed closure to call.
//!
//! idb's request futures own the request's `success` and `error` closures and free them when they
//! are dropped, while the request still points at them. A future dropped before its request
//! settled (a subscription closed during its read, a `select` that took the other branch) thus
//! makes the browser call a freed closure later: "closure invoked recursively or after being
//! dropped", an uncaught error in the page. [`Request`] owns its closures as well, but detaches
//! them from the request before freeing them: an abandoned request settles unobserved, and nothing
//! is leaked (the closures live exactly as long as the `Request`).
//!
//! A cursor's request fires `success` again after each `continue()`: the same [`Request`] is
//! awaited once per step. [`OpenRequest`] does the same for opening a database, whose
//! `upgradeneeded` handler must run even when nobody waits for the result any more.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbVersionChangeEvent};

use super::errors::DomFailure;

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Success,
    Failure,
}

/// What the handlers tell the future.
#[derive(Default)]
struct Shared {
    /// The event that fired and was not yet awaited.
    outcome: Cell<Option<Outcome>>,
    waker: Cell<Option<Waker>>,
}

impl Shared {
    fn settle(&self, outcome: Outcome) {
        self.outcome.set(Some(outcome));
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// One IndexedDB request: resolves with its `result` when `success` fires, or with its `error`.
///
/// Create it right after issuing the request (before awaiting anything else), so the handlers are
/// in place before the browser can fire. For a cursor, await `&mut request` once per step: first
/// for the opening, then again after each `continue()`. Dropping it at any time is safe.
pub(super) struct Request {
    raw: IdbRequest,
    shared: Rc<Shared>,
    /// Installed as the request's `onsuccess` and `onerror`; detached before they are freed.
    _on_success: Closure<dyn FnMut()>,
    _on_error: Closure<dyn FnMut()>,
}

impl Request {
    pub(super) fn new(raw: impl Into<IdbRequest>) -> Self {
        let raw = raw.into();
        let shared = Rc::new(Shared::default());
        let on_success = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut()>::new(move || shared.settle(Outcome::Success))
        };
        let on_error = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut()>::new(move || shared.settle(Outcome::Failure))
        };
        raw.set_onsuccess(Some(on_success.as_ref().unchecked_ref()));
        raw.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Request {
            raw,
            shared,
            _on_success: on_success,
            _on_error: on_error,
        }
    }

    fn failure(&self) -> DomFailure {
        match self.raw.error() {
            Ok(Some(exception)) => DomFailure::from_exception(&exception),
            Ok(None) => DomFailure {
                name: "UnknownError".to_owned(),
                message: "the request failed without an error".to_owned(),
            },
            Err(thrown) => DomFailure::from_js(&thrown),
        }
    }
}

impl Future for Request {
    type Output = Result<JsValue, DomFailure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.shared.outcome.take() {
            None => {
                self.shared.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
            Some(Outcome::Success) => Poll::Ready(
                self.raw
                    .result()
                    .map_err(|thrown| DomFailure::from_js(&thrown)),
            ),
            Some(Outcome::Failure) => Poll::Ready(Err(self.failure())),
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        // The browser may still fire (or, for a cursor, fire again): with no handler the event
        // goes unobserved instead of reaching the closures freed right after this.
        self.raw.set_onsuccess(None);
        self.raw.set_onerror(None);
    }
}

/// The handler of an open request's `upgradeneeded` event.
pub(super) type UpgradeHandler = Closure<dyn FnMut(IdbVersionChangeEvent)>;

/// A request opening a database: resolves with the connection (an `IDBDatabase`).
///
/// If dropped before it settled, the browser still runs the open: the `upgradeneeded` handler is
/// then handed to the JavaScript garbage collector (it goes with the request), so a schema upgrade
/// is never left out half-way, and the connection that opens is closed at once.
pub(super) struct OpenRequest {
    raw: IdbOpenDbRequest,
    /// `None` once dropped.
    request: Option<Request>,
    upgrade: Option<UpgradeHandler>,
    settled: bool,
}

impl OpenRequest {
    pub(super) fn new(raw: impl Into<IdbOpenDbRequest>, upgrade: Option<UpgradeHandler>) -> Self {
        let raw = raw.into();
        if let Some(upgrade) = &upgrade {
            raw.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        }
        let request = Request::new(IdbRequest::from(raw.clone()));
        OpenRequest {
            raw,
            request: Some(request),
            upgrade,
            settled: false,
        }
    }
}

impl Future for OpenRequest {
    type Output = Result<IdbDatabase, DomFailure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(request) = self.request.as_mut() else {
            return Poll::Pending;
        };
        let result = match Pin::new(request).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        self.settled = true;
        Poll::Ready(result.and_then(|database| {
            database
                .dyn_into::<IdbDatabase>()
                .map_err(|value| DomFailure {
                    name: "UnknownError".to_owned(),
                    message: format!("opening did not give a database: {value:?}"),
                })
        }))
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        // Detaches `onsuccess` and `onerror`.
        self.request = None;
        if self.settled {
            // `upgradeneeded` only fires before `success` or `error`.
            self.raw.set_onupgradeneeded(None);
            return;
        }
        // Still running. The upgrade handler stays installed and goes to the garbage collector
        // with the request: freeing it would make the browser call a freed closure, and removing
        // it would let the upgrade transaction commit a new version without its schema.
        if let Some(upgrade) = self.upgrade.take() {
            drop(upgrade.into_js_value());
        }
        // Nobody will use the connection: close it as soon as it opens, so that it does not
        // block other pages' upgrades until it is garbage-collected.
        let close = Closure::<dyn FnMut(web_sys::Event)>::new(|event: web_sys::Event| {
            let database = event
                .target()
                .and_then(|target| target.dyn_into::<IdbRequest>().ok())
                .and_then(|request| request.result().ok())
                .and_then(|result| result.dyn_into::<IdbDatabase>().ok());
            if let Some(database) = database {
                database.close();
            }
        })
        .into_js_value();
        self.raw.set_onsuccess(Some(close.unchecked_ref()));
    }
}
