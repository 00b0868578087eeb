//! The sync client: a store whose events are the server's ([`SyncClient::mirror`]) plus an
//! outbox of local appends, kept in step with a server over a [`SyncTransport`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::{select, Either};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::json::{ExpectedVersionJson, NewEventJson};
use crate::platform::{sleep, BoxFuture, MaybeSend, MaybeSync};
use crate::storage::{
    pending_as_recorded, stream_entries, LocalAppend, OutboxEntry, OutboxState, SyncChange,
    SyncState, SyncStorage,
};
use crate::store::{prepare_batch, typed_events, EventStore};
use crate::sync::protocol::{BatchResult, PullRequest, PushBatch, PushRequest};
use crate::sync::transport::{SyncTransport, TransportError, TransportErrorKind};
use crate::types::{
    Direction, ExpectedVersion, Filter, NewEvent, ReadStreamOptions, RecordedEvent,
};

/// Settings of a [`SyncClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// Which server streams this client mirrors: stream-id prefixes and categories (whole
    /// streams: a filter on event types is [`Error::InvalidInput`], since a mirror with holes in
    /// its streams could not check versions). Empty = everything the token may read.
    pub filter: Filter,
    /// The most batches one push carries. Default 100.
    pub push_batches: usize,
    /// The most events one pull asks for. Default 500.
    pub pull_limit: usize,
    /// How long one long-poll pull waits on the server for news. Default 20 s.
    pub long_poll: Duration,
    /// The first pause after a network or server error; it doubles up to `max_backoff`.
    /// Default 200 ms.
    pub initial_backoff: Duration,
    /// The longest pause between retries. Default 10 s.
    pub max_backoff: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            filter: Filter::default(),
            push_batches: 100,
            pull_limit: 500,
            long_poll: Duration::from_secs(20),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// What the client is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// Not connected yet, or the last call failed with a network error (retrying).
    #[default]
    Offline,
    /// Pushing or pulling.
    Syncing,
    /// In step with the server (as of the last round).
    Online,
    /// The last round failed for another reason (see [`SyncStatus::last_error`]); retrying.
    Error,
}

/// A conflict on one stream: the local pending events that were not appended (the conflicting
/// batch and every later pending batch of the stream) and the server's events since the version
/// they expected. The [`ConflictHandler`] is given one to decide; when the pending events are
/// dropped, the same value is reported in [`SyncStatus::conflicts`] — nothing is lost silently.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConflict {
    /// The stream.
    pub stream: String,
    /// The stream's version on the server.
    pub current_version: u64,
    /// The local pending events, in order (position 0: never confirmed).
    pub pending: Vec<RecordedEvent>,
    /// The server's events since the version the pending events expected.
    pub theirs: Vec<RecordedEvent>,
}

/// A batch the server refused for good (invalid, not authorized, an id used elsewhere); it left
/// the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRejection {
    /// The stream.
    pub stream: String,
    /// The error code the server gave.
    pub code: String,
    /// Its message.
    pub message: String,
    /// The refused events (position 0: never confirmed).
    pub dropped: Vec<RecordedEvent>,
}

/// Where the client stands, for the "saved / pending" UI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncStatus {
    /// What the client is doing.
    pub phase: SyncPhase,
    /// Local events not yet confirmed by the server and pulled into the mirror.
    pub pending: usize,
    /// Batches dropped after conflicts, oldest first (see [`SyncClient::clear_reports`]).
    pub conflicts: Vec<SyncConflict>,
    /// Batches the server refused, oldest first.
    pub rejected: Vec<SyncRejection>,
    /// The server position the mirror has pulled up to.
    pub last_pulled: u64,
    /// The last failure, cleared by the next successful round.
    pub last_error: Option<String>,
    /// The server store the mirror belongs to (`None` before the first contact).
    pub store_id: Option<String>,
}

/// The application's decision on a conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Drop the pending events of the stream; they are reported as a [`SyncConflict`].
    Drop,
    /// Replace them by these events, appended against the server's current version (for
    /// example the result of re-running the command on the new state). An empty list drops
    /// them without a report; events that are not a valid append are dropped and reported.
    Append(Vec<NewEvent>),
}

/// Decides conflicts; any `Fn(SyncConflict) -> impl Future<Output = Resolution>` is one.
pub trait ConflictHandler: MaybeSend + MaybeSync + 'static {
    /// The resolution of one stream's conflict.
    fn resolve(&self, conflict: SyncConflict) -> BoxFuture<'static, Resolution>;
}

