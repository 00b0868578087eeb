//! The TypeScript types of the package, declared once.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** What an append expects of the stream: an exact version, or one of the modes. */
export type ExpectedVersion = number | "any" | "no_stream" | "stream_exists";

/**
 * What an event type is: its `type` name and its `data`. Give `EventStore` a union of these to
 * type every append, read, subscription, projection and decider without casts:
 *
 * ```ts
 * type AccountEvent =
 *   | { type: "Opened"; data: { owner: string } }
 *   | { type: "Deposited"; data: { amount: number } };
 * const store = await EventStore.open<AccountEvent>("bank");
 * ```
 *
 * `data` may be any type that is JSON when serialized, `interface`s included.
 */
export interface EventShape {
  type: string;
  data?: unknown;
}

/** The events of a store that was not given a type: any type name, any JSON data. */
export interface AnyEvent {
  type: string;
  data?: JsonValue;
}

/** What an append can add to an event besides its type and data. */
export interface EventOptions {
  /** A JSON object of metadata. */
  metadata?: JsonObject;
  /** A UUID; generated (UUIDv7) when omitted. Reusing it makes a retried append idempotent. */
  id?: string;
  correlationId?: string;
  causationId?: string;
}

/** An event to append: one of `E` (its `type` and `data`) with optional metadata and ids. */
export type NewEvent<E extends EventShape = AnyEvent> = E extends EventShape ? E & EventOptions : never;

/** The stored `data` of an event of `E`: an omitted `data` is stored as `null`. */
export type RecordedData<E extends EventShape> = "data" extends keyof E
  ? undefined extends E["data"]
    ? Exclude<E["data"], undefined> | null
    : E["data"]
  : null;

/** What the store adds to every event. */
export interface EventEnvelope {
  id: string;
  streamId: string;
  /** Version in its stream, from 1. */
  version: number;
  /** Global position, from 1, increasing in commit order. */
  position: number;
  metadata: JsonObject;
  /** UTC milliseconds. */
  recordedAt: number;
  correlationId?: string;
  causationId?: string;
}

/** An event as stored: one of `E` with its envelope; `switch (e.type)` narrows `e.data`. */
export type RecordedEvent<E extends EventShape = AnyEvent> = E extends EventShape
  ? EventEnvelope & { type: E["type"]; data: RecordedData<E> }
  : never;

export interface AppendOptions {
  /** Default "any". */
  expectedVersion?: ExpectedVersion;
}

/** One stream's part of `appendMany`; `expectedVersion` defaults to `"any"`. */
export interface StreamAppend<E extends EventShape = AnyEvent> {
  stream: string;
  events: readonly NewEvent<E>[];
  /** Checked after the earlier parts of the same call (a stream may appear twice). */
  expectedVersion?: ExpectedVersion;
}

/** A stream whose expected version failed. */
export interface VersionConflict {
  stream: string;
  expected: ExpectedVersion;
  actual: number;
}

/**
 * An upcaster: gets an event as stored (an old shape) and returns it as the app reads it today —
 * new `data` or `metadata`, or a new `type` (a rename, or the next step of a chain). It must be
 * synchronous and leave the envelope (`id`, `streamId`, `version`, `position`, `recordedAt`,
 * correlation and causation ids) as it was.
 */
export type Upcaster = (event: RecordedEvent<AnyEvent>) => RecordedEvent<AnyEvent>;

export interface AppendResult {
  /** The stream's version after the append. */
  nextExpectedVersion: number;
  /** The position of the last event written. */
  position: number;
}

export type Direction = "forward" | "backward";

/** Each list given must match (AND); within a list any value matches (OR). */
export interface Filter<E extends EventShape = AnyEvent> {
  streamPrefixes?: string[];
  categories?: string[];
  eventTypes?: E["type"][];
}

/** Options that take an `AbortSignal`: aborting ends what they started. */
export interface Abortable {
  signal?: AbortSignal;
}

export interface ReadStreamOptions {
  /** Inclusive. Default: first (forward) or last (backward). */
  fromVersion?: number;
  direction?: Direction;
  /** At least 1. Default: all. */
  maxCount?: number;
}

