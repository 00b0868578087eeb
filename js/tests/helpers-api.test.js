// The application helpers in headless Chromium: `projector.waitFor` (a caught-up signal that
// does not wait for events a projection's filter leaves out), `projector.remove`, and the
// `Decider` command helper (load, decide, append with the loaded version, retry on conflict).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { closeWithReport, launchWithFixture, uniqueName } from "./helpers.js";

let browser;
let page;

before(async () => ({ browser, page } = await launchWithFixture()));
after(() => closeWithReport({ browser, page }));

describe("projector.waitFor and remove", () => {
  test("waitFor resolves once each projection handled up to the position, filters included", async () => {
    const r = await page.evaluate(async (name) => {
      const { settle, sleep } = window.t;
      const { EventStore, Projector } = window.evstore;
      const store = await EventStore.open(name);
      await store.append("card-1", [{ type: "CardCreated" }, { type: "CardMoved" }]);
      // The last events are not card events: a card projection never reaches the head.
      await store.append("audit-1", Array.from({ length: 5 }, () => ({ type: "Logged" })));
      const head = await store.head();
      const handled = { cards: [], all: [] };
      const projector = new Projector(store);
      projector.add("cards", async (events) => {
        await sleep(20);
        handled.cards.push(...events.map((e) => e.position));
      }, { filter: { categories: ["card"] } });
      projector.add("all", (events) => void handled.all.push(...events.map((e) => e.position)), { batchSize: 3 });
      await projector.start();
      await projector.waitFor();
      const atHead = { cards: [...handled.cards], all: [...handled.all] };
      const cardCheckpoint = await projector.checkpoint("cards");

      const next = await store.append("card-1", [{ type: "CardArchived" }]);
      await projector.waitFor(next.position, { name: "cards" });
      const named = [...handled.cards];
      await projector.waitFor(next.position);
      const both = { cards: [...handled.cards], all: [...handled.all] };
      const unknown = await settle(projector.waitFor(0, { name: "nope" }));
      const badPosition = await settle(projector.waitFor(-1));
      await projector.stop();
      const stopped = await settle(projector.waitFor(next.position + 10));
      const reached = await settle(projector.waitFor(next.position));
      store.close();
      return { head, atHead, cardCheckpoint, next: next.position, named, both, unknown, badPosition, stopped, reached };
    }, uniqueName("wait-for"));
    assert.deepEqual(r.atHead.cards, [1, 2]);
    assert.deepEqual(r.atHead.all, [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(r.cardCheckpoint, 2, "the card projection's checkpoint stays below the head");
    assert.deepEqual(r.named, [1, 2, r.next]);
    assert.deepEqual(r.both.all.at(-1), r.next);
    assert.equal(r.unknown.error.code, "InvalidInput");
    assert.equal(r.badPosition.error.code, "InvalidInput");
    assert.equal(r.stopped.error.code, "InvalidInput");
    assert.match(r.stopped.error.message, /not running/);
    assert.equal(r.reached.ok, true, "a reached position resolves even when stopped");
  });

  test("waitFor rejects when a projection fails, and when its signal aborts", async () => {
    const r = await page.evaluate(async () => {
      const { settle } = window.t;
      const { EventStore, Projector } = window.evstore;
      const store = await EventStore.inMemory();
      await store.append("s-1", [{ type: "Fine" }, { type: "Poison" }]);
      const failing = new Projector(store);
      failing.add("strict", (events) => {
        if (events.some((e) => e.type === "Poison")) throw new Error("cannot digest");
      }, { retry: { maxAttempts: 2, initialDelayMs: 1 } });
      await failing.start();
      const failed = await settle(failing.waitFor());
      await failing.stop();

      const slow = new Projector(store);
      slow.add("slow", () => new Promise(() => {}));
      await slow.start();
      const controller = new AbortController();
      const waiting = settle(slow.waitFor(undefined, { signal: controller.signal }));
      controller.abort();
      const aborted = await waiting;
      const reason = await settle(slow.waitFor(undefined, { signal: AbortSignal.abort(new Error("enough")) }));
      return { failed, aborted, reason };
    });
    assert.equal(r.failed.ok, false);
    assert.equal(r.failed.error.code, "ProjectionFailed");
    assert.match(r.failed.error.message, /strict.*position 2.*cannot digest/);
    assert.equal(r.aborted.error.name, "AbortError");
    assert.equal(r.reason.error.message, "enough");
  });

  test("remove forgets a projection and its checkpoint; added again it starts over", async () => {
    const r = await page.evaluate(async (name) => {
      const { settle } = window.t;
      const { EventStore, Projector } = window.evstore;
      const store = await EventStore.open(name);
      await store.append("s-1", [{ type: "A" }, { type: "B" }]);
      let handled = 0;
      const projector = new Projector(store);
      projector.add("tab-1", (events) => void (handled += events.length));
      await projector.start();
      await projector.waitFor();
      const whileRunning = await settle(projector.remove("tab-1"));
      await projector.stop();
      const before = await projector.checkpoint("tab-1");
      await projector.remove("tab-1");
      const after = await projector.checkpoint("tab-1");
      const status = projector.status("tab-1");
      projector.add("tab-1", (events) => void (handled += events.length));
      await projector.start();
      await projector.waitFor();
      await projector.stop();
      store.close();
      return { whileRunning, before, after, status: status ?? null, handled };
    }, uniqueName("remove"));
    assert.equal(r.whileRunning.error.code, "InvalidInput");
    assert.equal(r.before, 2);
    assert.equal(r.after, 0);
    assert.equal(r.handled, 4, "handled twice: the second time from the start");
  });
});

describe("Decider", () => {
  const bank = `
    const { Decider } = window.evstore;
    window.account = (store, options = {}) => new Decider(store, {
      initialState: () => ({ open: false, balance: 0 }),
      evolve: (state, e) => {
        switch (e.type) {
          case "Opened": return { ...state, open: true };
          case "Deposited": return { ...state, balance: state.balance + e.data.amount };
          default: return state;
        }
      },
      decide: async (command, state) => {
        await options.beforeDecide?.(command, state);
        if (command.kind === "open") return state.open ? [] : [{ type: "Opened", data: { owner: command.owner } }];
        if (!state.open) throw Object.assign(new Error("the account is not open"), { domain: true });
        return [{ type: "Deposited", data: { amount: command.amount } }];
      },
      ...options.decider,
    });`;

  test("loads, decides and appends with the loaded version; domain errors pass through", async () => {
    const r = await page.evaluate(async ({ name, bank }) => {
      const { settle } = window.t;
      new Function(bank)();
      const store = await window.evstore.EventStore.open(name);
      const account = window.account(store);
      const closed = await account.handle("account-1", { kind: "deposit", amount: 5 }).catch((e) => ({ message: e.message, domain: e.domain, code: e.code }));
      const opened = await account.handle("account-1", { kind: "open", owner: "ada" }, { metadata: { user: "u1" }, correlationId: "c-1" });
      const again = await account.handle("account-1", { kind: "open", owner: "ada" });
      const deposited = await account.handle("account-1", { kind: "deposit", amount: 5 });
      const loaded = await account.load("account-1");
      const events = await store.readStream("account-1");
      const bad = await settle(account.handle(42, { kind: "open" }));
      const notArray = await settle(new window.evstore.Decider(store, { initialState: () => 0, evolve: (s) => s, decide: () => ({ type: "X" }) }).handle("s-9", {}));
      const badOptions = await settle(Promise.resolve().then(() => new window.evstore.Decider(store, { initialState: () => 0 })));
      store.close();
      return {
        closed,
        opened: { state: opened.state, version: opened.version, appended: opened.appended, attempts: opened.attempts, events: opened.events },
        again: { appended: again.appended, version: again.version, events: again.events },
        deposited: { state: deposited.state, version: deposited.version },
        loaded,
        stored: events.map((e) => [e.version, e.type, e.metadata, e.correlationId ?? null]),
        bad,
        notArray,
        badOptions,
      };
    }, { name: uniqueName("decider"), bank });
    assert.deepEqual(r.closed, { message: "the account is not open", domain: true, code: undefined });
    assert.deepEqual(r.opened.state, { open: true, balance: 0 });
    assert.equal(r.opened.version, 1);
    assert.equal(r.opened.appended.nextExpectedVersion, 1);
    assert.equal(r.opened.attempts, 1);
    assert.deepEqual(r.opened.events, [{ type: "Opened", data: { owner: "ada" } }]);
    assert.deepEqual(r.again, { appended: null, version: 1, events: [] });
    assert.deepEqual(r.deposited, { state: { open: true, balance: 5 }, version: 2 });
    assert.deepEqual(r.loaded, { state: { open: true, balance: 5 }, version: 2 });
    assert.deepEqual(r.stored, [[1, "Opened", { user: "u1" }, "c-1"], [2, "Deposited", {}, null]]);
    assert.equal(r.bad.error.code, "InvalidInput");
    assert.equal(r.notArray.error.code, "InvalidInput");
    assert.match(r.notArray.error.message, /decide must return an array/);
    assert.equal(r.badOptions.error.code, "InvalidInput");
  });

  test("a conflicting writer makes it load and decide again, up to maxAttempts", async () => {
    const r = await page.evaluate(async (bank) => {
      const { settle } = window.t;
      new Function(bank)();
      const store = await window.evstore.EventStore.inMemory();
      await store.append("account-1", [{ type: "Opened", data: { owner: "ada" } }]);
      // Another writer deposits between this decider's load and its append, `conflicts` times.
      const racing = (conflicts) => ({
        beforeDecide: () => {
          if (conflicts-- > 0) return store.append("account-1", [{ type: "Deposited", data: { amount: 100 } }]);
        },
      });
      const retried = await window.account(store, racing(2)).handle("account-1", { kind: "deposit", amount: 1 });
      const gaveUp = await settle(window.account(store, { ...racing(5), decider: { maxAttempts: 2 } }).handle("account-1", { kind: "deposit", amount: 1 }));
      return {
        retried: { attempts: retried.attempts, state: retried.state, version: retried.version },
        gaveUp,
        balance: (await window.account(store).load("account-1")).state.balance,
      };
    }, bank);
    assert.deepEqual(r.retried, { attempts: 3, state: { open: true, balance: 201 }, version: 4 });
    assert.equal(r.gaveUp.ok, false);
    assert.equal(r.gaveUp.error.code, "WrongExpectedVersion");
    assert.equal(r.balance, 401, "two more racing deposits, none of the refused one");
  });

  test("an aborted signal rejects handle() before anything is written", async () => {
    const r = await page.evaluate(async (bank) => {
      const { settle } = window.t;
      new Function(bank)();
      const store = await window.evstore.EventStore.inMemory();
      const handled = await settle(window.account(store).handle("account-1", { kind: "open", owner: "x" }, { signal: AbortSignal.abort() }));
      return { handled, head: await store.head() };
    }, bank);
    assert.equal(r.handled.error.name, "AbortError");
    assert.equal(r.head, 0);
  });
});
