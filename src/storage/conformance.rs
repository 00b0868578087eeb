//! The contract as tests: every behaviour of appends, reads, subscriptions and checkpoints, as
//! `pub async fn`s that take a fresh, empty [`EventStore`] and panic when the store breaks the
//! contract.
//!
//! Every backend runs the whole suite on its own target: memory and SQLite natively, memory and
//! IndexedDB in headless Chromium. A new backend gets the suite with one macro call:
//!
//! ```text
//! async fn make_store() -> (EventStore<MyStorage>, Guard) { /* fresh, empty store */ }
//! async fn reopen_store(guard: &Guard) -> EventStore<MyStorage> { /* the same data, reopened */ }
//! evstore::conformance_tests!(#[tokio::test]; make_store, reopen_store);
//! ```
//! The guard is kept alive for the test's duration (a temporary directory, a database name, a
//! shared in-memory store) and tells `reopen_store` what to reopen.

mod append_many;
mod concurrency;
mod export;
mod listing;
mod projector;
mod projector_lifecycle;
mod stream_lifecycle;
mod sync;
mod typed;
mod upcast;
mod validation;
mod wakeups;

pub use append_many::*;
pub use concurrency::*;
pub use export::*;
pub use listing::*;
pub use projector::*;
pub use projector_lifecycle::*;
pub use stream_lifecycle::*;
pub use sync::*;
pub use typed::*;
pub use upcast::*;
pub use validation::*;
pub use wakeups::*;

use std::future::Future;
use std::time::Duration;

use futures::future::{select, Either};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::platform::sleep;
use crate::storage::{Checkpoint, SkippedEvent, Storage};
use crate::{
    AppendResult, Error, ErrorKind, EventStore, ExpectedVersion, Filter, NewEvent, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, Result, SubscribeOptions, Subscription, SubscriptionItem,
};

