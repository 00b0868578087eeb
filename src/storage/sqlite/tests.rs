//! Unit tests that need the backend's internals (the raw connection). Behaviour visible through
//! the public API is tested in `tests/sqlite_native.rs` and the conformance suite.

use futures::executor::block_on;
use rusqlite::Connection;
use serde_json::json;

use super::*;
use crate::storage::{PreparedEvent, SkippedEvent};
use crate::types::ExpectedVersion;

fn batch(stream: &str, expected: ExpectedVersion, events: Vec<PreparedEvent>) -> AppendBatch {
    AppendBatch {
        stream_id: stream.to_owned(),
        category: crate::types::category_of(stream).to_owned(),
        expected,
        events,
    }
}

fn event(data: &str) -> PreparedEvent {
    PreparedEvent {
        id: uuid::Uuid::now_v7().to_string(),
        event_type: "Noted".to_owned(),
        data: data.to_owned(),
        metadata: "{}".to_owned(),
        correlation_id: None,
        causation_id: None,
        recorded_at: 1,
    }
}

/// Runs `work` on the connection of the writer thread.
fn on_writer<T: Send + 'static>(
    storage: &SqliteStorage,
    work: impl FnOnce(&Connection) -> T + Send + 'static,
) -> T {
    block_on(storage.write(move |writer| Ok(work(&writer.conn.conn)))).expect("open")
}

fn pragma(storage: &SqliteStorage, name: &str) -> String {
    let sql = format!("PRAGMA {name}");
    on_writer(storage, move |conn| {
        conn.query_row(&sql, [], |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|value| match value {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .expect("pragma")
    })
}

#[test]
fn connection_settings_follow_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let normal = SqliteStorage::open(dir.path().join("normal.db")).unwrap();
    assert_eq!(pragma(&normal, "journal_mode"), "wal");
    assert_eq!(pragma(&normal, "synchronous"), "1", "NORMAL");
    assert_eq!(pragma(&normal, "busy_timeout"), "5000");
    assert_eq!(
        pragma(&normal, "user_version"),
        SqliteStorage::SCHEMA_VERSION.to_string()
    );
    assert_eq!(
        pragma(&normal, "application_id"),
        schema::APPLICATION_ID.to_string()
    );

    let full = SqliteStorage::open_with(
        dir.path().join("full.db"),
        SqliteOptions::default()
            .durability(Durability::Full)
            .busy_timeout(Duration::from_millis(1234)),
    )
    .unwrap();
    assert_eq!(pragma(&full, "synchronous"), "2", "FULL");
    assert_eq!(pragma(&full, "busy_timeout"), "1234");
}

/// A full disk (here the writer connection's `max_page_count`, which makes SQLite answer
/// `SQLITE_FULL` exactly as a full disk does) is `QuotaExceeded` on every write path: nothing of
/// the batch is stored, the file is intact (reopened and read back whole), and the store goes on
/// once there is room again.
#[test]
fn a_full_disk_is_quota_exceeded_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let storage = SqliteStorage::open(&path).unwrap();
    block_on(storage.append(batch("note-1", ExpectedVersion::NoStream, vec![event("1")]))).unwrap();
    let pages: i64 = pragma(&storage, "page_count").parse().unwrap();
    // Cap the database at its current size: a big batch cannot fit.
    pragma(&storage, &format!("max_page_count = {pages}"));
    let big = format!("\"{}\"", "x".repeat(64 * 1024));
    let events = (0..8).map(|_| event(&big)).collect();
    let error =
        block_on(storage.append(batch("note-1", ExpectedVersion::Exact(1), events))).unwrap_err();
    assert_eq!(error.kind(), crate::ErrorKind::QuotaExceeded, "{error}");
    assert_eq!(error.kind().code(), "QuotaExceeded");
    assert!(error.to_string().contains("full"), "{error}");
    assert!(error.to_string().contains("extended code 13"), "{error}");
    // A checkpoint that needs a new page is refused the same way.
    let checkpoint = Checkpoint {
        position: 1,
        skipped: (0..64)
            .map(|i| SkippedEvent {
                position: i,
                event_id: big.clone(),
                stream_id: "note-1".to_owned(),
                event_type: "Noted".to_owned(),
                error: "x".to_owned(),
                skipped_at: 1,
            })
            .collect(),
    };
    let error = block_on(storage.save_checkpoint("p", &checkpoint)).unwrap_err();
    assert_eq!(error.kind(), crate::ErrorKind::QuotaExceeded, "{error}");
    assert_eq!(block_on(storage.load_checkpoint("p")).unwrap(), None);

    let stored =
        block_on(storage.read_stream("note-1", 1, Direction::Forward, usize::MAX)).unwrap();
    assert_eq!(stored.len(), 1, "nothing of the failed batch is stored");
    assert_eq!(block_on(storage.head()).unwrap(), 1);
    // Another handle on the file reads it whole: nothing half-written, nothing corrupt.
    let other = SqliteStorage::open(&path).unwrap();
    let all = block_on(other.read_all(0, Direction::Forward, usize::MAX, &Filter::new())).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(pragma(&other, "integrity_check"), "ok");

    // Once there is room again, the same handle goes on.
    pragma(&storage, "max_page_count = 1000000");
    let events = (0..8).map(|_| event(&big)).collect();
    let result =
        block_on(storage.append(batch("note-1", ExpectedVersion::Exact(1), events))).unwrap();
    assert_eq!(result.next_expected_version, 9);
    block_on(storage.save_checkpoint("p", &checkpoint)).unwrap();
    let all = block_on(other.read_all(0, Direction::Forward, usize::MAX, &Filter::new())).unwrap();
    assert_eq!(all.len(), 9);
}

