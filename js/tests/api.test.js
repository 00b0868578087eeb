// The JS API of the built package in headless Chromium: appends, reads, filters, expected
// versions and their error codes, idempotent retries, subscriptions (callbacks and `for await`)
// and the projector's durable checkpoint across a page reload.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { closeWithReport, launchWithFixture, reloadFixture, uniqueName } from "./helpers.js";

let browser;
let page;

before(async () => ({ browser, page } = await launchWithFixture()));
after(() => closeWithReport({ browser, page }));

describe("EventStore", () => {
  test("append, readStream, readAll and filters (IndexedDB)", async () => {
    const result = await page.evaluate(async (name) => {
      const { EventStore } = window.evstore;
      const store = await EventStore.open(name);
      const opened = await store.append(
        "account-1",
        [{ type: "Opened", data: { owner: "ada" }, metadata: { user: "u1" }, correlationId: "c-1" }],
        { expectedVersion: "no_stream" },
      );
      const deposited = await store.append("account-1", [
        { type: "Deposited", data: { amount: 10 } },
        { type: "Deposited", data: { amount: 5 }, causationId: "cause-9" },
      ]);
      await store.append("account-2", [{ type: "Opened", data: { owner: "bob" } }]);
      await store.append("order-1", [{ type: "Placed", data: { lines: [1, 2, 3] } }]);

      const forward = await store.readStream("account-1");
      const backward = await store.readStream("account-1", { direction: "backward", maxCount: 2 });
      const fromTwo = await store.readStream("account-1", { fromVersion: 2 });
      const all = await store.readAll();
      const afterTwo = await store.readAll({ fromPosition: all[1].position, maxCount: 2 });
      const lastFirst = await store.readAll({ direction: "backward", maxCount: 1 });
      const byPrefix = await store.readAll({ filter: { streamPrefixes: ["account-"] } });
      const byCategory = await store.readAll({ filter: { categories: ["order"] } });
      const byType = await store.readAll({ filter: { eventTypes: ["Opened"] } });
      const byBoth = await store.readAll({
        filter: { streamPrefixes: ["account-"], eventTypes: ["Opened"] },
      });
      const result = {
        opened,
        deposited,
        first: forward[0],
        forward: forward.map((e) => [e.version, e.type]),
        backward: backward.map((e) => e.version),
        fromTwo: fromTwo.map((e) => e.version),
        positions: all.map((e) => e.position),
        afterTwo: afterTwo.map((e) => e.position),
        lastFirst: lastFirst.map((e) => e.position),
        byPrefix: byPrefix.map((e) => e.streamId),
        byCategory: byCategory.map((e) => e.streamId),
        byType: byType.map((e) => e.streamId),
        byBoth: byBoth.map((e) => `${e.streamId}/${e.type}`),
        causation: forward[2].causationId,
        head: await store.head(),
        version: await store.streamVersion("account-1"),
        noVersion: await store.streamVersion("account-404"),
      };
      store.close();
      return result;
    }, uniqueName("api-read"));

    assert.deepEqual(result.opened, { nextExpectedVersion: 1, position: result.positions[0] });
    assert.equal(result.deposited.nextExpectedVersion, 3);
    const first = result.first;
    assert.match(first.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(first.streamId, "account-1");
    assert.equal(first.version, 1);
    assert.equal(first.type, "Opened");
    assert.deepEqual(first.data, { owner: "ada" });
    assert.deepEqual(first.metadata, { user: "u1" });
    assert.equal(first.correlationId, "c-1");
    assert.equal(typeof first.recordedAt, "number");
    assert.ok(Math.abs(first.recordedAt - Date.now()) < 60_000, "recordedAt is UTC milliseconds");
    assert.equal(result.causation, "cause-9");
    assert.deepEqual(result.forward, [[1, "Opened"], [2, "Deposited"], [3, "Deposited"]]);
    assert.deepEqual(result.backward, [3, 2]);
    assert.deepEqual(result.fromTwo, [2, 3]);
    assert.equal(result.positions.length, 5);
    assert.deepEqual([...result.positions].sort((a, b) => a - b), result.positions);
    assert.deepEqual(result.afterTwo, result.positions.slice(2, 4), "fromPosition is exclusive");
    assert.deepEqual(result.lastFirst, [result.positions[4]]);
    assert.deepEqual(result.byPrefix, ["account-1", "account-1", "account-1", "account-2"]);
    assert.deepEqual(result.byCategory, ["order-1"]);
    assert.deepEqual(result.byType, ["account-1", "account-2"]);
    assert.deepEqual(result.byBoth, ["account-1/Opened", "account-2/Opened"]);
    assert.equal(result.head, result.positions[4]);
    assert.equal(result.version, 3);
    assert.equal(result.noVersion, 0);
  });

  test("the same reads on an in-memory store", async () => {
    const result = await page.evaluate(async () => {
      const store = await window.evstore.EventStore.inMemory();
      await store.append("cart-1", [{ type: "Added", data: { sku: "a" } }], { expectedVersion: 0 });
      await store.append("cart-1", [{ type: "Added", data: { sku: "b" } }], { expectedVersion: 1 });
      const events = await store.readStream("cart-1", { maxCount: 1, direction: "backward" });
      return { data: events.map((e) => e.data), head: await store.head() };
    });
    assert.deepEqual(result, { data: [{ sku: "b" }], head: 2 });
  });

  test("each expected-version mode, and WrongExpectedVersion / StreamNotFound codes", async () => {
    const r = await page.evaluate(async (name) => {
      const { settle } = window.t;
      const store = await window.evstore.EventStore.open(name);
      const ev = (type) => [{ type, data: {} }];
      const out = {};
      out.noStreamOk = await settle(store.append("s-1", ev("A"), { expectedVersion: "no_stream" }));
      out.noStreamAgain = await settle(store.append("s-1", ev("B"), { expectedVersion: "no_stream" }));
      out.existsMissing = await settle(store.append("s-2", ev("B"), { expectedVersion: "stream_exists" }));
      out.existsOk = await settle(store.append("s-1", ev("B"), { expectedVersion: "stream_exists" }));
      out.exactOk = await settle(store.append("s-1", ev("C"), { expectedVersion: 2 }));
      out.exactStale = await settle(store.append("s-1", ev("D"), { expectedVersion: 2 }));
      out.exactTooHigh = await settle(store.append("s-1", ev("D"), { expectedVersion: 9 }));
      out.exactZeroExisting = await settle(store.append("s-1", ev("D"), { expectedVersion: 0 }));
      out.exactZeroNew = await settle(store.append("s-3", ev("A"), { expectedVersion: 0 }));
      out.anyOk = await settle(store.append("s-1", ev("E"), { expectedVersion: "any" }));
      out.defaultAny = await settle(store.append("s-1", ev("F")));
      out.notFound = await settle(store.readStream("s-404"));
      out.versions = [await store.streamVersion("s-1"), await store.streamVersion("s-2")];
      out.types = (await store.readStream("s-1")).map((e) => e.type).join("");
      store.close();
      return out;
    }, uniqueName("api-expected"));

    assert.deepEqual(r.noStreamOk.value.nextExpectedVersion, 1);
    const wev = (settled, expected, actual) => {
      assert.equal(settled.ok, false, JSON.stringify(settled));
      assert.equal(settled.error.isError, true);
      assert.equal(settled.error.name, "EvstoreError");
      assert.equal(settled.error.code, "WrongExpectedVersion");
      assert.equal(settled.error.expected, expected);
      assert.equal(settled.error.actual, actual);
      assert.ok(settled.error.message.length > 0);
    };
    wev(r.noStreamAgain, "no_stream", 1);
    assert.equal(r.noStreamAgain.error.stream, "s-1");
    wev(r.existsMissing, "stream_exists", 0);
    assert.equal(r.existsOk.value.nextExpectedVersion, 2);
    assert.equal(r.exactOk.value.nextExpectedVersion, 3);
    wev(r.exactStale, 2, 3);
    wev(r.exactTooHigh, 9, 3);
    wev(r.exactZeroExisting, 0, 3);
    assert.equal(r.exactZeroNew.value.nextExpectedVersion, 1);
    assert.equal(r.anyOk.value.nextExpectedVersion, 4);
    assert.equal(r.defaultAny.value.nextExpectedVersion, 5);
    assert.equal(r.notFound.error.code, "StreamNotFound");
    assert.equal(r.notFound.error.stream, "s-404");
    assert.deepEqual(r.versions, [5, 0], "a rejected append writes nothing");
    assert.equal(r.types, "ABCEF");
  });

  test("an idempotent retry with the same ids returns the original result and writes nothing", async () => {
    const r = await page.evaluate(async (name) => {
      const { settle } = window.t;
      const store = await window.evstore.EventStore.open(name);
      const ids = [crypto.randomUUID(), crypto.randomUUID()];
      const batch = [
        { id: ids[0], type: "Opened", data: { owner: "ada" } },
        { id: ids[1], type: "Deposited", data: { amount: 1 } },
      ];
      const first = await store.append("acc-1", batch, { expectedVersion: "no_stream" });
      const headAfterFirst = await store.head();
      const retry = await settle(store.append("acc-1", batch, { expectedVersion: "no_stream" }));
      const retryAny = await settle(store.append("acc-1", batch));
      const reused = await settle(
        store.append("acc-2", [{ id: ids[0], type: "Opened", data: {} }], { expectedVersion: "no_stream" }),
      );
      const partial = await settle(
        store.append("acc-1", [{ id: ids[1], type: "Deposited", data: { amount: 1 } }, { type: "X" }]),
      );
      const out = {
        first,
        retry,
        retryAny,
        reused,
        partial,
        headAfterFirst,
        head: await store.head(),
        acc1: (await store.readStream("acc-1")).map((e) => e.id),
        acc2: await store.streamVersion("acc-2"),
        ids,
      };
      store.close();
      return out;
    }, uniqueName("api-idempotent"));

    assert.deepEqual(r.retry, { ok: true, value: r.first });
    assert.deepEqual(r.retryAny, { ok: true, value: r.first });
    assert.equal(r.reused.error.code, "DuplicateEventId");
    assert.equal(r.reused.error.id, r.ids[0]);
    assert.equal(r.partial.error.code, "DuplicateEventId");
    assert.equal(r.head, r.headAfterFirst, "retries and duplicates wrote nothing");
    assert.deepEqual(r.acc1, r.ids);
    assert.equal(r.acc2, 0);
  });

  test("subscribe delivers history, calls onCaughtUp, then live events, until close()", async () => {
    const r = await page.evaluate(async () => {
      const { until, sleep } = window.t;
      const store = await window.evstore.EventStore.inMemory();
      await store.append("a-1", [{ type: "One" }, { type: "Two" }]);
      await store.append("b-1", [{ type: "Three" }]);
      const seen = [];
      let caughtUp = 0;
      let seenAtCaughtUp;
      const sub = store.subscribe(
        { fromPosition: 0 },
        (e) => {
          seen.push(`${e.position}:${e.type}`);
        },
        {
          onCaughtUp: () => {
            caughtUp += 1;
            seenAtCaughtUp ??= seen.length;
          },
          onError: (error) => seen.push(`error ${error.code}`),
        },
      );
      await until(() => caughtUp > 0, 5000, "onCaughtUp");
      await store.append("a-1", [{ type: "Four" }]);
      await until(() => seen.length === 4, 5000, "the live event");

      // From a position (exclusive), and from the end.
      const afterTwo = [];
      const fromTwo = store.subscribe({ fromPosition: 2 }, (e) => afterTwo.push(e.type));
      const fromEnd = [];
      let endCaughtUp = false;
      const endSub = store.subscribe({ fromPosition: "end" }, (e) => fromEnd.push(e.type), {
        onCaughtUp: () => (endCaughtUp = true),
      });
      // One stream, filtered subscriptions.
      const streamSeen = [];
      const streamSub = store.subscribeToStream("a-1", { fromVersion: 1 }, (e) =>
        streamSeen.push(`${e.version}:${e.type}`),
      );
      const typed = [];
      const typedSub = store.subscribe({ filter: { eventTypes: ["Five"] } }, (e) => typed.push(e.type));
      await until(() => endCaughtUp, 5000, "the end subscription to catch up");

      sub.close();
      const closedFlag = sub.isClosed;
      await store.append("a-1", [{ type: "Five" }]);
      await until(() => fromEnd.length === 1 && streamSeen.length === 3 && typed.length === 1, 5000, "Five");
      await sleep(200);
      const result = {
        seen,
        seenAtCaughtUp,
        closedFlag,
        afterTwo,
        fromEnd,
        streamSeen,
        typed,
      };
      for (const s of [fromTwo, endSub, streamSub, typedSub]) s.close();
      store.close();
      return result;
    });

    assert.deepEqual(r.seen, ["1:One", "2:Two", "3:Three", "4:Four"], "closed subscription saw no more");
    assert.equal(r.seenAtCaughtUp, 3, "onCaughtUp came after the history and before the live event");
    assert.equal(r.closedFlag, true);
    assert.deepEqual(r.afterTwo, ["Three", "Four", "Five"]);
    assert.deepEqual(r.fromEnd, ["Five"]);
    assert.deepEqual(r.streamSeen, ["2:Two", "3:Four", "4:Five"]);
    assert.deepEqual(r.typed, ["Five"]);
  });

  test("subscribeToStream starts after fromVersion (exclusive)", async () => {
    const seen = await page.evaluate(async () => {
      const { until } = window.t;
      const store = await window.evstore.EventStore.inMemory();
      await store.append("x-1", [{ type: "A" }, { type: "B" }, { type: "C" }]);
      await store.append("y-1", [{ type: "Other" }]);
      const seen = [];
      const sub = store.subscribeToStream("x-1", { fromVersion: 1 }, (e) => seen.push(`${e.version}:${e.type}`));
      await until(() => seen.length === 2);
      await store.append("x-1", [{ type: "D" }]);
      await until(() => seen.length === 3);
      sub.close();
      return seen;
    });
    assert.deepEqual(seen, ["2:B", "3:C", "4:D"]);
  });

  test("for await over subscribeAll, then break, ends the subscription", async () => {
    const r = await page.evaluate(async () => {
      const store = await window.evstore.EventStore.inMemory();
      await store.append("a-1", [{ type: "One" }, { type: "Two" }, { type: "Three" }]);
      const seen = [];
      const iterator = store.subscribeAll({ fromPosition: 0 });
      for await (const e of iterator) {
        seen.push(e.type);
        if (seen.length === 2) break;
      }
      const afterBreak = await iterator.next();

      // A live event wakes a waiting `for await`; close() ends it.
      const live = [];
      const second = store.subscribeAll({ fromPosition: "end" });
      const loop = (async () => {
        for await (const e of second) live.push(e.type);
        return "ended";
      })();
      await window.t.sleep(50);
      await store.append("a-1", [{ type: "Live" }]);
      await window.t.until(() => live.length === 1);
      second.close();
      const ended = await Promise.race([loop, window.t.sleep(3000).then(() => "still running")]);
      store.close();
      return { seen, afterBreak, live, ended };
    });
    assert.deepEqual(r.seen, ["One", "Two"]);
    assert.equal(r.afterBreak.done, true, "next() after break is done");
    assert.deepEqual(r.live, ["Live"]);
    assert.equal(r.ended, "ended");
  });

  test("a throwing subscribe callback goes to onError, closes that subscription, and the store still works", async () => {
    const r = await page.evaluate(async () => {
      const { until, sleep } = window.t;
      const store = await window.evstore.EventStore.inMemory();
      await store.append("a-1", [{ type: "One" }, { type: "Two" }]);
      const errors = [];
      let calls = 0;
      const sub = store.subscribe(
        {},
        () => {
          calls += 1;
          throw new Error("handler bug");
        },
        { onError: (error) => errors.push(error.message) },
      );
      await until(() => errors.length === 1, 5000, "onError");
      const rejecting = [];
      const sub2 = store.subscribe({}, async () => Promise.reject(new Error("async bug")), {
        onError: (error) => rejecting.push(error.message),
      });
      await until(() => rejecting.length === 1, 5000, "onError for a rejected promise");
      const appended = await store.append("a-1", [{ type: "Three" }], { expectedVersion: 2 });
      const healthy = [];
      const sub3 = store.subscribe({}, (e) => healthy.push(e.type));
      await until(() => healthy.length === 3);
      await sleep(100);
      const out = {
        calls,
        errors,
        rejecting,
        closed: [sub.isClosed, sub2.isClosed],
        appended,
        healthy,
      };
      sub3.close();
      return out;
    });
    assert.equal(r.calls, 1, "the failed subscription got no more events");
    assert.match(r.errors[0], /handler bug/);
    assert.match(r.rejecting[0], /async bug/);
    assert.deepEqual(r.closed, [true, true]);
    assert.equal(r.appended.nextExpectedVersion, 3);
    assert.deepEqual(r.healthy, ["One", "Two", "Three"]);
  });
});

describe("Projector", () => {
  test("batches, checkpoints, and resumes after its checkpoint when the page reloads", async () => {
    const name = uniqueName("api-projector");
    const first = await page.evaluate(async (name) => {
      const { EventStore, Projector } = window.evstore;
      const { until } = window.t;
      const store = await EventStore.open(name);
      for (let i = 1; i <= 5; i++) {
        await store.append(`account-${i % 2}`, [{ type: "Deposited", data: { amount: i } }]);
      }
      await store.append("audit-1", [{ type: "Noted", data: {} }]);
      const batches = [];
      const projector = new Projector(store);
      projector.add(
        "totals",
        async (events) => {
          batches.push(events.map((e) => e.data.amount));
        },
        { batchSize: 2, flushAfterMs: 50, filter: { eventTypes: ["Deposited"] } },
      );
      const before = await projector.checkpoint("totals");
      await projector.start();
      const running = projector.isRunning;
      const head = await store.head();
      await until(async () => (await projector.checkpoint("totals")) >= 5, 5000, "the checkpoint");
      const status = projector.status("totals");
      await projector.stop();
      return {
        before,
        running,
        stopped: !projector.isRunning,
        batches,
        checkpoint: await projector.checkpoint("totals"),
        head,
        status,
      };
    }, name);

    assert.equal(first.before, 0);
    assert.equal(first.running, true);
    assert.equal(first.stopped, true);
    assert.deepEqual(first.batches.flat(), [1, 2, 3, 4, 5]);
    assert.ok(first.batches.every((b) => b.length <= 2), JSON.stringify(first.batches));
    assert.ok(first.checkpoint >= 5, `checkpoint ${first.checkpoint}`);
    assert.equal(first.status.state, "running");
    assert.equal(first.status.handled, 5);

    await reloadFixture(page);
    const second = await page.evaluate(async (name) => {
      const { EventStore, Projector } = window.evstore;
      const { until } = window.t;
      const store = await EventStore.open(name);
      const seen = [];
      const projector = new Projector(store);
      projector.add("totals", (events) => {
        for (const e of events) seen.push(e.data.amount);
      }, { filter: { eventTypes: ["Deposited"] } });
      const resumedFrom = await projector.checkpoint("totals");
      await projector.start();
      await store.append("account-9", [{ type: "Deposited", data: { amount: 6 } }]);
      const head = await store.head();
      await until(async () => (await projector.checkpoint("totals")) === head, 5000, "the checkpoint");
      await projector.stop();
      const status = projector.status("totals");

      // reset: the next start rebuilds from the beginning.
      await projector.reset("totals");
      const afterReset = await projector.checkpoint("totals");
      const rebuilt = [];
      const again = new Projector(store);
      again.add("totals", (events) => {
        for (const e of events) rebuilt.push(e.data.amount);
      }, { filter: { eventTypes: ["Deposited"] } });
      await again.start();
      await until(async () => (await again.checkpoint("totals")) === head, 5000, "the rebuild");
      await again.stop();
      store.close();
      return { resumedFrom, seen, status, afterReset, rebuilt };
    }, name);

    assert.equal(second.resumedFrom, first.checkpoint, "the checkpoint survived the reload");
    assert.deepEqual(second.seen, [6], "only the event after the checkpoint was handled again");
    assert.equal(second.status.state, "stopped");
    assert.equal(second.afterReset, 0);
    assert.deepEqual(second.rebuilt, [1, 2, 3, 4, 5, 6]);
  });

  test("a projector whose store is closed stops running by itself and may not start again", async () => {
    const r = await page.evaluate(async () => {
      const { EventStore, Projector } = window.evstore;
      const { until } = window.t;
      const store = await EventStore.inMemory();
      await store.append("s-1", [{ type: "A" }]);
      const projector = new Projector(store);
      projector.add("p", () => {});
      await projector.start();
      await until(async () => (await projector.checkpoint("p")) === 1, 5000, "the checkpoint");
      store.close();
      await until(async () => !projector.isRunning, 5000, "the run to end");
      const restart = await projector.start().then(() => "started", (e) => e.code);
      await projector.stop();
      return { running: projector.isRunning, restart, state: projector.status("p").state };
    });
    assert.equal(r.running, false);
    assert.equal(r.restart, "Closed");
    assert.equal(r.state, "stopped");
  });

  test("a failing projection retries, then skips (recorded) or stops, and the others go on", async () => {
    const r = await page.evaluate(async () => {
      const { EventStore, Projector } = window.evstore;
      const { until } = window.t;
      const store = await EventStore.inMemory();
      await store.append("s-1", [{ type: "Ok" }, { type: "Poison" }, { type: "Ok" }]);
      const projector = new Projector(store);
      let attempts = 0;
      const skipped = [];
      projector.add(
        "skipper",
        (events) => {
          for (const e of events) {
            if (e.type === "Poison") {
              attempts += 1;
              throw new Error("cannot handle poison");
            }
            skipped.push(e.position);
          }
        },
        { retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 }, onFailure: "skip" },
      );
      projector.add(
        "stopper",
        (events) => {
          if (events.some((e) => e.type === "Poison")) return Promise.reject(new Error("stop here"));
        },
        { retry: { maxAttempts: 2, initialDelayMs: 1 } },
      );
      const healthy = [];
      projector.add("healthy", (events) => void healthy.push(...events.map((e) => e.position)));
      await projector.start();
      await until(() => healthy.length === 3 && projector.status("stopper")?.state === "failed", 5000, "projections");
      await until(async () => (await projector.checkpoint("skipper")) === 3, 5000, "skipper");
      const out = {
        attempts,
        handled: skipped,
        skipped: await projector.skipped("skipper"),
        stopper: projector.status("stopper"),
        stopperCheckpoint: await projector.checkpoint("stopper"),
        healthy,
        unknown: projector.status("nope") ?? null,
      };
      await projector.stop();
      return out;
    });
    assert.equal(r.attempts, 3);
    assert.deepEqual(r.handled, [1, 3]);
    assert.equal(r.skipped.length, 1);
    assert.equal(r.skipped[0].position, 2);
    assert.equal(r.skipped[0].eventType, "Poison");
    assert.match(r.skipped[0].error, /cannot handle poison/);
    assert.equal(r.stopper.state, "failed");
    assert.equal(r.stopper.failedPosition, 2);
    assert.match(r.stopper.error, /stop here/);
    assert.equal(r.stopperCheckpoint, 1);
    assert.deepEqual(r.healthy, [1, 2, 3]);
    assert.equal(r.unknown, null);
  });
});
