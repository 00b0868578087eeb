//! `store.sync({ url, token, filter, onConflict })`: the JS handle of a sync client, one syncer
//! per origin.
//!
//! Every tab (or worker) that calls `sync()` on the same IndexedDB database gets a handle whose
//! appends go into the database's shared outbox. The tabs elect one syncer with the Web Locks API
//! (`navigator.locks`, lock `evstore-sync:<database>`): only the tab holding the lock runs sync
//! rounds, so there are never two outbox drainers; when it stops or closes, the next waiting tab
//! takes over. Tabs talk over a `BroadcastChannel` (`evstore-sync:<database>`): a non-syncing tab
//! announces its appends (the syncer pushes at once), and the syncer announces every status
//! change (the other tabs reload their status and wake their subscriptions over the mirror).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};
use web_sys::{BroadcastChannel, MessageEvent};

use super::backend::BrowserStorage;
use super::convert;
use super::error::to_js;
use super::store::JsEventStore;
use crate::error::{Error, Result};
use crate::storage::{
    AppendBatch, IndexedDbStorage, LocalAppend, SyncChange, SyncSnapshot, SyncStorage,
};
use crate::store::EventStore;
use crate::sync::{
    FetchTransport, Resolution, SyncClient, SyncConflict, SyncError, SyncOptions, SyncPhase,
    SyncRejection, SyncStatus,
};
use crate::types::{Filter, RecordedEvent};

impl SyncStorage for BrowserStorage {
    async fn load_sync(&self) -> Result<SyncSnapshot> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.load_sync().await,
            BrowserStorage::Memory(storage) => storage.load_sync().await,
        }
    }

    async fn enqueue(&self, batch_id: String, batch: AppendBatch) -> Result<LocalAppend> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.enqueue(batch_id, batch).await,
            BrowserStorage::Memory(storage) => storage.enqueue(batch_id, batch).await,
        }
    }

    async fn apply_sync(&self, change: SyncChange) -> Result<()> {
        match self {
            BrowserStorage::IndexedDb(storage) => storage.apply_sync(change).await,
            BrowserStorage::Memory(storage) => storage.apply_sync(change).await,
        }
    }
}

type Client = SyncClient<BrowserStorage, FetchTransport>;

/// What tabs tell each other.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Message {
    /// A tab appended to the shared outbox, or waits for it to be flushed: sync now.
    Wake,
    /// The syncing tab's status changed.
    #[serde(rename_all = "camelCase")]
    Status {
        phase: SyncPhase,
        last_error: Option<String>,
    },
}

