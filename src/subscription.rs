//! Catch-up then live subscriptions.
//!
//! A subscription reads from storage in batches (no pause between full batches), yields
//! [`SubscriptionItem::CaughtUp`] when a read comes back empty, then waits. It wakes at once when
//! an append goes through any clone of the same [`EventStore`] (or a store whose backend shares
//! its [`AppendNotifier`](crate::AppendNotifier), which SQLite also notifies on other processes'
//! commits), and otherwise every poll interval checks the backend's cheap
//! [`head`](crate::Storage::head) for appends made by other processes or tabs. It buffers at most one batch: a slow consumer never slows writers, it just reads
//! further behind. Because every read continues strictly after the last delivered position (or
//! version), there is no gap and no duplicate at the switch from catch-up to live.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{select, Either};
use futures::Stream;

use futures::StreamExt;

use crate::error::{Error, Result};
use crate::platform::{sleep, BoxFuture, BoxStream, MaybeSend};
use crate::storage::Storage;
use crate::store::{AllPage, EventStore, StreamPage};
use crate::types::{
    validate_stream_id, Direction, Filter, RecordedEvent, StartFrom, SubscriptionItem,
};

/// Options of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Where to start (exclusive): a position for `subscribe_all`, a version for
    /// `subscribe_to_stream`. Default: from the start.
    ///
    /// A position beyond the store's head (or a version beyond the stream's version) is refused
    /// with [`Error::InvalidInput`]: nobody can have seen it in this store, so it comes from
    /// somewhere else (a checkpoint kept across a store that was deleted and recreated, a typo),
    /// and following from there would silently skip the events appended up to it.
    pub start: StartFrom,
    /// Only events matching this filter (`subscribe_all` only).
    pub filter: Filter,
    /// How many events one storage read takes. Default: 500.
    pub batch_size: usize,
    /// Override of the store's poll interval for appends from other processes or tabs. It must
    /// not be zero (nor may the store's be, when this is `None`): [`Error::InvalidInput`].
    pub poll_interval: Option<Duration>,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            start: StartFrom::Start,
            filter: Filter::default(),
            batch_size: 500,
            poll_interval: None,
        }
    }
}

impl SubscribeOptions {
    /// From the first event.
    pub fn from_start() -> Self {
        Self::default()
    }

    /// After `position` (or version, for a stream subscription), exclusive.
    pub fn after(position: u64) -> Self {
        SubscribeOptions {
            start: StartFrom::After(position),
            ..Self::default()
        }
    }

    /// Only events committed after the subscription starts.
    pub fn from_end() -> Self {
        SubscribeOptions {
            start: StartFrom::End,
            ..Self::default()
        }
    }

    /// Only events matching `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Reads `size` events per storage read.
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }

    /// Polls for appends from other processes or tabs every `interval`.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }
}

/// What a subscription follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubscriptionTarget {
    All,
    Stream(String),
}

/// A live subscription: a [`Stream`] of [`SubscriptionItem`]s, in order, without end.
///
/// It ends when dropped, when the store is closed, or after yielding an error.
///
/// ```
/// # futures::executor::block_on(async {
/// use evstore::{EventStore, ExpectedVersion, MemoryStorage, NewEvent, SubscribeOptions, SubscriptionItem};
/// use futures::StreamExt;
///
/// let store = EventStore::new(MemoryStorage::new());
/// store.append("todo-1", ExpectedVersion::Any, vec![NewEvent::new("Added", serde_json::json!({}))]).await?;
/// let mut subscription = store.subscribe_all(SubscribeOptions::from_start()).await?;
/// assert!(matches!(subscription.next().await, Some(Ok(SubscriptionItem::Event(_)))));
/// assert!(matches!(subscription.next().await, Some(Ok(SubscriptionItem::CaughtUp))));
/// # Ok::<(), evstore::Error>(()) }).unwrap();
/// ```
pub struct Subscription {
    items: BoxStream<'static, Result<SubscriptionItem>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Stream for Subscription {
    type Item = Result<SubscriptionItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.as_mut().poll_next(cx)
    }
}

/// One read of a subscription: the events to deliver, how many events the storage returned
/// (fewer than asked means the read reached the head), and the position (version) of the last
/// one it returned, which the next read continues after.
pub(crate) struct Batch<T> {
    pub(crate) events: Vec<T>,
    pub(crate) scanned: usize,
    pub(crate) last: Option<u64>,
}

