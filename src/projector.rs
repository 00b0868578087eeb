//! The [`Projector`]: named projections over [`subscribe_all`](crate::EventStore::subscribe_all)
//! with durable checkpoints, retries with exponential backoff, a failure policy and batching.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::{select, Either};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::platform::{now_millis, sleep, BoxFuture, MaybeSend};
use crate::storage::{Checkpoint, SkippedEvent, Storage};
use crate::store::EventStore;
use crate::subscription::{
    follow, Batch, Delivery, PageSource, Recorded, SubscribeOptions, SubscriptionTarget,
};
use crate::types::{Direction, Filter, RecordedEvent, StartFrom};

/// What a projection handler returns: `Ok(())` or an error message.
pub type HandlerResult = std::result::Result<(), String>;

/// A projection's event handler: takes a batch of events (in position order) and returns a
/// future. Any `FnMut(Vec<RecordedEvent>) -> impl Future<Output = Result<(), E: Display>>`
/// closure is one.
pub trait Handler: MaybeSend + 'static {
    /// Handles one batch. An error makes the projector retry the batch per the retry policy.
    fn handle(&mut self, events: Vec<RecordedEvent>) -> BoxFuture<'static, HandlerResult>;
}

impl<F, Fut, E> Handler for F
where
    F: FnMut(Vec<RecordedEvent>) -> Fut + MaybeSend + 'static,
    Fut: Future<Output = std::result::Result<(), E>> + MaybeSend + 'static,
    E: Display,
{
    fn handle(&mut self, events: Vec<RecordedEvent>) -> BoxFuture<'static, HandlerResult> {
        let future = self(events);
        Box::pin(async move { future.await.map_err(|e| e.to_string()) })
    }
}

/// How a failing handler is retried: `max_attempts` tries in all, waiting `initial_delay`
/// after the first failure and `factor` times longer after each next one, at most `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, including the first (≥ 1). Default: 5.
    pub max_attempts: u32,
    /// The wait after the first failure. Default: 100 ms.
    pub initial_delay: Duration,
    /// How much each wait grows (≥ 1). Default: 2.
    pub factor: f64,
    /// The longest wait. Default: 30 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let grown =
            self.initial_delay.as_secs_f64() * self.factor.powi(attempt.saturating_sub(1) as i32);
        Duration::from_secs_f64(grown.min(self.max_delay.as_secs_f64()))
    }

    fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::invalid_input(
                "retry max_attempts must be at least 1",
            ));
        }
        if !(self.factor >= 1.0 && self.factor.is_finite()) {
            return Err(Error::invalid_input(
                "retry factor must be a finite number ≥ 1",
            ));
        }
        Ok(())
    }
}

/// What happens when a handler still fails after its last attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The projection stops and reports the error in its status (the default). Its checkpoint
    /// stays before the failing event, so it is retried when the projector starts again.
    #[default]
    Stop,
    /// The failing event is recorded as skipped (see [`Checkpoint::skipped`]) and the projection
    /// goes on. A failing batch is retried event by event so only the failing events are skipped.
    Skip,
}

/// Options of one projection.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionOptions {
    /// Events per batch (≥ 1). Default: 1 (no batching).
    pub batch_size: usize,
    /// Flush a partial batch this long after its first event, even while events keep arriving.
    pub flush_after: Option<Duration>,
    /// Only events matching this filter.
    pub filter: Filter,
    /// How a failing handler is retried.
    pub retry: RetryPolicy,
    /// What happens after the last failed attempt.
    pub on_failure: FailurePolicy,
}

impl Default for ProjectionOptions {
    fn default() -> Self {
        ProjectionOptions {
            batch_size: 1,
            flush_after: None,
            filter: Filter::default(),
            retry: RetryPolicy::default(),
            on_failure: FailurePolicy::Stop,
        }
    }
}

