//! The server side of evsync/1 over any [`EventStore`]: [`handle_push`] and [`handle_pull`],
//! shared by `evstore serve` and the [`InProcessTransport`](crate::sync::InProcessTransport), so
//! the HTTP server and the conformance tests run one implementation.

use std::collections::HashSet;
use std::time::Duration;

use futures::future::select;

use crate::error::{Error, Result};
use crate::json::RecordedEventJson;
use crate::platform::{now_millis, sleep};
use crate::storage::Storage;
use crate::store::EventStore;
use crate::sync::protocol::{
    BatchResult, PullRequest, PullResponse, PushBatch, PushRequest, PushResponse,
};
use crate::types::{
    validate_stream_id, AppendResult, Direction, ExpectedVersion, Filter, NewEvent,
};
use crate::StreamAppend;

/// The most batches of a push written in one transaction (see [`handle_push`]): a client's
/// default push page, and a bounded transaction for the writers beside it.
const RUN_BATCHES: usize = 100;

/// What a caller may do, by stream-id prefix (`None` = every stream): the rights of a token.
///
/// A pull is narrowed to the readable prefixes (partial sync by stream naming); a pushed batch
/// for a stream the caller may not append to is [`BatchResult::Rejected`] with code
/// `"Forbidden"`.
///
/// ```
/// use evstore::sync::SyncAccess;
/// let access = SyncAccess::prefixes(Some(vec!["board-1".into()]), Some(vec!["board-1".into()]));
/// assert!(access.may_read("board-1-card-7"));
/// assert!(!access.may_append("board-2-card-1"));
/// assert!(SyncAccess::full().may_append("anything"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncAccess {
    read: Option<Vec<String>>,
    append: Option<Vec<String>>,
}

impl SyncAccess {
    /// Read and append everything.
    pub fn full() -> Self {
        SyncAccess::default()
    }

    /// Read the streams starting with one of `read`, append to those starting with one of
    /// `append` (`None` = every stream, an empty list = none).
    pub fn prefixes(read: Option<Vec<String>>, append: Option<Vec<String>>) -> Self {
        SyncAccess { read, append }
    }

    /// Whether the caller may read `stream`.
    pub fn may_read(&self, stream: &str) -> bool {
        allowed(&self.read, stream)
    }

    /// Whether the caller may append to `stream`.
    pub fn may_append(&self, stream: &str) -> bool {
        allowed(&self.append, stream)
    }

    /// The part of `requested` the caller may read, as a filter the store evaluates (`None`
    /// when nothing of it is readable).
    fn narrow(&self, requested: &Filter) -> Option<Filter> {
        let Some(rights) = &self.read else {
            return Some(requested.clone());
        };
        let mut prefixes: Vec<String> = if requested.stream_prefixes.is_empty() {
            rights.clone()
        } else {
            let mut narrowed = Vec::new();
            for asked in &requested.stream_prefixes {
                if rights.iter().any(|right| asked.starts_with(right.as_str())) {
                    narrowed.push(asked.clone());
                }
                narrowed.extend(
                    rights
                        .iter()
                        .filter(|right| right.starts_with(asked.as_str()) && *right != asked)
                        .cloned(),
                );
            }
            narrowed
        };
        prefixes.sort();
        prefixes.dedup();
        if prefixes.is_empty() {
            return None;
        }
        Some(Filter {
            stream_prefixes: prefixes,
            ..requested.clone()
        })
    }
}

fn allowed(rights: &Option<Vec<String>>, stream: &str) -> bool {
    rights
        .as_ref()
        .is_none_or(|prefixes| prefixes.iter().any(|p| stream.starts_with(p.as_str())))
}

