//! Upcasters: old event shapes read as new ones on every read path, in chains and renames, with
//! type filters matching upcast types; stored data never rewritten; a failing upcaster is a
//! `Codec` error naming the event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::projector::run_until;
use super::{expect_caught_up, next_item, take_events, within};
use crate::storage::Storage;
use crate::{
    Aggregate, Direction, Error, ErrorKind, EventStore, ExpectedVersion, Filter, NewEvent,
    ProjectionOptions, Projector, ReadAllOptions, ReadStreamOptions, RecordedEvent, Repository,
    SubscribeOptions, SubscriptionItem,
};

/// What the storage itself holds, read past the store's upcasters.
async fn stored<S: Storage>(store: &EventStore<S>) -> Vec<(String, Value)> {
    store
        .storage()
        .read_all(0, Direction::Forward, 10_000, &Filter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event_type, e.data))
        .collect()
}

fn shapes(events: &[RecordedEvent]) -> Vec<(String, Value)> {
    events
        .iter()
        .map(|e| (e.event_type.clone(), e.data.clone()))
        .collect()
}

/// Prices were euros in V1, cents in V2, cents and a currency since; `ItemAdded` was renamed
/// `LineAdded`.
fn register_price_upcasters<S: Storage>(store: &EventStore<S>) {
    store.register_upcaster("PriceSetV1", |mut event: RecordedEvent| {
        let euros = event.data["price"].as_u64().ok_or("no price")?;
        event.event_type = "PriceSetV2".into();
        event.data = json!({ "cents": euros * 100 });
        Ok::<_, &str>(event)
    });
    store.register_upcaster("PriceSetV2", |mut event: RecordedEvent| {
        event.event_type = "PriceSet".into();
        event.data["currency"] = json!("EUR");
        Ok::<_, &str>(event)
    });
    store.register_upcaster("ItemAdded", |mut event: RecordedEvent| {
        event.event_type = "LineAdded".into();
        Ok::<_, &str>(event)
    });
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum CartEvent {
    PriceSet { cents: u64, currency: String },
    LineAdded { sku: String },
}

#[derive(Debug, Default, PartialEq)]
struct Cart {
    price: Option<(u64, String)>,
    lines: Vec<String>,
}

impl Aggregate for Cart {
    type Event = CartEvent;

    fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::PriceSet { cents, currency } => {
                self.price = Some((*cents, currency.clone()))
            }
            CartEvent::LineAdded { sku } => self.lines.push(sku.clone()),
        }
    }
}

