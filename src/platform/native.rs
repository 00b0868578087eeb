//! Native targets: futures must be `Send`, timers come from `futures-timer` (executor-agnostic).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `Send` on native targets, nothing in the browser.
pub trait MaybeSend: Send {}
impl<T: Send + ?Sized> MaybeSend for T {}

/// `Sync` on native targets, nothing in the browser.
pub trait MaybeSync: Sync {}
impl<T: Sync + ?Sized> MaybeSync for T {}

/// A boxed stream, `Send` on native targets.
pub type BoxStream<'a, T> = futures::stream::BoxStream<'a, T>;

/// A boxed future, `Send` on native targets.
pub type BoxFuture<'a, T> = futures::future::BoxFuture<'a, T>;

/// Waits `duration` on any executor.
pub async fn sleep(duration: Duration) {
    futures_timer::Delay::new(duration).await
}

/// The current UTC time in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
