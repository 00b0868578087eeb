//! The server's limits: sizes, page caps, timeouts, and live subscriptions per token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;

/// What one request or client may take.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest request body, in bytes (larger: 413, nothing written).
    pub max_body_bytes: usize,
    /// The most events one append may carry (more: 413, nothing written).
    pub max_events_per_append: usize,
    /// The most events one read returns; `maxCount` above it is lowered to it.
    pub max_page: usize,
    /// The most live subscriptions one token may hold (more: 429).
    pub max_subscriptions_per_token: usize,
    /// How long a request (not a subscription) may take (longer: 408).
    pub request_timeout: Duration,
    /// How long a connection may take to send a request's headers, and may stay idle between
    /// requests, before it is closed.
    pub idle_timeout: Duration,
    /// How often a subscription sends a keep-alive comment when nothing happens.
    pub keep_alive: Duration,
}

/// The request-timeout layer: a request that takes longer is answered 408.
pub async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Live subscriptions per token name.
#[derive(Debug, Default)]
pub struct SubscriptionSlots {
    counts: Mutex<HashMap<String, usize>>,
}

/// One live subscription, counted until dropped.
pub struct Slot {
    slots: Arc<SubscriptionSlots>,
    name: String,
}

impl SubscriptionSlots {
    /// Takes a slot for `name`, or 429 when it holds `max` already.
    pub fn acquire(self: &Arc<Self>, name: &str, max: usize) -> Result<Slot, ApiError> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(name.to_owned()).or_default();
        if *count >= max {
            return Err(ApiError::TooManySubscriptions(max));
        }
        *count += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            name: name.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.name) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.name);
            }
        }
    }
}
