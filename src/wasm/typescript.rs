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

/** An event to append. */
export interface NewEvent {
  /** The event type, for example "Deposited". */
  type: string;
  /** The payload (JSON). */
  data?: JsonValue;
  /** A JSON object of metadata. */
  metadata?: JsonObject;
  /** A UUID; generated (UUIDv7) when omitted. Reusing it makes a retried append idempotent. */
  id?: string;
  correlationId?: string;
  causationId?: string;
}

/** An event as stored. */
export interface RecordedEvent {
  id: string;
  streamId: string;
  /** Version in its stream, from 1. */
  version: number;
  /** Global position, from 1, increasing in commit order. */
  position: number;
  type: string;
  data: JsonValue;
  metadata: JsonObject;
  /** UTC milliseconds. */
  recordedAt: number;
  correlationId?: string;
  causationId?: string;
}

export interface AppendOptions {
  /** Default "any". */
  expectedVersion?: ExpectedVersion;
}

export interface AppendResult {
  /** The stream's version after the append. */
  nextExpectedVersion: number;
  /** The position of the last event written. */
  position: number;
}

export type Direction = "forward" | "backward";

/** Each list given must match (AND); within a list any value matches (OR). */
export interface Filter {
  streamPrefixes?: string[];
  categories?: string[];
  eventTypes?: string[];
}

export interface ReadStreamOptions {
  /** Inclusive. Default: first (forward) or last (backward). */
  fromVersion?: number;
  direction?: Direction;
  /** At least 1. Default: all. */
  maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive; 0 = from the start. */
  fromPosition?: number;
  direction?: Direction;
  /** At least 1. Default: all. */
  maxCount?: number;
  filter?: Filter;
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

export interface SubscribeOptions {
  /** Exclusive position to start after (default 0 = from the start), or "end" for new events only. */
  fromPosition?: number | "end";
  filter?: Filter;
  /** Events per storage read. Default 500. */
  batchSize?: number;
}

export interface StreamSubscribeOptions {
  /** Exclusive version to start after (default 0), or "end". */
  fromVersion?: number | "end";
  batchSize?: number;
}

export interface SubscribeCallbacks {
  /** Everything committed so far was delivered; live events follow. */
  onCaughtUp?: () => void | Promise<void>;
  /**
   * The subscription failed and is closed. `error` is an `EvstoreError` when the store failed,
   * or whatever `onEvent` / `onCaughtUp` threw (or rejected with).
   */
  onError?: (error: unknown) => void;
}

/** `for await (const e of store.subscribeAll())`; `break` or `close()` ends it. */
export interface EventSubscription extends AsyncIterableIterator<RecordedEvent> {
  close(): void;
}

export type ErrorCode =
  | "WrongExpectedVersion"
  | "StreamNotFound"
  | "DuplicateEventId"
  | "InvalidInput"
  | "Codec"
  | "Storage"
  | "IncompatibleSchema"
  | "QuotaExceeded"
  | "Closed";

/** Every rejected promise carries one. */
export interface EvstoreError extends Error {
  name: "EvstoreError";
  code: ErrorCode;
  stream?: string;
  expected?: ExpectedVersion;
  actual?: number;
  id?: string;
  reason?: string;
  eventType?: string;
  found?: number;
  supported?: number;
}

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

export interface ProjectionOptions {
  /** Events per handler call (default 1). */
  batchSize?: number;
  /** Flush a partial batch this long after its first event, whichever comes first. */
  flushAfterMs?: number;
  filter?: Filter;
  retry?: RetryOptions;
  /** After the last attempt: "stop" (default) or "skip" the event. */
  onFailure?: "stop" | "skip";
}

/** Receives a batch of events; throwing or rejecting is a failure under the retry policy. */
export type ProjectionHandler = (events: RecordedEvent[]) => void | Promise<void>;

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
"#;
