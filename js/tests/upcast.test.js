// `store.upcast(type, fn)` from JavaScript on IndexedDB: old event shapes read as new ones on every
// read path (reads, iterators, subscriptions, the projector, a Decider), in chains and renames,
// with type filters on upcast types; the stored records (read with the raw IndexedDB API) are
// never rewritten; a throwing or garbage-returning upcaster is a `Codec` error naming the event.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { closeWithReport, launchWithFixture, uniqueName } from "./helpers.js";

let browser;
let page;

before(async () => ({ browser, page } = await launchWithFixture()));
after(() => closeWithReport({ browser, page }));

test("upcasters apply on every read path and never rewrite what is stored", async () => {
  const result = await page.evaluate(async (name) => {
    const { EventStore, Projector, Decider } = window.evstore;
    const { until } = window.t;
    const store = await EventStore.open(name);
    await store.append("cart-1", [
      { type: "PriceSetV1", data: { price: 12 } },
      { type: "ItemAdded", data: { sku: "a" } },
      { type: "PriceSet", data: { cents: 500, currency: "USD" } },
    ]);
    await store.append("cart-2", [{ type: "PriceSetV2", data: { cents: 100 } }]);

    store.upcast("PriceSetV1", (event) => ({
      ...event,
      type: "PriceSetV2",
      data: { cents: event.data.price * 100 },
    }));
    store.upcast("PriceSetV2", (event) => ({
      ...event,
      type: "PriceSet",
      data: { ...event.data, currency: "EUR" },
    }));
    store.upcast("ItemAdded", (event) => ({ ...event, type: "LineAdded" }));

    const shape = (e) => `${e.type}:${JSON.stringify(e.data)}`;
    const all = (await store.readAll()).map(shape);
    const stream = (await store.readStream("cart-1", { direction: "backward" })).map(shape);
    const iterated = [];
    for await (const e of store.iterateAll({ maxCount: 10 })) iterated.push(shape(e));
    const prices = (await store.readAll({ filter: { eventTypes: ["PriceSet"] } })).map((e) => e.position);
    const oldName = await store.readAll({ filter: { eventTypes: ["PriceSetV1"] } });

    const subscribed = [];
    for await (const e of store.subscribeAll({ fromPosition: 0 })) {
      subscribed.push(e.type);
      if (subscribed.length === 4) break;
    }
    const called = [];
    const streamCalled = [];
    const subscriptions = [
      store.subscribe({}, (e) => void called.push(shape(e))),
      store.subscribeToStream("cart-1", {}, (e) => void streamCalled.push(shape(e))),
    ];
    await until(async () => called.length >= 4 && streamCalled.length >= 3, 5000, "the callback subscriptions");
    for (const subscription of subscriptions) subscription.close();
    const projected = [];
    const projector = new Projector(store);
    projector.add("types", (events) => {
      projected.push(...events.map((e) => e.type));
    });
    await projector.start();
    await until(async () => projected.length >= 4, 5000, "the projection");
    await projector.stop();

    const carts = new Decider(store, {
      initialState: () => ({ cents: 0, lines: [] }),
      evolve: (state, event) =>
        event.type === "PriceSet"
          ? { ...state, cents: event.data.cents }
          : event.type === "LineAdded"
            ? { ...state, lines: [...state.lines, event.data.sku] }
            : state,
      decide: () => [],
    });
    const loaded = await carts.load("cart-1");

    // What IndexedDB holds, read without evstore.
    const raw = await new Promise((resolve, reject) => {
      const request = indexedDB.open(name);
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const db = request.result;
        const read = db.transaction("events").objectStore("events").getAll();
        read.onsuccess = () => {
          db.close();
          resolve(read.result.map((r) => `${r.eventType}:${r.data}`));
        };
        read.onerror = () => reject(read.error);
      };
    });
    const exportTypes = async (options) =>
      (await (await store.exportJsonl(options)).text())
        .trim()
        .split("\n")
        .slice(1)
        .map((line) => JSON.parse(line).type);
    const exported = {
      stored: await exportTypes(),
      upcast: await exportTypes({ upcast: true }),
      badOption: await store.exportJsonl({ upcast: "yes" }).then(
        () => "resolved",
        (e) => e.code,
      ),
    };
    store.close();
    return { all, stream, iterated, prices, oldName, subscribed, called, streamCalled, projected, loaded, raw, exported };
  }, uniqueName("upcast"));

  const expected = [
    'PriceSet:{"cents":1200,"currency":"EUR"}',
    'LineAdded:{"sku":"a"}',
    'PriceSet:{"cents":500,"currency":"USD"}',
    'PriceSet:{"cents":100,"currency":"EUR"}',
  ];
  assert.deepEqual(result.all, expected);
  assert.deepEqual(result.stream, expected.slice(0, 3).reverse());
  assert.deepEqual(result.iterated, expected);
  assert.deepEqual(result.prices, [1, 3, 4]);
  assert.deepEqual(result.oldName, []);
  assert.deepEqual(result.subscribed, ["PriceSet", "LineAdded", "PriceSet", "PriceSet"]);
  assert.deepEqual(result.called, expected, "subscribe");
  assert.deepEqual(result.streamCalled, expected.slice(0, 3), "subscribeToStream");
  assert.deepEqual(result.projected, ["PriceSet", "LineAdded", "PriceSet", "PriceSet"]);
  assert.deepEqual(result.loaded, { state: { cents: 500, lines: ["a"] }, version: 3 });
  assert.deepEqual(result.exported, {
    stored: ["PriceSetV1", "ItemAdded", "PriceSet", "PriceSetV2"],
    upcast: ["PriceSet", "LineAdded", "PriceSet", "PriceSet"],
    badOption: "InvalidInput",
  });
  assert.deepEqual(result.raw, [
    'PriceSetV1:{"price":12}',
    'ItemAdded:{"sku":"a"}',
    'PriceSet:{"cents":500,"currency":"USD"}',
    'PriceSetV2:{"cents":100}',
  ]);
});