export interface ReadAllOptions<E extends EventShape = AnyEvent> {
  /** Exclusive; 0 = from the start. */
  fromPosition?: number;
  direction?: Direction;
  /** At least 1. Default: all. */
  maxCount?: number;
  filter?: Filter<E>;
}

export interface ListStreamsOptions {
  /** Only streams whose id starts with this. Default: every stream. */
  prefix?: string;
  /** Only streams whose id sorts after this one (exclusive): the last id of the previous page. */
  after?: string;
  /** At least 1. Default: all. */
  maxCount?: number;
}

/** A stream as listed by `listStreams`. */
export interface StreamInfo {
  streamId: string;
  /** The stream's current version (the version of its last event). */
  version: number;
  /** The position of the stream's last event. */
  position: number;
}

/**
 * A stream's retention settings: keep only the newest `maxCount` events (at least 1), and only
 * the events recorded in the last `maxAge` seconds (at least 1; older ones are hidden from every
 * read at once and removed at the next append). An event is kept only if both keep it.
 */
export interface StreamMetadata {
  maxCount?: number;
  maxAge?: number;
}

/** `iterateStream` options: those of `readStream`, and a signal that ends the iteration. */
export interface IterateStreamOptions extends ReadStreamOptions, Abortable {}

/** `iterateAll` options: those of `readAll`, and a signal that ends the iteration. */
export interface IterateAllOptions<E extends EventShape = AnyEvent> extends ReadAllOptions<E>, Abortable {}

export interface SubscribeOptions<E extends EventShape = AnyEvent> extends Abortable {
  /** Exclusive position to start after (default 0 = from the start), or "end" for new events only. */
  fromPosition?: number | "end";
  filter?: Filter<E>;
  /** Events per storage read, at least 1. Default 500. */
  batchSize?: number;
}

export interface StreamSubscribeOptions extends Abortable {
  /** Exclusive version to start after (default 0), or "end". */
  fromVersion?: number | "end";
  /** At least 1. */
  batchSize?: number;
}


/**
 * `for await (const e of store.subscribeAll())` or `store.iterateAll()`: `break`, `close()` or
 * aborting the options' signal ends it (the loop finishes; nothing is thrown).
 */
