// The package through a bundler: webpack 5 bundles an app that imports "evstore" from
// node_modules, turns wasm-bindgen's `new URL("evstore_bg.wasm", import.meta.url)` into an
// emitted asset, and the bundle runs in Chromium.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";

import webpack from "webpack";

import { launch, openPage, outputDir, repoRoot } from "./helpers.js";

const app = join(outputDir, "bundler");

function build(config) {
  return new Promise((resolve, reject) => {
    webpack(config, (error, stats) => {
      if (error) return reject(error);
      if (stats.hasErrors()) return reject(new Error(stats.toString("errors-only")));
      resolve(stats);
    });
  });
}

describe("through a bundler", () => {
  let browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  test("webpack 5 bundles an app importing \"evstore\", with the .wasm as an asset", { timeout: 120_000 }, async () => {
    rmSync(app, { recursive: true, force: true });
    mkdirSync(join(app, "src"), { recursive: true });
    mkdirSync(join(app, "node_modules"), { recursive: true });
    // As if installed: node_modules/evstore is the built package.
    symlinkSync(join(repoRoot, "pkg"), join(app, "node_modules", "evstore"), "dir");
    writeFileSync(
      join(app, "src", "main.js"),
      `import init, { EventStore } from "evstore";

async function main() {
  await init();
  const store = await EventStore.inMemory();
  await store.append("bundled-1", [{ type: "Bundled", data: { ok: true } }], { expectedVersion: "no_stream" });
  const [event] = await store.readStream("bundled-1");
  document.body.dataset.result = JSON.stringify({ type: event.type, data: event.data, version: event.version });
}

main().catch((error) => {
  document.body.dataset.result = JSON.stringify({ error: String(error) });
});
`,
    );
    const stats = await build({
      mode: "production",
      context: app,
      entry: "./src/main.js",
      output: { path: join(app, "dist"), filename: "main.js", publicPath: "auto", clean: true },
      resolve: { modules: [join(app, "node_modules")] },
      performance: { hints: false },
      devtool: false,
    });
    assert.ok(!stats.hasWarnings(), stats.toString("errors-warnings"));
    const emitted = readdirSync(join(app, "dist"));
    assert.ok(emitted.some((file) => file.endsWith(".wasm")), `the wasm was emitted: ${emitted}`);
    writeFileSync(join(app, "dist", "index.html"), `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><body><script src="main.js"></script></body>\n`);

    const page = await openPage(browser.context, `${relative(repoRoot, app)}/dist/index.html`);
    await page.waitForSelector("body[data-result]", { state: "attached" });
    const result = JSON.parse(await page.locator("body").getAttribute("data-result"));
    assert.deepEqual(result, { type: "Bundled", data: { ok: true }, version: 1 }, page.logs.join("\n"));
    assert.deepEqual(page.problems, []);
  });
});
