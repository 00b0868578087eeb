//! What only the IndexedDB backend has to prove, in a real browser (headless Chromium): several
//! connections on one database, durability across reopening, schema versions, the `versionchange`
//! protocol, corrupt records, and the index-backed filtered reads against the reference backend.
//! The generic contract is in `wasm_conformance.rs`.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use evstore::{
    Checkpoint, Direction, Error, ErrorKind, EventStore, ExpectedVersion, Filter, IndexedDbStorage,
    MemoryStorage, NewEvent, ReadStreamOptions, SkippedEvent, Storage, StoreOptions,
    SubscribeOptions, SubscriptionItem,
};
use futures::future::{select, Either};
use futures::StreamExt;
use serde_json::json;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// A database name no other test (or earlier run) uses.
fn unique_name(test: &str) -> String {
    format!("evstore-idb-{test}-{}", uuid::Uuid::now_v7())
}

async fn open(name: &str) -> IndexedDbStorage {
    IndexedDbStorage::open(name).await.expect("open IndexedDB")
}

fn event(event_type: &str, n: u64) -> NewEvent {
    NewEvent::new(event_type, json!({ "n": n }))
}

/// Fails the test instead of hanging.
async fn within<T>(future: impl Future<Output = T>) -> T {
    let timeout = gloo_timers::future::sleep(Duration::from_secs(10));
    match select(Box::pin(future), Box::pin(timeout)).await {
        Either::Left((value, _)) => value,
        Either::Right(_) => panic!("timed out"),
    }
}

/// Opens `name` at `version` with plain IndexedDB (no evstore), then closes it.
async fn touch_raw_database(name: &str, version: u32) {
    let database = idb::Factory::new()
        .expect("indexedDB")
        .open(name, Some(version))
        .expect("open request")
        .await
        .expect("open raw database");
    database.close();
}

/// Records the page's uncaught errors (`error` events on the global scope) while alive. An
/// IndexedDB event handler that throws (a freed Rust closure: "closure invoked recursively or after
/// being dropped") shows up here and nowhere else.
struct PageErrors {
    seen: Rc<RefCell<Vec<String>>>,
    listener: Closure<dyn FnMut(JsValue)>,
}

impl PageErrors {
    fn watch() -> Self {
        let seen: Rc<RefCell<Vec<String>>> = Rc::default();
        let sink = Rc::clone(&seen);
        let listener = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let message = js_sys::Reflect::get(&event, &JsValue::from_str("message"))
                .ok()
                .and_then(|message| message.as_string())
                .unwrap_or_else(|| format!("{event:?}"));
            sink.borrow_mut().push(message);
        });
        Self::call("addEventListener", &listener);
        PageErrors { seen, listener }
    }

    fn call(method: &str, listener: &Closure<dyn FnMut(JsValue)>) {
        let global = js_sys::global();
        let method: js_sys::Function = js_sys::Reflect::get(&global, &JsValue::from_str(method))
            .expect("the global scope has event listeners")
            .unchecked_into();
        method
            .call2(&global, &JsValue::from_str("error"), listener.as_ref())
            .expect("listening to error events");
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.borrow_mut())
    }
}

impl Drop for PageErrors {
    fn drop(&mut self) {
        Self::call("removeEventListener", &self.listener);
    }
}

/// Polls `future` until `after_ms` milliseconds passed (`None`: just once), then drops it, whether
/// or not it finished: its IndexedDB requests are then typically still in flight.
async fn abandon<T>(future: impl Future<Output = T>, after_ms: Option<u32>) -> bool {
    let deadline = async move {
        if let Some(ms) = after_ms {
            gloo_timers::future::TimeoutFuture::new(ms).await;
        }
    };
    matches!(
        select(Box::pin(future), Box::pin(deadline)).await,
        Either::Left(_)
    )
}

async fn next(subscription: &mut evstore::Subscription) -> SubscriptionItem {
    within(subscription.next())
        .await
        .expect("subscription ended")
        .expect("subscription failed")
}

