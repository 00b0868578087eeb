//! Keeping the write-ahead log bounded.
//!
//! SQLite appends every commit to the WAL file and copies it back into the database at a
//! checkpoint: automatically (a `PASSIVE` one) once the WAL holds 1000 pages, about 4 MB. Two
//! things make the file grow past that, both seen under writers in several processes: a
//! checkpoint cannot finish while a reader in another connection still uses an old snapshot (so
//! the WAL is never restarted and keeps growing), and by default a WAL file, once grown, is
//! reused at its full size and never shrinks. Against the second, every connection sets
//! `journal_size_limit` to [`WAL_SIZE_LIMIT`]: each time the WAL restarts it is truncated to at
//! most that. Against the first, [`WalBound::after_append`] looks at the file's size every
//! [`CHECK_EVERY`] appends and, past the limit, runs a `TRUNCATE` checkpoint, which waits up to
//! [`CHECKPOINT_WAIT`] for readers to move to the newest snapshot, copies everything back and
//! empties the file. If readers still hold it back, it tries again [`RETRY_AFTER`] later.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// The most the WAL file is kept at (its `journal_size_limit`), and the size past which an append
/// forces a full checkpoint: 16 MiB.
pub(super) const WAL_SIZE_LIMIT: u64 = 16 * 1024 * 1024;

/// How many appends of a handle pass between two looks at the WAL's size.
const CHECK_EVERY: u32 = 32;

/// How long the forced checkpoint waits for readers (and a writer) of other connections.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(50);

/// After a forced checkpoint that readers held back, how long until the next try.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a file handle knows about its WAL.
pub(super) struct WalBound {
    wal: PathBuf,
    appends: u32,
    not_before: Option<Instant>,
}

impl WalBound {
    /// The WAL of the database at `database` (SQLite names it `<database>-wal`).
    pub(super) fn new(database: &Path) -> Self {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        WalBound {
            wal: PathBuf::from(wal),
            appends: 0,
            not_before: None,
        }
    }

    /// Called after each committed append on `conn`, which waits `busy_timeout` for locks
    /// otherwise. Failures are left alone: the WAL only stays bigger for a while.
    pub(super) fn after_append(&mut self, conn: &Connection, busy_timeout: Duration) {
        self.appends += 1;
        if self.appends < CHECK_EVERY {
            return;
        }
        self.appends = 0;
        if self.past_limit() {
            self.truncate(conn, busy_timeout);
        }
    }

    /// Turns SQLite's automatic checkpoint off on `conn` (the writer) for the commit of a sync
    /// change; [`after_sync_commit`](Self::after_sync_commit) turns it back on. Returns its
    /// setting.
    ///
    /// A pull commits page after page; with the automatic checkpoint, every 1000 WAL pages one
    /// of those commits would also copy the WAL into the database and wait for two fsyncs, with
    /// the next page waiting behind it. Instead the copying runs beside the writer, on a reader
    /// ([`Readers::checkpoint_beside`](super::readers::Readers::checkpoint_beside)), while the
    /// writer goes on with the next page.
    pub(super) fn pause_automatic(conn: &Connection) -> i64 {
        let automatic = conn
            .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get::<_, i64>(0))
            .unwrap_or(1000);
        let _ = conn.pragma_update(None, "wal_autocheckpoint", 0);
        automatic
    }

    /// After the commit of a sync change: turns the automatic checkpoint back on (`automatic`,
    /// from [`pause_automatic`](Self::pause_automatic)) and says whether a checkpoint beside the
    /// writer is due. Past [`WAL_SIZE_LIMIT`] (the checkpoints beside it fell behind, or readers
    /// held them back) the writer runs the forced checkpoint itself instead (waiting at most
    /// 50 ms, tried again after every commit while the WAL is past the bound), so the bound on
    /// the WAL holds as for appends.
    pub(super) fn after_sync_commit(
        &mut self,
        conn: &Connection,
        automatic: i64,
        busy_timeout: Duration,
    ) -> bool {
        let _ = conn.pragma_update(None, "wal_autocheckpoint", automatic);
        // Not held off for a second after a blocked try, as for appends: a checkpoint beside
        // the writer is the likely blocker, and it is done within that wait or the next one.
        self.not_before = None;
        if self.past_limit() {
            self.truncate(conn, busy_timeout);
            return false;
        }
        true
    }

    fn past_limit(&self) -> bool {
        std::fs::metadata(&self.wal).is_ok_and(|m| m.len() > WAL_SIZE_LIMIT)
            && self.not_before.is_none_or(|t| Instant::now() >= t)
    }

    /// The forced `TRUNCATE` checkpoint.
    fn truncate(&mut self, conn: &Connection, busy_timeout: Duration) {
        let _ = conn.busy_timeout(CHECKPOINT_WAIT);
        // One row: (1 if held back by a reader or writer, WAL frames, frames checkpointed).
        let blocked: rusqlite::Result<i64> =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0));
        let _ = conn.busy_timeout(busy_timeout);
        self.not_before = match blocked {
            Ok(0) => None,
            _ => Some(Instant::now() + RETRY_AFTER),
        };
    }
}
