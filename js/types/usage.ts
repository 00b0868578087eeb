// Every API of the npm package, type-checked with `tsc --noEmit --strict` against the built
// pkg/evstore.d.ts (scripts/test-js.sh). Nothing here runs; it must compile, and the
// `@ts-expect-error` lines must stay errors — they show the types are precise, not `any`.
import init, {
  Decider,
  EventStore,
  Projector,
  Subscription,
  initSync,
  isEvstoreError,
  type AnyEvent,
  type CommandResult,
  type EventIterator,
  type EvstoreErrorOf,
  type AppendOptions,
  type AppendResult,
  type StreamMetadata,
  type StreamAppend,
  type Upcaster,
  type VersionConflict,
  type Direction,
  type ErrorCode,
  type EventSubscription,
  type EvstoreError,
  type ExpectedVersion,
  type Filter,
  type ImportSummary,
  type InitOutput,
  type JsonObject,
  type JsonValue,
  type NewEvent,
  type ProjectionHandler,
  type ProjectionOptions,
  type ProjectionStatus,
  type QuotaEstimate,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type RetryOptions,
  type SkippedEvent,
  type StreamSubscribeOptions,
  type SubscribeCallbacks,
  type SubscribeOptions,
  type SyncAppendResult,
  type SyncConflict,
  type SyncHandle,
  type SyncStatus,
} from "evstore";

type AccountEvent =
  | { type: "Opened"; data: { owner: string } }
  | { type: "Deposited"; data: { amount: number } };

// Interfaces are accepted as event data (they have no index signature, unlike JsonObject).
interface Renamed {
  title: string;
  previous?: string;
}
type CardEvent = { type: "CardCreated"; data: { title: string } } | { type: "CardRenamed"; data: Renamed } | { type: "CardArchived" };

function describeError(error: EvstoreError): string {
  const code: ErrorCode = error.code;
  switch (code) {
    case "WrongExpectedVersion": {
      const expected: ExpectedVersion | undefined = error.expected;
      const actual: number | undefined = error.actual;
      const others: VersionConflict[] = error.others ?? [];
      return `${error.stream ?? "?"}: expected ${String(expected)}, actual ${actual ?? "?"} (+${others.length})`;
    }
    case "StreamNotFound":
      return `no stream ${error.stream ?? "?"}`;
    case "StreamDeleted":
      return `stream ${error.stream ?? "?"} is deleted for good`;
    case "DuplicateEventId":
      return `duplicate id ${error.id ?? "?"}`;
    case "Codec":
      return `cannot decode ${error.eventType ?? "?"}: ${error.reason ?? ""}`;
    case "IncompatibleSchema":
      return `schema ${error.found ?? "?"} > ${error.supported ?? "?"}`;
    case "InvalidInput":
    case "Storage":
    case "QuotaExceeded":
      return error.reason ?? error.message;
    case "Closed":
      return "closed";
    case "ProjectionFailed":
      return `projection ${error.projection ?? "?"} failed at ${error.position ?? "?"}`;
  }
}

