// Two tabs (pages of one browser context) on one IndexedDB database: live updates cross tabs
// within a second through BroadcastChannel, and concurrent appends to one stream with the same
// expected version let exactly one through.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launch, openFixture, uniqueName } from "./helpers.js";

let browser;
let pageA;
let pageB;
const name = uniqueName("cross-tab");

before(async () => {
  browser = await launch();
  pageA = await openFixture(browser.context);
  pageB = await openFixture(browser.context);
  for (const page of [pageA, pageB]) {
    await page.evaluate(async (name) => {
      window.store = await window.evstore.EventStore.open(name);
    }, name);
  }
});

after(async () => {
  for (const page of [pageA, pageB]) if (page?.problems.length) console.log(page.problems.join("\n"));
  await browser?.close();
});

describe("two tabs of one browser", () => {
  test("an append in tab A reaches tab B's subscription within 1 s", async () => {
    await pageB.evaluate(async () => {
      window.received = [];
      let caughtUp = false;
      window.subscription = window.store.subscribe(
        { fromPosition: "end" },
        (e) => window.received.push({ type: e.type, data: e.data, at: Date.now() }),
        { onCaughtUp: () => (caughtUp = true) },
      );
      await window.t.until(() => caughtUp, 5000, "tab B to catch up");
    });

    const latencies = [];
    for (let round = 0; round < 5; round++) {
      const sentAt = await pageA.evaluate(async (round) => {
        const sentAt = Date.now();
        await window.store.append("chat-1", [{ type: "Said", data: { round } }]);
        return sentAt;
      }, round);
      const got = await pageB.evaluate(
        (round) => window.t.until(() => window.received.find((e) => e.data.round === round), 3000, `round ${round}`),
        round,
      );
      latencies.push(got.at - sentAt);
    }
    console.log(`cross-tab latency (ms): ${latencies.join(", ")}`);
    assert.ok(latencies.every((ms) => ms < 1000), `latencies ${latencies}`);
    const types = await pageB.evaluate(() => window.received.map((e) => e.data.round));
    assert.deepEqual(types, [0, 1, 2, 3, 4], "each event once, in order");
    await pageB.evaluate(() => window.subscription.close());
  });

  test("a projector in tab B follows appends made in tab A", async () => {
    await pageB.evaluate(async () => {
      window.projected = [];
      window.projector = new window.evstore.Projector(window.store);
      window.projector.add("chat-log", (events) => void window.projected.push(...events.map((e) => e.data.text)), {
        filter: { eventTypes: ["Posted"] },
      });
      await window.projector.start();
    });
    await pageA.evaluate(() => window.store.append("chat-2", [{ type: "Posted", data: { text: "hello from A" } }]));
    const projected = await pageB.evaluate(() => window.t.until(() => window.projected.length === 1 && window.projected, 1000, "projection"));
    assert.deepEqual(projected, ["hello from A"]);
    await pageB.evaluate(() => window.projector.stop());
  });

  test(
    "closing a subscription while its wake-up read is in flight raises no uncaught error",
    async () => {
      pageB.problems.length = 0;
      for (let round = 0; round < 3; round++) {
        await pageB.evaluate(async (name) => {
          let caughtUp = false;
          const sub = window.store.subscribe({ fromPosition: "end" }, () => {}, { onCaughtUp: () => (caughtUp = true) });
          await window.t.until(() => caughtUp);
          // Runs right after evstore's own listener on the same channel has started the read.
          const channel = new BroadcastChannel(`evstore:${name}`);
          channel.onmessage = () => {
            sub.close();
            channel.close();
          };
        }, name);
        await pageA.evaluate(() => window.store.append("wake-1", [{ type: "Wake" }]));
        await pageB.waitForTimeout(100);
      }
      const problems = [...pageB.problems];
      pageB.problems.length = 0;
      assert.deepEqual(problems, []);
    },
  );

  test("concurrent appends with the same expected version: exactly one WrongExpectedVersion", async () => {
    const rounds = 8;
    for (let round = 0; round < rounds; round++) {
      const stream = `race-${round}`;
      await pageA.evaluate((stream) => window.store.append(stream, [{ type: "Created" }], { expectedVersion: "no_stream" }), stream);
      // Both tabs fire at the same wall-clock moment.
      const at = Date.now() + 150;
      const fire = (page, who) =>
        page.evaluate(
          async ({ stream, at, who }) => {
            const version = await window.store.streamVersion(stream);
            await window.t.sleep(Math.max(0, at - Date.now()));
            return window.t.settle(window.store.append(stream, [{ type: "Edited", data: { who } }], { expectedVersion: version }));
          },
          { stream, at, who },
        );
      const results = await Promise.all([fire(pageA, "A"), fire(pageB, "B")]);
      const winners = results.filter((r) => r.ok);
      const losers = results.filter((r) => !r.ok);
      assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`);
      assert.equal(losers.length, 1, `round ${round}: ${JSON.stringify(results)}`);
      assert.equal(losers[0].error.code, "WrongExpectedVersion");
      assert.equal(losers[0].error.expected, 1);
      assert.equal(losers[0].error.actual, 2);
      const events = await pageB.evaluate((stream) => window.store.readStream(stream), stream);
      assert.deepEqual(events.map((e) => e.version), [1, 2], "the loser wrote nothing");
    }
  });
});