/// Stamps one test per conformance function into the calling module.
///
/// `$make` names an async function returning a fresh, empty `(EventStore<S>, guard)`; the
/// attributes before the `;` mark each generated `async fn` as a test
/// (`#[tokio::test]`, `#[wasm_bindgen_test]`, …).
#[macro_export]
macro_rules! conformance_tests {
    ($(#[$attr:meta])* ; $make:path, $reopen:path) => {
        $crate::conformance_tests!(@reopen [$(#[$attr])*] $make, $reopen; projector_resumes_after_reopen);
        $crate::conformance_tests!(@reopen [$(#[$attr])*] $make, $reopen; projector_close_saves_the_batch_in_flight);
        $crate::conformance_tests!(@reopen [$(#[$attr])*] $make, $reopen; appends_through_another_handle_wake_subscriptions);
        $crate::conformance_tests!(@reopen [$(#[$attr])*] $make, $reopen; lifecycle_survives_reopen);
        $crate::conformance_tests!(@each [$(#[$attr])*] $make;
            append_many_writes_every_stream,
            append_many_conflict_writes_nothing_and_names_every_stream,
            append_many_retry_is_idempotent,
            append_many_same_stream_twice_applies_in_order,
            append_many_rejects_bad_input,
            append_many_wakes_subscriptions_once,
            concurrent_append_many_calls_are_decided_one_by_one,
        );
        $crate::conformance_tests!(@each [$(#[$attr])*] $make;
            upcasters_apply_on_every_read_path,
            upcast_type_filters_match_upcast_types,
            failing_upcasters_are_codec_errors_naming_the_event,
        );
        $crate::conformance_tests!(@pair [$(#[$attr])*] $make;
            export_import_round_trip,
            import_resumes_and_batches_long_streams,
            import_rejects_bad_lines,
        );
        $crate::conformance_tests!(@each [$(#[$attr])*] $make;
            append_no_stream_creates_the_stream,
            append_no_stream_fails_when_the_stream_exists,
            append_any_always_appends,
            append_stream_exists_requires_events,
            append_exact_version_must_match,
            append_exact_version_too_high_is_rejected,
            append_exact_zero_means_no_stream,
            append_is_atomic,
            append_retry_is_idempotent,
            append_reused_id_is_a_duplicate,
            append_duplicate_ids_in_one_batch,
            append_rejects_bad_input,
            append_assigns_ids_timestamps_and_metadata,
            positions_increase_across_streams,
            read_stream_forward_and_backward,
            read_stream_from_version_with_max_count,
            read_stream_not_found,
            read_stream_pages_large_streams,
            read_stream_rejects_bad_input,
            read_all_from_position_is_exclusive,
            read_all_max_count_and_paging,
            read_all_backward,
            read_all_filter_by_stream_prefix,
            read_all_filter_by_category,
            read_all_filter_by_event_type,
            read_all_filters_combine,
            read_all_rejects_max_count_zero,
            subscribe_all_catches_up_then_goes_live,
            subscribe_all_after_position,
            subscribe_all_from_end,
            subscribe_all_catches_up_in_batches,
            subscribe_all_with_filter,
            subscribe_to_stream_follows_one_stream,
            subscription_has_no_gap_or_duplicate_at_the_switch,
            subscription_ends_on_drop_and_close,
            subscribe_rejects_bad_input,
            typed_events_round_trip,
            typed_unknown_event_type_is_a_codec_error,
            closed_store_rejects_calls,
            checkpoints_round_trip,
            projector_delivers_every_event_once_in_order,
            projector_retries_with_backoff,
            projector_stop_policy_stops_only_the_failing_projection,
            projector_skip_policy_records_and_goes_on,
            projector_batches_flush_by_count_and_by_time,
            projector_checkpoint_stays_when_a_flush_fails,
            projector_filter_and_reset,
            projector_rejects_bad_input,
            aggregate_load_decide_save,
            aggregate_retries_on_conflict,
            projector_stop_before_run_is_not_lost,
            projector_stop_interrupts_the_retry_backoff,
            projector_checkpoint_beyond_the_head_fails_clearly,
            subscribe_beyond_the_end_is_refused,
            subscribe_rejects_a_zero_poll_interval,
            control_characters_are_refused_everywhere,
            typed_events_need_an_externally_tagged_enum,
            typed_events_refuse_non_finite_floats,
            typed_data_with_an_explicit_type,
            list_streams_in_stream_id_order,
            list_streams_by_prefix_in_pages,
            list_streams_rejects_bad_input,
            list_streams_with_lifecycle_records,
            concurrent_appends_are_decided_one_by_one,
            delete_stream_hides_it_and_numbering_continues,
            delete_stream_rejects_bad_calls,
            tombstone_stream_refuses_it_forever,
            tombstone_stream_rejects_bad_calls,
            truncate_before_removes_older_events,
            truncate_before_rejects_bad_calls,
            max_count_keeps_the_newest_events,
            stream_metadata_rejects_bad_calls,
            removed_events_are_not_delivered,
            lifecycle_markers_record_each_operation,
            append_many_honours_stream_lifecycle,
        );
        $crate::conformance_tests!(@each [$(#[$attr])*] $make;
            max_age_hides_expired_events_on_every_read_path,
            max_age_expired_stream_keeps_its_version,
            max_age_and_max_count_combine,
            max_age_reclaims_on_append_and_scavenge,
            max_age_projector_retry_redelivers_the_batch,
            max_age_rejects_bad_input,
        );
    };
    (@each $attrs:tt $make:path; $($name:ident),* $(,)?) => {
        $( $crate::conformance_tests!(@one $attrs $make; $name); )*
    };
    (@pair $attrs:tt $make:path; $($name:ident),* $(,)?) => {
        $( $crate::conformance_tests!(@two $attrs $make; $name); )*
    };
    (@two [$($attrs:tt)*] $make:path; $name:ident) => {
        $($attrs)*
        async fn $name() {
            let (first, _first_guard) = $make().await;
            let (second, _second_guard) = $make().await;
            $crate::storage::conformance::$name(first, second).await;
        }
    };
    (@reopen [$($attrs:tt)*] $make:path, $reopen:path; $name:ident) => {
        $($attrs)*
        async fn $name() {
            let (store, guard) = $make().await;
            $crate::storage::conformance::$name(store, || $reopen(&guard)).await;
        }
    };
    (@one [$($attrs:tt)*] $make:path; $name:ident) => {
        $($attrs)*
        async fn $name() {
            let (store, _guard) = $make().await;
            $crate::storage::conformance::$name(store).await;
        }
    };
}

const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn event(event_type: &str, n: u64) -> NewEvent {
    NewEvent::new(event_type, json!({ "n": n }))
}

pub(crate) fn events(count: u64) -> Vec<NewEvent> {
    (1..=count).map(|n| event("Happened", n)).collect()
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn kind<T: std::fmt::Debug>(result: Result<T>) -> ErrorKind {
    result.expect_err("expected an error").kind()
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

fn numbers(events: &[RecordedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.data["n"].as_u64().expect("data.n"))
        .collect()
}

async fn all<S: Storage>(store: &EventStore<S>) -> Vec<RecordedEvent> {
    store
        .read_all(ReadAllOptions::new())
        .await
        .expect("read_all")
}

async fn stream<S: Storage>(store: &EventStore<S>, id: &str) -> Vec<RecordedEvent> {
    store
        .read_stream(id, ReadStreamOptions::new())
        .await
        .expect("read_stream")
}

/// Awaits `future`, failing the test after a generous timeout instead of hanging.
pub(crate) async fn within<T>(future: impl Future<Output = T>) -> T {
    match select(Box::pin(future), Box::pin(sleep(WAIT))).await {
        Either::Left((value, _)) => value,
        Either::Right(_) => panic!("timed out after {WAIT:?}"),
    }
}

async fn next_item(subscription: &mut Subscription) -> SubscriptionItem {
    within(subscription.next())
        .await
        .expect("subscription ended")
        .expect("subscription failed")
}

async fn next_event(subscription: &mut Subscription) -> RecordedEvent {
    match next_item(subscription).await {
        SubscriptionItem::Event(event) => event,
        SubscriptionItem::CaughtUp => panic!("expected an event, got CaughtUp"),
    }
}

/// Collects `count` events, skipping `CaughtUp` markers.
async fn take_events(subscription: &mut Subscription, count: usize) -> Vec<RecordedEvent> {
    let mut taken = Vec::with_capacity(count);
    while taken.len() < count {
        if let SubscriptionItem::Event(event) = next_item(subscription).await {
            taken.push(event);
        }
    }
    taken
}

async fn expect_caught_up(subscription: &mut Subscription) {
    assert_eq!(next_item(subscription).await, SubscriptionItem::CaughtUp);
}

/// Runs `action` (an append) once the subscription is waiting, and returns the live event it
/// delivers next.
async fn live_event<F: Future>(subscription: &mut Subscription, action: F) -> RecordedEvent {
    let delayed = async {
        sleep(Duration::from_millis(20)).await;
        action.await
    };
    let (event, _) = futures::join!(next_event(subscription), delayed);
    event
}

// ---------------------------------------------------------------------------------------------
// Append

/// `NoStream` creates a stream at version 1.., positions from 1.
pub async fn append_no_stream_creates_the_stream<S: Storage>(store: EventStore<S>) {
    let result = store
        .append("order-1", ExpectedVersion::NoStream, events(2))
        .await
        .unwrap();
    assert_eq!(
        result,
        AppendResult {
            next_expected_version: 2,
            position: 2
        }
    );
    let read = stream(&store, "order-1").await;
    assert_eq!(versions(&read), [1, 2]);
    assert_eq!(positions(&read), [1, 2]);
    assert_eq!(numbers(&read), [1, 2]);
    assert_eq!(store.stream_version("order-1").await.unwrap(), 2);
}

/// `NoStream` on an existing stream is a `WrongExpectedVersion` with the actual version.
pub async fn append_no_stream_fails_when_the_stream_exists<S: Storage>(store: EventStore<S>) {
    store
        .append("order-1", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    let error = store
        .append("order-1", ExpectedVersion::NoStream, events(1))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        Error::wrong_expected_version("order-1", ExpectedVersion::NoStream, 1)
    );
    assert_eq!(stream(&store, "order-1").await.len(), 1);
}

/// `Any` appends to new and existing streams alike.
pub async fn append_any_always_appends<S: Storage>(store: EventStore<S>) {
    let first = store
        .append("order-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    assert_eq!(first.next_expected_version, 1);
    let second = store
        .append("order-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    assert_eq!(
        second,
        AppendResult {
            next_expected_version: 3,
            position: 3
        }
    );
}

/// `StreamExists` fails on a new stream and passes once the stream has events.
pub async fn append_stream_exists_requires_events<S: Storage>(store: EventStore<S>) {
    let error = store
        .append("order-1", ExpectedVersion::StreamExists, events(1))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::WrongExpectedVersion { actual: 0, .. }),
        "{error:?}"
    );
    assert_eq!(store.head().await.unwrap(), 0);
    store
        .append("order-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    let result = store
        .append("order-1", ExpectedVersion::StreamExists, events(1))
        .await
        .unwrap();
    assert_eq!(result.next_expected_version, 2);
}

/// `Exact(n)` passes when the stream is at `n` and fails below it.
pub async fn append_exact_version_must_match<S: Storage>(store: EventStore<S>) {
    store
        .append("order-1", ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    let result = store
        .append("order-1", ExpectedVersion::Exact(3), events(1))
        .await
        .unwrap();
    assert_eq!(result.next_expected_version, 4);
    let error = store
        .append("order-1", ExpectedVersion::Exact(2), events(1))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        Error::wrong_expected_version("order-1", ExpectedVersion::Exact(2), 4)
    );
    assert_eq!(versions(&stream(&store, "order-1").await), [1, 2, 3, 4]);
}

/// A too-high exact version is a mismatch, not a gap.
pub async fn append_exact_version_too_high_is_rejected<S: Storage>(store: EventStore<S>) {
    store
        .append("order-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    let error = store
        .append("order-1", ExpectedVersion::Exact(5), events(1))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::WrongExpectedVersion { actual: 2, .. }),
        "{error:?}"
    );
    let error = store
        .append("order-9", ExpectedVersion::Exact(1), events(1))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::WrongExpectedVersion { actual: 0, .. }),
        "{error:?}"
    );
    assert_eq!(versions(&all(&store).await), [1, 2]);
}

/// `Exact(0)` behaves as `NoStream`.
pub async fn append_exact_zero_means_no_stream<S: Storage>(store: EventStore<S>) {
    store
        .append("order-1", ExpectedVersion::Exact(0), events(1))
        .await
        .unwrap();
    assert_eq!(
        kind(
            store
                .append("order-1", ExpectedVersion::Exact(0), events(1))
                .await
        ),
        ErrorKind::WrongExpectedVersion
    );
}

/// A batch that fails leaves nothing behind, even when its failure is found after its first
/// events were checked.
pub async fn append_is_atomic<S: Storage>(store: EventStore<S>) {
    let taken = new_id();
    store
        .append(
            "other-1",
            ExpectedVersion::Any,
            vec![event("Happened", 0).with_id(&taken)],
        )
        .await
        .unwrap();
    let batch = vec![
        event("Happened", 1),
        event("Happened", 2),
        event("Happened", 3).with_id(&taken),
    ];
    assert_eq!(
        kind(store.append("order-1", ExpectedVersion::Any, batch).await),
        ErrorKind::DuplicateEventId
    );
    assert_eq!(
        kind(store.read_stream("order-1", ReadStreamOptions::new()).await),
        ErrorKind::StreamNotFound
    );
    assert_eq!(store.head().await.unwrap(), 1);
    // The store still works and positions continue after the failed batch.
    let result = store
        .append("order-1", ExpectedVersion::NoStream, events(2))
        .await
        .unwrap();
    assert_eq!(result.next_expected_version, 2);
    assert_eq!(versions(&stream(&store, "order-1").await), [1, 2]);
}

/// Retrying an append with the same ids returns the original result and writes nothing.
pub async fn append_retry_is_idempotent<S: Storage>(store: EventStore<S>) {
    let batch: Vec<NewEvent> = (1..=3)
        .map(|n| event("Happened", n).with_id(new_id()))
        .collect();
    let original = store
        .append("order-1", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    store
        .append("order-2", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    let retried = store
        .append("order-1", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(retried, original);
    assert_eq!(stream(&store, "order-1").await.len(), 3);
    assert_eq!(store.head().await.unwrap(), 4);

    // With `Exact`, `Any` and `StreamExists` too, after the stream moved on.
    let more: Vec<NewEvent> = (4..=5)
        .map(|n| event("Happened", n).with_id(new_id()))
        .collect();
    let original = store
        .append("order-1", ExpectedVersion::Exact(3), more.clone())
        .await
        .unwrap();
    store
        .append("order-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    for expected in [
        ExpectedVersion::Exact(3),
        ExpectedVersion::Any,
        ExpectedVersion::StreamExists,
    ] {
        assert_eq!(
            store
                .append("order-1", expected, more.clone())
                .await
                .unwrap(),
            original
        );
    }
    assert_eq!(
        versions(&stream(&store, "order-1").await),
        [1, 2, 3, 4, 5, 6]
    );
    // A retry whose expected version could not have produced the original is not a retry.
    assert_eq!(
        kind(
            store
                .append("order-1", ExpectedVersion::Exact(1), more)
                .await
        ),
        ErrorKind::DuplicateEventId
    );
}

/// Any other reuse of an existing id is `DuplicateEventId`, with nothing written.
pub async fn append_reused_id_is_a_duplicate<S: Storage>(store: EventStore<S>) {
    let (a, b) = (new_id(), new_id());
    let batch = vec![
        event("Happened", 1).with_id(&a),
        event("Happened", 2).with_id(&b),
    ];
    store
        .append("order-1", ExpectedVersion::NoStream, batch)
        .await
        .unwrap();

    // The same id in another stream.
    let error = store
        .append(
            "order-2",
            ExpectedVersion::Any,
            vec![event("Happened", 1).with_id(&a)],
        )
        .await
        .unwrap_err();
    assert_eq!(error, Error::DuplicateEventId { id: a.clone() });
    // Part of the original batch plus a new event.
    let partial = vec![event("Happened", 1).with_id(&a), event("Happened", 9)];
    assert_eq!(
        kind(store.append("order-1", ExpectedVersion::Any, partial).await),
        ErrorKind::DuplicateEventId
    );
    // The original ids in another order.
    let swapped = vec![
        event("Happened", 2).with_id(&b),
        event("Happened", 1).with_id(&a),
    ];
    assert_eq!(
        kind(store.append("order-1", ExpectedVersion::Any, swapped).await),
        ErrorKind::DuplicateEventId
    );
    // Only the second half of the original batch, at versions it was not appended at.
    let tail = vec![event("Happened", 2).with_id(&b)];
    assert_eq!(
        kind(
            store
                .append("order-1", ExpectedVersion::NoStream, tail)
                .await
        ),
        ErrorKind::DuplicateEventId
    );

    assert_eq!(store.head().await.unwrap(), 2);
    assert!(matches!(
        store.read_stream("order-2", ReadStreamOptions::new()).await,
        Err(Error::StreamNotFound { .. })
    ));
}

/// Two events of one batch with the same id are a `DuplicateEventId`; ids compare as UUIDs.
pub async fn append_duplicate_ids_in_one_batch<S: Storage>(store: EventStore<S>) {
    let id = new_id();
    let batch = vec![
        event("Happened", 1).with_id(&id),
        event("Happened", 2).with_id(id.to_uppercase()),
    ];
    assert_eq!(
        kind(store.append("order-1", ExpectedVersion::Any, batch).await),
        ErrorKind::DuplicateEventId
    );
    assert_eq!(store.head().await.unwrap(), 0);
}

/// Bad input is an `InvalidInput` and writes nothing.
pub async fn append_rejects_bad_input<S: Storage>(store: EventStore<S>) {
    let cases: Vec<(&str, String, Vec<NewEvent>)> = vec![
        ("empty stream id", String::new(), events(1)),
        ("stream id over 1024 bytes", "x".repeat(1025), events(1)),
        (
            "multi-byte stream id over 1024 bytes",
            "é".repeat(513),
            events(1),
        ),
        ("empty batch", "order-1".into(), Vec::new()),
        (
            "empty event type",
            "order-1".into(),
            vec![NewEvent::new("", json!({}))],
        ),
        (
            "id that is not a UUID",
            "order-1".into(),
            vec![event("Happened", 1).with_id("not-a-uuid")],
        ),
        (
            "metadata that is an array",
            "order-1".into(),
            vec![event("Happened", 1).with_metadata(json!([1]))],
        ),
        (
            "metadata that is a string",
            "order-1".into(),
            vec![event("Happened", 1).with_metadata(json!("x"))],
        ),
        (
            "bad event after good ones",
            "order-1".into(),
            vec![event("Happened", 1), NewEvent::new("", json!(null))],
        ),
    ];
    for (case, stream, batch) in cases {
        let result = store.append(&stream, ExpectedVersion::Any, batch).await;
        assert_eq!(kind(result), ErrorKind::InvalidInput, "{case}");
    }
    assert_eq!(store.head().await.unwrap(), 0);
    // The limits themselves are accepted.
    let longest = "y".repeat(crate::MAX_STREAM_ID_BYTES);
    store
        .append(&longest, ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    assert_eq!(stream(&store, &longest).await[0].stream_id, longest);
}

/// Ids are generated as UUIDv7 when missing; timestamps, metadata, correlation and causation ids
/// are stored.
pub async fn append_assigns_ids_timestamps_and_metadata<S: Storage>(store: EventStore<S>) {
    let before = crate::platform::now_millis();
    let given = new_id();
    let batch = vec![
        event("Happened", 1),
        event("Happened", 2)
            .with_id(given.to_uppercase())
            .with_metadata(json!({ "user": "ada", "nested": { "ok": [1, 2] } }))
            .with_correlation_id("corr-1")
            .with_causation_id("cause-1"),
        NewEvent::new(
            "Üñíçødé ✓",
            json!({ "text": "naïve — 日本", "big": 9007199254740993u64, "f": 1.5, "null": null }),
        ),
    ];
    store
        .append("ünï-1", ExpectedVersion::Any, batch)
        .await
        .unwrap();
    let after = crate::platform::now_millis();
    let read = stream(&store, "ünï-1").await;
    let generated = uuid::Uuid::parse_str(&read[0].id).expect("generated id is a UUID");
    assert_eq!(generated.get_version_num(), 7);
    assert_eq!(read[0].metadata, json!({}));
    assert_eq!(read[0].correlation_id, None);
    assert_eq!(
        read[1].id, given,
        "ids are stored in lowercase hyphenated form"
    );
    assert_eq!(
        read[1].metadata,
        json!({ "user": "ada", "nested": { "ok": [1, 2] } })
    );
    assert_eq!(read[1].correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(read[1].causation_id.as_deref(), Some("cause-1"));
    assert_eq!(read[2].event_type, "Üñíçødé ✓");
    assert_eq!(
        read[2].data,
        json!({ "text": "naïve — 日本", "big": 9007199254740993u64, "f": 1.5, "null": null })
    );
    for event in &read {
        assert!(
            before <= event.recorded_at && event.recorded_at <= after,
            "recorded_at {}",
            event.recorded_at
        );
        assert_eq!(event.stream_id, "ünï-1");
    }
}

/// Positions increase strictly across streams in commit order.
pub async fn positions_increase_across_streams<S: Storage>(store: EventStore<S>) {
    let mut last = 0;
    for round in 0..3 {
        for stream in ["a-1", "b-1", "a-2"] {
            let result = store
                .append(stream, ExpectedVersion::Any, events(2))
                .await
                .unwrap();
            assert!(
                result.position > last,
                "round {round}: {} after {last}",
                result.position
            );
            last = result.position;
        }
    }
    let read = all(&store).await;
    assert_eq!(read.len(), 18);
    assert!(read
        .windows(2)
        .all(|pair| pair[0].position < pair[1].position));
    assert_eq!(read.last().unwrap().position, last);
    assert_eq!(store.head().await.unwrap(), last);
}

// ---------------------------------------------------------------------------------------------
// Read a stream

/// Forward reads oldest first, backward newest first, only the stream's own events.
pub async fn read_stream_forward_and_backward<S: Storage>(store: EventStore<S>) {
    store
        .append("order-1", ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    store
        .append("order-2", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    store
        .append("order-1", ExpectedVersion::Any, vec![event("Happened", 4)])
        .await
        .unwrap();
    let forward = stream(&store, "order-1").await;
    assert_eq!(versions(&forward), [1, 2, 3, 4]);
    assert_eq!(positions(&forward), [1, 2, 3, 6]);
    let backward = store
        .read_stream("order-1", ReadStreamOptions::backward())
        .await
        .unwrap();
    assert_eq!(versions(&backward), [4, 3, 2, 1]);
    assert!(backward.iter().all(|e| e.stream_id == "order-1"));
}

/// `from_version` is inclusive in both directions; `max_count` bounds the result.
pub async fn read_stream_from_version_with_max_count<S: Storage>(store: EventStore<S>) {
    store
        .append("order-1", ExpectedVersion::Any, events(6))
        .await
        .unwrap();
    let read = |options| store.read_stream("order-1", options);
    assert_eq!(
        versions(
            &read(ReadStreamOptions::new().from_version(3))
                .await
                .unwrap()
        ),
        [3, 4, 5, 6]
    );
    assert_eq!(
        versions(
            &read(ReadStreamOptions::new().from_version(3).max_count(2))
                .await
                .unwrap()
        ),
        [3, 4]
    );
    assert_eq!(
        versions(&read(ReadStreamOptions::new().max_count(1)).await.unwrap()),
        [1]
    );
    assert_eq!(
        versions(
            &read(ReadStreamOptions::backward().from_version(4).max_count(2))
                .await
                .unwrap()
        ),
        [4, 3]
    );
    assert_eq!(
        versions(
            &read(ReadStreamOptions::backward().max_count(2))
                .await
                .unwrap()
        ),
        [6, 5]
    );
    assert_eq!(
        versions(
            &read(ReadStreamOptions::backward().from_version(100))
                .await
                .unwrap()
        ),
        [6, 5, 4, 3, 2, 1]
    );
    // Past the end of an existing stream: nothing, not an error.
    assert!(read(ReadStreamOptions::new().from_version(7))
        .await
        .unwrap()
        .is_empty());
    assert!(read(ReadStreamOptions::backward().from_version(0))
        .await
        .unwrap()
        .is_empty());
}

/// Reading a stream without events is `StreamNotFound`.
pub async fn read_stream_not_found<S: Storage>(store: EventStore<S>) {
    assert_eq!(
        store
            .read_stream("order-1", ReadStreamOptions::new())
            .await
            .unwrap_err(),
        Error::StreamNotFound {
            stream: "order-1".into()
        }
    );
    store
        .append("order-10", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    store
        .append("order", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    let error = store
        .read_stream("order-1", ReadStreamOptions::backward().from_version(3))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::StreamNotFound);
    assert_eq!(store.stream_version("order-1").await.unwrap(), 0);
}

/// Streams longer than a page read completely and in order, and lazily page by page.
pub async fn read_stream_pages_large_streams<S: Storage>(store: EventStore<S>) {
    let total = store.options().page_size as u64 * 2 + 37;
    for chunk in (1..=total).collect::<Vec<_>>().chunks(250) {
        let batch = chunk.iter().map(|&n| event("Happened", n)).collect();
        store
            .append("big-1", ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
    let forward = stream(&store, "big-1").await;
    assert_eq!(numbers(&forward), (1..=total).collect::<Vec<_>>());
    let backward = store
        .read_stream("big-1", ReadStreamOptions::backward())
        .await
        .unwrap();
    assert_eq!(versions(&backward), (1..=total).rev().collect::<Vec<_>>());
    let some = store
        .read_stream(
            "big-1",
            ReadStreamOptions::new().from_version(2).max_count(700),
        )
        .await
        .unwrap();
    assert_eq!(versions(&some), (2..702).collect::<Vec<_>>());
    let mut lazy = store
        .stream_events("big-1", ReadStreamOptions::new().from_version(total - 1))
        .unwrap();
    assert_eq!(lazy.next().await.unwrap().unwrap().version, total - 1);
    assert_eq!(lazy.next().await.unwrap().unwrap().version, total);
    assert!(lazy.next().await.is_none());
}

/// Bad stream ids and `max_count` 0 are `InvalidInput`.
pub async fn read_stream_rejects_bad_input<S: Storage>(store: EventStore<S>) {
    store
        .append("order-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    assert_eq!(
        kind(store.read_stream("", ReadStreamOptions::new()).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(
            store
                .read_stream(&"x".repeat(1025), ReadStreamOptions::new())
                .await
        ),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(
            store
                .read_stream("order-1", ReadStreamOptions::new().max_count(0))
                .await
        ),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(store.stream_version("").await),
        ErrorKind::InvalidInput
    );
}

// ---------------------------------------------------------------------------------------------
// Read all

/// `from_position` is exclusive: reading from p starts at the first event after p.
pub async fn read_all_from_position_is_exclusive<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    store
        .append("b-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    let read = |from| store.read_all(ReadAllOptions::new().from_position(from));
    assert_eq!(positions(&read(0).await.unwrap()), [1, 2, 3, 4, 5]);
    assert_eq!(positions(&read(2).await.unwrap()), [3, 4, 5]);
    assert!(read(5).await.unwrap().is_empty());
    assert!(read(500).await.unwrap().is_empty());
    let streams: Vec<String> = all(&store).await.into_iter().map(|e| e.stream_id).collect();
    assert_eq!(streams, ["a-1", "a-1", "a-1", "b-1", "b-1"]);
}

/// `max_count` bounds a read; following pages by the last position sees every event once.
pub async fn read_all_max_count_and_paging<S: Storage>(store: EventStore<S>) {
    for i in 0..7 {
        store
            .append(&format!("s-{}", i % 3), ExpectedVersion::Any, events(3))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let page = store
            .read_all(ReadAllOptions::new().from_position(from).max_count(4))
            .await
            .unwrap();
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        from = last.position;
        seen.extend(positions(&page));
    }
    assert_eq!(seen, (1..=21).collect::<Vec<_>>());
    let large = store.options().page_size * 2 + 3;
    store
        .append("big-1", ExpectedVersion::Any, events(large as u64))
        .await
        .unwrap();
    assert_eq!(all(&store).await.len(), 21 + large);
    assert_eq!(
        store
            .read_all(ReadAllOptions::new().max_count(large + 1))
            .await
            .unwrap()
            .len(),
        large + 1
    );
}

/// Backward reads go newest first, before `from_position` (exclusive).
pub async fn read_all_backward<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    store
        .append("b-1", ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    assert_eq!(
        positions(&store.read_all(ReadAllOptions::backward()).await.unwrap()),
        [6, 5, 4, 3, 2, 1]
    );
    assert_eq!(
        positions(
            &store
                .read_all(ReadAllOptions::backward().from_position(4))
                .await
                .unwrap()
        ),
        [3, 2, 1]
    );
    assert_eq!(
        positions(
            &store
                .read_all(ReadAllOptions::backward().max_count(2))
                .await
                .unwrap()
        ),
        [6, 5]
    );
    let options = ReadAllOptions::backward()
        .from_position(6)
        .max_count(2)
        .filter(Filter::new().stream_prefix("a-"));
    assert_eq!(positions(&store.read_all(options).await.unwrap()), [3, 2]);
    assert!(store
        .read_all(ReadAllOptions::backward().from_position(1))
        .await
        .unwrap()
        .is_empty());
}

async fn filter_fixture<S: Storage>(store: &EventStore<S>) {
    let appends = [
        ("account-1", "Opened"),
        ("account-1", "Deposited"),
        ("order-1", "Placed"),
        ("account-2", "Opened"),
        ("accounting-1", "Deposited"),
        ("order-2", "Deposited"),
        ("account", "Closed"),
        ("account-1", "Withdrawn"),
    ];
    for (n, (stream, event_type)) in appends.into_iter().enumerate() {
        store
            .append(
                stream,
                ExpectedVersion::Any,
                vec![event(event_type, n as u64 + 1)],
            )
            .await
            .unwrap();
    }
}

async fn filtered<S: Storage>(store: &EventStore<S>, filter: Filter) -> Vec<u64> {
    let forward = store
        .read_all(ReadAllOptions::new().filter(filter.clone()))
        .await
        .unwrap();
    let paged = store
        .read_all(
            ReadAllOptions::new()
                .filter(filter.clone())
                .max_count(1)
                .from_position(positions(&forward).first().copied().unwrap_or(0)),
        )
        .await
        .unwrap();
    assert!(paged.len() <= 1);
    if forward.len() > 1 {
        assert_eq!(
            paged[0].position, forward[1].position,
            "paging a filtered read"
        );
    }
    let mut backward = positions(
        &store
            .read_all(ReadAllOptions::backward().filter(filter))
            .await
            .unwrap(),
    );
    backward.reverse();
    assert_eq!(backward, positions(&forward), "backward filtered read");
    positions(&forward)
}

/// A stream-prefix filter matches stream ids that start with any prefix given.
pub async fn read_all_filter_by_stream_prefix<S: Storage>(store: EventStore<S>) {
    filter_fixture(&store).await;
    assert_eq!(
        filtered(&store, Filter::new().stream_prefix("account-")).await,
        [1, 2, 4, 8]
    );
    assert_eq!(
        filtered(&store, Filter::new().stream_prefix("account")).await,
        [1, 2, 4, 5, 7, 8]
    );
    assert_eq!(
        filtered(
            &store,
            Filter::new()
                .stream_prefix("order-")
                .stream_prefix("account-2")
        )
        .await,
        [3, 4, 6]
    );
    assert_eq!(
        filtered(&store, Filter::new().stream_prefix("zzz")).await,
        Vec::<u64>::new()
    );
    // Prefixes are literal: wildcard characters of SQL or glob match only themselves.
    assert_eq!(
        filtered(&store, Filter::new().stream_prefix("acc%")).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        filtered(&store, Filter::new().stream_prefix("acc_unt")).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        filtered(&store, Filter::new().stream_prefix("acc*")).await,
        Vec::<u64>::new()
    );
}

/// A category filter matches the part of the stream id before the first `-`.
pub async fn read_all_filter_by_category<S: Storage>(store: EventStore<S>) {
    filter_fixture(&store).await;
    assert_eq!(
        filtered(&store, Filter::new().category("account")).await,
        [1, 2, 4, 7, 8]
    );
    assert_eq!(
        filtered(&store, Filter::new().category("accounting")).await,
        [5]
    );
    assert_eq!(
        filtered(
            &store,
            Filter::new().category("order").category("accounting")
        )
        .await,
        [3, 5, 6]
    );
}

/// An event-type filter matches any of the types given.
pub async fn read_all_filter_by_event_type<S: Storage>(store: EventStore<S>) {
    filter_fixture(&store).await;
    assert_eq!(
        filtered(&store, Filter::new().event_type("Deposited")).await,
        [2, 5, 6]
    );
    assert_eq!(
        filtered(
            &store,
            Filter::new().event_type("Opened").event_type("Closed")
        )
        .await,
        [1, 4, 7]
    );
    assert_eq!(
        filtered(&store, Filter::new().event_type("deposited")).await,
        Vec::<u64>::new()
    );
}

/// Different kinds of filter combine with AND; values of one kind with OR.
pub async fn read_all_filters_combine<S: Storage>(store: EventStore<S>) {
    filter_fixture(&store).await;
    let filter = Filter::new()
        .category("account")
        .event_type("Opened")
        .event_type("Withdrawn");
    assert_eq!(filtered(&store, filter).await, [1, 4, 8]);
    let filter = Filter::new()
        .stream_prefix("account-1")
        .category("account")
        .event_type("Deposited");
    assert_eq!(filtered(&store, filter).await, [2]);
    let filter = Filter::new().stream_prefix("order-").event_type("Opened");
    assert_eq!(filtered(&store, filter).await, Vec::<u64>::new());
}

/// `max_count` of 0 is `InvalidInput`.
pub async fn read_all_rejects_max_count_zero<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    assert_eq!(
        kind(store.read_all(ReadAllOptions::new().max_count(0)).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(
            store
                .read_all(ReadAllOptions::backward().max_count(0))
                .await
        ),
        ErrorKind::InvalidInput
    );
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

/// Catch-up delivers existing events, then `CaughtUp`, then events appended afterwards.
pub async fn subscribe_all_catches_up_then_goes_live<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(
        positions(&take_events(&mut subscription, 3).await),
        [1, 2, 3]
    );
    expect_caught_up(&mut subscription).await;
    let live = live_event(
        &mut subscription,
        store.append("b-1", ExpectedVersion::Any, events(2)),
    )
    .await;
    assert_eq!((live.position, live.stream_id.as_str()), (4, "b-1"));
    assert_eq!(next_event(&mut subscription).await.position, 5);
    expect_caught_up(&mut subscription).await;
    let live = live_event(
        &mut subscription,
        store.append("a-1", ExpectedVersion::Any, events(1)),
    )
    .await;
    assert_eq!(live.position, 6);
}

/// Starting after a position skips it and everything before.
pub async fn subscribe_all_after_position<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(5))
        .await
        .unwrap();
    let mut subscription = store
        .subscribe_all(SubscribeOptions::after(3))
        .await
        .unwrap();
    assert_eq!(positions(&take_events(&mut subscription, 2).await), [4, 5]);
    expect_caught_up(&mut subscription).await;
    let mut past_end = store
        .subscribe_all(SubscribeOptions::after(5))
        .await
        .unwrap();
    expect_caught_up(&mut past_end).await;
}

/// Starting from the end delivers only events appended afterwards.
pub async fn subscribe_all_from_end<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(4))
        .await
        .unwrap();
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_end())
        .await
        .unwrap();
    // Appended after subscribing but before the first poll: still delivered.
    store
        .append("a-1", ExpectedVersion::Any, vec![event("Happened", 5)])
        .await
        .unwrap();
    let first = next_event(&mut subscription).await;
    assert_eq!((first.position, first.data["n"].as_u64()), (5, Some(5)));
    expect_caught_up(&mut subscription).await;
}

/// Catch-up reads in batches and delivers every event in order, `CaughtUp` once at the end.
pub async fn subscribe_all_catches_up_in_batches<S: Storage>(store: EventStore<S>) {
    for i in 0..6 {
        store
            .append(&format!("s-{i}"), ExpectedVersion::Any, events(4))
            .await
            .unwrap();
    }
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start().batch_size(5))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let SubscriptionItem::Event(event) = next_item(&mut subscription).await {
        seen.push(event.position);
    }
    assert_eq!(seen, (1..=24).collect::<Vec<_>>());
}

/// A filtered subscription delivers only matching events, in order, live too.
pub async fn subscribe_all_with_filter<S: Storage>(store: EventStore<S>) {
    filter_fixture(&store).await;
    let filter = Filter::new().category("account").event_type("Opened");
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start().filter(filter))
        .await
        .unwrap();
    assert_eq!(positions(&take_events(&mut subscription, 2).await), [1, 4]);
    expect_caught_up(&mut subscription).await;
    store
        .append("order-3", ExpectedVersion::Any, vec![event("Opened", 9)])
        .await
        .unwrap();
    let live = live_event(
        &mut subscription,
        store.append("account-3", ExpectedVersion::Any, vec![event("Opened", 10)]),
    )
    .await;
    assert_eq!(live.stream_id, "account-3");
    assert_eq!(live.position, 10);
}

/// A stream subscription sees only its stream, by version, including a stream created later.
pub async fn subscribe_to_stream_follows_one_stream<S: Storage>(store: EventStore<S>) {
    store
        .append("other-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    let mut subscription = store
        .subscribe_to_stream("order-1", SubscribeOptions::from_start())
        .await
        .unwrap();
    expect_caught_up(&mut subscription).await;
    let live = live_event(
        &mut subscription,
        store.append("order-1", ExpectedVersion::NoStream, events(2)),
    )
    .await;
    assert_eq!(live.version, 1);
    assert_eq!(live.position, 3);
    assert_eq!(next_event(&mut subscription).await.version, 2);
    expect_caught_up(&mut subscription).await;
    store
        .append("other-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    let live = live_event(
        &mut subscription,
        store.append("order-1", ExpectedVersion::Exact(2), events(1)),
    )
    .await;
    assert_eq!(live.version, 3);
    assert_eq!(live.stream_id, "order-1");

    let mut after = store
        .subscribe_to_stream("order-1", SubscribeOptions::after(1))
        .await
        .unwrap();
    assert_eq!(versions(&take_events(&mut after, 2).await), [2, 3]);
    let mut from_end = store
        .subscribe_to_stream("order-1", SubscribeOptions::from_end())
        .await
        .unwrap();
    expect_caught_up(&mut from_end).await;
    let live = live_event(
        &mut from_end,
        store.append("order-1", ExpectedVersion::Any, events(1)),
    )
    .await;
    assert_eq!(live.version, 4);
}

/// Appends racing the catch-up are delivered exactly once, in position order.
pub async fn subscription_has_no_gap_or_duplicate_at_the_switch<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(10))
        .await
        .unwrap();
    let mut subscription = store
        .subscribe_all(SubscribeOptions::from_start().batch_size(3))
        .await
        .unwrap();
    let writer = async {
        for round in 0..10u64 {
            store
                .append(
                    &format!("w-{}", round % 3),
                    ExpectedVersion::Any,
                    events(round % 3 + 1),
                )
                .await
                .unwrap();
            sleep(Duration::from_millis(3)).await;
        }
    };
    let total = 10 + (0..10u64).map(|round| round % 3 + 1).sum::<u64>() as usize;
    let (seen, ()) = futures::join!(take_events(&mut subscription, total), writer);
    assert_eq!(positions(&seen), (1..=total as u64).collect::<Vec<_>>());
    assert_eq!(positions(&seen), positions(&all(&store).await));
    expect_caught_up(&mut subscription).await;
}

/// Dropping a subscription ends it without disturbing the store; closing the store ends them all.
pub async fn subscription_ends_on_drop_and_close<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(2))
        .await
        .unwrap();
    let first = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    let mut second = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(store.subscription_count(), 2);
    drop(first);
    assert_eq!(store.subscription_count(), 1);
    store
        .append("a-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    assert_eq!(positions(&take_events(&mut second, 3).await), [1, 2, 3]);
    expect_caught_up(&mut second).await;
    let (item, ()) = futures::join!(within(second.next()), async {
        sleep(Duration::from_millis(20)).await;
        store.close();
    });
    assert!(
        item.is_none(),
        "a closed store ends its subscriptions, got {item:?}"
    );
    drop(second);
    assert_eq!(store.subscription_count(), 0);
}

/// A zero batch size or a bad stream id is `InvalidInput`.
pub async fn subscribe_rejects_bad_input<S: Storage>(store: EventStore<S>) {
    assert_eq!(
        kind(
            store
                .subscribe_all(SubscribeOptions::from_start().batch_size(0))
                .await
        ),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(
            store
                .subscribe_to_stream("", SubscribeOptions::from_start())
                .await
        ),
        ErrorKind::InvalidInput
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Frozen,
    Renamed(String),
}

#[derive(Debug, PartialEq, Deserialize)]
enum OldAccountEvent {
    Opened { owner: String },
}

/// Typed serde enums round-trip with the variant name as event type.
pub async fn typed_events_round_trip<S: Storage>(store: EventStore<S>) {
    let written = vec![
        AccountEvent::Opened {
            owner: "ada".into(),
        },
        AccountEvent::Deposited { amount: 10 },
        AccountEvent::Frozen,
        AccountEvent::Renamed("lovelace".into()),
    ];
    store
        .append_typed("account-1", ExpectedVersion::NoStream, &written)
        .await
        .unwrap();
    let read = stream(&store, "account-1").await;
    let types: Vec<&str> = read.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["Opened", "Deposited", "Frozen", "Renamed"]);
    assert_eq!(read[1].data, json!({ "amount": 10 }));
    let decoded: Vec<AccountEvent> = read.iter().map(|e| e.decode().unwrap()).collect();
    assert_eq!(decoded, written);
    let not_an_enum = store
        .append_typed(
            "account-1",
            ExpectedVersion::Any,
            &[json!({ "a": 1, "b": 2 })],
        )
        .await;
    assert_eq!(kind(not_an_enum), ErrorKind::Codec);
    assert_eq!(stream(&store, "account-1").await.len(), 4);
}

/// Decoding an event type the enum does not know is a `Codec` error naming the type.
pub async fn typed_unknown_event_type_is_a_codec_error<S: Storage>(store: EventStore<S>) {
    store
        .append_typed(
            "account-1",
            ExpectedVersion::NoStream,
            &[AccountEvent::Deposited { amount: 1 }],
        )
        .await
        .unwrap();
    store
        .append(
            "account-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("Opened", json!({ "owner": 7 }))],
        )
        .await
        .unwrap();
    let read = stream(&store, "account-1").await;
    let error = read[0].decode::<OldAccountEvent>().unwrap_err();
    assert!(
        matches!(&error, Error::Codec { event_type, .. } if event_type == "Deposited"),
        "{error:?}"
    );
    assert!(error.to_string().contains("Deposited"), "{error}");
    let error = read[1].decode::<AccountEvent>().unwrap_err();
    assert!(
        matches!(&error, Error::Codec { event_type, .. } if event_type == "Opened"),
        "{error:?}"
    );
}

/// After `close`, every call fails with `Closed`.
pub async fn closed_store_rejects_calls<S: Storage>(store: EventStore<S>) {
    store
        .append("a-1", ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    let other_handle = store.clone();
    store.close();
    assert!(other_handle.is_closed());
    assert_eq!(
        kind(
            other_handle
                .append("a-1", ExpectedVersion::Any, events(1))
                .await
        ),
        ErrorKind::Closed
    );
    assert_eq!(
        kind(store.read_stream("a-1", ReadStreamOptions::new()).await),
        ErrorKind::Closed
    );
    assert_eq!(
        kind(store.read_all(ReadAllOptions::new()).await),
        ErrorKind::Closed
    );
    assert_eq!(
        kind(store.subscribe_all(SubscribeOptions::from_start()).await),
        ErrorKind::Closed
    );
    assert_eq!(kind(store.head().await), ErrorKind::Closed);
    store.close();
}

/// Projection checkpoints are stored per name and replaced atomically.
pub async fn checkpoints_round_trip<S: Storage>(store: EventStore<S>) {
    let storage = store.storage();
    assert_eq!(storage.load_checkpoint("balances").await.unwrap(), None);
    let skipped = SkippedEvent {
        position: 3,
        event_id: new_id(),
        stream_id: "account-1".into(),
        event_type: "Deposited".into(),
        error: "handler failed: ✗".into(),
        skipped_at: 1_700_000_000_000,
    };
    let checkpoint = Checkpoint {
        position: 7,
        skipped: vec![skipped],
    };
    storage
        .save_checkpoint("balances", &checkpoint)
        .await
        .unwrap();
    storage
        .save_checkpoint(
            "other",
            &Checkpoint {
                position: 1,
                skipped: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        storage.load_checkpoint("balances").await.unwrap(),
        Some(checkpoint)
    );
    storage
        .save_checkpoint(
            "balances",
            &Checkpoint {
                position: 9,
                skipped: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        storage
            .load_checkpoint("balances")
            .await
            .unwrap()
            .unwrap()
            .position,
        9
    );
    assert_eq!(
        storage
            .load_checkpoint("other")
            .await
            .unwrap()
            .unwrap()
            .position,
        1
    );
}
