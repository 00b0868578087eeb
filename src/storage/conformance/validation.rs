//! Input refused above the `Storage` trait, the same on every backend: control characters in
//! names, subscriptions that would start beyond what the store holds.

use std::time::Duration;

use super::{event, events, expect_caught_up, kind, live_event, next_event};
use crate::storage::Storage;
use crate::{
    ErrorKind, EventStore, ExpectedVersion, Filter, ListStreamsOptions, NewEvent,
    ProjectionOptions, Projector, ReadAllOptions, ReadStreamOptions, RecordedEvent,
    SubscribeOptions,
};

/// Control characters (NUL, other C0 and C1 codes, DEL) in stream ids, event types, filter
/// prefixes, categories and event types, and listing prefixes are `InvalidInput`, and nothing
/// is written. Other non-ASCII text is fine.
pub async fn control_characters_are_refused_everywhere<S: Storage>(store: EventStore<S>) {
    for bad in ["a\0b", "account-1\n", "\u{7}bell", "del\u{7f}", "nel\u{85}"] {
        assert_eq!(
            kind(store.append(bad, ExpectedVersion::Any, events(1)).await),
            ErrorKind::InvalidInput,
            "stream id {bad:?}"
        );
        let typed = vec![NewEvent::new(bad, serde_json::json!({}))];
        assert_eq!(
            kind(store.append("a-1", ExpectedVersion::Any, typed).await),
            ErrorKind::InvalidInput,
            "event type {bad:?}"
        );
        assert_eq!(
            kind(store.read_stream(bad, ReadStreamOptions::new()).await),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(store.stream_version(bad).await),
            ErrorKind::InvalidInput
        );
        for filter in [
            Filter::new().stream_prefix(bad),
            Filter::new().category(bad),
            Filter::new().event_type(bad),
        ] {
            assert_eq!(
                kind(
                    store
                        .read_all(ReadAllOptions::new().filter(filter.clone()))
                        .await
                ),
                ErrorKind::InvalidInput,
                "{filter:?}"
            );
            assert_eq!(
                kind(
                    store
                        .subscribe_all(SubscribeOptions::from_start().filter(filter.clone()))
                        .await
                ),
                ErrorKind::InvalidInput
            );
            let mut projector = Projector::new(store.clone());
            let added = projector.add(
                "p",
                ProjectionOptions::default().filter(filter),
                |_e: Vec<RecordedEvent>| async { Ok::<(), String>(()) },
            );
            assert_eq!(kind(added), ErrorKind::InvalidInput);
        }
        assert_eq!(
            kind(
                store
                    .subscribe_to_stream(bad, SubscribeOptions::from_start())
                    .await
            ),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(
                store
                    .list_streams(ListStreamsOptions::new().prefix(bad))
                    .await
            ),
            ErrorKind::InvalidInput
        );
    }
    assert_eq!(store.head().await.unwrap(), 0, "nothing was written");
    let fine = "konto-ä→€-🦀";
    store
        .append(
            fine,
            ExpectedVersion::NoStream,
            vec![event("Eröffnet ✓", 1)],
        )
        .await
        .unwrap();
    let found = store
        .read_all(ReadAllOptions::new().filter(Filter::new().stream_prefix("konto-ä")))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event_type, "Eröffnet ✓");
}

/// Subscribing after a position beyond the head, or after a version beyond the stream's, is
/// `InvalidInput` (it can only come from other data: following from there would silently skip
/// the events appended up to it). Up to the head (version) is fine.
pub async fn subscribe_beyond_the_end_is_refused<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    let error = store
        .subscribe_all(SubscribeOptions::after(4))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("beyond"), "{error}");
    assert_eq!(
        kind(
            store
                .subscribe_to_stream("a-1", SubscribeOptions::after(4))
                .await
        ),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(
            store
                .subscribe_to_stream("new-1", SubscribeOptions::after(1))
                .await
        ),
        ErrorKind::InvalidInput
    );
    let mut at_head = store
        .subscribe_all(SubscribeOptions::after(3))
        .await
        .unwrap();
    let mut at_version = store
        .subscribe_to_stream("a-1", SubscribeOptions::after(3))
        .await
        .unwrap();
    let mut new_stream = store
        .subscribe_to_stream("new-1", SubscribeOptions::after(0))
        .await
        .unwrap();
    for subscription in [&mut at_head, &mut at_version, &mut new_stream] {
        expect_caught_up(subscription).await;
    }
    let live = live_event(
        &mut at_head,
        store.append("a-1", ExpectedVersion::Any, events(1)),
    )
    .await;
    assert_eq!(live.position, 4);
    assert_eq!(next_event(&mut at_version).await.version, 4);
    let live = live_event(
        &mut new_stream,
        store.append("new-1", ExpectedVersion::NoStream, events(1)),
    )
    .await;
    assert_eq!((live.stream_id.as_str(), live.version), ("new-1", 1));
}

/// A subscription whose poll interval is zero (it would busy-poll) is `InvalidInput`.
pub async fn subscribe_rejects_a_zero_poll_interval<S: Storage>(store: EventStore<S>) {
    let zero = SubscribeOptions::from_start().poll_interval(Duration::ZERO);
    assert_eq!(
        kind(store.subscribe_all(zero.clone()).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(store.subscribe_to_stream("a-1", zero).await),
        ErrorKind::InvalidInput
    );
    store
        .subscribe_all(SubscribeOptions::from_start().poll_interval(Duration::from_millis(1)))
        .await
        .unwrap();
}
