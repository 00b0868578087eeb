//! `evstore serve`: the HTTP API v1 over a store, with bearer-token auth, limits and graceful
//! shutdown.

mod access_log;
mod auth;
mod errors;
mod limits;
mod query;
mod routes;
mod sse;
mod sync;

#[cfg_attr(unix, path = "signals_unix.rs")]
#[cfg_attr(not(unix), path = "signals_other.rs")]
mod signals;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use evstore::EventStore;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::backend::Backend;
pub use auth::Tokens;
pub use limits::Limits;
use limits::SubscriptionSlots;

/// How to serve, besides the store.
pub struct ServeOptions {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The bearer tokens; `None`: every request has every right (loopback only).
    pub tokens: Option<Tokens>,
    /// Sizes, caps and timeouts.
    pub limits: Limits,
    /// Web origins whose pages may call the API (CORS); `*` for any.
    pub allow_origins: Vec<String>,
    /// Print an access log line per request.
    pub log_requests: bool,
}

/// What the handlers share.
pub struct App {
    store: EventStore<Backend>,
    /// `None`: no tokens file, every request has every right (loopback only).
    tokens: Option<Tokens>,
    limits: Limits,
    allow_origins: Vec<String>,
    log_requests: bool,
    slots: Arc<SubscriptionSlots>,
    /// Turns `true` when the server shuts down: subscriptions end.
    shutdown: watch::Receiver<bool>,
}

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Refuses a non-loopback address without tokens: anyone who could reach it could read and
/// write the store.
pub fn check_exposure(listen: SocketAddr, tokens: Option<&Tokens>) -> anyhow::Result<()> {
    if tokens.is_none() && !listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {listen} without authentication: anyone who can reach it could read and write the store. \
             Pass --tokens FILE (see `evstore serve --help`), or listen on a loopback address such as 127.0.0.1:7070"
        );
    }
    Ok(())
}

/// Serves `store` on `listen` until SIGINT or SIGTERM, then shuts down gracefully: no new
/// connections, subscriptions end, in-flight requests (appends) finish, the store closes.
///
/// Refuses a non-loopback address without `tokens` (see [`check_exposure`]).
pub async fn serve(store: EventStore<Backend>, options: ServeOptions) -> anyhow::Result<()> {
    let ServeOptions {
        listen,
        tokens,
        limits,
        allow_origins,
        log_requests,
    } = options;
    check_exposure(listen, tokens.as_ref())?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let (stop, shutdown) = watch::channel(false);
    let auth = match &tokens {
        Some(tokens) => format!("{} bearer tokens", tokens.len()),
        None => "no tokens file: loopback only, no authentication".into(),
    };
    eprintln!(
        "evstore serve: store {}, {auth}",
        store.storage().describe()
    );
    // On stdout, alone: scripts (and the tests) read the address from it.
    println!("listening on http://{address}");
    let app = Arc::new(App {
        store: store.clone(),
        tokens,
        limits: limits.clone(),
        allow_origins,
        log_requests,
        slots: Arc::default(),
        shutdown,
    });
    let router = routes::router(app);

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .keep_alive(true);
    let connections = GracefulShutdown::new();
    let mut signal = std::pin::pin!(signals::shutdown());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, go on.
                        eprintln!("evstore serve: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let connection = http.serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(router.clone()),
                );
                let connection = connections.watch(connection);
                tokio::spawn(async move {
                    // A client that goes away mid-request is its own business.
                    let _ = connection.await;
                });
            }
            name = &mut signal => {
                eprintln!("evstore serve: {name}: shutting down");
                break;
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.shutdown())
        .await
        .is_err()
    {
        eprintln!("evstore serve: some requests did not finish within {SHUTDOWN_GRACE:?}");
    }
    store.close();
    eprintln!("evstore serve: stopped");
    Ok(())
}
