//! Opening a connection: recognizing an evstore database, connection settings, and the numbered
//! schema migrations applied by `PRAGMA user_version`.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::errors::{sqlite_error, with_context};
use super::wal::WAL_SIZE_LIMIT;
use super::{Durability, SqliteOptions};
use crate::error::{Error, Result};

/// `PRAGMA application_id` of every evstore database: `"EVST"` in ASCII. It tells an evstore
/// file apart from another application's SQLite database before anything is written to it.
pub(super) const APPLICATION_ID: i32 = 0x4556_5354;

/// The schema migrations, in order: `MIGRATIONS[i]` takes a database from schema version `i` to
/// `i + 1`. A database's schema version is its `PRAGMA user_version`. Steps are only ever
/// appended; a released step is never edited.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: events and projection checkpoints.
    "CREATE TABLE events (
         position       INTEGER PRIMARY KEY AUTOINCREMENT,
         id             TEXT    NOT NULL UNIQUE,
         stream_id      TEXT    NOT NULL,
         version        INTEGER NOT NULL,
         category       TEXT    NOT NULL,
         event_type     TEXT    NOT NULL,
         data           TEXT    NOT NULL,
         metadata       TEXT    NOT NULL,
         recorded_at    INTEGER NOT NULL,
         correlation_id TEXT,
         causation_id   TEXT,
         UNIQUE (stream_id, version)
     );
     CREATE INDEX events_by_category ON events (category, position);
     CREATE INDEX events_by_type ON events (event_type, position);
     CREATE TABLE checkpoints (
         name     TEXT    PRIMARY KEY,
         position INTEGER NOT NULL,
         skipped  TEXT    NOT NULL
     );",
    // 2: the store id (sync), the sync client's state and its outbox of pending appends.
    "CREATE TABLE meta (
         key   TEXT PRIMARY KEY,
         value TEXT NOT NULL
     );
     INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
     CREATE TABLE outbox (
         seq                INTEGER PRIMARY KEY AUTOINCREMENT,
         batch_id           TEXT    NOT NULL UNIQUE,
         stream_id          TEXT    NOT NULL,
         batch              TEXT    NOT NULL,
         confirmed_position INTEGER
     );
     CREATE INDEX outbox_by_stream ON outbox (stream_id, seq);",
    // 3: lifecycle records of the streams a delete, tombstone, truncation or metadata touched
    // (a JSON `StreamRecord` each).
    "CREATE TABLE streams (
         stream_id TEXT PRIMARY KEY,
         record    TEXT NOT NULL
     ) WITHOUT ROWID;",
];

/// The newest schema version this build understands.
pub(super) const SCHEMA_VERSION: u64 = MIGRATIONS.len() as u64;

/// Where a connection goes.
pub(super) enum Location<'a> {
    File(&'a Path),
    Memory,
}

/// Opens and prepares a connection: settings, recognition, WAL, migrations.
///
/// Nothing is written to the file before it is recognized as an evstore database (or as an empty
/// one), so opening a foreign file fails without touching it.
pub(super) fn open_connection(
    location: Location<'_>,
    options: &SqliteOptions,
) -> Result<Connection> {
    let (conn, describe) = match location {
        Location::File(path) => {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags)
                .map_err(|e| with_context(&format!("cannot open `{}`", path.display()), &e))?;
            (conn, path.display().to_string())
        }
        Location::Memory => (
            Connection::open_in_memory().map_err(|e| with_context("cannot open", &e))?,
            ":memory:".to_owned(),
        ),
    };
    conn.busy_timeout(options.busy_timeout)
        .map_err(sqlite_error)?;
    conn.set_prepared_statement_cache_capacity(64);

    // Read-only probe first: the first read of the header fails on a file that is not SQLite.
    let found = probe(&conn).map_err(|e| {
        if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
            with_context(
                &format!("`{describe}` is not an evstore SQLite database"),
                &e,
            )
        } else {
            with_context(&format!("cannot read `{describe}`"), &e)
        }
    })?;
    match found {
        Found::Evstore { version } if version > SCHEMA_VERSION => {
            return Err(Error::IncompatibleSchema {
                found: version,
                supported: SCHEMA_VERSION,
            })
        }
        Found::Evstore { .. } | Found::Empty => {}
        Found::Foreign {
            application_id,
            user_version,
        } => {
            return Err(Error::storage(format!(
                "`{describe}` is not an evstore SQLite database: it is a SQLite database of \
                 another application (application_id {application_id}, user_version \
                 {user_version}, with tables); evstore leaves it untouched"
            )))
        }
    }

    if let Location::File(_) = location {
        let mode = switch_to_wal(&conn, options)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::storage(format!(
                "cannot switch `{describe}` to WAL mode: SQLite kept journal mode `{mode}`"
            )));
        }
        // A restarted WAL is truncated to this instead of being reused at its largest size.
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT as i64)
            .map_err(sqlite_error)?;
    }
    let synchronous = match options.durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(sqlite_error)?;

    migrate(conn)
}

