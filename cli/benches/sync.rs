//! `cargo bench -p evstore-cli --bench sync` (run by `make bench`): evsync/1 against a real
//! `evstore serve` over SQLite on 127.0.0.1, each figure beside the server's own local work in
//! the same run.
//!
//! - **push**: 10,000 pending events (1,000 appends of 10, made offline) flushed by a SQLite
//!   client through `HttpTransport`, against the same 1,000 appends made directly on a SQLite
//!   store (the server's own batched append). Target: ≥ 0.5× its rate.
//! - **pull**: 100,000 events pulled into a fresh SQLite client, against `read_all` of the same
//!   events on the server's file. Target: ≥ 0.5× its rate. Beside it, the mirror writes alone:
//!   the same pages written into a fresh SQLite mirror with no server in between, the floor of
//!   any pull into SQLite (how much of a pull is protocol, and how much is the local insert).
//! - **A → B**: an append in client A until it arrives in client B's mirror subscription, both
//!   clients running their sync loops (long poll). Target: p50 < 50 ms.
//!
//! Each workload runs `BENCH_RUNS` times (default 3); figures are median [min–max], ratios are
//! taken run by run. `BENCH_SCALE` multiplies the event counts; `BENCH_ONLY` (a comma-separated
//! list of `push`, `pull`, `latency`) runs only those workloads.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evstore::storage::{SyncChange, SyncStorage};
use evstore::sync::{HttpTransport, SyncClient, SyncOptions};
use evstore::{
    EventStore, ExpectedVersion, NewEvent, ReadAllOptions, SqliteStorage, SubscribeOptions,
    SubscriptionItem,
};
use futures::StreamExt;
use serde_json::json;

/// `evstore serve` on a free port over `db`, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(db: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evstore"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn evstore serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .expect("evstore serve started")
            .to_owned();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scaled(count: usize) -> usize {
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((count as f64 * scale) as usize).max(10)
}

fn events(n: usize, from: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| {
            NewEvent::new(
                "Happened",
                json!({ "n": from + i, "text": "some payload of a typical size" }),
            )
        })
        .collect()
}

fn sqlite(path: &Path) -> EventStore<SqliteStorage> {
    EventStore::new(SqliteStorage::open(path).expect("open SQLite"))
}

async fn client(
    path: &Path,
    url: &str,
    options: SyncOptions,
) -> SyncClient<SqliteStorage, HttpTransport> {
    SyncClient::builder(sqlite(path), HttpTransport::new(url, None))
        .options(options)
        .open()
        .await
        .expect("open sync client")
}

/// Seconds: (client, server-local).
async fn push_run(dir: &Path, run: usize, batches: usize) -> (f64, f64) {
    let per_batch = 10;
    let server_db = dir.join(format!("push-server-{run}.db"));
    let server = Server::start(&server_db);
    let client = client(
        &dir.join(format!("push-client-{run}.db")),
        &server.url,
        SyncOptions {
            push_batches: 100,
            pull_limit: 1000,
            ..SyncOptions::default()
        },
    )
    .await;
    for b in 0..batches {
        client
            .append(
                &format!("s-{}", b % 100),
                ExpectedVersion::Any,
                events(per_batch, b * per_batch),
            )
            .await
            .unwrap();
    }
    let local = sqlite(&dir.join(format!("push-local-{run}.db")));
    // Interleaved: the client first on even runs, the local appends first on odd ones.
    let (mut client_s, mut local_s) = (0.0, 0.0);
    for client_first in [run.is_multiple_of(2), !run.is_multiple_of(2)] {
        if client_first {
            let started = Instant::now();
            client.flush().await.expect("flush");
            client_s = started.elapsed().as_secs_f64();
        } else {
            let started = Instant::now();
            for b in 0..batches {
                local
                    .append(
                        &format!("s-{}", b % 100),
                        ExpectedVersion::Any,
                        events(per_batch, b * per_batch),
                    )
                    .await
                    .unwrap();
            }
            local_s = started.elapsed().as_secs_f64();
        }
    }
    assert_eq!(client.status().pending, 0);
    (client_s, local_s)
}

/// Seconds: (client, server-local read, the mirror writes alone).
async fn pull_run(
    dir: &Path,
    server_db: &Path,
    url: &str,
    run: usize,
    total: usize,
) -> (f64, f64, f64) {
    let client = client(
        &dir.join(format!("pull-client-{run}.db")),
        url,
        SyncOptions {
            pull_limit: 1000,
            ..SyncOptions::default()
        },
    )
    .await;
    let local = sqlite(server_db);
    let (mut client_s, mut local_s) = (0.0, 0.0);
    let mut read = Vec::new();
    for client_first in [run.is_multiple_of(2), !run.is_multiple_of(2)] {
        if client_first {
            let started = Instant::now();
            client.flush().await.expect("pull");
            client_s = started.elapsed().as_secs_f64();
        } else {
            let started = Instant::now();
            read = local.read_all(ReadAllOptions::new()).await.unwrap();
            local_s = started.elapsed().as_secs_f64();
            assert_eq!(read.len(), total);
        }
    }
    assert_eq!(client.mirror().head().await.unwrap(), total as u64);

    // The floor of any pull into SQLite: the same pages written into a fresh mirror with no
    // server, network or JSON in between.
    let floor = SqliteStorage::open(dir.join(format!("pull-floor-{run}.db"))).unwrap();
    let started = Instant::now();
    let mut events = read.into_iter().peekable();
    while events.peek().is_some() {
        let page = SyncChange {
            events: events.by_ref().take(1000).collect(),
            ..SyncChange::default()
        };
        floor.apply_sync(page).await.expect("mirror write");
    }
    let floor_s = started.elapsed().as_secs_f64();
    (client_s, local_s, floor_s)
}

