//! `evstore read STREAM`: the events of one stream.

use clap::Args;
use evstore::{EventStore, ReadStreamOptions};
use futures::TryStreamExt;

use super::{DbArgs, OutputArgs};
use crate::backend::OpenMode;
use crate::output::Out;

/// `evstore read [--db …] STREAM [--from V] [--backward] [--max N] [--json]`
#[derive(Debug, Args)]
#[command(
    after_help = "Text lines read `#position stream@version type recordedAt data`; \
                        --json prints one event per line with the JavaScript API's field names."
)]
pub struct ReadArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The stream id.
    stream: String,
    /// The first version to print (inclusive).
    #[arg(long, value_name = "V")]
    from: Option<u64>,
    /// Newest first.
    #[arg(long)]
    backward: bool,
    /// Print at most N events.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max: Option<u64>,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn run(args: ReadArgs) -> anyhow::Result<()> {
    let store = EventStore::new(args.db.open(OpenMode::Existing).await?);
    let mut options = if args.backward {
        ReadStreamOptions::backward()
    } else {
        ReadStreamOptions::new()
    };
    options.from_version = args.from;
    options.max_count = args.max.map(|n| n as usize);
    if store.stream_version(&args.stream).await? == 0 {
        return Err(evstore::Error::StreamNotFound {
            stream: args.stream,
        }
        .into());
    }
    let mut out = Out::new(args.output.json);
    let mut events = store.stream_events(&args.stream, options)?;
    while let Some(event) = events.try_next().await? {
        out.event(event)?;
    }
    out.flush()?;
    Ok(())
}
