//! The subcommands, one module each.

mod delete;
mod export;
mod import;
mod info;
mod read;
mod scavenge;
mod serve;
mod streams;
mod tail;
mod truncate;

use clap::{Args, Subcommand};
use evstore::ExpectedVersion;

use crate::backend::{Backend, OpenMode};

/// What `evstore` can do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the store over HTTP (API v1: append, read, read all, head, SSE subscriptions).
    Serve(serve::ServeArgs),
    /// Show the store's schema version, event and stream counts, head and file size.
    Info(info::InfoArgs),
    /// List stream ids with their versions.
    Streams(streams::StreamsArgs),
    /// Print the events of one stream.
    Read(read::ReadArgs),
    /// Print the events of all streams in position order, optionally following new ones.
    Tail(tail::TailArgs),
    /// Write the whole store as JSON lines (the evstore export format) to a file or stdout.
    Export(export::ExportArgs),
    /// Load an export (JSON lines) into the store; importing the same file again adds nothing.
    Import(import::ImportArgs),
    /// Delete a stream: soft (appending again continues its numbering) or for good (--tombstone).
    Delete(delete::DeleteArgs),
    /// Remove a stream's older events (--before V), or keep only its newest N (--max-count N)
    /// or those of the last SECS seconds (--max-age SECS).
    Truncate(truncate::TruncateArgs),
    /// Give the space of removed events back to the system (a SQLite file shrinks).
    Scavenge(scavenge::ScavengeArgs),
}

impl Command {
    /// Runs the command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Serve(args) => serve::run(args).await,
            Command::Info(args) => info::run(args).await,
            Command::Streams(args) => streams::run(args).await,
            Command::Read(args) => read::run(args).await,
            Command::Tail(args) => tail::run(args).await,
            Command::Export(args) => export::run(args).await,
            Command::Import(args) => import::run(args).await,
            Command::Delete(args) => delete::run(args).await,
            Command::Truncate(args) => truncate::run(args).await,
            Command::Scavenge(args) => scavenge::run(args).await,
        }
    }
}

/// Which store a command works on.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// The store: a SQLite file path, or a PostgreSQL URL (`postgres://user:password@host/db`;
    /// the store lives in schema `evstore`). Also read from EVSTORE_DB, which keeps a password
    /// out of the process list.
    #[arg(
        long,
        env = "EVSTORE_DB",
        default_value = "evstore.db",
        value_name = "PATH|URL"
    )]
    pub db: String,
}

impl DbArgs {
    /// Opens the store; `mode` says whether a missing SQLite file is created or an error.
    pub async fn open(&self, mode: OpenMode) -> anyhow::Result<Backend> {
        Backend::open(&self.db, mode).await
    }
}

/// How a command prints.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Print JSON (one value per line) instead of text, for scripts: the same data.
    #[arg(long)]
    pub json: bool,
}

/// The expected version of a lifecycle command.
#[derive(Debug, Clone, Copy, Args)]
pub struct ExpectedArgs {
    /// What the stream's version must be: a number, `any` (default), `no_stream` or
    /// `stream_exists`; otherwise nothing changes and the command fails.
    #[arg(long = "expected", value_name = "V", default_value = "any", value_parser = parse_expected)]
    pub expected: ExpectedVersion,
}

fn parse_expected(text: &str) -> Result<ExpectedVersion, String> {
    match text {
        "any" => Ok(ExpectedVersion::Any),
        "no_stream" => Ok(ExpectedVersion::NoStream),
        "stream_exists" => Ok(ExpectedVersion::StreamExists),
        number => number.parse().map(ExpectedVersion::Exact).map_err(|_| {
            format!("`{number}` is not a version number, `any`, `no_stream` or `stream_exists`")
        }),
    }
}
