//! `evstore serve`: the HTTP API over the store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use evstore::{EventStore, StoreOptions};

use super::DbArgs;
use crate::backend::OpenMode;
use crate::server::{self, Limits, ServeOptions, Tokens};

/// `evstore serve [--db PATH|URL] [--listen 127.0.0.1:7070] [--tokens FILE] [limits…]`
#[derive(Debug, Args)]
#[command(after_help = "\
API v1 (JSON, the JavaScript API's field names):
  POST /v1/streams/{stream}   {\"expectedVersion\"?, \"events\": [{\"type\", \"data\", …}]}
  GET  /v1/streams/{stream}   ?fromVersion&direction&maxCount
  GET  /v1/all                ?fromPosition&direction&maxCount&streamPrefix&category&eventType
  GET  /v1/head
  GET  /v1/subscribe          ?fromPosition&streamPrefix&category&eventType (server-sent events)
  GET  /healthz

Tokens file (JSON; `read`/`append` list stream-id prefixes, \"\" = every stream):
  {\"tokens\": [{\"name\": \"app\", \"token\": \"<16+ chars>\", \"read\": [\"\"], \"append\": [\"order-\"]}]}
Requests then need `Authorization: Bearer <token>`. Without a tokens file the server only
listens on loopback addresses.")]
pub struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:7070", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// The bearer tokens and their rights (JSON, see below). Required off loopback.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    max_body_bytes: usize,
    /// The most events one append may carry.
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_events_per_append: u64,
    /// The most events one read returns (`maxCount` is lowered to it).
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_page: u64,
    /// The most live subscriptions one token may hold.
    #[arg(long, default_value_t = 64, value_name = "N")]
    max_subscriptions_per_token: usize,
    /// How long a request (not a subscription) may take, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout: u64,
    /// How long a connection may idle (or take to send its headers), in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// How often an idle subscription sends a keep-alive comment, in seconds.
    #[arg(long, default_value_t = 15, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    keep_alive: u64,
    /// A web origin whose pages may call the API (CORS), e.g. `http://localhost:8080`; repeat
    /// it for several, `*` for any.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Print one line per request on stderr: method, path, status, duration (never a token,
    /// a query string or a body).
    #[arg(long)]
    log_requests: bool,
    /// How often subscriptions look for appends made by other processes, in milliseconds.
    #[arg(long, default_value_t = 100, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    poll_interval: u64,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    for origin in &args.allow_origins {
        let web = origin.starts_with("http://") || origin.starts_with("https://");
        if origin != "*" && (!web || origin.ends_with('/') || origin.contains(char::is_whitespace))
        {
            anyhow::bail!(
                "--allow-origin `{origin}` is not an origin: give scheme, host and port as a browser sends them (`http://localhost:8080`), or `*`"
            );
        }
    }
    let tokens = args.tokens.as_deref().map(Tokens::load).transpose()?;
    // Before the store is opened (and perhaps created).
    server::check_exposure(args.listen, tokens.as_ref())?;
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_events_per_append: args.max_events_per_append as usize,
        max_page: args.max_page as usize,
        max_subscriptions_per_token: args.max_subscriptions_per_token,
        request_timeout: Duration::from_secs(args.request_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        keep_alive: Duration::from_secs(args.keep_alive),
    };
    let backend = args.db.open(OpenMode::Create).await?;
    let store = EventStore::with_options(
        backend,
        StoreOptions {
            poll_interval: Duration::from_millis(args.poll_interval),
            ..StoreOptions::default()
        },
    );
    let options = ServeOptions {
        listen: args.listen,
        tokens,
        limits,
        allow_origins: args.allow_origins,
        log_requests: args.log_requests,
    };
    server::serve(store, options).await
}