/// Where a subscription's batches come from, and what its events are: the core's
/// [`RecordedEvent`]s ([`Recorded`]), or another form of the same stored events (the browser's
/// JS objects made straight from the stored records). A source applies what every reader goes
/// through — `maxAge`, upcasters and the filter on upcast types — as the core's page reads do;
/// the subscription loop (validation, catch-up, waking, polling) is the same for every source.
pub(crate) trait PageSource<S>: MaybeSend + 'static {
    /// What the subscription delivers per event.
    type Event: MaybeSend + 'static;

    /// Up to `limit` events of all streams matching `filter` after `position` (exclusive).
    fn read_all<'a>(
        &'a self,
        store: &'a EventStore<S>,
        position: u64,
        limit: usize,
        filter: &'a Filter,
    ) -> BoxFuture<'a, Result<Batch<Self::Event>>>;

    /// Up to `limit` events of `stream` from `version` (inclusive).
    fn read_stream<'a>(
        &'a self,
        store: &'a EventStore<S>,
        stream: &'a str,
        version: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Batch<Self::Event>>>;
}

/// The core's source: [`RecordedEvent`]s, read through the store's page reads.
#[derive(Clone, Copy)]
pub(crate) struct Recorded;

impl<S: Storage> PageSource<S> for Recorded {
    type Event = RecordedEvent;

    fn read_all<'a>(
        &'a self,
        store: &'a EventStore<S>,
        position: u64,
        limit: usize,
        filter: &'a Filter,
    ) -> BoxFuture<'a, Result<Batch<RecordedEvent>>> {
        Box::pin(async move {
            let page = store.read_all_page(position, Direction::Forward, limit, filter);
            Ok(page.await?.into())
        })
    }

    fn read_stream<'a>(
        &'a self,
        store: &'a EventStore<S>,
        stream: &'a str,
        version: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Batch<RecordedEvent>>> {
        Box::pin(async move {
            let page = store.read_stream_page(stream, version, Direction::Forward, limit);
            Ok(page.await?.into())
        })
    }
}

impl From<AllPage> for Batch<RecordedEvent> {
    fn from(page: AllPage) -> Self {
        Batch {
            events: page.events,
            scanned: page.scanned,
            last: page.last,
        }
    }
}

impl From<StreamPage> for Batch<RecordedEvent> {
    fn from(page: StreamPage) -> Self {
        Batch {
            events: page.events,
            scanned: page.scanned,
            last: page.last,
        }
    }
}

/// What a subscription yields, for any [`PageSource`]: an event, or the marker that it caught
/// up ([`SubscriptionItem`] is this for [`RecordedEvent`]s).
pub(crate) enum Delivery<T> {
    Event(T),
    CaughtUp,
}

struct State<S, P: PageSource<S>> {
    store: EventStore<S>,
    source: P,
    target: SubscriptionTarget,
    filter: Filter,
    batch_size: usize,
    poll_interval: Duration,
    /// The last delivered position (all) or version (stream).
    cursor: u64,
    buffer: VecDeque<P::Event>,
    /// Whether `CaughtUp` was yielded since the last delivered event.
    signalled: bool,
    /// The backend head seen at the last read, to tell whether polling found news.
    head: u64,
    finished: bool,
}

impl Subscription {
    pub(crate) async fn start<S: Storage>(
        store: EventStore<S>,
        target: SubscriptionTarget,
        options: SubscribeOptions,
    ) -> Result<Self> {
        let items = follow(store, target, options, Recorded).await?;
        Ok(Subscription {
            items: Box::pin(items.map(|item| {
                item.map(|delivery| match delivery {
                    Delivery::Event(event) => SubscriptionItem::Event(event),
                    Delivery::CaughtUp => SubscriptionItem::CaughtUp,
                })
            })),
        })
    }
}

