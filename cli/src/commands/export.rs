//! `evstore export`: the whole store as JSON lines.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::Context as _;
use clap::Args;
use evstore::{export_jsonl, ExportOptions, Storage};
use futures::io::{AllowStdIo, AsyncWrite};
use serde::Serialize;

use super::{DbArgs, OutputArgs};
use crate::backend::OpenMode;
use crate::output::Out;
use crate::progress::Progress;

/// `evstore export [--db …] [--out FILE]`
#[derive(Debug, Args)]
#[command(
    after_help = "The format: a header line {\"format\":\"evstore-export\",\"version\":1,\
                        \"storeId\":…,\"exportedAt\":…,\"head\":…}, then one event per line in \
                        position order with the JavaScript API's field names. A file is written \
                        next to FILE and renamed into place when complete."
)]
pub struct ExportArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Exported {
    events: u64,
    head: u64,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let storage = args.db.open(OpenMode::Existing).await?;
    let progress = Progress::start("export", "events", Some(storage.head().await?));
    let summary = match &args.out {
        None => {
            let writer = LineCounter::new(
                AllowStdIo::new(BufWriter::new(io::stdout())),
                progress.clone(),
            );
            export_jsonl(&storage, writer, &ExportOptions::default()).await?
        }
        Some(path) => {
            let partial = partial_path(path);
            let file = File::create(&partial)
                .with_context(|| format!("cannot create `{}`", partial.display()))?;
            let writer = LineCounter::new(AllowStdIo::new(BufWriter::new(file)), progress.clone());
            let summary = export_jsonl(&storage, writer, &ExportOptions::default()).await;
            let summary = match summary {
                Ok(summary) => summary,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e.into());
                }
            };
            std::fs::rename(&partial, path)
                .with_context(|| format!("cannot move the export to `{}`", path.display()))?;
            summary
        }
    };
    progress.finish();
    let exported = Exported {
        events: summary.events,
        head: summary.header.head,
    };
    // The data goes to stdout when there is no --out: the report goes to stderr then.
    if args.out.is_some() {
        let mut out = Out::new(args.output.json);
        if out.json() {
            out.value(&exported)?;
        } else {
            out.line(format_args!(
                "exported {} events (head {})",
                exported.events, exported.head
            ))?;
        }
        out.flush()?;
    } else {
        eprintln!(
            "exported {} events (head {})",
            exported.events, exported.head
        );
    }
    Ok(())
}

fn partial_path(path: &std::path::Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".partial");
    path.with_file_name(name)
}

/// Counts the lines written (one per event after the header) into a progress report.
struct LineCounter<W> {
    inner: W,
    progress: Progress,
    header_seen: bool,
}

impl<W> LineCounter<W> {
    fn new(inner: W, progress: Progress) -> Self {
        LineCounter {
            inner,
            progress,
            header_seen: false,
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for LineCounter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &poll {
            let mut lines = buf[..*written].iter().filter(|&&b| b == b'\n').count() as u64;
            if !this.header_seen && lines > 0 {
                this.header_seen = true;
                lines -= 1;
            }
            this.progress.add(lines);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
