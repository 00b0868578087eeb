//! Upcasters: functions, registered per event type, that turn an event as it was stored into
//! the shape the application reads today. They run in one place — every read of an
//! [`EventStore`](crate::EventStore) goes through [`Upcasters::apply`] — and stored data is never
//! rewritten.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::platform::{MaybeSend, MaybeSync};
use crate::types::{refuse_control_characters, Filter, RecordedEvent};

/// An upcaster as stored: `Send + Sync` on native targets (through [`MaybeSend`]).
trait UpcastFn:
    Fn(RecordedEvent) -> std::result::Result<RecordedEvent, String> + MaybeSend + MaybeSync
{
}

impl<F> UpcastFn for F where
    F: Fn(RecordedEvent) -> std::result::Result<RecordedEvent, String> + MaybeSend + MaybeSync
{
}

/// The upcasters of a store, by the event type they read.
///
/// An upcaster for type `T` gets each event of type `T` and returns it in its newer shape: new
/// `data`, `metadata`, or a new `event_type` (a rename, or the next version of the type). When
/// the returned type has an upcaster of its own, that one runs next — chains such as
/// `OrderPlacedV1 → OrderPlacedV2 → OrderPlaced` are one upcaster per step — and the chain ends
/// at a type without an upcaster, or when an upcaster keeps the type (a reshape in place).
///
/// Applied on every read path: `read_stream`, `read_all`, the lazy `stream_events` /
/// `all_events`, subscriptions, the projector, aggregates and the [`Repository`](crate::Repository),
/// export, and a sync client's reads of its mirror. Event-type filters match the type *after*
/// upcasting (a filter for `OrderPlaced` also returns stored `OrderPlacedV1` events). The
/// stored events stay as they were; the evsync/1 server hands clients the stored events, and each
/// store upcasts what it reads.
///
/// An upcaster that fails (returns `Err`), changes what it may not change (the id, stream,
/// version, position, recorded time, correlation or causation id), returns an empty type, a
/// type with a control character or metadata that is not an object, or loops back to a type
/// earlier in its chain, fails the read with [`Error::Codec`] naming the event (stream,
/// version, position, type).
///
/// ```
/// # futures::executor::block_on(async {
/// use evstore::{EventStore, ExpectedVersion, MemoryStorage, NewEvent, ReadStreamOptions,
///               StoreOptions, Upcasters};
/// use serde_json::json;
///
/// let storage = MemoryStorage::new();
/// let old = EventStore::new(storage.clone());
/// old.append("order-1", ExpectedVersion::NoStream,
///            vec![NewEvent::new("OrderPlacedV1", json!({ "total": 12 }))]).await?;
///
/// let upcasters = Upcasters::new()
///     .register("OrderPlacedV1", |mut event: evstore::RecordedEvent| {
///         // V2 keeps amounts in cents.
///         let total = event.data["total"].as_u64().ok_or("no total")?;
///         event.event_type = "OrderPlacedV2".into();
///         event.data = json!({ "totalCents": total * 100 });
///         Ok::<_, &str>(event)
///     })
///     .register("OrderPlacedV2", |mut event: evstore::RecordedEvent| {
///         event.event_type = "OrderPlaced".into();
///         event.data["currency"] = json!("EUR");
///         Ok::<_, &str>(event)
///     });
/// let store = EventStore::with_upcasters(storage, StoreOptions::default(), upcasters);
/// let events = store.read_stream("order-1", ReadStreamOptions::new()).await?;
/// assert_eq!(events[0].event_type, "OrderPlaced");
/// assert_eq!(events[0].data, json!({ "totalCents": 1200, "currency": "EUR" }));
/// # Ok::<(), evstore::Error>(()) }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct Upcasters {
    by_type: HashMap<String, Arc<dyn UpcastFn>>,
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut types: Vec<&String> = self.by_type.keys().collect();
        types.sort();
        f.debug_struct("Upcasters").field("types", &types).finish()
    }
}

