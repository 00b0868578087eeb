//! How a sync client reaches a server: the [`SyncTransport`] trait, and
//! [`InProcessTransport`], which calls [`handle_push`] / [`handle_pull`] on a store in the same
//! process through the JSON wire format — the protocol's logic runs on every backend without a
//! network, exactly as `evstore serve` runs it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::platform::{MaybeSend, MaybeSync};
use crate::storage::Storage;
use crate::store::EventStore;
use crate::sync::protocol::{PullRequest, PullResponse, PushRequest, PushResponse};
use crate::sync::server::{handle_pull, handle_push, SyncAccess, SyncServerOptions};

/// Why a push or pull did not get an answer the client can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportErrorKind,
    /// A readable description.
    pub message: String,
}

/// The kinds of [`TransportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No answer: offline, connection refused or reset, timed out. Retried with backoff.
    Network,
    /// The server failed (HTTP 5xx). Retried with backoff.
    Server,
    /// The token is missing, unknown or expired (HTTP 401): the client asks its reauth hook for
    /// a new one; the outbox is kept.
    Unauthorized,
    /// The request as a whole was refused (HTTP 400/403/413, or an answer that is not evsync/1).
    /// Not retried until something changes.
    Refused,
}

impl TransportError {
    /// A new error.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
        }
    }

    /// Whether trying again later may succeed (network failures and server errors).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Network | TransportErrorKind::Server
        )
    }

    /// The transport error a server-side [`Error`] becomes: storage failures are server errors,
    /// anything else refuses the request.
    pub fn from_server_error(error: &Error) -> Self {
        let kind = match error.kind() {
            ErrorKind::Storage | ErrorKind::Closed | ErrorKind::QuotaExceeded => {
                TransportErrorKind::Server
            }
            _ => TransportErrorKind::Refused,
        };
        TransportError::new(kind, format!("{}: {error}", error.kind().code()))
    }
}

/// The two calls of evsync/1. Implementations write plain `async fn`s; on native targets their
/// futures must be `Send`.
pub trait SyncTransport: MaybeSend + MaybeSync + 'static {
    /// `POST /v1/sync/push`.
    fn push(
        &self,
        request: PushRequest,
    ) -> impl Future<Output = Result<PushResponse, TransportError>> + MaybeSend;

    /// `GET /v1/sync/pull`.
    fn pull(
        &self,
        request: PullRequest,
    ) -> impl Future<Output = Result<PullResponse, TransportError>> + MaybeSend;

    /// Replaces the bearer token sent with later calls (after a reauth).
    fn set_token(&self, token: Option<String>);
}

/// A transport to a server store in the same process, through the JSON wire format.
///
/// Without tokens every caller has full access; with [`with_tokens`](Self::with_tokens) a call
/// without a known token is [`TransportErrorKind::Unauthorized`]. For failure handling it can
/// go offline ([`set_online`](Self::set_online)), lose the responses of requests the server
/// handled ([`lose_responses`](Self::lose_responses), as when a connection drops after the
/// server committed) and have its store replaced ([`replace_server`](Self::replace_server),
/// as a server restored or reset).
///
/// Clones share everything.
pub struct InProcessTransport<S> {
    inner: Arc<InProcess<S>>,
}

struct InProcess<S> {
    server: Mutex<EventStore<S>>,
    options: SyncServerOptions,
    tokens: Option<HashMap<String, SyncAccess>>,
    token: Mutex<Option<String>>,
    online: AtomicBool,
    lose: AtomicUsize,
}