/// Limits of the sync endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncServerOptions {
    /// Events per pull when the request gives no `limit`. Default 500.
    pub page_size: usize,
    /// The most events one pull returns, whatever it asks. Default 1000.
    pub max_page_size: usize,
    /// The longest a pull waits for events. Default 30 s.
    pub max_wait: Duration,
    /// How often a waiting pull looks for appends made outside this process. Default 100 ms.
    pub poll_interval: Duration,
    /// The most batches one push may carry (more is [`Error::InvalidInput`]). Default 1000.
    pub max_push_batches: usize,
    /// The most events one batch may carry (more is rejected). Default 1000.
    pub max_batch_events: usize,
}

impl Default for SyncServerOptions {
    fn default() -> Self {
        SyncServerOptions {
            page_size: 500,
            max_page_size: 1000,
            max_wait: Duration::from_secs(30),
            poll_interval: Duration::from_millis(100),
            max_push_batches: 1000,
            max_batch_events: 1000,
        }
    }
}

/// Handles a push: each batch in order, each appended atomically with its expected version;
/// one [`BatchResult`] per batch.
///
/// - A batch whose ids are all already there, in place, is `Duplicate` (an append retried after
///   a lost response writes nothing). `Appended` and `Duplicate` are told apart by the head read
///   once before the first batch, raised by each batch appended: an append that lands above it
///   is new (one read per push, not one per batch). If two pushes of the same batch race, both
///   may say `Appended`; either way the events are there once.
/// - A version mismatch is `Conflict` with the stream's events since the expected version (when
///   the caller may read the stream); later batches of that stream in this push are `Skipped`.
/// - Invalid batches (bad stream id, no events, events without ids, too many events), streams
///   the caller may not append to (`"Forbidden"`), ids used by other events
///   (`"DuplicateEventId"`) and tombstoned streams (`"StreamDeleted"`) are `Rejected`, and later
///   batches of that stream `Skipped`.
/// - When `request.store_id` names another store, nothing is processed: the response carries
///   the current id and no results.
///
/// Consecutive batches that pass those checks are written together, up to 100 at a time, as the
/// parts of one [`EventStore::append_many`] (one transaction; each batch decided in request
/// order, seeing the ones before it; positions in request order). When that fails as a whole (a
/// conflict, a refused id, a tombstone…) it wrote nothing, and those batches are processed one
/// by one, each in its own append. Either way every batch gets the result it would get alone,
/// in order: the run only saves a transaction per batch in the common case of a push that goes
/// through.
///
/// Errors: [`Error::InvalidInput`] for more batches than allowed; a storage failure ends the
/// push with that error (batches before it stay appended; a retry reports them `Duplicate`).
pub async fn handle_push<S: Storage>(
    store: &EventStore<S>,
    access: &SyncAccess,
    request: PushRequest,
    options: &SyncServerOptions,
) -> Result<PushResponse> {
    if request.batches.len() > options.max_push_batches {
        return Err(Error::invalid_input(format!(
            "a push carries at most {} batches, this one has {}",
            options.max_push_batches,
            request.batches.len()
        )));
    }
    let store_id = store.store_id().await?;
    if request.store_id.as_ref().is_some_and(|id| *id != store_id) {
        return Ok(PushResponse {
            store_id,
            results: Vec::new(),
        });
    }
    let mut push = Push {
        store,
        access,
        options,
        blocked: HashSet::new(),
        results: Vec::with_capacity(request.batches.len()),
        // The head before the first batch, raised by every batch appended: an append landing
        // above it is new, one at or below it a retry (see `Push::outcome`).
        seen: store.head().await?,
    };
    let mut run = Vec::new();
    for batch in request.batches {
        if push.may_run(&batch) {
            run.push(batch);
            if run.len() == RUN_BATCHES {
                push.run(std::mem::take(&mut run)).await?;
            }
        } else {
            // Its result may depend on the batches before it (a conflict blocks the stream).
            push.run(std::mem::take(&mut run)).await?;
            push.one(batch).await?;
        }
    }
    push.run(run).await?;
    Ok(PushResponse {
        store_id,
        results: push.results,
    })
}

