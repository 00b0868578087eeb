// An event-sourced kanban board on evstore.
//
// - Every change is an event appended to the card's stream (`card-<id>`) with the version the
//   user saw as the expected version, so two tabs editing the same card conflict visibly.
// - The board is a projection run by evstore's Projector. Its view is kept in sessionStorage with
//   the position it reflects, and the projection's checkpoint lives in IndexedDB: after a reload
//   the projector resumes after its checkpoint instead of replaying the log.
// - The inspector follows the whole log with `store.subscribe` and reads single streams or event
//   types with `readStream` / `readAll`; toasts about other tabs come from a `for await` loop.
// - Other tabs' appends arrive at once (evstore wakes subscriptions through BroadcastChannel).
// - Sync mode (`?sync` or `?sync=<server URL>`, default port 7070 on this host): the board lives
//   in its own database, synced with `evstore serve` through `store.sync()`. Edits go to the
//   outbox (`sync.append`) and show at once, marked pending, until the server confirms them;
//   the board is the projection of the server's events (the mirror) with the pending events on
//   top. Going offline stops syncing (edits keep working and wait in the outbox); an offline
//   edit of a card someone else changed meanwhile comes back as a conflict shown on the card.
import init, { EventStore, Projector } from "evstore";

const params = new URLSearchParams(location.search);
/** The sync server's base URL in sync mode, else null. */
const SYNC_URL = params.has("sync")
  ? (params.get("sync") || `${location.protocol}//${location.hostname}:7070`).replace(/\/$/, "")
  : null;
// A synced store holds the server's events only, so the synced board has a database of its own.
const DB_NAME = SYNC_URL ? "evstore-kanban-synced" : "evstore-kanban";
/** Set (in localStorage, so every tab of this browser follows) while the user is "offline". */
const OFFLINE_KEY = `${DB_NAME}:offline`;
const COLUMNS = [
  { id: "todo", title: "To do" },
  { id: "doing", title: "Doing" },
  { id: "done", title: "Done" },
];
const EVENT_TYPES = ["CardCreated", "CardRenamed", "CardMoved", "CardArchived"];
const ANIMALS = [
  ["🦊", "Fox"], ["🦉", "Owl"], ["🐢", "Turtle"], ["🐙", "Octopus"], ["🦔", "Hedgehog"],
  ["🐝", "Bee"], ["🦦", "Otter"], ["🐧", "Penguin"], ["🦜", "Parrot"], ["🐳", "Whale"],
  ["🦩", "Flamingo"], ["🐌", "Snail"], ["🦋", "Butterfly"], ["🐨", "Koala"], ["🦥", "Sloth"],
];

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Who this tab is: kept in sessionStorage, so a reload keeps it and a new tab gets its own. */
function identity() {
  const key = "evstore-kanban:me";
  let me = JSON.parse(sessionStorage.getItem(key) ?? "null");
  if (!me) {
    const [emoji, name] = ANIMALS[Math.floor(Math.random() * ANIMALS.length)];
    me = { emoji, name, tab: crypto.randomUUID().slice(0, 8) };
    sessionStorage.setItem(key, JSON.stringify(me));
  }
  return me;
}

const me = identity();
// The board projection's name (its checkpoint is stored under it). Names come from a small pool
// of slots, each held by one open tab through a Web Lock, so closed tabs leave no checkpoints
// behind: the next tab takes the slot over (and rebuilds its board when it has no saved view).
let projectionName;
let viewKey;

/** Takes the first free slot (trying this tab's previous one first) and holds it until unload. */
async function claimSlot() {
  const key = "evstore-kanban:slot";
  const preferred = Number(sessionStorage.getItem(key) ?? "1");
  if (!navigator.locks) return `board-${me.tab}`;
  for (const slot of [preferred, ...Array.from({ length: 64 }, (_, i) => i + 1).filter((n) => n !== preferred)]) {
    const claimed = await new Promise((resolve) => {
      navigator.locks.request(`evstore-kanban:projection-slot-${slot}`, { ifAvailable: true }, (lock) => {
        resolve(lock !== null);
        // Held as long as the tab lives.
        return lock ? new Promise(() => {}) : undefined;
      });
    });
    if (claimed) {
      sessionStorage.setItem(key, String(slot));
      return `board-${slot}`;
    }
  }
  return `board-${me.tab}`;
}

let store;
let projector;
const app = {
  board: { position: 0, cards: {} }, // the projection of the store's (in sync mode: the mirror's) events
  shown: { position: 0, cards: {} }, // what the board shows: `board` plus the pending events
  resumed: "",
  handledThisLoad: 0,
  log: [], // every event, in position order (the inspector's live copy)
  caughtUp: false,
  view: "log", // log | streams | projection
  filter: { kind: "all" }, // { kind: "all" } | { kind: "stream", stream } | { kind: "type", type }
  editing: null, // { id, baseVersion, baseTitle }
  fresh: new Set(),
  expanded: new Set(), // positions of the events open in the inspector
};

