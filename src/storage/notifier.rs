//! [`AppendNotifier`]: how an append wakes the subscriptions of every store on the same data in
//! this process.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use event_listener::{Event, EventListener};

/// Wakes idle subscriptions when events were appended (or a store closed).
///
/// Every [`EventStore`](crate::EventStore) takes one from its backend
/// ([`Storage::notifier`](crate::Storage::notifier)) when it is made, notifies it after each
/// append through it and on close, and its idle subscriptions listen to it. Stores whose backends
/// hand out the same notifier wake each other's subscriptions at once; any other writer (another
/// process, another tab) is noticed by polling [`Storage::head`](crate::Storage::head), unless
/// the backend notifies for it too (SQLite's file watch does, for other processes).
///
/// Cheap to clone: clones are the same notifier.
#[derive(Clone, Default)]
pub struct AppendNotifier {
    event: Arc<Event>,
}

impl std::fmt::Debug for AppendNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendNotifier").finish_non_exhaustive()
    }
}

/// The notifiers handed out by [`AppendNotifier::shared`], by key. Entries are weak: a notifier
/// lives as long as a store uses it, and dead entries are swept when a new one is made.
static SHARED: LazyLock<Mutex<HashMap<String, Weak<Event>>>> = LazyLock::new(Mutex::default);

impl AppendNotifier {
    /// A notifier of its own, shared with nobody.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide notifier of `key`: every call with the same key, from any thread, returns
    /// the same notifier while one returned earlier is still alive. Backends key it by what
    /// identifies their data — SQLite by the canonical path of the file, IndexedDB by the
    /// database name — so that separately opened handles on one database wake each other.
    pub fn shared(key: &str) -> Self {
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(event) = shared.get(key).and_then(Weak::upgrade) {
            return AppendNotifier { event };
        }
        shared.retain(|_, event| event.strong_count() > 0);
        let notifier = AppendNotifier::new();
        shared.insert(key.to_owned(), Arc::downgrade(&notifier.event));
        notifier
    }

    /// Wakes every listener.
    pub fn notify(&self) {
        self.event.notify(usize::MAX);
    }

    /// Whether `self` and `other` are the same notifier.
    pub fn same_as(&self, other: &AppendNotifier) -> bool {
        Arc::ptr_eq(&self.event, &other.event)
    }

    /// How many listeners wait now: mostly idle subscriptions. A backend that has to look for
    /// other writers (SQLite's file watch) looks only while someone waits.
    pub fn listeners(&self) -> usize {
        self.event.total_listeners()
    }

    /// A listener woken by the next [`notify`](Self::notify).
    pub(crate) fn listen(&self) -> EventListener {
        self.event.listen()
    }
}

#[cfg(test)]
mod tests {
    use super::AppendNotifier;

    #[test]
    fn shared_notifiers_are_one_per_key_while_alive() {
        let a = AppendNotifier::shared("test:one");
        let b = AppendNotifier::shared("test:one");
        let other = AppendNotifier::shared("test:two");
        assert!(a.same_as(&b));
        assert!(!a.same_as(&other));
        assert!(!a.same_as(&AppendNotifier::new()));
        let listener = a.listen();
        assert_eq!((b.listeners(), other.listeners()), (1, 0));
        drop(listener);
        assert_eq!(b.listeners(), 0);
        drop((a, b));
        // Nothing keeps the first one alive: the key gets a new notifier.
        let c = AppendNotifier::shared("test:one");
        assert!(!c.same_as(&other));
    }
}
