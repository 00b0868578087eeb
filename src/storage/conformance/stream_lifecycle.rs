//! Stream lifecycle: soft delete, tombstone, truncation and `maxCount`, on every read path, with
//! their expected versions, their lifecycle markers and bad input.

use futures::StreamExt;

use super::{all, event, events, expect_caught_up, kind, next_event, stream, versions};
use serde_json::json;

use crate::storage::{Storage, StreamMetadata, LIFECYCLE_STREAM};
use crate::{
    export_jsonl, Error, ErrorKind, EventStore, ExpectedVersion, ExportOptions, ListStreamsOptions,
    ReadStreamOptions, SubscribeOptions,
};

fn streams_of(events: &[crate::RecordedEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .map(|e| (e.stream_id.clone(), e.version))
        .collect()
}

async fn listed<S: Storage>(store: &EventStore<S>) -> Vec<(String, u64)> {
    store
        .list_streams(ListStreamsOptions::new())
        .await
        .unwrap()
        .into_iter()
        .map(|info| (info.stream_id, info.version))
        .collect()
}

async fn exported<S: Storage>(store: &EventStore<S>) -> String {
    let mut out = Vec::new();
    export_jsonl(store.storage(), &mut out, &ExportOptions::default())
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// Two streams: `cart-1` at version 3 (positions 1–3), `cart-2` at version 1 (position 4).
async fn two_carts<S: Storage>(store: &EventStore<S>) {
    store
        .append("cart-1", ExpectedVersion::NoStream, events(3))
        .await
        .unwrap();
    store
        .append("cart-2", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
}

/// A soft-deleted stream reads as missing on every read path, and appending again continues its
/// numbering; positions are not reused and the head does not go down.
pub async fn delete_stream_hides_it_and_numbering_continues<S: Storage>(store: EventStore<S>) {
    two_carts(&store).await;
    store
        .delete_stream("cart-1", ExpectedVersion::Exact(3))
        .await
        .unwrap();
    assert_eq!(
        kind(store.read_stream("cart-1", ReadStreamOptions::new()).await),
        ErrorKind::StreamNotFound
    );
    assert_eq!(store.stream_version("cart-1").await.unwrap(), 0);
    assert_eq!(
        streams_of(&all(&store).await),
        [("cart-2".into(), 1), (LIFECYCLE_STREAM.into(), 1)]
    );
    assert_eq!(
        listed(&store).await,
        [(LIFECYCLE_STREAM.into(), 1), ("cart-2".into(), 1)]
    );
    assert!(!exported(&store)
        .await
        .contains("\"streamId\":\"cart-1\",\"version\""));
    assert_eq!(store.head().await.unwrap(), 5);
    // Gone means gone: a deleted stream's version no longer satisfies `StreamExists` or `Exact`.
    assert_eq!(
        store
            .append("cart-1", ExpectedVersion::Exact(3), events(1))
            .await
            .unwrap_err(),
        Error::WrongExpectedVersion {
            stream: "cart-1".into(),
            expected: ExpectedVersion::Exact(3),
            actual: 0,
            others: Vec::new(),
        }
    );
    assert_eq!(
        kind(
            store
                .append("cart-1", ExpectedVersion::StreamExists, events(1))
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
    let again = store
        .append("cart-1", ExpectedVersion::NoStream, events(2))
        .await
        .unwrap();
    assert_eq!((again.next_expected_version, again.position), (5, 7));
    assert_eq!(versions(&stream(&store, "cart-1").await), [4, 5]);
    assert_eq!(store.stream_version("cart-1").await.unwrap(), 5);
    assert_eq!(
        streams_of(&all(&store).await),
        [
            ("cart-2".into(), 1),
            (LIFECYCLE_STREAM.into(), 1),
            ("cart-1".into(), 4),
            ("cart-1".into(), 5)
        ]
    );
    let next = store
        .append("cart-1", ExpectedVersion::Exact(5), events(1))
        .await
        .unwrap();
    assert_eq!(next.next_expected_version, 6);
    // Deleted again, then appended to with `Any`.
    store
        .delete_stream("cart-1", ExpectedVersion::Any)
        .await
        .unwrap();
    let any = store
        .append("cart-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    assert_eq!(any.next_expected_version, 7);
}

/// A delete checks its expected version and its input, and changes nothing when it fails.
pub async fn delete_stream_rejects_bad_calls<S: Storage>(store: EventStore<S>) {
    two_carts(&store).await;
    assert_eq!(
        store
            .delete_stream("cart-1", ExpectedVersion::Exact(2))
            .await
            .unwrap_err(),
        Error::WrongExpectedVersion {
            stream: "cart-1".into(),
            expected: ExpectedVersion::Exact(2),
            actual: 3,
            others: Vec::new(),
        }
    );
    assert_eq!(
        kind(
            store
                .delete_stream("cart-1", ExpectedVersion::NoStream)
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
    assert_eq!(
        kind(store.delete_stream("cart-9", ExpectedVersion::Any).await),
        ErrorKind::StreamNotFound
    );
    assert_eq!(
        kind(store.delete_stream("", ExpectedVersion::Any).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(store.delete_stream("cart\u{7}", ExpectedVersion::Any).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(versions(&stream(&store, "cart-1").await), [1, 2, 3]);
    store
        .delete_stream("cart-1", ExpectedVersion::StreamExists)
        .await
        .unwrap();
    // Deleting a deleted stream: there is nothing to delete.
    assert_eq!(
        kind(store.delete_stream("cart-1", ExpectedVersion::Any).await),
        ErrorKind::StreamNotFound
    );
    assert_eq!(
        streams_of(&all(&store).await),
        [("cart-2".into(), 1), (LIFECYCLE_STREAM.into(), 1)]
    );
}

/// A tombstone removes the events for good: every later call on the stream is `StreamDeleted`,
/// a retried tombstone succeeds, and the other streams are untouched.
pub async fn tombstone_stream_refuses_it_forever<S: Storage>(store: EventStore<S>) {
    two_carts(&store).await;
    store
        .tombstone_stream("cart-1", ExpectedVersion::Exact(3))
        .await
        .unwrap();
    let deleted = Error::StreamDeleted {
        stream: "cart-1".into(),
    };
    assert_eq!(
        store
            .read_stream("cart-1", ReadStreamOptions::new())
            .await
            .unwrap_err(),
        deleted
    );
    assert_eq!(
        store
            .append("cart-1", ExpectedVersion::Any, events(1))
            .await
            .unwrap_err(),
        deleted
    );
    assert_eq!(
        kind(
            store
                .append("cart-1", ExpectedVersion::NoStream, events(1))
                .await
        ),
        ErrorKind::StreamDeleted
    );
    assert_eq!(
        kind(store.delete_stream("cart-1", ExpectedVersion::Any).await),
        ErrorKind::StreamDeleted
    );
    assert_eq!(
        kind(
            store
                .truncate_before("cart-1", 1, ExpectedVersion::Any)
                .await
        ),
        ErrorKind::StreamDeleted
    );
    assert_eq!(
        kind(
            store
                .set_stream_metadata("cart-1", StreamMetadata::new(), ExpectedVersion::Any)
                .await
        ),
        ErrorKind::StreamDeleted
    );
    assert_eq!(
        kind(store.stream_metadata("cart-1").await),
        ErrorKind::StreamDeleted
    );
    assert_eq!(
        kind(store.stream_version("cart-1").await),
        ErrorKind::StreamDeleted
    );
    // Idempotent: a retry succeeds whatever it expects.
    store
        .tombstone_stream("cart-1", ExpectedVersion::Exact(3))
        .await
        .unwrap();
    store
        .tombstone_stream("cart-1", ExpectedVersion::Any)
        .await
        .unwrap();
    assert_eq!(
        streams_of(&all(&store).await),
        [("cart-2".into(), 1), (LIFECYCLE_STREAM.into(), 1)]
    );
    assert_eq!(
        listed(&store).await,
        [(LIFECYCLE_STREAM.into(), 1), ("cart-2".into(), 1)]
    );
    assert!(!exported(&store)
        .await
        .contains("\"streamId\":\"cart-1\",\"version\""));
    assert_eq!(store.head().await.unwrap(), 5);
    // The lazy iterator yields nothing for it.
    let lazy: Vec<_> = store
        .stream_events("cart-1", ReadStreamOptions::new())
        .unwrap()
        .collect()
        .await;
    assert!(lazy.is_empty());
    let next = store
        .append("cart-2", ExpectedVersion::Exact(1), events(1))
        .await
        .unwrap();
    assert_eq!(next.position, 6);
}

/// A tombstone checks its expected version and its input; a soft-deleted stream can still be
/// tombstoned.
pub async fn tombstone_stream_rejects_bad_calls<S: Storage>(store: EventStore<S>) {
    two_carts(&store).await;
    assert_eq!(
        kind(
            store
                .tombstone_stream("cart-1", ExpectedVersion::Exact(1))
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
    assert_eq!(
        kind(store.tombstone_stream("cart-9", ExpectedVersion::Any).await),
        ErrorKind::StreamNotFound
    );
    assert_eq!(
        kind(store.tombstone_stream("", ExpectedVersion::Any).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(versions(&stream(&store, "cart-1").await), [1, 2, 3]);
    store
        .delete_stream("cart-1", ExpectedVersion::Any)
        .await
        .unwrap();
    assert_eq!(
        kind(
            store
                .tombstone_stream("cart-1", ExpectedVersion::Exact(3))
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
    store
        .tombstone_stream("cart-1", ExpectedVersion::NoStream)
        .await
        .unwrap();
    assert_eq!(
        kind(store.read_stream("cart-1", ReadStreamOptions::new()).await),
        ErrorKind::StreamDeleted
    );
}

/// `truncate_before` removes the older events from every read path; the version and the
/// numbering stay.
pub async fn truncate_before_removes_older_events<S: Storage>(store: EventStore<S>) {
    store
        .append("log-1", ExpectedVersion::NoStream, events(5))
        .await
        .unwrap();
    store
        .append("log-2", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    store
        .truncate_before("log-1", 3, ExpectedVersion::Exact(5))
        .await
        .unwrap();
    assert_eq!(versions(&stream(&store, "log-1").await), [3, 4, 5]);
    let backward = store
        .read_stream("log-1", ReadStreamOptions::backward())
        .await
        .unwrap();
    assert_eq!(versions(&backward), [5, 4, 3]);
    let first = store
        .read_stream(
            "log-1",
            ReadStreamOptions::new().from_version(1).max_count(1),
        )
        .await
        .unwrap();
    assert_eq!(versions(&first), [3]);
    let before = store
        .read_stream("log-1", ReadStreamOptions::backward().from_version(2))
        .await
        .unwrap();
    assert!(before.is_empty());
    assert_eq!(store.stream_version("log-1").await.unwrap(), 5);
    assert_eq!(
        streams_of(&all(&store).await),
        [
            ("log-1".into(), 3),
            ("log-1".into(), 4),
            ("log-1".into(), 5),
            ("log-2".into(), 1),
            (LIFECYCLE_STREAM.into(), 1)
        ]
    );
    // At or below the earlier truncation: nothing more goes.
    store
        .truncate_before("log-1", 2, ExpectedVersion::Any)
        .await
        .unwrap();
    assert_eq!(versions(&stream(&store, "log-1").await), [3, 4, 5]);
    let next = store
        .append("log-1", ExpectedVersion::Exact(5), events(1))
        .await
        .unwrap();
    assert_eq!((next.next_expected_version, next.position), (6, 8));
    assert_eq!(
        listed(&store).await,
        [
            (LIFECYCLE_STREAM.into(), 1),
            ("log-1".into(), 6),
            ("log-2".into(), 1)
        ]
    );
    // Up to the last event.
    store
        .truncate_before("log-1", 6, ExpectedVersion::StreamExists)
        .await
        .unwrap();
    assert_eq!(versions(&stream(&store, "log-1").await), [6]);
}

/// `truncate_before` refuses versions outside `1..=version`, unknown streams and wrong
/// expectations, and changes nothing then.
pub async fn truncate_before_rejects_bad_calls<S: Storage>(store: EventStore<S>) {
    store
        .append("log-1", ExpectedVersion::NoStream, events(5))
        .await
        .unwrap();
    for version in [0, 6, u64::MAX] {
        assert_eq!(
            kind(
                store
                    .truncate_before("log-1", version, ExpectedVersion::Any)
                    .await
            ),
            ErrorKind::InvalidInput,
            "version {version}"
        );
    }
    assert_eq!(
        kind(
            store
                .truncate_before("log-1", 2, ExpectedVersion::Exact(4))
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
    assert_eq!(
        kind(
            store
                .truncate_before("log-9", 1, ExpectedVersion::Any)
                .await
        ),
        ErrorKind::StreamNotFound
    );
    assert_eq!(
        kind(store.truncate_before("", 1, ExpectedVersion::Any).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(versions(&stream(&store, "log-1").await), [1, 2, 3, 4, 5]);
}

/// `maxCount` keeps the newest events: enforced when set and by every append after.
pub async fn max_count_keeps_the_newest_events<S: Storage>(store: EventStore<S>) {
    store
        .append("feed-1", ExpectedVersion::NoStream, events(5))
        .await
        .unwrap();
    assert_eq!(
        store.stream_metadata("feed-1").await.unwrap(),
        StreamMetadata::new()
    );
    store
        .set_stream_metadata(
            "feed-1",
            StreamMetadata::new().max_count(2),
            ExpectedVersion::Exact(5),
        )
        .await
        .unwrap();
    assert_eq!(
        store.stream_metadata("feed-1").await.unwrap(),
        StreamMetadata::new().max_count(2)
    );
    assert_eq!(versions(&stream(&store, "feed-1").await), [4, 5]);
    assert_eq!(
        streams_of(&all(&store).await),
        [
            ("feed-1".into(), 4),
            ("feed-1".into(), 5),
            (LIFECYCLE_STREAM.into(), 1)
        ]
    );
    store
        .append("feed-1", ExpectedVersion::Exact(5), events(3))
        .await
        .unwrap();
    // Retention at an append records no marker.
    assert_eq!(versions(&stream(&store, "feed-1").await), [7, 8]);
    assert_eq!(
        streams_of(&all(&store).await),
        [
            (LIFECYCLE_STREAM.into(), 1),
            ("feed-1".into(), 7),
            ("feed-1".into(), 8)
        ]
    );
    // Set before the stream exists.
    store
        .set_stream_metadata(
            "feed-2",
            StreamMetadata::new().max_count(1),
            ExpectedVersion::NoStream,
        )
        .await
        .unwrap();
    store
        .append("feed-2", ExpectedVersion::NoStream, events(3))
        .await
        .unwrap();
    assert_eq!(versions(&stream(&store, "feed-2").await), [3]);
    // Lifted: later appends keep everything.
    store
        .set_stream_metadata("feed-2", StreamMetadata::new(), ExpectedVersion::Exact(3))
        .await
        .unwrap();
    store
        .append("feed-2", ExpectedVersion::Exact(3), events(2))
        .await
        .unwrap();
    assert_eq!(versions(&stream(&store, "feed-2").await), [3, 4, 5]);
}

/// Stream metadata refuses `maxCount` 0, a wrong expectation and a bad id, changing nothing.
pub async fn stream_metadata_rejects_bad_calls<S: Storage>(store: EventStore<S>) {
    store
        .append("feed-1", ExpectedVersion::NoStream, events(3))
        .await
        .unwrap();
    assert_eq!(
        kind(
            store
                .set_stream_metadata(
                    "feed-1",
                    StreamMetadata::new().max_count(0),
                    ExpectedVersion::Any
                )
                .await
        ),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(
            store
                .set_stream_metadata(
                    "feed-1",
                    StreamMetadata::new().max_count(1),
                    ExpectedVersion::Exact(2)
                )
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
    assert_eq!(
        kind(
            store
                .set_stream_metadata("", StreamMetadata::new(), ExpectedVersion::Any)
                .await
        ),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(store.stream_metadata("").await),
        ErrorKind::InvalidInput
    );
    assert_eq!(versions(&stream(&store, "feed-1").await), [1, 2, 3]);
    assert_eq!(
        store.stream_metadata("feed-1").await.unwrap(),
        StreamMetadata::new()
    );
}

/// A subscription that has not reached removed events never gets them; a live one goes on with
/// the next append; subscribing beyond the head is still refused after a delete.
pub async fn removed_events_are_not_delivered<S: Storage>(store: EventStore<S>) {
    two_carts(&store).await;
    let mut live = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(streams_of(&super::take_events(&mut live, 4).await).len(), 4);
    expect_caught_up(&mut live).await;
    store
        .truncate_before("cart-1", 3, ExpectedVersion::Any)
        .await
        .unwrap();
    store
        .tombstone_stream("cart-2", ExpectedVersion::Any)
        .await
        .unwrap();
    let mut late = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(
        streams_of(&super::take_events(&mut late, 3).await),
        [
            ("cart-1".into(), 3),
            (LIFECYCLE_STREAM.into(), 1),
            (LIFECYCLE_STREAM.into(), 2)
        ]
    );
    expect_caught_up(&mut late).await;
    // The live subscription, past the removed events, gets the markers.
    let markers = super::take_events(&mut live, 2).await;
    let types: Vec<&str> = markers.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["$streamTruncated", "$streamTombstoned"]);
    let mut one = store
        .subscribe_to_stream("cart-1", SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(next_event(&mut one).await.version, 3);
    expect_caught_up(&mut one).await;
    // Live again (past any CaughtUp marker the markers brought).
    let (taken, _) = futures::join!(
        super::take_events(&mut live, 1),
        store.append("cart-1", ExpectedVersion::Exact(3), vec![event("Paid", 1)])
    );
    let appended = &taken[0];
    assert_eq!((appended.version, appended.position), (4, 7));
    store
        .delete_stream("cart-1", ExpectedVersion::Exact(4))
        .await
        .unwrap();
    assert_eq!(store.head().await.unwrap(), 8);
    store
        .subscribe_all(SubscribeOptions::after(8))
        .await
        .unwrap();
    assert_eq!(
        kind(store.subscribe_all(SubscribeOptions::after(9)).await),
        ErrorKind::InvalidInput
    );
}

/// Deletes, tombstones, truncations and metadata survive reopening the store.
pub async fn lifecycle_survives_reopen<S: Storage, F, Fut>(store: EventStore<S>, reopen: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = EventStore<S>>,
{
    for id in ["a-1", "a-2", "a-3"] {
        store
            .append(id, ExpectedVersion::NoStream, events(3))
            .await
            .unwrap();
    }
    store
        .delete_stream("a-1", ExpectedVersion::Any)
        .await
        .unwrap();
    store
        .tombstone_stream("a-2", ExpectedVersion::Any)
        .await
        .unwrap();
    store
        .set_stream_metadata(
            "a-3",
            StreamMetadata::new().max_count(2),
            ExpectedVersion::Any,
        )
        .await
        .unwrap();
    store.close();
    let store = reopen().await;
    assert_eq!(store.head().await.unwrap(), 12);
    assert_eq!(
        kind(store.read_stream("a-1", ReadStreamOptions::new()).await),
        ErrorKind::StreamNotFound
    );
    assert_eq!(
        kind(store.append("a-2", ExpectedVersion::Any, events(1)).await),
        ErrorKind::StreamDeleted
    );
    let again = store
        .append("a-1", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    assert_eq!((again.next_expected_version, again.position), (4, 13));
    store
        .append("a-3", ExpectedVersion::Exact(3), events(1))
        .await
        .unwrap();
    assert_eq!(versions(&stream(&store, "a-3").await), [3, 4]);
    assert_eq!(
        store.stream_metadata("a-3").await.unwrap(),
        StreamMetadata::new().max_count(2)
    );
}

/// Every delete, tombstone and truncation records a marker in [`LIFECYCLE_STREAM`], in the same
/// transaction; the lifecycle stream itself can be truncated (recording nothing) but not
/// tombstoned.
pub async fn lifecycle_markers_record_each_operation<S: Storage>(store: EventStore<S>) {
    for id in ["m-1", "m-2", "m-3", "m-4"] {
        store
            .append(id, ExpectedVersion::NoStream, events(4))
            .await
            .unwrap();
    }
    store
        .delete_stream("m-1", ExpectedVersion::Exact(4))
        .await
        .unwrap();
    store
        .tombstone_stream("m-2", ExpectedVersion::Any)
        .await
        .unwrap();
    // A retried tombstone records nothing more.
    store
        .tombstone_stream("m-2", ExpectedVersion::Any)
        .await
        .unwrap();
    store
        .truncate_before("m-3", 3, ExpectedVersion::Any)
        .await
        .unwrap();
    store
        .set_stream_metadata(
            "m-4",
            StreamMetadata::new().max_count(1),
            ExpectedVersion::Any,
        )
        .await
        .unwrap();
    // A failed operation records nothing.
    assert_eq!(
        kind(
            store
                .truncate_before("m-3", 4, ExpectedVersion::Exact(1))
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
    let markers = stream(&store, LIFECYCLE_STREAM).await;
    let seen: Vec<(&str, serde_json::Value)> = markers
        .iter()
        .map(|e| (e.event_type.as_str(), e.data.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "$streamDeleted",
                json!({ "streamId": "m-1", "lastVersion": 4 })
            ),
            (
                "$streamTombstoned",
                json!({ "streamId": "m-2", "lastVersion": 4 })
            ),
            (
                "$streamTruncated",
                json!({ "streamId": "m-3", "lastVersion": 4, "before": 3 })
            ),
            (
                "$streamTruncated",
                json!({ "streamId": "m-4", "lastVersion": 4, "before": 4 })
            ),
        ]
    );
    assert_eq!(
        markers.iter().map(|e| e.position).collect::<Vec<_>>(),
        [17, 18, 19, 20]
    );
    assert_eq!(
        kind(
            store
                .tombstone_stream(LIFECYCLE_STREAM, ExpectedVersion::Any)
                .await
        ),
        ErrorKind::InvalidInput
    );
    store
        .truncate_before(LIFECYCLE_STREAM, 4, ExpectedVersion::Exact(4))
        .await
        .unwrap();
    assert_eq!(versions(&stream(&store, LIFECYCLE_STREAM).await), [4]);
    assert_eq!(store.head().await.unwrap(), 20);
}

/// `append_many` honours every stream's lifecycle as a lone append does: a tombstoned part
/// refuses the whole call (nothing of the others written), a soft-deleted stream continues its
/// numbering, and `maxCount` trims in the same transaction.
pub async fn append_many_honours_stream_lifecycle<S: Storage>(store: EventStore<S>) {
    two_carts(&store).await;
    store
        .append("feed-1", ExpectedVersion::NoStream, events(2))
        .await
        .unwrap();
    store
        .set_stream_metadata(
            "feed-1",
            StreamMetadata::new().max_count(2),
            ExpectedVersion::Exact(2),
        )
        .await
        .unwrap();
    store
        .tombstone_stream("cart-2", ExpectedVersion::Exact(1))
        .await
        .unwrap();
    store
        .delete_stream("cart-1", ExpectedVersion::Exact(3))
        .await
        .unwrap();
    let head = store.head().await.unwrap();

    let refused = store
        .append_many([
            ("feed-1", ExpectedVersion::Exact(2), events(1)),
            ("cart-2", ExpectedVersion::Any, events(1)),
        ])
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::StreamDeleted, "{refused}");
    assert_eq!(
        store.head().await.unwrap(),
        head,
        "nothing of the call written"
    );
    assert_eq!(versions(&stream(&store, "feed-1").await), [1, 2]);

    let results = store
        .append_many([
            ("cart-1", ExpectedVersion::NoStream, events(1)),
            ("feed-1", ExpectedVersion::Exact(2), events(2)),
        ])
        .await
        .unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| r.next_expected_version)
            .collect::<Vec<_>>(),
        [4, 4]
    );
    assert_eq!(versions(&stream(&store, "cart-1").await), [4]);
    assert_eq!(versions(&stream(&store, "feed-1").await), [3, 4]);
    assert_eq!(
        kind(store.read_stream("cart-2", ReadStreamOptions::new()).await),
        ErrorKind::StreamDeleted
    );
}