// ---------------------------------------------------------------------------------------------
// The projection: events → board

function cardIdOf(streamId) {
  return streamId.slice("card-".length);
}

/** Applies one event to the board. Idempotent: events at or below the view's position are
 * already in it (the projector delivers at least once). */
function apply(board, e) {
  if (e.position <= board.position) return false;
  applyToCards(board.cards, e);
  board.position = e.position;
  return true;
}

/** What one event does to the cards (`e.version` is the card's version after it). */
function applyToCards(cards, e) {
  const board = { cards };
  const id = cardIdOf(e.streamId);
  const card = board.cards[id];
  const by = { author: e.metadata.author ?? "?", emoji: e.metadata.emoji ?? "❔" };
  switch (e.type) {
    case "CardCreated":
      board.cards[id] = {
        id, title: e.data.title, column: e.data.column, version: e.version,
        createdAt: e.recordedAt, order: e.position, by,
      };
      break;
    case "CardRenamed":
      if (card) Object.assign(card, { title: e.data.title, version: e.version, by });
      break;
    case "CardMoved":
      if (card) Object.assign(card, { column: e.data.to, version: e.version, order: e.position, by });
      break;
    case "CardArchived":
      delete board.cards[id];
      break;
    default:
      if (card) card.version = e.version;
  }
}

function loadView() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(viewKey) ?? "null");
    return saved && typeof saved.position === "number" && saved.cards ? saved : null;
  } catch {
    return null;
  }
}

function saveView() {
  sessionStorage.setItem(viewKey, JSON.stringify(app.board));
}

/** Recomputes what the board shows: the projection, then (in sync mode) the pending events on
 * top, at the versions they will get; their cards are marked pending. */
function updateShown() {
  if (!SYNC_URL || sync.outbox.length === 0) {
    app.shown = app.board;
    return;
  }
  const cards = structuredClone(app.board.cards);
  let order = 1e15; // new pending cards go to the end of their column
  for (const batch of sync.outbox) {
    const id = cardIdOf(batch.stream);
    for (const e of batch.events) {
      const version = (cards[id]?.version ?? 0) + 1;
      applyToCards(cards, { ...e, streamId: batch.stream, version, position: order++ });
      if (cards[id]) cards[id].pending = (cards[id].pending ?? 0) + 1;
    }
  }
  app.shown = { position: app.board.position, cards };
}

async function startProjection() {
  projector = new Projector(store);
  const checkpoint = await projector.checkpoint(projectionName);
  const saved = loadView();
  const head = await store.head();
  // A saved view is usable when it covers the checkpoint and belongs to this database (a view
  // ahead of the log is left from a board that was reset).
  if (saved && saved.position >= checkpoint && saved.position <= head) {
    // The view holds everything up to the checkpoint (maybe a little more: those events come
    // again and `apply` skips them).
    app.board = saved;
    app.resumed = checkpoint > 0
      ? `resumed after its checkpoint (position ${checkpoint}); the saved view was at ${saved.position}`
      : "started from the beginning of the log";
  } else {
    // No view, or one older than the checkpoint: rebuild from position 0.
    if (checkpoint > 0) await projector.reset(projectionName);
    app.board = { position: 0, cards: {} };
    app.resumed = checkpoint > 0
      ? `rebuilt from the log: the saved view (${saved?.position ?? "none"}) was behind the checkpoint (${checkpoint})`
      : "built from the beginning of the log";
  }
  projector.add(
    projectionName,
    (events) => {
      let changed = false;
      for (const e of events) changed = apply(app.board, e) || changed;
      app.handledThisLoad += events.length;
      if (changed) {
        saveView();
        for (const e of events) if (e.type !== "CardArchived") app.fresh.add(cardIdOf(e.streamId));
        scheduleRender();
      }
    },
    // Batches of up to 50 while catching up; a partial batch is flushed after 30 ms.
    { batchSize: 50, flushAfterMs: 30, filter: { categories: ["card"] } },
  );
  await projector.start();
}

// ---------------------------------------------------------------------------------------------
// Commands: user actions → events (with the version the user saw)

function metadata() {
  return { author: me.name, emoji: me.emoji, tab: me.tab };
}

/**
 * Runs this tab's edits one after the other. Each waits until the board shows the one before
 * it, so it reads the card's version after this tab's own last change: clicking ▶ twice never
 * conflicts with yourself.
 */
let editQueue = Promise.resolve();
function serialized(edit) {
  const run = editQueue.then(edit);
  editQueue = run.catch(() => {});
  return run;
}

