//! The PostgreSQL backend against a real, private PostgreSQL server that this test binary
//! starts itself (see `support/postgres_server.rs`): the whole conformance suite (with and
//! without group commit), migrations (concurrent opens by several processes, a newer schema, a
//! foreign schema), group commit, several OS processes racing on shared streams while another
//! tails `$all`, a writer killed with SIGKILL, and the server restarted mid-run.
//!
//! Every test gets its own schema in the shared server; the restart test gets its own server.
//! Processes: the test binary re-runs itself with `--exact child_entry` and `EVSTORE_CHILD`
//! set to `mode|connection string|schema|argument`; `child_entry` does nothing without it.
#![cfg(feature = "postgres")]

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use evstore::storage::tokio_postgres;
use evstore::{
    ErrorKind, EventStore, ExpectedVersion, NewEvent, PostgresOptions, PostgresStorage,
    ReadAllOptions, ReadStreamOptions, Storage, SubscribeOptions, SubscriptionItem,
};
use futures::StreamExt;
use serde_json::json;

#[path = "support/child_process.rs"]
mod child_process;
#[path = "support/killed_writer.rs"]
mod killed_writer;
#[path = "support/postgres_server.rs"]
mod postgres_server;

use child_process::ChildProcess;
use postgres_server::PgServer;

const CHILD_ENV: &str = "EVSTORE_CHILD";

/// A schema name no other test of this run uses.
fn fresh_schema() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn connect(server: &PgServer, options: PostgresOptions) -> PostgresStorage {
    PostgresStorage::connect(server.connection_string(), options)
        .await
        .expect("connect to the test server")
}

/// A raw client on the shared server, for looking at and tampering with what the store wrote.
async fn raw_client(server: &PgServer) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&server.connection_string(), tokio_postgres::NoTls)
            .await
            .expect("raw connection");
    tokio::spawn(connection);
    client
}

// ---------------------------------------------------------------------------------------------
// The conformance suite.

mod conformance_group_commit {
    use super::*;

    async fn make_store() -> (EventStore<PostgresStorage>, String) {
        let schema = fresh_schema();
        let store = reopen_store(&schema).await;
        (store, schema)
    }

    /// Connects to the same schema again.
    async fn reopen_store(schema: &str) -> EventStore<PostgresStorage> {
        let options = PostgresOptions::default().schema(schema).pool_size(4);
        EventStore::new(connect(PgServer::shared(), options).await)
    }

    evstore::conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store, reopen_store);
}

mod conformance_without_group_commit {
    use super::*;

    async fn make_store() -> (EventStore<PostgresStorage>, String) {
        let schema = fresh_schema();
        let store = reopen_store(&schema).await;
        (store, schema)
    }

    /// Connects to the same schema again.
    async fn reopen_store(schema: &str) -> EventStore<PostgresStorage> {
        let options = PostgresOptions::default()
            .schema(schema)
            .pool_size(4)
            .group_commit(false);
        EventStore::new(connect(PgServer::shared(), options).await)
    }

