//! `evstore delete STREAM`: soft-delete a stream, or tombstone it with `--tombstone`.

use clap::Args;
use evstore::EventStore;

use super::{DbArgs, ExpectedArgs};
use crate::backend::OpenMode;

/// `evstore delete [--db …] STREAM [--expected V] [--tombstone]`
#[derive(Debug, Args)]
#[command(
    after_help = "A soft delete removes the stream's events; reads then say the stream does not \
                  exist, and appending to it again continues its version numbering. \
                  --tombstone deletes it for good: every later append or read of it fails with \
                  StreamDeleted. Either way a marker event is recorded in the `$lifecycle` \
                  stream, and the space is reused for new events (`evstore scavenge` shrinks a \
                  SQLite file)."
)]
pub struct DeleteArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The stream id.
    stream: String,
    #[command(flatten)]
    expected: ExpectedArgs,
    /// Delete the stream for good (a tombstone) instead of a soft delete.
    #[arg(long)]
    tombstone: bool,
}

pub async fn run(args: DeleteArgs) -> anyhow::Result<()> {
    let store = EventStore::new(args.db.open(OpenMode::Existing).await?);
    let expected = args.expected.expected;
    if args.tombstone {
        store.tombstone_stream(&args.stream, expected).await?;
        eprintln!("tombstoned stream `{}`", args.stream);
    } else {
        store.delete_stream(&args.stream, expected).await?;
        eprintln!("deleted stream `{}`", args.stream);
    }
    Ok(())
}