async fn raw_version(name: &str) -> u32 {
    let database = idb::Factory::new()
        .expect("indexedDB")
        .open(name, None)
        .expect("open request")
        .await
        .expect("open raw database");
    let version = database.version().expect("version");
    database.close();
    version
}

#[wasm_bindgen_test]
async fn concurrent_appends_with_the_same_expected_version_one_wins() {
    let name = unique_name("race");
    let a = EventStore::new(open(&name).await);
    let b = EventStore::new(open(&name).await);
    let mut version = a
        .append(
            "account-1",
            ExpectedVersion::NoStream,
            vec![event("Opened", 0)],
        )
        .await
        .expect("first append")
        .next_expected_version;

    for round in 1..=6u64 {
        let expected = ExpectedVersion::Exact(version);
        let (left, right) = futures::join!(
            a.append("account-1", expected, vec![event("FromA", round)]),
            b.append(
                "account-1",
                expected,
                vec![event("FromB", round), event("FromB", round)]
            ),
        );
        let (winner, loser) = match (left, right) {
            (Ok(winner), Err(loser)) | (Err(loser), Ok(winner)) => (winner, loser),
            (left, right) => {
                panic!("round {round}: expected exactly one winner: {left:?} {right:?}")
            }
        };
        assert_eq!(
            loser,
            Error::wrong_expected_version("account-1", expected, winner.next_expected_version),
            "round {round}"
        );
        version = winner.next_expected_version;
    }

    let events = b
        .read_stream("account-1", ReadStreamOptions::new())
        .await
        .expect("read");
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(
        versions,
        (1..=version).collect::<Vec<_>>(),
        "no gap, nothing lost"
    );
    assert!(events.windows(2).all(|w| w[0].position < w[1].position));
}

#[wasm_bindgen_test]
async fn concurrent_writers_get_distinct_increasing_positions() {
    let name = unique_name("writers");
    let handles = [open(&name).await, open(&name).await, open(&name).await];
    let appends = handles.iter().enumerate().flat_map(|(writer, storage)| {
        (0..4u64).map(move |n| async move {
            let store_batch = evstore::storage::AppendBatch {
                stream_id: "ledger-1".to_owned(),
                category: "ledger".to_owned(),
                expected: ExpectedVersion::Any,
                events: vec![evstore::storage::PreparedEvent {
                    id: uuid::Uuid::now_v7().to_string(),
                    event_type: format!("W{writer}"),
                    data: format!("{{\"n\":{n}}}"),
                    metadata: "{}".to_owned(),
                    correlation_id: None,
                    causation_id: None,
                    recorded_at: 1,
                }],
            };
            storage.append(store_batch).await
        })
    });
    let results = futures::future::join_all(appends).await;
    let mut positions: Vec<u64> = results
        .into_iter()
        .map(|r| r.expect("append").position)
        .collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), 12, "every append got its own position");
    let events = handles[0]
        .read_stream("ledger-1", 1, Direction::Forward, usize::MAX)
        .await
        .expect("read");
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=12).collect::<Vec<_>>());
    assert!(events.windows(2).all(|w| w[0].position < w[1].position));
}

