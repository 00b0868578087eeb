//! Aggregates: state folded from a stream's events, commands decided by plain functions, and a
//! [`Repository`] that loads, decides and appends with optimistic concurrency.
//!
//! ```
//! # futures::executor::block_on(async {
//! use evstore::{Aggregate, CommandError, EventStore, MemoryStorage, Repository};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! enum AccountEvent { Opened { owner: String }, Deposited { amount: u64 } }
//!
//! #[derive(Debug, Default)]
//! struct Account { open: bool, balance: u64 }
//!
//! impl Aggregate for Account {
//!     type Event = AccountEvent;
//!     fn apply(&mut self, event: &AccountEvent) {
//!         match event {
//!             AccountEvent::Opened { .. } => self.open = true,
//!             AccountEvent::Deposited { amount } => self.balance += amount,
//!         }
//!     }
//! }
//!
//! fn deposit(account: &Account, amount: u64) -> Result<Vec<AccountEvent>, String> {
//!     if !account.open { return Err("account is not open".into()); }
//!     Ok(vec![AccountEvent::Deposited { amount }])
//! }
//!
//! let repository = Repository::<_, Account>::new(EventStore::new(MemoryStorage::new()));
//! let refused = repository.execute("account-1", |a| deposit(a, 5)).await;
//! assert!(matches!(refused, Err(CommandError::Domain(_))));
//! repository.execute("account-1", |_| Ok::<_, String>(vec![AccountEvent::Opened { owner: "ada".into() }])).await?;
//! repository.execute("account-1", |a| deposit(a, 5)).await?;
//! assert_eq!(repository.load("account-1").await?.state.balance, 5);
//! # Ok::<(), CommandError<String>>(()) }).unwrap();
//! ```

use std::marker::PhantomData;

use futures::TryStreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;
use crate::platform::MaybeSend;
use crate::storage::Storage;
use crate::store::EventStore;
use crate::types::{AppendResult, ExpectedVersion, NewEvent, ReadStreamOptions};

/// State built by applying a stream's events, oldest first.
pub trait Aggregate: Default + MaybeSend {
    /// The stream's event type: a serde enum whose variant names are the event types.
    type Event: Serialize + DeserializeOwned + MaybeSend;

    /// Folds one event into the state. It must not fail: events are facts.
    fn apply(&mut self, event: &Self::Event);
}

/// An aggregate loaded from its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// The stream's version it was folded from (0 = no stream yet).
    pub version: u64,
}

/// Why a command failed: the domain refused it, or the store failed. The two never mix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError<E> {
    /// The decision function refused the command; nothing was appended.
    #[error("command rejected: {0}")]
    Domain(E),
    /// Every attempt met a concurrent writer (`WrongExpectedVersion`); nothing was appended.
    #[error("gave up after {attempts} attempts: the stream kept changing concurrently ({last})")]
    Conflict {
        /// How many load-decide-append rounds were tried.
        attempts: u32,
        /// The last conflict.
        last: Error,
    },
    /// Loading or appending failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// Loads aggregates by folding their stream and runs commands against them.
pub struct Repository<S, A> {
    store: EventStore<S>,
    max_attempts: u32,
    correlation_id: Option<String>,
    causation_id: Option<String>,
    aggregate: PhantomData<fn() -> A>,
}

impl<S, A> Clone for Repository<S, A> {
    fn clone(&self) -> Self {
        Repository {
            store: self.store.clone(),
            max_attempts: self.max_attempts,
            correlation_id: self.correlation_id.clone(),
            causation_id: self.causation_id.clone(),
            aggregate: PhantomData,
        }
    }
}

impl<S: Storage, A: Aggregate> Repository<S, A> {
    /// A repository over `store` that tries a command up to 3 times on conflicts.
    pub fn new(store: EventStore<S>) -> Self {
        Repository {
            store,
            max_attempts: 3,
            correlation_id: None,
            causation_id: None,
            aggregate: PhantomData,
        }
    }

    /// Tries a command up to `attempts` times (≥ 1) when concurrent writers conflict.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Stamps `correlation_id` and `causation_id` on every event this repository appends.
    pub fn with_ids(
        mut self,
        correlation_id: Option<String>,
        causation_id: Option<String>,
    ) -> Self {
        self.correlation_id = correlation_id;
        self.causation_id = causation_id;
        self
    }

    /// Loads the aggregate of `stream` by folding all its events (read page by page). A stream
    /// without events loads as the default state at version 0; one whose events all expired
    /// (`maxAge`) as the default state at the stream's version, so the next append continues
    /// its numbering.
    pub async fn load(&self, stream: &str) -> Result<Loaded<A>, Error> {
        let mut events = self.store.stream_events(stream, ReadStreamOptions::new())?;
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
        };
        while let Some(event) = events.try_next().await? {
            loaded.state.apply(&event.decode::<A::Event>()?);
            loaded.version = event.version;
        }
        if loaded.version == 0 {
            // No event to read, but the stream may have a version: its events expired (maxAge).
            loaded.version = self.store.stream_version(stream).await?;
        }
        Ok(loaded)
    }

    /// Loads the aggregate, runs `decide` on it and appends the events it returns with
    /// `ExpectedVersion::Exact(loaded version)`. On a concurrent write it reloads and decides
    /// again, up to the repository's attempt limit. A decision returning no events appends
    /// nothing and returns `None`.
    pub async fn execute<E, F>(
        &self,
        stream: &str,
        mut decide: F,
    ) -> Result<Option<AppendResult>, CommandError<E>>
    where
        F: FnMut(&A) -> Result<Vec<A::Event>, E>,
    {
        self.execute_async(stream, |state| futures::future::ready(decide(state)))
            .await
    }

    /// [`execute`](Self::execute) with an asynchronous decision (one that consults something
    /// else before deciding). The decision may run more than once.
    pub async fn execute_async<E, F, Fut>(
        &self,
        stream: &str,
        mut decide: F,
    ) -> Result<Option<AppendResult>, CommandError<E>>
    where
        F: FnMut(&A) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<A::Event>, E>>,
    {
        let mut attempt = 1;
        loop {
            let loaded = self.load(stream).await?;
            let decided = decide(&loaded.state).await.map_err(CommandError::Domain)?;
            if decided.is_empty() {
                return Ok(None);
            }
            let events = decided
                .iter()
                .map(|event| {
                    let mut event = NewEvent::from_typed(event)?;
                    event.correlation_id = self.correlation_id.clone();
                    event.causation_id = self.causation_id.clone();
                    Ok(event)
                })
                .collect::<Result<Vec<_>, Error>>()?;
            match self
                .store
                .append(stream, ExpectedVersion::Exact(loaded.version), events)
                .await
            {
                Ok(result) => return Ok(Some(result)),
                Err(conflict @ Error::WrongExpectedVersion { .. }) => {
                    if attempt >= self.max_attempts {
                        return Err(CommandError::Conflict {
                            attempts: attempt,
                            last: conflict,
                        });
                    }
                    attempt += 1;
                }
                Err(other) => return Err(CommandError::Store(other)),
            }
        }
    }
}