struct Channel {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Channel {
    fn post(&self, message: &Message) {
        if let Ok(text) = serde_json::to_string(message) {
            // A failed post only means the other tabs notice later (their status, the poll).
            let _ = self.channel.post_message(&JsValue::from_str(&text));
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

/// A handle on a synced store, from `store.sync(options)`.
#[wasm_bindgen(js_name = SyncHandle)]
pub struct JsSync {
    client: Client,
    /// Whether this tab runs the sync rounds (holds the lock).
    leader: Rc<Cell<bool>>,
    channel: Rc<RefCell<Option<Channel>>>,
    /// Resolves the lock request's promise: releasing the lock.
    release: Rc<RefCell<Option<Function>>>,
    /// How many finished rounds the syncing tab announced (in a tab that is not the syncer).
    rounds_seen: Rc<Cell<u64>>,
}

#[wasm_bindgen(js_class = EventStore)]
impl JsEventStore {
    /// Starts syncing this store with `evstore serve` at `options.url`. The store then mirrors
    /// the server's streams (those `options.filter` selects and the token may read); append
    /// through the handle (`sync.append`), which works offline. See `SyncOptions`.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncHandle>")]
    pub fn sync(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SyncOptions")] options: JsValue,
    ) -> Promise {
        let store = self.store.clone();
        let parsed = parse_options(&options);
        future_to_promise(async move {
            let (url, token, filter, on_conflict, on_unauthorized) = parsed.map_err(to_js)?;
            start(store, url, token, filter, on_conflict, on_unauthorized)
                .await
                .map(JsValue::from)
                .map_err(to_js)
        })
    }
}

type Parsed = (
    String,
    Option<String>,
    Filter,
    Option<Function>,
    Option<Function>,
);

fn parse_options(options: &JsValue) -> Result<Parsed> {
    let url = convert::field(options, "url")?
        .as_string()
        .filter(|url| !url.is_empty())
        .ok_or_else(|| Error::invalid_input("sync needs `url`, the server's base URL"))?;
    let token = convert::field(options, "token")?;
    let token = if token.is_undefined() || token.is_null() {
        None
    } else {
        Some(
            token
                .as_string()
                .ok_or_else(|| Error::invalid_input("`token` must be a string"))?,
        )
    };
    let filter = convert::filter(options)?;
    let function = |name: &str| -> Result<Option<Function>> {
        let value = convert::field(options, name)?;
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        value
            .dyn_into::<Function>()
            .map(Some)
            .map_err(|_| Error::invalid_input(format!("`{name}` must be a function")))
    };
    Ok((
        url,
        token,
        filter,
        function("onConflict")?,
        function("onUnauthorized")?,
    ))
}

/// Awaits `value` if it is a promise.
async fn settled(value: JsValue) -> std::result::Result<JsValue, JsValue> {
    if value.is_instance_of::<Promise>() {
        JsFuture::from(Promise::from(value)).await
    } else {
        Ok(value)
    }
}

fn conflict_to_js(conflict: &SyncConflict) -> JsValue {
    let object = Object::new();
    let set = |key: &str, value: &JsValue| {
        let _ = Reflect::set(&object, &JsValue::from_str(key), value);
    };
    set("stream", &JsValue::from_str(&conflict.stream));
    set(
        "currentVersion",
        &JsValue::from_f64(conflict.current_version as f64),
    );
    set("pending", &events_to_js(&conflict.pending));
    set("theirs", &events_to_js(&conflict.theirs));
    object.into()
}

/// Events as JS objects; pending ones (position 0) carry `pending: true`.
fn events_to_js(events: &[RecordedEvent]) -> JsValue {
    let array = convert::recorded_events(events);
    for (index, event) in events.iter().enumerate() {
        if event.position == 0 {
            let _ = Reflect::set(
                &array.get(index as u32),
                &JsValue::from_str("pending"),
                &JsValue::TRUE,
            );
        }
    }
    array.into()
}

/// The application's answer: `"drop"` (or nothing) or new events; a callback that throws, or
/// answers something else, drops (and the drop is reported).
fn resolution(answer: std::result::Result<JsValue, JsValue>) -> Resolution {
    match answer {
        Ok(value) if Array::is_array(&value) => match convert::new_events(&value) {
            Ok(events) => Resolution::Append(events),
            Err(_) => Resolution::Drop,
        },
        _ => Resolution::Drop,
    }
}

async fn start(
    store: EventStore<BrowserStorage>,
    url: String,
    token: Option<String>,
    filter: Filter,
    on_conflict: Option<Function>,
    on_unauthorized: Option<Function>,
) -> Result<JsSync> {
    let name = match store.storage() {
        BrowserStorage::IndexedDb(storage) => Some(IndexedDbStorage::name(storage).to_owned()),
        BrowserStorage::Memory(_) => None,
    };
    let mut builder =
        SyncClient::builder(store.clone(), FetchTransport::new(url, token)).options(SyncOptions {
            filter,
            ..SyncOptions::default()
        });
    if let Some(callback) = on_conflict {
        builder = builder.on_conflict(move |conflict: SyncConflict| {
            let answer = callback.call1(&JsValue::UNDEFINED, &conflict_to_js(&conflict));
            async move {
                match answer {
                    Ok(value) => resolution(settled(value).await),
                    Err(thrown) => resolution(Err(thrown)),
                }
            }
        });
    }
    if let Some(callback) = on_unauthorized {
        builder = builder.on_unauthorized(move || {
            let answer = callback.call0(&JsValue::UNDEFINED);
            async move {
                match answer {
                    Ok(value) => settled(value)
                        .await
                        .ok()
                        .and_then(|token| token.as_string()),
                    Err(_) => None,
                }
            }
        });
    }
    let client = builder.open().await?;
    let handle = JsSync {
        client: client.clone(),
        leader: Rc::new(Cell::new(false)),
        channel: Rc::new(RefCell::new(None)),
        release: Rc::new(RefCell::new(None)),
        rounds_seen: Rc::new(Cell::new(0)),
    };
    let Some(name) = name else {
        // A memory store is this tab's alone: sync it right away.
        handle.leader.set(true);
        spawn_local(client.run());
        return Ok(handle);
    };
    *handle.channel.borrow_mut() = join_channel(&name, &handle);
    // The syncer announces its status changes to the other tabs.
    let (channel, leader) = (Rc::clone(&handle.channel), Rc::clone(&handle.leader));
    client.on_status(move |status: &SyncStatus| {
        if leader.get() {
            if let Some(channel) = channel.borrow().as_ref() {
                channel.post(&Message::Status {
                    phase: status.phase,
                    last_error: status.last_error.clone(),
                });
            }
        }
    });
    request_lock(&name, &handle).await;
    Ok(handle)
}

fn join_channel(name: &str, handle: &JsSync) -> Option<Channel> {
    let channel = BroadcastChannel::new(&format!("evstore-sync:{name}")).ok()?;
    let (client, leader, rounds) = (
        handle.client.clone(),
        Rc::clone(&handle.leader),
        Rc::clone(&handle.rounds_seen),
    );
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            return;
        };
        match serde_json::from_str::<Message>(&text) {
            Ok(Message::Wake) if leader.get() => client.wake(),
            Ok(Message::Status { phase, last_error }) if !leader.get() => {
                if phase != SyncPhase::Syncing {
                    rounds.set(rounds.get() + 1);
                }
                let client = client.clone();
                spawn_local(async move {
                    // A failed reload leaves the last status; the next message tries again.
                    let _ = client.refresh_status(phase, last_error).await;
                    client.mirror().wake_subscriptions();
                });
            }
            _ => {}
        }
    });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    Some(Channel {
        channel,
        _on_message: on_message,
    })
}

/// Asks for the origin's sync lock; while this tab holds it, it runs the rounds. Resolves once
/// it is known whether this tab is the syncer: a first request `ifAvailable` answers at once;
/// when another tab holds the lock, a second request queues this tab to take over when it is
/// released. Without the Web Locks API (an old browser) every tab syncs on its own, which is
/// still safe (pushes are idempotent, appends are checked by the server), only wasteful.
async fn request_lock(name: &str, handle: &JsSync) {
    let (client, leader, release) = (
        handle.client.clone(),
        Rc::clone(&handle.leader),
        Rc::clone(&handle.release),
    );
    let lead = Rc::new(move || -> Promise {
        leader.set(true);
        let client = client.clone();
        let release = Rc::clone(&release);
        // Held until the run loop ends (stop) or the page goes away.
        Promise::new(&mut move |resolve, _reject| {
            *release.borrow_mut() = Some(resolve);
            let client = client.clone();
            spawn_local(async move {
                if !client.is_stopped() {
                    client.clone().run().await;
                }
            });
        })
    });
    let locks = Reflect::get(&js_sys::global(), &JsValue::from_str("navigator"))
        .and_then(|navigator| Reflect::get(&navigator, &JsValue::from_str("locks")))
        .ok()
        .filter(|locks| locks.is_object());
    let request = locks.as_ref().and_then(|locks| {
        Reflect::get(locks, &JsValue::from_str("request"))
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
    });
    let (Some(locks), Some(request)) = (locks, request) else {
        let _ = lead();
        return;
    };
    let lock_name = JsValue::from_str(&format!("evstore-sync:{name}"));
    let (granted, answer) = futures::channel::oneshot::channel::<bool>();
    let first = {
        let lead = Rc::clone(&lead);
        Closure::once_into_js(move |lock: JsValue| -> Promise {
            let held = !lock.is_null();
            let _ = granted.send(held);
            if held {
                lead()
            } else {
                Promise::resolve(&JsValue::UNDEFINED)
            }
        })
    };
    let options = Object::new();
    let _ = Reflect::set(&options, &JsValue::from_str("ifAvailable"), &JsValue::TRUE);
    // The promises settle when the lock is released; nothing waits for them.
    let _ = request.call3(&locks, &lock_name, &options, &first);
    if answer.await.unwrap_or(false) {
        return;
    }
    let queued = Closure::once_into_js(move |_lock: JsValue| lead());
    let _ = request.call2(&locks, &lock_name, &queued);
}

#[wasm_bindgen(js_class = SyncHandle)]
impl JsSync {
    /// Where syncing stands.
    #[wasm_bindgen(getter, unchecked_return_type = "SyncStatus")]
    pub fn status(&self) -> JsValue {
        status_to_js(&self.client.status(), self.leader.get())
    }

