//! The projector and aggregates, on every backend.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{events, within};
use crate::platform::{now_millis, sleep};
use crate::storage::Storage;
use crate::{
    Aggregate, AggregateTest, CommandError, Error, EventStore, ExpectedVersion, FailurePolicy,
    Filter, NewEvent, ProjectionOptions, ProjectionState, Projector, ProjectorHandle,
    RecordedEvent, Repository, RetryPolicy,
};

type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn read<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

/// A handler that records each batch's positions.
fn recorder(
    batches: &Log<Vec<u64>>,
) -> impl FnMut(Vec<RecordedEvent>) -> futures::future::Ready<Result<(), String>> {
    let batches = Arc::clone(batches);
    move |events: Vec<RecordedEvent>| {
        batches
            .lock()
            .unwrap()
            .push(events.iter().map(|e| e.position).collect());
        futures::future::ready(Ok(()))
    }
}

fn flat(batches: &Log<Vec<u64>>) -> Vec<u64> {
    read(batches).into_iter().flatten().collect()
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_delay: Duration::from_millis(5),
        factor: 2.0,
        max_delay: Duration::from_millis(50),
    }
}

/// Runs `projector` until `done` holds (checked every few ms), then stops it gracefully.
pub(super) async fn run_until<S: Storage, F, Fut>(
    projector: Projector<S>,
    done: F,
) -> ProjectorHandle<S>
where
    F: Fn(ProjectorHandle<S>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let handle = projector.handle();
    let watcher = async {
        while !done(handle.clone()).await {
            sleep(Duration::from_millis(5)).await;
        }
        handle.stop();
    };
    let (ran, ()) = within(async { futures::join!(projector.run(), watcher) }).await;
    ran.expect("projector run");
    handle
}

async fn checkpoints_reach<S: Storage>(
    handle: &ProjectorHandle<S>,
    names: &[&str],
    position: u64,
) -> bool {
    for name in names {
        if handle.checkpoint(name).await.unwrap() < position {
            return false;
        }
    }
    true
}

/// Every event reaches each projection once, in order; projections progress independently.
pub async fn projector_delivers_every_event_once_in_order<S: Storage>(store: EventStore<S>) {
    for i in 0..4 {
        store
            .append(&format!("s-{i}"), ExpectedVersion::Any, events(3))
            .await
            .unwrap();
    }
    let (single, batched) = (log(), log());
    let mut projector = Projector::new(store.clone());
    projector
        .add("single", ProjectionOptions::default(), recorder(&single))
        .unwrap();
    projector
        .add(
            "batched",
            ProjectionOptions::batched(5, Duration::from_millis(20)),
            recorder(&batched),
        )
        .unwrap();
    let writer_store = store.clone();
    let handle = run_until(projector, move |handle| {
        let store = writer_store.clone();
        async move {
            // Live events while the projections run.
            if store.head().await.unwrap() == 12 {
                store
                    .append("s-9", ExpectedVersion::Any, events(3))
                    .await
                    .unwrap();
            }
            checkpoints_reach(&handle, &["single", "batched"], 15).await
        }
    })
    .await;
    assert_eq!(flat(&single), (1..=15).collect::<Vec<_>>());
    assert!(read(&single).iter().all(|batch| batch.len() == 1));
    assert_eq!(flat(&batched), (1..=15).collect::<Vec<_>>());
    assert!(read(&batched).iter().all(|batch| batch.len() <= 5));
    assert_eq!(
        handle.status("single").unwrap().state,
        ProjectionState::Stopped
    );
    assert_eq!(handle.status("batched").unwrap().handled, 15);
}

/// After a graceful stop and a reopen of the store, projections resume after their checkpoint.
pub async fn projector_resumes_after_reopen<S, F, Fut>(store: EventStore<S>, reopen: F)
where
    S: Storage,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = EventStore<S>>,
{
    store
        .append("account-1", ExpectedVersion::Any, events(5))
        .await
        .unwrap();
    let first = log();
    let mut projector = Projector::new(store.clone());
    projector
        .add(
            "balances",
            ProjectionOptions::batched(2, Duration::from_millis(10)),
            recorder(&first),
        )
        .unwrap();
    run_until(projector, |handle| async move {
        checkpoints_reach(&handle, &["balances"], 5).await
    })
    .await;
    store.close();

    let store = reopen().await;
    store
        .append("account-1", ExpectedVersion::Exact(5), events(3))
        .await
        .unwrap();
    let second = log();
    let mut projector = Projector::new(store.clone());
    projector
        .add("balances", ProjectionOptions::default(), recorder(&second))
        .unwrap();
    let handle = run_until(projector, |handle| async move {
        checkpoints_reach(&handle, &["balances"], 8).await
    })
    .await;
    assert_eq!(flat(&first), [1, 2, 3, 4, 5]);
    assert_eq!(
        flat(&second),
        [6, 7, 8],
        "nothing handled twice after a graceful stop"
    );
    assert_eq!(handle.checkpoint("balances").await.unwrap(), 8);
}

