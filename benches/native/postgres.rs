//! The `postgres` group of `make bench` (feature `postgres`): evstore over PostgreSQL beside a
//! raw tokio-postgres baseline doing the same work in the same run, on a private server the
//! benchmark starts itself with `fsync` **on** (as production runs; the tests run with it off).
//!
//! The baseline is what a tight hand-written event store on tokio-postgres does: the same tables
//! (an evstore schema of its own, written directly), positions from the same locked head row
//! so that they are in commit order, one statement per append (a data-modifying CTE: stream
//! version, head, events) in autocommit, prepared once, one round trip; reads are one prepared
//! query returning the same owned events with `data`/`metadata` parsed. What evstore does beyond that (validation, the
//! expected-version decision, idempotency lookups, savepoints, paging, notifications) is what
//! the ratios measure.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evstore::storage::tokio_postgres::{self, Client, NoTls, Statement};
use evstore::{
    EventStore, ExpectedVersion, NewEvent, PostgresOptions, PostgresStorage, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, SubscribeOptions, SubscriptionItem,
};
use futures::StreamExt;
use serde_json::Value;
use tokio::runtime::Runtime;

use super::{
    batches, latency_payload, now_millis, paired, percentile, progress, sent_ns, wall_ns, Batch,
    Better, Config, Target, Workload, STREAMS,
};

#[path = "../../tests/support/postgres_server.rs"]
mod postgres_server;

use postgres_server::PgServer;

/// One raw append: the stream's version (the stream row, locked), the head row (locked until
/// commit), the events — one statement, one round trip.
const RAW_APPEND_SQL: &str = "WITH s AS ( \
         INSERT INTO streams (stream_id, version) VALUES ($1, $2) \
         ON CONFLICT (stream_id) DO UPDATE SET version = streams.version + excluded.version \
         RETURNING version), \
     h AS (UPDATE head SET position = head.position + $2 RETURNING position) \
     INSERT INTO events (position, id, stream_id, version, category, event_type, data, \
                         metadata, recorded_at) \
     SELECT h.position - $2 + t.ord, t.id, $1, s.version - $2 + t.ord, $3, t.event_type, \
            t.data::json, '{}'::json, $7 \
     FROM s, h, unnest($4::uuid[], $5::text[], $6::text[]) WITH ORDINALITY \
          AS t (id, event_type, data, ord) \
     RETURNING position";

const RAW_COLUMNS: &str = "SELECT position, id, stream_id, version, event_type, data::text, \
     metadata::text, recorded_at, correlation_id, causation_id FROM events";

/// The server, a runtime, and the schemas used so far.
struct Pg {
    server: PgServer,
    runtime: Runtime,
    next_schema: usize,
}

impl Pg {
    fn start() -> Self {
        eprintln!("postgres: starting a private server (fsync on)");
        Pg {
            server: PgServer::start(true),
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            next_schema: 0,
        }
    }

    fn schema(&mut self, what: &str) -> String {
        self.next_schema += 1;
        format!("b{}_{what}", self.next_schema)
    }

    fn store(&self, schema: &str, options: PostgresOptions) -> EventStore<PostgresStorage> {
        let url = self.server.connection_string();
        let options = options.schema(schema);
        let storage = self
            .runtime
            .block_on(PostgresStorage::connect(url, options))
            .unwrap();
        EventStore::new(storage)
    }

    /// A raw client on an evstore schema of its own (created through evstore, then written
    /// directly), its append statement prepared once.
    fn raw(&self, schema: &str) -> Raw {
        drop(self.store(schema, PostgresOptions::default()));
        self.runtime.block_on(async {
            let client = raw_connect(&self.server, schema).await;
            let append = client.prepare(RAW_APPEND_SQL).await.unwrap();
            Raw { client, append }
        })
    }

    fn version(&self) -> String {
        let raw = self.raw("b0_version");
        self.runtime.block_on(async {
            let row = raw
                .client
                .query_one("SHOW server_version", &[])
                .await
                .unwrap();
            row.get(0)
        })
    }
}

/// A raw connection and its prepared append.
struct Raw {
    client: Client,
    append: Statement,
}