    /// Whether this tab runs the sync (holds the origin's sync lock).
    #[wasm_bindgen(getter, js_name = isSyncer)]
    pub fn is_syncer(&self) -> bool {
        self.leader.get()
    }

    /// Calls `listener` with the new status after every change; returns a function that
    /// removes it. A listener that throws is ignored.
    #[wasm_bindgen(js_name = onStatus, unchecked_return_type = "() => void")]
    pub fn on_status(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(status: SyncStatus) => void")] listener: Function,
    ) -> JsValue {
        let leader = Rc::clone(&self.leader);
        let id = self.client.on_status(move |status: &SyncStatus| {
            let _ = listener.call1(&JsValue::UNDEFINED, &status_to_js(status, leader.get()));
        });
        let client = self.client.clone();
        Closure::once_into_js(move || client.remove_status_listener(id))
    }

    /// Appends `events` to `stream` locally (it works offline): checked against the stream's
    /// confirmed version plus its pending events, kept in the outbox (it survives a reload) and
    /// pushed by the syncer. Resolves with `{ nextExpectedVersion, pending: true, batchId }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncAppendResult>")]
    pub fn append(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] stream: JsValue,
        #[wasm_bindgen(unchecked_param_type = "NewEvent[]")] events: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "AppendOptions")] options: JsValue,
    ) -> Promise {
        let input = convert::stream_id(&stream).and_then(|stream| {
            Ok((
                stream,
                convert::new_events(&events)?,
                convert::expected_version(&options)?,
            ))
        });
        let (client, leader, channel) = (
            self.client.clone(),
            self.leader.get(),
            Rc::clone(&self.channel),
        );
        future_to_promise(async move {
            let (stream, events, expected) = input.map_err(to_js)?;
            let result = client
                .append(&stream, expected, events)
                .await
                .map_err(to_js)?;
            if !leader {
                if let Some(channel) = channel.borrow().as_ref() {
                    channel.post(&Message::Wake);
                }
            }
            Ok(local_append_to_js(&result))
        })
    }