#[wasm_bindgen_test]
async fn data_survives_closing_and_reopening() {
    let name = unique_name("reopen");
    let store = EventStore::new(open(&name).await);
    let first = store
        .append(
            "order-7",
            ExpectedVersion::NoStream,
            vec![
                event("Placed", 1)
                    .with_metadata(json!({ "user": "ada", "nested": { "ok": true } }))
                    .with_correlation_id("corr-1")
                    .with_causation_id("cause-1"),
                NewEvent::new("Noted", json!(["a", 1, null, { "ünïcode": "✓" }])),
            ],
        )
        .await
        .expect("append");
    let before = store
        .read_stream("order-7", ReadStreamOptions::new())
        .await
        .expect("read");
    store.close();
    assert_eq!(
        store.head().await.expect_err("closed").kind(),
        ErrorKind::Closed
    );

    let reopened = EventStore::new(open(&name).await);
    let after = reopened
        .read_stream("order-7", ReadStreamOptions::new())
        .await
        .expect("read after reopening");
    assert_eq!(after, before);
    assert_eq!(after[0].correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(after[0].causation_id.as_deref(), Some("cause-1"));
    assert_eq!(after[0].metadata["nested"]["ok"], json!(true));
    assert_eq!(after[1].data[3]["ünïcode"], json!("✓"));
    assert_eq!(after[1].correlation_id, None);
    assert_eq!(reopened.head().await.expect("head"), first.position);

    let next = reopened
        .append(
            "order-7",
            ExpectedVersion::Exact(2),
            vec![event("Shipped", 3)],
        )
        .await
        .expect("append after reopening");
    assert_eq!(next.next_expected_version, 3);
    assert!(next.position > first.position);

    // Retrying the first append after the reload is idempotent.
    let retry: Vec<NewEvent> = before
        .iter()
        .map(|e| {
            NewEvent::new(e.event_type.clone(), e.data.clone())
                .with_id(e.id.clone())
                .with_metadata(e.metadata.clone())
        })
        .collect();
    let again = reopened
        .append("order-7", ExpectedVersion::NoStream, retry)
        .await
        .expect("idempotent retry");
    assert_eq!(again, first);
}

#[wasm_bindgen_test]
async fn a_newer_schema_version_is_refused_and_left_untouched() {
    let name = unique_name("newer");
    touch_raw_database(&name, 99).await;
    let error = IndexedDbStorage::open(&name)
        .await
        .expect_err("a newer schema must not open");
    assert_eq!(error.kind(), ErrorKind::IncompatibleSchema);
    assert_eq!(
        error,
        Error::IncompatibleSchema {
            found: 99,
            supported: u64::from(IndexedDbStorage::SCHEMA_VERSION),
        }
    );
    assert_eq!(raw_version(&name).await, 99);
}

#[wasm_bindgen_test]
async fn an_open_handle_steps_aside_for_an_upgrade_elsewhere() {
    let name = unique_name("versionchange");
    let storage = open(&name).await;
    assert_eq!(storage.head().await.expect("head"), 0);
    assert!(storage.is_connected());
    // Another page (a newer evstore) upgrades the database: it must not stay blocked.
    within(touch_raw_database(
        &name,
        IndexedDbStorage::SCHEMA_VERSION + 1,
    ))
    .await;
    assert!(!storage.is_connected(), "the handle says it stepped aside");
    let error = storage.head().await.expect_err("connection was closed");
    assert_eq!(error.kind(), ErrorKind::Storage);
    assert!(error.to_string().contains("reopen"), "{error}");
    let reopened = IndexedDbStorage::open(&name).await.expect_err("newer now");
    assert_eq!(reopened.kind(), ErrorKind::IncompatibleSchema);
}

#[wasm_bindgen_test]
async fn checkpoints_round_trip_and_persist() {
    let name = unique_name("checkpoints");
    let storage = open(&name).await;
    assert_eq!(
        storage.load_checkpoint("balances").await.expect("load"),
        None
    );

    let skipped = SkippedEvent {
        position: 3,
        event_id: uuid::Uuid::now_v7().to_string(),
        stream_id: "account-1".to_owned(),
        event_type: "Deposited".to_owned(),
        error: "handler said \"no\"".to_owned(),
        skipped_at: 1_700_000_000_000,
    };
    let first = Checkpoint {
        position: 5,
        skipped: vec![skipped.clone()],
    };
    storage
        .save_checkpoint("balances", &first)
        .await
        .expect("save");
    assert_eq!(
        storage.load_checkpoint("balances").await.expect("load"),
        Some(first.clone())
    );
    let second = Checkpoint {
        position: 9,
        skipped: vec![skipped],
    };
    storage
        .save_checkpoint("balances", &second)
        .await
        .expect("overwrite");
    storage
        .save_checkpoint("other", &Checkpoint::default())
        .await
        .expect("save other");
    storage.close();

    let reopened = open(&name).await;
    assert_eq!(
        reopened.load_checkpoint("balances").await.expect("load"),
        Some(second)
    );
    assert_eq!(
        reopened.load_checkpoint("other").await.expect("load"),
        Some(Checkpoint::default())
    );
    assert_eq!(reopened.load_checkpoint("none").await.expect("load"), None);
}

#[wasm_bindgen_test]
async fn a_subscription_sees_appends_made_through_another_handle() {
    let name = unique_name("subscribe");
    let options = StoreOptions {
        poll_interval: Duration::from_millis(20),
        ..StoreOptions::default()
    };
    let a = EventStore::with_options(open(&name).await, options);
    let b = EventStore::new(open(&name).await);
    b.append("chat-1", ExpectedVersion::Any, vec![event("Said", 1)])
        .await
        .expect("append");

    let mut subscription = a
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .expect("subscribe");
    match next(&mut subscription).await {
        SubscriptionItem::Event(e) => assert_eq!(e.data["n"], 1),
        other => panic!("expected the first event, got {other:?}"),
    }
    assert_eq!(next(&mut subscription).await, SubscriptionItem::CaughtUp);

    // B is a separate store and connection: the notifier the two handles share wakes A.
    let written = b
        .append(
            "chat-2",
            ExpectedVersion::Any,
            vec![event("Said", 2), event("Said", 3)],
        )
        .await
        .expect("append through B");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let SubscriptionItem::Event(e) = next(&mut subscription).await {
            seen.push(e);
        }
    }
    assert_eq!(seen[0].data["n"], 2);
    assert_eq!(seen[1].data["n"], 3);
    assert_eq!(seen[1].position, written.position);
    assert_eq!(seen[0].stream_id, "chat-2");
}

