// The package's JavaScript helpers, one module (one file for the browser to fetch, however many
// Rust modules use it). Each section names the Rust module that imports it.

// ---- convert.rs -------------------------------------------------------------------------------

export function encodeJson(value, what) {
  const text = JSON.stringify(value, function (key, v) {
    const kind = typeof v;
    if (kind === "function" || kind === "symbol" || kind === "bigint") {
      const where = key === "" ? "" : ` at key "${key}"`;
      throw new TypeError(`${what} contains a ${kind}${where}, which is not JSON`);
    }
    return v;
  });
  if (text === undefined) throw new TypeError(`${what} is not JSON (got ${typeof value})`);
  return text;
}

/** The events of an append as one JSON array text, checked as convert.rs's `new_events`
 * documents (the same reasons, thrown as TypeErrors). */
export function encodeEvents(events) {
  if (!Array.isArray(events)) throw new TypeError(`events must be an array, got ${describe(events)}`);
  const get = (event, key) => {
    try {
      return event[key];
    } catch {
      throw new TypeError(`cannot read \`${key}\``);
    }
  };
  const text = (value, what) => {
    if (value === undefined || value === null) return "";
    if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
    return JSON.stringify(value);
  };
  let out = "[";
  for (let index = 0; index < events.length; index++) {
    const event = events[index];
    if (typeof event !== "object" || event === null) throw new TypeError(`event ${index} must be an object`);
    const type = get(event, "type");
    if (typeof type !== "string") throw new TypeError(`event ${index} needs a string \`type\``);
    out += (index === 0 ? '{"type":' : ',{"type":') + JSON.stringify(type);
    const data = get(event, "data");
    if (data !== undefined) out += ',"data":' + encodeJson(data, `event ${index} data`);
    const metadata = get(event, "metadata");
    if (metadata !== undefined) out += ',"metadata":' + encodeJson(metadata, `event ${index} metadata`);
    const id = text(get(event, "id"), "event id");
    if (id) out += ',"id":' + id;
    const correlationId = text(get(event, "correlationId"), "correlationId");
    if (correlationId) out += ',"correlationId":' + correlationId;
    const causationId = text(get(event, "causationId"), "causationId");
    if (causationId) out += ',"causationId":' + causationId;
    out += "}";
  }
  return out + "]";
}

// ---- storage/indexeddb/mod.rs (the append transaction) --------------------------------------

/** Adds an append's records to `store`, versions numbered from `firstVersion`, all requests at
 * once; returns the last request (the caller awaits it). */
export function addRecords(store, records, firstVersion) {
  let request;
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    record.version = firstVersion + i;
    request = store.add(record);
  }
  return request;
}

/** The common case of an append, all in JS (storage/indexeddb/common_append.rs says when it
 * applies): one read-write transaction over `events` reads, with one backward key cursor over
 * the stream's range of the `stream_version` index, the stream's last version or its lifecycle
 * marker (`[streamId, Infinity]`, lifecycle_marker.rs); with no marker and a version in
 * `lowest..=highest` (the expected version), adds `records` numbered after it and waits for the
 * commit. Resolves with `[nextExpectedVersion, position]`, or with `null` when nothing was
 * written and the full path must decide (a lifecycle record, another version, a stored key that
 * is not a number, a unique index refusing a record). Rejects with what failed otherwise: the
 * `DOMException` a call threw or the transaction aborted with. */
export function appendCommon(db, streamId, records, lowest, highest) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction("events", "readwrite");
    const events = tx.objectStore("events");
    let written = null;
    let handBack = false;
    let thrown;
    tx.oncomplete = () => resolve(written);
    tx.onabort = () => {
      const error = thrown ?? tx.error;
      if (handBack || error?.name === "ConstraintError") resolve(null);
      else reject(error ?? new DOMException("the transaction was aborted", "AbortError"));
    };
    const range = IDBKeyRange.bound([streamId, 0], [streamId, Infinity]);
    const last = events.index("stream_version").openKeyCursor(range, "prev");
    last.onsuccess = () => {
      const cursor = last.result;
      const version = cursor ? cursor.key[1] : 0;
      // A marker's version is Infinity, which is not a safe integer.
      if (!Number.isSafeInteger(version) || version < lowest || version > highest) {
        handBack = true;
        tx.abort();
        return;
      }
      try {
        const added = addRecords(events, records, version + 1);
        added.onsuccess = () => {
          written = [version + records.length, added.result];
        };
      } catch (error) {
        thrown = error;
        tx.abort();
      }
    };
  });
}

