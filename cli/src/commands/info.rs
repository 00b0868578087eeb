//! `evstore info`: what is in a store.

use clap::Args;
use evstore::EventStore;
use serde::Serialize;

use super::scavenge::file_bytes;
use super::streams::{first_version, for_each_stream};
use super::{DbArgs, OutputArgs};
use crate::backend::OpenMode;
use crate::output::Out;

/// `evstore info [--db …] [--json]`
#[derive(Debug, Args)]
#[command(
    after_help = "Counts streams by listing them, and events from each stream's first and last versions. The store id is what sync clients compare to notice a replaced store."
)]
pub struct InfoArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    store: String,
    /// The id sync clients compare to notice a replaced store.
    store_id: String,
    schema_version: u64,
    events: u64,
    streams: u64,
    head: u64,
    /// The SQLite file and its write-ahead log, in bytes.
    file_bytes: Option<u64>,
}

pub async fn run(args: InfoArgs) -> anyhow::Result<()> {
    let backend = args.db.open(OpenMode::Existing).await?;
    let info_store = backend.describe();
    let schema_version = backend.schema_version();
    let file_bytes = file_bytes(&backend);
    let store = EventStore::new(backend);
    let head = store.head().await?;
    let store_id = store.store_id().await?;
    let (mut events, mut streams) = (0, 0);
    for_each_stream(&store, "", |stream, record| {
        // Versions are gapless from the first stored one to the stream's version.
        events += stream.version + 1 - first_version(record, stream.version);
        streams += 1;
        Ok(())
    })
    .await?;
    let info = Info {
        store: info_store,
        store_id,
        schema_version,
        events,
        streams,
        head,
        file_bytes,
    };
    let mut out = Out::new(args.output.json);
    if out.json() {
        out.value(&info)?;
    } else {
        out.line(format_args!("store:          {}", info.store))?;
        out.line(format_args!("store id:       {}", info.store_id))?;
        out.line(format_args!("schema version: {}", info.schema_version))?;
        out.line(format_args!("events:         {}", info.events))?;
        out.line(format_args!("streams:        {}", info.streams))?;
        out.line(format_args!("head position:  {}", info.head))?;
        if let Some(bytes) = info.file_bytes {
            out.line(format_args!("file size:      {bytes} bytes"))?;
        }
    }
    out.flush()?;
    Ok(())
}
