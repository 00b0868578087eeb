//! Native-only tests of the SQLite backend: several handles and several OS processes on one
//! file, a writer killed with SIGKILL mid-append, live subscriptions across processes,
//! durability across reopen, and files evstore must refuse.
//!
//! Processes: the test binary re-runs itself with `--exact child_entry` and `EVSTORE_CHILD` set
//! to `mode:count:path`; `child_entry` does nothing when the variable is absent.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use evstore::{
    Checkpoint, Durability, ErrorKind, EventStore, ExpectedVersion, NewEvent, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, SqliteOptions, SqliteStorage, Storage, StoreOptions,
    SubscribeOptions, SubscriptionItem,
};
use futures::executor::block_on;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[path = "support/child_process.rs"]
mod child_process;
#[path = "support/killed_writer.rs"]
mod killed_writer;

use child_process::ChildProcess;

const CHILD_ENV: &str = "EVSTORE_CHILD";
const RACE_STREAM: &str = "race-1";

// ---------------------------------------------------------------------------------------------
// The child side.

/// Entry point of child processes; a no-op in a normal test run.
#[test]
fn child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    // End libtest's "test child_entry ... " line so that every line we print stands alone.
    println!();
    let mut parts = spec.splitn(3, ':');
    let (Some(mode), Some(count), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let count: u64 = count.parse().expect("count");
    let store = EventStore::new(SqliteStorage::open(path).expect("child opens the store"));
    match mode {
        "race" => {
            println!("READY");
            let mut go = String::new();
            std::io::stdin().read_line(&mut go).expect("GO");
            for ack in block_on(race(&store, "child", count as usize)) {
                println!("ACK {} {} {}", ack.version, ack.position, ack.n);
            }
        }
        "batches" => {
            // Multi-event batches until killed; one ACK line per acknowledged batch.
            for batch in 0..count {
                let size = 2 + batch % 40;
                let events = (0..size)
                    .map(|i| {
                        NewEvent::new("Part", json!({ "i": i, "pad": "x".repeat(200) }))
                            .with_metadata(json!({ "batch": batch, "size": size }))
                    })
                    .collect();
                let result = block_on(store.append("crash-1", ExpectedVersion::Any, events))
                    .expect("append");
                println!(
                    "ACK {batch} {size} {} {}",
                    result.next_expected_version, result.position
                );
            }
        }
        "writer" => {
            for n in 0..count {
                let result = block_on(store.append(
                    &format!("remote-{}", n % 3),
                    ExpectedVersion::Any,
                    vec![NewEvent::new("Remote", json!({ "n": n }))],
                ))
                .expect("append");
                println!(
                    "ACK {} {} {n}",
                    result.next_expected_version, result.position
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        "bulk" => {
            // `count` batches of 50 events of about 1 KB each, then DONE.
            for batch in 0..count {
                let events = (0..50)
                    .map(|i| NewEvent::new("Bulk", json!({ "i": i, "pad": "x".repeat(1000) })))
                    .collect();
                block_on(store.append(&format!("bulk-{batch}"), ExpectedVersion::Any, events))
                    .expect("append");
            }
            println!("DONE");
        }
        other => panic!("unknown child mode {other}"),
    }
}

/// One acknowledged append of the race: the version and position it got and the writer's
/// sequence number carried in the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ack {
    version: u64,
    position: u64,
    n: u64,
}

/// Appends `count` events to [`RACE_STREAM`], each with `Exact(version just read)`, retrying on
/// `WrongExpectedVersion`. Returns the acknowledged appends.
async fn race(store: &EventStore<SqliteStorage>, writer: &str, count: usize) -> Vec<Ack> {
    let mut acks = Vec::with_capacity(count);
    let mut conflicts = 0;
    while acks.len() < count {
        let version = store.stream_version(RACE_STREAM).await.expect("version");
        let n = acks.len() as u64;
        let event = NewEvent::new("Tick", json!({ "writer": writer, "n": n }));
        match store
            .append(RACE_STREAM, ExpectedVersion::Exact(version), vec![event])
            .await
        {
            Ok(result) => {
                assert_eq!(result.next_expected_version, version + 1);
                acks.push(Ack {
                    version: result.next_expected_version,
                    position: result.position,
                    n,
                });
            }
            Err(error) if error.kind() == ErrorKind::WrongExpectedVersion => conflicts += 1,
            Err(error) => panic!("{writer}: unexpected error {error}"),
        }
    }
    eprintln!("{writer}: {count} appends, {conflicts} conflicts");
    acks
}

// ---------------------------------------------------------------------------------------------
// The parent side.

/// A child running `mode` with `count` on the database at `path`.
fn spawn_child(mode: &str, count: u64, path: &Path) -> ChildProcess {
    ChildProcess::spawn(CHILD_ENV, format!("{mode}:{count}:{}", path.display()))
}

fn fields(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .skip(1)
        .map(|field| field.parse().expect("number"))
        .collect()
}

fn temp_db(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn open(path: &Path) -> EventStore<SqliteStorage> {
    EventStore::new(SqliteStorage::open(path).expect("open"))
}

/// Checks the outcome of a race between writers: the stream holds exactly the acknowledged
/// appends, one per version, versions 1..=N without gap, positions increasing with versions.
fn check_race(events: &[RecordedEvent], writers: &[(&str, &[Ack])]) {
    let total: usize = writers.iter().map(|(_, acks)| acks.len()).sum();
    assert_eq!(
        events.len(),
        total,
        "every acknowledged append, nothing else"
    );
    for (index, event) in events.iter().enumerate() {
        assert_eq!(
            event.version,
            index as u64 + 1,
            "no gap, no duplicate version"
        );
    }
    assert!(
        events.windows(2).all(|w| w[0].position < w[1].position),
        "positions strictly increase with versions"
    );
    let mut versions = HashSet::new();
    for (writer, acks) in writers {
        for ack in *acks {
            assert!(
                versions.insert(ack.version),
                "version {} won twice",
                ack.version
            );
            let event = &events[ack.version as usize - 1];
            assert_eq!(event.position, ack.position, "{writer} {ack:?}");
            assert_eq!(
                event.data,
                json!({ "writer": writer, "n": ack.n }),
                "{ack:?}"
            );
        }
    }
}

// 1 -------------------------------------------------------------------------------------------

#[test]
fn two_handles_on_one_file_get_exactly_one_winner_per_version() {
    const PER_WRITER: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "threads.db");
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|writer| {
            // Two separate SqliteStorage handles: two connections, as two processes would have.
            let store = open(&path);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                block_on(race(&store, writer, PER_WRITER))
            })
        })
        .collect();
    let acks: Vec<Vec<Ack>> = writers.into_iter().map(|t| t.join().unwrap()).collect();

    let events = block_on(open(&path).read_stream(RACE_STREAM, ReadStreamOptions::new())).unwrap();
    check_race(&events, &[("a", &acks[0]), ("b", &acks[1])]);
}

