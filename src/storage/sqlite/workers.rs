//! Threads that own SQLite connections and serve jobs sent from async code.
//!
//! SQLite calls block: on the disk, on an fsync, on another process's write lock. The async
//! methods of [`SqliteStorage`](super::SqliteStorage) therefore never call SQLite themselves;
//! they send a job to the threads here and await its reply on a oneshot channel, so the calling
//! task's thread is free meanwhile, on any executor.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use futures::channel::oneshot;

use super::spin::WRITER_SPIN;
use crate::error::{Error, Result};

/// A few threads taking jobs `J` from one queue.
pub(super) struct Workers<J> {
    /// `None` once closed: sending then fails with [`Error::Closed`].
    jobs: Mutex<Option<Sender<J>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The receiving end of a [`Workers`] queue, shared by its threads.
pub(super) struct Queue<J>(Arc<Mutex<Receiver<J>>>);

impl<J> Queue<J> {
    /// Blocks until the next job; `None` once the queue is closed and drained.
    pub(super) fn next(&self) -> Option<J> {
        self.receiver().recv().ok()
    }

    /// The next job if one is waiting now.
    pub(super) fn try_next(&self) -> Option<J> {
        self.receiver().try_recv().ok()
    }

    /// [`next`](Self::next), looking for a job for up to [`WRITER_SPIN`] before blocking: a
    /// writer that just answered an append is still running when the next one comes, instead of
    /// having to be woken for it.
    pub(super) fn next_spinning(&self) -> Option<J> {
        let started = Instant::now();
        while started.elapsed() < WRITER_SPIN {
            match self.receiver().try_recv() {
                Ok(job) => return Some(job),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        self.next()
    }

    fn receiver(&self) -> MutexGuard<'_, Receiver<J>> {
        // A receiver cannot be left inconsistent by a panic elsewhere.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<J: Send + 'static> Workers<J> {
    /// Starts one thread per state in `states`, each running `serve(state, queue)` until the
    /// queue is closed.
    pub(super) fn start<S: Send + 'static>(
        name: &str,
        states: Vec<S>,
        serve: fn(S, Queue<J>),
    ) -> Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = Workers {
            jobs: Mutex::new(Some(sender)),
            threads: Mutex::new(Vec::new()),
        };
        for state in states {
            let queue = Queue(Arc::clone(&receiver));
            let thread = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || serve(state, queue))
                .map_err(|e| {
                    workers.close();
                    Error::storage(format!("cannot start the SQLite {name} thread: {e}"))
                })?;
            relock(&workers.threads).push(thread);
        }
        Ok(workers)
    }

    /// Queues `job`; [`Error::Closed`] once closed.
    pub(super) fn send(&self, job: J) -> Result<()> {
        match relock(&self.jobs).as_ref() {
            Some(jobs) => jobs.send(job).map_err(|_| Error::Closed),
            None => Err(Error::Closed),
        }
    }

    /// Closes the queue and waits for the threads to finish the jobs already queued (their
    /// connections are closed when they end). Idempotent.
    pub(super) fn close(&self) {
        relock(&self.jobs).take();
        let threads = std::mem::take(&mut *relock(&self.threads));
        for thread in threads {
            // A thread that panicked has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

/// A job that runs a closure on the state `S` of the thread that takes it.
pub(super) type Work<S> = Box<dyn FnOnce(&mut S) + Send>;

/// Wraps `work` into a [`Work`] that replies on a oneshot channel, and that channel's receiver.
pub(super) fn work<S, T: Send + 'static>(
    work: impl FnOnce(&mut S) -> Result<T> + Send + 'static,
) -> (Work<S>, Reply<T>) {
    let (sender, receiver) = oneshot::channel();
    let job: Work<S> = Box::new(move |state| {
        // The caller may have stopped waiting; the work is done either way.
        let _ = sender.send(work(state));
    });
    (job, Reply(receiver))
}

/// The awaited answer of a job.
pub(super) struct Reply<T>(pub(super) oneshot::Receiver<Result<T>>);

impl<T> Reply<T> {
    /// The job's result; [`Error::Closed`] when the job was dropped unanswered (the store was
    /// closed before it ran).
    pub(super) async fn wait(self) -> Result<T> {
        self.0.await.unwrap_or(Err(Error::Closed))
    }
}

/// The loop of a thread serving [`Work`] on its own state `S`, until the queue closes.
pub(super) fn serve_work<S>(mut state: S, queue: Queue<Work<S>>) {
    while let Some(work) = queue.next() {
        work(&mut state);
    }
}
