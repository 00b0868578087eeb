// Listing streams from JavaScript: `store.listStreams({ prefix, after, maxCount })` in stream-id
// order, paged, with versions and last positions, on IndexedDB; bad options are InvalidInput.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { closeWithReport, launchWithFixture, uniqueName } from "./helpers.js";

let browser;
let page;

before(async () => ({ browser, page } = await launchWithFixture()));
after(() => closeWithReport({ browser, page }));

test("listStreams pages through streams by prefix, in stream-id order, with versions", async () => {
  const result = await page.evaluate(async (name) => {
    const store = await window.evstore.EventStore.open(name);
    const event = (n) => ({ type: "Happened", data: { n } });
    await store.append("order-1", [event(1)]);
    await store.append("account-2", [event(2), event(3)]);
    await store.append("account-10", [event(4)]);
    await store.append("account-1", [event(5)]);
    await store.append("account-2", [event(6)]);
    const all = await store.listStreams();
    const pages = [];
    let options = { prefix: "account-", maxCount: 2 };
    for (;;) {
      const listed = await store.listStreams(options);
      if (listed.length === 0) break;
      pages.push(listed.map((s) => s.streamId));
      options = { ...options, after: listed[listed.length - 1].streamId };
    }
    const rejected = [];
    for (const bad of [{ maxCount: 0 }, { after: "" }, { prefix: "a\u0000" }, { prefix: 7 }]) {
      try {
        await store.listStreams(bad);
        rejected.push("accepted");
      } catch (error) {
        rejected.push(error.code);
      }
    }
    store.close();
    return { all, pages, rejected };
  }, uniqueName("list-streams"));
  assert.deepEqual(result.all, [
    { streamId: "account-1", version: 1, position: 5 },
    { streamId: "account-10", version: 1, position: 4 },
    { streamId: "account-2", version: 3, position: 6 },
    { streamId: "order-1", version: 1, position: 1 },
  ]);
  assert.deepEqual(result.pages, [["account-1", "account-10"], ["account-2"]]);
  assert.deepEqual(result.rejected, ["InvalidInput", "InvalidInput", "InvalidInput", "InvalidInput"]);
});
