//! Concurrency workloads (`BENCH_ONLY=writers,readers`): many tasks appending at once through one
//! store handle, and many tasks reading at once.
//!
//! - **concurrent writers**: 1, 4 and 16 tokio tasks (a multi-threaded runtime) doing
//!   single-event appends through one `EventStore`, each to its own streams, with
//!   `Durability::Normal` and `Durability::Full`. Baseline: the same number of threads sharing
//!   one raw rusqlite connection behind a mutex, one `BEGIN IMMEDIATE` transaction per append
//!   (what a hand-written store does without group commit), with the same `synchronous`.
//! - **parallel readers**: 1 and 4 tasks each reading the 1,000-event stream of the read fixture
//!   over and over through one `EventStore`. Baseline: as many threads, each with its own raw
//!   connection (the best a hand-written store can do).

use std::sync::{Arc, Mutex};

use evstore::{Durability, SqliteOptions};

use super::*;

/// The task counts of the concurrent-writers workload.
const WRITERS: [usize; 3] = [1, 4, 16];

/// The task counts of the parallel-readers workload.
const READERS: [usize; 2] = [1, 4];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn synchronous(durability: Durability) -> &'static str {
    match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    }
}

/// `per_task` single-event appends for each of `tasks` tasks; task `t` writes streams
/// `w{t}-0` … `w{t}-9` round-robin.
fn writer_input(tasks: usize, per_task: usize) -> Vec<Vec<Batch>> {
    (0..tasks)
        .map(|t| batches(per_task, 1, 10, &format!("w{t}")))
        .collect()
}

impl Bench {
    pub(super) fn concurrent_writers(&mut self) {
        for durability in [Durability::Normal, Durability::Full] {
            for tasks in WRITERS {
                self.concurrent_writers_with(durability, tasks);
            }
        }
    }

    fn concurrent_writers_with(&mut self, durability: Durability, tasks: usize) {
        let total = match durability {
            Durability::Normal => self.config.count(8_000),
            Durability::Full => self.config.count(500),
        };
        let per_task = total.div_ceil(tasks);
        let total = per_task * tasks;
        let sync = synchronous(durability);
        eprintln!("concurrent writers: {tasks} tasks, {total} single-event appends, {sync}");
        let input = writer_input(tasks, per_task);
        let (e, r) = paired(
            self.config.runs,
            |run| {
                let path = self.fresh(&format!("writers-e-{sync}-{tasks}-{run}.db"));
                let options = SqliteOptions::default().durability(durability);
                let store = EventStore::new(SqliteStorage::open_with(&path, options).unwrap());
                let prepared: Vec<Vec<(String, Vec<NewEvent>)>> = input
                    .iter()
                    .map(|batches| {
                        batches
                            .iter()
                            .map(|b| (b.stream.clone(), b.to_new_events()))
                            .collect()
                    })
                    .collect();
                let rt = runtime();
                let started = Instant::now();
                rt.block_on(async {
                    let handles: Vec<_> = prepared
                        .into_iter()
                        .map(|appends| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                for (stream, events) in appends {
                                    store
                                        .append(&stream, ExpectedVersion::Any, events)
                                        .await
                                        .expect("append");
                                }
                            })
                        })
                        .collect();
                    for handle in handles {
                        handle.await.unwrap();
                    }
                });
                let aps = total as f64 / started.elapsed().as_secs_f64();
                store.close();
                progress(&format!("run {run} evstore {aps:.0} appends/s"));
                aps
            },
            |run| {
                let path = self.fresh(&format!("writers-r-{sync}-{tasks}-{run}.db"));
                let raw = Raw::open(&path);
                raw.conn.pragma_update(None, "synchronous", sync).unwrap();
                let raw = Arc::new(Mutex::new(raw));
                let started = Instant::now();
                std::thread::scope(|scope| {
                    for batches in &input {
                        let raw = Arc::clone(&raw);
                        scope.spawn(move || {
                            for batch in batches {
                                raw.lock().unwrap().append(batch);
                            }
                        });
                    }
                });
                let aps = total as f64 / started.elapsed().as_secs_f64();
                progress(&format!("run {run} raw {aps:.0} appends/s"));
                aps
            },
        );
        let target = match (durability, tasks) {
            (Durability::Full, 16) => Some(Target {
                text: "≥ 3× raw",
                on_ratio: true,
                better: Better::Higher,
                value: 3.0,
            }),
            (_, 1) => Some(Target {
                text: "≥ 0.8× raw",
                on_ratio: true,
                better: Better::Higher,
                value: 0.8,
            }),
            _ => None,
        };
        self.workloads.push(Workload {
            id: leak(format!("writers_{}_{tasks}", sync.to_lowercase())),
            name: format!("concurrent writers, {tasks} tasks, {sync}"),
            detail: format!(
                "{tasks} tokio tasks × {per_task} single-event appends through one store, \
                 synchronous={sync}; raw: {tasks} threads sharing one connection, one \
                 transaction per append"
            ),
            unit: "appends/s",
            better: Better::Higher,
            baseline_label: "raw rusqlite, a transaction per append",
            evstore: e,
            baseline: r,
            target,
            note: None,
        });
    }

    pub(super) fn parallel_readers(&mut self) {
        let (path, total) = self.read_fixture();
        let big = self.config.count(1_000);
        let reps = 20;
        for tasks in READERS {
            eprintln!(
                "parallel readers: {tasks} tasks, each reading a {big}-event stream {reps} times"
            );
            let store = open_store(&path);
            let rt = runtime();
            let (e, r) = paired(
                self.config.runs,
                |run| {
                    let started = Instant::now();
                    rt.block_on(async {
                        let handles: Vec<_> = (0..tasks)
                            .map(|_| {
                                let store = store.clone();
                                tokio::spawn(async move {
                                    for _ in 0..reps {
                                        let events = store
                                            .read_stream("big-0", ReadStreamOptions::new())
                                            .await
                                            .unwrap();
                                        assert_eq!(events.len(), big);
                                        black_box(events);
                                    }
                                })
                            })
                            .collect();
                        for handle in handles {
                            handle.await.unwrap();
                        }
                    });
                    let eps = (tasks * reps * big) as f64 / started.elapsed().as_secs_f64();
                    progress(&format!("run {run} evstore {eps:.0} ev/s"));
                    eps
                },
                |run| {
                    let started = Instant::now();
                    std::thread::scope(|scope| {
                        for _ in 0..tasks {
                            let path = &path;
                            scope.spawn(move || {
                                let raw = Raw::open(path);
                                for _ in 0..reps {
                                    let events = raw.read_stream("big-0");
                                    assert_eq!(events.len(), big);
                                    black_box(events);
                                }
                            });
                        }
                    });
                    let eps = (tasks * reps * big) as f64 / started.elapsed().as_secs_f64();
                    progress(&format!("run {run} raw {eps:.0} ev/s"));
                    eps
                },
            );
            store.close();
            self.workloads.push(Workload {
                id: leak(format!("readers_{tasks}")),
                name: format!("parallel readers, {tasks} tasks"),
                detail: format!(
                    "{tasks} tokio tasks each reading a {big}-event stream {reps} times through \
                     one store ({total} events); raw: {tasks} threads, a connection each"
                ),
                unit: "events/s",
                better: Better::Higher,
                baseline_label: "raw rusqlite, a connection per thread",
                evstore: e,
                baseline: r,
                target: None,
                note: None,
            });
        }
    }
}

/// Workload ids are `&'static str`; these few are made once per run of the binary.
fn leak(id: String) -> &'static str {
    Box::leak(id.into_boxed_str())
}