impl<F, Fut> ConflictHandler for F
where
    F: Fn(SyncConflict) -> Fut + MaybeSend + MaybeSync + 'static,
    Fut: std::future::Future<Output = Resolution> + MaybeSend + 'static,
{
    fn resolve(&self, conflict: SyncConflict) -> BoxFuture<'static, Resolution> {
        Box::pin(self(conflict))
    }
}

/// Gets a new bearer token after a 401; `None` = no token to be had (the round fails, the
/// outbox stays). Any `Fn() -> impl Future<Output = Option<String>>` is one.
pub trait ReauthHandler: MaybeSend + MaybeSync + 'static {
    /// A fresh token.
    fn token(&self) -> BoxFuture<'static, Option<String>>;
}

impl<F, Fut> ReauthHandler for F
where
    F: Fn() -> Fut + MaybeSend + MaybeSync + 'static,
    Fut: std::future::Future<Output = Option<String>> + MaybeSend + 'static,
{
    fn token(&self) -> BoxFuture<'static, Option<String>> {
        Box::pin(self())
    }
}

/// Why a sync round or [`SyncClient::flush`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The server could not be reached or refused the request.
    #[error("sync transport: {0}")]
    Transport(#[from] TransportError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] Error),
    /// Pending batches were dropped after conflicts (also in [`SyncStatus::conflicts`]).
    #[error("{} pending batch(es) dropped after a conflict", .0.len())]
    Conflicts(Vec<SyncConflict>),
    /// Pending batches were refused by the server (also in [`SyncStatus::rejected`]).
    #[error("{} pending batch(es) rejected by the server: {}", .0.len(), .0.first().map_or("", |r| r.message.as_str()))]
    Rejected(Vec<SyncRejection>),
    /// The client was stopped.
    #[error("the sync client was stopped")]
    Stopped,
}

/// Hears status changes; any `Fn(&SyncStatus)` is one.
pub trait StatusListener: MaybeSend + MaybeSync + 'static {
    /// Called with the new status.
    fn changed(&self, status: &SyncStatus);
}

impl<F> StatusListener for F
where
    F: Fn(&SyncStatus) + MaybeSend + MaybeSync + 'static,
{
    fn changed(&self, status: &SyncStatus) {
        self(status)
    }
}

/// A synced store: the mirror of the server's streams (an [`EventStore`] over the backend,
/// holding server-confirmed events at their server positions) and an outbox of local appends,
/// pushed and confirmed by sync rounds.
///
/// - [`append`](Self::append) checks the expected version against the stream's confirmed
///   version plus its pending events and lands in the outbox in one transaction; it resolves
///   before the server has it, with a pending marker instead of a position.
/// - A round ([`sync_once`](Self::sync_once)) pushes pending batches in order, records each
///   result, settles conflicts through the [`ConflictHandler`] (default: drop and report), and
///   pulls until caught up; confirmed batches leave the outbox in the same transaction that
///   brings their events into the mirror. [`run`](Self::run) repeats rounds for as long as the
///   client lives: push on every local append, long-poll pull otherwise, back off after
///   network or server errors, ask the [`ReauthHandler`] after a 401 (the outbox is kept).
/// - A new server store id (a server restored or reset) clears the mirror and pulls it again;
///   the outbox is kept and pushed.
/// - Reads of the mirror (`mirror().read_all`, subscriptions, projectors) see the server's
///   order; [`read_stream`](Self::read_stream) can add the pending events.
///
/// Cheap to clone; clones share everything. Only one client may drain one outbox: in a browser
/// the package elects one syncing tab per origin.
pub struct SyncClient<S, T> {
    inner: Arc<Inner<S, T>>,
}

struct Inner<S, T> {
    store: EventStore<S>,
    transport: T,
    options: SyncOptions,
    on_conflict: Option<Arc<dyn ConflictHandler>>,
    on_unauthorized: Option<Arc<dyn ReauthHandler>>,
    /// Held for a whole round: rounds never overlap.
    round: futures::lock::Mutex<()>,
    /// Held from an outbox write to its pending count's update, and from a load of the outbox
    /// to setting the count from it: a count taken from the outbox and an append's increment
    /// never count the same batch twice.
    counting: futures::lock::Mutex<()>,
    status: Mutex<SyncStatus>,
    listeners: Mutex<Vec<(u64, Arc<dyn StatusListener>)>>,
    next_listener: AtomicU64,
    /// Notified on local appends and on stop: the run loop pushes at once.
    wake: event_listener::Event,
    /// Notified on every status change.
    changed: event_listener::Event,
    stopped: AtomicBool,
}