async function append(stream, events, expectedVersion) {
  const correlationId = crypto.randomUUID();
  const batch = events.map((e) => ({ ...e, metadata: metadata(), correlationId }));
  if (SYNC_URL) {
    // Into the outbox (it works offline): shown at once, marked pending until confirmed.
    const result = await sync.handle.append(stream, batch, { expectedVersion });
    await refreshOutbox();
    return result;
  }
  const result = await store.append(stream, batch, { expectedVersion });
  // The append stands even if the board's projection failed (its tab in the inspector says so).
  await projector.waitFor(result.position, { name: projectionName }).catch(() => {});
  return result;
}

async function createCard(title) {
  const id = crypto.randomUUID().slice(0, 8);
  await append(`card-${id}`, [{ type: "CardCreated", data: { title, column: "todo" } }], "no_stream");
}

/** Moves a card one column left (-1) or right (+1), or to column `to`. */
function moveCard(id, { to, step }) {
  return serialized(async () => {
    const card = app.shown.cards[id];
    if (!card) return;
    const target = to ?? COLUMNS[COLUMNS.findIndex((c) => c.id === card.column) + step]?.id;
    if (!target || card.column === target) return;
    try {
      await append(`card-${id}`, [{ type: "CardMoved", data: { from: card.column, to: target } }], card.version);
    } catch (error) {
      await explainRejection(error, card, `move “${card.title}”`);
    }
  });
}

function archiveCard(id) {
  return serialized(async () => {
    const card = app.shown.cards[id];
    if (!card) return;
    try {
      await append(`card-${id}`, [{ type: "CardArchived", data: { column: card.column } }], card.version);
      toast(`Archived “${card.title}” — its events stay in the log.`);
    } catch (error) {
      await explainRejection(error, card, `archive “${card.title}”`);
    }
  });
}

/** A card's events; in sync mode its pending events follow the confirmed ones. */
function readCard(stream, options = {}) {
  return SYNC_URL ? sync.handle.readStream(stream, { ...options, includePending: true }) : store.readStream(stream, options);
}

/** The author of a stream's last event, for conflict messages. */
async function lastChange(stream) {
  const [last] = await readCard(stream, { direction: "backward", maxCount: 1 });
  return last;
}

async function explainRejection(error, card, what) {
  if (error.code === "WrongExpectedVersion") {
    const last = await lastChange(`card-${card.id}`);
    const who = last?.metadata?.tab === me.tab ? "you (in this tab)" : `${last?.metadata?.emoji ?? ""} ${last?.metadata?.author ?? "someone"}`;
    toast(`Conflict: ${who} changed this card first (it is at v${error.actual}, you saw v${error.expected}). Could not ${what}; the board now shows the latest.`, "warn");
  } else {
    toast(`Could not ${what}: ${error.code ?? "Error"} — ${error.message}`, "warn");
  }
}

// ---------------------------------------------------------------------------------------------
// Rename with conflict resolution

function openEditor(id) {
  const card = app.shown.cards[id];
  if (!card) return;
  app.editing = { id, baseVersion: card.version, baseTitle: card.title };
  $("#edit-base").textContent = `You are editing version v${card.version} of card-${id}.`;
  $("#edit-title").value = card.title;
  $("#edit-warning").hidden = true;
  $("#edit-dialog").returnValue = ""; // Escape must not repeat the last close's "save"
  $("#edit-dialog").showModal();
  $("#edit-title").select();
}

/** While the editor is open, say so when another tab changes the card underneath. */
function refreshEditorWarning() {
  const editing = app.editing;
  if (!editing || !$("#edit-dialog").open) return;
  const card = app.shown.cards[editing.id];
  const warning = $("#edit-warning");
  if (!card) {
    warning.textContent = "This card was archived meanwhile.";
    warning.hidden = false;
  } else if (card.version !== editing.baseVersion) {
    warning.textContent = `${card.by.emoji} ${card.by.author} changed this card meanwhile (now v${card.version}: “${card.title}”). Saving will ask you what to keep.`;
    warning.hidden = false;
  }
}

async function saveEdit(title, expectedVersion, previous) {
  const { id } = app.editing;
  await serialized(() => append(`card-${id}`, [{ type: "CardRenamed", data: { title, previous } }], expectedVersion));
}

async function onEditorClosed() {
  const dialog = $("#edit-dialog");
  const editing = app.editing;
  if (dialog.returnValue !== "save" || !editing) {
    app.editing = null;
    return;
  }
  const title = $("#edit-title").value.trim();
  if (!title || title === editing.baseTitle) {
    app.editing = null;
    return;
  }
  try {
    await saveEdit(title, editing.baseVersion, editing.baseTitle);
    app.editing = null;
  } catch (error) {
    if (error.code !== "WrongExpectedVersion") {
      toast(`Could not rename: ${error.code ?? "Error"} — ${error.message}`, "warn");
      app.editing = null;
      return;
    }
    await showConflict(error, title);
  }
}

