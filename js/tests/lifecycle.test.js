// Disposal and error reporting in headless Chromium: `free()` / `[Symbol.dispose]()` / `using`
// close what they dispose and later calls fail with code `Closed`; readable messages; a store
// whose database another tab deleted reports itself closed; a subscription without `onError`
// reports its end on the console; `isEvstoreError` narrows by code.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { closeWithReport, launchWithFixture, openFixture, uniqueName } from "./helpers.js";

let browser;
let page;

before(async () => ({ browser, page } = await launchWithFixture()));
after(() => closeWithReport({ browser, page }));

describe("disposal", () => {
  test("a disposed subscription stops delivering; calls after free() fail with Closed", async () => {
    const r = await page.evaluate(async () => {
      const { settle, attempt, until, sleep } = window.t;
      const store = await window.evstore.EventStore.inMemory();
      const seen = [];
      const sub = store.subscribe(undefined, (e) => void seen.push(e.position));
      await store.append("s-1", [{ type: "A" }]);
      await until(() => seen.length === 1, 5000, "the first event");
      sub[Symbol.dispose]();
      await store.append("s-1", [{ type: "B" }]);
      await sleep(200);
      // `using` as the page runs it (Node 20, which parses this file, does not know it yet).
      const usingSeen = [];
      await new Function("store", "until", "seen", `return (async () => {
        using scoped = store.subscribe(undefined, (e) => void seen.push(e.position));
        await until(() => seen.length === 2, 5000, "history in the using block");
      })();`)(store, until, usingSeen);
      await store.append("s-1", [{ type: "C" }]);
      await sleep(200);
      return {
        seen,
        usingSeen,
        isClosed: sub.isClosed,
        closeAgain: attempt(() => sub.close()),
        freeAgain: attempt(() => sub.free()),
      };
    });
    assert.deepEqual(r.seen, [1], "nothing after dispose");
    assert.deepEqual(r.usingSeen, [1, 2], "nothing after the using block");
    assert.equal(r.isClosed, true);
    assert.equal(r.closeAgain.ok, true);
    assert.equal(r.freeAgain.ok, true);
  });

  test("a freed store is closed: its subscriptions end and every call fails with Closed", async () => {
    const r = await page.evaluate(async (name) => {
      const { settle, attempt, until } = window.t;
      const { EventStore, Projector } = window.evstore;
      const store = await EventStore.open(name);
      await store.append("s-1", [{ type: "A" }]);
      const sub = store.subscribe(undefined, () => {});
      const iterator = store.subscribeAll();
      const first = await iterator.next();
      const waiting = iterator.next();
      store.free();
      const out = {
        isClosed: store.isClosed,
        append: await settle(store.append("s-1", [{ type: "B" }])),
        readStream: await settle(store.readStream("s-1")),
        readAll: await settle(store.readAll()),
        head: await settle(store.head()),
        streamVersion: await settle(store.streamVersion("s-1")),
        subscribe: attempt(() => store.subscribe(undefined, () => {})),
        subscribeAll: attempt(() => store.subscribeAll()),
        iterateAll: attempt(() => store.iterateAll()),
        close: attempt(() => store.close()),
        free: attempt(() => store.free()),
        first: first.value.type,
        iteratorEnd: await settle(waiting),
      };
      out.subClosed = await until(() => sub.isClosed, 2000, "the subscription to end").catch(() => false);
      // Nothing was written after free: a new handle sees only the first event.
      const reopened = await EventStore.open(name);
      out.events = (await reopened.readAll()).map((e) => e.type);
      reopened.close();
      return out;
    }, uniqueName("freed"));
    assert.equal(r.isClosed, true);
    for (const key of ["append", "readStream", "readAll", "head", "streamVersion", "subscribe", "subscribeAll", "iterateAll"]) {
      assert.equal(r[key].ok, false, `${key}: ${JSON.stringify(r[key])}`);
      assert.equal(r[key].error.code, "Closed", `${key}: ${r[key].error.message}`);
      assert.equal(r[key].error.name, "EvstoreError");
      assert.doesNotMatch(r[key].error.message, /null pointer|rust/i);
    }
    assert.equal(r.close.ok, true, "close() after free() is harmless");
    assert.equal(r.free.ok, true, "free() twice is harmless");
    assert.equal(r.first, "A");
    assert.deepEqual(r.iteratorEnd, { ok: true, value: { done: true, value: undefined } }, "a waiting for-await ends");
    assert.equal(r.subClosed, true);
    assert.deepEqual(r.events, ["A"]);
  });

  test("a disposed projector stops handling; `await using` stops it gracefully", async () => {
    const r = await page.evaluate(async () => {
      const { settle, attempt, until, sleep } = window.t;
      const { EventStore, Projector } = window.evstore;
      const store = await EventStore.inMemory();
      let handled = 0;
      const projector = new Projector(store);
      projector.add("count", (events) => void (handled += events.length));
      await projector.start();
      await store.append("s-1", [{ type: "A" }]);
      await until(() => handled === 1, 5000, "the first event");
      projector[Symbol.dispose]();
      await store.append("s-1", [{ type: "B" }]);
      await sleep(300);
      const out = {
        handled,
        isRunning: projector.isRunning,
        checkpoint: await settle(projector.checkpoint("count")),
        start: await settle(projector.start()),
        waitFor: await settle(projector.waitFor()),
        add: attempt(() => projector.add("other", () => {})),
        stop: await settle(projector.stop()),
      };
      const scoped = { handled: 0 };
      const scopedRef = await new Function("Projector", "store", "scoped", `return (async () => {
        await using projector = new Projector(store);
        projector.add("scoped", (events) => void (scoped.handled += events.length));
        await projector.start();
        await projector.waitFor();
        return projector;
      })();`)(Projector, store, scoped);
      out.scopedHandled = scoped.handled;
      out.scopedRunning = scopedRef.isRunning;
      out.scopedStatus = attempt(() => scopedRef.status("scoped"));
      // The store itself is untouched by disposing its projectors.
      out.append = await settle(store.append("s-1", [{ type: "C" }]));
      return out;
    });
    assert.equal(r.handled, 1, "nothing handled after dispose");
    assert.equal(r.isRunning, false);
    for (const key of ["checkpoint", "start", "waitFor", "add"]) {
      assert.equal(r[key].ok, false, `${key}: ${JSON.stringify(r[key])}`);
      assert.equal(r[key].error.code, "Closed", key);
    }
    assert.equal(r.stop.ok, true, "stop() after dispose is harmless");
    assert.equal(r.scopedHandled, 2);
    assert.equal(r.scopedRunning, false);
    assert.equal(r.scopedStatus.error.code, "Closed");
    assert.equal(r.append.ok, true);
  });
});

