// Storage pressure in headless Chromium, for real: `store.persist()` and `store.estimate()` in a
// page and in a worker, and a quota that is actually full. Each test lowers its origin's quota
// through the DevTools protocol (`Storage.overrideQuotaForOrigin`) before the page first opens
// IndexedDB (Chromium reads an origin's quota when its IndexedDB first opens and re-reads it only
// when a write does not fit), writes until IndexedDB refuses, checks that nothing of the refused
// write is stored and that the store reads back whole (also through a new handle), then gives
// the room back (removes the override) and writes again.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { closeWithReport, launch, openFixture, uniqueName } from "./helpers.js";

/** The quota each test gives its origin: room for about twenty 40 kB events. */
const SMALL_QUOTA = 1_000_000;

/**
 * Runs `body({ page, origin, setQuota, cdpUsage })` in a fresh Chromium whose origin's quota is
 * `quota` bytes (or the browser's own with `undefined`). `setQuota(undefined)` gives the
 * browser's quota back.
 */
async function withQuota(quota, body) {
  const browser = await launch();
  let page;
  try {
    page = await openFixture(browser.context);
    // `noise(n)`: n characters that do not compress (Chromium compresses large IndexedDB
    // values, so a repeated character would take almost no room).
    await page.evaluate(() => {
      window.noise = (length) =>
        Array.from(crypto.getRandomValues(new Uint8Array(Math.ceil(length / 2))), (byte) =>
          byte.toString(16).padStart(2, "0"),
        )
          .join("")
          .slice(0, length);
    });
    const origin = new URL(page.url()).origin;
    const cdp = await browser.context.newCDPSession(page);
    const setQuota = (quotaSize) =>
      cdp.send("Storage.overrideQuotaForOrigin", quotaSize === undefined ? { origin } : { origin, quotaSize });
    const cdpUsage = async () => (await cdp.send("Storage.getUsageAndQuota", { origin })).usage;
    if (quota !== undefined) await setQuota(quota);
    await body({ page, origin, cdp, setQuota, cdpUsage });
    // A sync client that cannot reach its server has the browser log its failed requests.
    const problems = page.problems.filter((problem) => !/Failed to load resource|net::ERR_/.test(problem));
    assert.deepEqual(problems, [], "no uncaught error in the page");
  } finally {
    await closeWithReport({ browser, page });
  }
}

