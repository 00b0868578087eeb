// Stream lifecycle from JavaScript, on IndexedDB and in memory: deleteStream (soft, numbering
// continues), tombstoneStream (StreamDeleted; the records are gone from IndexedDB),
// truncateBefore, maxCount and maxAge on every read path, and bad input rejected with nothing
// changed.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { closeWithReport, launchWithFixture, uniqueName } from "./helpers.js";

let browser;
let page;

before(async () => ({ browser, page } = await launchWithFixture()));
after(() => closeWithReport({ browser, page }));

/**
 * Runs `body(store, name, t, stored)` in the page on a fresh IndexedDB store, then on a memory
 * store. `stored(stream?)` counts the event records in the database (of `stream`, or all) with
 * IndexedDB itself; 0 in memory.
 */
async function onEveryBackend(prefix, body) {
  const results = {};
  for (const backend of ["indexeddb", "memory"]) {
    results[backend] = await page.evaluate(
      async ({ name, backend, body }) => {
        const { EventStore } = window.evstore;
        const store = backend === "memory" ? await EventStore.inMemory() : await EventStore.open(name);
        const stored = (stream) =>
          new Promise((resolve, reject) => {
            const open = indexedDB.open(name);
            open.onsuccess = () => {
              const db = open.result;
              if (!db.objectStoreNames.contains("events")) {
                db.close();
                indexedDB.deleteDatabase(name);
                return resolve(0);
              }
              const request = db.transaction("events").objectStore("events").getAll();
              request.onsuccess = () => {
                db.close();
                // Lifecycle markers (keys below 0) are not events.
                resolve(request.result.filter((r) => r.position > 0 && (stream === undefined || r.streamId === stream)).length);
              };
              request.onerror = () => reject(request.error);
            };
            open.onerror = () => reject(open.error);
          });
        const run = new Function("store", "name", "t", "stored", `return (${body})(store, name, t, stored);`);
        try {
          return await run(store, name, window.t, stored);
        } finally {
          store.close();
        }
      },
      { name: uniqueName(prefix), backend, body: body.toString() },
    );
  }
  return results;
}

test("deleteStream hides a stream on every read path and appending again continues its numbering", async () => {
  const results = await onEveryBackend("soft-delete", async (store, _name, t) => {
    const event = (n) => ({ type: "Happened", data: { n } });
    await store.append("cart-1", [event(1), event(2), event(3)], { expectedVersion: "no_stream" });
    await store.append("cart-2", [event(4)]);
    await store.deleteStream("cart-1", { expectedVersion: 3 });
    const read = await t.settle(store.readStream("cart-1"));
    const all = (await store.readAll()).map((e) => e.streamId);
    const listed = (await store.listStreams()).map((s) => s.streamId);
    const iterated = [];
    for await (const e of store.iterateAll()) iterated.push(e.position);
    const version = await store.streamVersion("cart-1");
    const head = await store.head();
    const [{ type, data }] = await store.readStream("$lifecycle");
    const again = await store.append("cart-1", [event(5)], { expectedVersion: "no_stream" });
    const versions = (await store.readStream("cart-1")).map((e) => e.version);
    return { code: read.error.code, all, listed, iterated, version, head, marker: { type, data }, again, versions };
  });
  for (const result of Object.values(results)) {
    assert.equal(result.code, "StreamNotFound");
    // The delete is recorded as a `$streamDeleted` marker in the `$lifecycle` stream.
    assert.deepEqual(result.all, ["cart-2", "$lifecycle"]);
    assert.deepEqual(result.listed, ["$lifecycle", "cart-2"]);
    assert.deepEqual(result.iterated, [4, 5]);
    assert.equal(result.version, 0);
    assert.equal(result.head, 5);
    assert.deepEqual(result.marker, { type: "$streamDeleted", data: { streamId: "cart-1", lastVersion: 3 } });
    assert.deepEqual(result.again, { nextExpectedVersion: 4, position: 6 });
    assert.deepEqual(result.versions, [4]);
  }
});

