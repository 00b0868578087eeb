// Lazy reads and abort signals in headless Chromium: `iterateStream` / `iterateAll` read a page
// at a time as `for await` asks, `break` releases them, and an `AbortSignal` ends iterators and
// subscriptions.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { closeWithReport, launchWithFixture, uniqueName } from "./helpers.js";

let browser;
let page;

before(async () => ({ browser, page } = await launchWithFixture()));
after(() => closeWithReport({ browser, page }));

describe("iterateStream and iterateAll", () => {
  test("yield what readStream / readAll return, with the same options (IndexedDB)", async () => {
    const r = await page.evaluate(async (name) => {
      const store = await window.evstore.EventStore.open(name);
      for (let i = 0; i < 3; i++) {
        await store.append("account-1", [{ type: "Deposited", data: { i } }, { type: "Noted", data: { i } }]);
        await store.append("order-1", [{ type: "Placed", data: { i } }]);
      }
      const collect = async (iterator) => {
        const out = [];
        for await (const e of iterator) out.push(e);
        return out;
      };
      const cases = {
        stream: [store.iterateStream("account-1"), store.readStream("account-1")],
        backward: [store.iterateStream("account-1", { direction: "backward", maxCount: 3 }), store.readStream("account-1", { direction: "backward", maxCount: 3 })],
        fromVersion: [store.iterateStream("account-1", { fromVersion: 4 }), store.readStream("account-1", { fromVersion: 4 })],
        all: [store.iterateAll(), store.readAll()],
        filtered: [store.iterateAll({ filter: { eventTypes: ["Placed"] }, fromPosition: 3 }), store.readAll({ filter: { eventTypes: ["Placed"] }, fromPosition: 3 })],
        prefix: [store.iterateAll({ filter: { streamPrefixes: ["account-"] }, direction: "backward", maxCount: 2 }), store.readAll({ filter: { streamPrefixes: ["account-"] }, direction: "backward", maxCount: 2 })],
      };
      const out = {};
      for (const [key, [iterator, read]] of Object.entries(cases)) {
        out[key] = { iterated: await collect(iterator), read: await read };
      }
      out.missing = await collect(store.iterateStream("nothing-here"));
      store.close();
      return out;
    }, uniqueName("iterate"));
    for (const key of ["stream", "backward", "fromVersion", "all", "filtered", "prefix"]) {
      assert.ok(r[key].read.length > 0, key);
      assert.deepEqual(r[key].iterated, r[key].read, key);
    }
    assert.deepEqual(r.missing, [], "a stream without events yields nothing");
  });

  test("read lazily: a page is read when the loop gets to it, so later appends show up", async () => {
    const r = await page.evaluate(async () => {
      const store = await window.evstore.EventStore.inMemory();
      const batch = (n, from) => Array.from({ length: n }, (_, i) => ({ type: "T", data: { n: from + i } }));
      await store.append("s-1", batch(600, 0));
      const seen = [];
      for await (const e of store.iterateStream("s-1")) {
        seen.push(e.data.n);
        // The first page (500 events) is read; appends now land in pages not read yet.
        if (seen.length === 1) await store.append("s-1", batch(100, 600));
      }
      const all = [];
      for await (const e of store.iterateAll({ maxCount: 1000 })) {
        all.push(e.position);
        if (all.length === 1) await store.append("s-2", batch(10, 0));
      }
      return { seen: seen.length, last: seen.at(-1), all: all.length };
    });
    assert.equal(r.seen, 700, "events appended during the iteration were read with their page");
    assert.equal(r.last, 699);
    assert.equal(r.all, 710);
  });

  test("break, return() and close() end an iteration and release it", async () => {
    const r = await page.evaluate(async () => {
      const store = await window.evstore.EventStore.inMemory();
      await store.append("s-1", Array.from({ length: 1200 }, () => ({ type: "T" })));
      const broken = store.iterateAll();
      let n = 0;
      for await (const e of broken) if (++n === 3) break;
      const afterBreak = await broken.next();
      const returned = store.iterateStream("s-1");
      await returned.next();
      const returnResult = await returned.return();
      const closed = store.iterateStream("s-1");
      closed.close();
      const closedNext = await closed.next();
      // `await using` as the page runs it (Node 20, which parses this file, does not know it).
      const disposed = await new Function("store", `return (async () => {
        await using scoped = store.iterateAll();
        await scoped.next();
        return scoped;
      })();`)(store);
      return { n, afterBreak, returnResult, closedNext, disposed: await disposed.next() };
    });
    assert.equal(r.n, 3);
    for (const key of ["afterBreak", "returnResult", "closedNext", "disposed"]) {
      assert.deepEqual(r[key], { done: true, value: undefined }, key);
    }
  });
});

