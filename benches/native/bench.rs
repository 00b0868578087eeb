//! Native benchmarks (`make bench`, `scripts/bench-native.sh`): every workload of issue 5 §1,
//! measured for evstore over SQLite **and** for a raw rusqlite baseline doing the same work on
//! the same schema in the same run, several runs each, interleaved.
//!
//! The baseline is what a minimal hand-written event store on rusqlite does: the same table and
//! indexes, WAL, `synchronous=NORMAL`, cached prepared statements, the same rows (UUIDv7 ids,
//! JSON text of the same payloads), the same transaction sizes, the stream's version read inside
//! the write transaction; reads return the same owned events with `data`/`metadata` parsed into
//! `serde_json::Value`. What evstore does beyond that (input validation, idempotency lookups,
//! paging, subscriptions, checkpoints) is what the ratios measure.
//!
//! Environment:
//! - `BENCH_RUNS` (default 5): runs per workload;
//! - `BENCH_SCALE` (default 1): multiplies every event count (e.g. 0.1 for a quick look);
//! - `BENCH_ONLY`: comma-separated workload groups to run (`append,single,read,catchup,live,
//!   cross,cross-default,projector,growth,writers,readers,idle,postgres`); `postgres` needs
//!   feature `postgres` and writes the `postgres` section of the results (see `postgres.rs`);
//! - `BENCH_OUT` (default `bench/results.json`): where the results go (the `native` section is
//!   replaced, any other section is kept);
//! - `BENCH_TMP`: where the databases are created (default: the system temp dir).
//!
//! With `EVSTORE_BENCH_CHILD` set, the binary is the second process of the cross-process
//! latency workload instead. Without `--bench` (which `cargo bench` passes) it does nothing, so
//! `cargo test --all-targets` does not run the benchmarks.

// The `postgres` group needs feature `postgres` (scripts/bench-native.sh enables it).
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(not(feature = "postgres"))]
#[path = "postgres_disabled.rs"]
mod postgres;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use evstore::{
    EventStore, ExpectedVersion, NewEvent, ProjectionOptions, Projector, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, SqliteStorage, StoreOptions, SubscribeOptions,
    SubscriptionItem,
};
use futures::executor::block_on;
use futures::StreamExt;
use rusqlite::{params, Connection, TransactionBehavior};
use serde_json::{json, Value};

#[path = "concurrent.rs"]
mod concurrent;
#[path = "idle.rs"]
mod idle;

// ---------------------------------------------------------------------------------------------
// Configuration

struct Config {
    runs: usize,
    scale: f64,
    only: Option<Vec<String>>,
    out: PathBuf,
    tmp: PathBuf,
}

impl Config {
    fn from_env() -> Self {
        let runs = env_parse("BENCH_RUNS", 5usize).max(1);
        let scale = env_parse("BENCH_SCALE", 1.0f64);
        let only = std::env::var("BENCH_ONLY")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.split(',').map(|w| w.trim().to_owned()).collect());
        let out = std::env::var("BENCH_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results.json"));
        let tmp = std::env::var("BENCH_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        Config {
            runs,
            scale,
            only,
            out,
            tmp,
        }
    }

    fn count(&self, n: usize) -> usize {
        ((n as f64 * self.scale).round() as usize).max(1)
    }

    fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|g| g == group))
    }
}

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// The events

const EVENT_TYPES: [&str; 4] = ["Deposited", "Withdrawn", "Transferred", "Noted"];
const STREAMS: usize = 1000;
const MEMO: &str =
    "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
                    incididunt ut labore et dolore magna aliqua";

fn stream_name(i: usize) -> String {
    format!("account-{i}")
}

/// A ~200-byte JSON payload.
fn payload(seq: u64, stream: &str) -> Value {
    json!({
        "account": stream,
        "seq": seq,
        "amount": (seq * 7919) % 100_000,
        "currency": "EUR",
        "memo": MEMO,
    })
}

/// The size of a typical payload's JSON text.
fn payload_bytes() -> usize {
    serde_json::to_string(&payload(12345, &stream_name(123)))
        .unwrap()
        .len()
}

fn event_type(seq: u64) -> &'static str {
    EVENT_TYPES[(seq % EVENT_TYPES.len() as u64) as usize]
}

