//! Noticing the commits of other processes within a few milliseconds.
//!
//! SQLite tells nobody when another process commits. Every handle on a file in this process
//! shares one [`FileWatch`]: a thread that, while subscriptions of this process wait on the
//! file's [`AppendNotifier`], runs `PRAGMA data_version` on an idle read connection every
//! [`INTERVAL`] and wakes them when another process committed.
//!
//! Why this and not something else: `data_version` is SQLite's documented way to learn that
//! another connection committed; on an idle WAL connection it reads the shared-memory WAL index
//! (a few microseconds, no disk I/O, no lock a writer waits for); what a look costs is mostly
//! the thread's wake-up. Measured (`make bench`, group `idle`), a 5 ms poll costs under one
//! percent of a core even on a loaded machine (4 ms cost 1.05 %, 2 ms 1.1 %), and only
//! while a subscription waits: otherwise the thread only checks for waiting subscriptions
//! every [`IDLE_INTERVAL`] and holds no connection. The WAL file's modification time would be as cheap to poll, but it
//! is coarse on many file systems (one clock tick), so two commits can look like one; inotify
//! is Linux-only. Commits of this process are not reported again (they wake subscriptions
//! through the notifier already): the watcher notifies only when the head moved past what this
//! process committed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::schema::open_reader;
use super::SqliteOptions;
use crate::storage::AppendNotifier;

/// How often the watcher looks while subscriptions wait.
pub(super) const INTERVAL: Duration = Duration::from_millis(5);

/// How often it looks for waiting subscriptions otherwise.
const IDLE_INTERVAL: Duration = Duration::from_millis(20);

/// How long it keeps the short interval after it last saw a waiting subscription (subscriptions
/// stop waiting for a moment after each wake-up).
const LINGER: Duration = Duration::from_secs(1);

/// One per file in this process, shared by its handles.
pub(super) struct FileWatch {
    notifier: AppendNotifier,
    /// The highest position committed by this process's writers on the file.
    committed: Arc<AtomicU64>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The watches alive, by canonical path. Entries are weak: a watch lives as long as a handle
/// uses it.
static WATCHES: LazyLock<Mutex<HashMap<PathBuf, Weak<FileWatch>>>> = LazyLock::new(Mutex::default);

impl FileWatch {
    /// The watch of the file at `canonical` (its canonical path), started if none is alive.
    /// Without a thread (it could not start) subscriptions still notice other processes by
    /// their poll interval.
    pub(super) fn of(
        canonical: &Path,
        notifier: AppendNotifier,
        options: &SqliteOptions,
    ) -> Arc<FileWatch> {
        let mut watches = WATCHES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(watch) = watches.get(canonical).and_then(Weak::upgrade) {
            return watch;
        }
        watches.retain(|_, watch| watch.strong_count() > 0);
        let watch = Arc::new(FileWatch {
            notifier,
            committed: Arc::default(),
            thread: Mutex::new(None),
        });
        let (weak, path, options) = (
            Arc::downgrade(&watch),
            canonical.to_owned(),
            options.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("evstore-sqlite-watch".to_owned())
            .spawn(move || watch_file(weak, &path, &options))
            .ok();
        *watch.thread.lock().unwrap_or_else(PoisonError::into_inner) = thread;
        watches.insert(canonical.to_owned(), Arc::downgrade(&watch));
        watch
    }

    /// Where this process's writers record the highest position they committed on the file.
    pub(super) fn committed(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.committed)
    }
}
impl Drop for FileWatch {
    fn drop(&mut self) {
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            thread.thread().unpark();
            // The watcher itself may drop the last reference; it then ends on its own.
            if std::thread::current().id() != thread.thread().id() {
                let _ = thread.join();
            }
        }
    }
}

/// The watcher thread: ends when the last handle on the file lets the watch go.
fn watch_file(weak: Weak<FileWatch>, path: &Path, options: &SqliteOptions) {
    let mut conn: Option<Conn> = None;
    let mut seen: Option<i64> = None;
    let mut last_listener: Option<Instant> = None;
    loop {
        let pause = {
            let Some(watch) = weak.upgrade() else { return };
            let now = Instant::now();
            if watch.notifier.listeners() > 0 {
                last_listener = Some(now);
            }
            if last_listener.is_some_and(|at| now - at < LINGER) {
                look(&watch, &mut conn, &mut seen, path, options);
                INTERVAL
            } else {
                // Nobody waits: let the connection go too.
                conn = None;
                seen = None;
                IDLE_INTERVAL
            }
        };
        std::thread::park_timeout(pause);
    }
}

/// One look: did another connection commit past what this process committed?
fn look(
    watch: &FileWatch,
    conn: &mut Option<Conn>,
    seen: &mut Option<i64>,
    path: &Path,
    options: &SqliteOptions,
) {
    if conn.is_none() {
        *conn = open_reader(path, options).ok().map(Conn::new);
    }
    let Some(reader) = conn else { return };
    let Ok(version) = reader.data_version() else {
        return;
    };
    if *seen == Some(version) {
        return;
    }
    // On the first look nothing tells whether a commit came just before it: wake the waiting
    // subscriptions once (each re-reads from where it is, at worst finding nothing).
    let first = seen.is_none();
    *seen = Some(version);
    match reader.head() {
        Ok(head) if first || head > watch.committed.load(Ordering::Acquire) => {
            watch.notifier.notify();
        }
        _ => {}
    }
}
