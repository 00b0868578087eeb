//! `evstore import FILE|-`: load an export into the store.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::Context as _;
use clap::Args;
use evstore::import_jsonl;
use futures::io::{AllowStdIo, AsyncRead};
use serde::Serialize;

use super::{DbArgs, OutputArgs};
use crate::backend::OpenMode;
use crate::output::Out;
use crate::progress::Progress;

/// `evstore import [--db …] FILE|-`
#[derive(Debug, Args)]
#[command(
    after_help = "Keeps event ids, stream versions, recorded times, metadata and \
                        correlation/causation ids; positions are assigned in the file's order. \
                        Events the store already has (same id, stream and version) are skipped, \
                        so importing the same file twice adds nothing. A bad line stops the \
                        import with its line number; the batches before it stay imported. The \
                        store is created if it does not exist."
)]
pub struct ImportArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The export to read, or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    file: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Imported {
    events: u64,
    imported: u64,
    already_present: u64,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let (input, size): (Box<dyn Read + Send>, Option<u64>) = if args.file.as_os_str() == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(&args.file)
            .with_context(|| format!("cannot open `{}`", args.file.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let storage = args.db.open(OpenMode::Create).await?;
    let progress = Progress::start("import", "bytes", size);
    let reader = ByteCounter {
        inner: AllowStdIo::new(BufReader::new(input)),
        progress: progress.clone(),
    };
    let summary = import_jsonl(&storage, reader).await;
    progress.finish();
    let summary = summary.with_context(|| format!("cannot import `{}`", args.file.display()))?;
    let imported = Imported {
        events: summary.events,
        imported: summary.imported,
        already_present: summary.already_present,
    };
    let mut out = Out::new(args.output.json);
    if out.json() {
        out.value(&imported)?;
    } else {
        out.line(format_args!(
            "imported {} events ({} of {} already present)",
            imported.imported, imported.already_present, imported.events
        ))?;
    }
    out.flush()?;
    Ok(())
}

/// Counts the bytes read into a progress report.
struct ByteCounter<R> {
    inner: R,
    progress: Progress,
}

impl<R: AsyncRead + Unpin> AsyncRead for ByteCounter<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(read)) = &poll {
            this.progress.add(*read as u64);
        }
        poll
    }
}
