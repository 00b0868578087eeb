// The www/ demo in sync mode (`www/?sync=<server>`), used as two people would: two browser
// profiles on one board through a real `evstore serve` started here. Edits on either side reach
// the other; the indicator says pending, synced or offline; going offline keeps edits in the
// outbox; the same cards edited offline on both sides come back as one conflict on each card
// of the side that synced second, which can apply its change on top or keep theirs.
// Screenshots go to test-output/.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { freePort, http, serve, stopServers } from "./evstore-serve.js";
import { launch, openPage, screenshot } from "./helpers.js";

const work = mkdtempSync(join(tmpdir(), "evstore-demo-sync-"));
let server;
const browsers = [];
const pages = [];

before(async () => {
  server = await serve(join(work, "board.db"), await freePort());
});

after(async () => {
  for (const page of pages) if (page.problems.length) console.log(page.problems.join("\n"));
  for (const browser of browsers) await browser.close();
  await stopServers();
  rmSync(work, { recursive: true, force: true });
});

/** The synced board in a new browser profile. */
async function openProfile() {
  const browser = await launch();
  browsers.push(browser);
  const page = await openPage(browser.context, `www/?sync=${encodeURIComponent(server.url)}`);
  pages.push(page);
  await page.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
  return page;
}

const cardIn = (page, column, title) => page.locator(`.column[data-column=${column}] .card`, { hasText: title });
const indicator = (page) => page.locator("#sync-indicator");

/** Waits until the indicator shows `state` (and `pending` events, when given). */
async function waitForState(page, state, pending) {
  const selector = `#sync-indicator[data-state=${state}]` + (pending === undefined ? "" : `[data-pending="${pending}"]`);
  await page.waitForSelector(selector, { timeout: 15_000 });
}

async function addCard(page, title) {
  await page.getByLabel("New card title").fill(title);
  await page.getByLabel("New card title").press("Enter");
  await cardIn(page, "todo", title).waitFor();
}

async function rename(page, column, from, to) {
  await cardIn(page, column, from).locator("button[data-act=edit]").click();
  await page.locator("#edit-title").fill(to);
  await page.locator("#edit-title").press("Enter");
  await cardIn(page, column, to).waitFor();
}

/** The server's events of one stream. */
async function onServer(stream) {
  const { status, body } = await http(server, `/v1/streams/${stream}`);
  return status === 200 ? body.events : [];
}