    /// Reads `stream` from the mirror; with `includePending: true` its pending events follow
    /// (with `pending: true` and `position: 0`).
    #[wasm_bindgen(js_name = readStream, unchecked_return_type = "Promise<RecordedEvent[]>")]
    pub fn read_stream(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] stream: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SyncReadStreamOptions")] options: JsValue,
    ) -> Promise {
        let input = convert::stream_id(&stream).and_then(|stream| {
            let include = convert::field(&options, "includePending")?;
            Ok((
                stream,
                convert::read_stream_options(&options)?,
                include.as_bool().unwrap_or(false),
            ))
        });
        let client = self.client.clone();
        future_to_promise(async move {
            let (stream, options, include) = input.map_err(to_js)?;
            let events = client
                .read_stream(&stream, options, include)
                .await
                .map_err(to_js)?;
            Ok(events_to_js(&events))
        })
    }

    /// The outbox: every local batch the server has not confirmed into the mirror yet.
    #[wasm_bindgen(unchecked_return_type = "Promise<PendingBatch[]>")]
    pub fn pending(&self) -> Promise {
        let client = self.client.clone();
        future_to_promise(async move {
            let outbox = client.pending().await.map_err(to_js)?;
            let batches = Array::new();
            for entry in &outbox {
                let events = crate::storage::pending_as_recorded(0, std::slice::from_ref(entry))
                    .map_err(to_js)?;
                let batch = Object::new();
                let _ = Reflect::set(&batch, &"batchId".into(), &entry.batch_id.as_str().into());
                let _ = Reflect::set(
                    &batch,
                    &"stream".into(),
                    &entry.batch.stream_id.as_str().into(),
                );
                let _ = Reflect::set(&batch, &"events".into(), &events_to_js(&events));
                let confirmed =
                    matches!(entry.state, crate::storage::OutboxState::Confirmed { .. });
                let _ = Reflect::set(&batch, &"confirmed".into(), &confirmed.into());
                batches.push(&batch);
            }
            Ok(batches.into())
        })
    }

    /// Resolves once everything pending is confirmed and in the mirror; rejects with why
    /// (offline: code `"Network"`; batches dropped after conflicts: `"SyncConflicts"` with
    /// `conflicts`; refused: `"SyncRejected"` with `rejected`). In a tab that is not the syncer,
    /// asks the syncer for a round and waits for one to end with the outbox empty.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        let (client, leader, rounds, channel) = (
            self.client.clone(),
            Rc::clone(&self.leader),
            Rc::clone(&self.rounds_seen),
            Rc::clone(&self.channel),
        );
        future_to_promise(async move {
            // Not the syncer: ask it for a round, then wait for one to finish with the outbox
            // empty (or to become the syncer, and flush here).
            let asked = rounds.get();
            if !leader.get() {
                if let Some(channel) = channel.borrow().as_ref() {
                    channel.post(&Message::Wake);
                }
            }
            loop {
                if leader.get() {
                    client.flush().await.map_err(sync_error_to_js)?;
                    return Ok(JsValue::UNDEFINED);
                }
                if client.is_stopped() {
                    return Err(sync_error_to_js(SyncError::Stopped));
                }
                if rounds.get() > asked && client.pending().await.map_err(to_js)?.is_empty() {
                    return Ok(JsValue::UNDEFINED);
                }
                let changed = client.status_changed();
                let pause = crate::platform::sleep(std::time::Duration::from_millis(500));
                futures::future::select(Box::pin(changed), Box::pin(pause)).await;
            }
        })
    }

    /// Stops syncing in this tab (releasing the sync lock to another tab). The outbox stays.
    pub fn stop(&self) {
        self.client.stop();
        self.leader.set(false);
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
        self.channel.borrow_mut().take();
    }
}