export interface EventIterator<E extends EventShape = AnyEvent> extends AsyncIterableIterator<RecordedEvent<E>> {
  close(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The iterator of `subscribeAll`. */
export type EventSubscription<E extends EventShape = AnyEvent> = EventIterator<E>;

export type ErrorCode =
  | "WrongExpectedVersion"
  | "StreamNotFound"
  | "StreamDeleted"
  | "DuplicateEventId"
  | "InvalidInput"
  | "Codec"
  | "Storage"
  | "IncompatibleSchema"
  | "QuotaExceeded"
  | "Closed"
  | "ProjectionFailed";

/** Every rejected promise carries one. `isEvstoreError(e, code)` narrows to the fields of `code`. */
export interface EvstoreError extends Error {
  name: "EvstoreError";
  code: ErrorCode;
  stream?: string;
  expected?: ExpectedVersion;
  actual?: number;
  /** `WrongExpectedVersion` of `appendMany`: the other conflicting streams (empty otherwise). */
  others?: VersionConflict[];
  id?: string;
  reason?: string;
  eventType?: string;
  found?: number;
  supported?: number;
  projection?: string;
  position?: number;
}

/** The fields each code carries. */
export interface EvstoreErrorFields {
  WrongExpectedVersion: { stream: string; expected: ExpectedVersion; actual: number; others: VersionConflict[] };
  StreamNotFound: { stream: string };
  /** The stream was tombstoned (`tombstoneStream`). */
  StreamDeleted: { stream: string };
  DuplicateEventId: { id: string };
  InvalidInput: { reason: string };
  Codec: { eventType: string; reason: string };
  Storage: { reason: string };
  IncompatibleSchema: { found: number; supported: number };
  QuotaExceeded: { reason: string };
  Closed: {};
  /** `waitFor` gave up: the projection failed at `position`. */
  ProjectionFailed: { projection: string; position: number; reason: string };
}

/** An `EvstoreError` of one code, with that code's fields present. */
export type EvstoreErrorOf<C extends ErrorCode> = EvstoreError & { code: C } & EvstoreErrorFields[C];

/** Whether `error` is an `EvstoreError` (of `code`, when given), narrowing it to its fields. */
export function isEvstoreError<C extends ErrorCode>(error: unknown, code: C): error is EvstoreErrorOf<C>;
export function isEvstoreError(error: unknown): error is EvstoreError;

export interface RetryOptions {
  /** Tries in all (default 5). */
  maxAttempts?: number;
  /** Wait after the first failure (default 100). */
  initialDelayMs?: number;
  /** Growth of each wait (default 2). */
  factor?: number;
  /** Longest wait (default 30000). */
  maxDelayMs?: number;
}

export interface ProjectionOptions<E extends EventShape = AnyEvent> {
  /** Events per handler call, at least 1 (default 1). */
  batchSize?: number;
  /** Flush a partial batch this long after its first event, whichever comes first. */
  flushAfterMs?: number;
  filter?: Filter<E>;
  retry?: RetryOptions;
  /** After the last attempt: "stop" (default) or "skip" the event. */
  onFailure?: "stop" | "skip";
}

/** Receives a batch of events; throwing or rejecting is a failure under the retry policy. */
export type ProjectionHandler<E extends EventShape = AnyEvent> = (events: RecordedEvent<E>[]) => void | Promise<void>;

export interface SkippedEvent {
  position: number;
  eventId: string;
  streamId: string;
  eventType: string;
  error: string;
  skippedAt: number;
}

export interface ProjectionStatus {
  state: "idle" | "running" | "stopped" | "failed";
  /** The last handled position. */
  checkpoint: number;
  handled: number;
  failedAttempts: number;
  error?: string;
  failedPosition?: number;
}

export interface WaitForOptions extends Abortable {
  /** Wait for this projection only (default: every projection added). */
  name?: string;
}

export interface SubscribeCallbacks {
  /** Everything committed so far was delivered; live events follow. */
  onCaughtUp?: () => void | Promise<void>;
  /**
   * The subscription failed and is closed. `error` is an `EvstoreError` when the store failed,
   * or whatever `onEvent` / `onCaughtUp` threw (or rejected with). Without `onError` it is
   * reported with `console.error`.
   */
  onError?: (error: unknown) => void;
}

/** A running callback subscription. `close()`, `free()`, `using` or aborting its signal ends it. */
export class Subscription {
  private constructor();
  /** Ends the subscription: no callback runs after this returns. */
  close(): void;
  /** Whether it ended (closed, aborted, failed, or the store closed). */
  readonly isClosed: boolean;
  /** Closes it; later calls fail with code `Closed`. */
  free(): void;
  [Symbol.dispose](): void;
}

/**
 * An event store: IndexedDB (`EventStore.open(name)`) or memory (`EventStore.inMemory()`).
 * `E` is the union of the app's events (default: any type, any JSON data).
 */
export class EventStore<E extends EventShape = AnyEvent> {
  private constructor();
  /** Opens (creating or upgrading) the IndexedDB database `name`. */
  static open<E extends EventShape = AnyEvent>(name: string): Promise<EventStore<E>>;
  /** A store in memory, gone with the page (or the Node process). */
  static inMemory<E extends EventShape = AnyEvent>(): Promise<EventStore<E>>;
  /** Appends `events` to `stream` atomically; `expectedVersion` defaults to `"any"`. */
  append(stream: string, events: readonly NewEvent<E>[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Appends to several streams atomically — every expected version checked and every part
   * written in one transaction, or nothing — and resolves to each part's result, in order. A
   * conflict is one `WrongExpectedVersion` naming the first conflicting stream and the rest in
   * `others`.
   */
  appendMany(appends: readonly StreamAppend<E>[]): Promise<AppendResult[]>;
  /**
   * Registers `upcaster` for events stored with type `type`: every read of the store (reads,
   * iterators, subscriptions, projectors, deciders, sync reads) hands out what it returns, and
   * chains go on while the returned type has an upcaster of its own. Stored events are never
   * rewritten. An upcaster that throws or returns something that is not an event fails the read
   * with `Codec` naming the event. Register upcasters right after opening the store.
   */
  upcast(type: string, upcaster: Upcaster): void;
  /** Events of one stream (forward from the first by default); `StreamNotFound` if it has none. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent<E>[]>;
  /** Events of all streams in position order (`fromPosition` exclusive). */
  readAll(options?: ReadAllOptions<E>): Promise<RecordedEvent<E>[]>;
  /** One stream, read a page at a time as `for await` asks; yields nothing for a stream without events. */
  iterateStream(stream: string, options?: IterateStreamOptions): EventIterator<E>;
  /** All streams in position order, read a page at a time as `for await` asks. */
  iterateAll(options?: IterateAllOptions<E>): EventIterator<E>;
  /** Streams with events in stream-id order: `prefix` narrows them; `after` (exclusive) and `maxCount` page. */
  listStreams(options?: ListStreamsOptions): Promise<StreamInfo[]>;
  /** The position of the last event (0 when empty). */
  head(): Promise<number>;
  /** The version of `stream` (0 when it has no events, also once soft-deleted). */
  streamVersion(stream: string): Promise<number>;
  /**
   * Soft-deletes `stream`: its events are removed and it reads as missing (`StreamNotFound`);
   * appending again (`"no_stream"` or `"any"`) continues its version numbering.
   */
  deleteStream(stream: string, options?: AppendOptions): Promise<void>;
  /**
   * Deletes `stream` for good: its events are removed and every later call on it fails with
   * code `StreamDeleted`. Tombstoning it again succeeds (a safe retry).
   */
  tombstoneStream(stream: string, options?: AppendOptions): Promise<void>;
  /** Removes the events of `stream` below `version` (1 to the stream's version). */
  truncateBefore(stream: string, version: number, options?: AppendOptions): Promise<void>;
  /** Replaces the retention settings of `stream`; events beyond `maxCount` are removed at once and by every append, events older than `maxAge` seconds are hidden at once and removed by the next append. */
  setStreamMetadata(stream: string, metadata: StreamMetadata, options?: AppendOptions): Promise<void>;
  /** The retention settings of `stream` (`{}` when none). */
  streamMetadata(stream: string): Promise<StreamMetadata>;
  /** Removes the events older than the `maxAge` of their streams (reads hide them already; the next append to a stream removes its own), keeping each stream's last event. */
  scavenge(): Promise<void>;
  /** Calls `onEvent` for every event after `fromPosition`, then live. */
  subscribe(
    options: SubscribeOptions<E> | undefined,
    onEvent: (event: RecordedEvent<E>) => void | Promise<void>,
    callbacks?: SubscribeCallbacks,
  ): Subscription;
  /** Like `subscribe`, for one stream (`fromVersion` exclusive, or `"end"`). */
  subscribeToStream(
    stream: string,
    options: StreamSubscribeOptions | undefined,
    onEvent: (event: RecordedEvent<E>) => void | Promise<void>,
    callbacks?: SubscribeCallbacks,
  ): Subscription;
  /** Catch-up then live, as an async iterator. */
  subscribeAll(options?: SubscribeOptions<E>): EventSubscription<E>;
  /**
   * The whole store, up to its head, as a `Blob` of JSON lines (the evstore export format):
   * events as stored, or with `{ upcast: true }` through the store's upcasters, as reads see them.
   */
  exportJsonl(options?: ExportOptions): Promise<Blob>;
  /** Loads an export from a `Blob`/`File` or a `ReadableStream` of bytes; importing twice adds nothing. */
  importJsonl(input: Blob | ReadableStream<Uint8Array>): Promise<ImportSummary>;
  /**
   * Syncs this store with `evstore serve` (see `SyncOptions`): it then mirrors the server's
   * streams, and local appends go through the handle (`sync.append`, which works offline);
   * `store.append` fails with code `InvalidInput`. The store must be empty or synced before.
   */
  sync(options: SyncOptions): Promise<SyncHandle>;
  /**
   * Asks the browser to make the origin's storage persistent (not evicted under storage
   * pressure): resolves to whether it is. In a worker (no `persist()` there) it tells whether it
   * already is; without `navigator.storage` it resolves to `false`.
   */
  persist(): Promise<boolean>;
  /**
   * The origin's storage use and quota in bytes (`navigator.storage.estimate()`), shared by all
   * its databases; browsers pad these numbers. Writes past the real quota fail with code
   * `QuotaExceeded`, and write nothing.
   */
  estimate(): Promise<QuotaEstimate>;
  /** Closes the store: subscriptions end and later calls fail with code `Closed`. */
  close(): void;
  /** Closed by `close()` / `free()`, or because another page deleted the database. */
  readonly isClosed: boolean;
  /** Closes the store and releases it; later calls fail with code `Closed`. */
  free(): void;
  [Symbol.dispose](): void;
}

/** Runs named projections with durable checkpoints over a store. */
export class Projector<E extends EventShape = AnyEvent> {
  constructor(store: EventStore<E>);
  /** Adds projection `name` (before `start()`): `handler` gets arrays of events. */
  add(name: string, handler: ProjectionHandler<E>, options?: ProjectionOptions<E>): void;
  /** Starts every projection; each resumes after its stored checkpoint. */
  start(): Promise<void>;
  /** Stops gracefully: batches in flight finish and their checkpoints are saved. */
  stop(): Promise<void>;
  /**
   * Resolves once every projection (or `options.name`) has handled everything up to `position`
   * (default: the head at the call), including when its filter leaves nothing to handle there.
   * Rejects with code `ProjectionFailed` if a projection failed, `InvalidInput` if the
   * projector is not running, and with the signal's reason (an `AbortError`) when aborted.
   */
  waitFor(position?: number, options?: WaitForOptions): Promise<void>;
  /** The last position projection `name` handled (0 if none). */
  checkpoint(name: string): Promise<number>;
  /** The events projection `name` skipped (`onFailure: "skip"`). */
  skipped(name: string): Promise<SkippedEvent[]>;
  /** Rebuilds projection `name` from the start on the next `start()`. Rejects while running. */
  reset(name: string): Promise<void>;
  /** Removes projection `name` and forgets its checkpoint. Rejects while running. */
  remove(name: string): Promise<void>;
  /** The state of projection `name` in the current or last run, or `undefined`. */
  status(name: string): ProjectionStatus | undefined;
  readonly isRunning: boolean;
  /** Stops the projector (without waiting) and releases it; later calls fail with `Closed`. */
  free(): void;
  [Symbol.dispose](): void;
  /** `await using`: stops gracefully, then releases. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** How a `Decider` runs commands of one kind of stream. */
export interface DeciderOptions<E extends EventShape, S, C> {
  /** The state of a stream without events (called for every load). */
  initialState: () => S;
  /** The state after `event` (a recorded event when loading, a decided one after an append). */
  evolve: (state: S, event: RecordedEvent<E> | NewEvent<E>) => S;
  /** The events `command` produces in `state`; throw to refuse it (the error is passed through). */
  decide: (command: C, state: S) => readonly NewEvent<E>[] | Promise<readonly NewEvent<E>[]>;
  /** Loads and decisions per command when other writers conflict (default 3). */
  maxAttempts?: number;
}

export interface HandleOptions extends Abortable {
  /** Metadata for the decided events that have none. */
  metadata?: JsonObject;
  correlationId?: string;
  causationId?: string;
}

/** What `Decider.handle` did. */
export interface CommandResult<E extends EventShape, S> {
  /** The state after the decided events. */
  state: S;
  /** The stream's version after them. */
  version: number;
  /** What `decide` returned. */
  events: NewEvent<E>[];
  /** The append's result, or `null` when `decide` returned no events. */
  appended: AppendResult | null;
  /** How many times it loaded and decided (more than 1 after conflicts). */
  attempts: number;
}

/**
 * Runs commands against streams, decider style: load the stream (fold its events with `evolve`
 * from `initialState()`), `decide`, append with the loaded version as the expected version; on
 * a conflict load and decide again, up to `maxAttempts`, then reject with `WrongExpectedVersion`.
 */
export class Decider<E extends EventShape, S, C> {
  constructor(store: EventStore<E>, options: DeciderOptions<E, S, C>);
  /** The state of `stream` and its version (0 = no stream). */
  load(stream: string): Promise<{ state: S; version: number }>;
  /** Runs `command` against `stream`. Aborting `options.signal` rejects with its reason. */
  handle(stream: string, command: C, options?: HandleOptions): Promise<CommandResult<E, S>>;
  /** Releases it; later calls fail with code `Closed`. */
  free(): void;
  [Symbol.dispose](): void;
}
"#;
