import { launch, openFixture } from "./tests/helpers.js";
const browser = await launch();
try {
  const page = await openFixture(browser.context);
  const origin = new URL(page.url()).origin;
  const cdp = await browser.context.newCDPSession(page);
  console.log("before", await page.evaluate(() => navigator.storage.persisted()));
  console.log(await cdp.send("Browser.grantPermissions", { permissions: ["durableStorage"], origin }).catch((e) => "ERR " + e.message));
  console.log(await page.evaluate(async () => [await navigator.storage.persist(), await navigator.storage.persisted()]));
  const w = await page.evaluate(async () => {
    const src = `import init, * as evstore from "${location.origin}/pkg/evstore.js";
      await init();
      const s = await evstore.EventStore.open("w1");
      await s.append("w-1", [{ type: "A" }]);
      postMessage({ persist: await s.persist(), estimate: await s.estimate(), hasPersist: typeof navigator.storage.persist });`;
    const worker = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })), { type: "module" });
    return await new Promise((resolve, reject) => { worker.onmessage = (e) => resolve(e.data); worker.onerror = (e) => reject(new Error(e.message)); });
  });
  console.log(JSON.stringify(w));
} finally {
  await browser.close();
}
