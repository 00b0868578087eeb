//! The browser: nothing needs to be `Send`, timers come from `gloo-timers`.

use std::time::Duration;

/// `Send` on native targets, nothing in the browser.
pub trait MaybeSend {}
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` on native targets, nothing in the browser.
pub trait MaybeSync {}
impl<T: ?Sized> MaybeSync for T {}

/// A boxed stream, not `Send` in the browser.
pub type BoxStream<'a, T> = futures::stream::LocalBoxStream<'a, T>;

/// A boxed future, not `Send` in the browser.
pub type BoxFuture<'a, T> = futures::future::LocalBoxFuture<'a, T>;

/// Waits `duration` on the browser's event loop.
pub async fn sleep(duration: Duration) {
    gloo_timers::future::sleep(duration).await
}

/// The current UTC time in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    js_sys::Date::now() as u64
}