#[wasm_bindgen_test]
async fn corrupt_records_are_storage_errors_not_panics() {
    let name = unique_name("corrupt");
    let storage = open(&name).await;
    let store = EventStore::new(storage);
    store
        .append("doc-1", ExpectedVersion::Any, vec![event("Written", 1)])
        .await
        .expect("append");

    // Something outside evstore writes a record with invalid JSON and a bad version.
    let database = idb::Factory::new()
        .expect("indexedDB")
        .open(&name, None)
        .expect("open request")
        .await
        .expect("open raw");
    let transaction = database
        .transaction(&["events"], idb::TransactionMode::ReadWrite)
        .expect("transaction");
    let events = transaction.object_store("events").expect("store");
    let record = js_sys::Object::new();
    for (field, value) in [
        ("id", JsValue::from_str("not-a-uuid")),
        ("streamId", JsValue::from_str("doc-2")),
        ("version", JsValue::from_str("one")),
        ("category", JsValue::from_str("doc")),
        ("eventType", JsValue::from_str("Written")),
        ("data", JsValue::from_str("{ not json")),
        ("metadata", JsValue::from_str("{}")),
        ("recordedAt", JsValue::from_f64(1.0)),
    ] {
        js_sys::Reflect::set(&record, &JsValue::from_str(field), &value).expect("set");
    }
    events
        .add(&record, None)
        .expect("add")
        .await
        .expect("raw add");
    transaction.await.expect("commit");
    database.close();

    let error = store
        .read_all(evstore::ReadAllOptions::new())
        .await
        .expect_err("a corrupt record");
    assert_eq!(error.kind(), ErrorKind::Storage);
    // The good stream is still readable.
    let good = store
        .read_stream("doc-1", ReadStreamOptions::new())
        .await
        .expect("good stream");
    assert_eq!(good.len(), 1);
}

