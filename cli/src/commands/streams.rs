//! `evstore streams`: stream ids with their versions.

use std::collections::BTreeMap;

use clap::Args;
use evstore::{EventStore, Filter, ReadAllOptions};
use futures::TryStreamExt;
use serde::Serialize;

use super::{DbArgs, OutputArgs};
use crate::backend::OpenMode;
use crate::output::Out;
use crate::progress::Progress;

/// `evstore streams [--db …] [--prefix P] [--json]`
#[derive(Debug, Args)]
pub struct StreamsArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Only streams whose id starts with this.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamInfo<'a> {
    stream_id: &'a str,
    version: u64,
}

pub async fn run(args: StreamsArgs) -> anyhow::Result<()> {
    let store = EventStore::new(args.db.open(OpenMode::Existing).await?);
    let filter = args
        .prefix
        .map_or_else(Filter::new, |prefix| Filter::new().stream_prefix(prefix));
    let progress = Progress::start("scanning", "events", Some(store.head().await?));
    let mut versions = BTreeMap::new();
    let mut events = store.all_events(ReadAllOptions::new().filter(filter))?;
    while let Some(event) = events.try_next().await? {
        versions.insert(event.stream_id, event.version);
        progress.add(1);
    }
    progress.finish();
    let mut out = Out::new(args.output.json);
    for (stream_id, version) in &versions {
        if out.json() {
            out.value(&StreamInfo {
                stream_id,
                version: *version,
            })?;
        } else {
            out.line(format_args!("{stream_id}\t{version}"))?;
        }
    }
    out.flush()?;
    Ok(())
}
