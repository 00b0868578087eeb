//! `evstore truncate STREAM --before V`: remove a stream's events below a version, or set how
//! many of its newest events it keeps.

use clap::Args;
use evstore::{EventStore, StreamMetadata};

use super::{DbArgs, ExpectedArgs};
use crate::backend::OpenMode;

/// `evstore truncate [--db …] STREAM (--before V | --max-count N | --keep-all) [--expected V]`
#[derive(Debug, Args)]
#[command(
    after_help = "--before V removes the events below version V (1 to the stream's version; \
                  the stream's version and numbering stay). --max-count N makes the stream keep \
                  only its newest N events, now and at every append; --keep-all lifts that. \
                  Removals record a `$streamTruncated` marker in the `$lifecycle` stream."
)]
#[group(id = "what", required = true, multiple = false)]
pub struct TruncateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The stream id.
    stream: String,
    /// Remove the events below this version.
    #[arg(long, value_name = "V", group = "what", value_parser = clap::value_parser!(u64).range(1..))]
    before: Option<u64>,
    /// Keep only the newest N events (stream metadata `maxCount`).
    #[arg(long, value_name = "N", group = "what", value_parser = clap::value_parser!(u64).range(1..))]
    max_count: Option<u64>,
    /// Keep every event again (no `maxCount`).
    #[arg(long, group = "what")]
    keep_all: bool,
    #[command(flatten)]
    expected: ExpectedArgs,
}

pub async fn run(args: TruncateArgs) -> anyhow::Result<()> {
    let store = EventStore::new(args.db.open(OpenMode::Existing).await?);
    let (stream, expected) = (&args.stream, args.expected.expected);
    if let Some(before) = args.before {
        store.truncate_before(stream, before, expected).await?;
        eprintln!("removed the events of `{stream}` below version {before}");
    } else if let Some(count) = args.max_count {
        let metadata = StreamMetadata::new().max_count(count);
        store
            .set_stream_metadata(stream, metadata, expected)
            .await?;
        eprintln!("`{stream}` keeps its newest {count} events");
    } else {
        store
            .set_stream_metadata(stream, StreamMetadata::new(), expected)
            .await?;
        eprintln!("`{stream}` keeps every event");
    }
    Ok(())
}
