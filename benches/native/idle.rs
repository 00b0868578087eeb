//! What a waiting subscription costs (`BENCH_ONLY=idle`): a second process subscribes and waits
//! while nothing is appended; its CPU time over a few seconds (`/proc/self/schedstat`), as a
//! percentage of one core. Baseline: a raw loop polling `PRAGMA data_version` every 5 ms, the
//! interval of evstore's file watch.

use super::*;

/// How long the second process waits.
const IDLE: Duration = Duration::from_secs(3);

/// CPU time of this process so far, in nanoseconds: the sum of its threads'
/// `/proc/self/task/*/schedstat` (`/proc/self/stat` counts in clock ticks, too coarse here).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The second process: wait (evstore: a subscription; raw: a data_version loop) and print the
/// CPU percentage used while waiting.
pub(super) fn child(kind: &str, path: &Path) {
    match kind {
        "evstore" => {
            let store = open_store(path);
            let subscriber = std::thread::spawn(move || {
                block_on(async move {
                    let mut subscription = store
                        .subscribe_all(SubscribeOptions::from_end())
                        .await
                        .unwrap();
                    // `CaughtUp` comes at once; then it waits for an event that never comes.
                    while let Some(item) = subscription.next().await {
                        if let SubscriptionItem::Event(event) = item.unwrap() {
                            black_box(event);
                            break;
                        }
                    }
                })
            });
            // Let the subscription reach its wait.
            std::thread::sleep(Duration::from_millis(200));
            drop(subscriber);
        }
        "raw" => {
            let raw_path = path.to_owned();
            std::thread::spawn(move || {
                let raw = Raw::open(&raw_path);
                let mut version = raw.data_version();
                loop {
                    std::thread::sleep(Duration::from_millis(5));
                    let now = raw.data_version();
                    if now != version {
                        version = now;
                        black_box(raw.head());
                    }
                }
            });
            std::thread::sleep(Duration::from_millis(200));
        }
        other => panic!("unknown idle kind {other}"),
    }
    let before = cpu_ns();
    let started = Instant::now();
    std::thread::sleep(IDLE);
    let used = cpu_ns() - before;
    let percent = used as f64 / started.elapsed().as_nanos() as f64 * 100.0;
    println!("{percent}");
    std::process::exit(0);
}

fn idle_run(kind: &str, path: &Path) -> f64 {
    let output = Command::new(std::env::current_exe().unwrap())
        .env("EVSTORE_BENCH_CHILD", format!("idle-{kind}"))
        .env("EVSTORE_BENCH_DB", path)
        .output()
        .expect("run the second process");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().expect("a CPU percentage")
}

impl Bench {
    pub(super) fn idle_subscription(&mut self) {
        eprintln!("idle subscription: CPU of a waiting subscriber over {IDLE:?}");
        let path = self.fresh("idle.db");
        drop(SqliteStorage::open(&path).unwrap());
        let (e, r) = paired(
            self.config.runs,
            |run| {
                let percent = idle_run("evstore", &path);
                progress(&format!("run {run} evstore {percent:.3} % of a core"));
                percent
            },
            |run| {
                let percent = idle_run("raw", &path);
                progress(&format!("run {run} raw {percent:.3} % of a core"));
                percent
            },
        );
        self.workloads.push(Workload {
            id: "idle_subscription",
            name: "idle subscription CPU".into(),
            detail: format!(
                "a second process with one waiting subscription (default options), nothing \
                 appended, CPU over {} s",
                IDLE.as_secs()
            ),
            unit: "% of a core",
            better: Better::Lower,
            baseline_label: "raw data_version poll every 5 ms",
            evstore: e,
            baseline: r,
            target: Some(Target {
                text: "< 1 % of a core",
                on_ratio: false,
                better: Better::Lower,
                value: 1.0,
            }),
            note: None,
        });
    }
}