test("tombstoneStream removes the records from IndexedDB and refuses the stream with StreamDeleted", async () => {
  const results = await onEveryBackend("tombstone", async (store, _name, t, stored) => {
    const data = "x".repeat(2000);
    const events = Array.from({ length: 200 }, (_, n) => ({ type: "Big", data: { n, data } }));
    await store.append("user-1", events);
    await store.append("user-2", [{ type: "Kept" }]);
    const before = await stored();
    await store.tombstoneStream("user-1", { expectedVersion: 200 });
    const afterwards = await stored();
    const read = await t.settle(store.readStream("user-1"));
    const append = await t.settle(store.append("user-1", [{ type: "Again" }]));
    const truncate = await t.settle(store.truncateBefore("user-1", 1));
    const retry = await t.settle(store.tombstoneStream("user-1", { expectedVersion: 200 }));
    const all = (await store.readAll()).map((e) => e.streamId);
    return { before, afterwards, read: read.error, append: append.error, truncate: truncate.error, retry, all };
  });
  assert.equal(results.indexeddb.before, 201);
  // user-2's event and the `$streamTombstoned` marker.
  assert.equal(results.indexeddb.afterwards, 2);
  for (const result of Object.values(results)) {
    assert.equal(result.read.code, "StreamDeleted");
    assert.equal(result.read.stream, "user-1");
    assert.equal(result.append.code, "StreamDeleted");
    assert.equal(result.truncate.code, "StreamDeleted");
    assert.equal(result.retry.ok, true);
    assert.deepEqual(result.all, ["user-2", "$lifecycle"]);
  }
});

test("truncateBefore and maxCount apply to reads, subscriptions and appends", async () => {
  const results = await onEveryBackend("truncate", async (store) => {
    const event = (n) => ({ type: "Logged", data: { n } });
    await store.append("log-1", [1, 2, 3, 4, 5].map(event));
    await store.truncateBefore("log-1", 3, { expectedVersion: 5 });
    const truncated = (await store.readStream("log-1")).map((e) => e.version);
    const subscribed = [];
    const iterator = store.subscribeAll();
    for await (const e of iterator) {
      subscribed.push(e.version);
      if (subscribed.length === 3) break;
    }
    await store.setStreamMetadata("log-1", { maxCount: 2 }, { expectedVersion: "stream_exists" });
    const limited = (await store.readStream("log-1")).map((e) => e.version);
    await store.append("log-1", [event(6)], { expectedVersion: 5 });
    const appended = (await store.readAll({ filter: { categories: ["log"] } })).map((e) => e.version);
    const metadata = await store.streamMetadata("log-1");
    const none = await store.streamMetadata("log-2");
    return { truncated, subscribed, limited, appended, metadata, none };
  });
  for (const result of Object.values(results)) {
    assert.deepEqual(result.truncated, [3, 4, 5]);
    assert.deepEqual(result.subscribed, [3, 4, 5]);
    assert.deepEqual(result.limited, [4, 5]);
    assert.deepEqual(result.appended, [5, 6]);
    assert.deepEqual(result.metadata, { maxCount: 2 });
    assert.deepEqual(result.none, {});
  }
});