fn local_append_to_js(result: &LocalAppend) -> JsValue {
    let object = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&object, &JsValue::from_str(key), &value);
    };
    set(
        "nextExpectedVersion",
        JsValue::from_f64(result.next_expected_version as f64),
    );
    match result.position {
        Some(position) => {
            set("pending", JsValue::FALSE);
            set("position", JsValue::from_f64(position as f64));
        }
        None => set("pending", JsValue::TRUE),
    }
    if let Some(batch_id) = &result.batch_id {
        set("batchId", JsValue::from_str(batch_id));
    }
    object.into()
}

fn conflicts_to_js(conflicts: &[SyncConflict]) -> JsValue {
    conflicts
        .iter()
        .map(conflict_to_js)
        .collect::<Array>()
        .into()
}

fn rejected_to_js(rejected: &[SyncRejection]) -> JsValue {
    let array = Array::new();
    for rejection in rejected {
        let object = Object::new();
        let _ = Reflect::set(&object, &"stream".into(), &rejection.stream.as_str().into());
        let _ = Reflect::set(&object, &"code".into(), &rejection.code.as_str().into());
        let _ = Reflect::set(
            &object,
            &"message".into(),
            &rejection.message.as_str().into(),
        );
        let _ = Reflect::set(
            &object,
            &"dropped".into(),
            &events_to_js(&rejection.dropped),
        );
        array.push(&object);
    }
    array.into()
}

fn status_to_js(status: &SyncStatus, syncer: bool) -> JsValue {
    let object = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&object, &JsValue::from_str(key), &value);
    };
    let state = match status.phase {
        SyncPhase::Online => "online",
        SyncPhase::Offline => "offline",
        SyncPhase::Syncing => "syncing",
        SyncPhase::Error => "error",
    };
    set("state", JsValue::from_str(state));
    set("pending", JsValue::from_f64(status.pending as f64));
    set("conflicts", conflicts_to_js(&status.conflicts));
    set("rejected", rejected_to_js(&status.rejected));
    set(
        "lastPulledPosition",
        JsValue::from_f64(status.last_pulled as f64),
    );
    set(
        "lastError",
        status
            .last_error
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from_str),
    );
    set(
        "storeId",
        status
            .store_id
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from_str),
    );
    set("syncer", JsValue::from_bool(syncer));
    object.into()
}