/** Schema step 4 (storage/indexeddb/lifecycle_marker.rs), inside the upgrade's `versionchange`
 * transaction: a lifecycle marker in `events` for each stream with a record in `streams`, under
 * the keys -1, -2, … (a failed request aborts the upgrade). */
export function markRecordedStreams(tx) {
  const events = tx.objectStore("events");
  const streams = tx.objectStore("streams").getAllKeys();
  streams.onsuccess = () => {
    let key = -1;
    for (const streamId of streams.result) {
      events.add({ position: key--, streamId, version: Infinity });
    }
  };
}

// ---- reads.rs ---------------------------------------------------------------------------------

/** The `RecordedEvent` objects of stored event records (see records.rs of the IndexedDB backend):
 * `data` and `metadata` parsed from their JSON text, the other fields as stored. */
export function eventsOfRecords(records) {
  const events = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (
      typeof r !== "object" || r === null ||
      typeof r.id !== "string" || typeof r.streamId !== "string" || typeof r.eventType !== "string" ||
      typeof r.data !== "string" || typeof r.metadata !== "string" ||
      typeof r.version !== "number" || typeof r.position !== "number" || typeof r.recordedAt !== "number"
    ) {
      throw new TypeError(`the record at position ${r?.position} does not have the fields of an event`);
    }
    const event = {
      id: r.id,
      streamId: r.streamId,
      version: r.version,
      position: r.position,
      type: r.eventType,
      data: JSON.parse(r.data),
      metadata: JSON.parse(r.metadata),
      recordedAt: r.recordedAt,
    };
    if (r.correlationId != null) event.correlationId = r.correlationId;
    if (r.causationId != null) event.causationId = r.causationId;
    events[i] = event;
  }
  return events;
}

// ---- broadcast.rs -----------------------------------------------------------------------------

/** Per channel: the position waiting to be announced (`null` when none is) and when the last
 * announcement was posted. A failed post (the channel closed) only means the other tabs notice
 * at their poll. */
const announcements = new WeakMap();

/** At most one announcement per this many milliseconds: a burst of appends wakes the other tabs
 * a few times, not once per append (each post is a structured clone and a message per tab; in
 * the profile of back-to-back single-event appends, ~4 % of the page's time at 4 ms). An append
 * after a quiet spell is announced at once; in a burst, other tabs hear of it within this. */
const ANNOUNCE_EVERY_MS = 10;

export function announceSoon(channel, position) {
  let state = announcements.get(channel);
  if (state === undefined) {
    state = { position: null, postedAt: -Infinity };
    announcements.set(channel, state);
  }
  const waiting = state.position !== null;
  state.position = position;
  if (waiting) return;
  const wait = Math.max(0, state.postedAt + ANNOUNCE_EVERY_MS - performance.now());
  setTimeout(() => announceNow(channel), wait);
}

export function announceNow(channel) {
  const state = announcements.get(channel);
  if (state === undefined || state.position === null) return;
  const position = state.position;
  state.position = null;
  state.postedAt = performance.now();
  try {
    channel.postMessage(position);
  } catch {
    // closed: see above
  }
}

// ---- error.rs ---------------------------------------------------------------------------------

export function describe(value) {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "bigint":
      return "a BigInt";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    case "object":
      if (value === null) return "null";
      return Array.isArray(value) ? "an array" : "an object";
    default:
      return String(value);
  }
}

export function isEvstoreError(error, code) {
  return (
    error instanceof Error &&
    error.name === "EvstoreError" &&
    typeof error.code === "string" &&
    (code === undefined || error.code === code)
  );
}

/** An `EvstoreError` made in JS: the same shape as the ones the Rust side makes. */
function evstoreError(code, message, fields) {
  const error = new Error(message);
  error.name = "EvstoreError";
  error.code = code;
  return Object.assign(error, fields);
}

