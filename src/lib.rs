//! # evstore — an embeddable event store
//!
//! One Rust core, the same semantics in the browser (WebAssembly + IndexedDB) and natively
//! (SQLite; PostgreSQL with the `postgres` feature, see `PostgresStorage`), plus an in-memory
//! backend for tests and ephemeral use.
//!
//! - **Streams** are named, ordered sequences of events; the first event of a stream has
//!   version 1, and a stream's version is that of its last event (0 = no stream).
//! - Every event gets a global **position** (from 1, increasing in commit order).
//! - [`EventStore::append`] is atomic and checks an [`ExpectedVersion`] inside the write
//!   transaction; retrying an append with the same event ids is idempotent.
//! - [`EventStore::read_stream`] and [`EventStore::read_all`] read in pages;
//!   [`EventStore::subscribe_all`] and [`EventStore::subscribe_to_stream`] catch up, then
//!   follow live appends.
//!
//! ```
//! # futures::executor::block_on(async {
//! use evstore::{EventStore, ExpectedVersion, MemoryStorage, ReadStreamOptions};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! enum AccountEvent { Opened { owner: String }, Deposited { amount: u64 } }
//!
//! let store = EventStore::new(MemoryStorage::new());
//! store.append_typed("account-1", ExpectedVersion::NoStream, &[
//!     AccountEvent::Opened { owner: "ada".into() },
//!     AccountEvent::Deposited { amount: 10 },
//! ]).await?;
//!
//! let events = store.read_stream("account-1", ReadStreamOptions::new()).await?;
//! assert_eq!(events[1].decode::<AccountEvent>()?, AccountEvent::Deposited { amount: 10 });
//!
//! // A writer that did not see version 2 is refused.
//! let stale = store.append_typed("account-1", ExpectedVersion::Exact(1),
//!                                &[AccountEvent::Deposited { amount: 5 }]).await;
//! assert_eq!(stale.unwrap_err().kind(), evstore::ErrorKind::WrongExpectedVersion);
//! # Ok::<(), evstore::Error>(()) }).unwrap();
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]
// On docs.rs (nightly, `--cfg docsrs`): mark items that need a feature or a target.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod aggregate;
mod aggregate_test;
mod append_many;
mod codec;
mod error;
mod export;
pub mod json;
pub mod platform;
mod projector;
pub mod storage;
mod store;
mod stream_lifecycle;
mod subscription;
pub mod sync;
mod types;
mod upcast;

/// The README's examples, compiled and run as doctests — natively only: they use SQLite.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, not(target_arch = "wasm32")))]
mod readme {}
#[cfg(not(target_arch = "wasm32"))]
mod send_assertions;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use aggregate::{Aggregate, CommandError, Loaded, Repository};
pub use aggregate_test::{AggregateOutcome, AggregateTest};
pub use append_many::{StreamAppend, MAX_APPEND_MANY_STREAMS};
pub use error::{Error, ErrorKind, Result, VersionConflict};
pub use export::{
    export_jsonl, import_jsonl, ExportHeader, ExportOptions, ExportSummary, ImportSummary,
    Importer, EXPORT_FORMAT, EXPORT_FORMAT_VERSION, IMPORT_BATCH_EVENTS, MAX_LINE_BYTES,
};
pub use projector::{
    FailurePolicy, Handler, HandlerResult, ProjectionOptions, ProjectionState, ProjectionStatus,
    Projector, ProjectorHandle, RetryPolicy,
};
#[cfg(target_arch = "wasm32")]
pub use storage::IndexedDbStorage;
pub use storage::{
    AppendNotifier, Checkpoint, MemoryStorage, SkippedEvent, Storage, StreamMetadata,
    LIFECYCLE_STREAM,
};
#[cfg(not(target_arch = "wasm32"))]
pub use storage::{Durability, SqliteOptions, SqliteStorage};
#[cfg(all(feature = "postgres", not(target_arch = "wasm32")))]
pub use storage::{PostgresOptions, PostgresStorage};
pub use store::{EventStore, StoreOptions, DEFAULT_PAGE_SIZE};
pub use subscription::{SubscribeOptions, Subscription};
pub use types::{
    category_of, validate_stream_id, AppendResult, Direction, ExpectedVersion, Filter,
    ListStreamsOptions, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent, StartFrom,
    StreamInfo, SubscriptionItem, MAX_STREAM_ID_BYTES,
};
pub use upcast::Upcasters;