async function showConflict(error, mine) {
  const editing = app.editing;
  const stream = `card-${editing.id}`;
  const last = await lastChange(stream);
  const theirs = (await readCard(stream)).reduce(
    (title, e) => (e.type === "CardCreated" || e.type === "CardRenamed" ? e.data.title : title),
    editing.baseTitle,
  );
  const who = `${last?.metadata?.emoji ?? ""} ${last?.metadata?.author ?? "Someone"}`.trim();
  const archived = last?.type === "CardArchived";
  $("#conflict-text").textContent =
    `You started from v${error.expected}, but ${who} saved v${error.actual} first` +
    (archived ? " and archived the card." : ". Nothing of yours was written.");
  $("#conflict-theirs").textContent = archived ? "(archived)" : theirs;
  $("#conflict-yours").textContent = mine;
  $("#conflict-code").textContent = `evstore rejected the append: ${error.code} (expected ${error.expected}, actual ${error.actual}).`;
  $("#conflict-mine").disabled = archived;
  const dialog = $("#conflict-dialog");
  dialog.returnValue = "";
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  if (dialog.returnValue === "mine") {
    try {
      editing.baseVersion = error.actual;
      editing.baseTitle = theirs;
      await saveEdit(mine, error.actual, theirs);
      toast(`Saved your title on top of ${who}'s change.`);
    } catch (again) {
      if (again.code === "WrongExpectedVersion") return showConflict(again, mine);
      toast(`Could not rename: ${again.code} — ${again.message}`, "warn");
    }
  } else {
    toast("Kept their version.");
  }
  app.editing = null;
}

// ---------------------------------------------------------------------------------------------
// Rendering: the board

let renderQueued = false;
function scheduleRender() {
  if (renderQueued || !app.ready) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    updateShown();
    renderBoard();
    renderInspector();
    renderStatus();
    refreshEditorWarning();
  });
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

function renderBoard() {
  const columns = $("#columns");
  const focused = document.activeElement?.id === "new-card-title";
  const draft = $("#new-card-title")?.value ?? "";
  columns.replaceChildren(
    ...COLUMNS.map((column, index) => {
      const cards = Object.values(app.shown.cards)
        .filter((c) => c.column === column.id)
        .sort((a, b) => a.order - b.order);
      const list = el("div", { class: "cards" },
        cards.length ? cards.map((card) => renderCard(card, index)) : el("p", { class: "empty" }, column.id === "todo" ? "Nothing to do. Add a card above." : "Drop cards here."));
      const section = el("section", { class: "column", dataset: { column: column.id } },
        el("h2", {}, column.title, el("span", { class: "count" }, String(cards.length))),
        column.id === "todo" ? renderAddForm(draft) : null,
        list);
      section.addEventListener("dragover", (event) => { event.preventDefault(); section.classList.add("drop"); });
      section.addEventListener("dragleave", () => section.classList.remove("drop"));
      section.addEventListener("drop", (event) => {
        event.preventDefault();
        section.classList.remove("drop");
        const id = event.dataTransfer.getData("text/x-card");
        if (id) moveCard(id, { to: column.id });
      });
      return section;
    }),
  );
  if (focused) $("#new-card-title").focus();
  app.fresh.clear();
}

function renderAddForm(draft) {
  const input = el("input", { id: "new-card-title", placeholder: "A new card…", maxlength: 120, autocomplete: "off", "aria-label": "New card title" });
  input.value = draft;
  return el("form", {
    class: "add-card",
    onsubmit: async (event) => {
      event.preventDefault();
      const title = input.value.trim();
      if (!title) return;
      input.value = "";
      try {
        await createCard(title);
      } catch (error) {
        input.value = title;
        toast(`Could not add the card: ${error.code} — ${error.message}`, "warn");
      }
    },
  }, input, el("button", { id: "add-card", type: "submit" }, "Add"));
}

function renderCard(card, columnIndex) {
  const left = COLUMNS[columnIndex - 1];
  const right = COLUMNS[columnIndex + 1];
  const conflict = SYNC_URL ? openConflict(`card-${card.id}`) : null;
  const node = el("article", {
    class: ["card", app.fresh.has(card.id) ? "fresh" : "", card.pending ? "pending" : "", conflict ? "conflicted" : ""].filter(Boolean).join(" "),
    draggable: "true",
    dataset: { card: card.id },
    ondragstart: (event) => event.dataTransfer.setData("text/x-card", card.id),
    // A double click on the title renames; on a button it is two clicks of that button.
    ondblclick: (event) => { if (!event.target.closest("button")) openEditor(card.id); },
  },
  el("div", { class: "title" }, card.title),
  conflict ? renderConflict(card, conflict) : null,
  el("footer", {},
    el("span", { class: "who", title: `last change by ${card.by.author}` }, card.by.emoji),
    card.pending ? el("span", { class: "pending-mark", title: `${card.pending} change(s) not confirmed by the server yet` }, "⏳ pending") : null,
    el("button", {
      class: "ver", title: `Show stream card-${card.id} in the inspector`,
      "aria-label": `Version ${card.version}: show stream card-${card.id} in the inspector`,
      onclick: () => showStream(`card-${card.id}`),
    }, `v${card.version}`),
    el("span", { class: "actions" },
      iconButton("left", left ? `Move “${card.title}” to ${left.title}` : "", !left, () => moveCard(card.id, { step: -1 }), "◀"),
      iconButton("edit", `Rename “${card.title}”`, false, () => openEditor(card.id), "✎"),
      iconButton("right", right ? `Move “${card.title}” to ${right.title}` : "", !right, () => moveCard(card.id, { step: 1 }), "▶"),
      iconButton("archive", `Archive “${card.title}”`, false, () => archiveCard(card.id), "✕"),
    )));
  return node;
}

