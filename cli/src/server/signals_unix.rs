//! The shutdown signals on Unix: SIGINT (Ctrl-C) and SIGTERM.

use tokio::signal::unix::{signal, SignalKind};

/// Waits for SIGINT or SIGTERM and names it.
pub async fn shutdown() -> &'static str {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the process still dies on them, just not gracefully.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
