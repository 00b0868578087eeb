//! Waking the file watch when the database's files change, instead of looking every few
//! milliseconds.
//!
//! A commit of another process writes its frames to the file's WAL (`<file>-wal`) with
//! `write(2)`: the operating system's file notifications see that write (inotify on Linux,
//! FSEvents on macOS, `ReadDirectoryChangesW` on Windows, kqueue on the BSDs, all through the
//! `notify` crate). [`FileEvents`] watches the directory of the database and, on any change to
//! a file whose name starts with the database's (the file, its WAL, its shared memory), sets a
//! flag and unparks the watch thread. The watcher's own thread blocks until the kernel reports
//! something, so a quiet file costs no CPU at all.
//!
//! The notification tells only that a write happened, not that a commit is visible: the write
//! of a commit's last frame comes just before SQLite publishes it in the WAL index (after an
//! fsync with `Durability::Full`). The watch therefore keeps looking for a while after each
//! change, with the notifications paused meanwhile ([`super::watch`] says how long).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::Thread;

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// Notifications of changes to a database's files, while alive.
pub(super) struct FileEvents {
    /// Stops watching when dropped.
    watcher: RecommendedWatcher,
    /// The directory watched.
    dir: PathBuf,
    /// Whether the directory is watched now (not [`paused`](Self::pause)).
    watching: bool,
    changed: Arc<AtomicBool>,
}

impl FileEvents {
    /// Starts watching the files of the database at `path` (a canonical path); every change
    /// sets the flag [`take`](Self::take) reads and unparks `thread`. `None` when the platform
    /// cannot watch that directory (no inotify instance left, say): the watch then polls.
    pub(super) fn start(path: &Path, thread: Thread) -> Option<FileEvents> {
        let dir = path.parent()?;
        let name = path.file_name()?.to_owned();
        let changed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&changed);
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            // An error of the watcher (events lost to a full queue, say) may hide a commit.
            let ours = event.map_or(true, |event| concerns(&event, &name));
            if ours {
                flag.store(true, Ordering::Release);
                thread.unpark();
            }
        })
        .ok()?;
        watcher.watch(dir, RecursiveMode::NonRecursive).ok()?;
        Some(FileEvents {
            watcher,
            dir: dir.to_owned(),
            watching: true,
            changed,
        })
    }

    /// Stops the notifications for a while: the watch looks on its own clock while the files
    /// are being written, and one notification per write would only wake two threads for
    /// nothing (the watcher's and the watch's).
    pub(super) fn pause(&mut self) {
        if self.watching {
            let _ = self.watcher.unwatch(&self.dir);
            self.watching = false;
        }
    }

    /// Starts the notifications again after [`pause`](Self::pause); `false` if the directory
    /// can no longer be watched. A write between the two may have gone unreported: look once
    /// after this.
    pub(super) fn resume(&mut self) -> bool {
        if !self.watching {
            self.watching = self
                .watcher
                .watch(&self.dir, RecursiveMode::NonRecursive)
                .is_ok();
        }
        self.watching
    }

    /// Whether a file of the database changed since the last call.
    pub(super) fn take(&self) -> bool {
        self.changed.swap(false, Ordering::AcqRel)
    }
}

/// Whether `event` may be a write to a file of the database `name`: any change (not a mere
/// open or read) to a file whose name starts with it, or an event that names no file.
fn concerns(event: &Event, name: &OsStr) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event.paths.is_empty()
        || event.paths.iter().any(|path| {
            path.file_name()
                .is_some_and(|file| file.as_encoded_bytes().starts_with(name.as_encoded_bytes()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, DataChange, ModifyKind};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn changes_to_the_database_files_concern_it_and_nothing_else_does() {
        let name = OsStr::new("app.db");
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(concerns(&event(write, "/d/app.db-wal"), name));
        assert!(concerns(&event(write, "/d/app.db"), name));
        assert!(concerns(
            &event(EventKind::Create(CreateKind::File), "/d/app.db-wal"),
            name
        ));
        assert!(concerns(&Event::new(EventKind::Any), name));
        assert!(!concerns(&event(write, "/d/other.db-wal"), name));
        assert!(!concerns(
            &event(EventKind::Access(AccessKind::Any), "/d/app.db-wal"),
            name
        ));
    }
}