/// One append's worth of input, built before the clock starts, for both sides.
struct Batch {
    stream: String,
    events: Vec<(&'static str, Value)>,
}

impl Batch {
    fn to_new_events(&self) -> Vec<NewEvent> {
        self.events
            .iter()
            .map(|(t, data)| NewEvent::new(*t, data.clone()))
            .collect()
    }
}

/// `total` events in batches of `per_batch`, batch `i` going to stream `i % streams`.
fn batches(total: usize, per_batch: usize, streams: usize, prefix: &str) -> Vec<Batch> {
    let mut seq = 0u64;
    (0..total.div_ceil(per_batch))
        .map(|i| {
            let stream = format!("{prefix}-{}", i % streams);
            let n = per_batch.min(total - i * per_batch);
            let events = (0..n)
                .map(|_| {
                    seq += 1;
                    (event_type(seq), payload(seq, &stream))
                })
                .collect();
            Batch { stream, events }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Clocks

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since this process's epoch (same-process latency).
fn mono_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Nanoseconds since the Unix epoch (cross-process latency: both processes read the same clock).
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn now_millis() -> i64 {
    (wall_ns() / 1_000_000) as i64
}

// ---------------------------------------------------------------------------------------------
// The raw rusqlite baseline

/// The same schema evstore's first migration creates.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (
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
     CREATE INDEX IF NOT EXISTS events_by_category ON events (category, position);
     CREATE INDEX IF NOT EXISTS events_by_type ON events (event_type, position);
     CREATE TABLE IF NOT EXISTS checkpoints (
         name     TEXT    PRIMARY KEY,
         position INTEGER NOT NULL,
         skipped  TEXT    NOT NULL
     );";

const SELECT_COLUMNS: &str = "SELECT position, id, stream_id, version, event_type, data, \
                              metadata, recorded_at, correlation_id, causation_id FROM events";

/// What a raw read returns: the same owned event, JSON parsed.
#[allow(dead_code)] // the fields are the point: they are built, then black-boxed
struct RawEvent {
    position: i64,
    id: String,
    stream_id: String,
    version: i64,
    event_type: String,
    data: Value,
    metadata: Value,
    recorded_at: i64,
    correlation_id: Option<String>,
    causation_id: Option<String>,
}

fn raw_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
    let data: String = row.get(5)?;
    let metadata: String = row.get(6)?;
    Ok(RawEvent {
        position: row.get(0)?,
        id: row.get(1)?,
        stream_id: row.get(2)?,
        version: row.get(3)?,
        event_type: row.get(4)?,
        data: serde_json::from_str(&data).expect("stored JSON"),
        metadata: serde_json::from_str(&metadata).expect("stored JSON"),
        recorded_at: row.get(7)?,
        correlation_id: row.get(8)?,
        causation_id: row.get(9)?,
    })
}

struct Raw {
    conn: Connection,
}

impl Raw {
    fn open(path: &Path) -> Raw {
        let conn = Connection::open(path).expect("open raw database");
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.set_prepared_statement_cache_capacity(64);
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        Raw { conn }
    }

    /// One append: the stream's version read and the rows inserted in one `BEGIN IMMEDIATE`.
    fn append(&mut self, batch: &Batch) -> i64 {
        let category = batch
            .stream
            .split_once('-')
            .map_or(batch.stream.as_str(), |(c, _)| c);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let current: i64 = tx
            .prepare_cached("SELECT max(version) FROM events WHERE stream_id = ?1")
            .unwrap()
            .query_row([&batch.stream], |r| r.get::<_, Option<i64>>(0))
            .unwrap()
            .unwrap_or(0);
        let recorded_at = now_millis();
        let mut position = 0;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (id, stream_id, version, category, event_type, data, \
                     metadata, recorded_at, correlation_id, causation_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .unwrap();
            for (offset, (event_type, data)) in batch.events.iter().enumerate() {
                let id = uuid::Uuid::now_v7().hyphenated().to_string();
                let data = serde_json::to_string(data).unwrap();
                insert
                    .execute(params![
                        id,
                        batch.stream,
                        current + 1 + offset as i64,
                        category,
                        event_type,
                        data,
                        "{}",
                        recorded_at,
                        None::<String>,
                        None::<String>,
                    ])
                    .unwrap();
                position = tx.last_insert_rowid();
            }
        }
        tx.commit().unwrap();
        position
    }

    fn read_all(&self) -> Vec<RawEvent> {
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "{SELECT_COLUMNS} WHERE position > ?1 ORDER BY position"
            ))
            .unwrap();
        let rows = statement.query_map([0], raw_row).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn read_after(&self, position: i64, limit: i64) -> Vec<RawEvent> {
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "{SELECT_COLUMNS} WHERE position > ?1 ORDER BY position LIMIT ?2"
            ))
            .unwrap();
        let rows = statement.query_map([position, limit], raw_row).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn read_stream(&self, stream: &str) -> Vec<RawEvent> {
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "{SELECT_COLUMNS} WHERE stream_id = ?1 AND version >= 1 ORDER BY version"
            ))
            .unwrap();
        let rows = statement.query_map([stream], raw_row).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn save_checkpoint(&self, name: &str, position: i64) {
        self.conn
            .prepare_cached(
                "INSERT INTO checkpoints (name, position, skipped) VALUES (?1, ?2, '[]') \
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            )
            .unwrap()
            .execute(params![name, position])
            .unwrap();
    }

    fn data_version(&self) -> i64 {
        self.conn
            .prepare_cached("PRAGMA data_version")
            .unwrap()
            .query_row([], |r| r.get(0))
            .unwrap()
    }

    fn head(&self) -> i64 {
        self.conn
            .query_row("SELECT max(position) FROM events", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .unwrap()
            .unwrap_or(0)
    }
}

type Store = EventStore<SqliteStorage>;

fn open_store(path: &Path) -> Store {
    EventStore::new(SqliteStorage::open(path).expect("open evstore database"))
}

fn open_store_polling(path: &Path, poll: Duration) -> Store {
    EventStore::with_options(
        SqliteStorage::open(path).expect("open evstore database"),
        StoreOptions {
            poll_interval: poll,
            ..StoreOptions::default()
        },
    )
}

fn evstore_append(store: &Store, batch: &Batch) -> u64 {
    append_prepared(store, &batch.stream, batch.to_new_events())
}

fn append_prepared(store: &Store, stream: &str, events: Vec<NewEvent>) -> u64 {
    block_on(store.append(stream, ExpectedVersion::Any, events))
        .expect("append")
        .position
}

/// The evstore input of `batches`, built before the clock starts (the raw side gets its input
/// ready-made too).
fn prepare(batches: &[Batch]) -> Vec<(&str, Vec<NewEvent>)> {
    batches
        .iter()
        .map(|b| (b.stream.as_str(), b.to_new_events()))
        .collect()
}

/// Fills a fresh evstore database with `total` events quickly (not measured): raw inserts in big
/// transactions with `synchronous=OFF`, version numbers tracked in memory, streams round-robin.
fn fill(path: &Path, total: usize, prefix: &str) {
    drop(SqliteStorage::open(path).expect("create evstore database"));
    let mut conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "synchronous", "OFF").unwrap();
    conn.pragma_update(None, "cache_size", -65536).unwrap();
    let mut versions = vec![0i64; STREAMS];
    let recorded_at = now_millis();
    let mut seq = 0u64;
    while (seq as usize) < total {
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (id, stream_id, version, category, event_type, data, \
                     metadata, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '{}', ?7)",
                )
                .unwrap();
            for _ in 0..10_000.min(total - seq as usize) {
                seq += 1;
                let s = (seq as usize) % STREAMS;
                versions[s] += 1;
                let stream = format!("{prefix}-{s}");
                let category = prefix;
                let data = serde_json::to_string(&payload(seq, &stream)).unwrap();
                insert
                    .execute(params![
                        uuid::Uuid::now_v7().hyphenated().to_string(),
                        stream,
                        versions[s],
                        category,
                        event_type(seq),
                        data,
                        recorded_at,
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Results

#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}

struct Target {
    text: &'static str,
    /// `true`: the target is on the ratio; `false`: on the evstore figure.
    on_ratio: bool,
    better: Better,
    value: f64,
}

struct Workload {
    id: &'static str,
    name: String,
    detail: String,
    unit: &'static str,
    better: Better,
    baseline_label: &'static str,
    evstore: Vec<f64>,
    baseline: Vec<f64>,
    target: Option<Target>,
    note: Option<String>,
}

impl Workload {
    fn ratios(&self) -> Vec<f64> {
        self.evstore
            .iter()
            .zip(&self.baseline)
            .map(|(e, b)| if *b == 0.0 { f64::NAN } else { e / b })
            .collect()
    }

    fn met(&self) -> Option<bool> {
        let target = self.target.as_ref()?;
        let value = if target.on_ratio {
            median(&self.ratios())
        } else {
            median(&self.evstore)
        };
        Some(match target.better {
            Better::Higher => value >= target.value,
            Better::Lower => value <= target.value,
        })
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn stats_json(values: &[f64]) -> Value {
    json!({
        "median": round(median(values)),
        "min": round(min(values)),
        "max": round(max(values)),
        "runs": values.iter().map(|v| round(*v)).collect::<Vec<_>>(),
    })
}

fn round(v: f64) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    let digits = if v.abs() >= 100.0 { 1 } else { 4 };
    let factor = 10f64.powi(digits);
    json!((v * factor).round() / factor)
}

fn fmt_figure(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 10_000.0 {
        let n = v.round() as u64;
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_stats(values: &[f64]) -> String {
    format!(
        "{} [{}–{}]",
        fmt_figure(median(values)),
        fmt_figure(min(values)),
        fmt_figure(max(values))
    )
}

fn print_table(workloads: &[Workload]) {
    let header = [
        "workload",
        "unit",
        "evstore median [min–max]",
        "baseline median [min–max]",
        "ratio",
        "target",
    ];
    let rows: Vec<[String; 6]> = workloads
        .iter()
        .map(|w| {
            let ratios = w.ratios();
            let target = match (&w.target, w.met()) {
                (Some(t), Some(met)) => {
                    format!("{} {}", t.text, if met { "met" } else { "NOT met" })
                }
                _ => String::new(),
            };
            [
                w.name.clone(),
                w.unit.to_owned(),
                fmt_stats(&w.evstore),
                format!("{} ({})", fmt_stats(&w.baseline), w.baseline_label),
                format!(
                    "{:.2} [{:.2}–{:.2}]",
                    median(&ratios),
                    min(&ratios),
                    max(&ratios)
                ),
                target,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    println!();
    line(header.to_vec());
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    println!();
}

fn machine_info(config: &Config) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| std::env::consts::OS.to_owned());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let payload_bytes = payload_bytes();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_gb": memory_gb,
        "os": format!("{} {kernel}", std::env::consts::OS),
        "load_average_at_start": load,
        "rustc": rustc,
        "sqlite": rusqlite::version(),
        "profile": "release (lto, codegen-units = 1)",
        "runs": config.runs,
        "scale": config.scale,
        "payload_bytes": payload_bytes,
        "tmp_dir": config.tmp.display().to_string(),
    })
}

fn iso_now() -> String {
    let secs = (wall_ns() / 1_000_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Replaces section `key` of the results file (unless no workload of it ran).
fn write_results(config: &Config, key: &str, machine: Value, workloads: &[Workload], seconds: f64) {
    if workloads.is_empty() {
        return;
    }
    let section = json!({
        "generated_at": iso_now(),
        "command": "make bench (scripts/bench-native.sh)",
        "total_seconds": (seconds * 10.0).round() / 10.0,
        "machine": machine,
        "workloads": workloads.iter().map(|w| {
            json!({
                "id": w.id,
                "name": w.name,
                "detail": w.detail,
                "unit": w.unit,
                "better": match w.better { Better::Higher => "higher", Better::Lower => "lower" },
                "evstore": stats_json(&w.evstore),
                "baseline": { "label": w.baseline_label, "stats": stats_json(&w.baseline) },
                "ratio": stats_json(&w.ratios()),
                "target": w.target.as_ref().map(|t| json!({
                    "text": t.text,
                    "on": if t.on_ratio { "ratio" } else { "evstore" },
                    "better": match t.better { Better::Higher => "higher", Better::Lower => "lower" },
                    "value": t.value,
                    "met": w.met(),
                })),
                "note": w.note,
            })
        }).collect::<Vec<_>>(),
    });
    let mut all: Value = std::fs::read_to_string(&config.out)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    all[key] = section;
    if let Some(dir) = config.out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut text = serde_json::to_string_pretty(&all).unwrap();
    text.push('\n');
    std::fs::write(&config.out, text).unwrap();
    println!("wrote {}", config.out.display());
}

/// Runs `evstore` and `raw` once per run, alternating which goes first.
fn paired(
    runs: usize,
    mut evstore: impl FnMut(usize) -> f64,
    mut raw: impl FnMut(usize) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let (mut e, mut r) = (Vec::new(), Vec::new());
    for run in 0..runs {
        if run % 2 == 0 {
            e.push(evstore(run));
            r.push(raw(run));
        } else {
            r.push(raw(run));
            e.push(evstore(run));
        }
    }
    (e, r)
}

fn progress(what: &str) {
    eprintln!("  · {what}");
}

// ---------------------------------------------------------------------------------------------
// Workloads

struct Bench {
    config: Config,
    dir: tempfile::TempDir,
    workloads: Vec<Workload>,
    /// A database holding the read fixture, built once.
    read_fixture: Option<(PathBuf, usize)>,
}

impl Bench {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn fresh(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        path
    }

    fn batched_append(&mut self) {
        let total = self.config.count(100_000);
        let per = 100.min(total);
        eprintln!("batched append: {total} events, {per} per append, {STREAMS} streams");
        let input = batches(total, per, STREAMS, "account");
        let (e, r) = paired(
            self.config.runs,
            |run| {
                let store = open_store(&self.fresh(&format!("append-e-{run}.db")));
                let prepared = prepare(&input);
                let started = Instant::now();
                for (stream, events) in prepared {
                    append_prepared(&store, stream, events);
                }
                let eps = total as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} evstore {eps:.0} ev/s"));
                eps
            },
            |run| {
                let mut raw = Raw::open(&self.fresh(&format!("append-r-{run}.db")));
                let started = Instant::now();
                for batch in &input {
                    raw.append(batch);
                }
                let eps = total as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} raw {eps:.0} ev/s"));
                eps
            },
        );
        self.workloads.push(Workload {
            id: "batched_append",
            name: "batched append".into(),
            detail: format!(
                "{total} events, {per} per append, {STREAMS} streams, {} B JSON payloads",
                payload_bytes()
            ),
            unit: "events/s",
            better: Better::Higher,
            baseline_label: "raw rusqlite",
            evstore: e,
            baseline: r,
            target: Some(Target {
                text: "≥ 0.7× raw",
                on_ratio: true,
                better: Better::Higher,
                value: 0.7,
            }),
            note: None,
        });
    }

    fn single_append(&mut self) {
        let total = self.config.count(10_000);
        eprintln!("single-event appends: {total}, one per append");
        let input = batches(total, 1, STREAMS, "account");
        let (e, r) = paired(
            self.config.runs,
            |run| {
                let store = open_store(&self.fresh(&format!("single-e-{run}.db")));
                let prepared = prepare(&input);
                let started = Instant::now();
                for (stream, events) in prepared {
                    append_prepared(&store, stream, events);
                }
                let eps = total as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} evstore {eps:.0} appends/s"));
                eps
            },
            |run| {
                let mut raw = Raw::open(&self.fresh(&format!("single-r-{run}.db")));
                let started = Instant::now();
                for batch in &input {
                    raw.append(batch);
                }
                let eps = total as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} raw {eps:.0} appends/s"));
                eps
            },
        );
        self.workloads.push(Workload {
            id: "single_append",
            name: "single-event appends".into(),
            detail: format!("{total} appends of one event, {STREAMS} streams"),
            unit: "appends/s",
            better: Better::Higher,
            baseline_label: "raw rusqlite",
            evstore: e,
            baseline: r,
            target: Some(Target {
                text: "≥ 0.8× raw",
                on_ratio: true,
                better: Better::Higher,
                value: 0.8,
            }),
            note: None,
        });
    }

    /// The read fixture: `total` events in batches of 100 over 1,000 streams, plus one stream of
    /// 1,000 events (`big-1`), appended through evstore.
    fn read_fixture(&mut self) -> (PathBuf, usize) {
        if let Some(fixture) = &self.read_fixture {
            return fixture.clone();
        }
        let total = self.config.count(100_000);
        let big = self.config.count(1_000);
        eprintln!("building the read fixture: {total} events + a stream of {big}");
        let path = self.fresh("read-fixture.db");
        let store = open_store(&path);
        for batch in batches(total, 100, STREAMS, "account") {
            evstore_append(&store, &batch);
        }
        for batch in batches(big, 100, 1, "big") {
            evstore_append(&store, &batch);
        }
        store.close();
        let fixture = (path, total + big);
        self.read_fixture = Some(fixture.clone());
        fixture
    }

    fn reads(&mut self) {
        let (path, total) = self.read_fixture();
        let big = self.config.count(1_000);
        let store = open_store(&path);
        let raw = Raw::open(&path);
        // Warm both connections and the page cache.
        black_box(block_on(store.read_all(ReadAllOptions::new())).unwrap());
        black_box(raw.read_all());

        eprintln!("read_all of {total} events");
        let (e, r) = paired(
            self.config.runs,
            |run| {
                let started = Instant::now();
                let events = block_on(store.read_all(ReadAllOptions::new())).unwrap();
                let eps = events.len() as f64 / started.elapsed().as_secs_f64();
                assert_eq!(events.len(), total);
                black_box(events);
                progress(&format!("run {run} evstore {eps:.0} ev/s"));
                eps
            },
            |run| {
                let started = Instant::now();
                let events = raw.read_all();
                let eps = events.len() as f64 / started.elapsed().as_secs_f64();
                assert_eq!(events.len(), total);
                black_box(events);
                progress(&format!("run {run} raw {eps:.0} ev/s"));
                eps
            },
        );
        self.workloads.push(Workload {
            id: "read_all",
            name: "read_all".into(),
            detail: format!("all {total} events, forward (evstore pages of 500; raw one query)"),
            unit: "events/s",
            better: Better::Higher,
            baseline_label: "raw rusqlite",
            evstore: e,
            baseline: r,
            target: Some(Target {
                text: "≥ 0.5× raw",
                on_ratio: true,
                better: Better::Higher,
                value: 0.5,
            }),
            note: None,
        });

        let reps = 20;
        eprintln!("read_stream of a {big}-event stream, {reps} times per run");
        let (e, r) = paired(
            self.config.runs,
            |run| {
                let started = Instant::now();
                for _ in 0..reps {
                    let events =
                        block_on(store.read_stream("big-0", ReadStreamOptions::new())).unwrap();
                    assert_eq!(events.len(), big);
                    black_box(events);
                }
                let eps = (reps * big) as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} evstore {eps:.0} ev/s"));
                eps
            },
            |run| {
                let started = Instant::now();
                for _ in 0..reps {
                    let events = raw.read_stream("big-0");
                    assert_eq!(events.len(), big);
                    black_box(events);
                }
                let eps = (reps * big) as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} raw {eps:.0} ev/s"));
                eps
            },
        );
        self.workloads.push(Workload {
            id: "read_stream",
            name: "read_stream".into(),
            detail: format!("a {big}-event stream in a store of {total} events"),
            unit: "events/s",
            better: Better::Higher,
            baseline_label: "raw rusqlite",
            evstore: e,
            baseline: r,
            target: Some(Target {
                text: "≥ 0.5× raw",
                on_ratio: true,
                better: Better::Higher,
                value: 0.5,
            }),
            note: None,
        });
    }

    fn catch_up(&mut self) {
        let (path, total) = self.read_fixture();
        let store = open_store(&path);
        let raw = Raw::open(&path);
        black_box(block_on(store.read_all(ReadAllOptions::new())).unwrap());
        eprintln!("catch-up subscription over {total} events vs read_all");
        let mut vs_raw = Vec::new();
        let (e, r) = paired(
            self.config.runs,
            |run| {
                let started = Instant::now();
                let n = block_on(async {
                    let mut subscription = store
                        .subscribe_all(SubscribeOptions::from_start())
                        .await
                        .unwrap();
                    let mut n = 0;
                    while let Some(item) = subscription.next().await {
                        match item.unwrap() {
                            SubscriptionItem::Event(event) => {
                                black_box(event);
                                n += 1;
                            }
                            SubscriptionItem::CaughtUp => break,
                        }
                    }
                    n
                });
                assert_eq!(n, total);
                let eps = n as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} subscription {eps:.0} ev/s"));
                let started = Instant::now();
                black_box(raw.read_all());
                vs_raw.push(total as f64 / started.elapsed().as_secs_f64());
                eps
            },
            |run| {
                let started = Instant::now();
                let events = block_on(store.read_all(ReadAllOptions::new())).unwrap();
                let eps = events.len() as f64 / started.elapsed().as_secs_f64();
                black_box(events);
                progress(&format!("run {run} read_all {eps:.0} ev/s"));
                eps
            },
        );
        let raw_ratio = median(&e) / median(&vs_raw);
        self.workloads.push(Workload {
            id: "catch_up",
            name: "catch-up subscription".into(),
            detail: format!("subscribe_all from the start over {total} events, until CaughtUp"),
            unit: "events/s",
            better: Better::Higher,
            baseline_label: "evstore read_all",
            evstore: e,
            baseline: r,
            target: Some(Target {
                text: "≥ 0.5× read_all",
                on_ratio: true,
                better: Better::Higher,
                value: 0.5,
            }),
            note: Some(format!(
                "{raw_ratio:.2}× raw rusqlite read_all in the same runs"
            )),
        });
    }

    fn projector(&mut self) {
        let (path, total) = self.read_fixture();
        let store = open_store(&path);
        let raw = Raw::open(&path);
        black_box(block_on(store.read_all(ReadAllOptions::new())).unwrap());
        let batch = 100;
        eprintln!("projector: a no-op projection over {total} events, batches of {batch}");
        let head = block_on(store.head()).unwrap();
        let (e, r) = paired(
            self.config.runs,
            |run| {
                let name = format!("bench-{run}");
                let mut projector = Projector::new(store.clone());
                projector
                    .add(
                        &name,
                        ProjectionOptions {
                            batch_size: batch,
                            ..ProjectionOptions::default()
                        },
                        |events: Vec<RecordedEvent>| {
                            black_box(events);
                            async { Ok::<(), String>(()) }
                        },
                    )
                    .unwrap();
                let handle = projector.handle();
                let started = Instant::now();
                let mut elapsed = Duration::ZERO;
                block_on(async {
                    let stop = async {
                        loop {
                            if handle.status(&name).unwrap().checkpoint >= head {
                                elapsed = started.elapsed();
                                handle.stop();
                                return;
                            }
                            evstore::platform::sleep(Duration::from_micros(200)).await;
                        }
                    };
                    let (ran, ()) = futures::join!(projector.run(), stop);
                    ran.unwrap();
                });
                let eps = total as f64 / elapsed.as_secs_f64();
                progress(&format!("run {run} evstore {eps:.0} ev/s"));
                eps
            },
            |run| {
                let name = format!("raw-bench-{run}");
                let started = Instant::now();
                let mut position = 0;
                let mut n = 0;
                loop {
                    let events = raw.read_after(position, batch as i64);
                    let Some(last) = events.last() else { break };
                    position = last.position;
                    n += events.len();
                    black_box(events);
                    raw.save_checkpoint(&name, position);
                }
                assert_eq!(n, total);
                let eps = total as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} raw {eps:.0} ev/s"));
                eps
            },
        );
        self.workloads.push(Workload {
            id: "projector",
            name: "projector throughput".into(),
            detail: format!(
                "a no-op projection over {total} events, batches of {batch}, checkpoint saved per batch"
            ),
            unit: "events/s",
            better: Better::Higher,
            baseline_label: "raw read+checkpoint loop",
            evstore: e,
            baseline: r,
            target: None,
            note: None,
        });
    }

    fn live_same_process(&mut self) {
        let samples = self.config.count(1000).max(20);
        eprintln!("live latency, same process: {samples} appends per run");
        let (e, r): (Vec<Vec<f64>>, Vec<Vec<f64>>) = {
            let mut e = Vec::new();
            let mut r = Vec::new();
            for run in 0..self.config.runs {
                let evstore = || {
                    let path = self.fresh(&format!("live-e-{run}.db"));
                    let s = live_evstore_same_process(&path, samples);
                    progress(&format!(
                        "run {run} evstore p50 {:.3} ms p99 {:.3} ms",
                        percentile(&s, 50.0),
                        percentile(&s, 99.0)
                    ));
                    s
                };
                let raw = || {
                    let path = self.fresh(&format!("live-r-{run}.db"));
                    let s = live_raw_same_process(&path, samples);
                    progress(&format!(
                        "run {run} raw p50 {:.3} ms p99 {:.3} ms",
                        percentile(&s, 50.0),
                        percentile(&s, 99.0)
                    ));
                    s
                };
                if run % 2 == 0 {
                    e.push(evstore());
                    r.push(raw());
                } else {
                    r.push(raw());
                    e.push(evstore());
                }
            }
            (e, r)
        };
        for (p, id, target) in [
            (
                50.0,
                "live_same_process_p50",
                Some(Target {
                    text: "p50 < 1 ms",
                    on_ratio: false,
                    better: Better::Lower,
                    value: 1.0,
                }),
            ),
            (99.0, "live_same_process_p99", None),
        ] {
            self.workloads.push(Workload {
                id,
                name: format!("live latency same process p{p:.0}"),
                detail: format!(
                    "append of one event → subscriber thread receives it; {samples} samples per run"
                ),
                unit: "ms",
                better: Better::Lower,
                baseline_label: "raw commit + channel wake + SELECT",
                evstore: e.iter().map(|s| percentile(s, p)).collect(),
                baseline: r.iter().map(|s| percentile(s, p)).collect(),
                target,
                note: None,
            });
        }
    }

    fn live_cross_process(&mut self) {
        let samples = self.config.count(100).max(20);
        self.cross_process_rows(
            Duration::from_millis(10),
            samples,
            ["live_cross_process_p50", "live_cross_process_p99"],
        );
    }

    fn live_cross_process_default_poll(&mut self) {
        let samples = self.config.count(30).max(10);
        self.cross_process_rows(
            StoreOptions::default().poll_interval,
            samples,
            [
                "live_cross_process_default_p50",
                "live_cross_process_default_p99",
            ],
        );
    }

    fn cross_process_rows(&mut self, poll: Duration, samples: usize, ids: [&'static str; 2]) {
        let poll_ms = poll.as_millis();
        eprintln!(
            "live latency, second process: {samples} appends per run, poll interval {poll_ms} ms"
        );
        let mut e = Vec::new();
        let mut r = Vec::new();
        for run in 0..self.config.runs {
            let one = |kind: &str| {
                let path = self.fresh(&format!("cross-{kind}-{poll_ms}-{run}.db"));
                let s = live_cross_process(kind, &path, samples, poll);
                progress(&format!(
                    "run {run} {kind} p50 {:.3} ms p99 {:.3} ms",
                    percentile(&s, 50.0),
                    percentile(&s, 99.0)
                ));
                s
            };
            if run % 2 == 0 {
                e.push(one("evstore"));
                r.push(one("raw"));
            } else {
                r.push(one("raw"));
                e.push(one("evstore"));
            }
        }
        for (p, id) in [50.0, 99.0].into_iter().zip(ids) {
            self.workloads.push(Workload {
                id,
                name: format!("live latency second process, {poll_ms} ms poll, p{p:.0}"),
                detail: format!(
                    "append in this process → subscriber in a second process polling every \
                     {poll_ms} ms (evstore's default is 100 ms); {samples} samples per run, \
                     appends spaced 0.5–1.5 poll intervals apart"
                ),
                unit: "ms",
                better: Better::Lower,
                baseline_label: "raw data_version poll + SELECT",
                evstore: e.iter().map(|s| percentile(s, p)).collect(),
                baseline: r.iter().map(|s| percentile(s, p)).collect(),
                target: None,
                note: Some(
                    "evstore: its file watch, woken by the operating system's notification \
                     of the write, then PRAGMA data_version every 5 ms while writes go on (the \
                     poll interval only behind it); raw: bounded by its poll interval (expect \
                     p50 ≈ half the interval)"
                        .into(),
                ),
            });
        }
    }

    fn growth(&mut self) {
        let small = self.config.count(10_000);
        let large = self.config.count(1_000_000);
        let measured = 300;
        let warmup = 10;
        eprintln!(
            "append cost as the store grows: {measured} batches of 100 at {small} and at {large} events"
        );
        let base_small = self.fresh("growth-small-base.db");
        fill(&base_small, small, "account");
        let started = Instant::now();
        let large_path = self.fresh("growth-large.db");
        fill(&large_path, large, "account");
        eprintln!(
            "  filled {large} events in {:.1} s ({} MB)",
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&large_path).map_or(0, |m| m.len() / 1_000_000)
        );
        let input = batches((measured + warmup) * 100, 100, STREAMS, "account");
        let (warm, timed) = input.split_at(warmup);

        let copy_small = |name: &str| {
            let path = self.fresh(name);
            std::fs::copy(&base_small, &path).unwrap();
            path
        };
        let time_evstore = |path: &Path| {
            let store = open_store(path);
            for batch in warm {
                evstore_append(&store, batch);
            }
            let prepared = prepare(timed);
            let started = Instant::now();
            for (stream, events) in prepared {
                append_prepared(&store, stream, events);
            }
            started.elapsed().as_secs_f64() * 1000.0 / timed.len() as f64
        };
        let time_raw = |path: &Path| {
            let mut raw = Raw::open(path);
            for batch in warm {
                raw.append(batch);
            }
            let started = Instant::now();
            for batch in timed {
                raw.append(batch);
            }
            started.elapsed().as_secs_f64() * 1000.0 / timed.len() as f64
        };
        let (mut es, mut el, mut rs, mut rl) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for run in 0..self.config.runs {
            let mut evstore = || {
                let s = time_evstore(&copy_small(&format!("growth-small-e-{run}.db")));
                let l = time_evstore(&large_path);
                progress(&format!(
                    "run {run} evstore {s:.3} ms/batch at {small}, {l:.3} at {large}"
                ));
                es.push(s);
                el.push(l);
            };
            let mut raw = || {
                let s = time_raw(&copy_small(&format!("growth-small-r-{run}.db")));
                let l = time_raw(&large_path);
                progress(&format!(
                    "run {run} raw {s:.3} ms/batch at {small}, {l:.3} at {large}"
                ));
                rs.push(s);
                rl.push(l);
            };
            if run % 2 == 0 {
                evstore();
                raw();
            } else {
                raw();
                evstore();
            }
        }
        let growth = |l: &[f64], s: &[f64]| l.iter().zip(s).map(|(l, s)| l / s).collect();
        let (eg, rg) = (growth(&el, &es), growth(&rl, &rs));
        let detail = |n: usize| {
            format!("time per 100-event append to a store of {n} events ({measured} appends, {warmup} warm-up)")
        };
        self.workloads.push(Workload {
            id: "append_at_small",
            name: format!("append batch @{}", human(small)),
            detail: detail(small),
            unit: "ms/batch",
            better: Better::Lower,
            baseline_label: "raw rusqlite",
            evstore: es,
            baseline: rs,
            target: None,
            note: None,
        });
        self.workloads.push(Workload {
            id: "append_at_large",
            name: format!("append batch @{}", human(large)),
            detail: detail(large),
            unit: "ms/batch",
            better: Better::Lower,
            baseline_label: "raw rusqlite",
            evstore: el,
            baseline: rl,
            target: None,
            note: None,
        });
        self.workloads.push(Workload {
            id: "append_growth",
            name: format!("append cost {} vs {}", human(large), human(small)),
            detail: "per-batch time at the large store ÷ at the small store (same run)".into(),
            unit: "×",
            better: Better::Lower,
            baseline_label: "raw rusqlite growth",
            evstore: eg,
            baseline: rg,
            target: Some(Target {
                text: "≤ 1.3×",
                on_ratio: false,
                better: Better::Lower,
                value: 1.3,
            }),
            note: None,
        });
    }
}

fn human(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn latency_payload(sent_ns: u64) -> Value {
    json!({ "sent_ns": sent_ns, "memo": MEMO, "currency": "EUR", "amount": 42 })
}

fn sent_ns(data: &Value) -> u64 {
    data["sent_ns"].as_u64().expect("sent_ns")
}

/// Append → subscriber in another thread of this process, through evstore.
fn live_evstore_same_process(path: &Path, samples: usize) -> Vec<f64> {
    let store = open_store(path);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (ack_tx, ack_rx) = mpsc::channel::<f64>();
    let subscriber = {
        let store = store.clone();
        std::thread::spawn(move || {
            block_on(async move {
                let mut subscription = store
                    .subscribe_all(SubscribeOptions::from_end())
                    .await
                    .unwrap();
                ready_tx.send(()).unwrap();
                let mut seen = 0;
                while let Some(item) = subscription.next().await {
                    if let SubscriptionItem::Event(event) = item.unwrap() {
                        let latency = mono_ns() - sent_ns(&event.data);
                        ack_tx.send(latency as f64 / 1e6).unwrap();
                        seen += 1;
                        if seen == samples {
                            break;
                        }
                    }
                }
            })
        })
    };
    ready_rx.recv().unwrap();
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let sent = mono_ns();
        block_on(store.append(
            "live-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("Pinged", latency_payload(sent))],
        ))
        .unwrap();
        latencies.push(ack_rx.recv().unwrap());
    }
    subscriber.join().unwrap();
    store.close();
    latencies
}

/// The raw equivalent: commit, wake a reader thread through a channel, it SELECTs what is new.
fn live_raw_same_process(path: &Path, samples: usize) -> Vec<f64> {
    let mut writer = Raw::open(path);
    let (wake_tx, wake_rx) = mpsc::channel::<()>();
    let (ack_tx, ack_rx) = mpsc::channel::<f64>();
    let (ready_tx, ready_rx) = mpsc::channel();
    let reader_path = path.to_owned();
    let reader = std::thread::spawn(move || {
        let reader = Raw::open(&reader_path);
        let mut position = reader.head();
        ready_tx.send(()).unwrap();
        let mut seen = 0;
        while wake_rx.recv().is_ok() {
            for event in reader.read_after(position, 500) {
                position = event.position;
                let latency = mono_ns() - sent_ns(&event.data);
                ack_tx.send(latency as f64 / 1e6).unwrap();
                seen += 1;
            }
            if seen == samples {
                break;
            }
        }
    });
    ready_rx.recv().unwrap();
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let sent = mono_ns();
        let batch = Batch {
            stream: "live-1".into(),
            events: vec![("Pinged", latency_payload(sent))],
        };
        writer.append(&batch);
        wake_tx.send(()).unwrap();
        latencies.push(ack_rx.recv().unwrap());
    }
    reader.join().unwrap();
    latencies
}

