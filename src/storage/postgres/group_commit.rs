//! Group commit: the writer task that coalesces this process's concurrent appends into one
//! transaction.
//!
//! Positions come from one head row locked until commit, so appends commit one after another,
//! and with `fsync` on each commit waits for the disk: alone, that caps a store at about one
//! commit per fsync. The writer takes every append waiting when it is free (up to
//! [`max_group_size`](super::PostgresOptions::max_group_size)), runs them in one transaction —
//! a savepoint each, the head row locked once, one commit, one fsync — and answers each append
//! with its own outcome. A lone append that finds the writer idle starts at once; appends
//! arriving while a commit is in flight wait for that one commit, and the writer waits a little
//! (at most [`group_commit_wait`](super::PostgresOptions::group_commit_wait)) for appenders it
//! has reason to expect, see [`spawn_writer`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;

use super::append::{append_group, PreparedAppend};
use super::errors::pool_error;
use crate::error::{Error, Result};
use crate::types::AppendResult;

/// An append waiting for the writer, and where its outcome goes.
pub(super) struct Request {
    pub(super) append: PreparedAppend,
    pub(super) reply: oneshot::Sender<Result<AppendResult>>,
}

/// The sending side of the writer's queue.
pub(super) type Queue = mpsc::UnboundedSender<Request>;

/// How many append transactions a storage committed and how many appends they carried; see
/// [`PostgresStorage::commit_stats`](super::PostgresStorage::commit_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Append transactions committed.
    pub transactions: u64,
    /// Appends those transactions carried (successful or not: a refused append is decided
    /// inside a committed transaction too).
    pub appends: u64,
}

/// The counters behind [`CommitStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    transactions: AtomicU64,
    appends: AtomicU64,
}

impl Counters {
    /// Counts one committed transaction that carried `appends` appends.
    pub(super) fn count(&self, appends: usize) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.appends.fetch_add(appends as u64, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> CommitStats {
        CommitStats {
            transactions: self.transactions.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
        }
    }
}

/// How the writer forms groups.
#[derive(Debug, Clone, Copy)]
pub(super) struct GroupPolicy {
    /// The most appends one group takes.
    pub(super) max_size: usize,
    /// The most the writer waits for appends it expects (see [`spawn_writer`]).
    pub(super) max_wait: Duration,
}

/// Starts the writer on `runtime`; it ends when every [`Queue`] sender is dropped.
///
/// Groups form from what is waiting, plus a bounded wait for the appenders the writer expects:
/// those answered by the last group (they usually append again at once) and those that queued
/// up while it ran. Without that wait, 16 concurrent appenders settle into two alternating
/// groups of 8, one queueing while the other commits; with it, into one group of 16 per
/// commit. An appender alone is not kept waiting: the writer expects nobody but it (only the
/// first append after a burst may wait, once).
pub(super) fn spawn_writer(
    runtime: &tokio::runtime::Handle,
    pool: Pool,
    channel: String,
    policy: GroupPolicy,
    counters: Arc<Counters>,
) -> Queue {
    let (queue, mut requests) = mpsc::unbounded::<Request>();
    runtime.spawn(async move {
        let mut waiting: VecDeque<Request> = VecDeque::new();
        let mut expected = 1;
        loop {
            if waiting.is_empty() {
                match requests.next().await {
                    Some(request) => waiting.push_back(request),
                    None => break,
                }
            }
            let mut group: Vec<Request> = Vec::with_capacity(policy.max_size);
            drain_into(&mut requests, &mut waiting);
            while group.len() < policy.max_size {
                match waiting.pop_front() {
                    Some(request) => group.push(request),
                    None => break,
                }
            }
            let deadline = Instant::now() + policy.max_wait;
            while group.len() < expected.min(policy.max_size) {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, requests.next()).await {
                    Ok(Some(request)) => group.push(request),
                    Ok(None) | Err(_) => break,
                }
            }
            let size = group.len();
            let (appends, replies): (Vec<_>, Vec<_>) = group
                .into_iter()
                .map(|request| (request.append, request.reply))
                .unzip();
            let outcomes = run_group(&pool, &appends, &channel, &counters).await;
            // Those who queued up meanwhile are other appenders than this group's.
            drain_into(&mut requests, &mut waiting);
            expected = size + waiting.len();
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller that stopped waiting does not need its outcome.
                let _ = reply.send(outcome);
            }
        }
    });
    queue
}

/// Moves every request already in the channel to `waiting`.
fn drain_into(requests: &mut mpsc::UnboundedReceiver<Request>, waiting: &mut VecDeque<Request>) {
    while let Ok(request) = requests.try_recv() {
        waiting.push_back(request);
    }
}

/// Runs one group on a pooled connection; every append gets an outcome. A connection whose
/// transaction failed as a whole is closed rather than returned to the pool.
pub(super) async fn run_group(
    pool: &Pool,
    appends: &[PreparedAppend],
    channel: &str,
    counters: &Counters,
) -> Vec<Result<AppendResult>> {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(error) => return vec![Err(pool_error(error)); appends.len()],
    };
    match append_group(&client, appends, channel).await {
        Ok(outcomes) => {
            counters.count(appends.len());
            outcomes
        }
        Err(error) => {
            drop(deadpool_postgres::Object::take(client));
            vec![Err(error); appends.len()]
        }
    }
}

/// The error of an append whose writer is gone (the store was closed).
pub(super) fn writer_gone() -> Error {
    Error::Closed
}
