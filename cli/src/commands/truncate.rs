//! `evstore truncate STREAM --before V`: remove a stream's events below a version, or set how
//! many of its newest events it keeps and for how long.

use clap::Args;
use evstore::{EventStore, StreamMetadata};

use super::{DbArgs, ExpectedArgs};
use crate::backend::OpenMode;

/// `evstore truncate [--db …] STREAM (--before V | [--max-count N] [--max-age SECS] |
/// --keep-all) [--expected V]`
#[derive(Debug, Args)]
#[command(
    after_help = "--before V removes the events below version V (1 to the stream's version; \
                  the stream's version and numbering stay). --max-count N makes the stream keep \
                  only its newest N events, now and at every append. --max-age SECS hides the \
                  events recorded more than SECS seconds ago from every read at once; they are \
                  removed at the next append to the stream or by `evstore scavenge` (its last \
                  event stays stored, so its version stays). Either one alone keeps the other \
                  setting; an event is kept only if both keep it. --keep-all lifts both. \
                  Removals by --before and --max-count record a `$streamTruncated` marker in \
                  the `$lifecycle` stream."
)]
#[group(id = "what", required = true, multiple = true)]
pub struct TruncateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The stream id.
    stream: String,
    /// Remove the events below this version.
    #[arg(long, value_name = "V", group = "what", conflicts_with_all = ["max_count", "max_age", "keep_all"],
          value_parser = clap::value_parser!(u64).range(1..))]
    before: Option<u64>,
    /// Keep only the newest N events (stream metadata `maxCount`).
    #[arg(long, value_name = "N", group = "what", value_parser = clap::value_parser!(u64).range(1..))]
    max_count: Option<u64>,
    /// Keep only the events recorded in the last SECS seconds (stream metadata `maxAge`).
    #[arg(long, value_name = "SECS", group = "what", value_parser = clap::value_parser!(u64).range(1..))]
    max_age: Option<u64>,
    /// Keep every event again (no `maxCount`, no `maxAge`).
    #[arg(long, group = "what", conflicts_with_all = ["max_count", "max_age"])]
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
    } else if args.max_count.is_some() || args.max_age.is_some() {
        let current = store.stream_metadata(stream).await?;
        let metadata = StreamMetadata {
            max_count: args.max_count.or(current.max_count),
            max_age: args.max_age.or(current.max_age),
        };
        store
            .set_stream_metadata(stream, metadata, expected)
            .await?;
        let kept = [
            metadata
                .max_count
                .map(|count| format!("its newest {count} events")),
            metadata
                .max_age
                .map(|age| format!("the events of the last {age} seconds")),
        ];
        let kept: Vec<String> = kept.into_iter().flatten().collect();
        eprintln!("`{stream}` keeps {}", kept.join(" among "));
    } else {
        store
            .set_stream_metadata(stream, StreamMetadata::new(), expected)
            .await?;
        eprintln!("`{stream}` keeps every event");
    }
    Ok(())
}