/// One push in progress: the streams blocked by a conflict or a rejection, the results so far,
/// and the highest position seen (see [`handle_push`]).
struct Push<'a, S> {
    store: &'a EventStore<S>,
    access: &'a SyncAccess,
    options: &'a SyncServerOptions,
    blocked: HashSet<String>,
    results: Vec<BatchResult>,
    seen: u64,
}

impl<S: Storage> Push<'_, S> {
    /// Whether `batch` can join a run: its stream is not blocked, it is valid and allowed.
    fn may_run(&self, batch: &PushBatch) -> bool {
        !self.blocked.contains(&batch.stream)
            && self.access.may_append(&batch.stream)
            && validate_batch(&batch.stream, &batch.events, self.options).is_ok()
    }

    /// Appends `run` (batches that [`may_run`](Self::may_run)) in one `append_many`, or one by
    /// one when that fails as a whole.
    async fn run(&mut self, run: Vec<PushBatch>) -> Result<()> {
        if run.len() > 1 {
            let parts = run.iter().map(|batch| {
                StreamAppend::new(
                    batch.stream.clone(),
                    batch.expected.0,
                    batch.events.iter().cloned().map(NewEvent::from).collect(),
                )
            });
            if let Ok(appended) = self.store.append_many(parts).await {
                for (batch, result) in run.into_iter().zip(appended) {
                    let outcome = self.outcome(batch.batch_id, result);
                    self.results.push(outcome);
                }
                return Ok(());
            }
        }
        for batch in run {
            self.one(batch).await?;
        }
        Ok(())
    }

    /// Processes one batch alone.
    async fn one(&mut self, batch: PushBatch) -> Result<()> {
        let stream = batch.stream.clone();
        let result = if self.blocked.contains(&stream) {
            BatchResult::Skipped {
                batch_id: batch.batch_id,
            }
        } else {
            self.push_batch(batch).await?
        };
        if matches!(
            result,
            BatchResult::Conflict { .. } | BatchResult::Rejected { .. }
        ) {
            self.blocked.insert(stream);
        }
        self.results.push(result);
        Ok(())
    }

    /// `Appended` when the append landed above every position seen before, else `Duplicate`.
    fn outcome(&mut self, batch_id: String, result: AppendResult) -> BatchResult {
        if result.position > self.seen {
            self.seen = result.position;
            BatchResult::Appended {
                batch_id,
                position: result.position,
                next_expected_version: result.next_expected_version,
            }
        } else {
            BatchResult::Duplicate {
                batch_id,
                position: result.position,
                next_expected_version: result.next_expected_version,
            }
        }
    }

    async fn push_batch(&mut self, batch: PushBatch) -> Result<BatchResult> {
        let PushBatch {
            batch_id,
            stream,
            expected,
            events,
        } = batch;
        let rejected = |code: &str, message: String| BatchResult::Rejected {
            batch_id: batch_id.clone(),
            code: code.to_owned(),
            message,
        };
        if let Err(error) = validate_batch(&stream, &events, self.options) {
            return Ok(rejected(error.kind().code(), error.to_string()));
        }
        if !self.access.may_append(&stream) {
            return Ok(rejected(
                "Forbidden",
                format!("this token may not append to stream `{stream}`"),
            ));
        }
        let expected = expected.0;
        let events: Vec<NewEvent> = events.into_iter().map(NewEvent::from).collect();
        match self.store.append(&stream, expected, events).await {
            Ok(result) => Ok(self.outcome(batch_id, result)),
            Err(Error::WrongExpectedVersion { actual, .. }) => {
                let since = if self.access.may_read(&stream) {
                    events_since(self.store, &stream, expected, self.options.page_size).await?
                } else {
                    Vec::new()
                };
                Ok(BatchResult::Conflict {
                    batch_id,
                    current_version: actual,
                    since,
                })
            }
            Err(
                error @ (Error::InvalidInput { .. }
                | Error::DuplicateEventId { .. }
                | Error::StreamDeleted { .. }),
            ) => Ok(rejected(error.kind().code(), error.to_string())),
            Err(error) => Err(error),
        }
    }
}