impl ProjectionOptions {
    /// Checks the options: `batch_size` ≥ 1, `retry.max_attempts` ≥ 1, a finite `retry.factor`
    /// ≥ 1, a valid filter ([`Filter::validate`]).
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::invalid_input(
                "projection batch_size must be at least 1",
            ));
        }
        self.filter.validate()?;
        self.retry.validate()
    }

    /// Batches of up to `size` events, flushed when full or after `flush_after`.
    pub fn batched(size: usize, flush_after: Duration) -> Self {
        ProjectionOptions {
            batch_size: size,
            flush_after: Some(flush_after),
            ..Self::default()
        }
    }

    /// Only events matching `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Retries per `retry`.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// After the last failed attempt, do `policy`.
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.on_failure = policy;
        self
    }
}

/// Where a projection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectionState {
    /// Added, not running.
    Idle,
    /// Following the store.
    Running,
    /// Stopped by [`ProjectorHandle::stop`] or because the store was closed
    /// ([`EventStore::close`]). The checkpoint is that of the last batch handled; a stop during
    /// the retries of a failing batch leaves it before that batch.
    Stopped,
    /// Stopped because its handler kept failing (policy [`FailurePolicy::Stop`]), because the
    /// store failed, or because its stored checkpoint lies beyond the store's head.
    Failed {
        /// The position of the first event of the failing batch (the checkpoint, when it lies
        /// beyond the head).
        position: u64,
        /// The handler's last error.
        error: String,
    },
}

/// A projection's state and progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionStatus {
    /// Where the projection is.
    pub state: ProjectionState,
    /// The last position it handled (its saved checkpoint).
    pub checkpoint: u64,
    /// How many events it handled since it started (handler calls that succeeded, per event).
    pub handled: u64,
    /// Failed handler attempts since it started.
    pub failed_attempts: u64,
}

/// A projection's handler as the projector calls it, for events of type `E` ([`Handler`] is
/// one for [`RecordedEvent`]s).
pub(crate) trait BatchHandler<E>: MaybeSend + 'static {
    /// Handles one batch.
    fn call(&mut self, events: Vec<E>) -> BoxFuture<'static, HandlerResult>;
}

impl<E, F> BatchHandler<E> for F
where
    F: FnMut(Vec<E>) -> BoxFuture<'static, HandlerResult> + MaybeSend + 'static,
{
    fn call(&mut self, events: Vec<E>) -> BoxFuture<'static, HandlerResult> {
        self(events)
    }
}

struct Projection<E> {
    name: String,
    options: ProjectionOptions,
    handler: Box<dyn BatchHandler<E>>,
}

/// What a projector needs of its events beyond a subscription's [`PageSource`]: where each
/// event is, what a skipped one records, and how a batch is read again for a retry — as it was
/// delivered, including events that expired (`maxAge`) since. The projector's loop (batching,
/// retries, failure policies, checkpoints) is the same for every source.
pub(crate) trait ProjectionSource<S>: PageSource<S> + Clone {
    /// The event's global position.
    fn position(event: &Self::Event) -> u64;

    /// What skipping `event` records of it (the projector adds the error and the time).
    fn skipped(event: &Self::Event) -> SkippedEvent;

    /// Up to `limit` events matching `filter` after `position` (exclusive), expired ones too.
    fn read_again<'a>(
        &'a self,
        store: &'a EventStore<S>,
        position: u64,
        limit: usize,
        filter: &'a Filter,
    ) -> BoxFuture<'a, Result<Batch<Self::Event>>>;
}

impl<S: Storage> ProjectionSource<S> for Recorded {
    fn position(event: &RecordedEvent) -> u64 {
        event.position
    }

    fn skipped(event: &RecordedEvent) -> SkippedEvent {
        SkippedEvent {
            position: event.position,
            event_id: event.id.clone(),
            stream_id: event.stream_id.clone(),
            event_type: event.event_type.clone(),
            error: String::new(),
            skipped_at: 0,
        }
    }

    fn read_again<'a>(
        &'a self,
        store: &'a EventStore<S>,
        position: u64,
        limit: usize,
        filter: &'a Filter,
    ) -> BoxFuture<'a, Result<Batch<RecordedEvent>>> {
        Box::pin(async move {
            let page = store.read_all_page_with(position, Direction::Forward, limit, filter, false);
            Ok(page.await?.into())
        })
    }
}

