//! The read connections of a file store.
//!
//! In WAL mode a reader never waits for the writer, so most reads have nothing to wait for: they
//! run at once on the calling thread, on an idle connection of a small pool (one per core, 2 to
//! 4), so reads of parallel tasks run in parallel and cost what a raw query costs. Those
//! connections never wait for a lock: their busy handler refuses at once (SQLite asks it only in
//! rare moments, such as another process recovering the WAL after a crash). A read refused
//! that way, or one that finds every pooled connection in use, goes to the patient reader: a
//! thread with its own connection and the store's busy timeout, awaited without blocking the
//! calling thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::conn::Conn;
use super::errors::sqlite_error;
use super::schema::open_reader;
use super::workers::{self, serve_work, Work, Workers};
use super::SqliteOptions;
use crate::error::Result;
use std::path::Path;

/// The read connections: a pool used on the calling thread, and a patient reader thread.
pub(super) struct Readers {
    idle: Mutex<Vec<Quick>>,
    closed: AtomicBool,
    patient: Workers<Work<Conn>>,
    /// Whether a checkpoint queued by [`checkpoint_beside`](Self::checkpoint_beside) has not
    /// finished yet.
    checkpointing: Arc<AtomicBool>,
}

/// A pooled connection and whether its busy handler refused since it was last looked at.
pub(super) struct Quick {
    conn: Conn,
    refused: Arc<AtomicBool>,
}

/// How many pooled read connections a file store keeps: one per core, 2 to 4.
fn pool_size() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

impl Readers {
    /// Opens the read connections of the evstore database at `path` (already opened by the
    /// writer: recognized, in WAL mode, migrated).
    pub(super) fn open(path: &Path, options: &SqliteOptions) -> Result<Self> {
        let idle = (0..pool_size())
            .map(|_| {
                let mut conn = open_reader(path, options)?;
                let refused = Arc::new(AtomicBool::new(false));
                let flag = Arc::clone(&refused);
                conn.busy_handler(Some(move |_| {
                    flag.store(true, Ordering::Relaxed);
                    false
                }))
                .map_err(sqlite_error)?;
                Ok(Quick {
                    conn: Conn::new(conn),
                    refused,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let patient = Conn::new(open_reader(path, options)?);
        Ok(Readers {
            idle: Mutex::new(idle),
            closed: AtomicBool::new(false),
            patient: Workers::start("evstore-sqlite-reader", vec![patient], serve_work)?,
            checkpointing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Queues a `PASSIVE` checkpoint on the patient reader's connection, unless one is queued
    /// or running already, and returns without waiting for it. A passive checkpoint never
    /// blocks the writer, which keeps committing while the WAL is copied into the database (and
    /// synced); the next one copies what was committed meanwhile. A failure only leaves the WAL
    /// longer for a while. (`query_only` connections may checkpoint: a checkpoint changes no
    /// data.)
    pub(super) fn checkpoint_beside(&self) {
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let checkpointing = Arc::clone(&self.checkpointing);
        let (job, _reply) = workers::work(move |conn: &mut Conn| {
            let _ = conn
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            checkpointing.store(false, Ordering::Release);
            Ok(())
        });
        if self.patient.send(job).is_err() {
            self.checkpointing.store(false, Ordering::Release);
        }
    }

    pub(super) fn idle(&self) -> MutexGuard<'_, Vec<Quick>> {
        // The pool is a plain list: a panic elsewhere cannot leave it inconsistent.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` on a read connection: at once on an idle pooled one, else (or when that one
    /// would have to wait for a lock) on the patient reader.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T> + Clone + Send + 'static,
    {
        let quick = self.idle().pop();
        if let Some(mut quick) = quick {
            let result = (work.clone())(&mut quick.conn);
            let refused = quick.refused.swap(false, Ordering::Relaxed);
            if !self.closed.load(Ordering::Acquire) {
                self.idle().push(quick);
            }
            if !refused {
                return result;
            }
        }
        let (job, reply) = workers::work(work);
        self.patient.send(job)?;
        reply.wait().await
    }

    /// Closes every read connection (a read in flight on a pooled one closes it when done).
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle().clear();
        self.patient.close();
    }
}