#[test]
fn several_handles_can_create_one_new_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "new.db");
    let barrier = Arc::new(Barrier::new(8));
    let openers: Vec<_> = (0..8)
        .map(|i| {
            let (path, barrier) = (path.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let store = open(&path);
                block_on(store.append(
                    &format!("opener-{i}"),
                    ExpectedVersion::NoStream,
                    vec![NewEvent::new("Opened", json!(i))],
                ))
                .map(|_| ())
            })
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().unwrap();
    }
    let all = block_on(open(&path).read_all(ReadAllOptions::new())).unwrap();
    assert_eq!(all.len(), 8);
}

// 2 -------------------------------------------------------------------------------------------

#[test]
fn two_processes_appending_to_one_stream_never_lose_or_duplicate_a_version() {
    const PER_WRITER: u64 = 150;
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "processes.db");
    let store = open(&path); // creates the file before the child opens it

    let mut child = spawn_child("race", PER_WRITER, &path);
    child
        .next_line("READY", Duration::from_secs(60))
        .expect("child ready");
    child.send("GO");
    let parent_acks = block_on(race(&store, "parent", PER_WRITER as usize));
    let child_acks: Vec<Ack> = child
        .finish("ACK")
        .iter()
        .map(|line| match fields(line)[..] {
            [version, position, n] => Ack {
                version,
                position,
                n,
            },
            _ => panic!("bad line {line}"),
        })
        .collect();
    assert_eq!(child_acks.len(), PER_WRITER as usize);

    let events = block_on(store.read_stream(RACE_STREAM, ReadStreamOptions::new())).unwrap();
    check_race(&events, &[("parent", &parent_acks), ("child", &child_acks)]);
}