describe("the kanban demo synced through evstore serve", () => {
  test("sync: two profiles edit one board: each sees the other's edits, with a pending/synced indicator", async () => {
    const [a, b] = [await openProfile(), await openProfile()];
    await waitForState(a, "synced", 0);
    assert.match(await indicator(a).textContent(), /Synced/);
    assert.match(await a.locator("#sync-server").textContent(), /127\.0\.0\.1/);

    await addCard(a, "Buy milk");
    await addCard(a, "Call the bank");
    await waitForState(a, "synced", 0);
    await cardIn(b, "todo", "Buy milk").waitFor({ timeout: 15_000 });
    await cardIn(b, "todo", "Call the bank").waitFor({ timeout: 15_000 });

    // B moves a card; A sees it move, at the version the server gave.
    await cardIn(b, "todo", "Buy milk").locator("button[data-act=right]").click();
    await cardIn(b, "doing", "Buy milk").waitFor();
    await cardIn(a, "doing", "Buy milk").waitFor({ timeout: 15_000 });
    assert.equal(await cardIn(a, "doing", "Buy milk").locator(".ver").textContent(), "v2");
    await waitForState(b, "synced", 0);

    const milk = (await http(server, "/v1/all?maxCount=100")).body.events.find((e) => e.data.title === "Buy milk");
    const events = await onServer(milk.streamId);
    assert.deepEqual(events.map((e) => [e.version, e.type]), [[1, "CardCreated"], [2, "CardMoved"]]);
    // Both mirrors hold the server's events at the server's positions.
    for (const page of [a, b]) {
      const mirror = await page.evaluate(() => window.kanban.store.readAll());
      assert.deepEqual(mirror, (await http(server, "/v1/all?maxCount=100")).body.events);
    }
    await screenshot(a, "demo-sync-board");
  });

  test("sync: offline edits wait in the outbox; the same cards edited on both sides show one conflict per card", async () => {
    const [a, b] = pages;
    for (const page of [a, b]) {
      await page.locator("#offline-toggle").click();
      await waitForState(page, "offline", 0);
      assert.equal(await page.locator("#offline-toggle").getAttribute("aria-pressed"), "true");
    }

    // Both rename both shared cards offline, and each adds a card of its own.
    await rename(a, "doing", "Buy milk", "Buy oat milk");
    await rename(a, "todo", "Call the bank", "Call the bank at 9");
    await addCard(a, "A's own card");
    await rename(b, "doing", "Buy milk", "Buy soy milk");
    await rename(b, "todo", "Call the bank", "Email the bank");
    await addCard(b, "B's own card");
    for (const page of [a, b]) {
      await waitForState(page, "offline", 3);
      assert.match(await indicator(page).textContent(), /Offline · 3 pending/);
      assert.equal(await page.locator(".card.pending").count(), 3, "the edited cards are marked pending");
    }
    assert.equal(await cardIn(a, "doing", "Buy oat milk").locator(".pending-mark").count(), 1);
    assert.equal((await http(server, "/v1/head")).body.position, 3, "nothing reached the server");
    await screenshot(b, "demo-sync-offline");

    // A comes back first: its edits win.
    await a.locator("#offline-toggle").click();
    await waitForState(a, "synced", 0);
    assert.equal(await a.locator(".card.pending").count(), 0);
    assert.equal(await a.locator(".card .conflict").count(), 0);

    // B comes back: one conflict on each card both edited; its own card syncs untouched.
    await b.locator("#offline-toggle").click();
    await waitForState(b, "synced", 0);
    await b.locator(".card .conflict").nth(1).waitFor({ timeout: 15_000 });
    assert.equal(await b.locator(".card .conflict").count(), 2);
    for (const title of ["Buy oat milk", "Call the bank at 9"]) {
      const card = b.locator(".card", { hasText: title });
      assert.equal(await card.locator(".conflict").count(), 1, `one conflict on “${title}”`);
    }
    const milkConflict = await b.locator(".card", { hasText: "Buy oat milk" }).locator(".conflict").textContent();
    assert.match(milkConflict, /renamed it to “Buy soy milk”/, "says what was not saved");
    assert.match(milkConflict, /renamed it to “Buy oat milk”/, "and what the other side did");
    await cardIn(a, "todo", "B's own card").waitFor({ timeout: 15_000 });
    await cardIn(b, "todo", "A's own card").waitFor({ timeout: 15_000 });
    await screenshot(b, "demo-sync-conflicts");

    // B applies its rename on top of A's for one card, keeps A's for the other.
    await b.locator(".card", { hasText: "Buy oat milk" }).locator("button[data-act=reapply]").click();
    await cardIn(b, "doing", "Buy soy milk").waitFor();
    await b.locator(".card", { hasText: "Call the bank at 9" }).locator("button[data-act=dismiss]").click();
    await waitForState(b, "synced", 0);
    assert.equal(await b.locator(".card .conflict").count(), 0);
    await cardIn(a, "doing", "Buy soy milk").waitFor({ timeout: 15_000 });
    assert.equal(await a.locator(".card .conflict").count(), 0);

    // The server's log: each edit once, A's renames first, B's resolution on top.
    const all = (await http(server, "/v1/all?maxCount=100")).body.events;
    const renames = all.filter((e) => e.type === "CardRenamed").map((e) => e.data.title);
    assert.deepEqual(renames, ["Buy oat milk", "Call the bank at 9", "Buy soy milk"]);
    assert.equal(new Set(all.map((e) => e.id)).size, all.length, "no event twice");
    assert.equal(all.filter((e) => e.type === "CardCreated").length, 4);
    // Both boards converge on the same cards.
    const boards = await Promise.all(
      [a, b].map((page) =>
        page.evaluate(() =>
          Object.values(window.kanban.app.shown.cards)
            .map((c) => [c.title, c.column, c.version])
            .sort(),
        ),
      ),
    );
    assert.deepEqual(boards[0], boards[1]);
    assert.equal(boards[0].length, 4);
  });
});
