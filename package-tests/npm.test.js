// The npm package as a user gets it: `npm pack` of the built pkg/, installed from the tarball into
// a fresh project (package-tests/app/ copied to a temporary directory), then used from there —
// under Node, in a page without a bundler and through a Vite build, both in headless Chromium.
//
// Run by scripts/test-packages.sh (which builds pkg/ first): node --test package-tests/npm.test.js
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { build } from "vite";

import { launch } from "../js/tests/helpers.js";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "../pkg");
const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));

/** wasm-bindgen names the snippets directory after a hash of the crate; the list says <hash>. */
const normalizeFile = (path) => path.replace(/^snippets\/evstore-[0-9a-f]+\//, "snippets/evstore-<hash>/");

const npm = (args, cwd) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** Serves `root` on a free 127.0.0.1 port (the .wasm as application/wasm); resolves its URL. */
function serve(root) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
  const server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, "http://localhost").pathname));
    const file = join(root, path.endsWith("/") ? `${path}index.html` : path);
    if (!file.startsWith(root)) return response.writeHead(403).end();
    try {
      const body = await readFile(file);
      response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((done) => {
    server.listen(0, "127.0.0.1", () => done({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() }));
  });
}

/** Opens `url` in a new tab, waits for `body[data-result]` and returns it parsed, with the page's problems. */
async function pageResult(context, url) {
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => message.type() === "error" && problems.push(`console.error: ${message.text()}`));
  await page.goto(url);
  await page.waitForSelector("body[data-result]", { state: "attached" });
  const result = JSON.parse(await page.locator("body").getAttribute("data-result"));
  await page.close();
  return { result, problems };
}

describe("the npm package, installed from its tarball", () => {
  let work;
  let app;
  let server;
  let browser;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "evstore-npm-"));
    app = join(work, "app");
    cpSync(join(here, "app"), app, { recursive: true });
    const [packed] = JSON.parse(npm(["pack", "--json", "--ignore-scripts", "--pack-destination", work], pkg));
    cpSync(join(work, packed.filename), join(app, packed.filename));
    npm(["install", "--no-audit", "--no-fund", "--loglevel=error", `./${packed.filename}`], app);
    server = await serve(app);
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    server?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("npm pack ships exactly the files in package-tests/npm-files.txt", () => {
    const [packed] = JSON.parse(npm(["pack", "--dry-run", "--json", "--ignore-scripts"], pkg));
    const shipped = packed.files.map((file) => normalizeFile(file.path)).sort();
    const expected = readFileSync(join(here, "npm-files.txt"), "utf8").split("\n").filter(Boolean).sort();
    assert.deepEqual(shipped, expected, "update pkg-template/package.json `files` or package-tests/npm-files.txt");
    assert.equal(packed.filename, `evstore-${manifest.version}.tgz`);
  });

  test("the project holds a copy of the package from the tarball, not a link", () => {
    const installed = join(app, "node_modules", "evstore");
    assert.ok(!lstatSync(installed).isSymbolicLink() && lstatSync(installed).isDirectory());
    const dependency = JSON.parse(readFileSync(join(app, "package.json"), "utf8")).dependencies.evstore;
    assert.equal(dependency, `file:evstore-${manifest.version}.tgz`);
    assert.equal(JSON.parse(readFileSync(join(installed, "package.json"), "utf8")).version, manifest.version);
    for (const file of [manifest.main, manifest.types, "evstore_bg.wasm", "LICENSE-MIT", "LICENSE-APACHE"]) {
      assert.ok(existsSync(join(installed, file)), `${file} is installed`);
    }
  });

  test("under Node: initSync with the installed wasm, a store in memory", () => {
    const output = execFileSync(process.execPath, ["node.mjs"], { cwd: app, encoding: "utf8" });
    assert.deepEqual(JSON.parse(output), {
      events: [
        [1, 1, "Placed", { total: 12 }],
        [2, 2, "Paid", { total: 12 }],
      ],
      head: 2,
      conflict: "WrongExpectedVersion",
    });
  });

  test("in Chromium, a page without a bundler (import map) stores events in IndexedDB", async () => {
    const { result, problems } = await pageResult(browser.context, `${server.url}/index.html?db=installed-${Date.now()}`);
    assert.deepEqual(result, [[1, "ItemAdded", { sku: "tea" }]]);
    assert.deepEqual(problems, []);
  });

  test("in Chromium, the installed README's quick start runs as written", async () => {
    const readme = readFileSync(join(app, "node_modules", "evstore", "README.md"), "utf8");
    const code = /```js\n([\s\S]*?)```/.exec(readme.split("## Quick start")[1] ?? "")?.[1];
    assert.ok(code, "the installed README has a quick start");
    writeFileSync(join(app, "quickstart.js"), code);
    writeFileSync(
      join(app, "quickstart.html"),
      `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "evstore": "./node_modules/evstore/evstore.js" } }</script>
<script type="module">
import("./quickstart.js").then(
  () => { document.body.dataset.result = JSON.stringify({ done: true }); },
  (error) => { document.body.dataset.result = JSON.stringify({ error: String(error?.message ?? error) }); },
);
</script>\n`,
    );
    const { result, problems } = await pageResult(browser.context, `${server.url}/quickstart.html`);
    assert.deepEqual(result, { done: true });
    assert.deepEqual(problems, []);
  });

  test("in Chromium, a Vite build of an app importing \"evstore\" runs, with the wasm as an asset", { timeout: 120_000 }, async () => {
    const root = join(app, "vite");
    await build({ root, base: "./", logLevel: "warn", configFile: false, build: { outDir: join(root, "dist"), emptyOutDir: true } });
    const assets = readdirSync(join(root, "dist", "assets"));
    assert.ok(assets.some((file) => file.endsWith(".wasm")), `the wasm was emitted: ${assets}`);
    const { result, problems } = await pageResult(browser.context, `${server.url}/vite/dist/index.html`);
    assert.deepEqual(result, { type: "Bundled", data: { by: "vite" }, version: 1 });
    assert.deepEqual(problems, []);
  });
});