impl<S> Clone for InProcessTransport<S> {
    fn clone(&self) -> Self {
        InProcessTransport {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> std::fmt::Debug for InProcessTransport<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessTransport")
            .field("online", &self.inner.online.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl<S: Storage> InProcessTransport<S> {
    /// A transport to `server`, every caller with full access.
    pub fn new(server: EventStore<S>) -> Self {
        Self::build(server, None, SyncServerOptions::default())
    }

    /// A transport to `server` that checks bearer tokens: each known token has its
    /// [`SyncAccess`]. `token` is the one this client sends first.
    pub fn with_tokens(
        server: EventStore<S>,
        tokens: HashMap<String, SyncAccess>,
        token: Option<String>,
    ) -> Self {
        let transport = Self::build(server, Some(tokens), SyncServerOptions::default());
        transport.set_token(token);
        transport
    }

    /// Sets the server's limits.
    pub fn with_options(self, options: SyncServerOptions) -> Self {
        let server = self.server();
        let tokens = self.inner.tokens.clone();
        let token = self.token();
        let transport = Self::build(server, tokens, options);
        transport.set_token(token);
        transport
    }

    fn build(
        server: EventStore<S>,
        tokens: Option<HashMap<String, SyncAccess>>,
        options: SyncServerOptions,
    ) -> Self {
        InProcessTransport {
            inner: Arc::new(InProcess {
                server: Mutex::new(server),
                options,
                tokens,
                token: Mutex::new(None),
                online: AtomicBool::new(true),
                lose: AtomicUsize::new(0),
            }),
        }
    }

    /// The server's store.
    pub fn server(&self) -> EventStore<S> {
        self.inner
            .server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts another store behind the transport (a server restored from a backup or reset).
    pub fn replace_server(&self, server: EventStore<S>) {
        *self.inner.server.lock().unwrap_or_else(|p| p.into_inner()) = server;
    }

    /// Offline: every call fails with [`TransportErrorKind::Network`] before reaching the
    /// server.
    pub fn set_online(&self, online: bool) {
        self.inner.online.store(online, Ordering::Release);
    }

    /// The server handles the next `count` requests, but their responses are lost: the caller
    /// gets a [`TransportErrorKind::Network`] error.
    pub fn lose_responses(&self, count: usize) {
        self.inner.lose.store(count, Ordering::Release);
    }

    fn token(&self) -> Option<String> {
        self.inner
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Checks the connection and the token; the caller's rights.
    fn connect(&self) -> Result<SyncAccess, TransportError> {
        if !self.inner.online.load(Ordering::Acquire) {
            return Err(TransportError::new(
                TransportErrorKind::Network,
                "the server is unreachable (offline)",
            ));
        }
        let Some(tokens) = &self.inner.tokens else {
            return Ok(SyncAccess::full());
        };
        let token = self.token();
        token
            .and_then(|token| tokens.get(&token).cloned())
            .ok_or_else(|| {
                TransportError::new(
                    TransportErrorKind::Unauthorized,
                    "missing or unknown bearer token",
                )
            })
    }

    /// The response, unless this one is to be lost.
    fn deliver<T>(&self, response: T) -> Result<T, TransportError> {
        let lost = self
            .inner
            .lose
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if lost {
            Err(TransportError::new(
                TransportErrorKind::Network,
                "the connection dropped before the response arrived",
            ))
        } else {
            Ok(response)
        }
    }
}

/// Sends `value` through its JSON form, as the wire does.
fn over_the_wire<T: Serialize, U: DeserializeOwned>(value: &T) -> Result<U, TransportError> {
    serde_json::to_string(value)
        .and_then(|text| serde_json::from_str(&text))
        .map_err(|e| TransportError::new(TransportErrorKind::Refused, format!("not evsync/1: {e}")))
}

impl<S: Storage> SyncTransport for InProcessTransport<S> {
    async fn push(&self, request: PushRequest) -> Result<PushResponse, TransportError> {
        let access = self.connect()?;
        let request: PushRequest = over_the_wire(&request)?;
        let server = self.server();
        let response = handle_push(&server, &access, request, &self.inner.options)
            .await
            .map_err(|e| TransportError::from_server_error(&e))?;
        self.deliver(over_the_wire(&response)?)
    }

    async fn pull(&self, request: PullRequest) -> Result<PullResponse, TransportError> {
        let access = self.connect()?;
        let request: PullRequest = over_the_wire(&request)?;
        let server = self.server();
        let response = handle_pull(&server, &access, &request, &self.inner.options)
            .await
            .map_err(|e| TransportError::from_server_error(&e))?;
        self.deliver(over_the_wire(&response)?)
    }

    fn set_token(&self, token: Option<String>) {
        *self.inner.token.lock().unwrap_or_else(|p| p.into_inner()) = token;
    }
}