impl Upcasters {
    /// No upcasters: events are read as stored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `upcast` for events of `event_type` (replacing an earlier one for that type).
    /// Its error is reported as the read's [`Error::Codec`].
    pub fn register<F, E>(mut self, event_type: impl Into<String>, upcast: F) -> Self
    where
        F: Fn(RecordedEvent) -> std::result::Result<RecordedEvent, E>
            + MaybeSend
            + MaybeSync
            + 'static,
        E: fmt::Display,
    {
        let upcast: Arc<dyn UpcastFn> =
            Arc::new(move |event| upcast(event).map_err(|e| e.to_string()));
        self.by_type.insert(event_type.into(), upcast);
        self
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }

    /// The event types that have an upcaster, sorted.
    pub fn event_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self.by_type.keys().map(String::as_str).collect();
        types.sort_unstable();
        types
    }

    /// `event` as the application reads it: its upcasters applied in a chain (see
    /// [`Upcasters`]); unchanged when its type has none.
    pub fn apply(&self, mut event: RecordedEvent) -> Result<RecordedEvent> {
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(upcast) = self.by_type.get(&event.event_type) {
            let from = event.event_type.clone();
            if !seen.insert(from.clone()) {
                return Err(failure(
                    &event,
                    &from,
                    "the upcasters loop back to this type".to_owned(),
                ));
            }
            let identity = Identity::of(&event);
            let context = event.clone();
            let upcast = upcast(event).map_err(|reason| failure(&context, &from, reason))?;
            check(&identity, &upcast).map_err(|reason| failure(&context, &from, reason))?;
            let kept_type = upcast.event_type == from;
            event = upcast;
            if kept_type {
                break;
            }
        }
        Ok(event)
    }

    /// [`apply`](Self::apply) to every event of a page.
    pub(crate) fn apply_all(&self, events: Vec<RecordedEvent>) -> Result<Vec<RecordedEvent>> {
        if self.is_empty() {
            return Ok(events);
        }
        events.into_iter().map(|event| self.apply(event)).collect()
    }

    /// The filter to hand the storage for a read with `filter`: event-type filters match
    /// upcast types, so every type that has an upcaster (it may become a wanted type) is read
    /// too, and [`keeps`](Self::keeps) drops what did not become one. `None`: use `filter`.
    pub(crate) fn widen(&self, filter: &Filter) -> Option<Filter> {
        if self.is_empty() || filter.event_types.is_empty() {
            return None;
        }
        let mut widened = filter.clone();
        for event_type in self.event_types() {
            if !widened.event_types.iter().any(|t| t == event_type) {
                widened.event_types.push(event_type.to_owned());
            }
        }
        Some(widened)
    }

    /// Whether an upcast `event` read with a [`widen`](Self::widen)ed filter matches `filter`.
    pub(crate) fn keeps(filter: &Filter, event: &RecordedEvent) -> bool {
        filter.event_types.is_empty() || filter.event_types.contains(&event.event_type)
    }
}

/// What an upcaster must leave as it was.
#[derive(PartialEq)]
struct Identity {
    id: String,
    stream_id: String,
    version: u64,
    position: u64,
    recorded_at: u64,
    correlation_id: Option<String>,
    causation_id: Option<String>,
}

impl Identity {
    fn of(event: &RecordedEvent) -> Self {
        Identity {
            id: event.id.clone(),
            stream_id: event.stream_id.clone(),
            version: event.version,
            position: event.position,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id.clone(),
            causation_id: event.causation_id.clone(),
        }
    }
}

/// Why an upcaster's result is not an event the store can hand out.
fn check(identity: &Identity, upcast: &RecordedEvent) -> std::result::Result<(), String> {
    if Identity::of(upcast) != *identity {
        return Err(
            "it changed the event's id, stream, version, position, recorded time, correlation \
             or causation id (only the type, data and metadata may change)"
                .to_owned(),
        );
    }
    if upcast.event_type.is_empty() {
        return Err("it returned an empty event type".to_owned());
    }
    refuse_control_characters("event type", &upcast.event_type).map_err(|e| e.to_string())?;
    if !upcast.metadata.is_object() {
        return Err(format!(
            "it returned metadata that is not a JSON object: `{}`",
            upcast.metadata
        ));
    }
    Ok(())
}

fn failure(event: &RecordedEvent, from: &str, reason: String) -> Error {
    Error::Codec {
        event_type: from.to_owned(),
        reason: format!(
            "the upcaster of `{from}` failed on event {} of stream `{}` (version {}, position {}): {reason}",
            event.id, event.stream_id, event.version, event.position
        ),
    }
}