#[test]
fn head_is_cached_until_another_connection_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.db");
    let a = SqliteStorage::open(&path).unwrap();
    let mut reader = Conn::new(schema::open_reader(&path, a.options()).unwrap());
    assert_eq!(reader.head().unwrap(), 0);
    assert!(reader.head.is_some(), "cached");

    let own = block_on(a.append(batch("s-1", ExpectedVersion::Any, vec![event("1")]))).unwrap();
    assert_eq!(
        reader.head().unwrap(),
        own.position,
        "the writer's commit changes the reader's data_version"
    );
    assert_eq!(block_on(a.head()).unwrap(), own.position);

    let b = SqliteStorage::open(&path).unwrap();
    let other = block_on(b.append(batch("s-1", ExpectedVersion::Any, vec![event("2")]))).unwrap();
    assert!(other.position > own.position);
    assert_eq!(reader.head().unwrap(), other.position);
    assert_eq!(
        block_on(a.head()).unwrap(),
        other.position,
        "another handle's commit is seen by every reader of this one"
    );
}

#[test]
fn bounds_beyond_i64_are_clamped() {
    let storage = SqliteStorage::open_in_memory().unwrap();
    block_on(storage.append(batch(
        "s-1",
        ExpectedVersion::Any,
        vec![event("1"), event("2")],
    )))
    .unwrap();
    let back =
        block_on(storage.read_stream("s-1", u64::MAX, Direction::Backward, usize::MAX)).unwrap();
    assert_eq!(back.iter().map(|e| e.version).collect::<Vec<_>>(), [2, 1]);
    let none =
        block_on(storage.read_stream("s-1", u64::MAX, Direction::Forward, usize::MAX)).unwrap();
    assert!(none.is_empty());
    let all = block_on(storage.read_all(u64::MAX, Direction::Backward, usize::MAX, &Filter::new()))
        .unwrap();
    assert_eq!(all.len(), 2);
}