/// A handler failing twice is retried with growing delays and then sees the event.
pub async fn projector_retries_with_backoff<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    let attempts: Log<u64> = log();
    let seen = Arc::clone(&attempts);
    let mut projector = Projector::new(store.clone());
    let retry = RetryPolicy {
        max_attempts: 5,
        initial_delay: Duration::from_millis(20),
        factor: 3.0,
        max_delay: Duration::from_secs(1),
    };
    projector
        .add(
            "flaky",
            ProjectionOptions::default().retry(retry),
            move |_events: Vec<RecordedEvent>| {
                let mut seen = seen.lock().unwrap();
                seen.push(now_millis());
                let result = if seen.len() < 3 {
                    Err("not yet".to_string())
                } else {
                    Ok(())
                };
                async move { result }
            },
        )
        .unwrap();
    let handle = run_until(projector, |handle| async move {
        checkpoints_reach(&handle, &["flaky"], 1).await
    })
    .await;
    let times = read(&attempts);
    assert_eq!(times.len(), 3);
    assert!(
        times[1] - times[0] >= 19,
        "first retry waited {} ms",
        times[1] - times[0]
    );
    assert!(
        times[2] - times[1] >= 59,
        "second retry waited {} ms (factor 3)",
        times[2] - times[1]
    );
    assert_eq!(handle.status("flaky").unwrap().failed_attempts, 2);
    assert_eq!(retry.delay_after(1), Duration::from_millis(20));
    assert_eq!(retry.delay_after(2), Duration::from_millis(60));
    assert_eq!(
        retry.delay_after(10),
        Duration::from_secs(1),
        "capped at max_delay"
    );
}

fn failing_on(
    bad_type: &'static str,
) -> impl FnMut(Vec<RecordedEvent>) -> futures::future::Ready<Result<(), String>> {
    move |events: Vec<RecordedEvent>| {
        let bad = events.iter().find(|e| e.event_type == bad_type);
        futures::future::ready(match bad {
            Some(e) => Err(format!("cannot handle position {}", e.position)),
            None => Ok(()),
        })
    }
}