/** A button showing only a symbol: its label says what it does (for screen readers too). */
function iconButton(act, label, disabled, onclick, symbol) {
  return el("button", { dataset: { act }, title: label, "aria-label": label || undefined, disabled, onclick }, symbol);
}

// ---------------------------------------------------------------------------------------------
// Rendering: the inspector

function showStream(stream) {
  app.view = "log";
  app.filter = { kind: "stream", stream };
  renderInspector();
}

let inspectorRun = 0;
async function renderInspector() {
  for (const tab of $$(".tabs button")) tab.setAttribute("aria-selected", String(tab.dataset.view === app.view));
  renderFilters();
  const body = $("#inspector-body");
  const run = ++inspectorRun;
  let content;
  if (app.view === "streams") content = renderStreams();
  else if (app.view === "projection") content = renderProjection();
  else content = await renderLog();
  if (run === inspectorRun) body.replaceChildren(...[content].flat().filter((node) => node !== null));
}

function renderFilters() {
  const filters = $("#filters");
  if (app.view !== "log") return filters.replaceChildren();
  const chip = (label, filter, on) => el("button", {
    class: on ? "chip on" : "chip",
    onclick: () => { app.filter = filter; renderInspector(); },
  }, label);
  const chips = [chip("all", { kind: "all" }, app.filter.kind === "all")];
  for (const type of EVENT_TYPES) {
    chips.push(chip(type, { kind: "type", type }, app.filter.kind === "type" && app.filter.type === type));
  }
  if (app.filter.kind === "stream") chips.push(chip(`stream ${app.filter.stream} ✕`, { kind: "all" }, true));
  filters.replaceChildren(...chips);
}

/** The events to list: the live copy of the log, or a query the store answers itself. */
async function renderLog() {
  let events;
  let caption;
  if (app.filter.kind === "stream") {
    // A stream read, newest first, straight from the store.
    const { stream } = app.filter;
    events = await store.readStream(stream, { direction: "backward" }).catch((error) => {
      if (error.code === "StreamNotFound") return [];
      throw error;
    });
    caption = `Stream ${stream}: version ${await store.streamVersion(stream)}, read with readStream(…, { direction: "backward" })`;
  } else if (app.filter.kind === "type") {
    // A filtered read evaluated by the store (on its event-type index).
    events = await store.readAll({ direction: "backward", maxCount: 200, filter: { eventTypes: [app.filter.type] } });
    caption = `Newest ${app.filter.type} events, read with readAll({ filter: { eventTypes: ["${app.filter.type}"] } })`;
  } else {
    events = app.log.slice(-200).reverse();
    caption = `${app.log.length} events, newest first — followed live with subscribe({ fromPosition: 0 })${app.caughtUp ? "" : " (catching up…)"}`;
  }
  const newest = app.log.at(-1)?.position;
  return [
    el("p", { class: "caption" }, caption),
    ...events.map((e) => el("details", {
      class: e.position === newest && app.caughtUp ? "event new" : "event",
      dataset: { position: e.position },
      open: app.expanded.has(e.position),
      ontoggle: (event) => {
        if (event.target.open) app.expanded.add(e.position);
        else app.expanded.delete(e.position);
      },
    },
      el("summary", {},
        el("span", { class: "pos" }, `#${e.position}`),
        el("span", { class: "stream" }, el("button", { title: "Show this stream", onclick: (ev) => { ev.preventDefault(); showStream(e.streamId); } }, e.streamId)),
        el("span", { class: "type" }, e.type, " ", el("small", {}, `v${e.version}`)),
        el("span", { class: "by", title: `by ${e.metadata.author ?? "?"} at ${new Date(e.recordedAt).toLocaleTimeString()}` },
          `${e.metadata.emoji ?? ""} ${new Date(e.recordedAt).toLocaleTimeString()}`)),
      el("pre", {}, JSON.stringify(e, null, 2)))),
    events.length ? null : el("p", { class: "caption" }, "No events yet."),
  ];
}

