//! [`EventStore`]: append, read, read all and subscribe over any [`Storage`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::TryStreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::append_many::{prepare_many, StreamAppend};
use crate::error::{Error, Result};
use crate::platform::{now_millis, BoxStream};
use crate::storage::{AppendBatch, AppendNotifier, PreparedEvent, Retention, Storage};
use crate::subscription::{SubscribeOptions, Subscription, SubscriptionTarget};
use crate::types::{
    category_of, refuse_control_characters, validate_stream_id, AppendResult, Direction,
    ExpectedVersion, Filter, ListStreamsOptions, NewEvent, ReadAllOptions, ReadStreamOptions,
    RecordedEvent, StreamInfo,
};
use crate::upcast::Upcasters;

/// How many events one storage query reads at most when a read is paged.
pub const DEFAULT_PAGE_SIZE: usize = 500;

/// Settings of an [`EventStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// How often idle subscriptions check the storage for appends made by other processes or
    /// tabs (appends through any store on the same data in this process wake them at once, and
    /// so do other processes' appends to a SQLite file, noticed by its file watch within a few
    /// milliseconds; the poll is what remains when a wake-up is missed). Default: 100 ms. It must not be zero (a zero interval would busy-poll): subscribing with
    /// it fails with [`Error::InvalidInput`].
    pub poll_interval: Duration,
    /// How many events one storage query reads when a read is paged. Default: 500.
    pub page_size: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            poll_interval: Duration::from_millis(100),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// An event store over a [`Storage`] backend.
///
/// Cheap to clone: clones share the backend and wake each other's subscriptions (as do stores
/// over other handles on the same data in this process: see [`Storage::notifier`]). On native
/// targets it is `Send + Sync` and its futures are `Send`.
///
/// ```
/// # futures::executor::block_on(async {
/// use evstore::{EventStore, ExpectedVersion, MemoryStorage, NewEvent, ReadStreamOptions};
/// use serde_json::json;
///
/// let store = EventStore::new(MemoryStorage::new());
/// store.append("account-1", ExpectedVersion::NoStream,
///              vec![NewEvent::new("Opened", json!({ "owner": "ada" }))]).await?;
/// let events = store.read_stream("account-1", ReadStreamOptions::new()).await?;
/// assert_eq!(events[0].event_type, "Opened");
/// # Ok::<(), evstore::Error>(()) }).unwrap();
/// ```
pub struct EventStore<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    storage: S,
    options: StoreOptions,
    /// Applied to every event read through the store. The lock is held only to copy or replace
    /// them (a map of shared functions, cheap to copy), never while an upcaster runs: one may
    /// register another.
    upcasters: RwLock<Upcasters>,
    /// Notified after every append through this store and on close; shared with the other
    /// stores on the same data in this process (see [`Storage::notifier`]).
    appended: AppendNotifier,
    closed: AtomicBool,
    subscriptions: AtomicUsize,
    /// How many [`KeepOpen`] guards are alive: work that must reach the backend even if the store
    /// is closed meanwhile (a projector saving the checkpoint of a batch its handler took).
    kept_open: AtomicUsize,
    /// Whether the backend's [`Storage::close`] was called.
    storage_closed: AtomicBool,
    /// Whether a sync client mirrors a server into this store (appends go to its outbox).
    synced: AtomicBool,
}

