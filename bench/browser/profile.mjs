// Profiles one browser workload with Chromium's sampling profiler (CDP `Profiler`) and prints the
// functions with the most self time — JavaScript and WebAssembly (names come from the .wasm name
// section; build pkg/ first with scripts/build-pkg.sh, or set BENCH_PKG to another built package,
// e.g. one whose .wasm went through `wasm-opt -Oz -g`, which keeps the names).
//
//   node bench/browser/profile.mjs append evstore     # batched append through evstore
//   node bench/browser/profile.mjs readAll raw        # read_all through raw IndexedDB
//
// Workloads: append, single, readAll, readStream. Kinds: evstore (default), raw.
// Set PROFILE_OUT=file.cpuprofile to keep the profile (open it in Chrome DevTools).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import { join } from "node:path";

import { CHROMIUM_ARGS, startStaticServer } from "../../js/tests/helpers.js";
import { repoRoot } from "../report.mjs";
import { routePackage } from "./package.mjs";

const require = createRequire(join(repoRoot, "js", "package.json"));
const { chromium } = require("playwright-core");

const [workload = "append", kind = "evstore"] = process.argv.slice(2);

const server = await startStaticServer();
const userDataDir = await mkdtemp(join(os.tmpdir(), "evstore-profile-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: CHROMIUM_ARGS,
});
context.setDefaultTimeout(300_000);
await routePackage(context);
try {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error(`pageerror: ${error.message}`));
  await page.goto(`${server.url}/bench/browser/index.html`);
  await page.waitForFunction(() => window.benchReady === true);

  const run = {
    append: () => page.evaluate((k) => window.bench.appendRun(k, `profile-append-${k}`, 10000, 100, 100), kind),
    single: () => page.evaluate((k) => window.bench.appendRun(k, `profile-single-${k}`, 1000, 1, 100), kind),
    readAll: () => page.evaluate((k) => window.bench.readAll(k, "profile-read", 11000), kind),
    readStream: () => page.evaluate((k) => window.bench.readStream(k, "profile-read", "big-0", 1000, 10), kind),
  }[workload];
  if (!run) throw new Error(`unknown workload ${workload}`);
  if (workload.startsWith("read")) {
    await page.evaluate(() => window.bench.buildReadFixture("profile-read", 10000, 1000));
  }
  await run(); // warm-up

  const cdp = await context.newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  await cdp.send("Profiler.start");
  let ms = 0;
  for (let i = 0; i < 3; i++) ms += await run();
  const { profile } = await cdp.send("Profiler.stop");
  if (process.env.PROFILE_OUT) await writeFile(process.env.PROFILE_OUT, JSON.stringify(profile));

  // Self time per function: samples landing on each node, grouped by function name and script.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const frame = node.callFrame;
    const script = frame.url ? frame.url.split("/").pop() : "";
    const key = `${frame.functionName || "(anonymous)"}  ${script}`;
    self.set(key, (self.get(key) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`${workload} through ${kind}: 3 runs, ${ms.toFixed(0)} ms in the workload, ${(total / 1000).toFixed(0)} ms sampled`);
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.PROFILE_TOP ?? 40));
  for (const [key, us] of top) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(1).padStart(8)} ms  ${key}`);
} finally {
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
  server.child.kill();
}
