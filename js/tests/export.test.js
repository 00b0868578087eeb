// The JSON-lines export across targets: a browser store (IndexedDB) saved with exportJsonl(),
// loaded into a native store with the real `evstore import`, exported again with
// `evstore export`, and loaded into another browser store — identical streams, versions, ids,
// data, metadata and recorded times; importing again adds nothing on either side.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { launch, openFixture, repoRoot, uniqueName } from "./helpers.js";

const run = promisify(execFile);
// Built by scripts/test-js.sh (`cargo build -p evstore-cli`).
const evstoreBin =
  process.env.EVSTORE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, "target"), "debug", "evstore");

let browser;
let page;
let dir;

before(async () => {
  assert.ok(existsSync(evstoreBin), `the evstore binary is missing at ${evstoreBin}: cargo build -p evstore-cli`);
  dir = await mkdtemp(join(tmpdir(), "evstore-export-"));
  browser = await launch();
  page = await openFixture(browser.context);
});

after(async () => {
  if (page?.problems.length) console.log(page.problems.join("\n"));
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The events of a browser store, as plain data. */
function readAllIn(name) {
  return page.evaluate(async (name) => {
    const store = await window.evstore.EventStore.open(name);
    const events = await store.readAll();
    store.close();
    return events;
  }, name);
}

/** What an import keeps: everything but the position, which the target assigns. */
const kept = (events) => events.map(({ position, ...rest }) => rest);

describe("exportJsonl / importJsonl", () => {
  test("browser → evstore import → evstore export → browser, and re-imports add nothing", async () => {
    const source = uniqueName("export-source");
    const exported = await page.evaluate(async (name) => {
      const store = await window.evstore.EventStore.open(name);
      for (let round = 0; round < 3; round++) {
        for (const stream of ["account-1", "order-7", "account-2"]) {
          await store.append(
            stream,
            [
              {
                type: round === 0 ? "Opened" : "Changed",
                data: { round, text: "ünïcode \"quoted\"\nnewline" },
                metadata: { user: "ada", round },
                correlationId: `corr-${round}`,
                ...(round > 0 ? { causationId: "cause" } : {}),
              },
            ],
            { expectedVersion: round },
          );
        }
      }
      const blob = await store.exportJsonl();
      store.close();
      return { type: blob.type, text: await blob.text() };
    }, source);
    assert.equal(exported.type, "application/x-ndjson");
    const lines = exported.text.trimEnd().split("\n");
    const header = JSON.parse(lines[0]);
    assert.equal(header.format, "evstore-export");
    assert.equal(header.version, 1);
    assert.equal(header.head, 9);
    assert.equal(lines.length, 10);

    const file = join(dir, "browser.jsonl");
    await writeFile(file, exported.text);
    const db = join(dir, "native.db");
    const first = await run(evstoreBin, ["import", "--db", db, file, "--json"]);
    assert.deepEqual(JSON.parse(first.stdout), { events: 9, imported: 9, alreadyPresent: 0 });
    const again = await run(evstoreBin, ["import", "--db", db, file, "--json"]);
    assert.deepEqual(JSON.parse(again.stdout), { events: 9, imported: 0, alreadyPresent: 9 });
    const native = await run(evstoreBin, ["export", "--db", db, "--out", join(dir, "native.jsonl")]);
    assert.match(native.stdout, /exported 9 events/);
    const nativeText = await readFile(join(dir, "native.jsonl"), "utf8");
    // Positions are dense on both sides, so the event lines are identical, byte for byte.
    assert.deepEqual(nativeText.trimEnd().split("\n").slice(1), lines.slice(1));

    const target = uniqueName("export-target");
    const imported = await page.evaluate(
      async ({ name, text }) => {
        const store = await window.evstore.EventStore.open(name);
        const first = await store.importJsonl(new Blob([text]));
        const fromStream = await store.importJsonl(new Blob([text]).stream());
        store.close();
        return { first, fromStream };
      },
      { name: target, text: nativeText },
    );
    assert.deepEqual(imported.first, { events: 9, imported: 9, alreadyPresent: 0 });
    assert.deepEqual(imported.fromStream, { events: 9, imported: 0, alreadyPresent: 9 });

    const [original, roundTripped] = [await readAllIn(source), await readAllIn(target)];
    assert.equal(roundTripped.length, 9);
    assert.deepEqual(kept(roundTripped), kept(original));
    assert.deepEqual(
      roundTripped.map((e) => e.position),
      original.map((e) => e.position),
    );
  });

  test("a live subscription sees imported events", async () => {
    const seen = await page.evaluate(async (name) => {
      const { EventStore } = window.evstore;
      const source = await EventStore.inMemory();
      await source.append("todo-1", [{ type: "Added", data: { n: 1 } }, { type: "Added", data: { n: 2 } }]);
      const file = await source.exportJsonl();
      const target = await EventStore.open(name);
      const received = [];
      let caughtUp = false;
      const sub = target.subscribe({ fromPosition: 0 }, (e) => received.push(e.data.n), {
        onCaughtUp: () => (caughtUp = true),
      });
      await window.t.until(() => caughtUp, 5000, "caught up");
      await target.importJsonl(file);
      await window.t.until(() => received.length === 2, 5000, "the imported events");
      sub.close();
      target.close();
      return received;
    }, uniqueName("export-live"));
    assert.deepEqual(seen, [1, 2]);
  });

  test("a bad import rejects with InvalidInput naming the line, writing nothing of its batch", async () => {
    const result = await page.evaluate(async (name) => {
      const { settle } = window.t;
      const store = await window.evstore.EventStore.open(name);
      const good = await store.exportJsonl();
      const lines = (await good.text()).split("\n");
      const header = lines[0];
      const event = JSON.stringify({
        id: "01900000-0000-7000-8000-000000000001", streamId: "s-1", version: 1, position: 1,
        type: "A", data: {}, metadata: {}, recordedAt: 1,
      });
      const outcome = {
        garbage: await settle(store.importJsonl(new Blob(["garbage\n"]))),
        brokenLine: await settle(store.importJsonl(new Blob([`${header}\n${event}\n{"id":\n`]))),
        gap: await settle(store.importJsonl(new Blob([`${header}\n${event.replace('"version":1', '"version":2')}\n`]))),
        notInput: await settle(store.importJsonl("text")),
        head: await store.head(),
      };
      store.close();
      return outcome;
    }, uniqueName("export-bad"));
    assert.equal(result.garbage.error.code, "InvalidInput");
    assert.match(result.garbage.error.message, /line 1: not an evstore export/);
    assert.equal(result.brokenLine.error.code, "InvalidInput");
    assert.match(result.brokenLine.error.message, /line 3/);
    assert.equal(result.gap.error.code, "InvalidInput");
    assert.match(result.gap.error.message, /line 2/);
    assert.equal(result.notInput.error.code, "InvalidInput");
    assert.equal(result.head, 0);
  });
});
