//! The writer thread: the one connection of a store handle that writes (a connection actor).
//!
//! Appends and checkpoint saves are queued to it. It takes the appends waiting at that moment
//! (up to [`MAX_GROUP`]) and commits them together ([`append_group`]): with many concurrent
//! appenders a transaction, and with [`Durability::Full`](super::Durability::Full) an fsync,
//! serves many appends; with one appender nothing waits for company, the group is just that
//! append.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;

use super::append::{append_group, GroupOutcome};
use super::conn::Conn;
use super::wal::WalBound;
use super::workers::{Queue, Reply, Work};
use crate::error::Result;
use crate::storage::AppendBatch;
use crate::types::AppendResult;

/// The most appends one transaction takes.
const MAX_GROUP: usize = 64;

/// What the writer thread owns.
pub(super) struct Writer {
    pub(super) conn: Conn,
    /// Where the highest position committed on the file by this process is kept (see
    /// [`FileWatch`](super::watch::FileWatch)); `None` in memory.
    pub(super) committed: Option<Arc<AtomicU64>>,
    /// `None` in memory.
    pub(super) wal: Option<WalBound>,
    pub(super) busy_timeout: Duration,
}

/// A job of the writer thread.
pub(super) enum WriteJob {
    /// An append, group-committed with the appends queued beside it.
    Append(AppendBatch, oneshot::Sender<Result<AppendResult>>),
    /// Anything else, alone: a checkpoint save, and every read of a store in memory.
    Run(Work<Writer>),
}

impl WriteJob {
    /// An append job and the receiver of its result.
    pub(super) fn append(batch: AppendBatch) -> (Self, Reply<AppendResult>) {
        let (sender, receiver) = oneshot::channel();
        (WriteJob::Append(batch, sender), Reply(receiver))
    }
}

type Pending = (AppendBatch, oneshot::Sender<Result<AppendResult>>);

/// The writer thread's loop, until the queue closes.
pub(super) fn serve(mut writer: Writer, queue: Queue<WriteJob>) {
    let mut next = None;
    while let Some(job) = next.take().or_else(|| queue.next()) {
        match job {
            WriteJob::Run(work) => work(&mut writer),
            WriteJob::Append(batch, reply) => {
                let mut group = vec![(batch, reply)];
                while group.len() < MAX_GROUP {
                    match queue.try_next() {
                        Some(WriteJob::Append(batch, reply)) => group.push((batch, reply)),
                        // Runs after this group, in queue order.
                        other => {
                            next = other;
                            break;
                        }
                    }
                }
                writer.commit(group);
            }
        }
    }
}

impl Writer {
    /// Commits `group` and answers each append.
    fn commit(&mut self, mut group: Vec<Pending>) {
        loop {
            let batches: Vec<&AppendBatch> = group.iter().map(|(batch, _)| batch).collect();
            match append_group(&mut self.conn.conn, &batches) {
                GroupOutcome::Committed(results) => {
                    if let Some(committed) = &self.committed {
                        let last = results.iter().flatten().map(|r| r.position).max();
                        committed.fetch_max(last.unwrap_or(0), Ordering::AcqRel);
                    }
                    for ((_, reply), result) in group.into_iter().zip(results) {
                        if let (Ok(done), Some(cache)) = (&result, &mut self.conn.head) {
                            // Our own commits do not change our data_version; keep the cache
                            // current.
                            cache.head = cache.head.max(done.position);
                        }
                        // The caller may have stopped waiting; the append is committed anyway.
                        let _ = reply.send(result);
                    }
                    if let Some(wal) = &mut self.wal {
                        wal.after_append(&self.conn.conn, self.busy_timeout);
                    }
                    return;
                }
                GroupOutcome::Failed(error) => {
                    for (_, reply) in group {
                        let _ = reply.send(Err(error.clone()));
                    }
                    return;
                }
                GroupOutcome::Lost(index, error) => {
                    let (_, reply) = group.remove(index);
                    let _ = reply.send(Err(error));
                    if group.is_empty() {
                        return;
                    }
                    // The others were rolled back with the transaction: run them again.
                }
            }
        }
    }
}