async fn poisoned_store<S: Storage>(store: &EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    store
        .append(
            "a-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("Poison", serde_json::json!({}))],
        )
        .await
        .unwrap();
    store
        .append("a-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
}

/// With `Stop`, a projection that keeps failing stops and reports; its checkpoint stays before
/// the failing event; a healthy projection beside it is unaffected.
pub async fn projector_stop_policy_stops_only_the_failing_projection<S: Storage>(
    store: EventStore<S>,
) {
    poisoned_store(&store).await;
    let healthy = log();
    let mut projector = Projector::new(store.clone());
    projector
        .add(
            "fragile",
            ProjectionOptions::default().retry(fast_retry(3)),
            failing_on("Poison"),
        )
        .unwrap();
    projector
        .add("healthy", ProjectionOptions::default(), recorder(&healthy))
        .unwrap();
    let handle = run_until(projector, |handle| async move {
        matches!(
            handle.status("fragile").unwrap().state,
            ProjectionState::Failed { .. }
        ) && checkpoints_reach(&handle, &["healthy"], 5).await
    })
    .await;
    let status = handle.status("fragile").unwrap();
    assert_eq!(
        status.state,
        ProjectionState::Failed {
            position: 3,
            error: "cannot handle position 3".into()
        }
    );
    assert_eq!(status.failed_attempts, 3);
    assert_eq!(handle.checkpoint("fragile").await.unwrap(), 2);
    assert_eq!(flat(&healthy), [1, 2, 3, 4, 5]);
}

/// With `Skip`, the failing event is recorded as skipped and the projection goes on; in a batch,
/// only the failing event is skipped.
pub async fn projector_skip_policy_records_and_goes_on<S: Storage>(store: EventStore<S>) {
    poisoned_store(&store).await;
    let mut projector = Projector::new(store.clone());
    let skip =
        |options: ProjectionOptions| options.retry(fast_retry(2)).on_failure(FailurePolicy::Skip);
    projector
        .add(
            "single",
            skip(ProjectionOptions::default()),
            failing_on("Poison"),
        )
        .unwrap();
    let batched = log();
    let mut record = recorder(&batched);
    let mut poison = failing_on("Poison");
    projector
        .add(
            "batched",
            skip(ProjectionOptions::batched(10, Duration::from_millis(10))),
            move |events: Vec<RecordedEvent>| {
                let result = poison(events.clone());
                if events.iter().all(|e| e.event_type != "Poison") {
                    let _ = record(events).into_inner();
                }
                result
            },
        )
        .unwrap();
    let handle = run_until(projector, |handle| async move {
        checkpoints_reach(&handle, &["single", "batched"], 5).await
    })
    .await;
    for name in ["single", "batched"] {
        let skipped = handle.skipped(name).await.unwrap();
        assert_eq!(skipped.len(), 1, "{name}");
        assert_eq!(
            (skipped[0].position, skipped[0].event_type.as_str()),
            (3, "Poison")
        );
        assert_eq!(skipped[0].error, "cannot handle position 3");
    }
    let mut handled = flat(&batched);
    handled.sort_unstable();
    assert_eq!(
        handled,
        [1, 2, 4, 5],
        "the good events of the failing batch were handled one by one"
    );
}

/// Batches flush when full, and after `flush_after` even while events keep arriving.
pub async fn projector_batches_flush_by_count_and_by_time<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(12))
        .await
        .unwrap();
    let by_count = log();
    let mut projector = Projector::new(store.clone());
    // A time flush would take a minute (and time the test out): only the count can flush these.
    projector
        .add(
            "by-count",
            ProjectionOptions::batched(4, Duration::from_secs(60)),
            recorder(&by_count),
        )
        .unwrap();
    run_until(projector, |handle| async move {
        checkpoints_reach(&handle, &["by-count"], 12).await
    })
    .await;
    assert_eq!(
        read(&by_count),
        [vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9, 10, 11, 12]]
    );

    let by_time = log();
    let mut projector = Projector::new(store.clone());
    projector
        .add(
            "by-time",
            ProjectionOptions::batched(1000, Duration::from_millis(40)),
            recorder(&by_time),
        )
        .unwrap();
    let handle = projector.handle();
    let flushed_while_writing = Arc::new(Mutex::new(false));
    let writer = {
        let (store, handle, flag) = (
            store.clone(),
            handle.clone(),
            Arc::clone(&flushed_while_writing),
        );
        async move {
            // A steady trickle: one event every 5 ms for about 0.4 s, far from filling a batch.
            for n in 0..80 {
                store
                    .append("b-1", ExpectedVersion::Any, events(1))
                    .await
                    .unwrap();
                if n == 79 {
                    *flag.lock().unwrap() = handle.checkpoint("by-time").await.unwrap() > 12;
                }
                sleep(Duration::from_millis(5)).await;
            }
            while handle.checkpoint("by-time").await.unwrap() < 92 {
                sleep(Duration::from_millis(5)).await;
            }
            handle.stop();
        }
    };
    let (ran, ()) = within(async { futures::join!(projector.run(), writer) }).await;
    ran.unwrap();
    assert!(
        *flushed_while_writing.lock().unwrap(),
        "a time flush happened while events kept arriving"
    );
    assert_eq!(flat(&by_time), (1..=92).collect::<Vec<_>>());
    assert!(
        read(&by_time).len() >= 2,
        "flushed by time, in several batches"
    );
}

/// A failed flush does not move the checkpoint.
pub async fn projector_checkpoint_stays_when_a_flush_fails<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    let mut projector = Projector::new(store.clone());
    let options = ProjectionOptions::batched(10, Duration::from_millis(5)).retry(fast_retry(2));
    projector
        .add("broken", options, |_events: Vec<RecordedEvent>| async {
            Err::<(), _>("disk full")
        })
        .unwrap();
    let handle = run_until(projector, |handle| async move {
        matches!(
            handle.status("broken").unwrap().state,
            ProjectionState::Failed { .. }
        )
    })
    .await;
    assert_eq!(handle.checkpoint("broken").await.unwrap(), 0);
    assert_eq!(handle.status("broken").unwrap().checkpoint, 0);
}