describe("AbortSignal", () => {
  test("aborting ends an iteration, a waiting subscribeAll and a callback subscription", async () => {
    const r = await page.evaluate(async () => {
      const { until, sleep } = window.t;
      const store = await window.evstore.EventStore.inMemory();
      await store.append("s-1", Array.from({ length: 20 }, () => ({ type: "T" })));

      const iterating = new AbortController();
      let iterated = 0;
      for await (const e of store.iterateAll({ signal: iterating.signal })) {
        void e;
        if (++iterated === 5) iterating.abort();
      }

      const live = new AbortController();
      const delivered = [];
      const loop = (async () => {
        for await (const e of store.subscribeAll({ signal: live.signal })) delivered.push(e.position);
        return "ended";
      })();
      await until(() => delivered.length === 20, 5000, "the history");
      live.abort();
      const loopEnd = await Promise.race([loop, sleep(2000).then(() => "still waiting")]);

      const callbacks = new AbortController();
      const seen = [];
      const sub = store.subscribe({ signal: callbacks.signal }, (e) => void seen.push(e.position));
      await until(() => seen.length === 20, 5000, "the history");
      callbacks.abort();
      await until(() => sub.isClosed, 2000, "the subscription to close");
      await store.append("s-1", [{ type: "After" }]);
      await sleep(200);

      const early = new AbortController();
      early.abort();
      const none = [];
      for await (const e of store.iterateStream("s-1", { signal: early.signal })) none.push(e);
      const earlySub = store.subscribe({ signal: early.signal }, () => {});
      const streamSub = store.subscribeToStream("s-1", { signal: early.signal }, () => {});
      await sleep(50);
      return {
        iterated,
        loopEnd,
        seenAfterAbort: seen.length,
        none: none.length,
        earlyClosed: earlySub.isClosed && streamSub.isClosed,
      };
    });
    assert.equal(r.iterated, 5, "nothing after the abort");
    assert.equal(r.loopEnd, "ended", "a for await waiting for live events ends at once");
    assert.equal(r.seenAfterAbort, 20, "no delivery after the abort");
    assert.equal(r.none, 0, "an aborted signal yields nothing");
    assert.equal(r.earlyClosed, true);
  });
});