function renderStreams() {
  const streams = new Map();
  for (const e of app.log) {
    const s = streams.get(e.streamId) ?? { id: e.streamId, version: 0, count: 0, last: e };
    s.version = e.version;
    s.count += 1;
    s.last = e;
    streams.set(e.streamId, s);
  }
  const rows = [...streams.values()].sort((a, b) => b.last.position - a.last.position);
  return [
    el("p", { class: "caption" }, `${rows.length} streams. A stream's version is the version of its last event; each append names the version it expects.`),
    el("table", { class: "streams" },
      el("thead", {}, el("tr", {}, el("th", {}, "stream"), el("th", {}, "title"), el("th", {}, "version"), el("th", {}, "last event"))),
      el("tbody", {}, rows.map((s) => {
        const card = app.board.cards[cardIdOf(s.id)];
        return el("tr", {},
          el("td", {}, el("button", { onclick: () => showStream(s.id) }, s.id)),
          el("td", {}, card ? card.title : "(archived)"),
          el("td", { class: "num" }, `v${s.version}`),
          el("td", {}, `${s.last.type} #${s.last.position}`));
      }))),
  ];
}

function renderProjection() {
  const status = projector?.status(projectionName);
  const cards = Object.keys(app.board.cards).length;
  const fact = (term, value, cls) => [el("dt", {}, term), el("dd", { class: cls }, String(value))];
  return [
    el("dl", { class: "facts" },
      fact("projection", projectionName),
      fact("state", status?.state ?? "—", `state-${status?.state}`),
      fact("checkpoint", status?.checkpoint ?? "—"),
      fact("view position", app.board.position),
      fact("handled since load", app.handledThisLoad),
      fact("cards on the board", cards),
      fact("on this load", app.resumed),
      status?.error ? fact("error", status.error, "state-failed") : []),
    el("p", { class: "explain" },
      "The board is a projection: evstore's Projector feeds it the card events in position order, ",
      "in batches (up to 50, flushed after 30 ms). After each batch the projector stores its checkpoint in ",
      "IndexedDB, and this tab keeps the view it built in sessionStorage. Reload the page: the projector ",
      "resumes after its checkpoint and handles only what is new."),
  ];
}

async function renderStatus() {
  $("#status-db").textContent = `IndexedDB “${DB_NAME}”`;
  $("#status-head").textContent = `head position #${app.log.at(-1)?.position ?? 0} · ${Object.keys(app.shown.cards).length} cards · checkpoint ${projector?.status(projectionName)?.checkpoint ?? 0}`;
  const live = $("#status-live");
  live.textContent = app.caughtUp ? (SYNC_URL ? "live: the server's events, then yours" : "live across tabs") : "catching up…";
  live.className = app.caughtUp ? "live" : "";
}

// ---------------------------------------------------------------------------------------------
// Toasts about other tabs: a `for await` loop over the events from now on

function toast(text, kind = "") {
  const node = el("div", { class: `toast ${kind}`, role: "status" }, text);
  $("#toasts").append(node);
  setTimeout(() => node.remove(), kind === "warn" ? 9000 : 4500);
}

async function announceOtherTabs() {
  for await (const e of store.subscribeAll({ fromPosition: "end", filter: { categories: ["card"] } })) {
    if (e.metadata.tab === me.tab) continue;
    const who = `${e.metadata.emoji ?? ""} ${e.metadata.author ?? "Another tab"}`;
    const title = e.data.title ?? app.board.cards[cardIdOf(e.streamId)]?.title ?? e.streamId;
    const text = {
      CardCreated: `${who} added “${title}”`,
      CardRenamed: `${who} renamed a card to “${title}”`,
      CardMoved: `${who} moved “${title}” to ${COLUMNS.find((c) => c.id === e.data.to)?.title ?? e.data.to}`,
      CardArchived: `${who} archived a card`,
    }[e.type];
    if (text) toast(text);
  }
}

// ---------------------------------------------------------------------------------------------
// Sync mode: the outbox, the pending/synced indicator, the offline toggle, conflicts per card

const sync = {
  handle: null, // from store.sync(); stopped (but still taking appends) while offline
  status: null,
  outbox: [], // sync.pending(): the batches not in the mirror yet
  conflicts: new Map(), // every conflict reported (by any handle of this page), by key
  offline: false,
  dismissed: new Set(JSON.parse(sessionStorage.getItem(`${DB_NAME}:dismissed`) ?? "[]")),
  announced: new Set(),
};

