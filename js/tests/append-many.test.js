// `store.appendMany([...])` from JavaScript, on IndexedDB and in memory: all or nothing, a
// conflict naming every stream that failed (`stream`, `others`), idempotent retries, the same
// stream twice, bad input refused with nothing written, and one wake-up of a subscription.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { closeWithReport, launchWithFixture, uniqueName } from "./helpers.js";

let browser;
let page;

before(async () => ({ browser, page } = await launchWithFixture()));
after(() => closeWithReport({ browser, page }));

for (const backend of ["indexeddb", "memory"]) {
  test(`appendMany writes every stream or none (${backend})`, async () => {
    const result = await page.evaluate(
      async ({ name, backend }) => {
        const { EventStore } = window.evstore;
        const store = backend === "memory" ? await EventStore.inMemory() : await EventStore.open(name);
        const event = (n, id) => ({ type: "Moved", data: { n }, ...(id ? { id } : {}) });
        await store.append("from-1", [event(0)]);
        const ids = [crypto.randomUUID(), crypto.randomUUID()];
        const transfer = () => [
          { stream: "from-1", events: [event(1, ids[0])], expectedVersion: 1 },
          { stream: "to-1", events: [event(2, ids[1])], expectedVersion: "no_stream" },
        ];
        const written = await store.appendMany(transfer());
        const retried = await store.appendMany(transfer());

        let conflict;
        try {
          await store.appendMany([
            { stream: "from-1", events: [event(3)], expectedVersion: 1 },
            { stream: "new-1", events: [event(4)] },
            { stream: "to-1", events: [event(5)], expectedVersion: "no_stream" },
          ]);
        } catch (error) {
          conflict = {
            code: error.code,
            stream: error.stream,
            expected: error.expected,
            actual: error.actual,
            others: error.others,
          };
        }
        const twice = await store.appendMany([
          { stream: "cart-1", events: [event(6), event(7)], expectedVersion: "no_stream" },
          { stream: "cart-1", events: [event(8)], expectedVersion: 2 },
        ]);

        const rejected = [];
        for (const bad of [
          [],
          "not an array",
          [null],
          [{ stream: "s-1", events: [] }],
          [{ stream: "", events: [event(9)] }],
          [{ stream: 7, events: [event(9)] }],
          [{ stream: "s-1", events: [{ type: "E", id: "not-a-uuid" }] }],
          [{ stream: "s-1", events: [event(9)], expectedVersion: "sometimes" }],
          [
            { stream: "s-1", events: [event(9, ids[0])] },
            { stream: "s-2", events: [event(10)] },
          ],
        ]) {
          try {
            await store.appendMany(bad);
            rejected.push("accepted");
          } catch (error) {
            rejected.push(error.code);
          }
        }
        const all = (await store.readAll()).map((e) => `${e.streamId}@${e.version}#${e.position}`);
        store.close();
        return { written, retried, conflict, twice, rejected, all };
      },
      { name: uniqueName("append-many"), backend },
    );
    assert.deepEqual(result.written, [
      { nextExpectedVersion: 2, position: 2 },
      { nextExpectedVersion: 1, position: 3 },
    ]);
    assert.deepEqual(result.retried, result.written, "a retry returns the original results");
    assert.deepEqual(result.conflict, {
      code: "WrongExpectedVersion",
      stream: "from-1",
      expected: 1,
      actual: 2,
      others: [{ stream: "to-1", expected: "no_stream", actual: 1 }],
    });
    assert.deepEqual(result.twice, [
      { nextExpectedVersion: 2, position: 5 },
      { nextExpectedVersion: 3, position: 6 },
    ]);
    assert.deepEqual(result.rejected, [
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "InvalidInput",
      "DuplicateEventId",
    ]);
    assert.deepEqual(result.all, [
      "from-1@1#1",
      "from-1@2#2",
      "to-1@1#3",
      "cart-1@1#4",
      "cart-1@2#5",
      "cart-1@3#6",
    ]);
  });
}

test("appendMany wakes a waiting subscription once, with every event of the call", async () => {
  const result = await page.evaluate(async (name) => {
    const store = await window.evstore.EventStore.open(name);
    const seen = [];
    let caughtUp = 0;
    let resolve;
    const done = new Promise((r) => (resolve = r));
    const subscription = store.subscribe(
      { fromPosition: 0 },
      (event) => {
        seen.push({ at: caughtUp, stream: event.streamId, position: event.position });
      },
      {
        onCaughtUp: () => {
          caughtUp += 1;
          if (caughtUp === 2) resolve();
        },
      },
    );
    while (caughtUp < 1) await new Promise((r) => setTimeout(r, 5));
    await store.appendMany([
      { stream: "a-1", events: [{ type: "A" }, { type: "A" }] },
      { stream: "b-1", events: [{ type: "B" }] },
    ]);
    await done;
    subscription.close();
    store.close();
    return seen;
  }, uniqueName("append-many-wake"));
  assert.deepEqual(result, [
    { at: 1, stream: "a-1", position: 1 },
    { at: 1, stream: "a-1", position: 2 },
    { at: 1, stream: "b-1", position: 3 },
  ]);
});
