//! A subscription as a server-sent event stream: `event: event` with `id: <position>` and the
//! recorded event as data, `event: caughtUp` with the last delivered position, and `event: error`
//! before the stream ends on a store error. It ends when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use evstore::json::RecordedEventJson;
use evstore::{Subscription, SubscriptionItem};
use futures::{Stream, StreamExt};
use serde_json::json;
use tokio::sync::watch;

use super::errors::ApiError;
use super::limits::Slot;

/// The SSE response of `subscription`, which starts after position `after`.
pub fn respond(
    subscription: Subscription,
    after: u64,
    slot: Slot,
    mut shutdown: watch::Receiver<bool>,
    keep_alive: Duration,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut last = after;
    let events = subscription.map(move |item| {
        // Counted as live for as long as the stream exists.
        let _slot = &slot;
        Ok(match item {
            Ok(SubscriptionItem::Event(event)) => {
                last = event.position;
                let id = event.position.to_string();
                let data = serde_json::to_string(&RecordedEventJson::from(event))
                    .unwrap_or_else(|_| "null".into());
                Event::default().event("event").id(id).data(data)
            }
            Ok(SubscriptionItem::CaughtUp) => Event::default()
                .event("caughtUp")
                .data(json!({ "position": last }).to_string()),
            Err(error) => Event::default()
                .event("error")
                .data(ApiError::Store(error).body().to_string()),
        })
    });
    let ended = async move {
        let _ = shutdown.wait_for(|&stopping| stopping).await;
    };
    Sse::new(events.take_until(ended)).keep_alive(KeepAlive::new().interval(keep_alive))
}