/// Opens a connection for reads only on the evstore database at `path`, which
/// [`open_connection`] has opened (recognized, switched to WAL, migrated) before.
pub(super) fn open_reader(path: &Path, options: &SqliteOptions) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| with_context(&format!("cannot open `{}`", path.display()), &e))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(sqlite_error)?;
    conn.set_prepared_statement_cache_capacity(64);
    // Reads only: a write through this connection would bypass the writer thread.
    conn.pragma_update(None, "query_only", true)
        .map_err(sqlite_error)?;
    Ok(conn)
}

/// Sets `journal_mode=WAL` (persistent in the file; a no-op once set). The switch needs an
/// exclusive lock and SQLite does not run the busy handler for it, so when several connections
/// open a new file at once it is retried here until the busy timeout runs out.
fn switch_to_wal(conn: &Connection, options: &SqliteOptions) -> Result<String> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)) {
            Ok(mode) => return Ok(mode),
            Err(error)
                if matches!(
                    error.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && started.elapsed() < options.busy_timeout =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(error) => return Err(with_context("cannot switch to WAL mode", &error)),
        }
    }
}

/// What the probe found in the file.
enum Found {
    /// A database evstore wrote, at this schema version.
    Evstore { version: u64 },
    /// A new or empty database: evstore may initialize it.
    Empty,
    /// Another application's database.
    Foreign {
        application_id: i32,
        user_version: i64,
    },
}

fn probe(conn: &Connection) -> rusqlite::Result<Found> {
    // One read transaction, so the three reads see one snapshot even while another process
    // is migrating the file. It is only read, then rolled back when dropped.
    let snapshot = conn.unchecked_transaction()?;
    let conn = &*snapshot;
    // Reading the schema reads page 1: SQLITE_NOTADB here for a file that is not SQLite.
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
    let application_id: i32 = conn.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    let user_version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    Ok(if application_id == APPLICATION_ID {
        Found::Evstore {
            version: u64::try_from(user_version).unwrap_or(u64::MAX),
        }
    } else if application_id == 0 && user_version == 0 && tables == 0 {
        Found::Empty
    } else {
        Found::Foreign {
            application_id,
            user_version,
        }
    })
}

/// Applies the missing migrations in one `BEGIN IMMEDIATE` transaction, re-reading the version
/// inside it so that two processes opening a new file at once migrate it once.
fn migrate(mut conn: Connection) -> Result<Connection> {
    let current = schema_version(&conn)?;
    if current == SCHEMA_VERSION {
        return Ok(conn);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| with_context("cannot start the schema migration", &e))?;
    let current = schema_version(&tx)?;
    if current > SCHEMA_VERSION {
        return Err(Error::IncompatibleSchema {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(step)
            .map_err(|e| with_context(&format!("schema migration {} failed", index + 1), &e))?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(sqlite_error)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION as i64)
        .map_err(sqlite_error)?;
    tx.commit()
        .map_err(|e| with_context("cannot commit the schema migration", &e))?;
    Ok(conn)
}

fn schema_version(conn: &Connection) -> Result<u64> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sqlite_error)?;
    Ok(u64::try_from(version).unwrap_or(u64::MAX))
}
