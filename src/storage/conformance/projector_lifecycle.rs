//! How a projector ends: a stop at any moment (before `run`, during a retry's wait), closing the
//! store while a batch is in flight, and a checkpoint that lies beyond the head.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{events, within};
use crate::platform::sleep;
use crate::storage::{Checkpoint, Storage};
use crate::{
    EventStore, ExpectedVersion, ProjectionOptions, ProjectionState, Projector, RecordedEvent,
    RetryPolicy,
};

fn always_ok(_events: Vec<RecordedEvent>) -> futures::future::Ready<Result<(), String>> {
    futures::future::ready(Ok(()))
}

/// A stop issued before `run` starts is not lost: `run` returns at once.
pub async fn projector_stop_before_run_is_not_lost<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    let mut projector = Projector::new(store.clone());
    projector
        .add("p", ProjectionOptions::default(), always_ok)
        .unwrap();
    let handle = projector.handle();
    handle.stop();
    within(projector.run()).await.unwrap();
    assert_eq!(handle.status("p").unwrap().state, ProjectionState::Stopped);
    assert!(!handle.is_running());
}

/// A stop while a failing batch waits for its retry ends the wait at once (a retry delay of an
/// hour would otherwise hold `run`), leaves the checkpoint before the failing batch and the
/// projection `Stopped`, not `Failed`.
pub async fn projector_stop_interrupts_the_retry_backoff<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    let mut projector = Projector::new(store.clone());
    let hour = Duration::from_secs(3600);
    let retry = RetryPolicy {
        max_attempts: 5,
        initial_delay: hour,
        factor: 1.0,
        max_delay: hour,
    };
    projector
        .add(
            "p",
            ProjectionOptions::default().retry(retry),
            |events: Vec<RecordedEvent>| {
                let fails = events.iter().any(|e| e.position == 2);
                futures::future::ready(if fails { Err("no") } else { Ok(()) })
            },
        )
        .unwrap();
    let handle = projector.handle();
    let stopper = async {
        while handle.status("p").unwrap().failed_attempts < 1 {
            sleep(Duration::from_millis(5)).await;
        }
        handle.stop();
    };
    let (ran, ()) = within(async { futures::join!(projector.run(), stopper) }).await;
    ran.unwrap();
    let status = handle.status("p").unwrap();
    assert_eq!(status.state, ProjectionState::Stopped);
    assert_eq!((status.handled, status.failed_attempts), (1, 1));
    assert_eq!(status.checkpoint, 1);
    assert_eq!(handle.checkpoint("p").await.unwrap(), 1);
}

/// Closing the store while a handler works on a batch: the batch finishes, its checkpoint is
/// saved (the backend stays open until then), and the projection ends `Stopped`.
pub async fn projector_close_saves_the_batch_in_flight<S, F, Fut>(store: EventStore<S>, reopen: F)
where
    S: Storage,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = EventStore<S>>,
{
    store
        .append("a-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    let (entered, release) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut projector = Projector::new(store.clone());
    let (entered_in, release_in) = (Arc::clone(&entered), Arc::clone(&release));
    projector
        .add(
            "p",
            ProjectionOptions::default(),
            move |_events: Vec<RecordedEvent>| {
                entered_in.store(true, Ordering::SeqCst);
                let release = Arc::clone(&release_in);
                async move {
                    while !release.load(Ordering::SeqCst) {
                        sleep(Duration::from_millis(5)).await;
                    }
                    Ok::<(), String>(())
                }
            },
        )
        .unwrap();
    let handle = projector.handle();
    let closer = async {
        while !entered.load(Ordering::SeqCst) {
            sleep(Duration::from_millis(5)).await;
        }
        store.close();
        release.store(true, Ordering::SeqCst);
    };
    let (ran, ()) = within(async { futures::join!(projector.run(), closer) }).await;
    ran.expect("closing the store is no failure of the projector");
    let status = handle.status("p").unwrap();
    assert_eq!(status.state, ProjectionState::Stopped);
    assert_eq!((status.checkpoint, status.handled), (1, 1));
    drop(store);
    let reopened = reopen().await;
    assert_eq!(
        reopened.storage().load_checkpoint("p").await.unwrap(),
        Some(Checkpoint {
            position: 1,
            skipped: vec![]
        }),
        "the checkpoint of the batch in flight was saved"
    );
}

/// A stored checkpoint beyond the head (kept across a recreated store) ends the projection
/// `Failed` at once with an error saying so, instead of silently waiting for positions it
/// claims to have handled; a reset rebuilds it.
pub async fn projector_checkpoint_beyond_the_head_fails_clearly<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    store
        .storage()
        .save_checkpoint(
            "p",
            &Checkpoint {
                position: 10,
                skipped: vec![],
            },
        )
        .await
        .unwrap();
    let mut projector = Projector::new(store.clone());
    projector
        .add("p", ProjectionOptions::default(), always_ok)
        .unwrap();
    let handle = projector.handle();
    within(projector.run()).await.unwrap();
    match handle.status("p").unwrap().state {
        ProjectionState::Failed { position, error } => {
            assert_eq!(position, 10);
            assert!(error.contains("beyond the store's head (2)"), "{error}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(handle.status("p").unwrap().handled, 0);
    handle.reset("p").await.unwrap();
    assert_eq!(handle.checkpoint("p").await.unwrap(), 0);
}