// 3 -------------------------------------------------------------------------------------------

#[test]
fn a_writer_killed_mid_append_leaves_every_acknowledged_batch_and_no_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "crash.db");
    drop(open(&path));

    let mut child = spawn_child("batches", 1_000_000, &path);
    let mut acked = BTreeMap::new(); // batch -> (size, version, position)
    while acked.len() < 60 {
        let line = child
            .next_line("ACK", Duration::from_secs(60))
            .expect("child died before being killed");
        let [batch, size, version, position] = fields(&line)[..] else {
            panic!("bad line {line}");
        };
        acked.insert(batch, (size, version, position));
    }
    child.child.kill().expect("SIGKILL");
    let status = child.child.wait().expect("wait");
    assert!(
        !status.success(),
        "the child was killed, not finished: {status}"
    );
    // Acknowledgements already printed before the kill count too.
    while let Ok(line) = child.lines.recv_timeout(Duration::from_secs(5)) {
        if line.starts_with("ACK") {
            if let [batch, size, version, position] = fields(&line)[..] {
                acked.insert(batch, (size, version, position));
            }
        }
    }
    drop(child);

    let store = open(&path);
    let events = block_on(store.read_stream("crash-1", ReadStreamOptions::new())).unwrap();
    let batches = killed_writer::check_batches(&events, &acked);
    // Batches are appended in order, so what is stored is a prefix 0..=k with k ≥ the last ack.
    let stored: Vec<u64> = batches.keys().copied().collect();
    assert_eq!(stored, (0..stored.len() as u64).collect::<Vec<_>>());
    assert!(stored.len() >= acked.len());
    eprintln!(
        "{} batches acknowledged, {} stored after SIGKILL",
        acked.len(),
        stored.len()
    );

    // The file is sound and the store goes on.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let check: String = raw
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let version = events.last().map_or(0, |e| e.version);
    let next = block_on(store.append(
        "crash-1",
        ExpectedVersion::Exact(version),
        vec![NewEvent::new("After", json!(null))],
    ))
    .unwrap();
    assert_eq!(next.next_expected_version, version + 1);
}

// 4 -------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_sees_appends_made_by_another_process() {
    const COUNT: u64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "live.db");
    let store = EventStore::with_options(
        SqliteStorage::open(&path).unwrap(),
        StoreOptions {
            poll_interval: Duration::from_millis(20),
            ..StoreOptions::default()
        },
    );
    store
        .append(
            "local-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("Local", json!(0))],
        )
        .await
        .unwrap();
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start().poll_interval(Duration::from_millis(20)))
        .await
        .unwrap();
    assert!(
        matches!(next(&mut subscription).await, SubscriptionItem::Event(e) if e.event_type == "Local")
    );
    assert_eq!(next(&mut subscription).await, SubscriptionItem::CaughtUp);

    let (received, acks) = events_of_a_writer_process(&mut subscription, COUNT, &path).await;
    assert_eq!(acks.len(), COUNT as usize);
    for (event, line) in received.iter().zip(&acks) {
        let [version, position, n] = fields(line)[..] else {
            panic!("bad line {line}");
        };
        assert_eq!(event.event_type, "Remote");
        assert_eq!((event.version, event.position), (version, position));
        assert_eq!(event.data, json!({ "n": n }));
    }
    assert!(
        received.windows(2).all(|w| w[0].position < w[1].position),
        "in position order"
    );
}

/// Another process's appends wake a subscription of this process without its poll: with a poll
/// interval of an hour, only the file watch (`PRAGMA data_version` looked at every few
/// milliseconds while a subscription waits) can deliver them before `next` gives up.
#[tokio::test(flavor = "multi_thread")]
async fn another_process_appends_wake_subscriptions_without_their_poll() {
    const COUNT: u64 = 5;
    let hour = Duration::from_secs(3600);
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "watched.db");
    let store = EventStore::with_options(
        SqliteStorage::open(&path).unwrap(),
        StoreOptions {
            poll_interval: hour,
            ..StoreOptions::default()
        },
    );
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(next(&mut subscription).await, SubscriptionItem::CaughtUp);

    let (received, acks) = events_of_a_writer_process(&mut subscription, COUNT, &path).await;
    let positions: Vec<u64> = acks.iter().map(|line| fields(line)[1]).collect();
    assert_eq!(
        received.iter().map(|e| e.position).collect::<Vec<_>>(),
        positions
    );
}