/// Events stored in old shapes are read in the newest one — through a chain (V1 → V2 → V3), a
/// rename, or not at all when already new — by every reader: reads in both directions, the lazy
/// streams, both kinds of subscription, the projector and a repository. The stored events stay
/// exactly as they were written.
pub async fn upcasters_apply_on_every_read_path<S: Storage>(store: EventStore<S>) {
    store
        .append(
            "cart-1",
            ExpectedVersion::NoStream,
            vec![
                NewEvent::new("PriceSetV1", json!({ "price": 12 })),
                NewEvent::new("ItemAdded", json!({ "sku": "a" })),
                NewEvent::new("PriceSet", json!({ "cents": 500, "currency": "USD" })),
            ],
        )
        .await
        .unwrap();
    store
        .append(
            "cart-2",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("PriceSetV2", json!({ "cents": 100 }))],
        )
        .await
        .unwrap();
    let before = stored(&store).await;
    register_price_upcasters(&store);
    assert_eq!(
        store.upcasters().event_types(),
        ["ItemAdded", "PriceSetV1", "PriceSetV2"]
    );

    let expected = vec![
        (
            "PriceSet".to_owned(),
            json!({ "cents": 1200, "currency": "EUR" }),
        ),
        ("LineAdded".to_owned(), json!({ "sku": "a" })),
        (
            "PriceSet".to_owned(),
            json!({ "cents": 500, "currency": "USD" }),
        ),
        (
            "PriceSet".to_owned(),
            json!({ "cents": 100, "currency": "EUR" }),
        ),
    ];
    let all = store.read_all(ReadAllOptions::new()).await.unwrap();
    assert_eq!(shapes(&all), expected);
    assert_eq!(all[0].position, 1, "the envelope is kept");
    let backward = store.read_all(ReadAllOptions::backward()).await.unwrap();
    assert_eq!(
        shapes(&backward),
        expected.iter().rev().cloned().collect::<Vec<_>>()
    );
    let cart = store
        .read_stream("cart-1", ReadStreamOptions::new())
        .await
        .unwrap();
    assert_eq!(shapes(&cart), expected[..3]);
    let last_first = store
        .read_stream("cart-1", ReadStreamOptions::backward().max_count(2))
        .await
        .unwrap();
    assert_eq!(
        shapes(&last_first),
        [expected[2].clone(), expected[1].clone()]
    );
    let lazy: Vec<RecordedEvent> = store
        .stream_events("cart-1", ReadStreamOptions::new())
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(shapes(&lazy), expected[..3]);
    let lazy_all: Vec<RecordedEvent> = store
        .all_events(ReadAllOptions::new())
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(shapes(&lazy_all), expected);

    let mut everything = store
        .subscribe_all(SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(shapes(&take_events(&mut everything, 4).await), expected);
    let mut one = store
        .subscribe_to_stream("cart-2", SubscribeOptions::from_start())
        .await
        .unwrap();
    assert_eq!(shapes(&take_events(&mut one, 1).await), expected[3..]);
    // Live events go through them too.
    store
        .append(
            "cart-2",
            ExpectedVersion::Exact(1),
            vec![NewEvent::new("ItemAdded", json!({ "sku": "b" }))],
        )
        .await
        .unwrap();
    let live = take_events(&mut one, 1).await;
    assert_eq!(live[0].event_type, "LineAdded");
    drop((everything, one));

    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut projector = Projector::new(store.clone());
    let recorder = Arc::clone(&seen);
    projector
        .add(
            "types",
            ProjectionOptions::default(),
            move |events: Vec<RecordedEvent>| {
                recorder
                    .lock()
                    .unwrap()
                    .extend(events.into_iter().map(|e| e.event_type));
                futures::future::ready(Ok::<(), String>(()))
            },
        )
        .unwrap();
    run_until(projector, |_| {
        let seen = Arc::clone(&seen);
        async move { seen.lock().unwrap().len() >= 5 }
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        ["PriceSet", "LineAdded", "PriceSet", "PriceSet", "LineAdded"]
    );

    let loaded = Repository::<S, Cart>::new(store.clone())
        .load("cart-1")
        .await
        .unwrap();
    assert_eq!(loaded.version, 3);
    assert_eq!(
        loaded.state,
        Cart {
            price: Some((500, "USD".into())),
            lines: vec!["a".into()],
        }
    );

    // The export: as stored by default (a faithful copy), through the upcasters on request.
    let export_types = |file: Vec<u8>| -> Vec<String> {
        String::from_utf8(file)
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let mut raw_file = Vec::new();
    crate::export_jsonl(
        store.storage(),
        &mut raw_file,
        &crate::ExportOptions::default(),
    )
    .await
    .unwrap();
    let mut upcast_file = Vec::new();
    let summary = store
        .export_jsonl(&mut upcast_file, &crate::ExportOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.events, 5);
    assert_eq!(
        export_types(raw_file),
        [
            "PriceSetV1",
            "ItemAdded",
            "PriceSet",
            "PriceSetV2",
            "ItemAdded"
        ]
    );
    assert_eq!(
        export_types(upcast_file.clone()),
        ["PriceSet", "LineAdded", "PriceSet", "PriceSet", "LineAdded"]
    );
    assert!(String::from_utf8(upcast_file)
        .unwrap()
        .contains(r#""data":{"cents":1200,"currency":"EUR"}"#));

    let after = stored(&store).await;
    assert_eq!(after[..4], before[..], "stored events are never rewritten");
    assert_eq!(after[4].0, "ItemAdded");
}

/// Event-type filters match the types events have after upcasting, on every filtered reader,
/// also when whole pages of what the storage returns upcast to other types.
pub async fn upcast_type_filters_match_upcast_types<S: Storage>(store: EventStore<S>) {
    let noise: Vec<NewEvent> = (0..600)
        .map(|n| NewEvent::new("NoiseV1", json!({ "n": n })))
        .collect();
    store
        .append("noise-1", ExpectedVersion::NoStream, noise)
        .await
        .unwrap();
    for (stream, event_type) in [("cart-1", "PriceSetV1"), ("cart-2", "PriceSet")] {
        store
            .append(
                stream,
                ExpectedVersion::NoStream,
                vec![NewEvent::new(
                    event_type,
                    json!({ "price": 3, "cents": 300, "currency": "EUR" }),
                )],
            )
            .await
            .unwrap();
    }
    register_price_upcasters(&store);
    store.register_upcaster("NoiseV1", |mut event: RecordedEvent| {
        event.event_type = "Noise".into();
        Ok::<_, &str>(event)
    });
    let prices = Filter::default().event_type("PriceSet");
    let positions =
        |events: &[RecordedEvent]| events.iter().map(|e| e.position).collect::<Vec<_>>();

    let found = store
        .read_all(ReadAllOptions::new().filter(prices.clone()))
        .await
        .unwrap();
    assert_eq!(positions(&found), [601, 602]);
    assert!(found.iter().all(|e| e.event_type == "PriceSet"));
    let first = store
        .read_all(ReadAllOptions::new().filter(prices.clone()).max_count(1))
        .await
        .unwrap();
    assert_eq!(positions(&first), [601]);
    let backward = store
        .read_all(ReadAllOptions::backward().filter(prices.clone()))
        .await
        .unwrap();
    assert_eq!(positions(&backward), [602, 601]);
    let old_name = store
        .read_all(ReadAllOptions::new().filter(Filter::default().event_type("PriceSetV1")))
        .await
        .unwrap();
    assert!(old_name.is_empty(), "no event reads as PriceSetV1 any more");
    let renamed = store
        .read_all(ReadAllOptions::new().filter(Filter::default().event_type("Noise")))
        .await
        .unwrap();
    assert_eq!(renamed.len(), 600);
    let lazy: Vec<u64> = store
        .all_events(ReadAllOptions::new().filter(prices.clone()))
        .unwrap()
        .map(|e| e.unwrap().position)
        .collect()
        .await;
    assert_eq!(lazy, [601, 602]);

    let mut subscription = store
        .subscribe_all(
            SubscribeOptions::from_start()
                .filter(prices.clone())
                .batch_size(50),
        )
        .await
        .unwrap();
    assert_eq!(
        positions(&take_events(&mut subscription, 2).await),
        [601, 602]
    );
    expect_caught_up(&mut subscription).await;
    drop(subscription);

    let handled: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut projector = Projector::new(store.clone());
    let recorder = Arc::clone(&handled);
    projector
        .add(
            "prices",
            ProjectionOptions::batched(10, Duration::from_millis(5)).filter(prices),
            move |events: Vec<RecordedEvent>| {
                recorder
                    .lock()
                    .unwrap()
                    .extend(events.iter().map(|e| e.position));
                futures::future::ready(Ok::<(), String>(()))
            },
        )
        .unwrap();
    run_until(projector, |handle| async move {
        handle.checkpoint("prices").await.unwrap() >= 602
    })
    .await;
    assert_eq!(*handled.lock().unwrap(), [601, 602]);
}

/// An upcaster that fails, changes the envelope, returns an empty type or non-object metadata,
/// or loops back to a type earlier in its chain fails the read with a `Codec` error naming the
/// event; the stored events are untouched and other streams read as usual.
pub async fn failing_upcasters_are_codec_errors_naming_the_event<S: Storage>(store: EventStore<S>) {
    for (stream, event_type) in [
        ("ok-1", "Fine"),
        ("bad-1", "Broken"),
        ("bad-2", "Moves"),
        ("bad-3", "Blank"),
        ("bad-4", "Meta"),
        ("bad-5", "Ping"),
    ] {
        store
            .append(
                stream,
                ExpectedVersion::NoStream,
                vec![NewEvent::new(event_type, json!({}))],
            )
            .await
            .unwrap();
    }
    let before = stored(&store).await;
    store.register_upcaster("Broken", |_: RecordedEvent| {
        Err::<RecordedEvent, _>("the price is missing")
    });
    store.register_upcaster("Moves", |mut event: RecordedEvent| {
        event.position += 1;
        Ok::<_, &str>(event)
    });
    store.register_upcaster("Blank", |mut event: RecordedEvent| {
        event.event_type = String::new();
        Ok::<_, &str>(event)
    });
    store.register_upcaster("Meta", |mut event: RecordedEvent| {
        event.metadata = json!([1]);
        Ok::<_, &str>(event)
    });
    store.register_upcaster("Ping", |mut event: RecordedEvent| {
        event.event_type = "Pong".into();
        Ok::<_, &str>(event)
    });
    store.register_upcaster("Pong", |mut event: RecordedEvent| {
        event.event_type = "Ping".into();
        Ok::<_, &str>(event)
    });

    for (stream, event_type, says) in [
        ("bad-1", "Broken", "the price is missing"),
        ("bad-2", "Moves", "position"),
        ("bad-3", "Blank", "empty event type"),
        ("bad-4", "Meta", "not a JSON object"),
        ("bad-5", "Ping", "loop"),
    ] {
        let error = store
            .read_stream(stream, ReadStreamOptions::new())
            .await
            .expect_err("the upcaster fails the read");
        let Error::Codec {
            event_type: named,
            reason,
        } = &error
        else {
            panic!("expected a Codec error, got {error:?}");
        };
        assert_eq!(named, event_type, "{error}");
        assert!(
            reason.contains(&format!("stream `{stream}` (version 1")),
            "names the event: {reason}"
        );
        assert!(reason.contains(says), "{reason}");
    }
    let ok = store
        .read_stream("ok-1", ReadStreamOptions::new())
        .await
        .unwrap();
    assert_eq!(ok[0].event_type, "Fine");
    assert_eq!(
        store
            .read_all(ReadAllOptions::new())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Codec
    );
    let mut subscription = store
        .subscribe_to_stream("bad-1", SubscribeOptions::from_start())
        .await
        .unwrap();
    let failed = within(subscription.next()).await.expect("an item");
    assert_eq!(failed.unwrap_err().kind(), ErrorKind::Codec);
    let mut fine = store
        .subscribe_to_stream("ok-1", SubscribeOptions::from_start())
        .await
        .unwrap();
    assert!(matches!(
        next_item(&mut fine).await,
        SubscriptionItem::Event(_)
    ));
    assert_eq!(stored(&store).await, before, "nothing stored was changed");
}
