//! Store options above every backend: a zero poll interval is refused, and `list_streams` pages
//! through storage in pages of the store's `page_size`.
#![cfg(not(target_arch = "wasm32"))]

use std::time::Duration;

use evstore::{
    ErrorKind, EventStore, ExpectedVersion, ListStreamsOptions, MemoryStorage, NewEvent,
    ProjectionOptions, Projector, RecordedEvent, StoreOptions, SubscribeOptions,
};
use futures::executor::block_on;

/// A store whose poll interval is zero would busy-poll in every idle subscription: subscribing
/// (and so running a projector) is `InvalidInput`, unless the subscription sets its own.
#[test]
fn a_zero_store_poll_interval_is_refused() {
    block_on(async {
        let options = StoreOptions {
            poll_interval: Duration::ZERO,
            ..StoreOptions::default()
        };
        let store = EventStore::with_options(MemoryStorage::new(), options);
        let refused = store.subscribe_all(SubscribeOptions::from_start()).await;
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::InvalidInput);
        let refused = store
            .subscribe_to_stream("a-1", SubscribeOptions::from_end())
            .await;
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::InvalidInput);
        let mut projector = Projector::new(store.clone());
        projector
            .add(
                "p",
                ProjectionOptions::default(),
                |_e: Vec<RecordedEvent>| async { Ok::<(), String>(()) },
            )
            .unwrap();
        assert_eq!(
            projector.run().await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        store
            .subscribe_all(SubscribeOptions::from_start().poll_interval(Duration::from_millis(5)))
            .await
            .expect("a subscription's own interval overrides the store's");
    });
}

/// Listing more streams than one page holds reads page after page, each after the last id of
/// the one before, and stops at `max_count`.
#[test]
fn list_streams_reads_page_after_page() {
    block_on(async {
        let options = StoreOptions {
            page_size: 3,
            ..StoreOptions::default()
        };
        let store = EventStore::with_options(MemoryStorage::new(), options);
        for n in 0..10 {
            store
                .append(
                    &format!("s-{n:02}"),
                    ExpectedVersion::NoStream,
                    vec![NewEvent::new("E", serde_json::json!(n))],
                )
                .await
                .unwrap();
        }
        let all = store.list_streams(ListStreamsOptions::new()).await.unwrap();
        let ids: Vec<String> = all.iter().map(|s| s.stream_id.clone()).collect();
        assert_eq!(
            ids,
            (0..10).map(|n| format!("s-{n:02}")).collect::<Vec<_>>()
        );
        let some = store
            .list_streams(ListStreamsOptions::new().after("s-02").max_count(5))
            .await
            .unwrap();
        assert_eq!(some.len(), 5);
        assert_eq!(
            (some[0].stream_id.as_str(), some[4].stream_id.as_str()),
            ("s-03", "s-07")
        );
    });
}
