//! [`Wakeup`]: how a backend that hears of appends made elsewhere wakes a store's
//! subscriptions.

use std::sync::{Mutex, Weak};

/// Wakes the idle subscriptions of one [`EventStore`](crate::EventStore), as
/// [`EventStore::wake_subscriptions`](crate::EventStore::wake_subscriptions) does.
///
/// A store hands one to its backend through [`Storage::attach_wakeup`](super::Storage::attach_wakeup)
/// when it is made. It does not keep the store alive: once the store and all its clones are
/// dropped, [`wake`](Self::wake) does nothing and returns `false`.
#[derive(Debug, Clone)]
pub struct Wakeup {
    appended: Weak<event_listener::Event>,
}

impl Wakeup {
    pub(crate) fn new(appended: Weak<event_listener::Event>) -> Self {
        Wakeup { appended }
    }

    /// Wakes the store's idle subscriptions so that they re-read from storage. Returns `false`
    /// when the store is gone (the backend may forget this handle).
    pub fn wake(&self) -> bool {
        match self.appended.upgrade() {
            Some(appended) => {
                appended.notify(usize::MAX);
                true
            }
            None => false,
        }
    }
}

/// The wake-ups a backend was given, for backends that keep several (one per store made over
/// clones of one backend).
#[derive(Debug, Default)]
pub struct Wakeups {
    wakeups: Mutex<Vec<Wakeup>>,
}

impl Wakeups {
    /// Keeps `wakeup`.
    pub fn add(&self, wakeup: Wakeup) {
        self.lock().push(wakeup);
    }

    /// Wakes every store still alive and forgets the others.
    pub fn wake_all(&self) {
        self.lock().retain(Wakeup::wake);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Wakeup>> {
        // A panic while held cannot leave the vector half-updated.
        self.wakeups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
