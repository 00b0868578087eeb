// The package under Node (no browser): `initSync` with the .wasm bytes, then an in-memory store
// for an app's unit tests — appends, reads, iterators, subscriptions, projections, deciders —
// and what the storage-quota calls do where there is no `navigator.storage`.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, test } from "node:test";

import { repoRoot } from "./helpers.js";

let evstore;

before(async () => {
  evstore = await import(join(repoRoot, "pkg/evstore.js"));
  evstore.initSync({ module: await readFile(join(repoRoot, "pkg/evstore_bg.wasm")) });
});

describe("under Node: initSync + EventStore.inMemory()", () => {
  test("append, read, iterate and expected versions", async () => {
    const store = await evstore.EventStore.inMemory();
    const opened = await store.append("account-1", [{ type: "Opened", data: { owner: "ada" } }], { expectedVersion: "no_stream" });
    assert.deepEqual(opened, { nextExpectedVersion: 1, position: 1 });
    await store.append("account-1", [{ type: "Deposited", data: { amount: 5 } }], { expectedVersion: 1 });
    const stale = await store.append("account-1", [{ type: "Deposited", data: { amount: 1 } }], { expectedVersion: 1 }).catch((e) => e);
    assert.ok(evstore.isEvstoreError(stale, "WrongExpectedVersion"));
    assert.equal(stale.actual, 2);
    assert.deepEqual((await store.readStream("account-1")).map((e) => e.type), ["Opened", "Deposited"]);
    const iterated = [];
    for await (const e of store.iterateAll()) iterated.push(e.position);
    assert.deepEqual(iterated, [1, 2]);
    store.close();
    await assert.rejects(store.head(), (e) => e.code === "Closed");
  });

  test("a subscription and a projection, awaited with waitFor", async () => {
    const store = await evstore.EventStore.inMemory();
    const seen = [];
    const controller = new AbortController();
    const caughtUp = new Promise((resolve) => {
      store.subscribe({ signal: controller.signal }, (e) => void seen.push(e.type), { onCaughtUp: resolve });
    });
    await store.append("todo-1", [{ type: "Added" }, { type: "Done" }]);
    const totals = new Map();
    const projector = new evstore.Projector(store);
    projector.add("count", (events) => {
      for (const e of events) totals.set(e.type, (totals.get(e.type) ?? 0) + 1);
    });
    await projector.start();
    await projector.waitFor();
    assert.deepEqual(Object.fromEntries(totals), { Added: 1, Done: 1 });
    await caughtUp;
    assert.ok(seen.length >= 1);
    controller.abort();
    await projector.stop();
    store.close();
  });

  test("a decider runs commands against an in-memory store", async () => {
    const store = await evstore.EventStore.inMemory();
    const counter = new evstore.Decider(store, {
      initialState: () => 0,
      evolve: (n, e) => (e.type === "Incremented" ? n + e.data.by : n),
      decide: (command, n) => (n + command.by > 10 ? [] : [{ type: "Incremented", data: { by: command.by } }]),
    });
    await counter.handle("counter-1", { by: 4 });
    const second = await counter.handle("counter-1", { by: 5 });
    const refused = await counter.handle("counter-1", { by: 5 });
    assert.equal(second.state, 9);
    assert.equal(refused.appended, null);
    assert.deepEqual(await counter.load("counter-1"), { state: 9, version: 2 });
    store.close();
  });

  test("without navigator.storage, persist() is false and estimate() rejects with Storage", async () => {
    assert.equal(globalThis.navigator?.storage, undefined, "Node has no StorageManager");
    const store = await evstore.EventStore.inMemory();
    assert.equal(await store.persist(), false);
    const refused = await store.estimate().catch((e) => e);
    assert.ok(evstore.isEvstoreError(refused, "Storage"), String(refused));
    assert.match(refused.reason, /navigator\.storage is not available/);
    store.close();
  });
});
