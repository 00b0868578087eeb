//! Appends through one handle wake the subscriptions of every other handle on the same data in
//! the process at once.

use std::time::Duration;

use super::{events, expect_caught_up, live_event, next_event};
use crate::storage::Storage;
use crate::{EventStore, ExpectedVersion, SubscribeOptions};

/// Two separately opened stores on the same data: an append through either wakes the other's
/// subscriptions at once. The poll interval is an hour and the test gives up after seconds, so
/// only the shared notifier can pass it.
pub async fn appends_through_another_handle_wake_subscriptions<S, F, Fut>(
    store: EventStore<S>,
    reopen: F,
) where
    S: Storage,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = EventStore<S>>,
{
    let other = reopen().await;
    let hour = Duration::from_secs(3600);
    let mut all = store
        .subscribe_all(SubscribeOptions::from_start().poll_interval(hour))
        .await
        .unwrap();
    let mut one = store
        .subscribe_to_stream("a-1", SubscribeOptions::from_start().poll_interval(hour))
        .await
        .unwrap();
    expect_caught_up(&mut all).await;
    expect_caught_up(&mut one).await;
    let live = live_event(
        &mut all,
        other.append("a-1", ExpectedVersion::NoStream, events(1)),
    )
    .await;
    assert_eq!((live.stream_id.as_str(), live.position), ("a-1", 1));
    expect_caught_up(&mut all).await;
    assert_eq!(next_event(&mut one).await.version, 1);
    expect_caught_up(&mut one).await;
    let live = live_event(
        &mut one,
        other.append("a-1", ExpectedVersion::Exact(1), events(1)),
    )
    .await;
    assert_eq!(live.version, 2);

    // The other way round.
    let mut theirs = other
        .subscribe_all(SubscribeOptions::after(2).poll_interval(hour))
        .await
        .unwrap();
    expect_caught_up(&mut theirs).await;
    let live = live_event(
        &mut theirs,
        store.append("b-1", ExpectedVersion::Any, events(1)),
    )
    .await;
    assert_eq!(live.position, 3);
}