async fn raw_connect(server: &PgServer, schema: &str) -> Client {
    let config = format!(
        "{} options='-c search_path={schema}'",
        server.connection_string()
    );
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn raw_append(raw: &Raw, batch: &Batch) -> i64 {
    let ids: Vec<uuid::Uuid> = batch.events.iter().map(|_| uuid::Uuid::now_v7()).collect();
    let types: Vec<&str> = batch.events.iter().map(|(t, _)| *t).collect();
    let data: Vec<String> = batch
        .events
        .iter()
        .map(|(_, d)| serde_json::to_string(d).unwrap())
        .collect();
    let n = batch.events.len() as i64;
    let category = batch.stream.split('-').next().unwrap_or_default();
    let rows = raw
        .client
        .query(
            &raw.append,
            &[
                &batch.stream,
                &n,
                &category,
                &ids,
                &types,
                &data,
                &now_millis(),
            ],
        )
        .await
        .unwrap();
    rows.last().unwrap().get(0)
}

fn raw_events(rows: Vec<tokio_postgres::Row>) -> Vec<RecordedEvent> {
    rows.iter()
        .map(|row| {
            let id: uuid::Uuid = row.get(1);
            let data: String = row.get(5);
            let metadata: String = row.get(6);
            RecordedEvent {
                position: row.get::<_, i64>(0) as u64,
                id: id.to_string(),
                stream_id: row.get(2),
                version: row.get::<_, i64>(3) as u64,
                event_type: row.get(4),
                data: serde_json::from_str(&data).unwrap(),
                metadata: serde_json::from_str(&metadata).unwrap(),
                recorded_at: row.get::<_, i64>(7) as u64,
                correlation_id: row.get(8),
                causation_id: row.get(9),
            }
        })
        .collect()
}

fn prepared(input: &[Batch]) -> Vec<(String, Vec<NewEvent>)> {
    input
        .iter()
        .map(|b| (b.stream.clone(), b.to_new_events()))
        .collect()
}

fn throughput_target(value: f64) -> Option<Target> {
    Some(Target {
        text: if value == 0.8 {
            "≥ 0.8× raw"
        } else {
            "≥ 0.5× raw"
        },
        on_ratio: true,
        better: Better::Higher,
        value,
    })
}

/// Runs the group; returns its rows and the server's version.
pub fn run(config: &Config) -> Option<(Vec<Workload>, String)> {
    let mut pg = Pg::start();
    let version = pg.version();
    let mut workloads = Vec::new();
    sequential_appends(config, &mut pg, &mut workloads, 100, config.count(20_000));
    sequential_appends(config, &mut pg, &mut workloads, 1, config.count(1_000));
    concurrent_appends(config, &mut pg, &mut workloads);
    reads(config, &mut pg, &mut workloads);
    cross_process(config, &mut pg, &mut workloads);
    Some((workloads, version))
}

/// Appends of `per` events one after another: batched (100) or single-event.
fn sequential_appends(
    config: &Config,
    pg: &mut Pg,
    out: &mut Vec<Workload>,
    per: usize,
    total: usize,
) {
    let input = batches(total, per, STREAMS, "account");
    let unit = if per == 1 { "appends/s" } else { "events/s" };
    eprintln!("postgres: {total} events, {per} per append, one after another");
    let (e, r) = paired(
        config.runs,
        |run| {
            let store = pg.store(&format!("b_seq{per}_e{run}"), PostgresOptions::default());
            let input = prepared(&input);
            let started = Instant::now();
            pg.runtime.block_on(async {
                for (stream, events) in input {
                    store
                        .append(&stream, ExpectedVersion::Any, events)
                        .await
                        .unwrap();
                }
            });
            let rate = total as f64 / started.elapsed().as_secs_f64();
            store.close();
            progress(&format!("run {run} evstore {rate:.0} {unit}"));
            rate
        },
        |run| {
            let client = pg.raw(&format!("b_seq{per}_r{run}"));
            let started = Instant::now();
            pg.runtime.block_on(async {
                for batch in &input {
                    raw_append(&client, batch).await;
                }
            });
            let rate = total as f64 / started.elapsed().as_secs_f64();
            progress(&format!("run {run} raw {rate:.0} {unit}"));
            rate
        },
    );
    let (id, name, detail) = if per == 1 {
        (
            "pg_single_append",
            "PostgreSQL single-event appends",
            format!("{total} appends of one event, {STREAMS} streams, fsync on"),
        )
    } else {
        (
            "pg_batched_append",
            "PostgreSQL batched append",
            format!("{total} events, {per} per append, {STREAMS} streams, fsync on"),
        )
    };
    out.push(Workload {
        id,
        name: name.into(),
        detail,
        unit,
        better: Better::Higher,
        baseline_label: "raw tokio-postgres",
        evstore: e,
        baseline: r,
        target: throughput_target(0.8),
        note: None,
    });
}

const WRITERS: usize = 16;

/// 16 tasks appending 10-event batches at once, through one store (evstore, with and without
/// group commit) or 16 raw connections.
fn concurrent_appends(config: &Config, pg: &mut Pg, out: &mut Vec<Workload>) {
    let per_writer = config.count(60);
    let total = WRITERS * per_writer * 10;
    let input = Arc::new(batches(total, 10, STREAMS, "account"));
    eprintln!("postgres: {WRITERS} concurrent appenders, {per_writer} appends of 10 events each");
    let mut rows = Vec::new();
    for group_commit in [true, false] {
        let label = if group_commit { "gc" } else { "nogc" };
        let (e, r) = paired(
            config.runs,
            |run| {
                let options = PostgresOptions::default()
                    .group_commit(group_commit)
                    .pool_size(WRITERS);
                let store = pg.store(&format!("b_conc_{label}_e{run}"), options);
                let started = Instant::now();
                pg.runtime.block_on(async {
                    let tasks = (0..WRITERS).map(|w| {
                        let (store, input) = (store.clone(), Arc::clone(&input));
                        tokio::spawn(async move {
                            for batch in input.iter().skip(w).step_by(WRITERS) {
                                let events = batch.to_new_events();
                                store
                                    .append(&batch.stream, ExpectedVersion::Any, events)
                                    .await
                                    .unwrap();
                            }
                        })
                    });
                    for task in futures::future::join_all(tasks).await {
                        task.unwrap();
                    }
                });
                let rate = total as f64 / started.elapsed().as_secs_f64();
                let stats = store.storage().commit_stats();
                store.close();
                progress(&format!(
                    "run {run} evstore {rate:.0} ev/s ({} appends in {} transactions)",
                    stats.appends, stats.transactions
                ));
                rate
            },
            |run| {
                let schema = format!("b_conc_{label}_r{run}");
                let clients: Vec<Arc<Raw>> =
                    (0..WRITERS).map(|_| Arc::new(pg.raw(&schema))).collect();
                let started = Instant::now();
                pg.runtime.block_on(async {
                    let tasks = clients.iter().enumerate().map(|(w, client)| {
                        let (client, input) = (Arc::clone(client), Arc::clone(&input));
                        tokio::spawn(async move {
                            for batch in input.iter().skip(w).step_by(WRITERS) {
                                raw_append(&client, batch).await;
                            }
                        })
                    });
                    for task in futures::future::join_all(tasks).await {
                        task.unwrap();
                    }
                });
                let rate = total as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} raw {rate:.0} ev/s"));
                rate
            },
        );
        rows.push((group_commit, e, r));
    }
    let with = super::median(&rows[0].1);
    let without = super::median(&rows[1].1);
    for (group_commit, e, r) in rows {
        out.push(Workload {
            id: if group_commit {
                "pg_concurrent_group_commit"
            } else {
                "pg_concurrent_no_group_commit"
            },
            name: format!(
                "PostgreSQL {WRITERS} concurrent appenders, group commit {}",
                if group_commit { "on" } else { "off" }
            ),
            detail: format!(
                "{WRITERS} tasks × {per_writer} appends of 10 events, one store (raw: {WRITERS} \
                 connections), fsync on"
            ),
            unit: "events/s",
            better: Better::Higher,
            baseline_label: "raw tokio-postgres, 16 connections",
            evstore: e,
            baseline: r,
            target: group_commit.then_some(Target {
                text: "≥ 10,000 events/s",
                on_ratio: false,
                better: Better::Higher,
                value: 10_000.0,
            }),
            note: group_commit.then(|| {
                format!(
                    "group commit on ÷ off: {:.1}× (target ≥ 3×)",
                    with / without
                )
            }),
        });
    }
}

