//! `evstore scavenge`: give the space of removed events back to the system.

use clap::Args;
use evstore::EventStore;
use serde::Serialize;

use super::{DbArgs, OutputArgs};
use crate::backend::{Backend, OpenMode};
use crate::output::Out;

/// `evstore scavenge [--db …] [--json]`
#[derive(Debug, Args)]
#[command(
    after_help = "Deletes, tombstones, truncations and maxCount remove events at once, and the \
                  store reuses their space for new events. Scavenge first removes the events \
                  that the maxAge of their streams no longer keeps (hidden from reads already; \
                  each stream's last event stays), then gives the space back to the \
                  system: a SQLite file is rewritten to the size its events need (VACUUM, which \
                  needs free disk space of about the file's size while it runs), PostgreSQL \
                  vacuums the events table."
)]
pub struct ScavengeArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Scavenged {
    /// The SQLite file and its write-ahead log before and after, in bytes.
    bytes_before: Option<u64>,
    bytes_after: Option<u64>,
}

pub async fn run(args: ScavengeArgs) -> anyhow::Result<()> {
    let backend = args.db.open(OpenMode::Existing).await?;
    let before = file_bytes(&backend);
    let store = EventStore::new(backend);
    store.scavenge().await?;
    let done = Scavenged {
        bytes_before: before,
        bytes_after: file_bytes(store.storage()),
    };
    let mut out = Out::new(args.output.json);
    if out.json() {
        out.value(&done)?;
    } else if let (Some(before), Some(after)) = (done.bytes_before, done.bytes_after) {
        out.line(format_args!("file size: {before} → {after} bytes"))?;
    } else {
        out.line("vacuumed")?;
    }
    out.flush()?;
    Ok(())
}

/// The SQLite file and its write-ahead log, in bytes (`None` for PostgreSQL).
pub fn file_bytes(backend: &Backend) -> Option<u64> {
    backend.file().map(|path| {
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let wal = path.with_extension(
            path.extension()
                .map_or("wal".into(), |e| format!("{}-wal", e.to_string_lossy())),
        );
        size(path) + size(&wal)
    })
}