#[test]
fn single_valued_filters_walk_their_index_in_position_order() {
    let storage = SqliteStorage::open_in_memory().unwrap();
    let plan = |filter: &Filter| {
        let (sql, values) = read_all_query(0, Direction::Forward, 10, filter).unwrap();
        on_writer(&storage, move |conn| {
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = statement
                .query_map(rusqlite::params_from_iter(values), |row| {
                    row.get::<_, String>(3)
                })
                .unwrap();
            rows.map(|row| row.unwrap()).collect::<Vec<_>>().join("; ")
        })
    };
    let by_category = plan(&Filter::new().category("account"));
    assert!(by_category.contains("events_by_category"), "{by_category}");
    assert!(!by_category.contains("TEMP B-TREE"), "{by_category}");
    let by_type = plan(&Filter::new().event_type("Deposited"));
    assert!(by_type.contains("events_by_type"), "{by_type}");
    assert!(!by_type.contains("TEMP B-TREE"), "{by_type}");
}

#[test]
fn filters_are_evaluated_in_sql_like_filter_matches() {
    let storage = SqliteStorage::open_in_memory().unwrap();
    let streams = [
        "account-1",
        "account-2",
        "accounting-1",
        "ledger",
        "ünï-1",
        "a%_-1",
    ];
    for stream in streams {
        for event_type in ["Opened", "Deposited"] {
            let mut e = event("null");
            e.event_type = event_type.to_owned();
            block_on(storage.append(batch(stream, ExpectedVersion::Any, vec![e]))).unwrap();
        }
    }
    let filters = [
        Filter::new(),
        Filter::new().category("account"),
        Filter::new().category("account").category("ledger"),
        Filter::new().stream_prefix("account"),
        Filter::new().stream_prefix("account-").stream_prefix("ün"),
        Filter::new().stream_prefix("a%"),
        Filter::new().stream_prefix(""),
        Filter::new().event_type("Deposited"),
        Filter::new().event_type("Deposited").event_type("Opened"),
        Filter::new().category("account").event_type("Opened"),
        Filter::new()
            .stream_prefix("account")
            .category("accounting")
            .event_type("Deposited"),
        Filter::new().category("nothing"),
    ];
    let everything =
        block_on(storage.read_all(0, Direction::Forward, usize::MAX, &Filter::new())).unwrap();
    for filter in filters {
        for direction in [Direction::Forward, Direction::Backward] {
            let from = match direction {
                Direction::Forward => 0,
                Direction::Backward => u64::MAX,
            };
            let got = block_on(storage.read_all(from, direction, usize::MAX, &filter)).unwrap();
            let mut want: Vec<u64> = everything
                .iter()
                .filter(|e| filter.matches(&e.stream_id, &e.event_type))
                .map(|e| e.position)
                .collect();
            if direction == Direction::Backward {
                want.reverse();
            }
            let got: Vec<u64> = got.iter().map(|e| e.position).collect();
            assert_eq!(got, want, "{filter:?} {direction:?}");
        }
    }
    let json = json!(null);
    assert_eq!(everything[0].data, json);
}

#[test]
fn closed_storage_refuses_every_call() {
    let storage = SqliteStorage::open_in_memory().unwrap();
    storage.close();
    storage.close();
    let closed = |result: Result<()>| assert_eq!(result.unwrap_err(), Error::Closed);
    closed(block_on(storage.head()).map(drop));
    closed(
        block_on(storage.append(batch("s-1", ExpectedVersion::Any, vec![event("1")]))).map(drop),
    );
    closed(block_on(storage.read_stream("s-1", 1, Direction::Forward, 1)).map(drop));
    closed(block_on(storage.read_all(0, Direction::Forward, 1, &Filter::new())).map(drop));
    closed(block_on(storage.load_checkpoint("p")).map(drop));
    closed(block_on(
        storage.save_checkpoint("p", &Checkpoint::default()),
    ));
}