fn reads(config: &Config, pg: &mut Pg, out: &mut Vec<Workload>) {
    let total = config.count(50_000);
    let big = config.count(1_000);
    let schema = pg.schema("reads");
    eprintln!("postgres: building the read fixture: {total} events + a stream of {big}");
    let store = pg.store(&schema, PostgresOptions::default());
    pg.runtime.block_on(async {
        for batch in batches(total, 100, STREAMS, "account")
            .into_iter()
            .chain(batches(big, 100, 1, "big"))
        {
            store
                .append(&batch.stream, ExpectedVersion::Any, batch.to_new_events())
                .await
                .unwrap();
        }
    });
    let (raw, read_all_sql, read_stream_sql) = pg.runtime.block_on(async {
        let client = raw_connect(&pg.server, &schema).await;
        let read_all = format!("{RAW_COLUMNS} ORDER BY position");
        let read_all = client.prepare(&read_all).await.unwrap();
        let read_stream = format!("{RAW_COLUMNS} WHERE stream_id = $1 ORDER BY version");
        let read_stream = client.prepare(&read_stream).await.unwrap();
        (client, read_all, read_stream)
    });
    let all = total + big;
    eprintln!("postgres: read_all of {all} events");
    let (e, r) = paired(
        config.runs,
        |run| {
            let started = Instant::now();
            let events = pg
                .runtime
                .block_on(store.read_all(ReadAllOptions::new()))
                .unwrap();
            let rate = events.len() as f64 / started.elapsed().as_secs_f64();
            assert_eq!(events.len(), all);
            black_box(events);
            progress(&format!("run {run} evstore {rate:.0} ev/s"));
            rate
        },
        |run| {
            let started = Instant::now();
            let events = raw_events(pg.runtime.block_on(raw.query(&read_all_sql, &[])).unwrap());
            let rate = events.len() as f64 / started.elapsed().as_secs_f64();
            assert_eq!(events.len(), all);
            black_box(events);
            progress(&format!("run {run} raw {rate:.0} ev/s"));
            rate
        },
    );
    out.push(Workload {
        id: "pg_read_all",
        name: "PostgreSQL read_all".into(),
        detail: format!("all {all} events, forward (evstore pages of 500; raw one query)"),
        unit: "events/s",
        better: Better::Higher,
        baseline_label: "raw tokio-postgres",
        evstore: e,
        baseline: r,
        target: throughput_target(0.5),
        note: None,
    });

    let reps = 20;
    eprintln!("postgres: read_stream of a {big}-event stream, {reps} times per run");
    let (e, r) = paired(
        config.runs,
        |run| {
            let started = Instant::now();
            for _ in 0..reps {
                let events = pg
                    .runtime
                    .block_on(store.read_stream("big-0", ReadStreamOptions::new()))
                    .unwrap();
                assert_eq!(events.len(), big);
                black_box(events);
            }
            let rate = (reps * big) as f64 / started.elapsed().as_secs_f64();
            progress(&format!("run {run} evstore {rate:.0} ev/s"));
            rate
        },
        |run| {
            let started = Instant::now();
            for _ in 0..reps {
                let rows = pg
                    .runtime
                    .block_on(raw.query(&read_stream_sql, &[&"big-0"]))
                    .unwrap();
                let events = raw_events(rows);
                assert_eq!(events.len(), big);
                black_box(events);
            }
            let rate = (reps * big) as f64 / started.elapsed().as_secs_f64();
            progress(&format!("run {run} raw {rate:.0} ev/s"));
            rate
        },
    );
    out.push(Workload {
        id: "pg_read_stream",
        name: "PostgreSQL read_stream".into(),
        detail: format!("a {big}-event stream in a store of {all} events"),
        unit: "events/s",
        better: Better::Higher,
        baseline_label: "raw tokio-postgres",
        evstore: e,
        baseline: r,
        target: throughput_target(0.5),
        note: None,
    });
    store.close();
}