    evstore::conformance_tests!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]; make_store, reopen_store);
}

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
    let parts: Vec<&str> = spec.splitn(4, '|').collect();
    let [mode, url, schema, arg] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child runtime");
    runtime.block_on(async {
        let open = || async {
            let options = PostgresOptions::default().schema(schema);
            PostgresStorage::connect(url, options).await
        };
        match mode {
            "open" => {
                println!("READY");
                wait_for_go();
                let store = EventStore::new(open().await.expect("child opens the store"));
                store
                    .append(
                        &format!("opener-{arg}"),
                        ExpectedVersion::NoStream,
                        vec![NewEvent::new("Opened", json!(arg))],
                    )
                    .await
                    .expect("append after open");
                println!("OPENED");
            }
            "race" => {
                let store = EventStore::new(open().await.expect("child opens the store"));
                println!("READY");
                wait_for_go();
                let seconds: u64 = arg.parse().expect("seconds");
                race(&store, Duration::from_secs(seconds)).await;
            }
            "tail" => {
                tail(EventStore::new(
                    open().await.expect("child opens the store"),
                ))
                .await
            }
            "batches" => {
                let store = EventStore::new(open().await.expect("child opens the store"));
                crash_batches(&store).await;
            }
            "writer" => {
                let store = EventStore::new(open().await.expect("child opens the store"));
                let count: u64 = arg.parse().expect("count");
                for n in 0..count {
                    let result = store
                        .append(
                            "remote-1",
                            ExpectedVersion::Any,
                            vec![NewEvent::new("Remote", json!({ "n": n }))],
                        )
                        .await
                        .expect("append");
                    println!("ACK {} {n}", result.position);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            other => panic!("unknown child mode {other}"),
        }
    });
}

fn wait_for_go() {
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("GO");
}

const RACE_STREAMS: u64 = 10;
const RACE_TASKS: u64 = 8;

/// 8 tasks appending single events to 10 shared streams for `duration`, each with
/// `Exact(version just read)`, retrying on `WrongExpectedVersion`. Prints one
/// `ACK stream version position id` line per acknowledged append.
async fn race(store: &EventStore<PostgresStorage>, duration: Duration) {
    let deadline = Instant::now() + duration;
    let tasks = (0..RACE_TASKS).map(|task| {
        let store = store.clone();
        tokio::spawn(async move {
            let (mut acks, mut conflicts) = (0u64, 0u64);
            let mut pick = task;
            while Instant::now() < deadline {
                pick = pick
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let stream_index = (pick >> 33) % RACE_STREAMS;
                let stream = format!("race-{stream_index}");
                loop {
                    let version = store.stream_version(&stream).await.expect("version");
                    let id = uuid::Uuid::now_v7().to_string();
                    let event = NewEvent::new("Tick", json!({ "task": task })).with_id(&id);
                    match store
                        .append(&stream, ExpectedVersion::Exact(version), vec![event])
                        .await
                    {
                        Ok(result) => {
                            assert_eq!(result.next_expected_version, version + 1);
                            println!(
                                "ACK {stream_index} {} {} {id}",
                                result.next_expected_version, result.position
                            );
                            acks += 1;
                            break;
                        }
                        Err(error) if error.kind() == ErrorKind::WrongExpectedVersion => {
                            conflicts += 1;
                        }
                        Err(error) => panic!("task {task}: unexpected error {error}"),
                    }
                }
            }
            (acks, conflicts)
        })
    });
    let mut totals = (0, 0);
    for task in futures::future::join_all(tasks).await {
        let (acks, conflicts) = task.expect("race task");
        totals = (totals.0 + acks, totals.1 + conflicts);
    }
    eprintln!(
        "race child {}: {} appends, {} conflicts",
        std::process::id(),
        totals.0,
        totals.1
    );
}

/// Tails `$all` from the start, checking that positions arrive in order with none skipped
/// (positions are dense), until it has seen the head given by a `STOP <head>` line on stdin;
/// then prints `TAIL <count> <last position> <digest of ids in order>`.
async fn tail(store: EventStore<PostgresStorage>) {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(None::<u64>);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let line = line.expect("stdin");
            if let Some(head) = line.strip_prefix("STOP ") {
                let _ = stop_tx.send(Some(head.parse().expect("head")));
            }
        }
    });
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .expect("subscribe");
    println!("READY");
    let (mut count, mut last, mut digest) = (0u64, 0u64, Digest::default());
    loop {
        if let Some(head) = *stop_rx.borrow() {
            if last >= head {
                break;
            }
        }
        tokio::select! {
            item = subscription.next() => match item.expect("subscription ended").expect("item") {
                SubscriptionItem::Event(event) => {
                    assert_eq!(event.position, last + 1, "the tail skipped or repeated a position");
                    last = event.position;
                    count += 1;
                    digest.add(&event.id);
                }
                SubscriptionItem::CaughtUp => {}
            },
            _ = stop_rx.changed() => {}
        }
    }
    println!("TAIL {count} {last} {}", digest.0);
}

/// An order-sensitive digest of event ids.
#[derive(Default)]
struct Digest(u64);

