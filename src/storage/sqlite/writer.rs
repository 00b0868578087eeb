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
    /// An append (one batch) or an `append_many` (several, all or nothing), group-committed
    /// with the appends queued beside it.
    Append(Vec<AppendBatch>, oneshot::Sender<Result<Vec<AppendResult>>>),
    /// Anything else, alone: a checkpoint save, and every read of a store in memory.
    Run(Work<Writer>),
}

impl WriteJob {
    /// An append job of `batches` (one for an append, several for an `append_many`) and the
    /// receiver of their results.
    pub(super) fn append(batches: Vec<AppendBatch>) -> (Self, Reply<Vec<AppendResult>>) {
        let (sender, receiver) = oneshot::channel();
        (WriteJob::Append(batches, sender), Reply(receiver))
    }
}

type Pending = (Vec<AppendBatch>, oneshot::Sender<Result<Vec<AppendResult>>>);

/// The writer thread's loop, until the queue closes.
pub(super) fn serve(mut writer: Writer, queue: Queue<WriteJob>) {
    let mut next = None;
    while let Some(job) = next.take().or_else(|| queue.next_spinning()) {
        match job {
            WriteJob::Run(work) => work(&mut writer),
            WriteJob::Append(batches, reply) => {
                let mut group = vec![(batches, reply)];
                while group.len() < MAX_GROUP {
                    match queue.try_next() {
                        Some(WriteJob::Append(batches, reply)) => group.push((batches, reply)),
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
            let units: Vec<&[AppendBatch]> =
                group.iter().map(|(batches, _)| &batches[..]).collect();
            match append_group(&mut self.conn.conn, &units) {
                GroupOutcome::Committed(results) => {
                    let last = results
                        .iter()
                        .flatten()
                        .flatten()
                        .map(|r| r.position)
                        .max()
                        .unwrap_or(0);
                    if let Some(committed) = &self.committed {
                        committed.fetch_max(last, Ordering::AcqRel);
                    }
                    if let Some(cache) = &mut self.conn.head {
                        // Our own commits do not change our data_version; keep the cache
                        // current.
                        cache.head = cache.head.max(last);
                    }
                    for ((_, reply), result) in group.into_iter().zip(results) {
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