/// A projection's filter limits what it sees; a reset rebuilds it from the start.
pub async fn projector_filter_and_reset<S: Storage>(store: EventStore<S>) {
    let appends = [
        ("account-1", "Deposited"),
        ("order-1", "Deposited"),
        ("account-2", "Opened"),
        ("account-2", "Deposited"),
    ];
    for (stream, event_type) in appends {
        let event = NewEvent::new(event_type, serde_json::json!({}));
        store
            .append(stream, ExpectedVersion::Any, vec![event])
            .await
            .unwrap();
    }
    let filter = Filter::new().category("account").event_type("Deposited");
    let seen = log();
    let mut projector = Projector::new(store.clone());
    projector
        .add(
            "deposits",
            ProjectionOptions::default().filter(filter.clone()),
            recorder(&seen),
        )
        .unwrap();
    let handle = run_until(projector, |handle| async move {
        checkpoints_reach(&handle, &["deposits"], 4).await
    })
    .await;
    assert_eq!(flat(&seen), [1, 4]);

    handle.reset("deposits").await.unwrap();
    assert_eq!(handle.checkpoint("deposits").await.unwrap(), 0);
    let rebuilt = log();
    let mut projector = Projector::new(store.clone());
    projector
        .add(
            "deposits",
            ProjectionOptions::default().filter(filter),
            recorder(&rebuilt),
        )
        .unwrap();
    run_until(projector, |handle| async move {
        checkpoints_reach(&handle, &["deposits"], 4).await
    })
    .await;
    assert_eq!(flat(&rebuilt), [1, 4]);
}