/// Starts a second process appending `count` events to `path`; returns what `subscription`
/// received of them and the writer's acknowledgement lines.
async fn events_of_a_writer_process(
    subscription: &mut evstore::Subscription,
    count: u64,
    path: &Path,
) -> (Vec<RecordedEvent>, Vec<String>) {
    let child = spawn_child("writer", count, path);
    let mut received = Vec::new();
    while received.len() < count as usize {
        if let SubscriptionItem::Event(event) = next(subscription).await {
            received.push(event);
        }
    }
    let acks = tokio::task::spawn_blocking(move || child.finish("ACK"))
        .await
        .unwrap();
    (received, acks)
}

/// The next item of a subscription, failing the test after 30 s of silence.
async fn next(subscription: &mut evstore::Subscription) -> SubscriptionItem {
    tokio::time::timeout(Duration::from_secs(30), subscription.next())
        .await
        .expect("subscription stalled")
        .expect("subscription ended")
        .expect("subscription failed")
}

// 5 -------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
}

#[test]
fn data_and_checkpoints_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "reopen.db");
    let store = open(&path);
    block_on(store.append_typed(
        "account-1",
        ExpectedVersion::NoStream,
        &[
            AccountEvent::Opened {
                owner: "ada".into(),
            },
            AccountEvent::Deposited { amount: 10 },
        ],
    ))
    .unwrap();
    block_on(store.append(
        "account-2",
        ExpectedVersion::NoStream,
        vec![NewEvent::new("Opened", json!({ "owner": "bob" }))
            .with_metadata(json!({ "user": "u1" }))
            .with_correlation_id("req-1")
            .with_causation_id("cmd-1")],
    ))
    .unwrap();
    let checkpoint = Checkpoint {
        position: 2,
        skipped: Vec::new(),
    };
    block_on(store.storage().save_checkpoint("balances", &checkpoint)).unwrap();
    let before = block_on(store.read_all(ReadAllOptions::new())).unwrap();
    store.close();
    assert_eq!(
        block_on(store.read_all(ReadAllOptions::new()))
            .unwrap_err()
            .kind(),
        ErrorKind::Closed
    );
    assert_eq!(
        block_on(store.storage().head()).unwrap_err().kind(),
        ErrorKind::Closed,
        "the backend itself is closed"
    );

    let store = open(&path);
    let after = block_on(store.read_all(ReadAllOptions::new())).unwrap();
    assert_eq!(after, before, "every field survives");
    assert_eq!(after[2].correlation_id.as_deref(), Some("req-1"));
    assert_eq!(after[2].metadata, json!({ "user": "u1" }));
    let typed: Vec<AccountEvent> =
        block_on(store.read_stream("account-1", ReadStreamOptions::new()))
            .unwrap()
            .iter()
            .map(|e| e.decode().unwrap())
            .collect();
    assert_eq!(typed[1], AccountEvent::Deposited { amount: 10 });
    assert_eq!(
        block_on(store.storage().load_checkpoint("balances")).unwrap(),
        Some(checkpoint)
    );
    assert_eq!(block_on(store.head()).unwrap(), 3);
    let more = block_on(store.append_typed(
        "account-1",
        ExpectedVersion::Exact(2),
        &[AccountEvent::Deposited { amount: 5 }],
    ))
    .unwrap();
    assert_eq!(more.next_expected_version, 3);
    assert!(more.position > 3);
}

#[test]
fn full_durability_stores_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "full.db");
    let options = SqliteOptions::default().durability(Durability::Full);
    let storage = SqliteStorage::open_with(&path, options.clone()).unwrap();
    assert_eq!(storage.options(), &options);
    let store = EventStore::new(storage);
    for amount in 1..=20 {
        block_on(store.append_typed(
            "account-1",
            ExpectedVersion::Exact(amount - 1),
            &[AccountEvent::Deposited { amount }],
        ))
        .unwrap();
    }
    drop(store);
    let store = EventStore::new(SqliteStorage::open_with(&path, options).unwrap());
    let events = block_on(store.read_stream("account-1", ReadStreamOptions::backward())).unwrap();
    assert_eq!(events.len(), 20);
    assert_eq!(
        events[0].decode::<AccountEvent>().unwrap(),
        AccountEvent::Deposited { amount: 20 }
    );
}