test("maxAge hides expired events on every read path at once; an append and scavenge remove them", async () => {
  const results = await onEveryBackend("max-age", async (store, _name, t, stored) => {
    const { Decider } = window.evstore;
    // Events recorded two hours ago, brought in by an import (which keeps recorded times).
    const old = Date.now() - 2 * 3600 * 1000;
    const lines = [{ format: "evstore-export", version: 1, storeId: "old", exportedAt: old, head: 5 }];
    const streams = ["log-1", "log-1", "log-1", "gone-1", "gone-1"];
    streams.forEach((streamId, i) => {
      const version = streams.slice(0, i).filter((s) => s === streamId).length + 1;
      lines.push({ id: crypto.randomUUID(), streamId, version, position: i + 1, type: "Old", data: {},
                   metadata: {}, recordedAt: old });
    });
    await store.importJsonl(new Blob(lines.map((line) => JSON.stringify(line) + "\n")));
    await store.append("log-1", [{ type: "New" }, { type: "New" }], { expectedVersion: 3 });
    for (const [stream, version] of [["log-1", 5], ["gone-1", 2]]) {
      await store.setStreamMetadata(stream, { maxCount: 10, maxAge: 600 }, { expectedVersion: version });
    }
    const versions = (events) => events.map((e) => `${e.streamId}@${e.version}`);
    const read = versions(await store.readStream("log-1"));
    const backward = versions(await store.readStream("log-1", { direction: "backward", maxCount: 1 }));
    const fromTwo = versions(await store.readStream("log-1", { fromVersion: 2, maxCount: 1 }));
    const all = versions(await store.readAll());
    const iterated = [];
    for await (const e of store.iterateStream("log-1")) iterated.push(`${e.streamId}@${e.version}`);
    for await (const e of store.iterateAll()) iterated.push(`${e.streamId}@${e.version}`);
    const subscribed = [];
    for await (const e of store.subscribeAll({ fromPosition: 0 })) {
      subscribed.push(`${e.streamId}@${e.version}`);
      if (subscribed.length === 2) break;
    }
    const called = { all: [], stream: [], caughtUp: 0 };
    const subscriptions = [
      store.subscribe({ batchSize: 1 }, (e) => void called.all.push(`${e.streamId}@${e.version}`),
                      { onCaughtUp: () => void called.caughtUp++ }),
      store.subscribeToStream("log-1", { batchSize: 2 }, (e) => void called.stream.push(`${e.streamId}@${e.version}`),
                              { onCaughtUp: () => void called.caughtUp++ }),
    ];
    await t.until(async () => called.caughtUp >= 2, 5000, "the callback subscriptions");
    for (const subscription of subscriptions) subscription.close();
    const gone = await store.readStream("gone-1");
    const goneVersion = await store.streamVersion("gone-1");
    const decider = new Decider(store, {
      initialState: () => 0,
      evolve: (count) => count + 1,
      decide: () => [{ type: "Counted" }],
    });
    const loaded = await decider.load("gone-1");
    const exported = (await (await store.exportJsonl()).text()).trim().split("\n").length - 1;
    const metadata = await store.streamMetadata("log-1");
    const before = { log: await stored("log-1"), gone: await stored("gone-1") };
    // An append removes its stream's expired events; scavenge those of the others, keeping the
    // last event (hidden).
    await store.append("log-1", [{ type: "New" }], { expectedVersion: 5 });
    const afterAppend = { log: await stored("log-1"), gone: await stored("gone-1") };
    await store.scavenge();
    const afterScavenge = { log: await stored("log-1"), gone: await stored("gone-1") };
    const handled = await decider.handle("gone-1", {});
    const bad = [];
    for (const metadata of [{ maxAge: 0 }, { maxAge: -1 }, { maxAge: 1.5 }, { maxAge: "60" }, { maxAge: 2 ** 53 }]) {
      bad.push((await t.settle(store.setStreamMetadata("log-1", metadata))).error?.code ?? "accepted");
    }
    const unchanged = await store.streamMetadata("log-1");
    return {
      read, backward, fromTwo, all, iterated, subscribed, called, gone, goneVersion, loaded, exported, metadata,
      before, afterAppend, afterScavenge, handled: handled.appended, bad, unchanged,
      head: await store.head(),
    };
  });
  for (const [backend, result] of Object.entries(results)) {
    assert.deepEqual(result.read, ["log-1@4", "log-1@5"], backend);
    assert.deepEqual(result.backward, ["log-1@5"]);
    assert.deepEqual(result.fromTwo, ["log-1@4"]);
    assert.deepEqual(result.all, ["log-1@4", "log-1@5"]);
    assert.deepEqual(result.iterated, ["log-1@4", "log-1@5", "log-1@4", "log-1@5"]);
    assert.deepEqual(result.subscribed, ["log-1@4", "log-1@5"]);
    assert.deepEqual(result.called, { all: ["log-1@4", "log-1@5"], stream: ["log-1@4", "log-1@5"], caughtUp: 2 });
    assert.deepEqual(result.gone, []);
    assert.equal(result.goneVersion, 2);
    assert.deepEqual(result.loaded, { state: 0, version: 2 });
    assert.equal(result.exported, 2);
    assert.deepEqual(result.metadata, { maxCount: 10, maxAge: 600 });
    assert.deepEqual(result.handled, { nextExpectedVersion: 3, position: 9 });
    assert.deepEqual(result.bad, ["InvalidInput", "InvalidInput", "InvalidInput", "InvalidInput", "InvalidInput"]);
    assert.deepEqual(result.unchanged, { maxCount: 10, maxAge: 600 });
    assert.equal(result.head, 9);
  }
  assert.deepEqual(results.indexeddb.before, { log: 5, gone: 2 });
  assert.deepEqual(results.indexeddb.afterAppend, { log: 3, gone: 2 });
  assert.deepEqual(results.indexeddb.afterScavenge, { log: 3, gone: 1 });
});

