//! The `quickstart` example itself (native only; see `examples/quickstart.rs`).

use std::time::Instant;

use evstore::{
    Error, EventStore, ExpectedVersion, NewEvent, ReadStreamOptions, SqliteStorage,
    SubscribeOptions, SubscriptionItem,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// Typed events are plain serde enums: the variant name is the stored event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The core is executor-agnostic: a plain `futures` executor is enough.
    futures::executor::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("quickstart.db");
    let store = EventStore::new(SqliteStorage::open(&path)?);
    println!("Opened a fresh store at {}\n", path.display());

    // 1. Append typed events; `NoStream` says the stream must not exist yet.
    println!("1. Append to a new stream");
    let opened = store
        .append_typed(
            "account-42",
            ExpectedVersion::NoStream,
            &[
                AccountEvent::Opened {
                    owner: "ada".into(),
                },
                AccountEvent::Deposited { amount: 100 },
            ],
        )
        .await?;
    println!(
        "   account-42 is now at version {}; its last event has global position {}\n",
        opened.next_expected_version, opened.position
    );

    // 2. Optimistic concurrency: a writer that last saw version 1 is refused, nothing written.
    println!("2. A stale writer expects version 1");
    let stale = store
        .append_typed(
            "account-42",
            ExpectedVersion::Exact(1),
            &[AccountEvent::Withdrawn { amount: 500 }],
        )
        .await;
    match &stale {
        Err(
            conflict @ Error::WrongExpectedVersion {
                stream,
                expected,
                actual,
                ..
            },
        ) => {
            println!("   refused: stream `{stream}` expected {expected}, actual version {actual}");
            println!("   (kind {}: \"{conflict}\")", conflict.kind());
        }
        other => return Err(format!("expected a conflict, got {other:?}").into()),
    }
    let version = store.stream_version("account-42").await?;
    let withdrawn = store
        .append_typed(
            "account-42",
            ExpectedVersion::Exact(version),
            &[AccountEvent::Withdrawn { amount: 30 }],
        )
        .await?;
    println!(
        "   it re-reads the version ({version}) and `Exact({version})` succeeds: version {}\n",
        withdrawn.next_expected_version
    );

    // 3. Retrying an append with the same event ids (say, after a lost reply) is idempotent.
    println!("3. Retry an append with the same event id");
    let id = uuid::Uuid::now_v7().to_string();
    let deposit = || {
        NewEvent::from_typed(&AccountEvent::Deposited { amount: 5 })
            .map(|event| event.with_id(id.clone()).with_correlation_id("request-7"))
    };
    let first = store
        .append("account-42", ExpectedVersion::Exact(3), vec![deposit()?])
        .await?;
    let retry = store
        .append("account-42", ExpectedVersion::Exact(3), vec![deposit()?])
        .await?;
    println!("   first:  {first:?}\n   retry:  {retry:?} (same result, nothing written twice)\n");

    // 4. Read the stream back and fold it into a balance.
    println!("4. Read account-42 back");
    let mut balance = 0;
    for event in store
        .read_stream("account-42", ReadStreamOptions::new())
        .await?
    {
        let typed: AccountEvent = event.decode()?;
        match &typed {
            AccountEvent::Opened { .. } => {}
            AccountEvent::Deposited { amount } => balance += amount,
            AccountEvent::Withdrawn { amount } => balance -= amount,
        }
        let correlation = event
            .correlation_id
            .map(|id| format!("  correlation {id}"))
            .unwrap_or_default();
        println!(
            "   v{} @{}  {typed:?}{correlation}",
            event.version, event.position
        );
    }
    println!("   balance: {balance}\n");

    // 5. Subscribe to everything: catch up, get `CaughtUp`, then see a live append at once.
    println!("5. Subscribe to all streams from the start");
    store
        .append_typed(
            "account-43",
            ExpectedVersion::NoStream,
            &[AccountEvent::Opened {
                owner: "bob".into(),
            }],
        )
        .await?;
    let mut subscription = store.subscribe_all(SubscribeOptions::from_start()).await?;
    loop {
        match subscription.next().await.ok_or("subscription ended")?? {
            SubscriptionItem::Event(event) => println!(
                "   catch-up: @{} {} {} {}",
                event.position, event.stream_id, event.event_type, event.data
            ),
            SubscriptionItem::CaughtUp => {
                println!("   CaughtUp: everything committed so far was delivered");
                break;
            }
        }
    }
    let appended_at = Instant::now();
    store
        .append_typed(
            "account-43",
            ExpectedVersion::Exact(1),
            &[AccountEvent::Deposited { amount: 7 }],
        )
        .await?;
    match subscription.next().await.ok_or("subscription ended")?? {
        SubscriptionItem::Event(event) => println!(
            "   live:     @{} {} {} {}  (delivered {} µs after the append started)",
            event.position,
            event.stream_id,
            event.event_type,
            event.data,
            appended_at.elapsed().as_micros()
        ),
        SubscriptionItem::CaughtUp => return Err("expected the live event".into()),
    }
    drop(subscription);

    store.close();
    println!("\nClosed the store. Done.");
    Ok(())
}