/// Appends the same events to the reference backend and to IndexedDB, then compares many
/// `read_all` and `read_stream` shapes, covering the category/type indexes, the chunked filtered
/// scan (more than one chunk) and backward cursors.
#[wasm_bindgen_test]
async fn reads_match_the_reference_backend() {
    let name = unique_name("differential");
    let idb = EventStore::new(open(&name).await);
    let memory = EventStore::new(MemoryStorage::new());
    let streams = ["account-1", "account-2", "order-1", "orders-1", "account"];
    let types = ["Opened", "Deposited", "Withdrawn"];
    let mut n = 0u64;
    for batch in 0..24usize {
        let stream = streams[batch % streams.len()];
        let events: Vec<NewEvent> = (0..50)
            .map(|i| {
                n += 1;
                event(types[(batch + i) % types.len()], n)
            })
            .collect();
        for store in [&idb as &dyn AppendTo, &memory] {
            store.append_to(stream, events.clone()).await;
        }
    }
    assert_eq!(idb.head().await.expect("head"), 1200);

    let filters = [
        Filter::new(),
        Filter::new().category("account"),
        Filter::new().event_type("Deposited"),
        Filter::new().category("account").event_type("Withdrawn"),
        Filter::new().stream_prefix("order"),
        Filter::new().stream_prefix("account-").event_type("Opened"),
        Filter::new().category("order").category("orders"),
        Filter::new().event_type("Opened").event_type("Withdrawn"),
        Filter::new().category("nothing"),
    ];
    let shapes: [(u64, Direction, usize); 8] = [
        (0, Direction::Forward, usize::MAX),
        (0, Direction::Forward, 7),
        (517, Direction::Forward, 600),
        (1199, Direction::Forward, 10),
        (u64::MAX, Direction::Backward, usize::MAX),
        (1201, Direction::Backward, 13),
        (700, Direction::Backward, 650),
        (2, Direction::Backward, 5),
    ];
    for filter in &filters {
        for &(from, direction, limit) in &shapes {
            let expected = memory
                .storage()
                .read_all(from, direction, limit, filter)
                .await
                .expect("memory");
            let actual = idb
                .storage()
                .read_all(from, direction, limit, filter)
                .await
                .expect("indexeddb");
            assert_eq!(
                summary(&actual),
                summary(&expected),
                "read_all({from}, {direction:?}, {limit}, {filter:?})"
            );
        }
    }
    for stream in streams {
        for (from, direction, limit) in [
            (1, Direction::Forward, usize::MAX),
            (0, Direction::Forward, 3),
            (100, Direction::Forward, 10),
            (250, Direction::Forward, 10),
            (u64::MAX, Direction::Backward, usize::MAX),
            (120, Direction::Backward, 30),
            (0, Direction::Backward, 10),
        ] {
            let expected = memory
                .storage()
                .read_stream(stream, from, direction, limit)
                .await
                .expect("memory");
            let actual = idb
                .storage()
                .read_stream(stream, from, direction, limit)
                .await
                .expect("indexeddb");
            assert_eq!(
                summary(&actual),
                summary(&expected),
                "read_stream({stream}, {from}, {direction:?}, {limit})"
            );
        }
    }
}

/// What two backends must agree on (ids and timestamps are assigned per store).
fn summary(events: &[evstore::RecordedEvent]) -> Vec<(String, u64, u64, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.stream_id.clone(),
                e.version,
                e.position,
                e.event_type.clone(),
                e.data.to_string(),
            )
        })
        .collect()
}

/// Appending to either store type from one loop.
trait AppendTo {
    fn append_to<'a>(
        &'a self,
        stream: &'a str,
        events: Vec<NewEvent>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + 'a>>;
}

impl<S: Storage> AppendTo for EventStore<S> {
    fn append_to<'a>(
        &'a self,
        stream: &'a str,
        events: Vec<NewEvent>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + 'a>> {
        Box::pin(async move {
            self.append(stream, ExpectedVersion::Any, events)
                .await
                .expect("append");
        })
    }
}