/// Runs named projections over a store, each with a durable checkpoint, retries with
/// exponential backoff, a failure policy and batching.
///
/// Each projection keeps a [`Checkpoint`] — the last position it handled — in the same backend as
/// the events (a SQLite table, an IndexedDB object store, a map in memory). When the projector
/// starts again, after a restart or a page reload, every projection resumes after its checkpoint.
///
/// Delivery is at-least-once and in position order: a handler that succeeded may see its last
/// batch again only if the process died before the checkpoint was saved. Projections progress
/// independently: one failing, retrying or slow projection does not hold the others back.
///
/// Batching: a projection with `batch_size` N and `flush_after` T hands its handler a batch as
/// soon as N events are buffered **or** T has passed since the first buffered event, whichever
/// comes first — also while events keep arriving. Without `flush_after`, a partial batch is
/// flushed as soon as the projection has caught up. The checkpoint advances only after a
/// successful flush.
///
/// ```
/// # futures::executor::block_on(async {
/// use evstore::{EventStore, ExpectedVersion, MemoryStorage, NewEvent, Projector, ProjectionOptions};
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
///
/// let store = EventStore::new(MemoryStorage::new());
/// store.append("account-1", ExpectedVersion::Any,
///              vec![NewEvent::new("Deposited", serde_json::json!({ "amount": 5 }))]).await?;
///
/// let total = Arc::new(AtomicU64::new(0));
/// let mut projector = Projector::new(store.clone());
/// let sum = Arc::clone(&total);
/// projector.add("balance", ProjectionOptions::default(), move |events: Vec<evstore::RecordedEvent>| {
///     for e in &events { sum.fetch_add(e.data["amount"].as_u64().unwrap(), Ordering::SeqCst); }
///     async { Ok::<(), String>(()) }
/// })?;
/// let handle = projector.handle();
/// let run = projector.run();
/// let stop = async {
///     while handle.checkpoint("balance").await? < 1 { evstore::platform::sleep(std::time::Duration::from_millis(5)).await; }
///     handle.stop();
///     Ok::<(), evstore::Error>(())
/// };
/// let (ran, stopped) = futures::join!(run, stop);
/// ran?; stopped?;
/// assert_eq!(total.load(Ordering::SeqCst), 5);
/// # Ok::<(), evstore::Error>(()) }).unwrap();
/// ```
pub struct Projector<S> {
    projections: Projections<S, Recorded, RecordedEvent>,
}

/// The machinery of a [`Projector`], for any [`ProjectionSource`] (whose events are `E`): the
/// browser's projector runs the same one over JS event objects.
pub(crate) struct Projections<S, P, E> {
    store: EventStore<S>,
    source: P,
    projections: Vec<Projection<E>>,
    shared: Arc<Shared>,
}

/// A cheap, cloneable handle to a [`Projector`] that is running: stop it, read statuses and
/// checkpoints, reset projections.
pub struct ProjectorHandle<S> {
    store: EventStore<S>,
    shared: Arc<Shared>,
}

impl<S> Clone for ProjectorHandle<S> {
    fn clone(&self) -> Self {
        ProjectorHandle {
            store: self.store.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Default)]
struct Shared {
    stopping: AtomicBool,
    running: AtomicBool,
    stop: event_listener::Event,
    statuses: Mutex<HashMap<String, ProjectionStatus>>,
}

impl Shared {
    fn statuses(&self) -> MutexGuard<'_, HashMap<String, ProjectionStatus>> {
        self.statuses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut ProjectionStatus)) {
        if let Some(status) = self.statuses().get_mut(name) {
            change(status);
        }
    }
}

impl<S: Storage> Projector<S> {
    /// A projector over `store`, with no projections yet.
    pub fn new(store: EventStore<S>) -> Self {
        Projector {
            projections: Projections::new(store, Recorded),
        }
    }