describe("subscription events", () => {
  test("subscribe, subscribeToStream and subscribeAll deliver the events readAll / readStream return, caught up and live", async () => {
    const r = await page.evaluate(async (name) => {
      const { EventStore } = window.evstore;
      const { until } = window.t;
      const data = [
        { text: "héllo wörld 🌍 — 日本語 \u2028 \"quoted\" \\ back", empty: "" },
        { int: 42, negative: -7, max: 2 ** 53 - 1, float: 0.1, tiny: 1e-7, big: 1.5e300, zero: 0, yes: true, none: null },
        { nested: { list: [1, [2, [3, { deep: "ü" }]]], object: { a: { b: { c: [] } } } }, "key with 🔑": {} },
        [1, "two", { three: 3 }],
        "just a string",
        12.5,
      ];
      const events = (from) => data.map((d, i) => ({
        type: i % 2 ? "Odd" : "Even",
        data: d,
        metadata: { n: from + i, who: "ünï" },
        ...(i === 1 ? { correlationId: "corr-1", causationId: "cause-1" } : {}),
      }));
      const collect = async (store) => {
        const out = { callback: [], stream: [], filtered: [], iterated: [] };
        let caughtUp = 0;
        const subs = [
          store.subscribe({ batchSize: 4 }, (e) => void out.callback.push(e), { onCaughtUp: () => void caughtUp++ }),
          store.subscribeToStream("shape-1", { batchSize: 3 }, (e) => void out.stream.push(e), { onCaughtUp: () => void caughtUp++ }),
          store.subscribe({ filter: { eventTypes: ["Odd"] }, batchSize: 2 }, (e) => void out.filtered.push(e), { onCaughtUp: () => void caughtUp++ }),
        ];
        const iterator = store.subscribeAll({ fromPosition: 0, batchSize: 5 });
        await until(async () => caughtUp >= 3, 5000, "catch-up");
        const caughtUpCount = out.callback.length;
        // Live: appended after the catch-up, in this tab.
        await store.append("shape-1", events(100));
        await store.append("other-1", events(200));
        const total = data.length * 4;
        await until(async () => out.callback.length === total && out.stream.length === total / 2, 5000, "live events");
        for await (const e of iterator) {
          out.iterated.push(e);
          if (out.iterated.length === total) break;
        }
        for (const sub of subs) sub.close();
        return {
          ...out,
          caughtUpCount,
          all: await store.readAll(),
          readStream: await store.readStream("shape-1"),
          odd: await store.readAll({ filter: { eventTypes: ["Odd"] } }),
        };
      };
      const results = {};
      for (const [backend, open] of [["indexeddb", () => EventStore.open(name)], ["memory", () => EventStore.inMemory()]]) {
        const store = await open();
        await store.append("shape-1", events(0));
        await store.append("other-1", events(10));
        results[backend] = await collect(store);
        store.close();
      }
      return results;
    }, uniqueName("subscription-shape"));
    for (const [backend, result] of Object.entries(r)) {
      assert.equal(result.all.length, 24, backend);
      assert.equal(result.caughtUpCount, 12, `${backend}: the history came before onCaughtUp`);
      assert.deepEqual(result.callback, result.all, `${backend}: subscribe`);
      assert.deepEqual(result.iterated, result.all, `${backend}: subscribeAll`);
      assert.deepEqual(result.stream, result.readStream, `${backend}: subscribeToStream`);
      assert.deepEqual(result.filtered, result.odd, `${backend}: a filtered subscribe`);
      const first = result.all[1];
      assert.equal(first.correlationId, "corr-1");
      assert.equal(first.causationId, "cause-1");
      assert.equal(first.data.max, 2 ** 53 - 1);
      assert.equal(result.all[0].data.text, "héllo wörld 🌍 — 日本語 \u2028 \"quoted\" \\ back");
      assert.ok(!("correlationId" in result.all[0]), "no correlationId when none was given");
    }
    assert.deepEqual(
      r.indexeddb.callback.map(({ id, recordedAt, ...rest }) => rest),
      r.memory.callback.map(({ id, recordedAt, ...rest }) => rest),
      "the same events on IndexedDB and in memory",
    );
  });

  test("projector batches hold the events readAll returns; retries and skips see them as stored", async () => {
    const r = await page.evaluate(async (name) => {
      const { EventStore, Projector } = window.evstore;
      const { until } = window.t;
      const results = {};
      for (const [backend, open] of [["indexeddb", () => EventStore.open(name)], ["memory", () => EventStore.inMemory()]]) {
        const store = await open();
        await store.append("shape-1", [
          { type: "A", data: { text: "ünïcödé 🌍 \u2028", n: 2 ** 53 - 1, f: -0.5, nested: [{ a: [1, { b: null }] }] }, correlationId: "c-1" },
          { type: "Poison", data: ["x", 1, true], metadata: { why: "fails" } },
          { type: "B", data: "text" },
        ]);
        await store.append("shape-2", [{ type: "A", data: 7 }, { type: "B", data: {} }]);
        const batches = [];
        const attempts = [];
        const projector = new Projector(store);
        projector.add("shapes", (events) => void batches.push(events), { batchSize: 2 });
        projector.add("skipper", (events) => {
          attempts.push(events.map((e) => e.type));
          if (events.some((e) => e.type === "Poison")) {
            // A handler that changes what it was given: a retry still sees the stored event.
            for (const e of events) e.type = "Changed";
            throw new Error("cannot handle poison");
          }
        }, { batchSize: 3, onFailure: "skip", retry: { maxAttempts: 2, initialDelayMs: 1 } });
        await projector.start();
        await until(async () => (await projector.checkpoint("shapes")) === 5 && (await projector.checkpoint("skipper")) === 5,
                    5000, "the projections");
        await projector.stop();
        results[backend] = {
          batches: batches.map((batch) => batch.length),
          events: batches.flat(),
          all: await store.readAll(),
          attempts,
          skipped: (await projector.skipped("skipper")).map(({ skippedAt, ...rest }) => rest),
          ids: (await store.readAll()).map((e) => e.id),
        };
        store.close();
      }
      return results;
    }, uniqueName("projector-shape"));
    for (const [backend, result] of Object.entries(r)) {
      assert.deepEqual(result.batches, [2, 2, 1], backend);
      assert.deepEqual(result.events, result.all, `${backend}: the projection saw what readAll returns`);
      assert.deepEqual(result.attempts, [
        ["A", "Poison", "B"], ["A", "Poison", "B"],
        ["A"], ["Poison"], ["Poison"], ["B"],
        ["A", "B"],
      ], `${backend}: each retry read the batch again as stored`);
      assert.equal(result.skipped.length, 1, backend);
      const { error, ...skipped } = result.skipped[0];
      assert.deepEqual(skipped, { position: 2, eventId: result.ids[1], streamId: "shape-1", eventType: "Poison" }, backend);
      assert.match(error, /cannot handle poison/);
    }
  });
});