/// Reads, cursor walks, appends, checkpoint writes and subscriptions dropped while their requests
/// are in flight: the browser later fires those requests' events, which must not reach a freed
/// closure (an uncaught page error), and the store keeps working.
#[wasm_bindgen_test]
async fn requests_dropped_mid_flight_leave_the_store_working_and_the_page_clean() {
    let errors = PageErrors::watch();
    let name = unique_name("dropped");
    let options = StoreOptions {
        poll_interval: Duration::from_millis(1),
        ..StoreOptions::default()
    };
    let store = EventStore::with_options(open(&name).await, options);
    for stream in 0..4u64 {
        let events = (0..50).map(|n| event("Item", stream * 100 + n)).collect();
        store
            .append(&format!("item-{stream}"), ExpectedVersion::Any, events)
            .await
            .expect("append");
    }
    let storage = store.storage();
    let everything = Filter::new();
    let items = Filter::new().stream_prefix("item-");
    let mut finished = 0;
    for round in 0..24u32 {
        // `None`: dropped right after the first requests went out; otherwise after a few ms, often
        // in the middle of a cursor walk.
        let after = (round % 4 != 0).then(|| round % 4 - 1);
        let checkpoint = Checkpoint {
            position: u64::from(round),
            skipped: Vec::new(),
        };
        let outcomes = [
            abandon(storage.head(), after).await,
            abandon(
                storage.read_all(0, Direction::Forward, 120, &everything),
                after,
            )
            .await,
            abandon(storage.read_all(0, Direction::Forward, 120, &items), after).await,
            abandon(
                storage.read_all(u64::MAX, Direction::Backward, 200, &items),
                after,
            )
            .await,
            abandon(
                storage.read_stream("item-2", u64::MAX, Direction::Backward, 50),
                after,
            )
            .await,
            abandon(
                storage.read_stream("item-1", 1, Direction::Forward, 50),
                after,
            )
            .await,
            abandon(storage.load_checkpoint("dropped"), after).await,
            abandon(storage.save_checkpoint("dropped", &checkpoint), after).await,
            abandon(
                store.append(
                    &format!("dropped-{round}"),
                    ExpectedVersion::NoStream,
                    vec![event("Dropped", 1), event("Dropped", 2)],
                ),
                after,
            )
            .await,
        ];
        finished += outcomes.iter().filter(|done| **done).count();
    }
    // Subscriptions dropped while waiting (their 1 ms polls read the head) or while reading.
    let other = EventStore::new(open(&name).await);
    for round in 0..12u32 {
        let mut subscription = store
            .subscribe_all(SubscribeOptions::from_end())
            .await
            .expect("subscribe");
        assert_eq!(next(&mut subscription).await, SubscriptionItem::CaughtUp);
        if round % 2 == 1 {
            other
                .append("wake-1", ExpectedVersion::Any, vec![event("Wake", 0)])
                .await
                .expect("append elsewhere");
        }
        abandon(subscription.next(), Some(round % 3)).await;
    }
    // Let every abandoned request settle (its events fire now, if they were going to).
    gloo_timers::future::TimeoutFuture::new(100).await;
    assert!(finished < 24 * 9, "nothing was dropped mid-flight");

    // Dropped appends were all or nothing.
    for round in 0..24u32 {
        let events = storage
            .read_stream(&format!("dropped-{round}"), 1, Direction::Forward, 10)
            .await
            .expect("read a dropped append's stream");
        assert!(
            events.is_empty() || events.len() == 2,
            "round {round}: {} events",
            events.len()
        );
    }
    // Everything still works.
    let written = store
        .append(
            "after-1",
            ExpectedVersion::NoStream,
            vec![event("After", 1)],
        )
        .await
        .expect("append after the drops");
    assert_eq!(store.head().await.expect("head"), written.position);
    let all = storage
        .read_all(0, Direction::Forward, usize::MAX, &everything)
        .await
        .expect("read all");
    assert_eq!(all.last().map(|e| e.position), Some(written.position));
    let backward = storage
        .read_all(u64::MAX, Direction::Backward, 200, &items)
        .await
        .expect("read backward");
    assert_eq!(backward.len(), 200);
    let checkpoint = Checkpoint {
        position: 7,
        skipped: Vec::new(),
    };
    storage
        .save_checkpoint("dropped", &checkpoint)
        .await
        .expect("save a checkpoint");
    assert_eq!(
        storage.load_checkpoint("dropped").await.expect("load"),
        Some(checkpoint)
    );
    let mut subscription = store
        .subscribe_to_stream("after-1", SubscribeOptions::from_start())
        .await
        .expect("subscribe");
    match next(&mut subscription).await {
        SubscriptionItem::Event(e) => assert_eq!(e.position, written.position),
        other => panic!("expected the event, got {other:?}"),
    }

    let errors = errors.take();
    assert!(
        errors.is_empty(),
        "{} uncaught page errors, the first: {:?}",
        errors.len(),
        errors.first()
    );
}