/// A subscription to `target` whose events come from `source`: the options are checked and the
/// start resolved now; the stream reads nothing until polled. [`Subscription`] says how it
/// follows the store.
pub(crate) async fn follow<S: Storage, P: PageSource<S>>(
    store: EventStore<S>,
    target: SubscriptionTarget,
    options: SubscribeOptions,
    source: P,
) -> Result<BoxStream<'static, Result<Delivery<P::Event>>>> {
    if let SubscriptionTarget::Stream(stream) = &target {
        validate_stream_id(stream)?;
    }
    store.ensure_open()?;
    if options.batch_size == 0 {
        return Err(Error::invalid_input("batch_size must be at least 1"));
    }
    let poll_interval = options
        .poll_interval
        .unwrap_or(store.options().poll_interval);
    if poll_interval.is_zero() {
        return Err(Error::invalid_input(
            "the poll interval must be longer than zero (zero would poll without pause)",
        ));
    }
    options.filter.validate()?;
    let last = || async {
        match &target {
            SubscriptionTarget::All => store.head().await,
            SubscriptionTarget::Stream(stream) => store.stream_version(stream).await,
        }
    };
    let cursor = match options.start {
        StartFrom::Start => 0,
        StartFrom::End => last().await?,
        StartFrom::After(from) => {
            let last = last().await?;
            if from > last {
                return Err(beyond_the_end(&target, from, last));
            }
            from
        }
    };
    store.track_subscription(true);
    let state = State {
        store,
        source,
        target,
        filter: options.filter,
        batch_size: options.batch_size,
        poll_interval,
        cursor,
        buffer: VecDeque::new(),
        signalled: false,
        head: 0,
        finished: false,
    };
    let items = futures::stream::unfold(state, |mut state| async move {
        let item = state.next_item().await?;
        Some((item, state))
    });
    Ok(Box::pin(items))
}

/// The error for a subscription asked to start after a position (version) nobody has seen.
fn beyond_the_end(target: &SubscriptionTarget, from: u64, last: u64) -> Error {
    let (what, end) = match target {
        SubscriptionTarget::All => ("position".to_owned(), "the store's head".to_owned()),
        SubscriptionTarget::Stream(stream) => (
            "version".to_owned(),
            format!("the version of stream `{stream}`"),
        ),
    };
    Error::invalid_input(format!(
        "cannot subscribe after {what} {from}: it is beyond {end} ({last}), so it was never \
         seen in this store (was the store recreated?) and following from it would skip every \
         event appended up to it"
    ))
}

impl<S, P: PageSource<S>> Drop for State<S, P> {
    fn drop(&mut self) {
        self.store.track_subscription(false);
    }
}

impl<S: Storage, P: PageSource<S>> State<S, P> {
    async fn next_item(&mut self) -> Option<Result<Delivery<P::Event>>> {
        loop {
            if self.finished || self.store.is_closed() {
                return None;
            }
            if let Some(event) = self.buffer.pop_front() {
                return Some(Ok(Delivery::Event(event)));
            }
            // Listen before reading, so an append committed after the read still wakes us.
            let listener = self.store.listen();
            match self.read_batch().await {
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
                Ok(true) => continue,
                Ok(false) if !self.signalled => {
                    self.signalled = true;
                    return Some(Ok(Delivery::CaughtUp));
                }
                Ok(false) => {}
            }
            if let Err(error) = self.wait(listener).await {
                self.finished = true;
                return Some(Err(error));
            }
        }
    }

    /// Reads the next batch into the buffer; `false` when there was nothing new.
    async fn read_batch(&mut self) -> Result<bool> {
        self.head = self.store.storage().head().await?;
        // The events (upcast, filtered on their upcast types), how many the storage returned,
        // and the cursor after them.
        let Batch {
            events,
            scanned,
            last,
        } = match &self.target {
            SubscriptionTarget::All => {
                self.source
                    .read_all(&self.store, self.cursor, self.batch_size, &self.filter)
                    .await?
            }
            SubscriptionTarget::Stream(stream) => {
                self.source
                    .read_stream(&self.store, stream, self.cursor + 1, self.batch_size)
                    .await?
            }
        };
        let scanned_to_head = scanned < self.batch_size;
        if let Some(last) = last {
            self.cursor = last;
        }
        self.skip_scanned(scanned_to_head);
        if events.is_empty() {
            // A full batch that the upcast type filter or `maxAge` dropped entirely: read on.
            return Ok(!scanned_to_head);
        }
        self.signalled = false;
        self.buffer.extend(events);
        Ok(true)
    }

    /// After a short filtered read of all streams, nothing up to the head seen before the read
    /// matched beyond what was returned, so the next read can start at that head instead of
    /// scanning the same non-matching events again. (Positions are assigned in commit order, so
    /// nothing can appear below a committed head later.)
    fn skip_scanned(&mut self, scanned_to_head: bool) {
        if scanned_to_head && self.target == SubscriptionTarget::All {
            self.cursor = self.cursor.max(self.head);
        }
    }

    /// Waits for an append through this store, or for the head to move (other writers).
    async fn wait(&mut self, mut listener: event_listener::EventListener) -> Result<()> {
        loop {
            match select(listener, Box::pin(sleep(self.poll_interval))).await {
                Either::Left(((), _)) => return Ok(()),
                Either::Right(((), pending)) => listener = pending,
            }
            if self.store.is_closed() || self.store.storage().head().await? != self.head {
                return Ok(());
            }
        }
    }
}