/// A sync failure as a JS `Error` with a `code`.
fn sync_error_to_js(error: SyncError) -> JsValue {
    let (code, extra): (&str, Option<(&str, JsValue)>) = match &error {
        SyncError::Store(inner) => return to_js(inner.clone()),
        SyncError::Transport(transport) => (
            match transport.kind {
                crate::sync::TransportErrorKind::Network => "Network",
                crate::sync::TransportErrorKind::Server => "ServerError",
                crate::sync::TransportErrorKind::Unauthorized => "Unauthorized",
                _ => "Refused",
            },
            None,
        ),
        SyncError::Conflicts(conflicts) => (
            "SyncConflicts",
            Some(("conflicts", conflicts_to_js(conflicts))),
        ),
        SyncError::Rejected(rejected) => {
            ("SyncRejected", Some(("rejected", rejected_to_js(rejected))))
        }
        _ => ("Stopped", None),
    };
    let js = js_sys::Error::new(&error.to_string());
    js.set_name("EvstoreError");
    let _ = Reflect::set(&js, &"code".into(), &code.into());
    if let Some((key, value)) = extra {
        let _ = Reflect::set(&js, &key.into(), &value);
    }
    js.into()
}

#[wasm_bindgen(typescript_custom_section)]
const SYNC_TYPES: &'static str = r#"
/** Options of `store.sync()`. */
export interface SyncOptions {
  /** The base URL of `evstore serve`, for example "http://127.0.0.1:7070". */
  url: string;
  /** Bearer token sent with every call. */
  token?: string;
  /** Which server streams to mirror (whole streams: prefixes and categories; no event types). */
  filter?: Pick<Filter, "streamPrefixes" | "categories">;
  /**
   * Decides a conflict on one stream (runs in the syncing tab): return "drop" to drop the pending
   * events (reported in `status.conflicts`), or new events to append against the server's
   * current version. A callback that throws drops.
   */
  onConflict?: (conflict: SyncConflict) => "drop" | NewEvent[] | Promise<"drop" | NewEvent[]>;
  /** Gives a new token after a 401 (`null`: none; the outbox is kept either way). */
  onUnauthorized?: () => string | null | Promise<string | null>;
}

/** A local event the server has not confirmed yet. */
export interface PendingEvent extends RecordedEvent {
  pending: true;
  /** Always 0: a position exists once the server confirms the event. */
  position: 0;
}

/**
 * A conflict on one stream: what `onConflict` is given, and what `status.conflicts` reports
 * when the pending events were dropped (nothing is lost silently).
 */
export interface SyncConflict {
  stream: string;
  /** The stream's version on the server. */
  currentVersion: number;
  /** The local events that were not appended (`pending: true`, `position: 0`). */
  pending: PendingEvent[];
  /** The server's events since the version they expected. */
  theirs: RecordedEvent[];
}

/** A batch the server refused for good (invalid, not allowed by the token, a reused id). */
export interface SyncRejection {
  stream: string;
  code: string;
  message: string;
  dropped: PendingEvent[];
}

/** Where syncing stands: what a "saved / pending" indicator needs. */
export interface SyncStatus {
  state: "online" | "offline" | "syncing" | "error";
  /** Local events not yet confirmed into the mirror. */
  pending: number;
  conflicts: SyncConflict[];
  rejected: SyncRejection[];
  /** The server position the mirror has pulled up to. */
  lastPulledPosition: number;
  lastError: string | null;
  /** The server store's id (null before the first contact). */
  storeId: string | null;
  /** Whether this tab runs the sync (one tab per origin does). */
  syncer: boolean;
}

/** The result of `sync.append()`: pending until the server confirms it. */
export type SyncAppendResult =
  | { nextExpectedVersion: number; pending: true; batchId: string }
  | { nextExpectedVersion: number; pending: false; position: number; batchId?: string };

export interface SyncReadStreamOptions extends ReadStreamOptions {
  /** Also the stream's pending events, after the confirmed ones. Default false. */
  includePending?: boolean;
}

/** The `code` of an error `sync.flush()` rejects with, beside the store's own codes. */
export type SyncErrorCode =
  | "Network"
  | "ServerError"
  | "Unauthorized"
  | "Refused"
  | "SyncConflicts"
  | "SyncRejected"
  | "Stopped";

/** One batch of the outbox. */
export interface PendingBatch {
  batchId: string;
  stream: string;
  events: PendingEvent[];
  /** Confirmed by the server, waiting to arrive in the mirror. */
  confirmed: boolean;
}
"#;