// 6 -------------------------------------------------------------------------------------------

fn assert_refused_untouched(path: &Path, expected: &str) {
    let before = std::fs::read(path).unwrap();
    let error = SqliteStorage::open(path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Storage, "{error}");
    let message = error.to_string();
    assert!(message.contains(expected), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "the file is unchanged"
    );
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        assert!(!Path::new(&side).exists(), "no {suffix} file left behind");
    }
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let text = temp_db(&dir, "notes.txt");
    std::fs::write(&text, "these are my notes, not a database\n".repeat(300)).unwrap();
    assert_refused_untouched(&text, "not an evstore SQLite database");

    let binary = temp_db(&dir, "noise.bin");
    let noise: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&binary, noise).unwrap();
    assert_refused_untouched(&binary, "not an evstore SQLite database");
}

#[test]
fn another_applications_sqlite_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "other.db");
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada');")
        .unwrap();
    drop(raw);
    assert_refused_untouched(&path, "another application");
}

#[test]
fn a_store_written_by_a_newer_schema_is_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "future.db");
    let store = open(&path);
    block_on(store.append(
        "a-1",
        ExpectedVersion::Any,
        vec![NewEvent::new("E", json!(1))],
    ))
    .unwrap();
    store.close();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);

    let error = SqliteStorage::open(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::IncompatibleSchema, "{error}");
    assert_eq!(
        error,
        evstore::Error::IncompatibleSchema {
            found: 99,
            supported: SqliteStorage::SCHEMA_VERSION,
        }
    );
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 99, "the newer store is left as it was");
}

#[test]
fn an_unopenable_path_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = SqliteStorage::open(dir.path().join("missing-dir").join("x.db")).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Storage);
    assert!(error.to_string().contains("cannot open"), "{error}");
    let error = SqliteStorage::open(dir.path()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Storage, "a directory: {error}");
}

// WAL -----------------------------------------------------------------------------------------

fn wal_size(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len())
}

/// Writers in several processes while a reader holds an old snapshot (so no checkpoint can
/// finish and the WAL can only grow): once the reader lets go and writes settle, the WAL file is
/// back under its bound instead of staying at its largest size for as long as a handle is open.
#[test]
fn the_wal_stays_bounded_under_writers_in_several_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "wal.db");
    // Kept open throughout: the last connection to close would delete the WAL anyway.
    let store = open(&path);
    block_on(store.append(
        "seed-1",
        ExpectedVersion::Any,
        vec![NewEvent::new("Seed", json!(0))],
    ))
    .unwrap();
    let reader = rusqlite::Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader
        .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(seen, 1);

    let writers: Vec<ChildProcess> = (0..2).map(|_| spawn_child("bulk", 200, &path)).collect();
    for writer in writers {
        assert_eq!(writer.finish("DONE").len(), 1);
    }
    let grown = wal_size(&path);
    assert!(
        grown > SqliteStorage::WAL_SIZE_LIMIT,
        "the reader held checkpoints back, so the WAL grew past the bound: {grown} bytes"
    );

    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    for n in 0..64 {
        block_on(store.append(
            "settle-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("Settle", json!(n))],
        ))
        .unwrap();
    }
    let settled = wal_size(&path);
    assert!(
        settled <= SqliteStorage::WAL_SIZE_LIMIT,
        "after writes settle the WAL is {settled} bytes (it had grown to {grown}), over the \
         bound of {}",
        SqliteStorage::WAL_SIZE_LIMIT
    );
    let head = block_on(store.head()).unwrap();
    assert_eq!(head, 1 + 2 * 200 * 50 + 64, "every event is there");
}