/// Append here → subscriber in a second process (this binary, `EVSTORE_BENCH_CHILD=pg-…`),
/// woken by `LISTEN`.
fn cross_process(config: &Config, pg: &mut Pg, out: &mut Vec<Workload>) {
    let samples = config.count(200).max(20);
    eprintln!("postgres: live latency, second process: {samples} appends per run");
    let mut e = Vec::new();
    let mut r = Vec::new();
    for run in 0..config.runs {
        for kind in if run % 2 == 0 {
            ["evstore", "raw"]
        } else {
            ["raw", "evstore"]
        } {
            let schema = format!("b_cross_{kind}_{run}");
            let s = cross_process_run(pg, kind, &schema, samples);
            progress(&format!(
                "run {run} {kind} p50 {:.3} ms p99 {:.3} ms",
                percentile(&s, 50.0),
                percentile(&s, 99.0)
            ));
            if kind == "evstore" {
                e.push(s)
            } else {
                r.push(s)
            }
        }
    }
    for (p, id) in [
        (50.0, "pg_live_cross_process_p50"),
        (99.0, "pg_live_cross_process_p99"),
    ] {
        out.push(Workload {
            id,
            name: format!("PostgreSQL live latency second process, p{p:.0}"),
            detail: format!(
                "append in this process → subscriber in a second process, woken by LISTEN/NOTIFY \
                 (poll fallback 100 ms); {samples} samples per run, appends 2–6 ms apart"
            ),
            unit: "ms",
            better: Better::Lower,
            baseline_label: "raw NOTIFY → LISTEN + SELECT",
            evstore: e.iter().map(|s| percentile(s, p)).collect(),
            baseline: r.iter().map(|s| percentile(s, p)).collect(),
            target: (p == 50.0).then_some(Target {
                text: "p50 < 5 ms",
                on_ratio: false,
                better: Better::Lower,
                value: 5.0,
            }),
            note: None,
        });
    }
}

