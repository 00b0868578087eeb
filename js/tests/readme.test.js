// The package: the built pkg/ holds what its package.json promises, its types have no `any`, and
// the README's quick start runs as written in Chromium (imported by name through an import map).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { launch, openPage, outputDir, repoRoot } from "./helpers.js";

const pkg = join(repoRoot, "pkg");

describe("the npm package", () => {
  test("package.json points at files that exist, and `files` ships all of them", () => {
    const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
    assert.equal(manifest.name, "evstore");
    assert.equal(manifest.type, "module");
    for (const file of [manifest.main, manifest.module, manifest.types, manifest.exports["."].default, manifest.exports["."].types]) {
      assert.ok(existsSync(join(pkg, file)), `${file} exists`);
    }
    // `npm pack --dry-run` lists exactly what would be published.
    const packed = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: pkg, encoding: "utf8" }));
    const files = packed[0].files.map((f) => f.path);
    for (const needed of ["evstore.js", "evstore.d.ts", "evstore_bg.wasm", "package.json", "README.md"]) {
      assert.ok(files.includes(needed), `${needed} is published`);
    }
    // Every module evstore.js imports (wasm-bindgen's snippets) is published.
    const imports = [...readFileSync(join(pkg, "evstore.js"), "utf8").matchAll(/from '\.\/([^']+)'/g)].map((m) => m[1]);
    assert.ok(imports.length > 0);
    for (const file of imports) assert.ok(files.includes(file), `${file} is published`);
    assert.ok(!files.some((f) => f.startsWith(".")), `no dot files: ${files}`);
  });

  test("the public types have no `any`", () => {
    const dts = readFileSync(join(pkg, "evstore.d.ts"), "utf8");
    // InitOutput describes the raw wasm exports (wasm-bindgen's own); everything else is the API.
    const publicSurface = dts.replace(/export interface InitOutput \{[\s\S]*?\n\}/, "");
    const code = publicSurface
      .replace(/\/\*[\s\S]*?\*\//g, "") // comments
      .replace(/"[^"\n]*"/g, '""'); // string literal types such as "any"
    const anys = code.split("\n").filter((line) => /\bany\b/.test(line));
    assert.deepEqual(anys, []);
    for (const name of ["RecordedEvent", "NewEvent", "AppendResult", "ErrorCode", "EvstoreError", "ProjectionOptions"]) {
      assert.match(dts, new RegExp(`export (interface|type) ${name}\\b`));
    }
  });
});

describe("the README", () => {
  let browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  test("the quick start runs as written", async () => {
    const readme = readFileSync(join(pkg, "README.md"), "utf8");
    const quickStart = readme.split("## Quick start")[1];
    const code = /```js\n([\s\S]*?)```/.exec(quickStart)?.[1];
    assert.ok(code, "the README has a quick start");
    // Served from test-output/: the code verbatim as a module, "evstore" mapped to the build.
    const dir = join(outputDir, "readme");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "quickstart.js"), code);
    writeFileSync(
      join(dir, "index.html"),
      `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "evstore": "/pkg/evstore.js" } }</script>
<script type="module">import "./quickstart.js"; window.quickstartDone = true;</script>\n`,
    );
    const page = await openPage(browser.context, "test-output/readme/index.html");
    await page.waitForFunction(() => window.quickstartDone === true || undefined, null, { timeout: 20_000 }).catch(() => {});
    const logs = page.logs.join("\n");
    assert.deepEqual(page.problems, [], logs);
    assert.equal(await page.evaluate(() => window.quickstartDone), true, logs);
    assert.match(logs, /WrongExpectedVersion 1 2/);
    assert.match(logs, /1 Opened/);
    assert.match(logs, /2 Deposited/);
    assert.match(logs, /caught up/);
    assert.match(logs, /balance 50/);
  });
});