#[test]
fn checkpoints_round_trip_with_skipped_events() {
    let storage = SqliteStorage::open_in_memory().unwrap();
    assert_eq!(block_on(storage.load_checkpoint("p")).unwrap(), None);
    let checkpoint = Checkpoint {
        position: 42,
        skipped: vec![SkippedEvent {
            position: 7,
            event_id: "e".into(),
            stream_id: "s-1".into(),
            event_type: "T".into(),
            error: "boom".into(),
            skipped_at: 9,
        }],
    };
    block_on(storage.save_checkpoint("p", &checkpoint)).unwrap();
    assert_eq!(
        block_on(storage.load_checkpoint("p")).unwrap(),
        Some(checkpoint)
    );
    block_on(storage.save_checkpoint("p", &Checkpoint::default())).unwrap();
    assert_eq!(
        block_on(storage.load_checkpoint("p")).unwrap(),
        Some(Checkpoint::default())
    );
}

/// Appends queued while the writer is busy form one group (one transaction): a conflicting
/// append, one that fills the disk (SQLite then rolls the whole transaction back) and a retry
/// inside the group each fail or succeed alone, and every other append commits.
#[test]
fn a_group_commit_decides_each_append_alone() {
    let storage = SqliteStorage::open_in_memory().unwrap();
    block_on(storage.append(batch("s-0", ExpectedVersion::NoStream, vec![event("0")]))).unwrap();
    let pages: i64 = pragma(&storage, "page_count").parse().unwrap();
    pragma(&storage, &format!("max_page_count = {}", pages + 8));
    let big = format!("\"{}\"", "x".repeat(256 * 1024));
    let retried = event("\"again\"");
    let batches = vec![
        batch("s-1", ExpectedVersion::NoStream, vec![event("1")]),
        // Stale: s-0 is at version 1.
        batch("s-0", ExpectedVersion::Exact(5), vec![event("2")]),
        batch("s-1", ExpectedVersion::Exact(1), vec![retried.clone()]),
        // Too big for the room left: SQLITE_FULL, which rolls the transaction back.
        batch("s-2", ExpectedVersion::Any, vec![event(&big)]),
        // The same append as the third: an idempotent retry within the group.
        batch("s-1", ExpectedVersion::Exact(1), vec![retried]),
        batch("s-3", ExpectedVersion::Any, vec![event("5")]),
    ];

    // Keep the writer busy until every append is queued behind it.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    storage
        .writer
        .send(WriteJob::Run(Box::new(move |_| {
            let _ = hold.recv();
        })))
        .unwrap();
    let results = block_on(async {
        let mut appends: Vec<_> = batches
            .into_iter()
            .map(|batch| Box::pin(storage.append(batch)))
            .collect();
        for append in &mut appends {
            assert!(futures::poll!(append.as_mut()).is_pending(), "queued");
        }
        release.send(()).unwrap();
        futures::future::join_all(appends).await
    });

    let kinds: Vec<Option<crate::ErrorKind>> = results
        .iter()
        .map(|r| r.as_ref().err().map(Error::kind))
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            Some(crate::ErrorKind::WrongExpectedVersion),
            None,
            Some(crate::ErrorKind::QuotaExceeded),
            None,
            None
        ],
        "{results:?}"
    );
    assert_eq!(
        results[2], results[4],
        "the retry returns the result of the append it repeats"
    );
    let stored =
        block_on(storage.read_all(0, Direction::Forward, usize::MAX, &Filter::new())).unwrap();
    let summary: Vec<(&str, u64)> = stored
        .iter()
        .map(|e| (e.stream_id.as_str(), e.version))
        .collect();
    assert_eq!(summary, [("s-0", 1), ("s-1", 1), ("s-1", 2), ("s-3", 1)]);
    let acknowledged: Vec<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.position))
        .collect();
    assert_eq!(
        acknowledged,
        [
            stored[1].position,
            stored[2].position,
            stored[2].position,
            stored[3].position
        ]
    );
}