describe("storage quota", () => {
  test("persist() and estimate() answer for the origin in a page and in a worker; a closed store rejects", async () => {
    await withQuota(undefined, async ({ page, origin, cdp, cdpUsage }) => {
      const name = uniqueName("quota-estimate");
      const first = await page.evaluate(async (name) => {
        const { EventStore } = window.evstore;
        const store = await EventStore.open(name);
        const empty = await store.estimate();
        const text = window.noise(100_000);
        await store.append("note-1", [{ type: "Noted", data: { text } }]);
        const memory = await EventStore.inMemory();
        return {
          persisted: await navigator.storage.persisted(),
          persist: await store.persist(),
          empty,
          filled: await store.estimate(),
          memory: await memory.estimate(),
          memoryPersist: await memory.persist(),
        };
      }, name);
      // Before the origin is granted persistence, persist() says what the browser decided.
      assert.equal(typeof first.persist, "boolean");
      assert.equal(first.persist, first.persisted);
      assert.equal(first.filled.persisted, first.persisted);
      for (const estimate of [first.empty, first.filled, first.memory]) {
        assert.deepEqual(Object.keys(estimate).sort(), ["persisted", "quota", "usage"]);
        assert.ok(Number.isSafeInteger(estimate.usage) && estimate.usage >= 0, JSON.stringify(estimate));
        assert.ok(Number.isSafeInteger(estimate.quota) && estimate.quota >= estimate.usage, JSON.stringify(estimate));
      }
      assert.ok(first.filled.usage >= first.empty.usage + 50_000, `the append shows in the usage: ${JSON.stringify(first)}`);
      assert.equal(first.filled.usage, await cdpUsage(), "the browser's own accounting");
      assert.equal(first.memory.usage, first.filled.usage, "the estimate is the origin's, whichever store asks");
      assert.equal(first.memoryPersist, first.persisted);

      // Once the browser grants durable storage, persist() resolves true, in a worker too.
      await cdp.send("Browser.grantPermissions", { permissions: ["durableStorage"], origin });
      const granted = await page.evaluate(async (name) => {
        const { EventStore } = window.evstore;
        const store = await EventStore.open(name);
        const out = { persist: await store.persist(), estimate: await store.estimate() };
        store.close();
        out.closedPersist = await window.t.settle(store.persist());
        out.closedEstimate = await window.t.settle(store.estimate());
        // A module worker on the same origin: navigator.storage is there, persist() is not.
        const source = `import init, * as evstore from "${location.origin}/pkg/evstore.js";
          await init();
          const store = await evstore.EventStore.open(${JSON.stringify(name)});
          await store.append("note-1", [{ type: "Noted", data: { text: "from the worker" } }]);
          postMessage({
            hasPersist: typeof navigator.storage.persist,
            persist: await store.persist(),
            estimate: await store.estimate(),
            version: await store.streamVersion("note-1"),
          });`;
        const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
        const worker = new Worker(url, { type: "module" });
        out.worker = await new Promise((resolve, reject) => {
          worker.onmessage = (event) => resolve(event.data);
          worker.onerror = (event) => reject(new Error(`worker: ${event.message}`));
        });
        worker.terminate();
        return out;
      }, name);
      assert.equal(granted.persist, true);
      assert.equal(granted.estimate.persisted, true);
      for (const closed of [granted.closedPersist, granted.closedEstimate]) {
        assert.equal(closed.ok, false);
        assert.equal(closed.error.code, "Closed");
      }
      assert.equal(granted.worker.hasPersist, "undefined", "workers have no navigator.storage.persist");
      assert.equal(granted.worker.persist, true, "in a worker: whether the origin is persistent");
      assert.equal(granted.worker.estimate.persisted, true);
      assert.ok(granted.worker.estimate.usage >= first.filled.usage, JSON.stringify(granted.worker));
      assert.equal(granted.worker.version, 2);
    });
  });

  test("an append past the quota is QuotaExceeded, writes nothing of its batch, and works again once there is room", async () => {
    await withQuota(SMALL_QUOTA, async ({ page, setQuota }) => {
      const name = uniqueName("quota-append");
      const full = await page.evaluate(async (name) => {
        const { EventStore, isEvstoreError } = window.evstore;
        const store = await EventStore.open(name);
        window.quotaStore = store;
        const text = window.noise(40_000);
        let accepted = 0;
        let refused;
        // Batches of three 40 kB events, until IndexedDB refuses one (the loop is bounded).
        for (let batch = 0; batch < 100 && refused === undefined; batch++) {
          const events = [0, 1, 2].map((i) => ({ type: "Noted", data: { text, batch, i } }));
          try {
            await store.append("note-1", events, { expectedVersion: accepted });
            accepted += 3;
          } catch (error) {
            refused = {
              isError: error instanceof Error,
              name: error.name,
              code: error.code,
              reason: error.reason,
              message: error.message,
              narrowed: isEvstoreError(error, "QuotaExceeded"),
              notStorage: isEvstoreError(error, "Storage"),
            };
          }
        }
        const events = await store.readStream("note-1").catch(() => []);
        // A second handle reads the same, whole.
        const other = await EventStore.open(name);
        const again = await other.readAll();
        other.close();
        return {
          accepted,
          refused,
          version: await store.streamVersion("note-1"),
          head: await store.head(),
          versions: events.map((e) => e.version),
          lastPosition: events.at(-1)?.position,
          intact: events.every((e) => e.data.text === text && e.data.i === (e.version - 1) % 3),
          again: again.map((e) => e.version),
        };
      }, name);
      assert.ok(full.refused, `IndexedDB refused nothing after ${full.accepted} events`);
      assert.ok(full.accepted >= 3, "the quota leaves room for some batches first");
      assert.equal(full.refused.isError, true);
      assert.equal(full.refused.name, "EvstoreError");
      assert.equal(full.refused.code, "QuotaExceeded");
      assert.equal(full.refused.narrowed, true);
      assert.equal(full.refused.notStorage, false);
      assert.match(full.refused.reason, /quota/);
      assert.match(full.refused.message, /^storage quota exceeded: IndexedDB /);
      // Nothing of the refused batch: the stream ends at the last accepted batch.
      const expected = Array.from({ length: full.accepted }, (_, i) => i + 1);
      assert.equal(full.version, full.accepted);
      assert.deepEqual(full.versions, expected);
      assert.equal(full.head, full.lastPosition);
      assert.equal(full.intact, true);
      assert.deepEqual(full.again, expected);

      // Room again: the same handle appends, and a fresh handle reads everything.
      await setQuota(undefined);
      const after = await page.evaluate(async ({ name, accepted }) => {
        const store = window.quotaStore;
        const text = window.noise(40_000);
        const appended = await store.append(
          "note-1",
          [0, 1, 2].map((i) => ({ type: "Noted", data: { text, i } })),
          { expectedVersion: accepted },
        );
        store.close();
        const reopened = await window.evstore.EventStore.open(name);
        const events = await reopened.readAll();
        reopened.close();
        return { appended, versions: events.map((e) => e.version) };
      }, { name, accepted: full.accepted });
      assert.equal(after.appended.nextExpectedVersion, full.accepted + 3);
      assert.deepEqual(after.versions, [...expected, full.accepted + 1, full.accepted + 2, full.accepted + 3]);
    });
  });

  test("an import past the quota stops with QuotaExceeded after whole batches; once there is room it completes", async () => {
    await withQuota(SMALL_QUOTA, async ({ page, setQuota }) => {
      const name = uniqueName("quota-import");
      const streams = ["doc-1", "doc-2", "doc-3", "doc-4", "doc-5", "doc-6"];
      const first = await page.evaluate(async ({ name, streams }) => {
        const { EventStore } = window.evstore;
        // The export: six streams of ten 20 kB events (the importer writes one batch per
        // stream), made in memory, so only the import writes to IndexedDB.
        const source = await EventStore.inMemory();
        for (const stream of streams) {
          const events = Array.from({ length: 10 }, (_, i) => ({ type: "Edited", data: { text: window.noise(20_000), i } }));
          await source.append(stream, events);
        }
        window.quotaExport = await source.exportJsonl();
        const store = await EventStore.open(name);
        const imported = await window.t.settle(store.importJsonl(window.quotaExport));
        const versions = [];
        for (const stream of streams) versions.push(await store.streamVersion(stream));
        store.close();
        return { imported, versions };
      }, { name, streams });
      assert.equal(first.imported.ok, false, "the import does not fit");
      assert.equal(first.imported.error.code, "QuotaExceeded");
      // Every stream is whole or absent: a refused batch writes nothing.
      for (const version of first.versions) assert.ok(version === 0 || version === 10, JSON.stringify(first.versions));
      assert.ok(first.versions.includes(0), JSON.stringify(first.versions));

      await setQuota(undefined);
      const second = await page.evaluate(async ({ name, streams }) => {
        const store = await window.evstore.EventStore.open(name);
        const summary = await store.importJsonl(window.quotaExport);
        const versions = [];
        for (const stream of streams) versions.push(await store.streamVersion(stream));
        const total = (await store.readAll()).length;
        store.close();
        return { summary, versions, total };
      }, { name, streams });
      const already = first.versions.filter((v) => v === 10).length * 10;
      assert.deepEqual(second.summary, { events: 60, imported: 60 - already, alreadyPresent: already });
      assert.deepEqual(second.versions, streams.map(() => 10));
      assert.equal(second.total, 60);
    });
  });

  test("the sync outbox and projection checkpoints past the quota are QuotaExceeded too, and go on once there is room", async () => {
    await withQuota(SMALL_QUOTA, async ({ page, setQuota }) => {
      const name = uniqueName("quota-outbox");
      const full = await page.evaluate(async (name) => {
        const { EventStore, Projector } = window.evstore;
        // The projection's store; the synced one must start empty.
        const store = await EventStore.open(`${name}-projected`);
        window.quotaStore = store;
        await store.append("task-1", [{ type: "Added" }, { type: "Added" }]);
        const synced = await EventStore.open(name);
        window.quotaSynced = synced;
        // Offline: nothing listens on the discard port (browsers refuse it outright), so every
        // sync.append only goes to the outbox.
        const sync = await synced.sync({ url: "http://127.0.0.1:9" });
        window.quotaSync = sync;
        let accepted = 0;
        let refused;
        for (let batch = 0; batch < 100 && refused === undefined; batch++) {
          const events = [0, 1, 2].map((i) => ({ type: "Noted", data: { text: window.noise(40_000), i } }));
          try {
            await sync.append("note-1", events, { expectedVersion: accepted });
            accepted += 3;
          } catch (error) {
            refused = { code: error.code, reason: error.reason };
          }
        }
        const pending = await sync.pending();
        const read = await sync.readStream("note-1", { includePending: true });
        // A projection that gives up on every event records each skip, with its 100 kB error,
        // in its checkpoint: the checkpoint no longer fits.
        const projector = new Projector(store);
        window.quotaProjector = projector;
        projector.add(
          "fails",
          () => {
            throw new Error(window.noise(100_000));
          },
          { onFailure: "skip", retry: { maxAttempts: 1 } },
        );
        await projector.start();
        const status = await window.t.until(
          () => (projector.status("fails")?.state === "failed" ? projector.status("fails") : null),
          10_000,
          "the projection to fail",
        );
        await projector.stop();
        return {
          accepted,
          refused,
          batches: pending.map((b) => b.events.length),
          versions: read.map((e) => e.version),
          status,
          checkpoint: await projector.checkpoint("fails"),
        };
      }, name);
      assert.ok(full.refused, `the outbox took everything: ${full.accepted} events`);
      assert.equal(full.refused.code, "QuotaExceeded");
      assert.match(full.refused.reason, /outbox/);
      assert.deepEqual(full.batches, Array(full.accepted / 3).fill(3), "the outbox holds the accepted batches only");
      assert.deepEqual(full.versions, Array.from({ length: full.accepted }, (_, i) => i + 1));
      assert.equal(full.status.state, "failed");
      assert.match(full.status.error, /^storage quota exceeded: IndexedDB saving a checkpoint/);
      assert.equal(full.checkpoint, 0, "no checkpoint was saved");

      await setQuota(undefined);
      const after = await page.evaluate(async (accepted) => {
        const appended = await window.quotaSync.append("note-1", [{ type: "Noted", data: { i: 0 } }], {
          expectedVersion: accepted,
        });
        const projector = window.quotaProjector;
        await projector.start();
        await projector.waitFor();
        await projector.stop();
        const out = {
          appended,
          pending: (await window.quotaSync.pending()).length,
          checkpoint: await projector.checkpoint("fails"),
          skipped: (await projector.skipped("fails")).map((s) => s.position),
        };
        window.quotaSync.stop();
        window.quotaSynced.close();
        window.quotaStore.close();
        return out;
      }, full.accepted);
      assert.equal(after.appended.pending, true);
      assert.equal(after.appended.nextExpectedVersion, full.accepted + 1);
      assert.equal(after.pending, full.accepted / 3 + 1);
      assert.equal(after.checkpoint, 2);
      assert.deepEqual(after.skipped, [1, 2]);
    });
  });

  test("creating a database when the origin is full is QuotaExceeded; it opens once there is room", async () => {
    await withQuota(1_000, async ({ page, setQuota }) => {
      const name = uniqueName("quota-open");
      const refused = await page.evaluate((name) => window.t.settle(window.evstore.EventStore.open(name)), name);
      assert.equal(refused.ok, false);
      assert.equal(refused.error.code, "QuotaExceeded", JSON.stringify(refused.error));
      assert.match(refused.error.reason, /creating or upgrading the database/);

      await setQuota(undefined);
      const opened = await page.evaluate(async (name) => {
        const store = await window.evstore.EventStore.open(name);
        await store.append("note-1", [{ type: "Noted" }], { expectedVersion: "no_stream" });
        const events = await store.readAll();
        store.close();
        return events.map((e) => [e.streamId, e.version]);
      }, name);
      assert.deepEqual(opened, [["note-1", 1]]);
    });
  });
});