/** Starts syncing (a new handle: `stop()` ends one for good). */
async function connect() {
  const handle = await store.sync({ url: SYNC_URL, filter: { categories: ["card"] } });
  sync.unlisten?.();
  sync.handle = handle;
  sync.unlisten = handle.onStatus((status) => {
    sync.status = status;
    refreshOutbox().catch((error) => console.warn("outbox", error));
    for (const conflict of status.conflicts) sync.conflicts.set(conflictKey(conflict), conflict);
    announceConflicts(status);
  });
  sync.status = handle.status;
  await refreshOutbox();
}

/** Goes offline or back online (in every tab of this browser: they follow localStorage). */
async function setOffline(offline) {
  if (offline === sync.offline && sync.handle) return;
  sync.offline = offline;
  if (offline) {
    sync.handle?.stop();
    sync.status = sync.handle?.status ?? null;
  } else {
    await connect();
  }
  renderSync();
}

async function refreshOutbox() {
  if (!sync.handle) return;
  sync.outbox = await sync.handle.pending();
  renderSync();
  scheduleRender();
}

/** The conflict of a card's stream still to be shown (the latest one reported for it). */
function openConflict(stream) {
  const conflicts = [...sync.conflicts.values()].filter((c) => c.stream === stream && !sync.dismissed.has(conflictKey(c)));
  return conflicts.at(-1) ?? null;
}

const conflictKey = (conflict) => conflict.pending[0]?.id ?? conflict.stream;

function dismiss(conflict) {
  sync.dismissed.add(conflictKey(conflict));
  sessionStorage.setItem(`${DB_NAME}:dismissed`, JSON.stringify([...sync.dismissed]));
  scheduleRender();
}

/** What a card event did, in a few words. */
function describe(e) {
  const who = `${e.metadata?.emoji ?? ""} ${e.metadata?.author ?? "someone"}`.trim();
  const what = {
    CardCreated: `created it as “${e.data?.title}”`,
    CardRenamed: `renamed it to “${e.data?.title}”`,
    CardMoved: `moved it to ${COLUMNS.find((c) => c.id === e.data?.to)?.title ?? e.data?.to}`,
    CardArchived: "archived it",
  }[e.type] ?? e.type;
  return `${who} ${what}`;
}

function renderConflict(card, conflict) {
  const mine = conflict.pending.map((e) => describe({ ...e, metadata: { ...e.metadata, author: "you", emoji: "" } })).join(", ");
  const theirs = conflict.theirs.map(describe).join(", ");
  return el("div", { class: "conflict", role: "alert" },
    el("p", {}, el("strong", {}, "⚠️ Conflict: "), `your offline change (${mine}) was not saved — meanwhile ${theirs}.`),
    el("div", { class: "conflict-actions" },
      el("button", {
        dataset: { act: "reapply" },
        onclick: () => serialized(async () => {
          try {
            await append(conflict.stream, conflict.pending.map(({ type, data }) => ({ type, data })), app.shown.cards[card.id]?.version ?? "any");
            dismiss(conflict);
          } catch (error) {
            toast(`Could not apply your change again: ${error.code} — ${error.message}`, "warn");
          }
        }),
      }, "Apply mine on top"),
      el("button", { dataset: { act: "dismiss" }, onclick: () => dismiss(conflict) }, "Keep theirs")));
}

/** A toast per new conflict (the card shows it too, unless it is gone). */
function announceConflicts(status) {
  for (const conflict of status.conflicts) {
    const key = conflictKey(conflict);
    if (sync.announced.has(key) || sync.dismissed.has(key)) continue;
    sync.announced.add(key);
    const card = app.shown.cards[cardIdOf(conflict.stream)];
    toast(`Conflict on “${card?.title ?? conflict.stream}”: your offline change was not saved — ${conflict.theirs.map(describe).join(", ")}.`, "warn");
  }
}

/** The indicator: synced / pending / offline / error, with the count of pending events. */
function renderSync() {
  if (!SYNC_URL) return;
  const pending = sync.outbox.reduce((n, batch) => n + batch.events.length, 0);
  const status = sync.status;
  let state;
  let text;
  if (sync.offline) {
    state = "offline";
    text = pending ? `Offline · ${pending} pending` : "Offline";
  } else if (status?.state === "error" || (status?.state === "offline" && status?.lastError)) {
    state = "error";
    text = `Cannot reach the server${pending ? ` · ${pending} pending` : ""}`;
  } else if (pending) {
    state = "pending";
    text = `Syncing · ${pending} pending`;
  } else if (status?.state === "online") {
    state = "synced";
    text = "Synced";
  } else {
    state = "pending";
    text = "Connecting…";
  }
  const indicator = $("#sync-indicator");
  indicator.dataset.state = state;
  indicator.dataset.pending = String(pending);
  indicator.textContent = text;
  indicator.title = `${SYNC_URL} — server position ${status?.lastPulledPosition ?? 0}${status?.lastError ? ` — ${status.lastError}` : ""}`;
  const toggle = $("#offline-toggle");
  toggle.textContent = sync.offline ? "Go online" : "Go offline";
  toggle.setAttribute("aria-pressed", String(sync.offline));
}