impl<S> Clone for EventStore<S> {
    fn clone(&self) -> Self {
        EventStore {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> std::fmt::Debug for EventStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("options", &self.inner.options)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<S> EventStore<S> {
    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// How many subscriptions of this store (all clones) are alive.
    pub fn subscription_count(&self) -> usize {
        self.inner.subscriptions.load(Ordering::Acquire)
    }

    /// Counts a subscription in (`true`) or out (`false`).
    pub(crate) fn track_subscription(&self, alive: bool) {
        if alive {
            self.inner.subscriptions.fetch_add(1, Ordering::AcqRel);
        } else {
            self.inner.subscriptions.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl<S: Storage> EventStore<S> {
    /// A store over `storage` with default options.
    pub fn new(storage: S) -> Self {
        Self::with_options(storage, StoreOptions::default())
    }

    /// A store over `storage` with `options`.
    pub fn with_options(storage: S, options: StoreOptions) -> Self {
        Self::with_upcasters(storage, options, Upcasters::new())
    }

    /// A store over `storage` with `options` that reads events through `upcasters` (see
    /// [`Upcasters`]): every read path of the store, its subscriptions, projectors,
    /// repositories and sync client hand out upcast events; the stored events are unchanged.
    pub fn with_upcasters(storage: S, options: StoreOptions, upcasters: Upcasters) -> Self {
        EventStore {
            inner: Arc::new(Inner {
                appended: storage.notifier(),
                storage,
                options,
                upcasters: RwLock::new(upcasters),
                closed: AtomicBool::new(false),
                subscriptions: AtomicUsize::new(0),
                kept_open: AtomicUsize::new(0),
                storage_closed: AtomicBool::new(false),
                synced: AtomicBool::new(false),
            }),
        }
    }

    /// The backend.
    pub fn storage(&self) -> &S {
        &self.inner.storage
    }

    /// The options the store was made with.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// The upcasters the store reads through (none unless made with
    /// [`with_upcasters`](Self::with_upcasters) or registered with
    /// [`register_upcaster`](Self::register_upcaster)).
    pub fn upcasters(&self) -> Upcasters {
        self.inner
            .upcasters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Registers `upcast` for events of `event_type` (see [`Upcasters::register`]), for every
    /// clone of this store; reads that start afterwards apply it. Register upcasters before
    /// reading (or at construction, with [`with_upcasters`](Self::with_upcasters)) so that every
    /// reader sees the same shapes.
    pub fn register_upcaster<F, E>(&self, event_type: impl Into<String>, upcast: F)
    where
        F: Fn(RecordedEvent) -> std::result::Result<RecordedEvent, E>
            + crate::platform::MaybeSend
            + crate::platform::MaybeSync
            + 'static,
        E: std::fmt::Display,
    {
        // Registering runs no user code and cannot leave the map half-updated.
        let mut upcasters = self
            .inner
            .upcasters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *upcasters = std::mem::take(&mut *upcasters).register(event_type, upcast);
    }

    /// `events` as readers see them: through the store's upcasters.
    pub(crate) fn upcast(&self, events: Vec<RecordedEvent>) -> Result<Vec<RecordedEvent>> {
        self.upcasters().apply_all(events)
    }

    /// The events the `maxAge` of their streams keeps now (see [`Retention`]).
    pub(crate) async fn retention(&self) -> Result<Retention> {
        Retention::load(&self.inner.storage).await
    }

    /// One page of `stream_id` from the storage (see [`Storage::read_stream`]), without the
    /// events its `maxAge` no longer keeps, upcast: what every reader of a stream goes through.
    /// The page may hold fewer events than the storage returned; [`StreamPage`] says how far the
    /// read got.
    pub(crate) async fn read_stream_page(
        &self,
        stream_id: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<StreamPage> {
        let (stored, retention) = futures::try_join!(
            self.inner
                .storage
                .read_stream(stream_id, from_version, direction, limit),
            self.retention()
        )?;
        let scanned = stored.len();
        let last = stored.last().map(|event| event.version);
        let events = self.upcast(retention.retain(stored))?;
        Ok(StreamPage {
            events,
            scanned,
            last,
        })
    }

    /// One page of all streams from the storage (see [`Storage::read_all`]), without the events
    /// the `maxAge` of their streams no longer keeps, upcast and filtered on the upcast types:
    /// what every reader of all streams goes through. The page may hold fewer events than the
    /// storage returned; [`AllPage`] says how far the read got.
    pub(crate) async fn read_all_page(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
    ) -> Result<AllPage> {
        self.read_all_page_with(from_position, direction, limit, filter, true)
            .await
    }

    /// [`read_all_page`](Self::read_all_page), hiding expired events only if `hide_expired`:
    /// a projector retrying a batch reads it again as it was delivered, including events that
    /// expired meanwhile.
    pub(crate) async fn read_all_page_with(
        &self,
        from_position: u64,
        direction: Direction,
        limit: usize,
        filter: &Filter,
        hide_expired: bool,
    ) -> Result<AllPage> {
        let upcasters = self.upcasters();
        let widened = upcasters.widen(filter);
        let retention = async {
            if hide_expired {
                self.retention().await
            } else {
                Ok(Retention::default())
            }
        };
        let (stored, retention) = futures::try_join!(
            self.inner.storage.read_all(
                from_position,
                direction,
                limit,
                widened.as_ref().unwrap_or(filter),
            ),
            retention
        )?;
        let scanned = stored.len();
        let last = stored.last().map(|event| event.position);
        let mut events = upcasters.apply_all(retention.retain(stored))?;
        if widened.is_some() {
            events.retain(|event| Upcasters::keeps(filter, event));
        }
        Ok(AllPage {
            events,
            scanned,
            last,
        })
    }

    /// Appends `events` to `stream` atomically, if the stream's version satisfies `expected`.
    ///
    /// Event ids are stored normalized: any UUID form is accepted (`{…}`, `urn:uuid:…`, simple,
    /// upper case) and stored and returned in lower-case hyphenated form
    /// (`0190a5e4-…`); a retry matches its earlier append by that form.
    ///
    /// Errors: [`Error::WrongExpectedVersion`] on a version mismatch, [`Error::DuplicateEventId`]
    /// when an event id is already used by another event, [`Error::InvalidInput`] for an invalid
    /// stream id (see [`validate_stream_id`](crate::validate_stream_id)), an empty batch, an empty
    /// event type or one with a control character, an id that is not a UUID or metadata that
    /// is not a JSON object. In every error case nothing is written. Appending a batch whose ids
    /// were all already appended by an identical call returns that call's result and writes
    /// nothing (safe retries). A store a [`SyncClient`](crate::sync::SyncClient) mirrors a
    /// server into refuses appends with [`Error::InvalidInput`]: they go to the client's outbox
    /// ([`SyncClient::append`](crate::sync::SyncClient::append), `sync.append()` in JS).
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult> {
        self.ensure_open()?;
        self.ensure_not_synced(stream)?;
        let batch = prepare_batch(stream, expected, events)?;
        let result = self.inner.storage.append(batch).await?;
        self.inner.appended.notify();
        Ok(result)
    }

    /// Appends to several streams atomically: every part's expected version is checked, and
    /// every part written, in one storage transaction — all or nothing. Returns each part's
    /// result, in call order.
    ///
    /// - The parts are decided in call order, each as [`append`](Self::append) decides one and
    ///   each seeing the parts before it: the same stream may appear twice, and its second part's
    ///   expected version then counts the first part's events. Positions increase in call order.
    /// - A part whose expected version fails makes the whole call fail with one
    ///   [`Error::WrongExpectedVersion`] that names the first such stream and every other one in
    ///   `others` ([`Error::conflicts`] lists them all); nothing is written.
    /// - Retrying a call with the same event ids returns the original results and writes nothing
    ///   (each part is an idempotent retry as for one stream).
    /// - Subscriptions are woken once, after the commit.
    /// - Refused with nothing written: no parts, more than
    ///   [`MAX_APPEND_MANY_STREAMS`](crate::MAX_APPEND_MANY_STREAMS) parts, or any part that
    ///   [`append`](Self::append) would refuse ([`Error::InvalidInput`] naming the part); an
    ///   event id used twice in the call is [`Error::DuplicateEventId`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use evstore::{EventStore, ExpectedVersion, MemoryStorage, NewEvent};
    /// use serde_json::json;
    ///
    /// let store = EventStore::new(MemoryStorage::new());
    /// let results = store.append_many([
    ///     ("account-1", ExpectedVersion::NoStream, vec![NewEvent::new("Opened", json!({}))]),
    ///     ("account-2", ExpectedVersion::NoStream, vec![NewEvent::new("Opened", json!({}))]),
    /// ]).await?;
    /// assert_eq!(results.iter().map(|r| r.position).collect::<Vec<_>>(), [1, 2]);
    ///
    /// // One stale part refuses the whole call.
    /// let stale = store.append_many([
    ///     ("account-1", ExpectedVersion::Exact(1), vec![NewEvent::new("Debited", json!({}))]),
    ///     ("account-2", ExpectedVersion::NoStream, vec![NewEvent::new("Credited", json!({}))]),
    /// ]).await.unwrap_err();
    /// assert_eq!(stale.conflicts()[0].stream, "account-2");
    /// assert_eq!(store.head().await?, 2);
    /// # Ok::<(), evstore::Error>(()) }).unwrap();
    /// ```
    pub async fn append_many<I, A>(&self, parts: I) -> Result<Vec<AppendResult>>
    where
        I: IntoIterator<Item = A>,
        A: Into<StreamAppend>,
    {
        self.ensure_open()?;
        let parts: Vec<StreamAppend> = parts.into_iter().map(Into::into).collect();
        if let Some(first) = parts.first() {
            self.ensure_not_synced(&first.stream)?;
        }
        let batches = prepare_many(parts)?;
        let results = self.inner.storage.append_many(batches).await?;
        self.inner.appended.notify();
        Ok(results)
    }

    /// Appends typed events (externally tagged serde enums; the variant name is the event type).
    /// See [`append`](Self::append) and [`NewEvent::from_typed`], which says what is refused.
    pub async fn append_typed<T: Serialize>(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[T],
    ) -> Result<AppendResult> {
        self.append(stream, expected, typed_events(events)?).await
    }

    /// Reads events of `stream`, paged internally, into a vector.
    ///
    /// A stream without events is [`Error::StreamNotFound`] (also once soft-deleted), a
    /// tombstoned one [`Error::StreamDeleted`]; one whose events all expired (its `maxAge`, see
    /// [`StreamMetadata`](crate::StreamMetadata)) reads as empty. Expired events are never
    /// returned, and `max_count` counts only the events returned. `max_count` of 0 is
    /// [`Error::InvalidInput`].
    pub async fn read_stream(
        &self,
        stream: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>> {
        let events: Vec<RecordedEvent> = self.stream_events(stream, options)?.try_collect().await?;
        // A tombstoned stream is `StreamDeleted` (from `stream_version`).
        if events.is_empty() && self.stream_version(stream).await? == 0 {
            return Err(Error::StreamNotFound {
                stream: stream.to_owned(),
            });
        }
        Ok(events)
    }

    /// The events of `stream` as a lazy stream that reads one page at a time; nothing is read
    /// until it is polled. Unlike [`read_stream`](Self::read_stream) it yields nothing (rather
    /// than failing) for a stream without events.
    pub fn stream_events(
        &self,
        stream: &str,
        options: ReadStreamOptions,
    ) -> Result<BoxStream<'static, Result<RecordedEvent>>> {
        let (start, limit) = self.stream_bounds(stream, &options)?;
        let store = self.clone();
        let stream = stream.to_owned();
        let direction = options.direction;
        Ok(self.paged(start, limit, move |from, page| {
            let (store, stream) = (store.clone(), stream.clone());
            async move { store.stream_page_from(&stream, from, direction, page).await }
        }))
    }

    /// The next page of a lazy read of `stream` from version `from` (inclusive), and the
    /// version the page after it starts at (`None`: no page after it). A page read in full
    /// whose events had all expired (`maxAge`) is skipped.
    pub(crate) async fn stream_page_from(
        &self,
        stream: &str,
        mut from: u64,
        direction: Direction,
        page: usize,
    ) -> Result<(Vec<RecordedEvent>, Option<u64>)> {
        loop {
            let read = self.read_stream_page(stream, from, direction, page).await?;
            // Inclusive bounds: continue after (or before) the last version read.
            let next = read
                .last
                .map(|last| match direction {
                    Direction::Forward => last + 1,
                    Direction::Backward => last.saturating_sub(1),
                })
                .filter(|&v| v > 0);
            match next {
                Some(next) if read.events.is_empty() && read.scanned >= page => from = next,
                next => return Ok((read.events, next)),
            }
        }
    }

    /// Reads events of all streams in position order, paged internally, into a vector.
    /// `from_position` is exclusive; `max_count` of 0 is [`Error::InvalidInput`].
    pub async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>> {
        self.all_events(options)?.try_collect().await
    }

    /// The events of all streams as a lazy stream that reads one page at a time.
    pub fn all_events(
        &self,
        options: ReadAllOptions,
    ) -> Result<BoxStream<'static, Result<RecordedEvent>>> {
        let (start, limit) = self.all_bounds(&options)?;
        let store = self.clone();
        let direction = options.direction;
        let filter = Arc::new(options.filter);
        Ok(self.paged(start, limit, move |from, page| {
            let (store, filter) = (store.clone(), Arc::clone(&filter));
            async move { store.all_page_from(from, direction, page, &filter).await }
        }))
    }

    /// The next page of a lazy read of all streams after position `from` (exclusive), and the
    /// position the page after it continues from. A page read in full whose events the upcast
    /// type filter or `maxAge` all dropped is skipped.
    pub(crate) async fn all_page_from(
        &self,
        mut from: u64,
        direction: Direction,
        page: usize,
        filter: &Filter,
    ) -> Result<(Vec<RecordedEvent>, Option<u64>)> {
        loop {
            let read = self.read_all_page(from, direction, page, filter).await?;
            match read.last {
                Some(last) if read.events.is_empty() && read.scanned >= page => from = last,
                // Exclusive bounds: continue from the last position read.
                next => return Ok((read.events, next)),
            }
        }
    }

    /// Lists the streams that have events, in ascending order of stream id, with their current
    /// versions and the positions of their last events: every stream, or those whose id starts
    /// with `options.prefix`, strictly after `options.after`, at most `options.max_count` (all
    /// by default, read in pages). Page through a large store by passing the last id of a page
    /// as the next page's `after`.
    ///
    /// Ids are ordered by code point (UTF-8 byte order) natively; IndexedDB orders by UTF-16
    /// code unit, which differs only for ids holding characters above U+FFFF. An empty or
    /// too-long `after`, a prefix or `after` with a control character, or `max_count` 0 is
    /// [`Error::InvalidInput`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use evstore::{EventStore, ExpectedVersion, ListStreamsOptions, MemoryStorage, NewEvent};
    ///
    /// let store = EventStore::new(MemoryStorage::new());
    /// for id in ["account-2", "order-1", "account-1"] {
    ///     store.append(id, ExpectedVersion::Any, vec![NewEvent::new("Opened", serde_json::json!({}))]).await?;
    /// }
    /// let accounts = store.list_streams(ListStreamsOptions::new().prefix("account-")).await?;
    /// let ids: Vec<&str> = accounts.iter().map(|s| s.stream_id.as_str()).collect();
    /// assert_eq!(ids, ["account-1", "account-2"]);
    /// assert_eq!((accounts[0].version, accounts[0].position), (1, 3));
    /// # Ok::<(), evstore::Error>(()) }).unwrap();
    /// ```
    pub async fn list_streams(&self, options: ListStreamsOptions) -> Result<Vec<StreamInfo>> {
        self.ensure_open()?;
        let mut remaining = validate_max_count(options.max_count)?;
        refuse_control_characters("stream prefix", &options.prefix)?;
        let mut after = options.after;
        if let Some(after) = &after {
            validate_stream_id(after).map_err(|e| Error::invalid_input(format!("`after`: {e}")))?;
        }
        let page_size = self.inner.options.page_size.max(1);
        let mut streams = Vec::new();
        while remaining > 0 {
            let limit = remaining.min(page_size);
            let page = self
                .inner
                .storage
                .list_streams(&options.prefix, after.as_deref(), limit)
                .await?;
            let full = page.len() >= limit;
            remaining -= page.len().min(remaining);
            after = page.last().map(|last| last.stream_id.clone());
            streams.extend(page);
            if !full {
                break;
            }
        }
        Ok(streams)
    }

    /// Subscribes to the events of all streams (optionally filtered): catch-up from
    /// `options.start`, then live. See [`Subscription`].
    pub async fn subscribe_all(&self, options: SubscribeOptions) -> Result<Subscription> {
        Subscription::start(self.clone(), SubscriptionTarget::All, options).await
    }

    /// Subscribes to the events of one stream: catch-up from `options.start` (a version),
    /// then live. The stream need not exist yet. See [`Subscription`].
    pub async fn subscribe_to_stream(
        &self,
        stream: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription> {
        validate_stream_id(stream)?;
        Subscription::start(
            self.clone(),
            SubscriptionTarget::Stream(stream.to_owned()),
            options,
        )
        .await
    }

    /// The current version of `stream` (0 when it has no events, also once soft-deleted);
    /// [`Error::StreamDeleted`] for a tombstoned stream.
    pub async fn stream_version(&self, stream: &str) -> Result<u64> {
        self.ensure_open()?;
        validate_stream_id(stream)?;
        let last = self
            .inner
            .storage
            .read_stream(stream, u64::MAX, Direction::Backward, 1)
            .await?;
        match last.first() {
            Some(event) => Ok(event.version),
            None => self.stream_record(stream).await.map(|_| 0),
        }
    }

    /// The position of the last event in the store (0 when empty).
    pub async fn head(&self) -> Result<u64> {
        self.ensure_open()?;
        self.inner.storage.head().await
    }

    /// The store's id (see [`Storage::store_id`]): sync clients compare it to notice that a
    /// server's store was replaced.
    pub async fn store_id(&self) -> Result<String> {
        self.ensure_open()?;
        self.inner.storage.store_id().await
    }

    /// Wakes this store's idle subscriptions now, to look for appends another process or tab
    /// made (otherwise they notice on their next poll). The browser package calls it when a
    /// `BroadcastChannel` message says another tab appended.
    pub fn wake_subscriptions(&self) {
        self.inner.appended.notify();
    }

    /// Closes the store: subscriptions end, later calls on any clone fail with [`Error::Closed`],
    /// and the backend releases its resources.
    ///
    /// A [`Projector`](crate::Projector) running over the store stops: a batch its handler is
    /// working on finishes and its checkpoint is saved before the backend is released (the
    /// backend stays open until then), events not yet handed to a handler are left for the next
    /// run, and the projections end [`Stopped`](crate::ProjectionState::Stopped).
    pub fn close(&self) {
        if !self.inner.closed.swap(true, Ordering::SeqCst) {
            self.inner.appended.notify();
            self.release_storage_if_unused();
        }
    }

    /// Keeps the backend open, even if the store is closed meanwhile, until the guard is
    /// dropped; `None` when the store is already closed.
    pub(crate) fn keep_open(&self) -> Option<KeepOpen<S>> {
        self.inner.kept_open.fetch_add(1, Ordering::SeqCst);
        // Dropped at once (and releasing the backend if `close` raced with us) when closed.
        let guard = KeepOpen {
            store: self.clone(),
        };
        (!self.is_closed()).then_some(guard)
    }

    /// Closes the backend once the store is closed and no [`KeepOpen`] guard is left.
    fn release_storage_if_unused(&self) {
        if self.inner.closed.load(Ordering::SeqCst)
            && self.inner.kept_open.load(Ordering::SeqCst) == 0
            && !self.inner.storage_closed.swap(true, Ordering::SeqCst)
        {
            self.inner.storage.close();
        }
    }

    /// Marks the store as a sync client's mirror: from now on [`append`](Self::append) refuses.
    pub(crate) fn mark_synced(&self) {
        self.inner.synced.store(true, Ordering::Release);
    }

    fn ensure_not_synced(&self, stream: &str) -> Result<()> {
        if self.inner.synced.load(Ordering::Acquire) {
            return Err(Error::invalid_input(format!(
                "cannot append to `{stream}` here: this store mirrors a sync server, so local \
                 appends go to the outbox through the sync handle (`sync.append()` in JS, \
                 `SyncClient::append` in Rust)"
            )));
        }
        Ok(())
    }

    /// Where a lazy read of `stream` starts (inclusive) and how many events it reads at most,
    /// after the checks every stream read makes (open store, valid id, valid `max_count`).
    pub(crate) fn stream_bounds(
        &self,
        stream: &str,
        options: &ReadStreamOptions,
    ) -> Result<(u64, usize)> {
        self.ensure_open()?;
        validate_stream_id(stream)?;
        let limit = validate_max_count(options.max_count)?;
        let start = match (options.direction, options.from_version) {
            (_, Some(version)) => version,
            (Direction::Forward, None) => 1,
            (Direction::Backward, None) => u64::MAX,
        };
        Ok((start, limit))
    }

    /// Where a lazy read of all streams starts (exclusive) and how many events it reads at
    /// most, after the checks every such read makes (open store, valid `max_count` and filter).
    pub(crate) fn all_bounds(&self, options: &ReadAllOptions) -> Result<(u64, usize)> {
        self.ensure_open()?;
        let limit = validate_max_count(options.max_count)?;
        options.filter.validate()?;
        let start = match (options.direction, options.from_position) {
            (_, Some(position)) => position,
            (Direction::Forward, None) => 0,
            (Direction::Backward, None) => u64::MAX,
        };
        Ok((start, limit))
    }

    pub(crate) fn ensure_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Listens for the next append through this store or another on the same data (or close).
    pub(crate) fn listen(&self) -> event_listener::EventListener {
        self.inner.appended.listen()
    }

    /// A lazy stream over pages: `fetch(from, page_size)` returns a page and where the next one
    /// starts (`None` when there is no next one). Stops after `limit` events. (The JS API pages
    /// its event objects through it too.)
    pub(crate) fn paged<T, F, Fut>(
        &self,
        start: u64,
        limit: usize,
        fetch: F,
    ) -> BoxStream<'static, Result<T>>
    where
        T: crate::platform::MaybeSend + 'static,
        F: Fn(u64, usize) -> Fut + crate::platform::MaybeSend + 'static,
        Fut: std::future::Future<Output = Result<(Vec<T>, Option<u64>)>>
            + crate::platform::MaybeSend
            + 'static,
    {
        let page_size = self.inner.options.page_size.max(1);
        let pages = futures::stream::try_unfold((Some(start), limit), move |(from, remaining)| {
            let fetch_page = from
                .filter(|_| remaining > 0)
                .map(|from| fetch(from, remaining.min(page_size)));
            async move {
                let Some(fetch_page) = fetch_page else {
                    return Ok(None);
                };
                let (events, next) = fetch_page.await?;
                if events.is_empty() {
                    return Ok(None);
                }
                let remaining = remaining - events.len();
                Ok(Some((
                    futures::stream::iter(events.into_iter().map(Ok)),
                    (next, remaining),
                )))
            }
        });
        Box::pin(pages.try_flatten())
    }
}

/// One page of [`EventStore::read_stream_page`].
pub(crate) struct StreamPage {
    /// The events, upcast, that the stream's `maxAge` keeps.
    pub(crate) events: Vec<RecordedEvent>,
    /// How many events the storage returned; fewer than the limit means the read reached the
    /// end.
    pub(crate) scanned: usize,
    /// The version of the last event the storage returned.
    pub(crate) last: Option<u64>,
}

/// One page of [`EventStore::read_all_page`].
pub(crate) struct AllPage {
    /// The events, upcast, that match the filter.
    pub(crate) events: Vec<RecordedEvent>,
    /// How many events the storage returned (more than `events` when upcasting changed types
    /// the filter asks for); fewer than the limit means the read reached the end.
    pub(crate) scanned: usize,
    /// The position of the last event the storage returned: where the next page starts.
    pub(crate) last: Option<u64>,
}

/// Keeps the backend of a store open while alive; see [`EventStore::keep_open`].
pub(crate) struct KeepOpen<S: Storage> {
    store: EventStore<S>,
}

impl<S: Storage> Drop for KeepOpen<S> {
    fn drop(&mut self) {
        self.store.inner.kept_open.fetch_sub(1, Ordering::SeqCst);
        self.store.release_storage_if_unused();
    }
}

/// Typed events (serde enums) as new events; see [`NewEvent::from_typed`].
pub(crate) fn typed_events<T: Serialize>(events: &[T]) -> Result<Vec<NewEvent>> {
    events.iter().map(NewEvent::from_typed).collect()
}

fn validate_max_count(max_count: Option<usize>) -> Result<usize> {
    match max_count {
        Some(0) => Err(Error::invalid_input("max_count must be at least 1")),
        Some(count) => Ok(count),
        None => Ok(usize::MAX),
    }
}

/// Validates an append and turns it into what a backend writes: ids assigned (UUIDv7) or
/// normalized, JSON encoded, timestamp set.
pub(crate) fn prepare_batch(
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<AppendBatch> {
    validate_stream_id(stream)?;
    if events.is_empty() {
        return Err(Error::invalid_input("an append needs at least one event"));
    }
    let recorded_at = now_millis();
    let mut seen = HashSet::with_capacity(events.len());
    let events = events
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            let prepared = prepare_event(event, recorded_at).map_err(|e| match e {
                Error::InvalidInput { reason } => {
                    Error::invalid_input(format!("event {index}: {reason}"))
                }
                other => other,
            })?;
            if !seen.insert(prepared.id.clone()) {
                return Err(Error::DuplicateEventId { id: prepared.id });
            }
            Ok(prepared)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(AppendBatch {
        stream_id: stream.to_owned(),
        category: category_of(stream).to_owned(),
        expected,
        events,
    })
}

/// Validates one event and turns it into what a backend writes, recorded at `recorded_at`.
pub(crate) fn prepare_event(event: NewEvent, recorded_at: u64) -> Result<PreparedEvent> {
    if event.event_type.is_empty() {
        return Err(Error::invalid_input("event type must not be empty"));
    }
    refuse_control_characters("event type", &event.event_type)?;
    let id = match &event.id {
        None => uuid::Uuid::now_v7(),
        Some(id) => uuid::Uuid::parse_str(id)
            .map_err(|e| Error::invalid_input(format!("event id `{id}` is not a UUID: {e}")))?,
    };
    let metadata = match event.metadata {
        Value::Null => "{}".to_owned(),
        Value::Object(map) => encode_json(&map)?,
        other => {
            return Err(Error::invalid_input(format!(
                "metadata must be a JSON object, got `{other}`"
            )))
        }
    };
    Ok(PreparedEvent {
        id: id.hyphenated().to_string(),
        data: encode_json(&event.data)?,
        metadata,
        event_type: event.event_type,
        correlation_id: event.correlation_id,
        causation_id: event.causation_id,
        recorded_at,
    })
}

fn encode_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::invalid_input(format!("not encodable as JSON: {e}")))
}