/// A long pull into a synced store, page after page of mirror events (the WAL is checkpointed
/// beside the writer, not by the commits): the WAL stays near its bound while the pages come,
/// and the mirror has every event.
#[test]
fn the_wal_stays_bounded_while_a_pull_fills_the_mirror() {
    use evstore::storage::{SyncChange, SyncStorage};

    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "mirror.db");
    let storage = SqliteStorage::open(&path).unwrap();
    let text = "x".repeat(1000);
    let (pages, per_page) = (50u64, 1000u64);
    let mut largest = 0;
    for page in 0..pages {
        let events = (1..=per_page)
            .map(|n| {
                let position = page * per_page + n;
                RecordedEvent {
                    id: uuid::Uuid::now_v7().to_string(),
                    stream_id: format!("s-{}", position % 10),
                    version: (position - 1) / 10 + 1,
                    position,
                    event_type: "Pulled".into(),
                    data: json!({ "n": position, "text": text }),
                    metadata: json!({}),
                    recorded_at: 1,
                    correlation_id: None,
                    causation_id: None,
                }
            })
            .collect();
        block_on(storage.apply_sync(SyncChange {
            events,
            ..SyncChange::default()
        }))
        .unwrap();
        largest = largest.max(wal_size(&path));
    }
    // About 55 MB went through the WAL; it may pass the bound by what a few pages write.
    let slack = 8 * 1024 * 1024;
    assert!(
        largest <= SqliteStorage::WAL_SIZE_LIMIT + slack,
        "the WAL grew to {largest} bytes during the pull"
    );
    let store = EventStore::new(storage);
    assert_eq!(block_on(store.head()).unwrap(), pages * per_page);
    let all = block_on(store.read_all(ReadAllOptions::new())).unwrap();
    assert_eq!(
        all.len() as u64,
        pages * per_page,
        "every event is in the mirror"
    );
    assert!(all.windows(2).all(|w| w[0].position + 1 == w[1].position));
}

// Wake-ups across handles ------------------------------------------------------------------------

/// Two stores opened separately on one file (through two spellings of its path, on two
/// threads): an append through one wakes the other's subscription at once. Its poll interval is
/// an hour, so only the process-wide notifier of the file can deliver within the timeout.
#[tokio::test(flavor = "multi_thread")]
async fn appends_through_another_handle_on_the_file_wake_subscriptions_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "wake.db");
    let hour = Duration::from_secs(3600);
    let options = StoreOptions {
        poll_interval: hour,
        ..StoreOptions::default()
    };
    let reader = EventStore::with_options(SqliteStorage::open(&path).unwrap(), options);
    let other_spelling = dir.path().join(".").join("wake.db");
    let writer = EventStore::new(SqliteStorage::open(other_spelling).unwrap());
    let mut subscription = reader
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(next(&mut subscription).await, SubscriptionItem::CaughtUp);
    let written = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        writer
            .append(
                "wake-1",
                ExpectedVersion::NoStream,
                vec![NewEvent::new("Woke", json!(1))],
            )
            .await
            .unwrap()
    });
    let event = match tokio::time::timeout(Duration::from_secs(20), subscription.next()).await {
        Ok(Some(Ok(SubscriptionItem::Event(event)))) => event,
        other => panic!("expected the live event well before the hour-long poll, got {other:?}"),
    };
    assert_eq!(event.position, written.await.unwrap().position);
}

/// An append waiting for another connection's write lock leaves its thread to the executor's
/// other work: on a current-thread runtime, a ticker in the same task keeps ticking while the
/// append waits (past the 1 ms in which a lone append keeps its task runnable), releases the
/// lock after 20 ticks, and the append then goes through. Had the append blocked the thread, the
/// ticker could not tick and the lock would stay taken until the busy timeout failed the append.
#[test]
fn an_append_waiting_for_a_lock_leaves_its_thread_to_other_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = temp_db(&dir, "locked.db");
    let store = open(&path);
    block_on(store.append(
        "locked-1",
        ExpectedVersion::NoStream,
        vec![NewEvent::new("Before", json!({}))],
    ))
    .expect("first append");
    let blocker = rusqlite::Connection::open(&path).expect("second connection");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let (appended, ticks) = runtime.block_on(async {
        let append = store.append(
            "locked-1",
            ExpectedVersion::Exact(1),
            vec![NewEvent::new("After", json!({}))],
        );
        let ticker = async {
            let mut ticks = 0;
            while ticks < 20 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks += 1;
            }
            blocker.execute_batch("COMMIT").expect("release the lock");
            ticks
        };
        futures::join!(append, ticker)
    });
    assert_eq!(ticks, 20);
    assert_eq!(
        appended
            .expect("append after the lock")
            .next_expected_version,
        2
    );
}
