// Offline-first sync end to end: the browser package's `store.sync()` against a real
// `evstore serve` (spawned here on a free 127.0.0.1 port), in headless Chromium.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { freePort, http, serve, stopServers } from "./evstore-serve.js";
import { launch, openFixture, reloadFixture, uniqueName } from "./helpers.js";

const work = mkdtempSync(join(tmpdir(), "evstore-sync-"));
const ADMIN = "admin-token-0123456789";
const TEAM_A = "team-a-token-0123456789";
const tokensFile = join(work, "tokens.json");
writeFileSync(
  tokensFile,
  JSON.stringify({
    tokens: [
      { name: "admin", token: ADMIN, read: [""], append: [""] },
      { name: "team-a", token: TEAM_A, read: ["team-a-"], append: ["team-a-"] },
    ],
  }),
);

const browsers = new Set();
after(async () => {
  await stopServers();
  for (const browser of browsers) await browser.close();
  rmSync(work, { recursive: true, force: true });
});

async function serverEvents(server, token) {
  const { body } = await http(server, "/v1/all?maxCount=1000", { token });
  return body.events;
}

async function browser() {
  const opened = await launch();
  browsers.add(opened);
  return opened;
}

/** A fixture tab with `window.store` on IndexedDB database `name`. */
async function tab(context, name) {
  const page = await openFixture(context);
  await page.evaluate(async (name) => {
    window.store = await window.evstore.EventStore.open(name);
  }, name);
  return page;
}

/** Starts `window.sync` in `page` (the conflict callback merges, recording what it was told). */
function startSync(page, url, options = {}) {
  return page.evaluate(
    async ({ url, options }) => {
      window.conflicts = [];
      window.sync = await window.store.sync({
        url,
        ...options,
        onConflict: options.merge
          ? (conflict) => {
              window.conflicts.push(conflict);
              return [{ type: "Merged", data: { mine: conflict.pending.length, theirs: conflict.theirs.length } }];
            }
          : undefined,
      });
    },
    { url, options },
  );
}

