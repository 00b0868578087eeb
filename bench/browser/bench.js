// The browser benchmark page: the same workloads through the evstore package and through raw
// IndexedDB from JavaScript. bench/browser/run.mjs calls `window.bench.*` through playwright and
// does the bookkeeping (runs, interleaving, statistics).
//
// The raw baseline is what a minimal hand-written event store on IndexedDB does: the same object
// store and indexes as evstore's schema (an `events` store keyed by an auto-incremented
// `position`, unique `[streamId, version]` and `id` indexes, `[category, position]` and
// `[eventType, position]` indexes), the same records (`data`/`metadata` as JSON text, UUIDv7
// ids), one read-write transaction per append that reads the stream's last version and adds the
// records, waiting for `complete`. Reads return the same event objects with `data`/`metadata`
// parsed. What evstore does beyond that — checking input, idempotency lookups, the crossing into
// WebAssembly and back — is what the ratios measure.
import init, { EventStore } from "evstore";

await init();

const MEMO = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua";
const TYPES = ["Deposited", "Withdrawn", "Transferred", "Noted"];

/** The same ~200-byte payload as the native benchmarks. */
function payload(seq, stream) {
  return { account: stream, seq, amount: (seq * 7919) % 100000, currency: "EUR", memo: MEMO };
}

/** `total` events in appends of `per`, append `i` going to stream `${prefix}-${i % streams}`. */
function batches(total, per, streams, prefix) {
  const out = [];
  let seq = 0;
  for (let i = 0; i * per < total; i++) {
    const stream = `${prefix}-${i % streams}`;
    const events = [];
    for (let j = 0; j < Math.min(per, total - i * per); j++) {
      seq++;
      events.push({ type: TYPES[seq % TYPES.length], data: payload(seq, stream) });
    }
    out.push({ stream, events });
  }
  return out;
}

/** Milliseconds on a clock shared by the tabs of this browser. */
const now = () => performance.timeOrigin + performance.now();

// ------------------------------------------------------------------------------------------------
// Raw IndexedDB

const hex = (n, width) => n.toString(16).padStart(width, "0");