fn cross_process_run(pg: &Pg, kind: &str, schema: &str, samples: usize) -> Vec<f64> {
    let store = pg.store(schema, PostgresOptions::default());
    let raw = pg.raw(schema);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("EVSTORE_BENCH_CHILD", format!("pg-{kind}"))
        .env("EVSTORE_BENCH_PG", pg.server.connection_string())
        .env("EVSTORE_BENCH_SCHEMA", schema)
        .env("EVSTORE_BENCH_SAMPLES", samples.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the second process");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let mut lcg = 0x2545_f491_4f6c_dd1du64;
    pg.runtime.block_on(async {
        for _ in 0..samples {
            let data = latency_payload(wall_ns());
            if kind == "evstore" {
                store
                    .append(
                        "live-1",
                        ExpectedVersion::Any,
                        vec![NewEvent::new("Pinged", data)],
                    )
                    .await
                    .unwrap();
            } else {
                let batch = Batch {
                    stream: "live-1".into(),
                    events: vec![("Pinged", data)],
                };
                raw_append(&raw, &batch).await;
                raw.client
                    .batch_execute("NOTIFY raw_appended")
                    .await
                    .unwrap();
            }
            lcg = lcg
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let micros = 2_000 + (lcg >> 33) % 4_000;
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
    });
    let result = lines.next().unwrap().unwrap();
    child.wait().unwrap();
    store.close();
    let latencies: Vec<f64> = serde_json::from_str(&result).expect("latencies from the child");
    assert_eq!(latencies.len(), samples);
    latencies
}

/// The second process of [`cross_process`]: `pg-evstore` subscribes, `pg-raw` listens and
/// selects what is new; prints the latencies as JSON. `false` for a kind not of this group.
pub fn child(kind: &str) -> bool {
    if !kind.starts_with("pg-") {
        return false;
    }
    let url = std::env::var("EVSTORE_BENCH_PG").unwrap();
    let schema = std::env::var("EVSTORE_BENCH_SCHEMA").unwrap();
    let samples: usize = std::env::var("EVSTORE_BENCH_SAMPLES")
        .unwrap()
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut latencies = Vec::with_capacity(samples);
    let mut stdout = std::io::stdout();
    let mut record = |data: &Value| {
        let latency = wall_ns().saturating_sub(sent_ns(data));
        latencies.push(latency as f64 / 1e6);
    };
    runtime.block_on(async {
        match kind {
            "pg-evstore" => {
                let options = PostgresOptions::default().schema(schema.as_str());
                let store = EventStore::new(PostgresStorage::connect(url, options).await.unwrap());
                let mut subscription = store
                    .subscribe_all(SubscribeOptions::from_end())
                    .await
                    .unwrap();
                writeln!(stdout, "ready").unwrap();
                stdout.flush().unwrap();
                let mut seen = 0;
                while let Some(item) = subscription.next().await {
                    if let SubscriptionItem::Event(event) = item.unwrap() {
                        record(&event.data);
                        seen += 1;
                        if seen == samples {
                            break;
                        }
                    }
                }
            }
            "pg-raw" => {
                let config = format!("{url} options='-c search_path={schema}'");
                let (client, mut connection) =
                    tokio_postgres::connect(&config, NoTls).await.unwrap();
                let (wake_tx, mut wake_rx) = futures::channel::mpsc::unbounded();
                tokio::spawn(async move {
                    let mut messages =
                        futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = messages.next().await {
                        if let tokio_postgres::AsyncMessage::Notification(_) = message {
                            let _ = wake_tx.unbounded_send(());
                        }
                    }
                });
                client.batch_execute("LISTEN raw_appended").await.unwrap();
                let head: i64 = client
                    .query_one("SELECT position FROM head", &[])
                    .await
                    .unwrap()
                    .get(0);
                writeln!(stdout, "ready").unwrap();
                stdout.flush().unwrap();
                let select =
                    format!("{RAW_COLUMNS} WHERE position > $1 ORDER BY position LIMIT 500");
                let select = client.prepare(&select).await.unwrap();
                let mut position = head;
                let mut seen = 0;
                while seen < samples {
                    wake_rx.next().await.unwrap();
                    for event in raw_events(client.query(&select, &[&position]).await.unwrap()) {
                        position = event.position as i64;
                        record(&event.data);
                        seen += 1;
                    }
                }
            }
            other => panic!("unknown child kind {other}"),
        }
    });
    writeln!(stdout, "{}", serde_json::to_string(&latencies).unwrap()).unwrap();
    true
}