test("a failing upcaster is a Codec error naming the event; bad registrations are refused", async () => {
  const result = await page.evaluate(async () => {
    const { EventStore } = window.evstore;
    const store = await EventStore.inMemory();
    const cases = {
      throws: () => {
        throw new Error("no price");
      },
      number: () => 42,
      promise: async (event) => event,
      moved: (event) => ({ ...event, position: event.position + 1 }),
      untyped: (event) => ({ ...event, type: undefined }),
      bigint: (event) => ({ ...event, data: { n: 1n } }),
    };
    const outcomes = {};
    for (const [type, upcaster] of Object.entries(cases)) {
      await store.append(`bad-${type}`, [{ type }]);
      store.upcast(type, upcaster);
      try {
        await store.readStream(`bad-${type}`);
        outcomes[type] = "read";
      } catch (error) {
        outcomes[type] = { code: error.code, eventType: error.eventType, reason: error.reason };
      }
    }
    await store.append("fine-1", [{ type: "Fine" }]);
    const fine = (await store.readStream("fine-1")).map((e) => e.type);
    const refused = [];
    for (const [type, upcaster] of [
      ["", (e) => e],
      [7, (e) => e],
      ["T", "not a function"],
    ]) {
      try {
        store.upcast(type, upcaster);
        refused.push("accepted");
      } catch (error) {
        refused.push(error.code);
      }
    }
    store.close();
    let closed;
    try {
      store.upcast("T", (e) => e);
    } catch (error) {
      closed = error.code;
    }
    return { outcomes, fine, refused, closed };
  });
  for (const [type, says] of [
    ["throws", "it threw: no price"],
    ["number", "not an event object"],
    ["promise", "synchronous"],
    ["moved", "position"],
    ["untyped", "not one"],
    ["bigint", "contains a bigint"],
  ]) {
    const outcome = result.outcomes[type];
    assert.equal(outcome.code, "Codec", `${type}: ${JSON.stringify(outcome)}`);
    assert.equal(outcome.eventType, type);
    assert.match(outcome.reason, new RegExp(`stream \`bad-${type}\` \\(version 1`), outcome.reason);
    assert.ok(outcome.reason.includes(says), `${type}: ${outcome.reason}`);
  }
  assert.deepEqual(result.fine, ["Fine"]);
  assert.deepEqual(result.refused, ["InvalidInput", "InvalidInput", "InvalidInput"]);
  assert.equal(result.closed, "Closed");
});
