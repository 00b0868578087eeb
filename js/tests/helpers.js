// Shared set-up of the end-to-end tests: a static server for the repository root (started by
// scripts/test-js.sh, or here when the tests run alone), and Debian's Chromium driven by
// playwright-core with a fresh user-data dir per launch.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const outputDir = process.env.EVSTORE_TEST_OUTPUT ?? join(repoRoot, "test-output");

/** The flags Debian's Chromium needs here (headless, as root, on a closed network). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let server;

/** The base URL of a static server for the repository root (pkg/, www/, js/tests/fixtures/). */
export async function baseUrl() {
  if (process.env.EVSTORE_BASE_URL) return process.env.EVSTORE_BASE_URL.replace(/\/$/, "");
  server ??= startServer();
  return (await server).url;
}

/** Starts `python3 -m http.server` for the repository root on a free 127.0.0.1 port. */
export function startStaticServer() {
  const child = spawn("python3", ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "ignore"],
  });
  return new Promise((resolvePort, reject) => {
    let seen = "";
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const match = /port (\d+)/.exec(seen);
      if (match) resolvePort({ url: `http://127.0.0.1:${match[1]}`, child });
    });
    child.on("exit", (code) => reject(new Error(`static server exited (${code})`)));
  });
}

async function startServer() {
  const started = await startStaticServer();
  process.on("exit", () => started.child.kill());
  started.child.unref();
  started.child.stdout.unref?.();
  return started;
}

/**
 * Launches Chromium with a fresh profile. Returns the browser context (all its pages share
 * IndexedDB and BroadcastChannel, like tabs of one window) and `close()`, which also removes
 * the profile.
 */
export async function launch() {
  const userDataDir = await mkdtemp(join(tmpdir(), "evstore-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 860 },
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Opens `path` (relative to the server root) in a new tab and records what the page logs, so a
 * failing test can show it. `page.problems` lists uncaught errors and console errors.
 */
export async function openPage(context, path) {
  const page = await context.newPage();
  page.problems = [];
  page.logs = [];
  page.on("pageerror", (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    page.logs.push(`${message.type()}: ${message.text()}`);
    if (message.type() === "error") page.problems.push(`console.error: ${message.text()}`);
  });
  await page.goto(`${await baseUrl()}/${path.replace(/^\//, "")}`);
  return page;
}

/** A tab on the test fixture: `window.evstore` is the initialized package, `window.t` helpers. */
export async function openFixture(context) {
  const page = await openPage(context, "js/tests/fixtures/index.html");
  await page.waitForFunction(() => window.evstoreReady === true);
  return page;
}

/** A test file's `before`: one Chromium (fresh profile) with a fixture tab. */
export async function launchWithFixture() {
  const browser = await launch();
  return { browser, page: await openFixture(browser.context) };
}

/** The matching `after`: shows what the tab reported as problems, then closes the browser. */
export async function closeWithReport({ browser, page }) {
  if (page?.problems.length) console.log(page.problems.join("\n"));
  await browser?.close();
}

/** Reloads a fixture tab and waits for the package to be ready again. */
export async function reloadFixture(page) {
  await page.reload();
  await page.waitForFunction(() => window.evstoreReady === true);
}

/** Saves a screenshot under test-output/ and returns its path. */
export async function screenshot(page, name) {
  await mkdir(outputDir, { recursive: true });
  const path = join(outputDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** A database name no other test uses. */
export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
