//! Noticing the commits of other processes within a few milliseconds.
//!
//! SQLite tells nobody when another process commits. Every handle on a file in this process
//! shares one [`FileWatch`]: a thread that, while subscriptions of this process wait on the
//! file's [`AppendNotifier`], runs `PRAGMA data_version` on an idle read connection and wakes
//! them when another process committed.
//!
//! When it looks: as soon as the operating system reports a write to one of the database's
//! files ([`FileEvents`]), then every [`INTERVAL`] until [`SETTLE`] has passed without a new
//! commit (the write comes just before the commit is visible), with the notifications paused
//! meanwhile; then, with them back, once more (for a commit whose write came while they were
//! paused), and after that every [`QUIET_INTERVAL`] only, in case a commit became visible just
//! after that look or the file system sends no notifications (network file systems). While
//! nothing is written, a waiting subscription therefore costs a few wake-ups a second, not one
//! every few milliseconds. Where the platform cannot watch the directory, the thread looks
//! every [`INTERVAL`] instead.
//!
//! Why `data_version`: it is SQLite's documented way to learn that another connection
//! committed; on an idle WAL connection it reads the shared-memory WAL index (a few
//! microseconds, no disk I/O, no lock a writer waits for); what a look costs is mostly the
//! thread's wake-up (measured by `make bench`, group `idle`, against a raw loop that polls it
//! every 5 ms). When no subscription waits, the thread only checks for waiting subscriptions
//! every [`IDLE_INTERVAL`] and holds no connection and no notifications. The WAL file's
//! modification time would be as cheap to poll, but it is coarse on many file systems (one
//! clock tick), so two commits can look like one. Commits of this process are not reported
//! again (they wake subscriptions through the notifier already): the watcher notifies only
//! when the head moved past what this process committed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::file_events::FileEvents;
use super::schema::open_reader;
use super::SqliteOptions;
use crate::storage::AppendNotifier;

/// How often the watcher looks while subscriptions wait and the files are being written (or
/// always, where the platform sends no file notifications).
pub(super) const INTERVAL: Duration = Duration::from_millis(5);

/// How long it keeps looking every [`INTERVAL`] after a write to the files or a new commit: a
/// commit becomes visible after its last write, with `Durability::Full` after an fsync.
const SETTLE: Duration = Duration::from_millis(100);

/// How often it looks while subscriptions wait and nothing is written.
const QUIET_INTERVAL: Duration = Duration::from_millis(250);

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
    /// How many times the thread looked (tests tell polling from waiting by it).
    looks: AtomicU64,
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
            looks: AtomicU64::new(0),
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
    let mut events = Events::NotStarted;
    // Until when to look every `INTERVAL`: some time after the files last changed.
    let mut looking_until: Option<Instant> = None;
    loop {
        let pause = {
            let Some(watch) = weak.upgrade() else { return };
            let now = Instant::now();
            if watch.notifier.listeners() > 0 {
                last_listener = Some(now);
            }
            if last_listener.is_some_and(|at| now - at < LINGER) {
                if let Events::NotStarted = events {
                    events = FileEvents::start(path, std::thread::current())
                        .map_or(Events::Unavailable, Events::Watching);
                }
                match &mut events {
                    Events::Watching(files) => {
                        let woken = files.take();
                        let first = seen.is_none();
                        if look(&watch, &mut conn, &mut seen, path, options) || woken || first {
                            looking_until = Some(now + SETTLE);
                            files.pause();
                        }
                        match looking_until {
                            Some(until) if now < until => INTERVAL,
                            None => QUIET_INTERVAL,
                            Some(_) => {
                                // Settled: the notifications back, then at once one more look,
                                // for a commit whose write came while they were paused.
                                looking_until = None;
                                if files.resume() {
                                    Duration::ZERO
                                } else {
                                    events = Events::Unavailable;
                                    INTERVAL
                                }
                            }
                        }
                    }
                    _ => {
                        look(&watch, &mut conn, &mut seen, path, options);
                        INTERVAL
                    }
                }
            } else {
                // Nobody waits: let the connection and the notifications go too.
                conn = None;
                seen = None;
                events = Events::NotStarted;
                IDLE_INTERVAL
            }
        };
        std::thread::park_timeout(pause);
    }
}

/// The watch thread's file notifications.
enum Events {
    /// Not asked for since subscriptions last waited.
    NotStarted,
    /// Arriving: the thread sleeps until the files change.
    Watching(FileEvents),
    /// The platform could not start them: the thread looks every [`INTERVAL`].
    Unavailable,
}

/// One look: did another connection commit past what this process committed? Returns whether
/// the file changed since the last look.
fn look(
    watch: &FileWatch,
    conn: &mut Option<Conn>,
    seen: &mut Option<i64>,
    path: &Path,
    options: &SqliteOptions,
) -> bool {
    watch.looks.fetch_add(1, Ordering::Relaxed);
    if conn.is_none() {
        *conn = open_reader(path, options).ok().map(Conn::new);
    }
    let Some(reader) = conn else { return false };
    let Ok(version) = reader.data_version() else {
        return false;
    };
    if *seen == Some(version) {
        return false;
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
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SqliteStorage;
    use event_listener::Listener;

    /// A commit of another connection, as another process would make it: this process's
    /// writers do not learn of it.
    fn commit_elsewhere(path: &Path) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute(
            "INSERT INTO events (id, stream_id, version, category, event_type, data, metadata, \
             recorded_at) VALUES (lower(hex(randomblob(16))), 'elsewhere-1', 0, 'elsewhere', \
             'Noted', '{}', '{}', 1)",
            [],
        )
        .unwrap();
    }

    #[test]
    fn a_waiting_watch_looks_when_the_file_is_written_and_rarely_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watched.db");
        let storage = SqliteStorage::open(&path).unwrap();
        let watch = storage.watch.lock().unwrap().clone().unwrap();
        let listener = storage.notifier.listen();
        // Past the first look and the time it keeps looking after it.
        std::thread::sleep(SETTLE * 3);

        let before = watch.looks.load(Ordering::Relaxed);
        std::thread::sleep(QUIET_INTERVAL * 4);
        let quiet = watch.looks.load(Ordering::Relaxed) - before;
        // Polling every `INTERVAL` would have looked about 200 times.
        assert!(quiet <= 8, "looked {quiet} times while nothing was written");

        commit_elsewhere(&path);
        assert!(
            listener.wait_timeout(Duration::from_secs(30)).is_some(),
            "the commit of another connection woke the waiting listener"
        );
    }
}
