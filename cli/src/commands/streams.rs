//! `evstore streams`: stream ids with their versions and retention settings.

use clap::Args;
use evstore::storage::{Storage, StreamRecord};
use evstore::{EventStore, ListStreamsOptions, DEFAULT_PAGE_SIZE};
use serde::Serialize;

use super::{DbArgs, OutputArgs};
use crate::backend::{Backend, OpenMode};
use crate::output::Out;

/// `evstore streams [--db …] [--prefix P] [--json]`
#[derive(Debug, Args)]
#[command(
    after_help = "Text lines read `stream<TAB>version<TAB>position of its last event`, \
                        in stream-id order, then `<TAB>from=V` when the stream's first events \
                        were removed (truncated, or deleted and appended to again) and \
                        `<TAB>maxCount=N` when it keeps only its newest N events, \
                        `<TAB>maxAge=SECS` when it keeps only the events of the last SECS \
                        seconds (the version counts the expired events too)."
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
    /// The stream's first stored version.
    first_version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_count: Option<u64>,
    /// The stream's `maxAge`, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<u64>,
}

/// The first stored version of a stream at `version` with lifecycle `record`: events below a
/// truncation (or a delete) are gone.
pub fn first_version(record: Option<&StreamRecord>, version: u64) -> u64 {
    record.map_or(1, |record| record.truncated_before.clamp(1, version.max(1)))
}

/// Calls `each` for every stream with `prefix` and its lifecycle record, a page at a time.
pub async fn for_each_stream(
    store: &EventStore<Backend>,
    prefix: &str,
    mut each: impl FnMut(&evstore::StreamInfo, Option<&StreamRecord>) -> anyhow::Result<()>,
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
            let record = store.storage().stream_record(&stream.stream_id).await?;
            each(stream, record.as_ref())?;
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
    for_each_stream(&store, &args.prefix, |stream, record| {
        let line = StreamLine {
            stream_id: &stream.stream_id,
            version: stream.version,
            position: stream.position,
            first_version: first_version(record, stream.version),
            max_count: record.and_then(|record| record.metadata.max_count),
            max_age: record.and_then(|record| record.metadata.max_age),
        };
        if out.json() {
            out.value(&line)?;
        } else {
            let mut text = format!("{}\t{}\t{}", line.stream_id, line.version, line.position);
            if line.first_version > 1 {
                text.push_str(&format!("\tfrom={}", line.first_version));
            }
            if let Some(count) = line.max_count {
                text.push_str(&format!("\tmaxCount={count}"));
            }
            if let Some(age) = line.max_age {
                text.push_str(&format!("\tmaxAge={age}"));
            }
            out.line(text)?;
        }
        Ok(())
    })
    .await?;
    out.flush()?;
    Ok(())
}