test("bad lifecycle calls are rejected with a code and change nothing", async () => {
  const results = await onEveryBackend("lifecycle-bad-input", async (store, _name, t) => {
    await store.append("s-1", [{ type: "A" }, { type: "B" }, { type: "C" }]);
    const calls = [
      () => store.truncateBefore("s-1", 0),
      () => store.truncateBefore("s-1", 4),
      () => store.truncateBefore("s-1", -1),
      () => store.truncateBefore("s-1", 1.5),
      () => store.truncateBefore("s-1", "2"),
      () => store.truncateBefore("s-1"),
      () => store.truncateBefore("s-1", 2, { expectedVersion: 2 }),
      () => store.truncateBefore("nope", 1),
      () => store.setStreamMetadata("s-1", { maxCount: 0 }),
      () => store.setStreamMetadata("s-1", { maxCount: -3 }),
      () => store.setStreamMetadata("s-1", { maxCount: "2" }),
      () => store.setStreamMetadata("s-1", null),
      () => store.setStreamMetadata("s-1", { maxCount: 1 }, { expectedVersion: "no_stream" }),
      () => store.deleteStream("nope"),
      () => store.deleteStream("s-1", { expectedVersion: 1 }),
      () => store.deleteStream("s-1", { expectedVersion: "nope" }),
      () => store.deleteStream(""),
      () => store.deleteStream(42),
      () => store.tombstoneStream("nope"),
      () => store.tombstoneStream("s-1", { expectedVersion: "no_stream" }),
      () => store.streamMetadata(""),
    ];
    const codes = [];
    for (const call of calls) {
      const settled = await t.settle(Promise.resolve().then(call));
      codes.push(settled.ok ? "accepted" : settled.error.code);
    }
    const versions = (await store.readStream("s-1")).map((e) => e.version);
    const metadata = await store.streamMetadata("s-1");
    return { codes, versions, metadata, head: await store.head() };
  });
  for (const result of Object.values(results)) {
    assert.deepEqual(result.codes, [
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "WrongExpectedVersion",
      "StreamNotFound",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "WrongExpectedVersion",
      "StreamNotFound",
      "WrongExpectedVersion",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "StreamNotFound",
      "WrongExpectedVersion",
      "InvalidInput",
    ]);
    assert.deepEqual(result.versions, [1, 2, 3]);
    assert.deepEqual(result.metadata, {});
    assert.equal(result.head, 3);
  }
});
