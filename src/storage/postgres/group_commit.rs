//! Group commit: the writer task that coalesces this process's concurrent appends into one
//! transaction.
//!
//! Positions come from one head row locked until commit, so appends commit one after another,
//! and with `fsync` on each commit waits for the disk: alone, that caps a store at about one
//! commit per fsync. The writer takes every append waiting when it is free (up to
//! [`max_group_size`](super::PostgresOptions::max_group_size)), runs them in one transaction —
//! a savepoint each, the head row locked once, one commit, one fsync — and answers each append
//! with its own outcome. There is no timer: an append that finds the writer idle starts at
//! once, and appends arriving while a commit is in flight wait for that one commit only, which
//! is the wait that gathers the next group.

use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::Pool;
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;

use std::sync::Arc;

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
    pub(super) fn snapshot(&self) -> CommitStats {
        CommitStats {
            transactions: self.transactions.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
        }
    }
}

/// Starts the writer on `runtime`; it ends when every [`Queue`] sender is dropped.
pub(super) fn spawn_writer(
    runtime: &tokio::runtime::Handle,
    pool: Pool,
    channel: String,
    max_group_size: usize,
    counters: Arc<Counters>,
) -> Queue {
    let (queue, mut requests) = mpsc::unbounded::<Request>();
    runtime.spawn(async move {
        while let Some(first) = requests.next().await {
            let mut group = vec![first];
            while group.len() < max_group_size {
                match requests.try_recv() {
                    Ok(request) => group.push(request),
                    _ => break,
                }
            }
            let (appends, replies): (Vec<_>, Vec<_>) = group
                .into_iter()
                .map(|request| (request.append, request.reply))
                .unzip();
            let outcomes = run_group(&pool, &appends, &channel, &counters).await;
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller that stopped waiting does not need its outcome.
                let _ = reply.send(outcome);
            }
        }
    });
    queue
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
            counters.transactions.fetch_add(1, Ordering::Relaxed);
            counters
                .appends
                .fetch_add(appends.len() as u64, Ordering::Relaxed);
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
