//! The shutdown signal elsewhere: Ctrl-C.

/// Waits for Ctrl-C.
pub async fn shutdown() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "Ctrl-C",
        Err(_) => std::future::pending().await,
    }
}
