//! Hand-offs to the writer thread without thread wake-ups when one append follows another.
//!
//! Waking a blocked thread costs far more than an append on a virtual machine: a round trip
//! between two threads that block took 65–100 µs on the 2-core machine of BENCHMARKS.md, where an
//! uncontended `synchronous=NORMAL` append takes about 110 µs, and under 4 µs when both threads
//! were still running. An append hands off twice: its job to the writer thread, the answer back
//! to the task. So both sides stay awake for a while instead of blocking at once:
//!
//! - the writer thread looks for its next job for [`WRITER_SPIN`] before it blocks
//!   ([`Queue::next_spinning`](super::workers::Queue::next_spinning)): an application appending
//!   one event after another sends the next append well within that;
//! - a call that is the only one waiting for the writer thread of its store handle (an append,
//!   a checkpoint save) keeps its task runnable for up to [`REPLY_SPIN`] while it waits
//!   ([`wait_for_writer`]): the task wakes itself, so the executor
//!   polls it again after its other runnable tasks, and its thread never blocks. Most appends
//!   are answered within that (an fsync of `Durability::Full` too, on the disks measured), so
//!   the answer needs no wake-up either. Past it, the task waits as any other, and the next
//!   call does not spin until one is answered within it again (big batches, slow disks).
//!
//! The price is CPU: at most [`WRITER_SPIN`] of the writer thread after the last append of a
//! burst, and at most [`REPLY_SPIN`] of polling per call while one caller is alone (with
//! several in flight, group commit shares the wake-ups and nothing spins). An idle store spends
//! nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use super::workers::Reply;
use crate::error::{Error, Result};

/// How long the writer thread keeps looking for its next job before it blocks.
pub(super) const WRITER_SPIN: Duration = Duration::from_micros(200);

/// How long the only call waiting for the writer thread keeps its task runnable.
pub(super) const REPLY_SPIN: Duration = Duration::from_millis(1);

/// The calls of a store handle waiting for the writer thread, and whether the last lone call
/// was answered within [`REPLY_SPIN`].
#[derive(Debug, Default)]
pub(super) struct InFlight {
    waiting: AtomicUsize,
    /// Set when the last lone call waited longer than [`REPLY_SPIN`] (a big batch, a slow
    /// fsync, a lock): the next one does not spin, and sets it again by how long it took.
    slow: AtomicBool,
}

/// Counts one call in flight until dropped.
struct Waiting<'a>(&'a InFlight);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits for the answer of a job sent to the writer thread: spinning as the module says while
/// it is the only call of `in_flight` and the last lone call was answered within
/// [`REPLY_SPIN`], as [`Reply::wait`] does otherwise.
pub(super) async fn wait_for_writer<T>(in_flight: &InFlight, reply: Reply<T>) -> Result<T> {
    let alone = in_flight.waiting.fetch_add(1, Ordering::AcqRel) == 0;
    let _waiting = Waiting(in_flight);
    if !alone {
        return reply.wait().await;
    }
    let started = Instant::now();
    let spin = !in_flight.slow.load(Ordering::Relaxed);
    let mut receiver = reply.0;
    let answer = std::future::poll_fn(|cx| match Pin::new(&mut receiver).poll(cx) {
        Poll::Ready(answer) => Poll::Ready(answer.unwrap_or(Err(Error::Closed))),
        Poll::Pending => {
            if spin && started.elapsed() < REPLY_SPIN {
                // Polled again soon; the receiver has the waker too, for after the spin.
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        }
    })
    .await;
    in_flight
        .slow
        .store(started.elapsed() >= REPLY_SPIN, Ordering::Relaxed);
    answer
}