    /// Adds a projection named `name` (non-empty, unique in this projector; the checkpoint is
    /// stored under it, so keep it stable across releases).
    pub fn add(
        &mut self,
        name: &str,
        options: ProjectionOptions,
        mut handler: impl Handler,
    ) -> Result<()> {
        let handler = move |events: Vec<RecordedEvent>| handler.handle(events);
        self.projections.add(name, options, Box::new(handler))
    }

    /// A handle to stop the projector and read its projections' progress.
    pub fn handle(&self) -> ProjectorHandle<S> {
        self.projections.handle()
    }

    /// Runs every projection until [`ProjectorHandle::stop`] is called (or the store is closed),
    /// then finishes the batches in flight, saves their checkpoints and returns. Run it on any
    /// executor (spawn it, or join it with the code that stops it). A stop issued before `run`
    /// starts is not lost: `run` then returns at once.
    ///
    /// A projection that fails under [`FailurePolicy::Stop`] ends on its own; the others go on.
    /// So does a projection whose stored checkpoint lies beyond the store's head (a checkpoint
    /// kept across a store that was recreated): it ends [`ProjectionState::Failed`] at once with
    /// an error saying so, rather than waiting for positions that were already handled
    /// elsewhere; [`ProjectorHandle::reset`] rebuilds it. Errors of the store itself (reading,
    /// saving checkpoints) end the failing projection and are reported in its status; `run`
    /// returns the first such error once all have ended. Closing the store is not an error: the
    /// projections end [`ProjectionState::Stopped`] (see [`EventStore::close`]).
    pub async fn run(self) -> Result<()> {
        self.projections.run().await
    }
}

impl<S: Storage, P: ProjectionSource<S, Event = E>, E: MaybeSend + 'static> Projections<S, P, E> {
    /// Projections over `store` whose events come from `source`, none yet.
    pub(crate) fn new(store: EventStore<S>, source: P) -> Self {
        Projections {
            store,
            source,
            projections: Vec::new(),
            shared: Arc::default(),
        }
    }

    /// Adds a projection named `name` (non-empty, unique in this projector; the checkpoint is
    /// stored under it, so keep it stable across releases).
    pub(crate) fn add(
        &mut self,
        name: &str,
        options: ProjectionOptions,
        handler: Box<dyn BatchHandler<E>>,
    ) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid_input("projection name must not be empty"));
        }
        if self.projections.iter().any(|p| p.name == name) {
            return Err(Error::invalid_input(format!(
                "projection `{name}` is already added"
            )));
        }
        options.validate()?;
        self.shared.statuses().insert(
            name.to_owned(),
            ProjectionStatus {
                state: ProjectionState::Idle,
                checkpoint: 0,
                handled: 0,
                failed_attempts: 0,
            },
        );
        self.projections.push(Projection {
            name: name.to_owned(),
            options,
            handler,
        });
        Ok(())
    }

    /// A handle to stop the projector and read its projections' progress.
    pub(crate) fn handle(&self) -> ProjectorHandle<S> {
        ProjectorHandle {
            store: self.store.clone(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs every projection: see [`Projector::run`].
    pub(crate) async fn run(self) -> Result<()> {
        self.store.ensure_open()?;
        if self.shared.running.swap(true, Ordering::AcqRel) {
            return Err(Error::invalid_input("the projector is already running"));
        }
        let Projections {
            store,
            source,
            projections,
            shared,
        } = self;
        let runs = projections.into_iter().map(|projection| {
            let runner = Runner {
                store: store.clone(),
                source: source.clone(),
                shared: Arc::clone(&shared),
                projection,
            };
            runner.run()
        });
        let results = futures::future::join_all(runs).await;
        shared.running.store(false, Ordering::Release);
        results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
    }
}

impl<S: Storage> ProjectorHandle<S> {
    /// Asks the projector to stop gracefully: batches in flight finish and their checkpoints
    /// are saved before [`Projector::run`] returns. A projection waiting to retry a failing batch
    /// stops at once, its checkpoint before that batch. Stopping before `run` starts makes it
    /// return at once; a stopped projector does not start again (make a new one).
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.stop.notify(usize::MAX);
    }

    /// Whether [`Projector::run`] is running.
    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::Acquire)
    }

    /// The status of projection `name`, if it was added.
    pub fn status(&self, name: &str) -> Option<ProjectionStatus> {
        self.shared.statuses().get(name).cloned()
    }

    /// The stored checkpoint of projection `name`: the last position it handled (0 if none).
    pub async fn checkpoint(&self, name: &str) -> Result<u64> {
        Ok(self
            .store
            .storage()
            .load_checkpoint(name)
            .await?
            .map_or(0, |c| c.position))
    }

    /// The events projection `name` skipped under [`FailurePolicy::Skip`], oldest first.
    pub async fn skipped(&self, name: &str) -> Result<Vec<SkippedEvent>> {
        Ok(self
            .store
            .storage()
            .load_checkpoint(name)
            .await?
            .map(|c| c.skipped)
            .unwrap_or_default())
    }

    /// Resets projection `name` to position 0 (and forgets its skipped events), so the next run
    /// rebuilds it from the first event. Only while the projector is not running.
    pub async fn reset(&self, name: &str) -> Result<()> {
        if self.is_running() {
            return Err(Error::invalid_input(
                "stop the projector before resetting a projection",
            ));
        }
        self.store
            .storage()
            .save_checkpoint(name, &Checkpoint::default())
            .await?;
        self.shared.update(name, |status| status.checkpoint = 0);
        Ok(())
    }
}

