//! `evstore`: an HTTP server over a native evstore store (`evstore serve`) and the commands to
//! inspect it, follow it, and move its data (`info`, `streams`, `read`, `tail`, `export`,
//! `import`). One module per subcommand in `commands/`; the server in `server/`.

mod backend;
mod commands;
mod output;
mod progress;
mod server;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Command;

/// An embeddable event store, as a program: serve a store over HTTP, inspect it, move its data.
///
/// Every command works on one store: a SQLite file (`--db PATH`, default `./evstore.db`) or a
/// PostgreSQL database (`--db postgres://user@host/database`, schema `evstore`).
#[derive(Debug, Parser)]
#[command(name = "evstore", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.command.run()) {
        Ok(()) => ExitCode::SUCCESS,
        // `evstore tail | head`: the reader is gone, which is not an error of ours.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
