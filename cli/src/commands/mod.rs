//! The subcommands, one module each.

mod export;
mod import;
mod info;
mod read;
mod serve;
mod streams;
mod tail;

use clap::{Args, Subcommand};

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
