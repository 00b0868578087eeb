//! `append_many`: one atomic append across several streams — all or nothing, every expected
//! version checked in the same transaction, idempotent retries, conflicts naming every stream
//! that failed, one wake-up, and bad input refused with nothing written.

use futures::future::join_all;

use super::{all, event, events, expect_caught_up, kind, new_id, next_item, stream, versions};
use crate::storage::Storage;
use crate::{
    AppendResult, Error, ErrorKind, EventStore, ExpectedVersion, Filter, NewEvent, ReadAllOptions,
    Result, StreamAppend, SubscribeOptions, SubscriptionItem, VersionConflict,
    MAX_APPEND_MANY_STREAMS,
};

fn with_ids(ids: &[String]) -> Vec<NewEvent> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| event("Moved", i as u64 + 1).with_id(id.clone()))
        .collect()
}

/// Every part is written, at dense positions in call order, and each part's result is returned
/// in order; the streams' versions continue from what they were.
pub async fn append_many_writes_every_stream<S: Storage>(store: EventStore<S>) {
    store
        .append("account-1", ExpectedVersion::NoStream, events(2))
        .await
        .unwrap();
    let results = store
        .append_many([
            ("account-1", ExpectedVersion::Exact(2), events(1)),
            ("account-2", ExpectedVersion::NoStream, events(2)),
            ("ledger-1", ExpectedVersion::Any, events(1)),
        ])
        .await
        .unwrap();
    let result = |next_expected_version, position| AppendResult {
        next_expected_version,
        position,
    };
    assert_eq!(results, [result(3, 3), result(2, 5), result(1, 6)]);
    assert_eq!(versions(&stream(&store, "account-1").await), [1, 2, 3]);
    assert_eq!(versions(&stream(&store, "account-2").await), [1, 2]);
    let everything = all(&store).await;
    let order: Vec<(&str, u64)> = everything
        .iter()
        .map(|e| (e.stream_id.as_str(), e.position))
        .collect();
    assert_eq!(
        order,
        [
            ("account-1", 1),
            ("account-1", 2),
            ("account-1", 3),
            ("account-2", 4),
            ("account-2", 5),
            ("ledger-1", 6)
        ]
    );
    let ledger = store
        .read_all(ReadAllOptions::new().filter(Filter::default().category("ledger")))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1, "the part's category is its stream's");
    // One part is a plain append.
    let one = store
        .append_many([StreamAppend::new(
            "ledger-1",
            ExpectedVersion::Exact(1),
            events(1),
        )])
        .await
        .unwrap();
    assert_eq!(one, [result(2, 7)]);
}

