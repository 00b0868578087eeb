// The www/ demo, used as a person would: add cards, move and rename them, reload and find them
// kept; then two tabs editing the same card, where the second save shows a conflict; a double
// click on ▶, a phone-sized window, labelled icon buttons, inspector rows that stay open, and
// tabs that reuse their projections' checkpoints. Screenshots go to test-output/.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launch, openPage, screenshot } from "./helpers.js";

let browser;
let tabA;
let tabB;

async function openDemo() {
  const page = await openPage(browser.context, "www/");
  await page.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
  return page;
}

async function addCard(page, title) {
  await page.getByLabel("New card title").fill(title);
  await page.getByLabel("New card title").press("Enter");
  await cardIn(page, "todo", title).waitFor();
}

const cardIn = (page, column, title) =>
  page.locator(`.column[data-column=${column}] .card`, { hasText: title });

before(async () => {
  browser = await launch();
});

after(async () => {
  for (const page of [tabA, tabB]) if (page?.problems.length) console.log(page.problems.join("\n"));
  await browser?.close();
});

describe("the kanban demo", () => {
  test("add, move and rename cards; a reload keeps them and resumes the projection", async () => {
    tabA = await openDemo();
    await tabA.getByLabel("New card title").fill("Write the README");
    await tabA.getByRole("button", { name: "Add" }).click();
    await cardIn(tabA, "todo", "Write the README").waitFor();

    await tabA.getByLabel("New card title").fill("Record a screencast");
    await tabA.getByLabel("New card title").press("Enter");
    await cardIn(tabA, "todo", "Record a screencast").waitFor();

    // Move "Write the README" to Doing with its ▶ button.
    await cardIn(tabA, "todo", "Write the README").locator("button[data-act=right]").click();
    const moved = cardIn(tabA, "doing", "Write the README");
    await moved.waitFor();
    assert.equal(await moved.locator(".ver").textContent(), "v2");

    // Rename it through the dialog.
    await moved.locator("button[data-act=edit]").click();
    await tabA.locator("#edit-title").fill("Write the npm README");
    await tabA.locator("#edit-title").press("Enter");
    const renamed = cardIn(tabA, "doing", "Write the npm README");
    await renamed.waitFor();
    assert.equal(await renamed.locator(".ver").textContent(), "v3");

    // The inspector lists the card's stream with its versions.
    await renamed.locator(".ver").click();
    // Wait for the stream view itself (the inspector shows the whole log until it replaces it).
    await tabA.locator("#inspector-body .caption", { hasText: "version 3" }).first().waitFor();
    await tabA.locator("#inspector-body .event").first().waitFor();
    const rows = await tabA.locator("#inspector-body .event summary .type").allTextContents();
    assert.deepEqual(rows, ["CardRenamed v3", "CardMoved v2", "CardCreated v1"]);
    const caption = await tabA.locator("#inspector-body .caption").first().textContent();
    assert.match(caption, /version 3/);
    await tabA.locator("#inspector-body .event summary").first().click();
    const envelope = JSON.parse(await tabA.locator("#inspector-body .event pre").first().textContent());
    assert.equal(envelope.type, "CardRenamed");
    assert.equal(envelope.version, 3);
    assert.equal(envelope.data.title, "Write the npm README");
    assert.ok(envelope.metadata.author, "metadata says who");
    await screenshot(tabA, "demo-board");

    // Reload: the events are in IndexedDB, the projection resumes after its checkpoint.
    const checkpointBefore = await tabA.evaluate(() => window.kanban.projector.checkpoint(window.kanban.projectionName));
    assert.ok(checkpointBefore >= 4, `checkpoint ${checkpointBefore}`);
    await tabA.reload();
    await tabA.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
    await cardIn(tabA, "doing", "Write the npm README").waitFor();
    await cardIn(tabA, "todo", "Record a screencast").waitFor();
    assert.equal(await cardIn(tabA, "doing", "Write the npm README").locator(".ver").textContent(), "v3");
    const afterReload = await tabA.evaluate(() => ({
      resumed: window.kanban.app.resumed,
      handled: window.kanban.app.handledThisLoad,
      logLength: window.kanban.app.log.length,
    }));
    assert.match(afterReload.resumed, /resumed after its checkpoint/);
    assert.equal(afterReload.handled, 0, "nothing was replayed into the projection");
    assert.equal(afterReload.logLength, 4);

    await tabA.getByRole("tab", { name: "Projection" }).click();
    await tabA.getByText("resumed after its checkpoint").waitFor();
    await screenshot(tabA, "demo-after-reload");
  });

  test("a second tab sees changes live, and editing the same card shows a conflict", async () => {
    tabB = await openDemo();
    // Tab B starts with the board tab A made.
    await cardIn(tabB, "doing", "Write the npm README").waitFor();

    // Live across tabs: tab B adds a card, tab A shows it.
    await tabB.getByLabel("New card title").fill("Fix the flaky test");
    await tabB.getByLabel("New card title").press("Enter");
    await cardIn(tabA, "todo", "Fix the flaky test").waitFor({ timeout: 5000 });

    // Tab A starts renaming the card…
    await cardIn(tabA, "doing", "Write the npm README").locator("button[data-act=edit]").click();
    await tabA.locator("#edit-title").fill("Write the README with examples");

    // …while tab B renames the same card and saves first.
    await cardIn(tabB, "doing", "Write the npm README").locator("button[data-act=edit]").click();
    await tabB.locator("#edit-title").fill("README: quick start first");
    await tabB.locator("#edit-save").click();
    await cardIn(tabB, "doing", "README: quick start first").waitFor();

    // Tab A's editor warns live, then its save is rejected and the conflict is shown.
    await tabA.locator("#edit-warning").waitFor({ state: "visible", timeout: 5000 });
    await tabA.locator("#edit-save").click();
    const conflict = tabA.locator("#conflict-dialog");
    await conflict.waitFor({ state: "visible" });
    assert.match(await tabA.locator("#conflict-text").textContent(), /started from v3.*saved v4 first/);
    assert.equal(await tabA.locator("#conflict-theirs").textContent(), "README: quick start first");
    assert.equal(await tabA.locator("#conflict-yours").textContent(), "Write the README with examples");
    assert.match(await tabA.locator("#conflict-code").textContent(), /WrongExpectedVersion/);
    await screenshot(tabA, "demo-conflict");

    // Tab A keeps its own title on top; both tabs show it, at version 5.
    await tabA.locator("#conflict-mine").click();
    await cardIn(tabA, "doing", "Write the README with examples").waitFor();
    await cardIn(tabB, "doing", "Write the README with examples").waitFor({ timeout: 5000 });
    assert.equal(await cardIn(tabB, "doing", "Write the README with examples").locator(".ver").textContent(), "v5");

    // A stale move from tab B (it still believes v5 when tab A moved the card) is refused too.
    const stale = await tabB.evaluate(async () => {
      const { store, app } = window.kanban;
      const card = Object.values(app.board.cards).find((c) => c.title === "Fix the flaky test");
      await store.append(`card-${card.id}`, [{ type: "CardMoved", data: { from: "todo", to: "doing" } }], { expectedVersion: card.version });
      try {
        await store.append(`card-${card.id}`, [{ type: "CardMoved", data: { from: "todo", to: "done" } }], { expectedVersion: card.version });
        return "accepted";
      } catch (error) {
        return error.code;
      }
    });
    assert.equal(stale, "WrongExpectedVersion");
    await cardIn(tabA, "doing", "Fix the flaky test").waitFor({ timeout: 5000 });
    await screenshot(tabB, "demo-second-tab");
  });
  test("a double click on ▶ moves the card twice, with no conflict with yourself", async () => {
    await addCard(tabA, "Double-clicked");
    await cardIn(tabA, "todo", "Double-clicked").locator("button[data-act=right]").dblclick();
    const done = cardIn(tabA, "done", "Double-clicked");
    await done.waitFor({ timeout: 5000 });
    assert.equal(await done.locator(".ver").textContent(), "v3");
    assert.equal(await tabA.locator("#edit-dialog").evaluate((d) => d.open), false, "no rename dialog");
    assert.equal(await tabA.locator("#conflict-dialog").evaluate((d) => d.open), false);
    const warnings = await tabA.locator(".toast.warn").allTextContents();
    assert.deepEqual(warnings.filter((w) => /Conflict/.test(w)), []);
  });

  test("icon buttons have labels; an open event in the inspector stays open as events arrive", async () => {
    const card = cardIn(tabA, "done", "Double-clicked");
    for (const act of ["left", "edit", "archive"]) {
      const label = await card.locator(`button[data-act=${act}]`).getAttribute("aria-label");
      assert.ok(label && label.includes("Double-clicked"), `${act}: ${label}`);
    }
    await tabA.getByRole("button", { name: "Rename “Double-clicked”" }).waitFor();
    assert.equal(await card.locator("button[data-act=right]").isDisabled(), true, "no column after Done");

    await tabA.getByRole("tab", { name: "All events" }).click();
    await tabA.locator("#filters .chip", { hasText: /^all$/ }).click();
    const first = tabA.locator("#inspector-body details.event").first();
    const position = await first.getAttribute("data-position");
    await first.locator("summary").click();
    await tabA.locator(`#inspector-body details.event[data-position="${position}"][open]`).waitFor();
    await addCard(tabB, "Arrives while reading");
    await tabA.locator("#inspector-body details.event summary", { hasText: "CardCreated" }).first().waitFor();
    await tabA.waitForFunction((p) => document.querySelector("#inspector-body details.event")?.dataset.position !== p, position);
    assert.equal(await tabA.locator(`#inspector-body details.event[data-position="${position}"]`).evaluate((d) => d.open), true);
  });

  test("at 390 px wide nothing overflows the screen", async () => {
    const phone = await browser.context.newPage();
    try {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(tabA.url());
      await phone.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
      const widths = await phone.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        body: document.body.scrollWidth,
        viewport: window.innerWidth,
        wide: [...document.querySelectorAll("#app *")]
          .filter((node) => node.getBoundingClientRect().right > window.innerWidth + 0.5)
          .map((node) => `${node.tagName}.${node.className}`)
          .slice(0, 5),
      }));
      await screenshot(phone, "demo-390px");
      assert.equal(widths.viewport, 390);
      assert.ok(widths.page <= 390 && widths.body <= 390, JSON.stringify(widths));
      assert.deepEqual(widths.wide, []);
    } finally {
      await phone.close();
    }
  });

  test("tabs reuse the projections of closed tabs; a load does not wait for non-card events", async () => {
    const names = [await tabA.evaluate(() => window.kanban.projectionName), await tabB.evaluate(() => window.kanban.projectionName)];
    assert.notEqual(names[0], names[1], "open tabs have their own projections");
    const third = await openDemo();
    const thirdName = await third.evaluate(() => window.kanban.projectionName);
    assert.ok(!names.includes(thirdName));
    await third.close();
    // The next tab takes over the closed tab's projection (and its checkpoint) instead of a new one.
    const fourth = await openDemo();
    assert.equal(await fourth.evaluate(() => window.kanban.projectionName), thirdName);
    await cardIn(fourth, "done", "Double-clicked").waitFor();

    // The last events are not card events: the board's projection never reaches the head, and
    // the load is complete once it handled the card events.
    await fourth.evaluate(() => window.kanban.store.append("audit-1", [{ type: "Noted" }, { type: "Noted" }]));
    await fourth.reload();
    await fourth.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
    const state = await fourth.evaluate(async () => ({
      head: await window.kanban.store.head(),
      checkpoint: await window.kanban.projector.checkpoint(window.kanban.projectionName),
      cards: Object.values(window.kanban.app.board.cards).map((c) => c.title),
    }));
    assert.ok(state.checkpoint < state.head, JSON.stringify(state));
    assert.ok(state.cards.includes("Arrives while reading"), JSON.stringify(state));
    await fourth.close();
  });

  test("drag a card to Done, archive one, then reset the board: every tab starts empty", async () => {
    await cardIn(tabA, "doing", "Write the README with examples").dragTo(tabA.locator(".column[data-column=done]"));
    await cardIn(tabA, "done", "Write the README with examples").waitFor();
    await cardIn(tabB, "done", "Write the README with examples").waitFor({ timeout: 5000 });

    await cardIn(tabA, "todo", "Record a screencast").locator("button[data-act=archive]").click();
    await cardIn(tabB, "todo", "Record a screencast").waitFor({ state: "detached", timeout: 5000 });
    // Archived cards leave the board, not the log.
    const archived = await tabB.evaluate(() => window.kanban.store.readAll({ filter: { eventTypes: ["CardArchived"] } }));
    assert.equal(archived.length, 1);

    tabA.once("dialog", (dialog) => dialog.accept());
    const reloadedA = tabA.waitForEvent("load", { timeout: 30_000 });
    const reloadedB = tabB.waitForEvent("load", { timeout: 30_000 });
    await tabA.locator("#reset").click();
    await reloadedA;
    await tabA.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
    await reloadedB;
    await tabB.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
    for (const tab of [tabA, tabB]) {
      assert.equal(await tab.locator(".card").count(), 0);
      assert.equal(await tab.evaluate(() => window.kanban.app.log.length), 0);
    }
    // The fresh board works.
    await tabB.getByLabel("New card title").fill("A fresh start");
    await tabB.getByLabel("New card title").press("Enter");
    await cardIn(tabA, "todo", "A fresh start").waitFor({ timeout: 5000 });
  });
});