async function startSync() {
  $("#sync-bar").hidden = false;
  $("#sync-server").textContent = SYNC_URL;
  $("#offline-toggle").addEventListener("click", () => {
    const offline = !sync.offline;
    localStorage.setItem(OFFLINE_KEY, offline ? "1" : "0");
    setOffline(offline).catch((error) => toast(`Could not ${offline ? "stop" : "start"} syncing: ${error.message}`, "warn"));
  });
  window.addEventListener("storage", (event) => {
    if (event.key === OFFLINE_KEY) setOffline(event.newValue === "1").catch(console.warn);
  });
  await connect();
  if (localStorage.getItem(OFFLINE_KEY) === "1") await setOffline(true);
  renderSync();
}

// ---------------------------------------------------------------------------------------------
// Reset: delete the database, tell the other tabs to reload

const resetChannel = new BroadcastChannel("evstore-kanban:reset");
resetChannel.onmessage = () => {
  store?.close();
  clearSavedViews();
  $("#app").hidden = true;
  const loading = $("#loading");
  loading.hidden = false;
  loading.textContent = "Another tab reset the board — reloading…";
  setTimeout(() => location.reload(), 100);
};

function clearSavedViews() {
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith("evstore-kanban:view:")) sessionStorage.removeItem(key);
  }
}

async function resetBoard() {
  const question = SYNC_URL
    ? "Delete this browser's copy of the board (its pending changes too)? The server keeps its events and sends them again."
    : "Delete every event of this board (in all tabs)?";
  if (!confirm(question)) return;
  sync.handle?.stop();
  await projector?.stop();
  store.close();
  clearSavedViews();
  // The other tabs' connections close themselves when the deletion asks them to.
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(DB_NAME);
    request.onsuccess = request.onerror = resolve;
    request.onblocked = () => toast("Waiting for the other tabs to let go of the database…");
  });
  resetChannel.postMessage("reset");
  location.reload();
}

// ---------------------------------------------------------------------------------------------
// Start

async function main() {
  await init();
  store = await EventStore.open(DB_NAME);
  $("#me-badge").textContent = `${me.emoji} You are ${me.name}`;
  $("#new-tab").href = `./${location.search}`;
  if (SYNC_URL) $(".tagline").textContent = "Every click is an event in evstore — kept in IndexedDB, synced through evstore serve with every browser on this board, offline too.";
  $("#mode-link").href = SYNC_URL ? "./" : "./?sync";
  $("#mode-link").textContent = SYNC_URL ? "Board in this browser only ↗" : "Sync with a server ↗";
  document.title = `${me.emoji} ${me.name} · evstore kanban`;

  projectionName = await claimSlot();
  viewKey = `evstore-kanban:view:${DB_NAME}:${projectionName}`;
  if (SYNC_URL) await startSync();
  await startProjection();

  // The inspector's live copy of the log: history first, then live events.
  let resolveCaughtUp;
  const caughtUp = new Promise((resolve) => (resolveCaughtUp = resolve));
  store.subscribe(
    { fromPosition: 0 },
    (e) => {
      app.log.push(e);
      if (app.caughtUp) scheduleRender();
    },
    {
      onCaughtUp: () => {
        app.caughtUp = true;
        resolveCaughtUp();
        scheduleRender();
      },
      onError: (error) => toast(`The log subscription stopped: ${error.code} — ${error.message}`, "warn"),
    },
  );
  announceOtherTabs().catch((error) => console.warn("announcements stopped", error));

  $("#edit-dialog").addEventListener("close", onEditorClosed);
  // Enter saves (the form's first button is Cancel, which implicit submission would pick).
  $("#edit-title").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && $("#edit-title").value.trim()) {
      event.preventDefault();
      $("#edit-dialog").close("save");
    }
  });
  for (const tab of $$(".tabs button")) {
    tab.addEventListener("click", () => {
      app.view = tab.dataset.view;
      renderInspector();
    });
  }
  $("#reset").addEventListener("click", resetBoard);

  await caughtUp;
  // Wait until the projection has handled the log up to where the inspector caught up, so the
  // first paint is complete. (Events its filter leaves out — not card events — are not waited
  // for: the board may be current although its own position is below the head.)
  await projector.waitFor(app.log.at(-1)?.position ?? 0);
  $("#loading").hidden = true;
  $("#app").hidden = false;
  app.ready = true;
  updateShown();
  renderBoard();
  renderInspector();
  renderStatus();
  document.body.dataset.ready = "true";
  window.kanban = { store, projector, app, projectionName, sync };
}

main().catch((error) => {
  console.error(error);
  const loading = $("#loading");
  loading.hidden = false;
  loading.classList.add("error");
  loading.textContent = `Could not start: ${error.code ?? ""} ${error.message}`;
});
