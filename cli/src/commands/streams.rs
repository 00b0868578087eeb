//! `evstore streams`: stream ids with their versions.

use clap::Args;
use evstore::{EventStore, ListStreamsOptions, DEFAULT_PAGE_SIZE};
use serde::Serialize;

use super::{DbArgs, OutputArgs};
use crate::backend::{Backend, OpenMode};
use crate::output::Out;

/// `evstore streams [--db …] [--prefix P] [--json]`
#[derive(Debug, Args)]
#[command(
    after_help = "Text lines read `stream<TAB>version<TAB>position of its last event`, \
                        in stream-id order."
)]
pub struct StreamsArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Only streams whose id starts with this.
    #[arg(long, value_name = "P", default_value = "")]
    prefix: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamLine<'a> {
    stream_id: &'a str,
    version: u64,
    position: u64,
}

/// Calls `each` for every stream with `prefix`, a page at a time.
pub async fn for_each_stream(
    store: &EventStore<Backend>,
    prefix: &str,
    mut each: impl FnMut(&evstore::StreamInfo) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut after = None;
    loop {
        let page = store
            .list_streams(ListStreamsOptions {
                prefix: prefix.to_owned(),
                after: after.take(),
                max_count: Some(DEFAULT_PAGE_SIZE),
            })
            .await?;
        for stream in &page {
            each(stream)?;
        }
        if page.len() < DEFAULT_PAGE_SIZE {
            return Ok(());
        }
        after = page.last().map(|last| last.stream_id.clone());
    }
}

pub async fn run(args: StreamsArgs) -> anyhow::Result<()> {
    let store = EventStore::new(args.db.open(OpenMode::Existing).await?);
    let mut out = Out::new(args.output.json);
    for_each_stream(&store, &args.prefix, |stream| {
        if out.json() {
            out.value(&StreamLine {
                stream_id: &stream.stream_id,
                version: stream.version,
                position: stream.position,
            })?;
        } else {
            out.line(format_args!(
                "{}\t{}\t{}",
                stream.stream_id, stream.version, stream.position
            ))?;
        }
        Ok(())
    })
    .await?;
    out.flush()?;
    Ok(())
}