async function everything(): Promise<void> {
  const output: InitOutput = await init();
  void output.memory;
  await init({ module_or_path: new URL("evstore_bg.wasm", import.meta.url) });
  const sync: (module: { module: BufferSource | WebAssembly.Module }) => InitOutput = initSync;
  void sync;

  const store: EventStore = await EventStore.open("my-app");
  const mem: EventStore = await EventStore.inMemory();

  // Appends: every expected-version form, with and without options.
  const opened: NewEvent = {
    type: "Opened",
    data: { owner: "ada", tags: ["a", "b"], nested: { ok: true, n: null } },
    metadata: { user: "u1" },
    id: crypto.randomUUID(),
    correlationId: "c-1",
    causationId: "cause-1",
  };
  const r: AppendResult = await store.append("account-1", [opened], { expectedVersion: "no_stream" });
  const next: number = r.nextExpectedVersion;
  const position: number = r.position;
  await store.append("account-1", [{ type: "Deposited", data: { amount: 5 } }], { expectedVersion: next });
  await store.append("account-1", [{ type: "Deposited" }], { expectedVersion: "stream_exists" });
  await store.append("account-1", [{ type: "Deposited" }], { expectedVersion: "any" });
  await store.append("account-1", [{ type: "Deposited" }], {});
  await store.append("account-1", [{ type: "Deposited" }]);
  const typed: AccountEvent[] = [{ type: "Deposited", data: { amount: 1 } }];
  await mem.append("account-2", typed);
  const options: AppendOptions = { expectedVersion: 3 };
  await mem.append("account-2", typed, options);

  // Several streams at once: each part's result, in order; a conflict names every stream.
  const parts: StreamAppend<AccountEvent>[] = [
    { stream: "account-1", events: typed, expectedVersion: 3 },
    { stream: "account-2", events: [{ type: "Deposited", data: { amount: 2 } }] },
  ];
  const typedStore = await EventStore.inMemory<AccountEvent>();
  const many: AppendResult[] = await typedStore.appendMany(parts);
  void many[0].position;
  // @ts-expect-error: an event the store's union does not have
  await typedStore.appendMany([{ stream: "s-1", events: [{ type: "Nope" }] }]);

  // Upcasters: an old shape in, the new one out (chains go through intermediate types).
  const renamed: Upcaster = (event) => ({ ...event, type: "Deposited", data: { amount: 1 } });
  typedStore.upcast("DepositedV1", renamed);
  const upcastVoid: void = store.upcast("OpenedV1", (event) => ({ ...event, type: "Opened" }));
  void upcastVoid;
  // @ts-expect-error: an upcaster returns an event
  store.upcast("OpenedV1", () => 42);
  // @ts-expect-error: the event type is a string
  store.upcast(7, renamed);
  try {
    await store.appendMany([{ stream: "a-1", events: [{ type: "X" }], expectedVersion: "no_stream" }]);
  } catch (error) {
    if (isEvstoreError(error, "WrongExpectedVersion")) {
      const conflicts: VersionConflict[] = [error, ...error.others];
      void conflicts.map((c) => `${c.stream}: ${String(c.expected)} / ${c.actual}`);
    }
  }

  // Reads.
  const direction: Direction = "backward";
  const streamOptions: ReadStreamOptions = { fromVersion: 1, direction, maxCount: 100 };
  const events: RecordedEvent[] = await store.readStream("account-1", streamOptions);
  await store.readStream("account-1");
  const filter: Filter = { streamPrefixes: ["account-"], categories: ["account"], eventTypes: ["Opened"] };
  const allOptions: ReadAllOptions = { fromPosition: position, direction: "forward", maxCount: 500, filter };
  const page: RecordedEvent[] = await store.readAll(allOptions);
  await store.readAll();
  const head: number = await store.head();
  const version: number = await store.streamVersion("account-1");
  void [events, page, head, version];
  const listed = await store.listStreams({ prefix: "account-", after: "account-1", maxCount: 100 });
  const listedFields: [string, number, number] = [listed[0].streamId, listed[0].version, listed[0].position];
  await store.listStreams();
  // @ts-expect-error maxCount is a number
  await store.listStreams({ maxCount: "100" });
  void listedFields;

  // Stream lifecycle.
  await store.deleteStream("account-1", { expectedVersion: 3 });
  await store.deleteStream("account-1");
  await store.tombstoneStream("account-9", { expectedVersion: "any" });
  await store.truncateBefore("account-2", 2, { expectedVersion: "stream_exists" });
  await store.setStreamMetadata("account-2", { maxCount: 10 }, { expectedVersion: 2 });
  await store.setStreamMetadata("account-2", {});
  const retention: StreamMetadata = await store.streamMetadata("account-2");
  const maxCount: number | undefined = retention.maxCount;
  const maxAge: number | undefined = retention.maxAge;
  void maxCount;
  void maxAge;
  await store.setStreamMetadata("account-2", { maxCount: 10, maxAge: 3600 });
  await store.scavenge();
  // @ts-expect-error maxCount is a number
  await store.setStreamMetadata("account-2", { maxCount: "10" });
  // @ts-expect-error maxAge is a number of seconds
  await store.setStreamMetadata("account-2", { maxAge: "1h" });
  // @ts-expect-error truncateBefore needs a version
  await store.truncateBefore("account-2");

  // The JSON-lines export: to a Blob, back from a Blob or a byte stream.
  const saved: Blob = await store.exportJsonl();
  const summary: ImportSummary = await store.importJsonl(saved);
  const counts: number = summary.events + summary.imported + summary.alreadyPresent;
  await store.importJsonl(saved.stream());
  void counts;

  // Storage pressure: the origin's quota, and what a full one looks like.
  const persistent: boolean = await store.persist();
  const estimate: QuotaEstimate = await store.estimate();
  const room: number = estimate.quota - estimate.usage;
  const persisted: boolean = estimate.persisted;
  // @ts-expect-error usage is a number of bytes
  const usageText: string = estimate.usage;
  void [persistent, room, persisted, usageText];
  try {
    await store.append("account-1", [{ type: "Deposited", data: { amount: 1 } }]);
  } catch (error) {
    if (isEvstoreError(error, "QuotaExceeded")) {
      const reason: string = error.reason;
      void reason;
    }
  }

  for (const e of events) {
    const fields: [string, string, number, number, string, JsonValue, JsonObject, number] = [
      e.id, e.streamId, e.version, e.position, e.type, e.data, e.metadata, e.recordedAt,
    ];
    const correlation: string | undefined = e.correlationId;
    const causation: string | undefined = e.causationId;
    void [fields, correlation, causation];
  }

  // Subscriptions with callbacks.
  const subscribeOptions: SubscribeOptions = { fromPosition: 0, filter, batchSize: 100 };
  const callbacks: SubscribeCallbacks = {
    onCaughtUp: () => {},
    onError: (error: unknown) => console.error(isEvstoreError(error) ? describeError(error) : error),
  };
  const sub: Subscription = store.subscribe(subscribeOptions, (e: RecordedEvent) => {
    console.log(e.position);
  }, callbacks);
  store.subscribe({ fromPosition: "end" }, async (e) => {
    await Promise.resolve(e.type);
  });
  store.subscribe(undefined, () => {});
  const closedAlready: boolean = sub.isClosed;
  sub.close();
  void closedAlready;
  const streamSubOptions: StreamSubscribeOptions = { fromVersion: "end", batchSize: 10 };
  const streamSub = store.subscribeToStream("account-1", streamSubOptions, (e) => void e.version, {
    onCaughtUp: async () => {},
  });
  store.subscribeToStream("account-1", { fromVersion: 2 }, () => {});
  streamSub.close();

  // Async iteration.
  const iterator: EventSubscription = store.subscribeAll({ fromPosition: 0 });
  for await (const e of iterator) {
    const recorded: RecordedEvent = e;
    if (recorded.position > 10) break;
  }
  for await (const e of store.subscribeAll()) {
    void e;
    break;
  }
  const manual = store.subscribeAll({ fromPosition: "end" });
  const step: IteratorResult<RecordedEvent> = await manual.next();
  void step;
  manual.close();

  // Projector.
  const handler: ProjectionHandler = async (batch: RecordedEvent[]) => {
    for (const e of batch) void e.data;
  };
  const retry: RetryOptions = { maxAttempts: 5, initialDelayMs: 100, factor: 2, maxDelayMs: 30_000 };
  const projectionOptions: ProjectionOptions = {
    batchSize: 100,
    flushAfterMs: 500,
    filter: { eventTypes: ["Deposited"] },
    retry,
    onFailure: "skip",
  };
  const projector = new Projector(store);
  projector.add("balances", handler, projectionOptions);
  projector.add("audit", (batch) => void batch.length);
  await projector.start();
  const running: boolean = projector.isRunning;
  const checkpoint: number = await projector.checkpoint("balances");
  const status: ProjectionStatus | undefined = projector.status("balances");
  if (status) {
    const state: "idle" | "running" | "stopped" | "failed" = status.state;
    const counts: number[] = [status.checkpoint, status.handled, status.failedAttempts];
    const failure: [string | undefined, number | undefined] = [status.error, status.failedPosition];
    void [state, counts, failure];
  }
  const skipped: SkippedEvent[] = await projector.skipped("balances");
  for (const s of skipped) {
    const fields: [number, string, string, string, string, number] = [
      s.position, s.eventId, s.streamId, s.eventType, s.error, s.skippedAt,
    ];
    void fields;
  }
  await projector.stop();
  await projector.reset("balances");
  void [running, checkpoint];

  // Errors.
  try {
    await store.append("account-1", [{ type: "Late" }], { expectedVersion: 1 });
  } catch (error) {
    if (isEvstoreError(error) && error.code === "WrongExpectedVersion") console.log(describeError(error));
    if (isEvstoreError(error, "WrongExpectedVersion")) {
      // Narrowed: the code's fields are present, not optional.
      const fields: [string, ExpectedVersion, number] = [error.stream, error.expected, error.actual];
      const exact: EvstoreErrorOf<"WrongExpectedVersion"> = error;
      void [fields, exact];
    }
    if (isEvstoreError(error, "ProjectionFailed")) {
      const failed: [string, number, string] = [error.projection, error.position, error.reason];
      void failed;
    }
    // @ts-expect-error: without the code, the fields stay optional
    if (isEvstoreError(error)) { const s: string = error.stream; void s; }
    // @ts-expect-error: codes are a closed set
    isEvstoreError(error, "Nope");
  }

  // Lazy reads, abort signals, waiting for projections.
  const controller = new AbortController();
  const pages: EventIterator = store.iterateStream("account-1", { fromVersion: 1, maxCount: 10, signal: controller.signal });
  for await (const e of pages) void e.version;
  for await (const e of store.iterateAll({ fromPosition: 0, filter: { eventTypes: ["Opened"] }, signal: controller.signal })) {
    void e.position;
    break;
  }
  store.subscribe({ fromPosition: 0, signal: controller.signal }, () => {});
  store.subscribeToStream("account-1", { signal: controller.signal }, () => {});
  store.subscribeAll({ signal: controller.signal }).close();
  await projector.start();
  await projector.waitFor();
  await projector.waitFor(await store.head(), { name: "balances", signal: controller.signal });
  await projector.stop();
  await projector.remove("audit");
  controller.abort();

  // Typed events: appends, reads, subscriptions, projections and deciders without casts.
  const bank = await EventStore.inMemory<AccountEvent>();
  await bank.append("account-9", [{ type: "Opened", data: { owner: "ada" } }, { type: "Deposited", data: { amount: 5 }, metadata: { user: "u" } }]);
  // @ts-expect-error: an unknown event type
  await bank.append("account-9", [{ type: "Closed", data: {} }]);
  // @ts-expect-error: the data of "Deposited" is { amount: number }
  await bank.append("account-9", [{ type: "Deposited", data: { owner: "x" } }]);
  // @ts-expect-error: filters name known event types only
  await bank.readAll({ filter: { eventTypes: ["Closed"] } });
  const balance = (await bank.readStream("account-9")).reduce((sum, e) => {
    switch (e.type) {
      case "Opened": {
        const owner: string = e.data.owner;
        void owner;
        return sum;
      }
      case "Deposited":
        return sum + e.data.amount;
    }
  }, 0);
  void balance;
  bank.subscribe(undefined, (e) => {
    if (e.type === "Deposited") void (e.data.amount + 1);
  });
  for await (const e of bank.iterateAll()) if (e.type === "Opened") void e.data.owner.length;
  const bankProjector = new Projector(bank);
  bankProjector.add("totals", (batch) => {
    for (const e of batch) if (e.type === "Deposited") void e.data.amount.toFixed();
  }, { filter: { eventTypes: ["Deposited"] } });
  const untyped: EventStore<AnyEvent> = mem;
  void untyped;

  const cards = await EventStore.open<CardEvent>("cards");
  await cards.append("card-1", [{ type: "CardCreated", data: { title: "a" } }, { type: "CardRenamed", data: { title: "b" } }, { type: "CardArchived" }]);
  for (const e of await cards.readStream("card-1")) {
    if (e.type === "CardRenamed") {
      const renamed: Renamed = e.data;
      void renamed;
    }
    if (e.type === "CardArchived") {
      const none: null = e.data;
      void none;
    }
  }

  // A decider: the command helper of an aggregate.
  type Command = { kind: "open"; owner: string } | { kind: "deposit"; amount: number };
  type State = { open: boolean; balance: number };
  const accounts = new Decider<AccountEvent, State, Command>(bank, {
    initialState: () => ({ open: false, balance: 0 }),
    evolve: (state, event) =>
      event.type === "Opened" ? { ...state, open: true } : { ...state, balance: state.balance + event.data.amount },
    decide: (command, state) => {
      if (command.kind === "open") return state.open ? [] : [{ type: "Opened", data: { owner: command.owner } }];
      if (!state.open) throw new Error("not open");
      return [{ type: "Deposited", data: { amount: command.amount } }];
    },
    maxAttempts: 5,
  });
  const done: CommandResult<AccountEvent, State> = await accounts.handle("account-9", { kind: "deposit", amount: 1 }, {
    metadata: { user: "u1" },
    correlationId: "c",
    signal: controller.signal,
  });
  const after: [number, number, number] = [done.state.balance, done.version, done.attempts];
  const appended: AppendResult | null = done.appended;
  const loaded: { state: State; version: number } = await accounts.load("account-9");
  void [after, appended, loaded];
  // @ts-expect-error: commands are typed
  await accounts.handle("account-9", { kind: "withdraw" });
  new Decider<AccountEvent, State, Command>(bank, {
    initialState: () => ({ open: false, balance: 0 }),
    evolve: (state) => state,
    // @ts-expect-error: decide returns events of the store's union
    decide: () => [{ type: "Closed" }],
  });
  accounts.free();

  // Offline-first sync with evstore serve.
  const synced = await EventStore.open("synced");
  const handle: SyncHandle = await synced.sync({
    url: "http://127.0.0.1:7070",
    token: "t",
    filter: { streamPrefixes: ["card-"] },
    onConflict: (conflict: SyncConflict) => (conflict.theirs.length > 0 ? "drop" : [{ type: "Merged" }]),
    onUnauthorized: async () => null,
  });
  const local: SyncAppendResult = await handle.append("card-1", [{ type: "CardCreated" }], { expectedVersion: "no_stream" });
  if (local.pending) void local.batchId.length;
  const withPending = await handle.readStream("card-1", { includePending: true });
  const syncStatus: SyncStatus = handle.status;
  const statusFields: [string, number, number, boolean] = [syncStatus.state, syncStatus.pending, syncStatus.lastPulledPosition, syncStatus.syncer];
  const unlisten: () => void = handle.onStatus((next) => void next.conflicts.length);
  for (const batch of await handle.pending()) void [batch.batchId, batch.events[0]!.pending, batch.confirmed];
  await handle.flush();
  handle.stop();
  unlisten();
  void [withPending, statusFields];
  // @ts-expect-error: a conflict callback answers "drop" or events
  await synced.sync({ url: "u", onConflict: () => "keep" });

  // Resource management.
  {
    using disposable = await EventStore.inMemory();
    using sub2 = disposable.subscribe(undefined, () => {});
    void sub2.isClosed;
    await using running = new Projector(disposable);
    void running.isRunning;
  }
  const closed: boolean = store.isClosed;
  store.close();
  mem.free();
  projector.free();
  void closed;

  // The types reject what the store would reject.
  // @ts-expect-error: expectedVersion is a number or one of the three modes
  await store.append("s", [{ type: "T" }], { expectedVersion: "foo" });
  // @ts-expect-error: an event needs a type
  await store.append("s", [{ data: 1 }]);
  // @ts-expect-error: events are an array
  await store.append("s", { type: "T" });
  // @ts-expect-error: a stream id is a string
  await store.append(42, [{ type: "T" }]);
  // @ts-expect-error: data is JSON — no BigInt
  await store.append("s", [{ type: "T", data: { n: 1n } }]);
  // @ts-expect-error: data is JSON — no functions
  await store.append("s", [{ type: "T", data: { f: () => 1 } }]);
  // @ts-expect-error: metadata is a JSON object
  await store.append("s", [{ type: "T", metadata: [1] }]);
  // @ts-expect-error: an import reads a Blob or a byte stream, not a string
  await store.importJsonl("{}");
  // @ts-expect-error: the direction is forward or backward
  await store.readAll({ direction: "sideways" });
  // @ts-expect-error: fromPosition is a number or "end"
  store.subscribe({ fromPosition: "start" }, () => {});
  // @ts-expect-error: onFailure is "stop" or "skip"
  projector.add("p", () => {}, { onFailure: "retry" });
  // @ts-expect-error: recorded data is JSON, not any
  const notAny: string = events[0]!.data;
  void notAny;
  // @ts-expect-error: error codes are a closed set
  const code: ErrorCode = "Oops";
  void code;
}

void everything;