/// One projection while it runs.
struct Runner<S, P, E> {
    store: EventStore<S>,
    source: P,
    shared: Arc<Shared>,
    projection: Projection<E>,
}

/// Why a batch could not be handled under [`FailurePolicy::Stop`].
struct Failure {
    position: u64,
    error: String,
}

/// How the attempts at a batch ended.
enum Attempt {
    Handled,
    /// The retry policy gave up; the handler's last error.
    GaveUp(String),
    /// Stopped (or the store closed) while waiting to retry.
    Interrupted,
}

#[allow(clippy::large_enum_variant)] // lives on the stack for one loop turn
enum Wake<E> {
    Item(Option<Result<Delivery<E>>>),
    Deadline,
    Stop,
}

impl<S: Storage, P: ProjectionSource<S, Event = E>, E: MaybeSend + 'static> Runner<S, P, E> {
    async fn run(mut self) -> Result<()> {
        let name = self.projection.name.clone();
        let outcome = match self.follow().await {
            // Closing the store ends the projection; what failed because of it is no failure.
            Err(_) if self.store.is_closed() => Ok(None),
            outcome => outcome,
        };
        let state = match &outcome {
            Ok(None) => ProjectionState::Stopped,
            Ok(Some(failure)) => ProjectionState::Failed {
                position: failure.position,
                error: failure.error.clone(),
            },
            Err(error) => ProjectionState::Failed {
                position: 0,
                error: error.to_string(),
            },
        };
        self.shared.update(&name, |status| status.state = state);
        outcome.map(|_| ())
    }

    /// Follows the store until stopped; `Some(failure)` when the handler failed for good.
    async fn follow(&mut self) -> Result<Option<Failure>> {
        let mut checkpoint = self
            .store
            .storage()
            .load_checkpoint(&self.projection.name)
            .await?
            .unwrap_or_default();
        let name = self.projection.name.clone();
        let position = checkpoint.position;
        self.shared.update(&name, |status| {
            status.state = ProjectionState::Running;
            status.checkpoint = position;
        });
        let head = self.store.head().await?;
        if position > head {
            return Ok(Some(Failure {
                position,
                error: format!(
                    "the checkpoint of projection `{name}` (position {position}) is beyond the \
                     store's head ({head}): it was saved against other data (was the store \
                     recreated?); reset the projection to rebuild it"
                ),
            }));
        }
        let options = &self.projection.options;
        let subscribe = SubscribeOptions {
            start: StartFrom::After(checkpoint.position),
            filter: options.filter.clone(),
            batch_size: options.batch_size.max(100),
            poll_interval: None,
        };
        let (batch_size, flush_after) = (options.batch_size, options.flush_after);
        let mut subscription = follow(
            self.store.clone(),
            SubscriptionTarget::All,
            subscribe,
            self.source.clone(),
        )
        .await?;
        let mut batch: Vec<E> = Vec::with_capacity(batch_size);
        let mut deadline: Option<u64> = None;
        loop {
            if self.store.is_closed() {
                // Events not yet handed to the handler are left for the next run.
                return Ok(None);
            }
            if self.shared.stopping.load(Ordering::Acquire) {
                return self.flush(&mut batch, &mut checkpoint).await;
            }
            let stop = self.shared.stop.listen();
            if self.shared.stopping.load(Ordering::Acquire) {
                continue;
            }
            let wake = {
                let next = subscription.next();
                let timer = async {
                    match deadline {
                        Some(at) => {
                            sleep(Duration::from_millis(at.saturating_sub(now_millis()))).await
                        }
                        None => futures::future::pending().await,
                    }
                };
                match select(select(next, stop), Box::pin(timer)).await {
                    Either::Left((Either::Left((item, _)), _)) => Wake::Item(item),
                    Either::Left((Either::Right(((), _)), _)) => Wake::Stop,
                    Either::Right(((), _)) => Wake::Deadline,
                }
            };
            let flush_now = match wake {
                Wake::Stop => continue,
                Wake::Deadline => true,
                // The subscription ends only when the store is closed: leave the batch not yet
                // handed over for the next run, as at the top of the loop.
                Wake::Item(None) => return Ok(None),
                Wake::Item(Some(Err(error))) => return Err(error),
                Wake::Item(Some(Ok(Delivery::CaughtUp))) => flush_after.is_none(),
                Wake::Item(Some(Ok(Delivery::Event(event)))) => {
                    if batch.is_empty() {
                        deadline = flush_after.map(|after| now_millis() + after.as_millis() as u64);
                    }
                    batch.push(event);
                    batch.len() >= batch_size
                }
            };
            if flush_now && !batch.is_empty() {
                deadline = None;
                if let Some(failure) = self.flush(&mut batch, &mut checkpoint).await? {
                    return Ok(Some(failure));
                }
            }
        }
    }

    /// Hands `batch` to the handler (with retries), then saves the checkpoint.
    ///
    /// The store's backend is kept open meanwhile, so that a batch the handler took gets its
    /// checkpoint saved even if the store is closed while the handler works. A batch not yet
    /// handed over when the store closed, or whose retries were interrupted, is left with the
    /// checkpoint before it.
    async fn flush(
        &mut self,
        batch: &mut Vec<E>,
        checkpoint: &mut Checkpoint,
    ) -> Result<Option<Failure>> {
        let Some(span) = BatchSpan::of::<S, P>(batch) else {
            return Ok(None);
        };
        let events = std::mem::take(batch);
        let Some(_open) = self.store.keep_open() else {
            return Ok(None);
        };
        match self.attempt(events, span).await? {
            Attempt::Handled => {}
            Attempt::Interrupted => return Ok(None),
            Attempt::GaveUp(error) => match self.projection.options.on_failure {
                FailurePolicy::Stop => {
                    return Ok(Some(Failure {
                        position: span.after + 1,
                        error,
                    }))
                }
                FailurePolicy::Skip => {
                    let events = self.reload(span).await?;
                    if !self.skip_failing(events, error, checkpoint).await? {
                        return Ok(None);
                    }
                }
            },
        }
        checkpoint.position = span.last;
        self.store
            .storage()
            .save_checkpoint(&self.projection.name, checkpoint)
            .await?;
        self.shared.update(&self.projection.name, |status| {
            status.checkpoint = span.last
        });
        Ok(None)
    }

    /// Under `Skip`: records the events of a failed batch that still fail on their own (a
    /// batch of one failed already with `error`). `false` when interrupted by a stop: nothing is
    /// recorded then, and the batch is retried next run.
    async fn skip_failing(
        &mut self,
        events: Vec<E>,
        error: String,
        checkpoint: &mut Checkpoint,
    ) -> Result<bool> {
        let single = events.len() == 1;
        let mut skipped = Vec::new();
        for event in events {
            // Described before the handler sees (and might change) the event.
            let described = P::skipped(&event);
            let failed = if single {
                Some(error.clone())
            } else {
                let span = BatchSpan::of::<S, P>(std::slice::from_ref(&event)).expect("one event");
                match self.attempt(vec![event], span).await? {
                    Attempt::Handled => None,
                    Attempt::GaveUp(error) => Some(error),
                    Attempt::Interrupted => return Ok(false),
                }
            };
            if let Some(error) = failed {
                skipped.push(SkippedEvent {
                    error,
                    skipped_at: now_millis(),
                    ..described
                });
            }
        }
        checkpoint.skipped.extend(skipped);
        Ok(true)
    }

    /// Calls the handler until it succeeds or the retry policy gives up. The wait before a retry
    /// gives way to a stop or to the store closing ([`Attempt::Interrupted`]).
    ///
    /// The handler takes the batch itself; a retry reads the same events again from storage
    /// (positions never change) instead of every attempt paying for a copy of the batch.
    async fn attempt(&mut self, mut events: Vec<E>, span: BatchSpan) -> Result<Attempt> {
        let retry = self.projection.options.retry;
        let mut attempt = 1;
        loop {
            match self.projection.handler.call(events).await {
                Ok(()) => {
                    let count = span.len as u64;
                    self.shared
                        .update(&self.projection.name, |status| status.handled += count);
                    return Ok(Attempt::Handled);
                }
                Err(error) => {
                    self.shared
                        .update(&self.projection.name, |status| status.failed_attempts += 1);
                    if attempt >= retry.max_attempts {
                        return Ok(Attempt::GaveUp(error));
                    }
                    let interruption = stopped_or_closed(&self.shared, &self.store);
                    let backoff = sleep(retry.delay_after(attempt));
                    if let Either::Right(_) =
                        select(Box::pin(backoff), Box::pin(interruption)).await
                    {
                        return Ok(Attempt::Interrupted);
                    }
                    attempt += 1;
                    events = self.reload(span).await?;
                }
            }
        }
    }

    /// Reads a batch again: the `span.len` events matching the projection's filter after
    /// `span.after` — the same events the subscription delivered, also those that expired
    /// (`maxAge`) since. (`&mut self` keeps the future `Send` without requiring handlers to be
    /// `Sync`.)
    async fn reload(&mut self, span: BatchSpan) -> Result<Vec<E>> {
        let filter = &self.projection.options.filter;
        let mut events = Vec::with_capacity(span.len);
        let mut from = span.after;
        // Upcasting may drop events the storage returned (a type filter matches upcast types):
        // read on until the batch is whole or the storage has nothing more.
        while events.len() < span.len && from < span.last {
            let page = self
                .source
                .read_again(&self.store, from, span.len - events.len(), filter)
                .await?;
            events.extend(page.events);
            match page.last {
                Some(last) => from = last,
                None => break,
            }
        }
        if events.last().map(P::position) != Some(span.last) || events.len() != span.len {
            return Err(Error::storage(format!(
                "the events at positions {}..={} changed while projection `{}` retried them",
                span.after + 1,
                span.last,
                self.projection.name
            )));
        }
        Ok(events)
    }
}

/// Resolves once the projector is asked to stop or the store is closed.
async fn stopped_or_closed<S: Storage>(shared: &Shared, store: &EventStore<S>) {
    loop {
        let (stop, closed) = (shared.stop.listen(), store.listen());
        if shared.stopping.load(Ordering::Acquire) || store.is_closed() {
            return;
        }
        // Appends wake `closed` too; the loop looks again.
        select(stop, closed).await;
    }
}

/// Where a batch lies: its events are the `len` matching ones after `after`, up to `last`.
#[derive(Debug, Clone, Copy)]
struct BatchSpan {
    after: u64,
    last: u64,
    len: usize,
}

impl BatchSpan {
    fn of<S, P: ProjectionSource<S>>(events: &[P::Event]) -> Option<Self> {
        Some(BatchSpan {
            after: P::position(events.first()?) - 1,
            last: P::position(events.last()?),
            len: events.len(),
        })
    }
}