const invalid = (reason) => evstoreError("InvalidInput", reason, { reason });

// ---- abort.rs ---------------------------------------------------------------------------------

export function whenAborted(signal) {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

// ---- iterator.rs ------------------------------------------------------------------------------

export function asyncIterable(source, signal) {
  const done = { done: true, value: undefined };
  if (signal) {
    if (signal.aborted) source.close();
    else signal.addEventListener("abort", () => source.close(), { once: true });
  }
  const iterator = {
    next() {
      return source.next().then((value) => (value === undefined ? done : { done: false, value }));
    },
    return() {
      source.close();
      return Promise.resolve(done);
    },
    close() {
      source.close();
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  if (Symbol.asyncDispose) iterator[Symbol.asyncDispose] = () => iterator.return().then(() => {});
  return iterator;
}

// ---- lifecycle.rs -----------------------------------------------------------------------------

const disposed = new WeakSet();

export function harden(instance, close, syncMethods, closedMessage) {
  const proto = Object.getPrototypeOf(instance);
  instance.free();
  if (Object.prototype.hasOwnProperty.call(proto, "__evstoreHardened")) return;
  Object.defineProperty(proto, "__evstoreHardened", { value: true });
  const sync = new Set(syncMethods);
  const closed = () => {
    const error = new Error(closedMessage);
    error.name = "EvstoreError";
    error.code = "Closed";
    return error;
  };
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key === "constructor" || key === "free" || key.startsWith("__")) continue;
    const descriptor = Object.getOwnPropertyDescriptor(proto, key);
    if (typeof descriptor.value === "function") {
      const method = descriptor.value;
      const isAsync = !sync.has(key);
      descriptor.value = {
        [key](...args) {
          if (!disposed.has(this)) return method.apply(this, args);
          if (close && key === close) return isAsync ? Promise.resolve() : undefined;
          if (isAsync) return Promise.reject(closed());
          throw closed();
        },
      }[key];
    } else if (descriptor.get) {
      const get = descriptor.get;
      descriptor.get = function () {
        return disposed.has(this) ? key === "isClosed" : get.call(this);
      };
    }
    Object.defineProperty(proto, key, descriptor);
  }
  const free = proto.free;
  proto.free = function free() {
    if (disposed.has(this)) return;
    try {
      const closing = close ? this[close]() : undefined;
      if (closing && typeof closing.catch === "function") closing.catch(() => {});
    } finally {
      disposed.add(this);
      free.call(this);
    }
  };
  if (Symbol.dispose) proto[Symbol.dispose] = proto.free;
  if (Symbol.asyncDispose && close === "stop") {
    proto[Symbol.asyncDispose] = async function () {
      if (disposed.has(this)) return;
      await this.stop();
      this.free();
    };
  }
}

// ---- decider.rs -------------------------------------------------------------------------------

class Decide {
  constructor(store, options) {
    if (store === null || typeof store !== "object" || typeof store.iterateStream !== "function") {
      throw invalid(`a Decider needs an EventStore, got ${describe(store)}`);
    }
    if (options === null || typeof options !== "object") {
      throw invalid(`the decider's options must be an object, got ${describe(options)}`);
    }
    for (const key of ["initialState", "evolve", "decide"]) {
      if (typeof options[key] !== "function") throw invalid(`the decider's \`${key}\` must be a function`);
    }
    const attempts = options.maxAttempts ?? 3;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw invalid(`maxAttempts must be an integer of at least 1, got ${describe(options.maxAttempts)}`);
    }
    this.store = store;
    this.options = options;
    this.maxAttempts = attempts;
  }

  async load(stream) {
    let state = this.options.initialState();
    let version = 0;
    for await (const event of this.store.iterateStream(stream)) {
      state = this.options.evolve(state, event);
      version = event.version;
    }
    if (version === 0) {
      // No event to read, but the stream may have a version: its events expired (maxAge).
      version = await this.store.streamVersion(stream);
    }
    return { state, version };
  }

  async handle(stream, command, options) {
    const { metadata, correlationId, causationId, signal } = options ?? {};
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw invalid(`signal must be an AbortSignal, got ${describe(signal)}`);
    }
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const { state, version } = await this.load(stream);
      const decided = await this.options.decide(command, state);
      if (!Array.isArray(decided)) {
        throw invalid(`decide must return an array of events, got ${describe(decided)}`);
      }
      if (decided.length === 0) {
        return { state, version, events: decided, appended: null, attempts: attempt };
      }
      const events = decided.map((event) => ({
        ...event,
        metadata: event.metadata ?? metadata,
        correlationId: event.correlationId ?? correlationId,
        causationId: event.causationId ?? causationId,
      }));
      let appended;
      try {
        appended = await this.store.append(stream, events, {
          expectedVersion: version === 0 ? "no_stream" : version,
        });
      } catch (error) {
        if (isEvstoreError(error, "WrongExpectedVersion") && attempt < this.maxAttempts) continue;
        throw error;
      }
      const next = decided.reduce((current, event) => this.options.evolve(current, event), state);
      return { state: next, version: appended.nextExpectedVersion, events: decided, appended, attempts: attempt };
    }
  }
}