/// Any part whose expected version fails refuses the whole call: nothing of it is written, and
/// the one `WrongExpectedVersion` names the first conflicting stream and every other one.
pub async fn append_many_conflict_writes_nothing_and_names_every_stream<S: Storage>(
    store: EventStore<S>,
) {
    store
        .append("a-1", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    store
        .append("c-1", ExpectedVersion::NoStream, events(3))
        .await
        .unwrap();
    let error = store
        .append_many([
            ("b-1", ExpectedVersion::NoStream, events(1)),
            ("a-1", ExpectedVersion::NoStream, events(1)),
            ("d-1", ExpectedVersion::Any, events(2)),
            ("c-1", ExpectedVersion::Exact(2), events(1)),
            ("e-1", ExpectedVersion::StreamExists, events(1)),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        error,
        Error::WrongExpectedVersion {
            stream: "a-1".into(),
            expected: ExpectedVersion::NoStream,
            actual: 1,
            others: vec![
                VersionConflict {
                    stream: "c-1".into(),
                    expected: ExpectedVersion::Exact(2),
                    actual: 3,
                },
                VersionConflict {
                    stream: "e-1".into(),
                    expected: ExpectedVersion::StreamExists,
                    actual: 0,
                },
            ],
        }
    );
    let streams: Vec<String> = error.conflicts().into_iter().map(|c| c.stream).collect();
    assert_eq!(streams, ["a-1", "c-1", "e-1"]);
    assert!(error.to_string().contains("`e-1`"), "{error}");
    assert_eq!(
        store.head().await.unwrap(),
        4,
        "nothing of the call is written"
    );
    for missing in ["b-1", "d-1", "e-1"] {
        assert_eq!(store.stream_version(missing).await.unwrap(), 0, "{missing}");
    }
    // The store goes on as before: the same call with the right versions succeeds.
    let results = store
        .append_many([
            ("b-1", ExpectedVersion::NoStream, events(1)),
            ("a-1", ExpectedVersion::Exact(1), events(1)),
        ])
        .await
        .unwrap();
    assert_eq!(
        results.iter().map(|r| r.position).collect::<Vec<_>>(),
        [5, 6]
    );
}

/// Retrying a call with the same event ids returns the original results and writes nothing; a
/// call that reuses an id in any other way is a `DuplicateEventId` and writes nothing.
pub async fn append_many_retry_is_idempotent<S: Storage>(store: EventStore<S>) {
    let (first, second) = ([new_id(), new_id()], [new_id()]);
    let call = || {
        vec![
            StreamAppend::new("order-1", ExpectedVersion::NoStream, with_ids(&first)),
            StreamAppend::new("stock-1", ExpectedVersion::NoStream, with_ids(&second)),
        ]
    };
    let original = store.append_many(call()).await.unwrap();
    let retried = store.append_many(call()).await.unwrap();
    assert_eq!(original, retried);
    assert_eq!(all(&store).await.len(), 3, "nothing doubled");

    // The ids of one part reused for another stream, beside a new part.
    let error = store
        .append_many([
            ("order-2", ExpectedVersion::NoStream, events(1)),
            ("order-3", ExpectedVersion::Any, with_ids(&second)),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        error,
        Error::DuplicateEventId {
            id: second[0].clone()
        }
    );
    assert_eq!(store.head().await.unwrap(), 3);
    assert_eq!(store.stream_version("order-2").await.unwrap(), 0);
}

/// The same stream twice in one call: the parts apply in order, the second part's expected
/// version counting the first part's events (as two appends in a row); a second part that
/// expects the version before the first part conflicts, with the version the first part left.
pub async fn append_many_same_stream_twice_applies_in_order<S: Storage>(store: EventStore<S>) {
    let results = store
        .append_many([
            ("cart-1", ExpectedVersion::NoStream, events(2)),
            ("cart-2", ExpectedVersion::NoStream, events(1)),
            ("cart-1", ExpectedVersion::Exact(2), events(1)),
        ])
        .await
        .unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| (r.next_expected_version, r.position))
            .collect::<Vec<_>>(),
        [(2, 2), (1, 3), (3, 4)]
    );
    assert_eq!(versions(&stream(&store, "cart-1").await), [1, 2, 3]);

    let error = store
        .append_many([
            ("cart-1", ExpectedVersion::Exact(3), events(1)),
            ("cart-1", ExpectedVersion::Exact(3), events(1)),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        error,
        Error::wrong_expected_version("cart-1", ExpectedVersion::Exact(3), 4)
    );
    assert_eq!(
        store.head().await.unwrap(),
        4,
        "the first part is undone too"
    );
}

/// Bad input is refused before anything is written: no parts, too many parts, an empty part,
/// an invalid stream id, an invalid event, an id used twice in the call.
pub async fn append_many_rejects_bad_input<S: Storage>(store: EventStore<S>) {
    let nothing: Vec<StreamAppend> = Vec::new();
    assert_eq!(
        kind(store.append_many(nothing).await),
        ErrorKind::InvalidInput
    );
    let too_many = (0..=MAX_APPEND_MANY_STREAMS)
        .map(|i| StreamAppend::new(format!("s-{i}"), ExpectedVersion::Any, events(1)));
    assert_eq!(
        kind(store.append_many(too_many).await),
        ErrorKind::InvalidInput
    );
    let good = || StreamAppend::new("good-1", ExpectedVersion::Any, events(1));
    let bad_parts = [
        StreamAppend::new("empty-1", ExpectedVersion::Any, Vec::new()),
        StreamAppend::new("", ExpectedVersion::Any, events(1)),
        StreamAppend::new("a\u{7}b", ExpectedVersion::Any, events(1)),
        StreamAppend::new("x".repeat(2000), ExpectedVersion::Any, events(1)),
        StreamAppend::new(
            "bad-id",
            ExpectedVersion::Any,
            vec![event("E", 1).with_id("not-a-uuid")],
        ),
        StreamAppend::new("bad-type", ExpectedVersion::Any, vec![event("", 1)]),
        StreamAppend::new(
            "bad-metadata",
            ExpectedVersion::Any,
            vec![event("E", 1).with_metadata(serde_json::json!([1]))],
        ),
    ];
    for bad in bad_parts {
        let error = store
            .append_many([good(), bad.clone()])
            .await
            .expect_err("a bad part is refused");
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{bad:?}: {error}");
        assert!(
            error.to_string().contains("append 1"),
            "names the part: {error}"
        );
    }
    let id = new_id();
    let twice = store
        .append_many([
            StreamAppend::new(
                "dup-1",
                ExpectedVersion::Any,
                with_ids(std::slice::from_ref(&id)),
            ),
            StreamAppend::new(
                "dup-2",
                ExpectedVersion::Any,
                with_ids(std::slice::from_ref(&id)),
            ),
        ])
        .await;
    assert_eq!(twice, Err(Error::DuplicateEventId { id }));
    assert_eq!(store.head().await.unwrap(), 0, "nothing was written");
    store.close();
    assert_eq!(kind(store.append_many([good()]).await), ErrorKind::Closed);
}

/// A subscription that is waiting gets every event of the call, in position order, and then one
/// `CaughtUp`: the call wakes it once, after its commit.
pub async fn append_many_wakes_subscriptions_once<S: Storage>(store: EventStore<S>) {
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    expect_caught_up(&mut subscription).await;
    store
        .append_many([
            ("a-1", ExpectedVersion::NoStream, events(2)),
            ("b-1", ExpectedVersion::NoStream, events(1)),
        ])
        .await
        .unwrap();
    let mut delivered = Vec::new();
    for _ in 0..3 {
        match next_item(&mut subscription).await {
            SubscriptionItem::Event(event) => delivered.push((event.stream_id, event.position)),
            SubscriptionItem::CaughtUp => panic!("caught up in the middle of one append_many"),
        }
    }
    assert_eq!(
        delivered,
        [
            ("a-1".to_owned(), 1),
            ("a-1".to_owned(), 2),
            ("b-1".to_owned(), 3)
        ]
    );
    expect_caught_up(&mut subscription).await;
}

/// Calls started together over the same streams, in opposite orders and against single appends:
/// none deadlocks, exactly one of two calls racing to create a stream wins, and the loser writes
/// nothing.
pub async fn concurrent_append_many_calls_are_decided_one_by_one<S: Storage>(store: EventStore<S>) {
    let mut calls = Vec::new();
    for i in 0..8u64 {
        let store = store.clone();
        calls.push(async move {
            let parts = if i % 2 == 0 {
                vec![
                    StreamAppend::new("x-1", ExpectedVersion::Any, events(1)),
                    StreamAppend::new("y-1", ExpectedVersion::Any, events(1)),
                ]
            } else {
                vec![
                    StreamAppend::new("y-1", ExpectedVersion::Any, events(1)),
                    StreamAppend::new("x-1", ExpectedVersion::Any, events(1)),
                ]
            };
            store.append_many(parts).await.map(drop)
        });
    }
    let singles = (0..4u64).map(|_| {
        let store = store.clone();
        async move {
            store
                .append("x-1", ExpectedVersion::Any, events(1))
                .await
                .map(drop)
        }
    });
    let racers = (0..2u64).map(|i| {
        let store = store.clone();
        async move {
            store
                .append_many([
                    (format!("mine-{i}"), ExpectedVersion::NoStream, events(1)),
                    ("race-1".to_owned(), ExpectedVersion::NoStream, events(1)),
                ])
                .await
                .map(drop)
        }
    });
    let (calls, singles, racers) =
        futures::join!(join_all(calls), join_all(singles), join_all(racers));
    assert!(
        calls.iter().chain(&singles).all(Result::is_ok),
        "{calls:?} {singles:?}"
    );
    let lost: Vec<&Result<()>> = racers.iter().filter(|r| r.is_err()).collect();
    assert_eq!(lost.len(), 1, "exactly one racer wins: {racers:?}");
    assert_eq!(kind(lost[0].clone()), ErrorKind::WrongExpectedVersion);
    assert_eq!(store.stream_version("x-1").await.unwrap(), 12);
    assert_eq!(store.stream_version("y-1").await.unwrap(), 8);
    let mine = store.stream_version("mine-0").await.unwrap()
        + store.stream_version("mine-1").await.unwrap();
    assert_eq!(mine, 1, "the losing racer wrote nothing");
    let positions: Vec<u64> = all(&store).await.iter().map(|e| e.position).collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(positions, sorted, "positions increase in commit order");
    assert_eq!(positions.len(), 16 + 4 + 2);
}