impl Digest {
    fn add(&mut self, id: &str) {
        for byte in id.bytes() {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Multi-event batches from 4 tasks until killed; one `ACK batch size version position` line
/// per acknowledged batch.
async fn crash_batches(store: &EventStore<PostgresStorage>) {
    let tasks = (0..4u64).map(|task| {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0.. {
                let batch = n * 4 + task;
                let size = 2 + batch % 30;
                let events = (0..size)
                    .map(|i| {
                        NewEvent::new("Part", json!({ "i": i, "pad": "x".repeat(200) }))
                            .with_metadata(json!({ "batch": batch, "size": size }))
                    })
                    .collect();
                let stream = format!("crash-{task}");
                let result = store
                    .append(&stream, ExpectedVersion::Any, events)
                    .await
                    .expect("append");
                println!(
                    "ACK {batch} {size} {} {}",
                    result.next_expected_version, result.position
                );
            }
        })
    });
    futures::future::join_all(tasks).await;
}

// ---------------------------------------------------------------------------------------------
// The parent side.

/// A child running `mode` with `arg` on `schema` of `server`.
fn spawn_child(mode: &str, server: &PgServer, schema: &str, arg: &str) -> ChildProcess {
    let spec = format!("{mode}|{}|{schema}|{arg}", server.connection_string());
    ChildProcess::spawn(CHILD_ENV, spec)
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().skip(1).collect()
}

fn number(word: &str) -> u64 {
    word.parse().expect("number")
}

// ---------------------------------------------------------------------------------------------
// Migrations and opening.

#[test]
fn four_processes_opening_an_empty_schema_at_once_all_succeed() {
    let server = PgServer::shared();
    let schema = fresh_schema();
    let mut openers: Vec<ChildProcess> = (0..4)
        .map(|i| spawn_child("open", server, &schema, &i.to_string()))
        .collect();
    for opener in &openers {
        opener
            .next_line("READY", Duration::from_secs(60))
            .expect("ready");
    }
    for opener in &mut openers {
        opener.send("GO");
    }
    for opener in openers {
        opener
            .next_line("OPENED", Duration::from_secs(60))
            .expect("opened");
        opener.finish("OPENED");
    }
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = EventStore::new(
            connect(server, PostgresOptions::default().schema(schema.as_str())).await,
        );
        assert_eq!(
            store.read_all(ReadAllOptions::new()).await.unwrap().len(),
            4
        );
        let raw = raw_client(server).await;
        let migrations: i64 = raw
            .query_one(
                &format!("SELECT count(*) FROM {schema}.evstore_migrations"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            migrations as u64,
            PostgresStorage::SCHEMA_VERSION,
            "migrated once"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_written_by_a_newer_evstore_is_incompatible() {
    let server = PgServer::shared();
    let schema = fresh_schema();
    let options = PostgresOptions::default().schema(schema.as_str());
    let store = EventStore::new(connect(server, options.clone()).await);
    store
        .append(
            "a-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("A", json!({}))],
        )
        .await
        .unwrap();
    store.close();
    let newer = PostgresStorage::SCHEMA_VERSION as i32 + 1;
    raw_client(server)
        .await
        .execute(
            &format!("INSERT INTO {schema}.evstore_migrations (version) VALUES ($1)"),
            &[&newer],
        )
        .await
        .unwrap();
    let error = PostgresStorage::connect(server.connection_string(), options)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        evstore::Error::IncompatibleSchema {
            found: newer as u64,
            supported: PostgresStorage::SCHEMA_VERSION
        }
    );
    assert_eq!(error.kind(), ErrorKind::IncompatibleSchema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_that_is_not_evstores_is_refused_and_left_untouched() {
    let server = PgServer::shared();
    let schema = fresh_schema();
    let raw = raw_client(server).await;
    raw.batch_execute(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.orders (id integer PRIMARY KEY); \
         INSERT INTO {schema}.orders VALUES (7);"
    ))
    .await
    .unwrap();
    let error = PostgresStorage::connect(
        server.connection_string(),
        PostgresOptions::default().schema(schema.as_str()),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Storage);
    assert!(
        error.to_string().contains("is not an evstore store"),
        "{error}"
    );
    let tables: Vec<String> = raw
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(tables, ["orders"], "nothing added");
    let id: i32 = raw
        .query_one(&format!("SELECT id FROM {schema}.orders"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 7, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_create_only_an_existing_store_opens() {
    let server = PgServer::shared();
    let schema = fresh_schema();
    let options = PostgresOptions::default()
        .schema(schema.as_str())
        .create(false);
    let error = PostgresStorage::connect(server.connection_string(), options.clone())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Storage);
    assert!(error.to_string().contains("no evstore store"), "{error}");
    let created: bool = raw_client(server)
        .await
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!created, "nothing was created");

    let store = EventStore::new(connect(server, options.clone().create(true)).await);
    store
        .append(
            "a-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("A", json!({}))],
        )
        .await
        .unwrap();
    let reopened = EventStore::new(connect(server, options).await);
    assert_eq!(reopened.head().await.unwrap(), 1);
}

/// A store of schema 2 (before `maxAge`), with events recorded two hours ago and a `maxCount`,
/// opens and is migrated to schema 3: its events and metadata stay, and `maxAge` then hides and
/// reclaims its old events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_2_store_is_migrated_and_takes_a_max_age() {
    let server = PgServer::shared();
    let schema = fresh_schema();
    let two_hours_ago = evstore::platform::now_millis() - 2 * 3600 * 1000;
    raw_client(server)
        .await
        .batch_execute(&format!(
            "BEGIN; CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema}; {} \
             INSERT INTO evstore_migrations (version) VALUES (1); {} \
             INSERT INTO evstore_migrations (version) VALUES (2); \
             SELECT * FROM append_events('log-1', 'log', 0::smallint, 0, \
                 ARRAY['0190a5e4-0000-7000-8000-000000000001', \
                       '0190a5e4-0000-7000-8000-000000000002']::uuid[], \
                 ARRAY['A', 'A'], ARRAY['{{}}', '{{}}'], ARRAY['{{}}', '{{}}'], \
                 ARRAY[{two_hours_ago}, {two_hours_ago}]::bigint[], \
                 ARRAY[NULL, NULL]::text[], ARRAY[NULL, NULL]::text[], false, 'unused'); \
             UPDATE streams SET max_count = 5 WHERE stream_id = 'log-1'; \
             COMMIT;",
            include_str!("../src/storage/postgres/migrations/001_initial.sql"),
            include_str!("../src/storage/postgres/migrations/002_stream_lifecycle.sql"),
        ))
        .await
        .unwrap();
    let options = PostgresOptions::default().schema(schema.as_str());
    let store = EventStore::new(connect(server, options).await);
    let read = |store: &EventStore<PostgresStorage>| {
        let store = store.clone();
        async move {
            let events = store
                .read_stream("log-1", ReadStreamOptions::new())
                .await
                .unwrap();
            events.iter().map(|e| e.version).collect::<Vec<_>>()
        }
    };
    assert_eq!(read(&store).await, [1, 2]);
    let kept = evstore::StreamMetadata::new().max_count(5);
    assert_eq!(store.stream_metadata("log-1").await.unwrap(), kept);
    store
        .set_stream_metadata("log-1", kept.max_age(600), ExpectedVersion::Exact(2))
        .await
        .unwrap();
    assert!(read(&store).await.is_empty());
    assert_eq!(store.stream_version("log-1").await.unwrap(), 2);
    store
        .append(
            "log-1",
            ExpectedVersion::Exact(2),
            vec![NewEvent::new("A", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(read(&store).await, [3]);
    let raw = raw_client(server).await;
    let stored: i64 = raw
        .query_one(&format!("SELECT count(*) FROM {schema}.events"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "the append removed the expired events");
    let version: i32 = raw
        .query_one(
            &format!("SELECT max(version) FROM {schema}.evstore_migrations"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(version as u64, PostgresStorage::SCHEMA_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_existing_schema_is_initialized() {
    let server = PgServer::shared();
    let schema = fresh_schema();
    raw_client(server)
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let store =
        EventStore::new(connect(server, PostgresOptions::default().schema(schema.as_str())).await);
    store
        .append(
            "a-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("A", json!({}))],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_and_unreachable_servers_are_clear_errors() {
    let server = PgServer::shared();
    for schema in [
        "",
        "Upper",
        "has-dash",
        "9starts_with_digit",
        "pg_reserved",
        &"x".repeat(49),
    ] {
        let error = PostgresStorage::connect(
            server.connection_string(),
            PostgresOptions::default().schema(schema),
        )
        .await
        .unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::InvalidInput,
            "schema {schema:?}: {error}"
        );
    }
    for options in [
        PostgresOptions::default().pool_size(0),
        PostgresOptions::default().max_group_size(0),
    ] {
        let error = PostgresStorage::connect(server.connection_string(), options)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    }
    let error = PostgresStorage::connect("host=/tmp port=notaport", PostgresOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");

    let nowhere = tempfile::tempdir().unwrap();
    let error = PostgresStorage::connect(
        format!(
            "host={} user=evstore dbname=postgres connect_timeout=5",
            nowhere.path().display()
        ),
        PostgresOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Storage, "{error}");
    assert!(
        error.to_string().contains("cannot connect to PostgreSQL"),
        "{error}"
    );
}

#[test]
fn connect_outside_a_tokio_runtime_is_a_clear_error() {
    let error = futures::executor::block_on(PostgresStorage::connect(
        PgServer::shared().connection_string(),
        PostgresOptions::default().schema(fresh_schema()),
    ))
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Storage);
    assert!(error.to_string().contains("tokio runtime"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_postgresql_cannot_store_is_invalid_input_and_writes_nothing() {
    let server = PgServer::shared();
    let store =
        EventStore::new(connect(server, PostgresOptions::default().schema(fresh_schema())).await);
    for (stream, event) in [
        ("nul\0-1", NewEvent::new("A", json!({}))),
        ("ok-1", NewEvent::new("A\0B", json!({}))),
        (
            "ok-1",
            NewEvent::new("A", json!({})).with_correlation_id("c\0"),
        ),
    ] {
        let error = store
            .append(stream, ExpectedVersion::Any, vec![event])
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    }
    // NUL inside JSON is an escape, stored and read back as is.
    store
        .append(
            "ok-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("A", json!({ "s": "a\0b" }))],
        )
        .await
        .unwrap();
    let events = store.read_all(ReadAllOptions::new()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, json!({ "s": "a\0b" }));
}

/// The server's `disk_full` error (SQLSTATE 53100, what PostgreSQL reports when it cannot extend
/// a file) is `QuotaExceeded` for appends and checkpoint saves, and nothing is written. A shared
/// test server's disk cannot be filled for one test, so a trigger of this test's schema makes the
/// server raise that very error on every insert; dropping it is "freeing space".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_quota_exceeded_and_writes_nothing() {
    let server = PgServer::shared();
    let schema = fresh_schema();
    let store =
        EventStore::new(connect(server, PostgresOptions::default().schema(schema.as_str())).await);
    let event = |n: u64| NewEvent::new("Noted", json!({ "n": n }));
    store
        .append("note-1", ExpectedVersion::NoStream, vec![event(1)])
        .await
        .unwrap();
    let raw = raw_client(server).await;
    raw.batch_execute(&format!(
        "CREATE FUNCTION \"{schema}\".disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' \
         USING ERRCODE = 'disk_full'; END $$; \
         CREATE TRIGGER full_events BEFORE INSERT ON \"{schema}\".events \
         FOR EACH ROW EXECUTE FUNCTION \"{schema}\".disk_full(); \
         CREATE TRIGGER full_checkpoints BEFORE INSERT OR UPDATE ON \"{schema}\".checkpoints \
         FOR EACH ROW EXECUTE FUNCTION \"{schema}\".disk_full();"
    ))
    .await
    .unwrap();

    // The same batch before and after the disk is "freed".
    let append_rest = || {
        store.append(
            "note-1",
            ExpectedVersion::Exact(1),
            vec![event(2), event(3), event(4)],
        )
    };
    let error = append_rest().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QuotaExceeded, "{error}");
    assert!(error.to_string().contains("SQLSTATE 53100"), "{error}");
    let checkpoint = evstore::Checkpoint {
        position: 1,
        skipped: Vec::new(),
    };
    let error = store
        .storage()
        .save_checkpoint("p", &checkpoint)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QuotaExceeded, "{error}");

    // Nothing of the batch: not the events, not the stream's version, not the head.
    let events = store.read_all(ReadAllOptions::new()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(store.stream_version("note-1").await.unwrap(), 1);
    assert_eq!(store.head().await.unwrap(), 1);
    assert_eq!(store.storage().load_checkpoint("p").await.unwrap(), None);

    raw.batch_execute(&format!(
        "DROP TRIGGER full_events ON \"{schema}\".events; \
         DROP TRIGGER full_checkpoints ON \"{schema}\".checkpoints;"
    ))
    .await
    .unwrap();
    let result = append_rest().await.unwrap();
    assert_eq!(result.next_expected_version, 4);
    store
        .storage()
        .save_checkpoint("p", &checkpoint)
        .await
        .unwrap();
    let versions: Vec<u64> = store
        .read_stream("note-1", ReadStreamOptions::new())
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
}

// ---------------------------------------------------------------------------------------------
// Group commit.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_commit_decides_each_append_alone() {
    let server = PgServer::shared();
    let schema = fresh_schema();
    let storage = connect(server, PostgresOptions::default().schema(schema.as_str())).await;
    let store = EventStore::new(storage.clone());
    let taken_id = uuid::Uuid::now_v7().to_string();
    let retried_id = uuid::Uuid::now_v7().to_string();
    store
        .append(
            "taken-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("A", json!(1)).with_id(&taken_id)],
        )
        .await
        .unwrap();
    let original = store
        .append(
            "retry-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("A", json!(2)).with_id(&retried_id)],
        )
        .await
        .unwrap();
    // An event type the database itself refuses (a trigger), to fail one append mid-group.
    let raw = raw_client(server).await;
    raw.batch_execute(&format!(
        "CREATE FUNCTION {schema}.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.event_type = 'Poison' THEN RAISE EXCEPTION 'poison refused'; END IF; \
         RETURN NEW; END $$; \
         CREATE TRIGGER refuse_poison BEFORE INSERT ON {schema}.events \
         FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_poison();"
    ))
    .await
    .unwrap();
    let before = storage.commit_stats();

    // Hold the head row, so that the appends queue up behind the first and form one group.
    let mut holder = raw_client(server).await;
    let hold = holder.transaction().await.unwrap();
    hold.execute(
        &format!("UPDATE {schema}.head SET position = position"),
        &[],
    )
    .await
    .unwrap();

    let append = |stream: &str, expected: ExpectedVersion, event: NewEvent| {
        let (store, stream) = (store.clone(), stream.to_owned());
        tokio::spawn(async move { store.append(&stream, expected, vec![event]).await })
    };
    let mut plain = Vec::new();
    for i in 0..6 {
        plain.push(append(
            &format!("plain-{i}"),
            ExpectedVersion::NoStream,
            NewEvent::new("A", json!(i)),
        ));
    }
    let stale = append(
        "taken-1",
        ExpectedVersion::Exact(5),
        NewEvent::new("A", json!("stale")),
    );
    let poison = append(
        "poison-1",
        ExpectedVersion::Any,
        NewEvent::new("Poison", json!({})),
    );
    let duplicate = append(
        "other-1",
        ExpectedVersion::Any,
        NewEvent::new("A", json!(3)).with_id(&taken_id),
    );
    let retry = append(
        "retry-1",
        ExpectedVersion::NoStream,
        NewEvent::new("A", json!(2)).with_id(&retried_id),
    );
    let more: Vec<_> = (0..4)
        .map(|i| {
            append(
                "shared-1",
                ExpectedVersion::Any,
                NewEvent::new("A", json!(i)),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    hold.commit().await.unwrap();

    for task in plain.into_iter().chain(more) {
        task.await.unwrap().expect("plain appends commit");
    }
    let error = stale.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WrongExpectedVersion, "{error}");
    let error = poison.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Storage, "{error}");
    assert!(error.to_string().contains("poison refused"), "{error}");
    let error = duplicate.await.unwrap().unwrap_err();
    assert_eq!(
        error,
        evstore::Error::DuplicateEventId {
            id: taken_id.clone()
        }
    );
    assert_eq!(
        retry.await.unwrap().unwrap(),
        original,
        "an idempotent retry"
    );

    let after = storage.commit_stats();
    let (transactions, appends) = (
        after.transactions - before.transactions,
        after.appends - before.appends,
    );
    assert_eq!(appends, 14);
    assert!(
        transactions <= 3,
        "{appends} appends in {transactions} transactions"
    );

    // 2 + 6 + 4 events, positions dense in commit order, shared-1 at versions 1..=4.
    let events = store.read_all(ReadAllOptions::new()).await.unwrap();
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=12).collect::<Vec<_>>());
    let shared = store
        .read_stream("shared-1", ReadStreamOptions::new())
        .await
        .unwrap();
    assert_eq!(
        shared.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(store
        .read_stream("poison-1", ReadStreamOptions::new())
        .await
        .is_err());
    assert_eq!(store.stream_version("taken-1").await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Several processes.

#[test]
fn three_processes_racing_on_shared_streams_while_a_fourth_tails_all() {
    let seconds: u64 = std::env::var("EVSTORE_PG_RACE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let server = PgServer::shared();
    let schema = fresh_schema();
    // Create the schema first, so the race measures appends, not the migration.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        connect(server, PostgresOptions::default().schema(schema.as_str())).await;
    });
    let mut tail = spawn_child("tail", server, &schema, "");
    tail.next_line("READY", Duration::from_secs(60))
        .expect("tail ready");
    let mut writers: Vec<ChildProcess> = (0..3)
        .map(|_| spawn_child("race", server, &schema, &seconds.to_string()))
        .collect();
    for writer in &writers {
        writer
            .next_line("READY", Duration::from_secs(60))
            .expect("writer ready");
    }
    for writer in &mut writers {
        writer.send("GO");
    }
    // stream -> version -> (position, id)
    let mut acked: BTreeMap<u64, BTreeMap<u64, (u64, String)>> = BTreeMap::new();
    for writer in writers {
        for line in writer.finish("ACK") {
            let [stream, version, position, id] = words(&line)[..] else {
                panic!("bad line {line}");
            };
            let previous = acked
                .entry(number(stream))
                .or_default()
                .insert(number(version), (number(position), id.to_owned()));
            assert!(
                previous.is_none(),
                "stream {stream} version {version} won twice"
            );
        }
    }
    let total: usize = acked.values().map(BTreeMap::len).sum();
    assert!(total > 0);

    let events = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = EventStore::new(
            connect(server, PostgresOptions::default().schema(schema.as_str())).await,
        );
        store.read_all(ReadAllOptions::new()).await.unwrap()
    });
    assert_eq!(
        events.len(),
        total,
        "every acknowledged append and nothing else"
    );
    let mut ids = HashSet::new();
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.position, index as u64 + 1, "positions are dense");
        assert!(ids.insert(event.id.clone()), "duplicate id {}", event.id);
        let stream: u64 = event.stream_id.trim_start_matches("race-").parse().unwrap();
        let (position, id) = &acked[&stream][&event.version];
        assert_eq!((event.position, &event.id), (*position, id));
    }
    for (stream, versions) in &acked {
        let expected: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(
            versions.keys().copied().collect::<Vec<_>>(),
            expected,
            "stream {stream}: no gap"
        );
    }

    let head = events.len() as u64;
    tail.send(&format!("STOP {head}"));
    let line = tail
        .next_line("TAIL", Duration::from_secs(60))
        .expect("tail result");
    let [count, last, digest] = words(&line)[..] else {
        panic!("bad line {line}");
    };
    let mut expected = Digest::default();
    for event in &events {
        expected.add(&event.id);
    }
    assert_eq!(
        (number(count), number(last)),
        (head, head),
        "the tail saw every event"
    );
    assert_eq!(number(digest), expected.0, "in position order");
    tail.finish("TAIL");
    let per_second = total as u64 / seconds.max(1);
    eprintln!("{total} appends by 3 processes x 8 tasks in {seconds} s ({per_second}/s)");
}

#[test]
fn a_writer_killed_mid_append_loses_no_acknowledged_batch_and_leaves_no_partial_one() {
    let server = PgServer::shared();
    let schema = fresh_schema();
    let mut child = spawn_child("batches", server, &schema, "");
    let mut acked = killed_writer::Acked::new();
    let record = |acked: &mut killed_writer::Acked, line: &str| {
        if let [batch, size, version, position] = words(line)[..] {
            acked.insert(
                number(batch),
                (number(size), number(version), number(position)),
            );
        }
    };
    while acked.len() < 200 {
        let line = child
            .next_line("ACK", Duration::from_secs(60))
            .expect("child died before being killed");
        record(&mut acked, &line);
    }
    child.child.kill().expect("SIGKILL");
    let status = child.child.wait().expect("wait");
    assert!(
        !status.success(),
        "the child was killed, not finished: {status}"
    );
    while let Ok(line) = child.lines.recv_timeout(Duration::from_secs(5)) {
        if line.starts_with("ACK") {
            record(&mut acked, &line);
        }
    }
    drop(child);

    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = EventStore::new(
            connect(server, PostgresOptions::default().schema(schema.as_str())).await,
        );
        let events = store.read_all(ReadAllOptions::new()).await.unwrap();
        for (index, event) in events.iter().enumerate() {
            assert_eq!(event.position, index as u64 + 1, "positions are dense");
        }
        let batches = killed_writer::check_batches(&events, &acked);
        for (batch, parts) in &batches {
            assert!(
                parts.windows(2).all(|w| w[1].position == w[0].position + 1),
                "batch {batch} has consecutive positions"
            );
        }
        eprintln!(
            "{} batches acknowledged, {} stored after SIGKILL",
            acked.len(),
            batches.len()
        );
        // The store goes on.
        store
            .append(
                "crash-0",
                ExpectedVersion::StreamExists,
                vec![NewEvent::new("After", json!(null))],
            )
            .await
            .unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_is_woken_by_another_process_through_listen() {
    const COUNT: u64 = 10;
    let server = PgServer::shared();
    let schema = fresh_schema();
    let store =
        EventStore::new(connect(server, PostgresOptions::default().schema(schema.as_str())).await);
    // A poll interval far beyond the test's patience: only a notification can wake it.
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start().poll_interval(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(next(&mut subscription).await, SubscriptionItem::CaughtUp);
    let writer = spawn_child("writer", server, &schema, &COUNT.to_string());
    let mut positions = Vec::new();
    while positions.len() < COUNT as usize {
        if let SubscriptionItem::Event(event) = next(&mut subscription).await {
            assert_eq!(event.stream_id, "remote-1");
            positions.push(event.position);
        }
    }
    assert_eq!(positions, (1..=COUNT).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || writer.finish("ACK"))
        .await
        .unwrap();
}

async fn next(subscription: &mut evstore::Subscription) -> SubscriptionItem {
    tokio::time::timeout(Duration::from_secs(20), subscription.next())
        .await
        .expect("nothing arrived within 20 s")
        .expect("the subscription ended")
        .expect("subscription error")
}

// ---------------------------------------------------------------------------------------------
// The server restarting.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_fail_clearly_while_the_server_is_down_and_everything_resumes_after() {
    // A server of its own: this test stops it.
    let server = tokio::task::spawn_blocking(|| PgServer::start(false))
        .await
        .unwrap();
    let options = PostgresOptions::default()
        .schema("restart")
        .listen_reconnect_delay(Duration::from_millis(200))
        .connection_timeout(Duration::from_secs(5));
    let store = EventStore::new(connect(&server, options).await);
    // Woken only by notifications and the listener's reconnect, never by polling.
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start().poll_interval(Duration::from_secs(3600)))
        .await
        .unwrap();
    let append = |n: u64| {
        let store = store.clone();
        async move {
            store
                .append(
                    "restart-1",
                    ExpectedVersion::Any,
                    vec![NewEvent::new("N", json!(n))],
                )
                .await
        }
    };
    for n in 0..5 {
        append(n).await.unwrap();
    }
    let server = tokio::task::spawn_blocking(move || {
        server.stop_server();
        server
    })
    .await
    .unwrap();
    for n in 5..8 {
        let error = append(n).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Storage, "{error}");
        assert!(error.to_string().contains("PostgreSQL"), "{error}");
    }
    let server = tokio::task::spawn_blocking(move || {
        server.start_server();
        server
    })
    .await
    .unwrap();
    // The pool reconnects on its own.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 8;
    while n < 13 {
        match append(n).await {
            Ok(_) => n += 1,
            Err(error) if Instant::now() < deadline => {
                eprintln!("not yet: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("appends do not work again: {error}"),
        }
    }
    let mut seen = Vec::new();
    while seen.len() < 10 {
        if let SubscriptionItem::Event(event) = next(&mut subscription).await {
            seen.push(event.data.as_u64().unwrap());
        }
    }
    assert_eq!(
        seen,
        [0, 1, 2, 3, 4, 8, 9, 10, 11, 12],
        "no gap, no duplicate"
    );
    let positions: Vec<u64> = store
        .read_all(ReadAllOptions::new())
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(positions, (1..=10).collect::<Vec<_>>());
    store.close();
    drop(server);
}