/// Bad projector input is `InvalidInput`.
pub async fn projector_rejects_bad_input<S: Storage>(store: EventStore<S>) {
    let mut projector = Projector::new(store.clone());
    let noop = |_events: Vec<RecordedEvent>| async { Ok::<(), String>(()) };
    let kind = |r: crate::Result<()>| r.unwrap_err().kind();
    assert_eq!(
        kind(projector.add("", ProjectionOptions::default(), noop)),
        crate::ErrorKind::InvalidInput
    );
    let zero_batch = ProjectionOptions {
        batch_size: 0,
        ..ProjectionOptions::default()
    };
    assert_eq!(
        kind(projector.add("a", zero_batch, noop)),
        crate::ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(projector.add("a", ProjectionOptions::default().retry(fast_retry(0)), noop)),
        crate::ErrorKind::InvalidInput
    );
    projector
        .add("a", ProjectionOptions::default(), noop)
        .unwrap();
    assert_eq!(
        kind(projector.add("a", ProjectionOptions::default(), noop)),
        crate::ErrorKind::InvalidInput
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

#[derive(Debug, Default, PartialEq)]
pub(super) struct Account {
    open: bool,
    pub(super) balance: u64,
}

impl Aggregate for Account {
    type Event = AccountEvent;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { .. } => self.open = true,
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum AccountError {
    NotOpen,
    Insufficient { balance: u64 },
}

fn open(account: &Account, owner: &str) -> Result<Vec<AccountEvent>, AccountError> {
    Ok(if account.open {
        vec![]
    } else {
        vec![AccountEvent::Opened {
            owner: owner.into(),
        }]
    })
}

fn withdraw(account: &Account, amount: u64) -> Result<Vec<AccountEvent>, AccountError> {
    if !account.open {
        return Err(AccountError::NotOpen);
    }
    if account.balance < amount {
        return Err(AccountError::Insufficient {
            balance: account.balance,
        });
    }
    Ok(vec![AccountEvent::Withdrawn { amount }])
}

/// Load, decide, save; domain errors pass through untouched; ids are stamped.
pub async fn aggregate_load_decide_save<S: Storage>(store: EventStore<S>) {
    let repository = Repository::<S, Account>::new(store.clone())
        .with_ids(Some("corr-7".into()), Some("cmd-7".into()));
    assert_eq!(repository.load("account-1").await.unwrap().version, 0);
    assert_eq!(
        repository.execute("account-1", |a| withdraw(a, 1)).await,
        Err(CommandError::Domain(AccountError::NotOpen))
    );
    repository
        .execute("account-1", |a| open(a, "ada"))
        .await
        .unwrap();
    assert_eq!(
        repository
            .execute("account-1", |a| open(a, "ada"))
            .await
            .unwrap(),
        None,
        "no events, no append"
    );
    repository
        .execute("account-1", |_| {
            Ok::<_, AccountError>(vec![AccountEvent::Deposited { amount: 30 }])
        })
        .await
        .unwrap();
    let refused = repository.execute("account-1", |a| withdraw(a, 50)).await;
    assert_eq!(
        refused,
        Err(CommandError::Domain(AccountError::Insufficient {
            balance: 30
        }))
    );
    let result = repository
        .execute("account-1", |a| withdraw(a, 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.next_expected_version, 3);
    let loaded = repository.load("account-1").await.unwrap();
    assert_eq!(
        (loaded.state, loaded.version),
        (
            Account {
                open: true,
                balance: 10
            },
            3
        )
    );
    let stored = store
        .read_stream("account-1", crate::ReadStreamOptions::new())
        .await
        .unwrap();
    assert!(stored
        .iter()
        .all(|e| e.correlation_id.as_deref() == Some("corr-7")
            && e.causation_id.as_deref() == Some("cmd-7")));

    // The given/when/then harness, without a store.
    AggregateTest::<Account>::given([
        AccountEvent::Opened {
            owner: "ada".into(),
        },
        AccountEvent::Deposited { amount: 5 },
    ])
    .when(|a| withdraw(a, 6))
    .then_error(AccountError::Insufficient { balance: 5 });
    let after = AggregateTest::<Account>::given([
        AccountEvent::Opened {
            owner: "ada".into(),
        },
        AccountEvent::Deposited { amount: 5 },
    ])
    .when(|a| withdraw(a, 5))
    .then([AccountEvent::Withdrawn { amount: 5 }]);
    assert_eq!(after.balance, 0);
}

/// A conflict makes the repository reload and decide again; too many conflicts are a clear error.
pub async fn aggregate_retries_on_conflict<S: Storage>(store: EventStore<S>) {
    let repository = Repository::<S, Account>::new(store.clone()).max_attempts(3);
    repository
        .execute("account-1", |a| open(a, "ada"))
        .await
        .unwrap();
    let deposit = |amount| vec![NewEvent::from_typed(&AccountEvent::Deposited { amount }).unwrap()];

    // One concurrent write during the first decision: the second attempt sees it and succeeds.
    let decisions = Arc::new(Mutex::new(Vec::new()));
    let result = repository
        .execute_async("account-1", |account: &Account| {
            let balance = account.balance;
            let (store, decisions) = (store.clone(), Arc::clone(&decisions));
            async move {
                let first = decisions.lock().unwrap().is_empty();
                decisions.lock().unwrap().push(balance);
                if first {
                    store
                        .append("account-1", ExpectedVersion::Any, deposit(100))
                        .await
                        .unwrap();
                }
                Ok::<_, AccountError>(vec![AccountEvent::Withdrawn { amount: balance }])
            }
        })
        .await
        .unwrap();
    assert_eq!(
        read(&decisions),
        [0, 100],
        "the retry decided on the reloaded state"
    );
    assert_eq!(result.unwrap().next_expected_version, 3);
    assert_eq!(repository.load("account-1").await.unwrap().state.balance, 0);

    // A writer that always gets in first: the repository gives up after 3 attempts.
    let attempts = Arc::new(Mutex::new(0));
    let outcome = repository
        .execute_async("account-1", |_account: &Account| {
            let (store, attempts) = (store.clone(), Arc::clone(&attempts));
            async move {
                *attempts.lock().unwrap() += 1;
                store
                    .append("account-1", ExpectedVersion::Any, deposit(1))
                    .await
                    .unwrap();
                Ok::<_, AccountError>(vec![AccountEvent::Deposited { amount: 1000 }])
            }
        })
        .await;
    assert!(
        matches!(
            &outcome,
            Err(CommandError::Conflict {
                attempts: 3,
                last: Error::WrongExpectedVersion { .. }
            })
        ),
        "{outcome:?}"
    );
    assert_eq!(*attempts.lock().unwrap(), 3);
    assert_eq!(
        repository.load("account-1").await.unwrap().state.balance,
        3,
        "only the concurrent deposits landed"
    );
}
