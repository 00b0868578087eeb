//! [`FetchTransport`]: evsync/1 over HTTP with the browser's `fetch` (in a page or a worker).

use std::sync::Mutex;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Request, RequestInit, Response};

use crate::sync::http::{protocol_error, pull_url, push_url, status_error};
use crate::sync::protocol::{PullRequest, PullResponse, PushRequest, PushResponse};
use crate::sync::transport::{SyncTransport, TransportError, TransportErrorKind};

/// Talks to `evstore serve` at a base URL with `fetch`, sending `Authorization: Bearer <token>`
/// when it has a token. A call whose future is dropped (a long poll given up for a local
/// append) aborts its request.
#[derive(Debug)]
pub struct FetchTransport {
    base: String,
    token: Mutex<Option<String>>,
}

impl FetchTransport {
    /// A transport to the server at `base` (for example `http://127.0.0.1:7070`).
    pub fn new(base: impl Into<String>, token: Option<String>) -> Self {
        FetchTransport {
            base: base.into(),
            token: Mutex::new(token),
        }
    }

    async fn call(&self, url: &str, body: Option<String>) -> Result<String, TransportError> {
        let init = RequestInit::new();
        init.set_method(if body.is_some() { "POST" } else { "GET" });
        if let Some(body) = &body {
            init.set_body(&JsValue::from_str(body));
        }
        let abort = AbortController::new().map_err(|e| network("AbortController", &e))?;
        init.set_signal(Some(&abort.signal()));
        let _abort_on_drop = AbortOnDrop(abort);
        let request =
            Request::new_with_str_and_init(url, &init).map_err(|e| network("a request", &e))?;
        let headers = request.headers();
        let token = self
            .token
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(token) = token {
            headers
                .set("authorization", &format!("Bearer {token}"))
                .map_err(|e| network("a header", &e))?;
        }
        if body.is_some() {
            headers
                .set("content-type", "application/json")
                .map_err(|e| network("a header", &e))?;
        }
        let fetch: Function = Reflect::get(&js_sys::global(), &JsValue::from_str("fetch"))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| {
                TransportError::new(TransportErrorKind::Network, "no fetch in this scope")
            })?;
        let pending: Promise = fetch
            .call1(&js_sys::global(), &request)
            .map_err(|e| network("fetch", &e))?
            .unchecked_into();
        let response: Response = JsFuture::from(pending)
            .await
            .map_err(|e| network("fetch", &e))?
            .unchecked_into();
        let text = response.text().map_err(|e| network("the body", &e))?;
        let text = JsFuture::from(text)
            .await
            .map_err(|e| network("the body", &e))?
            .as_string()
            .unwrap_or_default();
        if !response.ok() {
            return Err(status_error(response.status(), &text));
        }
        Ok(text)
    }
}

/// Aborts the request when the call is given up.
struct AbortOnDrop(AbortController);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        // Aborting a finished request does nothing.
        self.0.abort();
    }
}

fn network(what: &str, error: &JsValue) -> TransportError {
    let detail = Reflect::get(error, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{error:?}"));
    TransportError::new(
        TransportErrorKind::Network,
        format!("{what} failed: {detail}"),
    )
}

impl SyncTransport for FetchTransport {
    async fn push(&self, request: PushRequest) -> Result<PushResponse, TransportError> {
        let body = serde_json::to_string(&request).map_err(protocol_error)?;
        let text = self.call(&push_url(&self.base), Some(body)).await?;
        serde_json::from_str(&text).map_err(protocol_error)
    }

    async fn pull(&self, request: PullRequest) -> Result<PullResponse, TransportError> {
        let text = self.call(&pull_url(&self.base, &request), None).await?;
        serde_json::from_str(&text).map_err(protocol_error)
    }

    fn set_token(&self, token: Option<String>) {
        *self
            .token
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = token;
    }
}