/// Opening dropped before it finished: the browser still runs the open, so the schema upgrade
/// must complete (never a new version without its object stores), the connection nobody took
/// must not block a later upgrade, and no freed closure may be called.
#[wasm_bindgen_test]
async fn opens_dropped_mid_flight_leave_complete_schemas_and_the_page_clean() {
    let errors = PageErrors::watch();
    let names: Vec<String> = (0..8).map(|n| unique_name(&format!("open-{n}"))).collect();
    for (n, name) in names.iter().enumerate() {
        // A new database (the upgrade path), then the same one again (no upgrade).
        let after = (n % 2 == 1).then_some(n as u32 / 2);
        abandon(IndexedDbStorage::open(name), after).await;
        abandon(IndexedDbStorage::open(name), after).await;
    }
    // Let every abandoned open finish.
    gloo_timers::future::TimeoutFuture::new(100).await;

    for name in &names {
        let store = EventStore::new(open(name).await);
        let written = store
            .append(
                "after-1",
                ExpectedVersion::NoStream,
                vec![event("After", 1)],
            )
            .await
            .expect("append: the schema is complete");
        assert_eq!(store.head().await.expect("head"), written.position);
        store
            .storage()
            .save_checkpoint("p", &Checkpoint::default())
            .await
            .expect("checkpoints exist");
        drop(store);
        assert_eq!(raw_version(name).await, IndexedDbStorage::SCHEMA_VERSION);
        // Blocked (and timed out) if an abandoned open had left its connection open.
        within(touch_raw_database(
            name,
            IndexedDbStorage::SCHEMA_VERSION + 1,
        ))
        .await;
    }

    let errors = errors.take();
    assert!(
        errors.is_empty(),
        "{} uncaught page errors, the first: {:?}",
        errors.len(),
        errors.first()
    );
}

