//! What differs between native targets and the browser, behind one set of names: the
//! `MaybeSend` / `MaybeSync` markers, timers, the clock and boxed streams. Call sites never see
//! `cfg`.

#[cfg_attr(target_arch = "wasm32", path = "web.rs")]
#[cfg_attr(not(target_arch = "wasm32"), path = "native.rs")]
mod imp;

pub use imp::{now_millis, sleep, BoxFuture, BoxStream, MaybeSend, MaybeSync};