/// Append here → subscriber in a second process (this binary, `EVSTORE_BENCH_CHILD`).
fn live_cross_process(kind: &str, path: &Path, samples: usize, poll: Duration) -> Vec<f64> {
    // Create the database first, so both processes open an existing evstore file.
    drop(SqliteStorage::open(path).unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("EVSTORE_BENCH_CHILD", kind)
        .env("EVSTORE_BENCH_DB", path)
        .env("EVSTORE_BENCH_SAMPLES", samples.to_string())
        .env("EVSTORE_BENCH_POLL_MS", poll.as_millis().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the second process");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert_eq!(ready, "ready");
    let store = open_store(path);
    let mut raw = Raw::open(path);
    // Spacing between appends spread over 0.5–1.5 poll intervals, so appends land at every phase
    // of the other process's poll (a simple LCG keeps it deterministic).
    let mut lcg = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..samples {
        let sent = wall_ns();
        let data = latency_payload(sent);
        if kind == "evstore" {
            block_on(store.append(
                "live-1",
                ExpectedVersion::Any,
                vec![NewEvent::new("Pinged", data)],
            ))
            .unwrap();
        } else {
            raw.append(&Batch {
                stream: "live-1".into(),
                events: vec![("Pinged", data)],
            });
        }
        lcg = lcg
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let fraction = 0.5 + (lcg >> 11) as f64 / (1u64 << 53) as f64;
        std::thread::sleep(poll.mul_f64(fraction));
    }
    let result = lines.next().unwrap().unwrap();
    child.wait().unwrap();
    store.close();
    let latencies: Vec<f64> = serde_json::from_str(&result).expect("latencies from the child");
    assert_eq!(latencies.len(), samples);
    latencies
}

/// The second process: subscribe (evstore) or poll `data_version` (raw), print latencies.
fn child(kind: &str) {
    let path = PathBuf::from(std::env::var("EVSTORE_BENCH_DB").unwrap());
    if let Some(kind) = kind.strip_prefix("idle-") {
        return idle::child(kind, &path);
    }
    let samples: usize = std::env::var("EVSTORE_BENCH_SAMPLES")
        .unwrap()
        .parse()
        .unwrap();
    let poll = Duration::from_millis(
        std::env::var("EVSTORE_BENCH_POLL_MS")
            .unwrap()
            .parse()
            .unwrap(),
    );
    let mut latencies = Vec::with_capacity(samples);
    let mut stdout = std::io::stdout();
    match kind {
        "evstore" => {
            let store = open_store_polling(&path, poll);
            block_on(async {
                let mut subscription = store
                    .subscribe_all(SubscribeOptions::from_end())
                    .await
                    .unwrap();
                writeln!(stdout, "ready").unwrap();
                stdout.flush().unwrap();
                while let Some(item) = subscription.next().await {
                    if let SubscriptionItem::Event(event) = item.unwrap() {
                        let latency = wall_ns().saturating_sub(sent_ns(&event.data));
                        latencies.push(latency as f64 / 1e6);
                        if latencies.len() == samples {
                            break;
                        }
                    }
                }
            });
        }
        "raw" => {
            let raw = Raw::open(&path);
            let mut position = raw.head();
            let mut version = raw.data_version();
            writeln!(stdout, "ready").unwrap();
            stdout.flush().unwrap();
            while latencies.len() < samples {
                std::thread::sleep(poll);
                let now = raw.data_version();
                if now == version {
                    continue;
                }
                version = now;
                for event in raw.read_after(position, 500) {
                    position = event.position;
                    let latency = wall_ns().saturating_sub(sent_ns(&event.data));
                    latencies.push(latency as f64 / 1e6);
                }
            }
        }
        other => panic!("unknown child kind {other}"),
    }
    writeln!(stdout, "{}", serde_json::to_string(&latencies).unwrap()).unwrap();
}

pub fn main() {
    if let Ok(kind) = std::env::var("EVSTORE_BENCH_CHILD") {
        if !postgres::child(&kind) {
            child(&kind);
        }
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and must not start a two-minute benchmark.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("evstore native benchmarks: run `cargo bench --bench native` (or pass --bench)");
        return;
    }
    epoch();
    let config = Config::from_env();
    let machine = machine_info(&config);
    std::fs::create_dir_all(&config.tmp).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("evstore-bench-")
        .tempdir_in(&config.tmp)
        .unwrap();
    eprintln!(
        "evstore native benchmarks: {} runs per workload, scale {}, databases in {}",
        config.runs,
        config.scale,
        dir.path().display()
    );
    let started = Instant::now();
    let mut bench = Bench {
        config,
        dir,
        workloads: Vec::new(),
        read_fixture: None,
    };
    type Step = fn(&mut Bench);
    let steps: [(&str, Step); 12] = [
        ("append", Bench::batched_append),
        ("single", Bench::single_append),
        ("read", Bench::reads),
        ("catchup", Bench::catch_up),
        ("live", Bench::live_same_process),
        ("cross", Bench::live_cross_process),
        ("cross-default", Bench::live_cross_process_default_poll),
        ("projector", Bench::projector),
        ("growth", Bench::growth),
        ("writers", Bench::concurrent_writers),
        ("readers", Bench::parallel_readers),
        ("idle", Bench::idle_subscription),
    ];
    for (group, step) in steps {
        if bench.config.wants(group) {
            let t = Instant::now();
            step(&mut bench);
            eprintln!("  ({group}: {:.1} s)", t.elapsed().as_secs_f64());
        }
    }
    let postgres = if bench.config.wants("postgres") {
        let t = Instant::now();
        let ran = postgres::run(&bench.config);
        eprintln!("  (postgres: {:.1} s)", t.elapsed().as_secs_f64());
        ran.map(|(workloads, version)| (workloads, version, t.elapsed().as_secs_f64()))
    } else {
        None
    };
    let seconds = started.elapsed().as_secs_f64();
    print_table(&bench.workloads);
    println!(
        "machine: {} · {} cores · SQLite {} · {} runs per workload · {:.0} s",
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        rusqlite::version(),
        bench.config.runs,
        seconds
    );
    if let Some((workloads, version, pg_seconds)) = &postgres {
        print_table(workloads);
        let mut machine = machine.clone();
        machine["postgresql"] = json!(version);
        write_results(&bench.config, "postgres", machine, workloads, *pg_seconds);
    }
    write_results(&bench.config, "native", machine, &bench.workloads, seconds);
}