impl<S, T> Clone for SyncClient<S, T> {
    fn clone(&self) -> Self {
        SyncClient {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S, T> std::fmt::Debug for SyncClient<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SyncClient`]: `SyncClient::builder(store, transport)…open().await`.
pub struct SyncClientBuilder<S, T> {
    store: EventStore<S>,
    transport: T,
    options: SyncOptions,
    on_conflict: Option<Arc<dyn ConflictHandler>>,
    on_unauthorized: Option<Arc<dyn ReauthHandler>>,
}

impl<S: SyncStorage, T: SyncTransport> SyncClientBuilder<S, T> {
    /// Sets the options.
    pub fn options(mut self, options: SyncOptions) -> Self {
        self.options = options;
        self
    }

    /// Mirrors only the streams `filter` selects (see [`SyncOptions::filter`]).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.options.filter = filter;
        self
    }

    /// Decides conflicts with `handler` (default: drop the pending events and report them).
    pub fn on_conflict(mut self, handler: impl ConflictHandler) -> Self {
        self.on_conflict = Some(Arc::new(handler));
        self
    }

    /// Asks `handler` for a new token after a 401.
    pub fn on_unauthorized(mut self, handler: impl ReauthHandler) -> Self {
        self.on_unauthorized = Some(Arc::new(handler));
        self
    }

    /// Opens the client: loads (or creates) the sync state and the outbox from the backend.
    ///
    /// Errors: [`Error::InvalidInput`] for a filter on event types, or for a store that has
    /// events but was never synced (its positions are its own, not a server's); storage
    /// failures.
    pub async fn open(self) -> Result<SyncClient<S, T>> {
        if !self.options.filter.event_types.is_empty() {
            return Err(Error::invalid_input(
                "a sync filter selects whole streams (stream prefixes, categories), not event types",
            ));
        }
        let snapshot = self.store.storage().load_sync().await?;
        let state = match snapshot.state {
            Some(state) => state,
            None if self.store.head().await? > 0 => {
                return Err(Error::invalid_input(
                    "this store has events of its own: a synced store holds only the server's \
                     events (at the server's positions), so sync an empty store",
                ))
            }
            None => {
                let state = SyncState {
                    client_id: uuid::Uuid::now_v7().to_string(),
                    store_id: None,
                    pulled: 0,
                };
                self.store
                    .storage()
                    .apply_sync(SyncChange {
                        state: Some(state.clone()),
                        ..SyncChange::default()
                    })
                    .await?;
                state
            }
        };
        // From now on the mirror takes events only from the server: local appends to it fail.
        self.store.mark_synced();
        let status = SyncStatus {
            pending: pending_count(&snapshot.outbox),
            last_pulled: state.pulled,
            store_id: state.store_id.clone(),
            ..SyncStatus::default()
        };
        Ok(SyncClient {
            inner: Arc::new(Inner {
                store: self.store,
                transport: self.transport,
                options: self.options,
                on_conflict: self.on_conflict,
                on_unauthorized: self.on_unauthorized,
                round: futures::lock::Mutex::new(()),
                counting: futures::lock::Mutex::new(()),
                status: Mutex::new(status),
                listeners: Mutex::new(Vec::new()),
                next_listener: AtomicU64::new(1),
                wake: event_listener::Event::new(),
                changed: event_listener::Event::new(),
                stopped: AtomicBool::new(false),
            }),
        })
    }
}

fn pending_count(outbox: &[OutboxEntry]) -> usize {
    outbox.iter().map(|entry| entry.batch.events.len()).sum()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S, T> SyncClient<S, T> {
    /// A builder over `store` (the client's backend: mirror, outbox and sync state) and
    /// `transport`.
    pub fn builder(store: EventStore<S>, transport: T) -> SyncClientBuilder<S, T> {
        SyncClientBuilder {
            store,
            transport,
            options: SyncOptions::default(),
            on_conflict: None,
            on_unauthorized: None,
        }
    }

    /// The mirror: the server's events at the server's positions. Read it, subscribe to it, run
    /// projections over it; its own [`EventStore::append`] refuses (use [`append`](Self::append)).
    pub fn mirror(&self) -> &EventStore<S> {
        &self.inner.store
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// The current status.
    pub fn status(&self) -> SyncStatus {
        lock(&self.inner.status).clone()
    }

    /// Calls `listener` with the new status after every change (without any lock held); returns
    /// an id for [`remove_status_listener`](Self::remove_status_listener).
    pub fn on_status(&self, listener: impl StatusListener) -> u64 {
        let id = self.inner.next_listener.fetch_add(1, Ordering::AcqRel);
        lock(&self.inner.listeners).push((id, Arc::new(listener)));
        id
    }

    /// Removes a status listener.
    pub fn remove_status_listener(&self, id: u64) {
        lock(&self.inner.listeners).retain(|(listener, _)| *listener != id);
    }

    /// Waits for the next status change.
    pub async fn status_changed(&self) {
        self.inner.changed.listen().await;
    }

    /// Forgets the reported conflicts and rejections (after the application showed them).
    pub fn clear_reports(&self) {
        self.update_status(|status| {
            status.conflicts.clear();
            status.rejected.clear();
        });
    }

    /// Stops [`run`](Self::run) (it returns soon after) and fails later rounds with
    /// [`SyncError::Stopped`]. The outbox stays for the next client.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.wake.notify(usize::MAX);
    }

    /// Asks [`run`](Self::run) for a round now: another handle (another tab) appended to the
    /// shared outbox.
    pub fn wake(&self) {
        self.inner.wake.notify(usize::MAX);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    fn update_status(&self, change: impl FnOnce(&mut SyncStatus)) {
        let status = {
            let mut status = lock(&self.inner.status);
            change(&mut status);
            status.clone()
        };
        let listeners: Vec<Arc<dyn StatusListener>> = lock(&self.inner.listeners)
            .iter()
            .map(|(_, listener)| Arc::clone(listener))
            .collect();
        for listener in listeners {
            listener.changed(&status);
        }
        self.inner.changed.notify(usize::MAX);
    }
}

impl<S: SyncStorage, T: SyncTransport> SyncClient<S, T> {
    /// Appends `events` to `stream` locally: checked against the stream's confirmed version
    /// plus its pending events, written to the outbox in one transaction, pushed by the next
    /// round. The result has the stream's next expected version and no position (pending).
    ///
    /// Errors: as [`EventStore::append`] — [`Error::WrongExpectedVersion`] against confirmed +
    /// pending, [`Error::DuplicateEventId`], [`Error::InvalidInput`] (also for a stream outside
    /// the sync filter, which the mirror would never hold). Retrying an append with the same
    /// event ids returns the first result and writes nothing.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<LocalAppend> {
        self.inner.store.ensure_open()?;
        let batch = prepare_batch(stream, expected, events)?;
        // The filter has no event types (checked at open): it matches whole streams.
        if !self.inner.options.filter.matches(stream, "") {
            return Err(Error::invalid_input(format!(
                "stream `{stream}` is outside this store's sync filter"
            )));
        }
        let batch_id = uuid::Uuid::now_v7().to_string();
        let added = batch.events.len();
        let _counting = self.inner.counting.lock().await;
        let result = self
            .inner
            .store
            .storage()
            .enqueue(batch_id.clone(), batch)
            .await?;
        // A retry returns the earlier batch's id (or none): only a new batch adds pending events.
        if result.batch_id.as_deref() == Some(batch_id.as_str()) {
            self.update_status(|status| status.pending += added);
            self.inner.wake.notify(usize::MAX);
        }
        Ok(result)
    }

    /// Appends typed events (serde enums); see [`append`](Self::append).
    pub async fn append_typed<E: Serialize>(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[E],
    ) -> Result<LocalAppend> {
        self.append(stream, expected, typed_events(events)?).await
    }

    /// Reads `stream` from the mirror, and with `include_pending` its pending events after the
    /// confirmed ones (at the versions they will get, position 0). A stream with neither is
    /// [`Error::StreamNotFound`].
    pub async fn read_stream(
        &self,
        stream: &str,
        options: ReadStreamOptions,
        include_pending: bool,
    ) -> Result<Vec<RecordedEvent>> {
        let confirmed = match self.inner.store.read_stream(stream, options.clone()).await {
            Ok(events) => events,
            Err(Error::StreamNotFound { .. }) => Vec::new(),
            Err(error) => return Err(error),
        };
        let pending = if include_pending {
            let outbox = self.inner.store.storage().load_sync().await?.outbox;
            let version = self.inner.store.stream_version(stream).await?;
            let pending = pending_as_recorded(version, &stream_entries(&outbox, stream))?;
            self.inner.store.upcast(pending)?
        } else {
            Vec::new()
        };
        let limit = options.max_count.unwrap_or(usize::MAX);
        let events: Vec<RecordedEvent> = match options.direction {
            Direction::Forward => {
                let from = options.from_version.unwrap_or(1);
                confirmed
                    .into_iter()
                    .chain(pending.into_iter().filter(|e| e.version >= from))
                    .take(limit)
                    .collect()
            }
            Direction::Backward => {
                let from = options.from_version.unwrap_or(u64::MAX);
                pending
                    .into_iter()
                    .rev()
                    .filter(|e| e.version <= from)
                    .chain(confirmed)
                    .take(limit)
                    .collect()
            }
        };
        if events.is_empty() {
            return Err(Error::StreamNotFound {
                stream: stream.to_owned(),
            });
        }
        Ok(events)
    }

    /// The stream's version: confirmed, plus its pending events with `include_pending`.
    pub async fn stream_version(&self, stream: &str, include_pending: bool) -> Result<u64> {
        let confirmed = self.inner.store.stream_version(stream).await?;
        if !include_pending {
            return Ok(confirmed);
        }
        let outbox = self.inner.store.storage().load_sync().await?.outbox;
        Ok(confirmed + pending_count(&stream_entries(&outbox, stream)) as u64)
    }

    /// The outbox: every local batch not yet in the mirror, oldest first.
    pub async fn pending(&self) -> Result<Vec<OutboxEntry>> {
        Ok(self.inner.store.storage().load_sync().await?.outbox)
    }

    /// For a client that runs no rounds itself because another one syncs the same backend (a
    /// browser tab while another tab is the syncer): reloads the pending count and the pulled
    /// position from the backend, takes the syncing client's `phase` and `last_error`, and
    /// notifies status listeners.
    pub async fn refresh_status(&self, phase: SyncPhase, last_error: Option<String>) -> Result<()> {
        let _counting = self.inner.counting.lock().await;
        let snapshot = self.inner.store.storage().load_sync().await?;
        let pending = pending_count(&snapshot.outbox);
        let state = snapshot.state.unwrap_or_default();
        self.update_status(|status| {
            status.phase = phase;
            status.last_error = last_error;
            status.pending = pending;
            status.last_pulled = state.pulled;
            if state.store_id.is_some() {
                status.store_id = state.store_id;
            }
        });
        Ok(())
    }

    /// One sync round: push every pending batch (in pages of
    /// [`SyncOptions::push_batches`]), settle conflicts, pull until caught up. Rounds never
    /// overlap (a second caller waits for the first).
    pub async fn sync_once(&self) -> Result<(), SyncError> {
        let _round = self.inner.round.lock().await;
        if self.is_stopped() {
            return Err(SyncError::Stopped);
        }
        self.update_status(|status| status.phase = SyncPhase::Syncing);
        let outcome = async {
            self.push_all().await?;
            self.pull_all().await
        }
        .await;
        let counting = self.inner.counting.lock().await;
        let snapshot = self.inner.store.storage().load_sync().await;
        let (pending, pulled, store_id) = match &snapshot {
            Ok(snapshot) => (
                pending_count(&snapshot.outbox),
                snapshot.state.as_ref().map_or(0, |s| s.pulled),
                snapshot.state.as_ref().and_then(|s| s.store_id.clone()),
            ),
            Err(_) => (self.status().pending, self.status().last_pulled, None),
        };
        self.update_status(|status| {
            status.pending = pending;
            status.last_pulled = pulled;
            if store_id.is_some() {
                status.store_id = store_id;
            }
            match &outcome {
                Ok(()) => {
                    status.phase = SyncPhase::Online;
                    status.last_error = None;
                }
                Err(error) => {
                    status.phase = match error {
                        SyncError::Transport(e) if e.kind == TransportErrorKind::Network => {
                            SyncPhase::Offline
                        }
                        _ => SyncPhase::Error,
                    };
                    status.last_error = Some(error.to_string());
                }
            }
        });
        drop(counting);
        outcome?;
        snapshot?;
        Ok(())
    }

    /// Runs rounds until everything pending is confirmed and in the mirror. Fails with the
    /// round's error (for example [`SyncError::Transport`] while offline), or after the outbox
    /// emptied with [`SyncError::Conflicts`] / [`SyncError::Rejected`] when batches pending at
    /// the start were dropped or refused on the way.
    pub async fn flush(&self) -> Result<(), SyncError> {
        let (conflicts_before, rejected_before) = {
            let status = self.status();
            (status.conflicts.len(), status.rejected.len())
        };
        loop {
            self.sync_once().await?;
            if self
                .inner
                .store
                .storage()
                .load_sync()
                .await?
                .outbox
                .is_empty()
            {
                break;
            }
        }
        let status = self.status();
        if status.conflicts.len() > conflicts_before {
            return Err(SyncError::Conflicts(
                status.conflicts[conflicts_before..].to_vec(),
            ));
        }
        if status.rejected.len() > rejected_before {
            return Err(SyncError::Rejected(
                status.rejected[rejected_before..].to_vec(),
            ));
        }
        Ok(())
    }

    /// Syncs for as long as the client lives: a round at start and after every local append, a
    /// long-poll pull in between (a new round when it reports news), and after a network or
    /// server error a pause that doubles from [`SyncOptions::initial_backoff`] up to
    /// [`SyncOptions::max_backoff`]. Returns after [`stop`](Self::stop).
    ///
    /// Spawn it (`tokio::spawn(client.clone().run())` natively, `spawn_local` in the browser).
    pub async fn run(self) {
        let mut backoff = self.inner.options.initial_backoff;
        while !self.is_stopped() {
            let woken = self.inner.wake.listen();
            let failed = match self.sync_once().await {
                Err(SyncError::Stopped) => break,
                Err(_) => true,
                Ok(()) => {
                    backoff = self.inner.options.initial_backoff;
                    let has_pending = self
                        .inner
                        .store
                        .storage()
                        .load_sync()
                        .await
                        .map(|s| s.outbox.iter().any(|e| e.state == OutboxState::Pending))
                        .unwrap_or(true);
                    if has_pending {
                        continue;
                    }
                    match select(woken, Box::pin(self.wait_for_news())).await {
                        Either::Left(_) => false,
                        Either::Right((news, _)) => news.is_err(),
                    }
                }
            };
            if failed && !self.is_stopped() {
                let woken = self.inner.wake.listen();
                let _ = select(woken, Box::pin(sleep(backoff))).await;
                backoff = (backoff * 2).min(self.inner.options.max_backoff);
            }
        }
        self.update_status(|status| status.phase = SyncPhase::Offline);
    }

    /// A long-poll pull of one event after the mirror's position: returns when the server has
    /// news (or the wait ran out); the next round pulls it.
    async fn wait_for_news(&self) -> Result<(), SyncError> {
        let state = self.state().await?;
        let request = PullRequest {
            after: state.pulled,
            limit: Some(1),
            wait: Some(self.inner.options.long_poll.as_millis() as u64),
            ..self.pull_request(0)
        };
        self.call_pull(request).await.map(|_| ())
    }

    async fn state(&self) -> Result<SyncState> {
        self.inner
            .store
            .storage()
            .load_sync()
            .await?
            .state
            .ok_or_else(|| Error::storage("the sync state is missing"))
    }

    fn pull_request(&self, after: u64) -> PullRequest {
        PullRequest {
            after,
            limit: Some(self.inner.options.pull_limit.max(1)),
            stream_prefixes: self.inner.options.filter.stream_prefixes.clone(),
            categories: self.inner.options.filter.categories.clone(),
            wait: None,
        }
    }

    /// Calls the transport once more with a fresh token after a 401, when a reauth hook gives
    /// one.
    async fn reauth(&self, error: TransportError) -> Result<(), SyncError> {
        if error.kind != TransportErrorKind::Unauthorized {
            return Err(error.into());
        }
        let Some(handler) = &self.inner.on_unauthorized else {
            return Err(error.into());
        };
        match handler.token().await {
            Some(token) => {
                self.inner.transport.set_token(Some(token));
                Ok(())
            }
            None => Err(error.into()),
        }
    }

    async fn call_push(
        &self,
        request: PushRequest,
    ) -> Result<crate::sync::PushResponse, SyncError> {
        self.with_reauth(|| self.inner.transport.push(request.clone()))
            .await
    }

    async fn call_pull(
        &self,
        request: PullRequest,
    ) -> Result<crate::sync::PullResponse, SyncError> {
        self.with_reauth(|| self.inner.transport.pull(request.clone()))
            .await
    }

    /// Runs `call`; after a 401, asks for a new token (see [`reauth`](Self::reauth)) and runs
    /// it once more. Any other transport error is the round's.
    async fn with_reauth<R, F, Fut>(&self, call: F) -> Result<R, SyncError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<R, TransportError>>,
    {
        match call().await {
            Ok(response) => Ok(response),
            Err(error) => {
                self.reauth(error).await?;
                Ok(call().await?)
            }
        }
    }

    /// The server store changed: clear the mirror, pull it again from 0, push every batch again
    /// (confirmations were the old store's). `resets` counts the resets of this round: a store
    /// id that keeps changing fails the round.
    async fn reset_mirror(
        &self,
        resets: &mut u32,
        state: &SyncState,
        store_id: String,
    ) -> Result<(), SyncError> {
        *resets += 1;
        if *resets > 2 {
            return Err(Error::storage("the server's store id keeps changing").into());
        }
        let outbox = self.inner.store.storage().load_sync().await?.outbox;
        self.inner
            .store
            .storage()
            .apply_sync(SyncChange {
                reset_mirror: true,
                unconfirm: outbox.iter().map(|e| e.batch_id.clone()).collect(),
                state: Some(SyncState {
                    store_id: Some(store_id),
                    pulled: 0,
                    ..state.clone()
                }),
                ..SyncChange::default()
            })
            .await?;
        self.inner.store.wake_subscriptions();
        Ok(())
    }

    async fn push_all(&self) -> Result<(), SyncError> {
        // The outbox is read once and pushed page by page; it is read again only when a page
        // changed more than the states of its own entries (conflicts settled, a store reset),
        // and at the end, for what was appended meanwhile.
        let mut resets = 0u32;
        'snapshot: loop {
            let snapshot = self.inner.store.storage().load_sync().await?;
            let mut state = snapshot
                .state
                .ok_or_else(|| Error::storage("the sync state is missing"))?;
            let pending: Vec<&OutboxEntry> = snapshot
                .outbox
                .iter()
                .filter(|entry| entry.state == OutboxState::Pending)
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            for page in pending.chunks(self.inner.options.push_batches.max(1)) {
                let request = PushRequest {
                    store_id: state.store_id.clone(),
                    client_id: state.client_id.clone(),
                    batches: page
                        .iter()
                        .map(|entry| push_batch(entry))
                        .collect::<Result<_>>()?,
                };
                let response = self.call_push(request).await?;
                if state.store_id.is_some() && state.store_id.as_ref() != Some(&response.store_id) {
                    // A stale store id makes the server process nothing: rebuild, push again.
                    self.reset_mirror(&mut resets, &state, response.store_id)
                        .await?;
                    continue 'snapshot;
                }
                state.store_id = Some(response.store_id.clone());
                let settled = self
                    .record_results(&snapshot.outbox, state.clone(), response)
                    .await?;
                if settled {
                    continue 'snapshot;
                }
            }
        }
    }

    /// Records a push's results in one transaction, then settles its conflicts; whether there
    /// were any (the outbox then changed beyond the pushed entries' states).
    async fn record_results(
        &self,
        outbox: &[OutboxEntry],
        state: SyncState,
        response: crate::sync::PushResponse,
    ) -> Result<bool, SyncError> {
        let mut change = SyncChange {
            state: Some(SyncState {
                store_id: Some(response.store_id.clone()),
                ..state
            }),
            ..SyncChange::default()
        };
        let mut rejected = Vec::new();
        let mut conflicts = Vec::new();
        let mut answered = 0;
        for result in response.results {
            let Some(entry) = outbox.iter().find(|e| e.batch_id == result.batch_id()) else {
                continue;
            };
            answered += 1;
            match result {
                BatchResult::Appended { position, .. }
                | BatchResult::Duplicate { position, .. } => {
                    change.confirm.push((entry.batch_id.clone(), position));
                }
                BatchResult::Rejected { code, message, .. } => {
                    change.remove.push(entry.batch_id.clone());
                    rejected.push(SyncRejection {
                        stream: entry.batch.stream_id.clone(),
                        code,
                        message,
                        dropped: pending_as_recorded(0, std::slice::from_ref(entry))?,
                    });
                }
                BatchResult::Conflict {
                    current_version,
                    since,
                    ..
                } => conflicts.push((
                    entry.batch.stream_id.clone(),
                    current_version,
                    since
                        .into_iter()
                        .map(RecordedEvent::from)
                        .collect::<Vec<_>>(),
                )),
                BatchResult::Skipped { .. } => {}
            }
        }
        if answered == 0 {
            // Pushing the same page again would get the same non-answer, forever.
            return Err(TransportError::new(
                TransportErrorKind::Refused,
                "the server answered the push without a result for any batch",
            )
            .into());
        }
        self.inner.store.storage().apply_sync(change).await?;
        if !rejected.is_empty() {
            self.update_status(|status| status.rejected.extend(rejected));
        }
        let settled = !conflicts.is_empty();
        for (stream, current_version, theirs) in conflicts {
            self.settle(stream, current_version, theirs).await?;
        }
        Ok(settled)
    }

    /// Asks the application about one stream's conflict and applies its answer.
    async fn settle(
        &self,
        stream: String,
        current_version: u64,
        theirs: Vec<RecordedEvent>,
    ) -> Result<(), SyncError> {
        let outbox = self.inner.store.storage().load_sync().await?.outbox;
        let entries: Vec<OutboxEntry> = stream_entries(&outbox, &stream)
            .into_iter()
            .filter(|entry| entry.state == OutboxState::Pending)
            .collect();
        let base = current_version.saturating_sub(theirs.len() as u64);
        let pending = pending_as_recorded(base, &entries)?;
        let conflict = SyncConflict {
            stream: stream.clone(),
            current_version,
            pending,
            theirs,
        };
        let resolution = match &self.inner.on_conflict {
            Some(handler) => handler.resolve(conflict.clone()).await,
            None => Resolution::Drop,
        };
        let mut change = SyncChange {
            remove: entries.iter().map(|e| e.batch_id.clone()).collect(),
            ..SyncChange::default()
        };
        // Dropped pending events are reported; so are those of a resolution that is not a valid
        // append (it would conflict again forever otherwise).
        let mut report = false;
        match resolution {
            Resolution::Drop => report = true,
            Resolution::Append(events) if events.is_empty() => {}
            Resolution::Append(events) => {
                match prepare_batch(&stream, ExpectedVersion::Exact(current_version), events) {
                    Ok(batch) => change.add.push(OutboxEntry {
                        batch_id: uuid::Uuid::now_v7().to_string(),
                        batch,
                        state: OutboxState::Pending,
                    }),
                    Err(_) => report = true,
                }
            }
        }
        self.inner.store.storage().apply_sync(change).await?;
        if report {
            self.update_status(|status| status.conflicts.push(conflict));
        }
        Ok(())
    }

    async fn pull_all(&self) -> Result<(), SyncError> {
        // The state and the confirmed entries are read once and followed page by page (only this
        // round changes them); read again after a store reset. While one page is written to
        // the mirror, the next one is already asked for (and decoded): the server's read and
        // the transfer overlap the local write.
        let mut resets = 0u32;
        'snapshot: loop {
            let snapshot = self.inner.store.storage().load_sync().await?;
            let mut state = snapshot
                .state
                .ok_or_else(|| Error::storage("the sync state is missing"))?;
            let mut confirmed: Vec<(String, u64)> = snapshot
                .outbox
                .into_iter()
                .filter_map(|entry| match entry.state {
                    OutboxState::Confirmed { position } => Some((entry.batch_id, position)),
                    OutboxState::Pending => None,
                })
                .collect();
            let mut head = self.inner.store.head().await?;
            let mut prefetched = None;
            loop {
                let page = match prefetched.take() {
                    Some(page) => page,
                    None => self.pull_page(state.pulled).await,
                }?;
                // Another store, or the same id gone back in time (a restored copy): rebuild.
                let replaced = state
                    .store_id
                    .as_ref()
                    .is_some_and(|id| *id != page.store_id)
                    || page.head < state.pulled;
                if replaced {
                    self.reset_mirror(&mut resets, &state, page.store_id)
                        .await?;
                    continue 'snapshot;
                }
                let events: Vec<RecordedEvent> = page
                    .events
                    .into_iter()
                    .filter(|event| event.position > head)
                    .collect();
                let caught_up = page.next >= page.head;
                let next = page.next.max(state.pulled);
                let (done, waiting): (Vec<_>, Vec<_>) = confirmed
                    .into_iter()
                    .partition(|(_, position)| *position <= next);
                confirmed = waiting;
                let got_events = !events.is_empty();
                head = events.last().map_or(head, |event| event.position);
                state = SyncState {
                    store_id: Some(page.store_id),
                    pulled: next,
                    ..state
                };
                let applied = self.inner.store.storage().apply_sync(SyncChange {
                    events,
                    remove: done.into_iter().map(|(batch_id, _)| batch_id).collect(),
                    state: Some(state.clone()),
                    ..SyncChange::default()
                });
                if caught_up {
                    applied.await?;
                } else {
                    let (applied, fetched) = futures::join!(applied, self.pull_page(next));
                    applied?;
                    prefetched = Some(fetched);
                }
                if got_events {
                    self.inner.store.wake_subscriptions();
                }
                self.update_status(|status| status.last_pulled = next);
                if caught_up {
                    return Ok(());
                }
            }
        }
    }

    /// One pull after `after`, its events decoded.
    async fn pull_page(&self, after: u64) -> Result<PulledPage, SyncError> {
        let response = self.call_pull(self.pull_request(after)).await?;
        Ok(PulledPage {
            events: response
                .events
                .into_iter()
                .map(RecordedEvent::from)
                .collect(),
            next: response.next,
            head: response.head,
            store_id: response.store_id,
        })
    }
}

/// A pull's answer with its events decoded.
struct PulledPage {
    events: Vec<RecordedEvent>,
    next: u64,
    head: u64,
    store_id: String,
}

fn push_batch(entry: &OutboxEntry) -> Result<PushBatch> {
    let events = pending_as_recorded(0, std::slice::from_ref(entry))?
        .into_iter()
        .map(|event| NewEventJson {
            event_type: event.event_type,
            data: event.data,
            metadata: event.metadata,
            id: Some(event.id),
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
        })
        .collect();
    Ok(PushBatch {
        batch_id: entry.batch_id.clone(),
        stream: entry.batch.stream_id.clone(),
        expected: ExpectedVersionJson(entry.batch.expected),
        events,
    })
}
