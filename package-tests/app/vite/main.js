// A tiny app bundled by Vite: "evstore" comes from node_modules, and its
// `new URL("evstore_bg.wasm", import.meta.url)` becomes an emitted asset.
import init, { EventStore } from "evstore";

async function main() {
  await init();
  const store = await EventStore.inMemory();
  await store.append("bundled-1", [{ type: "Bundled", data: { by: "vite" } }], { expectedVersion: "no_stream" });
  const [event] = await store.readStream("bundled-1");
  document.body.dataset.result = JSON.stringify({ type: event.type, data: event.data, version: event.version });
}

main().catch((error) => {
  document.body.dataset.result = JSON.stringify({ error: `${error.code ?? ""} ${error.message ?? error}` });
});
