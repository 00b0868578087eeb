//! Offline-first sync (evsync/1): a client store that works offline and syncs with a server
//! store, per stream, with nothing lost or duplicated.
//!
//! The principle: **per-stream optimistic concurrency and event-id idempotency on push, pull by
//! the server's global position.** A conflict stops only its stream; retries after a lost
//! response are safe because event ids are unique in a store forever.
//!
//! - [`protocol`]: the wire types of `POST /v1/sync/push` and `GET /v1/sync/pull`.
//! - [`handle_push`] / [`handle_pull`]: the server side, over any [`EventStore`](crate::EventStore),
//!   with the caller's rights as a [`SyncAccess`]. `evstore serve` and the
//!   [`InProcessTransport`] both call them.
//! - [`SyncTransport`]: how a client reaches a server; [`InProcessTransport`] calls a server
//!   store in the same process through the JSON wire format (tests, every backend).
//! - [`SyncClient`]: the client over a [`SyncStorage`](crate::storage::SyncStorage) backend
//!   (memory, SQLite, IndexedDB): mirror + outbox + sync state, rounds, conflicts, status.
//!
//! ```
//! # futures::executor::block_on(async {
//! use evstore::sync::{InProcessTransport, SyncClient};
//! use evstore::{EventStore, ExpectedVersion, MemoryStorage, NewEvent, ReadStreamOptions};
//! use serde_json::json;
//!
//! let server = EventStore::new(MemoryStorage::new());
//! let client = SyncClient::builder(EventStore::new(MemoryStorage::new()),
//!                                  InProcessTransport::new(server.clone()))
//!     .open().await?;
//!
//! // Works offline: the append lands in the outbox, pending.
//! let local = client.append("todo-1", ExpectedVersion::NoStream,
//!                           vec![NewEvent::new("Added", json!({ "title": "milk" }))]).await?;
//! assert_eq!((local.next_expected_version, local.position), (1, None));
//! assert_eq!(client.status().pending, 1);
//!
//! client.flush().await.unwrap();                       // push, confirm, pull into the mirror
//! assert_eq!(client.status().pending, 0);
//! let mirrored = client.mirror().read_stream("todo-1", ReadStreamOptions::new()).await?;
//! let on_server = server.read_stream("todo-1", ReadStreamOptions::new()).await?;
//! assert_eq!(mirrored, on_server);                     // same ids, versions and positions
//! # Ok::<(), evstore::Error>(()) }).unwrap();
//! ```

mod client;
#[cfg(target_arch = "wasm32")]
mod fetch;
#[cfg(any(target_arch = "wasm32", feature = "sync"))]
mod http;
pub mod protocol;
#[cfg(all(feature = "sync", not(target_arch = "wasm32")))]
mod reqwest_transport;
mod server;
mod transport;

pub use client::{
    ConflictHandler, ReauthHandler, Resolution, StatusListener, SyncClient, SyncClientBuilder,
    SyncConflict, SyncError, SyncOptions, SyncPhase, SyncRejection, SyncStatus,
};
#[cfg(target_arch = "wasm32")]
pub use fetch::FetchTransport;
pub use protocol::{
    BatchResult, PullRequest, PullResponse, PushBatch, PushRequest, PushResponse, PROTOCOL,
};
#[cfg(all(feature = "sync", not(target_arch = "wasm32")))]
pub use reqwest_transport::HttpTransport;
pub use server::{handle_pull, handle_push, SyncAccess, SyncServerOptions};
pub use transport::{InProcessTransport, SyncTransport, TransportError, TransportErrorKind};