/// Builds database `name` at schema 3 (the layout of schema steps 1 to 3) with plain IndexedDB:
/// `plain-1` with two events and no lifecycle record; `deleted-1`, soft-deleted at version 2;
/// `gone-1`, tombstoned at version 1; `kept-1`, three events under a `maxCount` of 2 (the oldest
/// one, due for removal at the next append, still stored).
async fn build_schema_3_database(name: &str) {
    let build = js_sys::Function::new_with_args(
        "name",
        r#"return new Promise((resolve, reject) => {
          const open = indexedDB.open(name, 3);
          open.onupgradeneeded = () => {
            const db = open.result;
            const events = db.createObjectStore("events", { keyPath: "position", autoIncrement: true });
            events.createIndex("stream_version", ["streamId", "version"], { unique: true });
            events.createIndex("id", "id", { unique: true });
            events.createIndex("category", ["category", "position"]);
            events.createIndex("type", ["eventType", "position"]);
            db.createObjectStore("checkpoints", { keyPath: "name" });
            const outbox = db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
            outbox.createIndex("outbox_stream", "streamId");
            outbox.createIndex("outbox_batch", "batchId", { unique: true });
            const meta = db.createObjectStore("meta", { keyPath: "key" });
            meta.add({ key: "storeId", value: "0190a0a0-0000-7000-8000-000000000003" });
            const streams = db.createObjectStore("streams", { keyPath: "key" });
            let n = 0;
            const add = (streamId, version) => events.add({
              id: `0190a0a0-0000-7000-8000-${String(++n).padStart(12, "0")}`,
              streamId, version, category: streamId.split("-")[0], eventType: "Old",
              data: JSON.stringify({ n }), metadata: "{}", recordedAt: Date.now(),
            });
            add("plain-1", 1); add("plain-1", 2);
            add("kept-1", 1); add("kept-1", 2); add("kept-1", 3);
            const record = (key, fields) => streams.add({ key, value: JSON.stringify({
              lastVersion: 0, deleted: false, tombstoned: false, truncatedBefore: 0, metadata: {}, ...fields,
            }) });
            record("deleted-1", { lastVersion: 2, deleted: true, truncatedBefore: 3 });
            record("gone-1", { lastVersion: 1, tombstoned: true, truncatedBefore: 2 });
            record("kept-1", { lastVersion: 3, metadata: { maxCount: 2 } });
          };
          open.onsuccess = () => { open.result.close(); resolve(); };
          open.onerror = () => reject(open.error);
        });"#,
    );
    let built = build
        .call1(&JsValue::NULL, &JsValue::from_str(name))
        .expect("building a schema-3 database");
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(built))
        .await
        .expect("schema-3 database built");
}

#[wasm_bindgen_test]
async fn a_schema_3_database_upgrades_and_appends_still_see_its_stream_records() {
    let name = unique_name("schema-3");
    build_schema_3_database(&name).await;
    let store = EventStore::new(open(&name).await);
    assert_eq!(raw_version(&name).await, IndexedDbStorage::SCHEMA_VERSION);

    // An append with no lifecycle record takes the one-request path and continues the stream.
    let plain = store
        .append("plain-1", ExpectedVersion::Exact(2), vec![event("New", 3)])
        .await
        .expect("append to a plain stream");
    assert_eq!(plain.next_expected_version, 3);
    assert_eq!(
        plain.position, 6,
        "positions continue after the stored ones"
    );
    // The records written by schema 3 decide the appends of schema 4.
    let gone = store
        .append("gone-1", ExpectedVersion::Any, vec![event("New", 1)])
        .await
        .expect_err("a tombstoned stream");
    assert_eq!(gone.kind(), ErrorKind::StreamDeleted);
    let deleted = store
        .append(
            "deleted-1",
            ExpectedVersion::NoStream,
            vec![event("New", 1)],
        )
        .await
        .expect("a soft-deleted stream starts again");
    assert_eq!(deleted.next_expected_version, 3, "numbering continues");
    store
        .append("kept-1", ExpectedVersion::Exact(3), vec![event("New", 4)])
        .await
        .expect("append under maxCount");
    let kept: Vec<u64> = store
        .read_stream("kept-1", ReadStreamOptions::new())
        .await
        .expect("read kept-1")
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(kept, [3, 4]);
    let listed: Vec<(String, u64)> = store
        .list_streams(evstore::ListStreamsOptions::new())
        .await
        .expect("list streams")
        .into_iter()
        .map(|s| (s.stream_id, s.version))
        .collect();
    assert_eq!(
        listed,
        [
            ("deleted-1".to_owned(), 3),
            ("kept-1".to_owned(), 4),
            ("plain-1".to_owned(), 3)
        ]
    );
    assert_eq!(store.head().await.expect("head"), 8);
    let all = store
        .read_all(evstore::ReadAllOptions::new())
        .await
        .expect("read all");
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        [1, 2, 5, 6, 7, 8],
        "the markers are not events"
    );
}