/// Milliseconds from an append in A to its arrival in B's mirror, `samples` times.
async fn latency_run(dir: &Path, run: usize, samples: usize) -> Vec<f64> {
    let server = Server::start(&dir.join(format!("latency-server-{run}.db")));
    let options = SyncOptions {
        long_poll: Duration::from_secs(10),
        ..SyncOptions::default()
    };
    let a = client(
        &dir.join(format!("latency-a-{run}.db")),
        &server.url,
        options.clone(),
    )
    .await;
    let b = client(
        &dir.join(format!("latency-b-{run}.db")),
        &server.url,
        options,
    )
    .await;
    let loops = [tokio::spawn(a.clone().run()), tokio::spawn(b.clone().run())];
    let mut arrivals = b
        .mirror()
        .subscribe_all(SubscribeOptions::from_end())
        .await
        .unwrap();
    let mut out = Vec::with_capacity(samples);
    for n in 0..samples {
        let started = Instant::now();
        a.append("chat-1", ExpectedVersion::Any, events(1, n))
            .await
            .unwrap();
        loop {
            match arrivals.next().await {
                Some(Ok(SubscriptionItem::Event(event))) if event.data["n"] == n => break,
                Some(Ok(_)) => continue,
                other => panic!("the subscription ended: {other:?}"),
            }
        }
        out.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    a.stop();
    b.stop();
    for running in loops {
        running.await.unwrap();
    }
    out
}

fn summary(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Prints one table row: a client rate beside a server-local rate and their ratio.
fn row(name: &str, client: &mut [f64], local: &mut [f64], ratio: &mut [f64]) {
    let (c, c0, c1) = summary(client);
    let (l, l0, l1) = summary(local);
    let (r, r0, r1) = summary(ratio);
    let met = if r >= 0.5 { "met" } else { "not met" };
    println!(
        "| {name} | {c:.0} [{c0:.0}–{c1:.0}] events/s | {l:.0} [{l0:.0}–{l1:.0}] events/s | {r:.2} [{r0:.2}–{r1:.2}] | ≥ 0.5: {met} |"
    );
}

async fn push_bench(dir: &Path, runs: usize, batches: usize) {
    let (mut ratio, mut client, mut local) = (vec![], vec![], vec![]);
    for run in 0..runs {
        let (client_s, local_s) = push_run(dir, run, batches).await;
        let events = (batches * 10) as f64;
        client.push(events / client_s);
        local.push(events / local_s);
        ratio.push(local_s / client_s);
    }
    row(
        &format!("push {} pending events", batches * 10),
        &mut client,
        &mut local,
        &mut ratio,
    );
}

async fn pull_bench(dir: &Path, runs: usize, total: usize) {
    let server_db = dir.join("pull-server.db");
    {
        let seed = sqlite(&server_db);
        for b in 0..total / 100 {
            seed.append(
                &format!("s-{}", b % 100),
                ExpectedVersion::Any,
                events(100, b * 100),
            )
            .await
            .unwrap();
        }
    }
    let server = Server::start(&server_db);
    let (mut ratio, mut client, mut local) = (vec![], vec![], vec![]);
    let (mut floor_ratio, mut floor_rate) = (vec![], vec![]);
    for run in 0..runs {
        let (client_s, local_s, floor_s) = pull_run(dir, &server_db, &server.url, run, total).await;
        client.push(total as f64 / client_s);
        local.push(total as f64 / local_s);
        ratio.push(local_s / client_s);
        floor_rate.push(total as f64 / floor_s);
        floor_ratio.push(floor_s / client_s);
    }
    drop(server);
    row(
        &format!("pull {total} events to a fresh client"),
        &mut client,
        &mut local,
        &mut ratio,
    );
    let (f, f0, f1) = summary(&mut floor_rate);
    let (r, r0, r1) = summary(&mut floor_ratio);
    println!(
        "| pull, beside the mirror writes alone (the same pages into a fresh SQLite mirror, no server) | | {f:.0} [{f0:.0}–{f1:.0}] events/s | {r:.2} [{r0:.2}–{r1:.2}] | (the floor of any pull: no target) |"
    );
}

async fn latency_bench(dir: &Path, runs: usize, samples: usize) {
    let (mut p50s, mut p99s) = (vec![], vec![]);
    for run in 0..runs {
        let mut ms = latency_run(dir, run, samples).await;
        ms.sort_by(f64::total_cmp);
        p50s.push(percentile(&ms, 0.5));
        p99s.push(percentile(&ms, 0.99));
    }
    let (p50, p50_0, p50_1) = summary(&mut p50s);
    let (p99, p99_0, p99_1) = summary(&mut p99s);
    let met = if p50 < 50.0 { "met" } else { "not met" };
    println!(
        "| A → B latency ({samples} appends) | p50 {p50:.1} [{p50_0:.1}–{p50_1:.1}] ms, p99 {p99:.1} [{p99_0:.1}–{p99_1:.1}] ms | | | p50 < 50 ms: {met} |"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing to act on.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let selected = |name: &str| only.is_empty() || only.split(',').any(|o| o.trim() == name);
    let dir = tempfile::tempdir().unwrap();
    let (batches, total, samples) = (scaled(1_000), scaled(100_000), scaled(200));

    println!("evsync/1 against evstore serve (SQLite, 127.0.0.1), {runs} runs: median [min–max]");
    println!("| workload | client | server-local | ratio | target |");
    println!("| --- | --- | --- | --- | --- |");
    if selected("push") {
        push_bench(dir.path(), runs, batches).await;
    }
    if selected("pull") {
        pull_bench(dir.path(), runs, total).await;
    }
    if selected("latency") {
        latency_bench(dir.path(), runs, samples).await;
    }
}
