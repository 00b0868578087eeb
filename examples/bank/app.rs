//! The `bank` example itself (native only; see `examples/bank.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evstore::{
    Aggregate, CommandError, EventStore, ProjectionOptions, Projector, RecordedEvent, Repository,
    SqliteStorage,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

#[derive(Debug, Default)]
struct Account {
    open: bool,
    balance: u64,
}

impl Aggregate for Account {
    type Event = AccountEvent;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { .. } => self.open = true,
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum BankError {
    #[error("the account is not open")]
    NotOpen,
    #[error("insufficient funds: balance {balance}, wanted {wanted}")]
    InsufficientFunds { balance: u64, wanted: u64 },
}

fn open(account: &Account, owner: &str) -> Result<Vec<AccountEvent>, BankError> {
    Ok(if account.open {
        Vec::new()
    } else {
        vec![AccountEvent::Opened {
            owner: owner.to_owned(),
        }]
    })
}

fn deposit(account: &Account, amount: u64) -> Result<Vec<AccountEvent>, BankError> {
    if !account.open {
        return Err(BankError::NotOpen);
    }
    Ok(vec![AccountEvent::Deposited { amount }])
}

fn withdraw(account: &Account, amount: u64) -> Result<Vec<AccountEvent>, BankError> {
    if !account.open {
        return Err(BankError::NotOpen);
    }
    if account.balance < amount {
        return Err(BankError::InsufficientFunds {
            balance: account.balance,
            wanted: amount,
        });
    }
    Ok(vec![AccountEvent::Withdrawn { amount }])
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bank.db");
    if std::env::args().any(|arg| arg == "--fresh") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    futures::executor::block_on(run(&path))
}

async fn run(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = EventStore::new(SqliteStorage::open(path)?);
    let head = store.head().await?;
    println!("bank: {} (store holds {head} events)", path.display());

    // Commands against aggregates.
    let accounts = Repository::<_, Account>::new(store.clone())
        .with_ids(Some(format!("bank-example-after-{head}")), None);
    for (stream, owner) in [("account-ada", "Ada"), ("account-bob", "Bob")] {
        accounts.execute(stream, |a| open(a, owner)).await?;
    }
    accounts.execute("account-ada", |a| deposit(a, 100)).await?;
    accounts.execute("account-bob", |a| deposit(a, 20)).await?;
    accounts.execute("account-ada", |a| withdraw(a, 30)).await?;
    match accounts
        .execute("account-bob", |a| withdraw(a, 1_000))
        .await
    {
        Err(CommandError::Domain(refused)) => {
            println!("  bob withdraws 1000: refused by the domain: {refused}")
        }
        other => println!("  unexpected: {other:?}"),
    }

    // A balance projection with a durable checkpoint.
    let balances: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let handled: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut projector = Projector::new(store.clone());
    let (view, seen) = (Arc::clone(&balances), Arc::clone(&handled));
    let options = ProjectionOptions::batched(50, Duration::from_millis(20));
    projector.add("balances", options, move |events: Vec<RecordedEvent>| {
        for event in &events {
            let change = match event.decode::<AccountEvent>() {
                Ok(AccountEvent::Deposited { amount }) => amount as i64,
                Ok(AccountEvent::Withdrawn { amount }) => -(amount as i64),
                Ok(AccountEvent::Opened { .. }) => 0,
                Err(error) => return futures::future::ready(Err(error.to_string())),
            };
            *view
                .lock()
                .unwrap()
                .entry(event.stream_id.clone())
                .or_default() += change;
            seen.lock().unwrap().push(event.position);
        }
        futures::future::ready(Ok(()))
    })?;
    let handle = projector.handle();
    let before = handle.checkpoint("balances").await?;
    let target = store.head().await?;
    let stopper = async {
        while handle.checkpoint("balances").await? < target {
            evstore::platform::sleep(Duration::from_millis(5)).await;
        }
        handle.stop();
        Ok::<(), evstore::Error>(())
    };
    let (ran, stopped) = futures::join!(projector.run(), stopper);
    ran?;
    stopped?;

    let handled = handled.lock().unwrap().clone();
    println!(
        "  projection `balances`: checkpoint was {before}, handled positions {}..={} ({} events), checkpoint now {target}",
        handled.first().copied().unwrap_or(0),
        handled.last().copied().unwrap_or(0),
        handled.len()
    );
    if before > 0 {
        println!(
            "  resumed after its checkpoint: the {before} events of earlier runs were not replayed"
        );
    } else {
        println!("  first run: built from the start; run again to see it resume");
    }
    println!(
        "  balance changes projected in this run: {:?}",
        balances.lock().unwrap()
    );
    for stream in ["account-ada", "account-bob"] {
        let loaded = accounts.load(stream).await?;
        println!(
            "  {stream}: balance {} at version {}",
            loaded.state.balance, loaded.version
        );
    }
    Ok(())
}