/// With every pooled read connection in use, a read goes to the patient reader thread and
/// answers the same.
#[test]
fn reads_go_to_the_patient_reader_when_the_pool_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("pool.db")).unwrap();
    block_on(storage.append(batch("s-1", ExpectedVersion::NoStream, vec![event("1")]))).unwrap();
    let readers = storage.readers.as_ref().unwrap();
    let taken: Vec<_> = readers.idle().drain(..).collect();
    assert!(!taken.is_empty());
    let events = block_on(storage.read_stream("s-1", 1, Direction::Forward, usize::MAX)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(block_on(storage.head()).unwrap(), events[0].position);
    assert!(readers.idle().is_empty(), "the patient reader answered");
    readers.idle().extend(taken);
    let again = block_on(storage.read_stream("s-1", 1, Direction::Forward, usize::MAX)).unwrap();
    assert_eq!(again, events);
}

#[test]
fn a_schema_1_file_migrates_to_the_sync_schema_and_keeps_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(schema::MIGRATIONS[0]).unwrap();
        raw.pragma_update(None, "application_id", schema::APPLICATION_ID)
            .unwrap();
        raw.pragma_update(None, "user_version", 1).unwrap();
        raw.execute(
            "INSERT INTO events (id, stream_id, version, category, event_type, data, metadata, \
             recorded_at) VALUES ('0190c5a4-0000-7000-8000-000000000001', 'a-1', 1, 'a', 'A', \
             '{}', '{}', 1)",
            [],
        )
        .unwrap();
    }
    let storage = SqliteStorage::open(&path).unwrap();
    assert_eq!(
        pragma(&storage, "user_version"),
        schema::SCHEMA_VERSION.to_string()
    );
    let id = block_on(storage.store_id()).unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(block_on(storage.head()).unwrap(), 1);
    // The id is the file's: the same on reopen, another for another file.
    drop(storage);
    assert_eq!(
        block_on(SqliteStorage::open(&path).unwrap().store_id()).unwrap(),
        id
    );
    let other = SqliteStorage::open(dir.path().join("other.db")).unwrap();
    assert_ne!(block_on(other.store_id()).unwrap(), id);
}

/// A sync change on a store opened with `Durability::Full` commits with `synchronous=NORMAL`
/// (the mirror is fetched again after a loss), and the writer is back at `FULL` after it, for
/// the outbox's own appends — also when the change was refused.
#[test]
fn sync_changes_leave_the_store_durability_in_place() {
    use crate::storage::{SyncChange, SyncStorage};
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open_with(
        dir.path().join("full.db"),
        SqliteOptions::default().durability(Durability::Full),
    )
    .unwrap();
    let synchronous = |storage: &SqliteStorage| {
        on_writer(storage, |conn| {
            conn.query_row("PRAGMA synchronous", [], |row| row.get::<_, i64>(0))
                .unwrap()
        })
    };
    assert_eq!(synchronous(&storage), 2, "FULL");
    let event = |position: u64| crate::types::RecordedEvent {
        id: uuid::Uuid::now_v7().to_string(),
        stream_id: "s-1".into(),
        version: position,
        position,
        event_type: "Pulled".into(),
        data: json!({}),
        metadata: json!({}),
        recorded_at: 1,
        correlation_id: None,
        causation_id: None,
    };
    block_on(storage.apply_sync(SyncChange {
        events: vec![event(1), event(2)],
        ..SyncChange::default()
    }))
    .unwrap();
    assert_eq!(synchronous(&storage), 2, "FULL again after the change");
    let refused = block_on(storage.apply_sync(SyncChange {
        events: vec![event(1)],
        ..SyncChange::default()
    }));
    assert!(refused.is_err(), "position 1 is not above the head");
    assert_eq!(
        synchronous(&storage),
        2,
        "FULL again after a refused change"
    );
    assert_eq!(block_on(storage.head()).unwrap(), 2);
}
