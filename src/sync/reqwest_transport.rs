//! [`HttpTransport`]: evsync/1 over HTTP natively, with `reqwest` (rustls for `https://`).
//! Feature `sync`; it runs on a tokio runtime.

use std::sync::Mutex;
use std::time::Duration;

use crate::sync::http::{protocol_error, pull_url, push_url, status_error};
use crate::sync::protocol::{PullRequest, PullResponse, PushRequest, PushResponse};
use crate::sync::transport::{SyncTransport, TransportError, TransportErrorKind};

/// Talks to `evstore serve` at a base URL, sending `Authorization: Bearer <token>` when it has
/// a token. Dropping a call's future cancels its request. Needs a tokio runtime.
///
/// ```no_run
/// # async fn demo() -> evstore::Result<()> {
/// use evstore::sync::{HttpTransport, SyncClient};
/// use evstore::{EventStore, SqliteStorage};
///
/// let local = EventStore::new(SqliteStorage::open("field-app.db")?);
/// let transport = HttpTransport::new("https://sync.example.invalid", Some("secret-token".into()));
/// let client = SyncClient::builder(local, transport).open().await?;
/// tokio::spawn(client.clone().run());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HttpTransport {
    base: String,
    client: reqwest::Client,
    token: Mutex<Option<String>>,
}

impl HttpTransport {
    /// A transport to the server at `base` (for example `http://127.0.0.1:7070`).
    pub fn new(base: impl Into<String>, token: Option<String>) -> Self {
        HttpTransport {
            base: base.into(),
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            token: Mutex::new(token),
        }
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<String, TransportError> {
        let token = self
            .token
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(network)?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, &text));
        }
        Ok(text)
    }
}

fn network(error: reqwest::Error) -> TransportError {
    TransportError::new(TransportErrorKind::Network, error.to_string())
}

impl SyncTransport for HttpTransport {
    async fn push(&self, request: PushRequest) -> Result<PushResponse, TransportError> {
        let body = serde_json::to_string(&request).map_err(protocol_error)?;
        let text = self
            .call(
                self.client
                    .post(push_url(&self.base))
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await?;
        serde_json::from_str(&text).map_err(protocol_error)
    }

    async fn pull(&self, request: PullRequest) -> Result<PullResponse, TransportError> {
        let text = self
            .call(self.client.get(pull_url(&self.base, &request)))
            .await?;
        serde_json::from_str(&text).map_err(protocol_error)
    }

    fn set_token(&self, token: Option<String>) {
        *self
            .token
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = token;
    }
}
