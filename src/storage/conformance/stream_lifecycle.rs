//! Stream lifecycle: soft delete, tombstone, truncation, `maxCount` and `maxAge`, on every read
//! path, with their expected versions, their lifecycle markers and bad input.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;

use super::projector::{run_until, Account, AccountEvent};
use super::{all, event, events, expect_caught_up, kind, next_event, stream, versions};
use serde_json::json;

use crate::platform::now_millis;
use crate::storage::{MaxAges, Storage, StreamMetadata, LIFECYCLE_STREAM, MAX_AGE_LIMIT};
use crate::store::prepare_batch;
use crate::sync::{handle_pull, PullRequest, SyncAccess, SyncServerOptions};
use crate::{
    export_jsonl, AppendResult, Direction, Error, ErrorKind, EventStore, ExpectedVersion,
    ExportOptions, ListStreamsOptions, ProjectionOptions, Projector, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, Repository, RetryPolicy, SubscribeOptions,
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
            StreamMetadata::new().max_count(2).max_age(MAX_AGE_LIMIT),
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
        StreamMetadata::new().max_count(2).max_age(MAX_AGE_LIMIT)
    );
    assert_eq!(
        store.storage().max_ages().await.unwrap(),
        MaxAges::from([("a-3".to_owned(), MAX_AGE_LIMIT)])
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

/// How long ago the "old" events of the `maxAge` tests were recorded, and the `maxAge` they
/// outlived: far apart, so that no test depends on how fast it runs.
const LONG_AGO: Duration = Duration::from_secs(2 * 3600);
const TEN_MINUTES: u64 = 600;

/// Appends `count` events to `stream` recorded `age` ago, through the storage (as an import of
/// old events does): the clock of the `maxAge` tests.
async fn append_aged<S: Storage>(
    store: &EventStore<S>,
    stream: &str,
    count: u64,
    age: Duration,
) -> AppendResult {
    let mut batch = prepare_batch(stream, ExpectedVersion::Any, events(count)).unwrap();
    let recorded_at = now_millis() - age.as_millis() as u64;
    for event in &mut batch.events {
        event.recorded_at = recorded_at;
    }
    store.storage().append(batch).await.unwrap()
}

/// The versions of `stream` as stored, past the store's retention.
async fn stored_versions<S: Storage>(store: &EventStore<S>, stream: &str) -> Vec<u64> {
    versions(
        &store
            .storage()
            .read_stream(stream, 1, Direction::Forward, usize::MAX)
            .await
            .unwrap(),
    )
}

/// `log-1`: versions 1–3 recorded long ago (positions 1–3), then `old-1` (no `maxAge`, recorded
/// long ago, position 4), then `log-1` versions 4–5 recorded now (positions 5–6); then `log-1`
/// gets a `maxAge` of ten minutes.
async fn expiring_log<S: Storage>(store: &EventStore<S>) {
    append_aged(store, "log-1", 3, LONG_AGO).await;
    append_aged(store, "old-1", 1, LONG_AGO).await;
    store
        .append("log-1", ExpectedVersion::Exact(3), events(2))
        .await
        .unwrap();
    store
        .set_stream_metadata(
            "log-1",
            StreamMetadata::new().max_age(TEN_MINUTES),
            ExpectedVersion::Exact(5),
        )
        .await
        .unwrap();
}

/// Events older than their stream's `maxAge` are hidden at once — before anything removed them
/// — from every read path: reads in both directions (from a version, with counts), `$all`, the
/// lazy reads, both kinds of subscription, the projector, a repository, export and the sync
/// server's pull; the stream's version, the numbering and the listing do not change, and other
/// streams keep their old events.
pub async fn max_age_hides_expired_events_on_every_read_path<S: Storage>(store: EventStore<S>) {
    expiring_log(&store).await;
    // Nothing was removed: hiding needs no write.
    assert_eq!(stored_versions(&store, "log-1").await, [1, 2, 3, 4, 5]);
    let log = |options| store.read_stream("log-1", options);
    assert_eq!(
        versions(&log(ReadStreamOptions::new()).await.unwrap()),
        [4, 5]
    );
    assert_eq!(
        versions(&log(ReadStreamOptions::backward()).await.unwrap()),
        [5, 4]
    );
    let from_two = ReadStreamOptions::new().from_version(2).max_count(1);
    assert_eq!(versions(&log(from_two).await.unwrap()), [4]);
    let back_from_three = ReadStreamOptions::backward().from_version(3);
    assert!(log(back_from_three).await.unwrap().is_empty());
    assert_eq!(store.stream_version("log-1").await.unwrap(), 5);
    let lazy: Vec<_> = store
        .stream_events("log-1", ReadStreamOptions::new())
        .unwrap()
        .map(|event| event.unwrap().version)
        .collect()
        .await;
    assert_eq!(lazy, [4, 5]);

    let everything = vec![
        ("old-1".to_owned(), 1),
        ("log-1".to_owned(), 4),
        ("log-1".to_owned(), 5),
    ];
    assert_eq!(streams_of(&all(&store).await), everything);
    let backward = store.read_all(ReadAllOptions::backward()).await.unwrap();
    assert_eq!(
        streams_of(&backward),
        everything.iter().rev().cloned().collect::<Vec<_>>()
    );
    let second = store
        .read_all(ReadAllOptions::new().from_position(1).max_count(2))
        .await
        .unwrap();
    assert_eq!(streams_of(&second), everything[..2]);
    let lazy_all: Vec<_> = store
        .all_events(ReadAllOptions::new())
        .unwrap()
        .map(|event| event.unwrap())
        .collect()
        .await;
    assert_eq!(streams_of(&lazy_all), everything);

    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(
        streams_of(&super::take_events(&mut subscription, 3).await),
        everything
    );
    expect_caught_up(&mut subscription).await;
    let mut one = store
        .subscribe_to_stream("log-1", SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(next_event(&mut one).await.version, 4);
    assert_eq!(next_event(&mut one).await.version, 5);
    expect_caught_up(&mut one).await;
    // Live: a fresh event arrives; the append removed the expired ones meanwhile.
    store
        .append("log-1", ExpectedVersion::Exact(5), events(1))
        .await
        .unwrap();
    assert_eq!(next_event(&mut one).await.version, 6);
    assert_eq!(next_event(&mut subscription).await.version, 6);
    drop((subscription, one));

    let seen: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut projector = Projector::new(store.clone());
    let recorder = Arc::clone(&seen);
    projector
        .add(
            "versions",
            ProjectionOptions::default(),
            move |events: Vec<RecordedEvent>| {
                recorder.lock().unwrap().extend(streams_of(&events));
                futures::future::ready(Ok::<(), String>(()))
            },
        )
        .unwrap();
    run_until(projector, |_| {
        let seen = Arc::clone(&seen);
        async move { seen.lock().unwrap().len() >= 4 }
    })
    .await;
    let mut with_live = everything.clone();
    with_live.push(("log-1".to_owned(), 6));
    assert_eq!(*seen.lock().unwrap(), with_live);

    let sync = handle_pull(
        &store,
        &SyncAccess::full(),
        &PullRequest::default(),
        &SyncServerOptions::default(),
    )
    .await
    .unwrap();
    let pulled: Vec<(String, u64)> = sync
        .events
        .iter()
        .map(|e| (e.stream_id.clone(), e.version))
        .collect();
    assert_eq!(pulled, with_live);
    assert_eq!(sync.next, 7);

    let exported = exported(&store).await;
    assert_eq!(exported.lines().count(), 1 + 4, "{exported}");
    assert!(exported.contains("\"streamId\":\"old-1\",\"version\":1"));
    assert!(!exported.contains("\"streamId\":\"log-1\",\"version\":3"));
    assert_eq!(
        listed(&store).await,
        [("log-1".into(), 6), ("old-1".into(), 1)]
    );
    assert_eq!(store.head().await.unwrap(), 7);
}

/// A stream whose events all expired reads as an empty stream (not a missing one) at its
/// version, and a repository loads it at that version, so the next append continues the
/// numbering with the expected version it saw.
pub async fn max_age_expired_stream_keeps_its_version<S: Storage>(store: EventStore<S>) {
    append_aged(&store, "account-1", 3, LONG_AGO).await;
    store
        .set_stream_metadata(
            "account-1",
            StreamMetadata::new().max_age(TEN_MINUTES),
            ExpectedVersion::Exact(3),
        )
        .await
        .unwrap();
    let read = store
        .read_stream("account-1", ReadStreamOptions::new())
        .await
        .unwrap();
    assert!(read.is_empty());
    assert_eq!(store.stream_version("account-1").await.unwrap(), 3);
    let repository = Repository::<S, Account>::new(store.clone());
    let loaded = repository.load("account-1").await.unwrap();
    assert_eq!((loaded.version, loaded.state), (3, Account::default()));
    let appended = repository
        .execute("account-1", |_| {
            Ok::<_, String>(vec![AccountEvent::Deposited { amount: 5 }])
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(appended.next_expected_version, 4);
    assert_eq!(repository.load("account-1").await.unwrap().state.balance, 5);
}

/// `maxCount` and `maxAge` combine: an event is kept only if both keep it.
pub async fn max_age_and_max_count_combine<S: Storage>(store: EventStore<S>) {
    append_aged(&store, "log-1", 4, LONG_AGO).await;
    store
        .append("log-1", ExpectedVersion::Exact(4), events(3))
        .await
        .unwrap();
    let both = |count| StreamMetadata::new().max_count(count).max_age(TEN_MINUTES);
    store
        .set_stream_metadata("log-1", both(5), ExpectedVersion::Exact(7))
        .await
        .unwrap();
    // maxCount removed 1–2; maxAge hides 3–4.
    assert_eq!(stored_versions(&store, "log-1").await, [3, 4, 5, 6, 7]);
    assert_eq!(versions(&stream(&store, "log-1").await), [5, 6, 7]);
    store
        .set_stream_metadata("log-1", both(2), ExpectedVersion::Exact(7))
        .await
        .unwrap();
    assert_eq!(versions(&stream(&store, "log-1").await), [6, 7]);
    assert_eq!(store.stream_metadata("log-1").await.unwrap(), both(2));
    // Dropping maxAge shows what maxCount alone keeps.
    store
        .set_stream_metadata(
            "log-1",
            StreamMetadata::new().max_count(2),
            ExpectedVersion::Exact(7),
        )
        .await
        .unwrap();
    assert_eq!(versions(&stream(&store, "log-1").await), [6, 7]);
    store
        .set_stream_metadata("log-1", StreamMetadata::new(), ExpectedVersion::Exact(7))
        .await
        .unwrap();
    assert_eq!(
        store.stream_metadata("log-1").await.unwrap(),
        StreamMetadata::new()
    );
}

/// Expired events are removed physically by the next append to their stream (in its
/// transaction) and by `scavenge` for every stream, always keeping a stream's last event (hidden
/// once expired) so that its version stays; positions are not reused and the head does not go
/// down. Streams without a `maxAge` lose nothing.
pub async fn max_age_reclaims_on_append_and_scavenge<S: Storage>(store: EventStore<S>) {
    append_aged(&store, "a-1", 3, LONG_AGO).await;
    append_aged(&store, "b-1", 3, LONG_AGO).await;
    append_aged(&store, "c-1", 3, LONG_AGO).await;
    let ten_minutes = StreamMetadata::new().max_age(TEN_MINUTES);
    for stream in ["a-1", "b-1"] {
        store
            .set_stream_metadata(stream, ten_minutes, ExpectedVersion::Exact(3))
            .await
            .unwrap();
    }
    // An append removes the expired events of its stream, and only those.
    let appended = store
        .append("a-1", ExpectedVersion::Exact(3), events(1))
        .await
        .unwrap();
    assert_eq!((appended.next_expected_version, appended.position), (4, 10));
    assert_eq!(stored_versions(&store, "a-1").await, [4]);
    assert_eq!(stored_versions(&store, "b-1").await, [1, 2, 3]);
    // Scavenge removes the rest, keeping b-1's last event, hidden.
    store.scavenge().await.unwrap();
    assert_eq!(stored_versions(&store, "b-1").await, [3]);
    assert_eq!(stored_versions(&store, "c-1").await, [1, 2, 3]);
    assert!(stream(&store, "b-1").await.is_empty());
    assert_eq!(store.stream_version("b-1").await.unwrap(), 3);
    assert_eq!(store.head().await.unwrap(), 10);
    // Back-dated appends to a stream with a maxAge are removed by the same append, but its
    // last event.
    append_aged(&store, "b-1", 2, LONG_AGO).await;
    assert_eq!(stored_versions(&store, "b-1").await, [5]);
    let next = store
        .append("b-1", ExpectedVersion::Exact(5), events(1))
        .await
        .unwrap();
    assert_eq!((next.next_expected_version, next.position), (6, 13));
    assert_eq!(stored_versions(&store, "b-1").await, [6]);
    assert_eq!(versions(&stream(&store, "b-1").await), [6]);
    // Scavenging again finds nothing more; a second store over a soft-deleted stream is fine.
    store.scavenge().await.unwrap();
    assert_eq!(stored_versions(&store, "a-1").await, [4]);
    store
        .delete_stream("a-1", ExpectedVersion::Exact(4))
        .await
        .unwrap();
    store.scavenge().await.unwrap();
    assert_eq!(store.stream_version("a-1").await.unwrap(), 0);
}

/// A projector retrying a batch hands it over again as it was delivered, also when its events
/// expired in between (here: a `maxAge` set by the handler's first attempt).
pub async fn max_age_projector_retry_redelivers_the_batch<S: Storage>(store: EventStore<S>) {
    append_aged(&store, "log-1", 2, LONG_AGO).await;
    let attempts: Arc<Mutex<Vec<Vec<u64>>>> = Arc::default();
    let mut projector = Projector::new(store.clone());
    let (seen, writer) = (Arc::clone(&attempts), store.clone());
    let retry = RetryPolicy {
        max_attempts: 3,
        initial_delay: Duration::from_millis(5),
        factor: 2.0,
        max_delay: Duration::from_millis(50),
    };
    projector
        .add(
            "retrying",
            ProjectionOptions::batched(5, Duration::from_millis(20)).retry(retry),
            move |events: Vec<RecordedEvent>| {
                let (seen, writer) = (Arc::clone(&seen), writer.clone());
                async move {
                    let first = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(versions(&events));
                        seen.len() == 1
                    };
                    if first {
                        let expire = StreamMetadata::new().max_age(TEN_MINUTES);
                        writer
                            .set_stream_metadata("log-1", expire, ExpectedVersion::Any)
                            .await
                            .map_err(|e| e.to_string())?;
                        return Err("the events expired meanwhile".to_owned());
                    }
                    Ok(())
                }
            },
        )
        .unwrap();
    let handle = run_until(projector, |handle| async move {
        handle.checkpoint("retrying").await.unwrap() >= 2
    })
    .await;
    assert_eq!(*attempts.lock().unwrap(), [vec![1, 2], vec![1, 2]]);
    assert_eq!(handle.status("retrying").unwrap().handled, 2);
    // A new read hides them.
    assert!(stream(&store, "log-1").await.is_empty());
}

/// `maxAge` must be between 1 and [`MAX_AGE_LIMIT`] seconds: anything else is `InvalidInput`
/// with nothing changed; a tombstone clears it; metadata round-trips with both settings.
pub async fn max_age_rejects_bad_input<S: Storage>(store: EventStore<S>) {
    append_aged(&store, "log-1", 2, LONG_AGO).await;
    store
        .append("log-1", ExpectedVersion::Exact(2), events(1))
        .await
        .unwrap();
    for bad in [0, MAX_AGE_LIMIT + 1, u64::MAX] {
        let refused = store
            .set_stream_metadata(
                "log-1",
                StreamMetadata::new().max_count(1).max_age(bad),
                ExpectedVersion::Any,
            )
            .await;
        assert_eq!(kind(refused), ErrorKind::InvalidInput, "maxAge {bad}");
    }
    assert_eq!(
        store.stream_metadata("log-1").await.unwrap(),
        StreamMetadata::new()
    );
    assert_eq!(versions(&stream(&store, "log-1").await), [1, 2, 3]);
    assert_eq!(store.head().await.unwrap(), 3);
    assert!(store.storage().max_ages().await.unwrap().is_empty());
    let longest = StreamMetadata::new().max_count(5).max_age(MAX_AGE_LIMIT);
    store
        .set_stream_metadata("log-1", longest, ExpectedVersion::Exact(3))
        .await
        .unwrap();
    assert_eq!(store.stream_metadata("log-1").await.unwrap(), longest);
    assert_eq!(versions(&stream(&store, "log-1").await), [1, 2, 3]);
    assert_eq!(
        store.storage().max_ages().await.unwrap(),
        MaxAges::from([("log-1".to_owned(), MAX_AGE_LIMIT)])
    );
    store
        .tombstone_stream("log-1", ExpectedVersion::Exact(3))
        .await
        .unwrap();
    assert!(store.storage().max_ages().await.unwrap().is_empty());
    assert_eq!(
        kind(
            store
                .set_stream_metadata(
                    "log-1",
                    StreamMetadata::new().max_age(1),
                    ExpectedVersion::Any
                )
                .await
        ),
        ErrorKind::StreamDeleted
    );
}