export function decider(store, options) {
  return new Decide(store, options);
}

// ---- storage_pressure.rs ----------------------------------------------------------------------

/** The origin's `StorageManager` (in a page or a worker), or `undefined` (insecure context, Node). */
function storageManager() {
  const storage = globalThis.navigator?.storage;
  return storage && typeof storage.estimate === "function" ? storage : undefined;
}

export function storagePersist() {
  const storage = storageManager();
  if (storage === undefined) return Promise.resolve(false);
  // Workers have `persisted()` but no `persist()`: only a page can ask.
  if (typeof storage.persist !== "function") return storage.persisted();
  return storage.persist();
}

export async function storageEstimate() {
  const storage = storageManager();
  if (storage === undefined) return undefined;
  const [estimate, persisted] = await Promise.all([storage.estimate(), storage.persisted()]);
  return { usage: estimate.usage ?? 0, quota: estimate.quota ?? 0, persisted };
}

// ---- wait.rs ----------------------------------------------------------------------------------

const TICK_MS = 10;

function pause(signal) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
    };
    const aborted = () => {
      done();
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, TICK_MS);
    signal?.addEventListener("abort", aborted, { once: true });
  });
}

async function waitFor(position, options) {
  const { name, signal } = options ?? {};
  if (position !== undefined && position !== null && !(Number.isSafeInteger(position) && position >= 0)) {
    throw invalid(`waitFor's position must be a non-negative integer, got ${describe(position)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalid(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
  let projections = this.__projections();
  if (name !== undefined) {
    projections = projections.filter((p) => p.name === name);
    if (projections.length === 0) throw invalid(`no projection ${describe(name)} was added`);
  }
  const store = this.__store();
  const target = position ?? (await store.head());
  const reached = new Set();
  // The checkpoint at which each projection's next matching event was last looked up.
  const looked = new Map();
  for (;;) {
    signal?.throwIfAborted();
    let pending = false;
    for (const { name, filter } of projections) {
      if (reached.has(name)) continue;
      const status = this.status(name);
      if (status?.state === "failed") {
        const reason = status.error ?? "failed";
        throw evstoreError(
          "ProjectionFailed",
          `projection \`${name}\` failed at position ${status.failedPosition}: ${reason}`,
          { projection: name, position: status.failedPosition, reason },
        );
      }
      const checkpoint = status && status.state !== "idle" ? status.checkpoint : await this.checkpoint(name);
      let done = checkpoint >= target;
      if (!done && looked.get(name) !== checkpoint && (await store.head()) >= target) {
        looked.set(name, checkpoint);
        const [next] = await store.readAll({ fromPosition: checkpoint, maxCount: 1, filter });
        done = next === undefined || next.position > target;
      }
      if (done) reached.add(name);
      else pending = true;
    }
    if (!pending) return;
    if (!this.isRunning) {
      throw invalid(`the projector is not running, so position ${target} will not be reached: start() it before waitFor()`);
    }
    await pause(signal);
  }
}

export function installWaitFor(projector) {
  Object.defineProperty(Object.getPrototypeOf(projector), "waitFor", {
    value: waitFor,
    writable: true,
    configurable: true,
  });
}
