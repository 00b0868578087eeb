//! Waiting for a transaction to commit or abort.
//!
//! idb's own `TransactionFuture` also listens to the transaction's `error` event through a
//! call-once closure; an aborting transaction fires that event once per pending request, and the
//! second call throws inside the browser's event dispatch. This future listens to `complete` and
//! `abort` only — exactly one of them fires, once — and reads the cause from
//! `transaction.error` afterwards.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use idb::Transaction;

use super::errors::DomFailure;
use crate::error::Error;

/// Resolves when the transaction has committed (`Ok`) or aborted (`Err` with the cause).
pub(super) struct Completion {
    transaction: Transaction,
    /// The same transaction, to abort it without giving up `transaction` and its callbacks.
    raw: web_sys::IdbTransaction,
    outcome: oneshot::Receiver<bool>,
    finished: bool,
}

impl Completion {
    /// Starts listening. Call it right after creating the transaction, before awaiting anything.
    pub(super) fn new(transaction: Transaction) -> Self {
        let raw = web_sys::IdbTransaction::from(transaction);
        let mut transaction = Transaction::from(raw.clone());
        let (sender, outcome) = oneshot::channel();
        let sender = Rc::new(RefCell::new(Some(sender)));
        let on_abort = Rc::clone(&sender);
        transaction.on_complete(move |_| {
            if let Some(sender) = sender.borrow_mut().take() {
                let _ = sender.send(true);
            }
        });
        transaction.on_abort(move |_| {
            if let Some(sender) = on_abort.borrow_mut().take() {
                let _ = sender.send(false);
            }
        });
        Completion {
            transaction,
            raw,
            outcome,
            finished: false,
        }
    }

    /// Aborts the transaction (all its writes are undone). Harmless if it already finished or is
    /// already aborting.
    pub(super) fn abort(&self) {
        let _ = self.raw.abort();
    }

    /// Aborts the transaction after `error` stopped its work, waits until it has ended, and
    /// returns the error to report: `error`, unless the browser had aborted the transaction for
    /// quota first (a request then fails with a mere `AbortError`), in which case the quota is
    /// the cause.
    pub(super) async fn abandon(self, error: Error, context: &str) -> Error {
        self.abort();
        match self.await {
            Err(failure) if failure.is_quota() => failure.into_error(context),
            _ => error,
        }
    }
}

impl Future for Completion {
    type Output = Result<(), DomFailure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let committed = match Pin::new(&mut self.outcome).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(outcome) => outcome.unwrap_or(false),
        };
        self.finished = true;
        Poll::Ready(if committed {
            Ok(())
        } else {
            Err(match self.transaction.error() {
                Some(exception) => DomFailure::from_exception(&exception),
                None => DomFailure {
                    name: "AbortError".to_owned(),
                    message: "the transaction was aborted".to_owned(),
                },
            })
        })
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if !self.finished {
            // The browser will still fire `complete` or `abort`: keep the (tiny) handlers alive
            // rather than let it call freed closures.
            self.transaction.forget_callbacks();
        }
    }
}