fn validate_batch(
    stream: &str,
    events: &[crate::json::NewEventJson],
    options: &SyncServerOptions,
) -> Result<()> {
    validate_stream_id(stream)?;
    if events.is_empty() {
        return Err(Error::invalid_input("a batch needs at least one event"));
    }
    if events.len() > options.max_batch_events {
        return Err(Error::invalid_input(format!(
            "a batch carries at most {} events, this one has {}",
            options.max_batch_events,
            events.len()
        )));
    }
    if let Some(index) = events.iter().position(|event| event.id.is_none()) {
        return Err(Error::invalid_input(format!(
            "event {index} has no id: pushed events carry their ids so that retries are safe"
        )));
    }
    Ok(())
}

/// The stream's events after the version the client expected (its first page).
async fn events_since<S: Storage>(
    store: &EventStore<S>,
    stream: &str,
    expected: ExpectedVersion,
    limit: usize,
) -> Result<Vec<RecordedEventJson>> {
    let known = match expected {
        ExpectedVersion::Exact(version) => version,
        _ => 0,
    };
    // The events as stored, not upcast: a client mirrors them, and upcasts what it reads;
    // without those the stream's `maxAge` no longer keeps.
    let events = store
        .storage()
        .read_stream(stream, known + 1, Direction::Forward, limit.max(1))
        .await?;
    let retention = store.retention().await?;
    Ok(retention
        .retain(events)
        .into_iter()
        .map(RecordedEventJson::from)
        .collect())
}

/// Handles a pull: up to `limit` events after `after` that match the request's filter and that
/// the caller may read, in position order, with where to continue (`next`), the head and the
/// store id. When nothing is there and `wait` is given, it waits (long poll) until an event
/// arrives or the wait is over.
///
/// `next` lets a filtered client skip what it cannot see: when fewer than `limit` events matched,
/// every event up to the head read *before* the query was considered, so `next` is at least that
/// head (no event committed later can have a lower position).
///
/// Errors: [`Error::InvalidInput`] for an invalid filter; storage failures.
pub async fn handle_pull<S: Storage>(
    store: &EventStore<S>,
    access: &SyncAccess,
    request: &PullRequest,
    options: &SyncServerOptions,
) -> Result<PullResponse> {
    let limit = request
        .limit
        .unwrap_or(options.page_size)
        .clamp(1, options.max_page_size.max(1));
    let wait = Duration::from_millis(request.wait.unwrap_or(0)).min(options.max_wait);
    let deadline = now_millis().saturating_add(wait.as_millis() as u64);
    let filter = access.narrow(&request.filter());
    let store_id = store.store_id().await?;
    loop {
        // Listen before reading, so an append between the read and the wait is not missed.
        let appended = store.listen();
        let head = store.head().await?;
        let retention = store.retention().await?;
        let found = match &filter {
            Some(filter) => {
                store
                    .storage()
                    .read_all(request.after, Direction::Forward, limit, filter)
                    .await?
            }
            None => Vec::new(),
        };
        let last = found.last().map(|event| event.position);
        let next = match last {
            Some(last) if found.len() == limit => last,
            _ => head.max(last.unwrap_or(0)).max(request.after),
        };
        let events: Vec<RecordedEventJson> = found
            .into_iter()
            .filter(|event| access.may_read(&event.stream_id) && retention.keeps(event))
            .map(RecordedEventJson::from)
            .collect();
        let now = now_millis();
        if !events.is_empty() || now >= deadline || store.is_closed() {
            return Ok(PullResponse {
                events,
                next,
                head: head.max(next),
                store_id,
            });
        }
        let pause = Duration::from_millis(deadline - now).min(options.poll_interval);
        let _ = select(appended, Box::pin(sleep(pause))).await;
    }
}
