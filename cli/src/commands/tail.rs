//! `evstore tail`: the events of all streams in position order, optionally following.

use clap::Args;
use evstore::{EventStore, Filter, ReadAllOptions, SubscribeOptions, SubscriptionItem};
use futures::TryStreamExt;

use super::{DbArgs, OutputArgs};
use crate::backend::OpenMode;
use crate::output::Out;

/// `evstore tail [--db …] [--from POS] [--follow] [--stream-prefix P] [--category C] [--type T]`
#[derive(Debug, Args)]
#[command(
    after_help = "Filters repeat (`--type A --type B`); kinds combine with AND, values of \
                        one kind with OR. With --follow, tail waits for new events until \
                        interrupted (Ctrl-C)."
)]
pub struct TailArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Start after this position (exclusive; 0 = from the start).
    #[arg(long, value_name = "POS", default_value_t = 0)]
    from: u64,
    /// Keep running and print new events as they are appended.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only streams whose id starts with P.
    #[arg(long = "stream-prefix", value_name = "P")]
    stream_prefixes: Vec<String>,
    /// Only streams of category C (the id's part before the first `-`).
    #[arg(long = "category", value_name = "C")]
    categories: Vec<String>,
    /// Only events of type T.
    #[arg(long = "type", value_name = "T")]
    event_types: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let store = EventStore::new(args.db.open(OpenMode::Existing).await?);
    let filter = Filter {
        stream_prefixes: args.stream_prefixes,
        categories: args.categories,
        event_types: args.event_types,
    };
    let mut out = Out::new(args.output.json);
    if !args.follow {
        let mut events = store.all_events(
            ReadAllOptions::new()
                .from_position(args.from)
                .filter(filter),
        )?;
        while let Some(event) = events.try_next().await? {
            out.event(event)?;
        }
        out.flush()?;
        return Ok(());
    }
    let mut subscription = store
        .subscribe_all(SubscribeOptions::after(args.from).filter(filter))
        .await?;
    while let Some(item) = subscription.try_next().await? {
        match item {
            SubscriptionItem::Event(event) => out.event(event)?,
            // Show what arrived before waiting for more.
            SubscriptionItem::CaughtUp => out.flush()?,
        }
    }
    out.flush()?;
    Ok(())
}