describe("errors", () => {
  test("messages name JavaScript values, never Rust internals", async () => {
    const r = await page.evaluate(async () => {
      const { settle, attempt } = window.t;
      const store = await window.evstore.EventStore.inMemory();
      return {
        negative: await settle(store.readStream("s-1", { maxCount: -1 })),
        fraction: await settle(store.append("s-1", [{ type: "T" }], { expectedVersion: 1.5 })),
        string: await settle(store.readAll({ fromPosition: "3" })),
        object: await settle(store.append({}, [{ type: "T" }])),
        events: await settle(store.append("s-1", { type: "T" })),
        signal: attempt(() => store.subscribe({ signal: "stop" }, () => {})),
      };
    });
    const messages = Object.values(r).map((settled) => {
      assert.equal(settled.ok, false);
      assert.equal(settled.error.code, "InvalidInput");
      assert.doesNotMatch(settled.error.message, /JsValue|Object\(|rust/);
      return settled.error.message;
    });
    assert.match(messages[0], /maxCount must be a non-negative integer, got -1$/);
    assert.match(messages[1], /got 1\.5$/);
    assert.match(messages[2], /got "3"$/);
    assert.match(messages[3], /stream id must be a string, got an object$/);
    assert.match(messages[4], /events must be an array, got an object$/);
    assert.match(messages[5], /signal must be an AbortSignal, got "stop"$/);
  });

  test("batchSize 0 is refused at the call, like maxCount 0", async () => {
    const r = await page.evaluate(async () => {
      const { attempt } = window.t;
      const { EventStore, Projector } = window.evstore;
      const store = await EventStore.inMemory();
      const projector = new Projector(store);
      return {
        subscribe: attempt(() => store.subscribe({ batchSize: 0 }, () => {})),
        subscribeToStream: attempt(() => store.subscribeToStream("s-1", { batchSize: 0 }, () => {})),
        subscribeAll: attempt(() => store.subscribeAll({ batchSize: 0 })),
        projector: attempt(() => projector.add("p", () => {}, { batchSize: 0 })),
        one: attempt(() => store.subscribe({ batchSize: 1 }, () => {}).close()),
      };
    });
    for (const key of ["subscribe", "subscribeToStream", "subscribeAll", "projector"]) {
      assert.equal(r[key].ok, false, key);
      assert.equal(r[key].error.code, "InvalidInput", key);
      assert.match(r[key].error.message, /batchSize must be at least 1/);
    }
    assert.equal(r.one.ok, true);
  });

  test("a throwing onEvent without onError is reported with console.error", async () => {
    const before = page.logs.length;
    const r = await page.evaluate(async () => {
      const { until } = window.t;
      const store = await window.evstore.EventStore.inMemory();
      await store.append("s-1", [{ type: "A" }]);
      const sub = store.subscribe(undefined, () => {
        throw new Error("handler broke");
      });
      await until(() => sub.isClosed, 5000, "the subscription to end");
      return { closed: sub.isClosed };
    });
    assert.equal(r.closed, true);
    const reported = page.logs.slice(before).filter((line) => line.startsWith("error: "));
    assert.equal(reported.length, 1, page.logs.slice(before).join("\n"));
    assert.match(reported[0], /subscription without onError ended/);
    assert.match(reported[0], /handler broke/);
  });

  test("isEvstoreError tells codes apart", async () => {
    const r = await page.evaluate(async () => {
      const { isEvstoreError, EventStore } = window.evstore;
      const store = await EventStore.inMemory();
      await store.append("s-1", [{ type: "A" }]);
      const conflict = await store.append("s-1", [{ type: "B" }], { expectedVersion: "no_stream" }).catch((e) => e);
      const plain = new Error("x");
      const lookalike = Object.assign(new Error("y"), { code: "WrongExpectedVersion" });
      return {
        any: isEvstoreError(conflict),
        right: isEvstoreError(conflict, "WrongExpectedVersion"),
        wrong: isEvstoreError(conflict, "StreamNotFound"),
        plain: isEvstoreError(plain),
        lookalike: isEvstoreError(lookalike, "WrongExpectedVersion"),
        notError: [isEvstoreError(undefined), isEvstoreError("WrongExpectedVersion"), isEvstoreError({ name: "EvstoreError", code: "Closed" })],
        fields: [conflict.stream, conflict.expected, conflict.actual],
      };
    });
    assert.deepEqual(r, {
      any: true,
      right: true,
      wrong: false,
      plain: false,
      lookalike: false,
      notError: [false, false, false],
      fields: ["s-1", "no_stream", 1],
    });
  });

  test("after another tab deletes the database, isClosed is true and calls fail with Closed", async () => {
    const name = uniqueName("deleted");
    const other = await openFixture(browser.context);
    try {
      await page.evaluate(async (name) => {
        window.doomed = await window.evstore.EventStore.open(name);
        await window.doomed.append("s-1", [{ type: "A" }]);
      }, name);
      const deleted = await other.evaluate(
        (name) =>
          new Promise((resolve) => {
            const request = indexedDB.deleteDatabase(name);
            request.onsuccess = () => resolve("deleted");
            request.onerror = () => resolve("error");
            request.onblocked = () => resolve("blocked");
          }),
        name,
      );
      assert.equal(deleted, "deleted", "the store's connection stepped aside");
      const r = await page.evaluate(async () => {
        const { settle, attempt } = window.t;
        const store = window.doomed;
        return {
          isClosed: store.isClosed,
          append: await settle(store.append("s-1", [{ type: "B" }])),
          head: await settle(store.head()),
          subscribe: attempt(() => store.subscribe(undefined, () => {})),
        };
      });
      assert.equal(r.isClosed, true);
      for (const key of ["append", "head", "subscribe"]) {
        assert.equal(r[key].ok, false, key);
        assert.equal(r[key].error.code, "Closed", `${key}: ${r[key].error.message}`);
      }
    } finally {
      await other.close();
    }
  });
});
