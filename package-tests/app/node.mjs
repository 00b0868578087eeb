// evstore under Node, as an application's unit tests use it: the wasm loaded synchronously from
// the installed package, a store in memory. Prints what it read as one JSON line.
import { readFileSync } from "node:fs";

import { EventStore, initSync } from "evstore";

initSync({ module: readFileSync(new URL(import.meta.resolve("evstore/evstore_bg.wasm"))) });

const store = await EventStore.inMemory();
const first = await store.append("order-1", [{ type: "Placed", data: { total: 12 } }], { expectedVersion: "no_stream" });
await store.append("order-1", [{ type: "Paid", data: { total: 12 } }], { expectedVersion: first.nextExpectedVersion });
let conflict = null;
try {
  await store.append("order-1", [{ type: "Paid", data: { total: 12 } }], { expectedVersion: 1 });
} catch (error) {
  conflict = error.code;
}
const events = await store.readStream("order-1");
console.log(JSON.stringify({
  events: events.map((e) => [e.version, e.position, e.type, e.data]),
  head: await store.head(),
  conflict,
}));
store.close();