describe("sync with evstore serve", () => {
  test("sync: appends made offline survive a reload and reach the server once", async () => {
    const { context } = await browser();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const name = uniqueName("sync-reload");
    let page = await tab(context, name);
    await startSync(page, url);
    const appended = await page.evaluate(async () => {
      const a = await window.sync.append("todo-1", [{ type: "Added", data: { n: 1 } }], { expectedVersion: "no_stream" });
      const b = await window.sync.append("todo-1", [{ type: "Added", data: { n: 2 } }], { expectedVersion: 1 });
      const stale = await window.t.settle(window.sync.append("todo-1", [{ type: "X" }], { expectedVersion: 1 }));
      const read = await window.sync.readStream("todo-1", { includePending: true });
      const direct = await window.t.settle(window.store.append("todo-1", [{ type: "X" }]));
      const flushed = await window.t.settle(window.sync.flush());
      return { a, b, stale, read, direct, flushed, status: window.sync.status, head: await window.store.head() };
    });
    assert.equal(appended.direct.error.code, "InvalidInput", "a synced store takes appends through its handle");
    assert.match(appended.direct.error.message, /sync\.append\(\)/);
    assert.equal(appended.head, 0, "nothing written to the mirror");
    assert.equal(appended.a.pending, true);
    assert.equal(appended.b.nextExpectedVersion, 2);
    assert.equal(appended.stale.error.code, "WrongExpectedVersion", "checked against confirmed + pending");
    assert.deepEqual(appended.read.map((e) => [e.version, e.position, e.pending]), [[1, 0, true], [2, 0, true]]);
    assert.equal(appended.flushed.error.code, "Network", "no server yet");
    assert.equal(appended.status.pending, 2);
    // The sync loop keeps retrying beside the flush: a retry in flight shows "syncing" until it
    // fails too, so wait for where it settles instead of reading one instant.
    const offline = await page.evaluate(() =>
      window.t.until(() => window.sync.status.state === "offline", 10_000, "offline").then(() => window.sync.status),
    );
    assert.equal(offline.pending, 2);

    await reloadFixture(page);
    await page.evaluate(async (name) => {
      window.store = await window.evstore.EventStore.open(name);
    }, name);
    // Syncing starts again before the server exists, so nothing can leave the outbox before it
    // is counted (with the server up, the new syncer's first round could confirm it first).
    await startSync(page, url);
    const before = await page.evaluate(async () => (await window.sync.pending()).length);
    assert.equal(before, 2, "the outbox survived the reload");
    const server = await serve(join(work, `${name}.db`), port);
    const after = await page.evaluate(async () => {
      await window.sync.flush();
      // A round of the sync loop may still be running beside the flush's own.
      await window.t.until(() => window.sync.status.state === "online", 10_000, "online");
      return { status: window.sync.status, mirror: await window.store.readAll() };
    });
    assert.equal(after.status.pending, 0);
    assert.equal(after.status.state, "online");
    const onServer = await serverEvents(server);
    assert.deepEqual(onServer.map((e) => e.data.n), [1, 2], "each once, in order");
    assert.deepEqual(after.mirror, onServer, "the mirror holds the server's events at its positions");
    await page.evaluate(() => window.sync.stop());
    await server.kill();
  });

  test("sync: two browsers edit one stream offline; one wins, the other's callback sees both sides", async () => {
    const port = await freePort();
    const server = await serve(join(work, "conflict.db"), port);
    const [a, b] = [await browser(), await browser()];
    const pageA = await tab(a.context, uniqueName("sync-a"));
    const pageB = await tab(b.context, uniqueName("sync-b"));
    await startSync(pageA, server.url, { merge: true });
    await startSync(pageB, server.url, { merge: true });
    await pageA.evaluate(async () => {
      await window.sync.append("card-1", [{ type: "Created", data: { title: "milk" } }], { expectedVersion: "no_stream" });
      await window.sync.flush();
    });
    await pageB.evaluate(() => window.t.until(async () => (await window.store.streamVersion("card-1")) === 1, 10_000, "card-1"));

    await a.context.setOffline(true);
    await b.context.setOffline(true);
    for (const [page, who] of [[pageA, "a"], [pageB, "b"]]) {
      await page.evaluate(async (who) => {
        await window.sync.append("card-1", [{ type: "Renamed", data: { by: who } }], { expectedVersion: 1 });
        await window.sync.append(`card-${who}`, [{ type: "Created", data: { by: who } }], { expectedVersion: "no_stream" });
      }, who);
    }
    await a.context.setOffline(false);
    await pageA.evaluate(() => window.sync.flush());
    await b.context.setOffline(false);
    const seen = await pageB.evaluate(async () => {
      await window.sync.flush();
      return { conflicts: window.conflicts, status: window.sync.status };
    });
    assert.equal(seen.conflicts.length, 1);
    assert.equal(seen.conflicts[0].stream, "card-1");
    assert.deepEqual(seen.conflicts[0].pending.map((e) => e.data.by), ["b"], "its own pending edit");
    assert.deepEqual(seen.conflicts[0].theirs.map((e) => e.data.by), ["a"], "the winner's edit");
    assert.deepEqual(seen.status.conflicts, [], "resolved, nothing dropped");
    const { body } = await http(server, "/v1/streams/card-1");
    assert.deepEqual(body.events.map((e) => [e.version, e.type]), [[1, "Created"], [2, "Renamed"], [3, "Merged"]]);
    assert.equal(body.events[1].data.by, "a");
    for (const who of ["a", "b"]) {
      const { body } = await http(server, `/v1/streams/card-${who}`);
      assert.equal(body.events.length, 1, `card-${who} synced untouched`);
    }
    // A catches up with B's resolution.
    await pageA.evaluate(() => window.t.until(async () => (await window.store.streamVersion("card-1")) === 3, 10_000, "merge"));
    for (const page of [pageA, pageB]) await page.evaluate(() => window.sync.stop());
    await server.kill();
  });

  test("sync: two tabs of one browser elect one syncer; both tabs' appends are pushed once", async () => {
    const port = await freePort();
    const server = await serve(join(work, "tabs.db"), port);
    const { context } = await browser();
    const name = uniqueName("sync-tabs");
    const pages = [await tab(context, name), await tab(context, name)];
    for (const page of pages) await startSync(page, server.url);
    const syncers = await Promise.all(
      pages.map((page) => page.evaluate(() => window.t.until(() => window.sync.isSyncer || "no", 2000).catch(() => false))),
    );
    assert.equal(syncers.filter((s) => s === true).length, 1, `exactly one syncer: ${syncers}`);
    for (const [i, page] of pages.entries()) {
      await page.evaluate(async (i) => {
        for (let n = 0; n < 5; n++) await window.sync.append(`tab-${i}`, [{ type: "Typed", data: { n } }]);
      }, i);
    }
    for (const page of pages) await page.evaluate(() => window.sync.flush());
    const onServer = await serverEvents(server);
    assert.equal(onServer.length, 10);
    assert.equal(new Set(onServer.map((e) => e.id)).size, 10, "each once");
    // Both tabs see the confirmations.
    for (const page of pages) {
      const status = await page.evaluate(() =>
        window.t.until(() => (window.sync.status.pending === 0 ? window.sync.status : null), 10_000, "pending 0"),
      );
      assert.equal(status.lastPulledPosition, 10);
    }
    // The syncer stops: the other tab takes over.
    const syncer = syncers.indexOf(true);
    await pages[syncer].evaluate(() => window.sync.stop());
    const other = pages[1 - syncer];
    await other.evaluate(() => window.t.until(() => window.sync.isSyncer, 5000, "the other tab to take over"));
    await other.evaluate(async () => {
      await window.sync.append("tab-x", [{ type: "Typed" }]);
      await window.sync.flush();
    });
    assert.equal((await serverEvents(server)).length, 11);
    await other.evaluate(() => window.sync.stop());
    await server.kill();
  });

  test("sync: a dedicated Worker syncs its IndexedDB store: its append reaches the server, the server's events its mirror", async () => {
    const port = await freePort();
    const server = await serve(join(work, "worker.db"), port);
    const { context } = await browser();
    const page = await openFixture(context);
    const name = uniqueName("sync-worker");
    const started = await page.evaluate(
      async ({ url, name }) => {
        window.worker = new Worker("/js/tests/fixtures/sync-worker.js", { type: "module" });
        window.ask = (message) =>
          new Promise((resolve, reject) => {
            window.worker.onmessage = ({ data }) => resolve(data);
            window.worker.onerror = (event) => reject(new Error(`worker error: ${event.message}`));
            window.worker.postMessage(message);
          });
        return window.ask({ do: "start", url, name });
      },
      { url: server.url, name },
    );
    assert.ok(started.ok, JSON.stringify(started.error));
    assert.equal(started.value.appended.pending, true);
    assert.equal(started.value.isSyncer, true, "the worker holds the origin's sync lock");
    assert.equal(started.value.status.pending, 0, "flushed");
    assert.equal(started.value.status.lastError, null);
    const received = await serverEvents(server);
    assert.deepEqual(received.map((e) => [e.streamId, e.type, e.data.n]), [["worker-1", "FromWorker", 1]]);
    assert.deepEqual(started.value.mirror, received, "the worker's mirror is the server's log");

    // An event appended on the server arrives in the worker's mirror (its long-poll pull).
    const { status } = await http(server, "/v1/streams/server-1", { method: "POST", body: { events: [{ type: "FromServer" }] } });
    assert.equal(status, 200);
    const pulled = await page.evaluate(() => window.ask({ do: "await", stream: "server-1" }));
    assert.ok(pulled.ok, JSON.stringify(pulled.error));
    assert.deepEqual(pulled.value.events, (await serverEvents(server)).filter((e) => e.streamId === "server-1"));
    await page.evaluate(() => window.worker.terminate());
    await server.kill();
  });

  test("sync: a token limited to a prefix pulls only its streams; a push outside is rejected", async () => {
    const port = await freePort();
    const server = await serve(join(work, "tokens.db"), port, ["--tokens", tokensFile]);
    for (const stream of ["team-a-1", "team-b-1", "team-a-2"]) {
      const { status } = await http(server, `/v1/streams/${stream}`, {
        method: "POST",
        body: { events: [{ type: "Seeded" }] },
        token: ADMIN,
      });
      assert.equal(status, 200);
    }
    const { context } = await browser();
    const page = await tab(context, uniqueName("sync-token"));
    await startSync(page, server.url, { token: TEAM_A });
    const result = await page.evaluate(async () => {
      await window.sync.flush();
      const mirror = await window.store.readAll();
      await window.sync.append("team-b-1", [{ type: "Sneaky" }]);
      const flushed = await window.t.settle(window.sync.flush());
      return { mirror, flushed, status: window.sync.status };
    });
    assert.deepEqual(result.mirror.map((e) => e.streamId), ["team-a-1", "team-a-2"]);
    assert.equal(result.flushed.error.code, "SyncRejected");
    assert.equal(result.status.rejected.length, 1);
    assert.equal(result.status.rejected[0].code, "Forbidden");
    assert.equal(result.status.rejected[0].dropped[0].type, "Sneaky");
    assert.equal(result.status.pending, 0);
    const { body } = await http(server, "/v1/streams/team-b-1", { token: ADMIN });
    assert.equal(body.events.length, 1, "nothing written outside the token's rights");
    await page.evaluate(() => window.sync.stop());
    await server.kill();
  });

  test("sync: a server SIGKILLed while the browser pushes, then restarted, gets every event exactly once", async () => {
    const port = await freePort();
    const db = join(work, "killed.db");
    const url = `http://127.0.0.1:${port}`;
    const { context } = await browser();
    const page = await tab(context, uniqueName("sync-kill"));
    await startSync(page, url);
    await page.evaluate(async () => {
      for (let n = 0; n < 600; n++) await window.sync.append(`s-${n % 6}`, [{ type: "E", data: { n } }]);
    });
    let server = await serve(db, port);
    // The syncer retries with backoff; kill the server once the first batches are in.
    for (let i = 0; i < 2000; i++) {
      const { body } = await http(server, "/v1/head");
      if (body.position > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await server.kill("SIGKILL");
    server = await serve(db, port);
    await page.evaluate(() => window.t.until(async () => (await window.sync.pending()).length === 0, 60_000, "the outbox to drain"));
    const onServer = [];
    for (let after = 0; ; ) {
      const { body } = await http(server, `/v1/all?fromPosition=${after}&maxCount=1000`);
      if (body.events.length === 0) break;
      onServer.push(...body.events);
      after = body.events.at(-1).position;
    }
    assert.equal(onServer.length, 600);
    assert.equal(new Set(onServer.map((e) => e.id)).size, 600, "nothing doubled");
    for (let s = 0; s < 6; s++) {
      const ns = onServer.filter((e) => e.streamId === `s-${s}`).map((e) => e.data.n);
      assert.deepEqual(ns, [...ns].sort((x, y) => x - y), `s-${s} in order`);
    }
    await page.evaluate(() => window.sync.stop());
    await server.kill();
  });
});