/** A UUIDv7 string (time-ordered, as evstore generates). */
function uuidv7() {
  const r = crypto.getRandomValues(new Uint8Array(10));
  const ms = Date.now();
  const h = [...r].map((b) => hex(b, 2)).join("");
  const time = hex(ms, 12);
  const variant = hex((r[2] & 0x3f) | 0x80, 2);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${h.slice(0, 3)}-${variant}${h.slice(6, 8)}-${h.slice(8, 20)}`;
}

const request = (r) =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

const completion = (tx) =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
  });

/** Opens (creating with evstore's schema when new) a raw database. */
function openRaw(name) {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    const db = open.result;
    const events = db.createObjectStore("events", { keyPath: "position", autoIncrement: true });
    events.createIndex("stream_version", ["streamId", "version"], { unique: true });
    events.createIndex("id", "id", { unique: true });
    events.createIndex("category", ["category", "position"]);
    events.createIndex("type", ["eventType", "position"]);
    db.createObjectStore("checkpoints", { keyPath: "name" });
  };
  return request(open);
}

/** Opens an existing database (evstore's or raw) without upgrading it. */
const openExisting = (name) => request(indexedDB.open(name));

/** One append: one read-write transaction reading the stream's version and adding the records. */
async function rawAppend(db, stream, events) {
  const category = stream.includes("-") ? stream.slice(0, stream.indexOf("-")) : stream;
  const records = events.map((e) => ({
    id: uuidv7(),
    streamId: stream,
    category,
    eventType: e.type,
    data: JSON.stringify(e.data),
    metadata: "{}",
    recordedAt: Date.now(),
  }));
  const tx = db.transaction("events", "readwrite");
  const done = completion(tx);
  const store = tx.objectStore("events");
  const last = await request(
    store.index("stream_version").openKeyCursor(IDBKeyRange.bound([stream, 0], [stream, Infinity]), "prev"),
  );
  let version = last ? last.key[1] : 0;
  let position;
  for (const record of records) {
    record.version = ++version;
    position = store.add(record);
  }
  position = await request(position);
  await done;
  return { nextExpectedVersion: version, position };
}

/** A stored record as the event object evstore returns. */
const toEvent = (r) => ({
  id: r.id,
  streamId: r.streamId,
  version: r.version,
  position: r.position,
  type: r.eventType,
  data: JSON.parse(r.data),
  metadata: JSON.parse(r.metadata),
  recordedAt: r.recordedAt,
});

async function rawReadAll(db, after = 0) {
  const tx = db.transaction("events", "readonly");
  const records = await request(tx.objectStore("events").getAll(IDBKeyRange.lowerBound(after, true)));
  return records.map(toEvent);
}

async function rawReadStream(db, stream) {
  const tx = db.transaction("events", "readonly");
  const index = tx.objectStore("events").index("stream_version");
  const records = await request(index.getAll(IDBKeyRange.bound([stream, 1], [stream, Infinity])));
  return records.map(toEvent);
}

async function rawHead(db) {
  const tx = db.transaction("events", "readonly");
  const cursor = await request(tx.objectStore("events").openKeyCursor(null, "prev"));
  return cursor ? cursor.key : 0;
}

function deleteDatabase(name) {
  return new Promise((resolve) => {
    const r = indexedDB.deleteDatabase(name);
    r.onsuccess = r.onerror = r.onblocked = () => resolve();
  });
}

// ------------------------------------------------------------------------------------------------
// Workloads: each returns elapsed milliseconds (or latency samples in ms).

const stores = new Map();
const raws = new Map();

async function appendRun(kind, name, input) {
  await deleteDatabase(name);
  if (kind === "evstore") {
    const store = await EventStore.open(name);
    const started = performance.now();
    for (const b of input) await store.append(b.stream, b.events);
    const elapsed = performance.now() - started;
    store.close();
    await deleteDatabase(name);
    return elapsed;
  }
  const db = await openRaw(name);
  const started = performance.now();
  for (const b of input) await rawAppend(db, b.stream, b.events);
  const elapsed = performance.now() - started;
  db.close();
  await deleteDatabase(name);
  return elapsed;
}

/** Builds the read fixture through evstore: `total` events in appends of 100 + a stream of `big`. */
async function buildReadFixture(name, total, big) {
  await deleteDatabase(name);
  const store = await EventStore.open(name);
  for (const b of batches(total, 100, 100, "account")) await store.append(b.stream, b.events);
  for (const b of batches(big, 100, 1, "big")) await store.append(b.stream, b.events);
  stores.set(name, store);
  raws.set(name, await openExisting(name));
  return (await store.head()) | 0;
}

async function readAll(kind, name, expected) {
  const started = performance.now();
  const events = kind === "evstore" ? await stores.get(name).readAll() : await rawReadAll(raws.get(name));
  const elapsed = performance.now() - started;
  if (events.length !== expected) throw new Error(`${kind} read ${events.length} events, expected ${expected}`);
  return elapsed;
}

async function readStream(kind, name, stream, expected, reps) {
  const started = performance.now();
  for (let i = 0; i < reps; i++) {
    const events =
      kind === "evstore" ? await stores.get(name).readStream(stream) : await rawReadStream(raws.get(name), stream);
    if (events.length !== expected) throw new Error(`${kind} read ${events.length} events, expected ${expected}`);
  }
  return performance.now() - started;
}

/** Subscription catch-up: from the start, every event to a callback until caught up. The raw
 * equivalent reads pages of the subscription's default batch size (500), each in its own
 * transaction, makes each record an event object (`JSON.parse` of its payload) and calls the
 * callback, until a page comes back short. */
async function catchUp(kind, name, expected) {
  let delivered = 0;
  const onEvent = () => void delivered++;
  const started = performance.now();
  if (kind === "evstore") {
    await new Promise((resolve, reject) => {
      const sub = stores.get(name).subscribe({}, onEvent, {
        onCaughtUp: () => (sub.close(), resolve()),
        onError: reject,
      });
    });
  } else {
    const db = raws.get(name);
    const page = 500;
    for (let after = 0; ; ) {
      const tx = db.transaction("events", "readonly");
      const records = await request(tx.objectStore("events").getAll(IDBKeyRange.lowerBound(after, true), page));
      for (const record of records) {
        const event = toEvent(record);
        after = event.position;
        onEvent(event);
      }
      if (records.length < page) break;
    }
  }
  const elapsed = performance.now() - started;
  if (delivered !== expected) throw new Error(`${kind} delivered ${delivered} events, expected ${expected}`);
  return elapsed;
}

const latencyData = (seq) => ({ sentAt: now(), seq, memo: MEMO, currency: "EUR", amount: 42 });

/** Same tab: append → a subscriber in this page receives it. */
async function liveSameTab(kind, name, samples) {
  await deleteDatabase(name);
  const latencies = [];
  let waiting = null;
  const received = (data) => {
    latencies.push(now() - data.sentAt);
    waiting?.();
  };
  const next = () => new Promise((resolve) => (waiting = resolve));
  if (kind === "evstore") {
    const store = await EventStore.open(name);
    let caughtUp;
    const ready = new Promise((resolve) => (caughtUp = resolve));
    const sub = store.subscribe({ fromPosition: "end" }, (e) => received(e.data), { onCaughtUp: () => caughtUp() });
    await ready;
    for (let i = 0; i < samples; i++) {
      const got = next();
      await store.append("live-1", [{ type: "Pinged", data: latencyData(i) }]);
      await got;
    }
    sub.close();
    store.close();
  } else {
    // The raw equivalent of a same-tab subscription: after the commit, wake the reader, which
    // reads what is new in its own transaction.
    const db = await openRaw(name);
    let position = await rawHead(db);
    const wake = async () => {
      for (const e of await rawReadAll(db, position)) {
        position = e.position;
        received(e.data);
      }
    };
    for (let i = 0; i < samples; i++) {
      const got = next();
      await rawAppend(db, "live-1", [{ type: "Pinged", data: latencyData(i) }]);
      queueMicrotask(wake);
      await got;
    }
    db.close();
  }
  await deleteDatabase(name);
  return latencies;
}

// Cross-tab: this page is either the subscriber ("listen") or the writer ("write").
let listener = null;

async function listen(kind, name) {
  const latencies = [];
  if (kind === "evstore") {
    const store = await EventStore.open(name);
    let caughtUp;
    const ready = new Promise((resolve) => (caughtUp = resolve));
    const sub = store.subscribe({ fromPosition: "end" }, (e) => latencies.push(now() - e.data.sentAt), {
      onCaughtUp: () => caughtUp(),
    });
    await ready;
    listener = { latencies, close: () => (sub.close(), store.close()) };
  } else {
    // The raw equivalent: a BroadcastChannel message from the writer wakes a read of what is new.
    const db = await openRaw(name);
    let position = await rawHead(db);
    const channel = new BroadcastChannel(`raw-bench:${name}`);
    let reading = Promise.resolve();
    channel.onmessage = () => {
      reading = reading.then(async () => {
        for (const e of await rawReadAll(db, position)) {
          position = e.position;
          latencies.push(now() - e.data.sentAt);
        }
      });
    };
    listener = { latencies, close: () => (channel.close(), db.close()) };
  }
}

async function collect(samples, timeoutMs = 30000) {
  const deadline = performance.now() + timeoutMs;
  while (listener.latencies.length < samples && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const latencies = listener.latencies.slice();
  listener.close();
  listener = null;
  return latencies;
}

async function write(kind, name, samples, spacingMs) {
  const pause = () => new Promise((resolve) => setTimeout(resolve, spacingMs * (0.5 + Math.random())));
  if (kind === "evstore") {
    const store = await EventStore.open(name);
    for (let i = 0; i < samples; i++) {
      await store.append("live-1", [{ type: "Pinged", data: latencyData(i) }]);
      await pause();
    }
    store.close();
  } else {
    const db = await openRaw(name);
    const channel = new BroadcastChannel(`raw-bench:${name}`);
    for (let i = 0; i < samples; i++) {
      const result = await rawAppend(db, "live-1", [{ type: "Pinged", data: latencyData(i) }]);
      channel.postMessage(result.position);
      await pause();
    }
    channel.close();
    db.close();
  }
}

window.bench = {
  batches,
  appendRun: (kind, name, total, per, streams) => appendRun(kind, name, batches(total, per, streams, "account")),
  buildReadFixture,
  readAll,
  readStream,
  catchUp,
  liveSameTab,
  listen,
  collect,
  write,
  deleteDatabase,
  payloadBytes: () => JSON.stringify(payload(12345, "account-123")).length,
};
window.benchReady = true;
document.getElementById("status").textContent = "ready";
