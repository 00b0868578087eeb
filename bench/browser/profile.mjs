// Profiles one browser workload with Chromium's sampling profiler (CDP `Profiler`) and prints the
// functions with the most self time — JavaScript and WebAssembly (names come from the .wasm name
// section; build pkg/ first with scripts/build-pkg.sh, or set BENCH_PKG to another built package,
// e.g. one whose .wasm went through `wasm-opt -Oz -g`, which keeps the names).
//
//   node bench/browser/profile.mjs append evstore     # batched append through evstore
//   node bench/browser/profile.mjs readAll raw        # read_all through raw IndexedDB
//   node bench/browser/profile.mjs single both        # evstore and raw in turns, side by side
//
// Workloads: append, single, readAll, readStream. Kinds: evstore (default), raw, both. `both`
// profiles evstore and raw runs in alternation in the same page (PROFILE_RUNS each, default 6)
// and prints each function's self time for both and the difference, largest difference first:
// on a loaded machine only figures taken in the same conditions compare.
// Set PROFILE_OUT=file.cpuprofile to keep the profile of a single kind (open it in DevTools).
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
const TOP = Number(process.env.PROFILE_TOP ?? 40);

/** Adds each sampled function's self time (µs) of `profile` to `into`. */
function addSelfTimes(profile, into) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const deltas = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id).callFrame;
    const script = frame.url ? frame.url.split("/").pop() : "";
    const key = `${frame.functionName || "(anonymous)"}  ${script}`;
    into.set(key, (into.get(key) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
  });
}

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

  let fresh = 0;
  const workloads = {
    append: (k) => page.evaluate(([k, n]) => window.bench.appendRun(k, `profile-append-${k}-${n}`, 10000, 100, 100), [k, fresh++]),
    single: (k) => page.evaluate(([k, n]) => window.bench.appendRun(k, `profile-single-${k}-${n}`, 1000, 1, 100), [k, fresh++]),
    readAll: (k) => page.evaluate((k) => window.bench.readAll(k, "profile-read", 11000), k),
    readStream: (k) => page.evaluate((k) => window.bench.readStream(k, "profile-read", "big-0", 1000, 10), k),
  };
  const run = workloads[workload];
  if (!run) throw new Error(`unknown workload ${workload}`);
  if (!["evstore", "raw", "both"].includes(kind)) throw new Error(`unknown kind ${kind}`);
  if (workload.startsWith("read")) {
    await page.evaluate(() => window.bench.buildReadFixture("profile-read", 10000, 1000));
  }
  const kinds = kind === "both" ? ["evstore", "raw"] : [kind];
  for (const k of kinds) await run(k); // warm-up

  const cdp = await context.newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  if (kind !== "both") {
    await cdp.send("Profiler.start");
    let ms = 0;
    for (let i = 0; i < 3; i++) ms += await run(kind);
    const { profile } = await cdp.send("Profiler.stop");
    if (process.env.PROFILE_OUT) await writeFile(process.env.PROFILE_OUT, JSON.stringify(profile));
    const self = new Map();
    addSelfTimes(profile, self);
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    console.log(`${workload} through ${kind}: 3 runs, ${ms.toFixed(0)} ms in the workload, ${(total / 1000).toFixed(0)} ms sampled`);
    const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP);
    for (const [key, us] of top) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(1).padStart(8)} ms  ${key}`);
  } else {
    const runs = Math.max(1, Number(process.env.PROFILE_RUNS ?? 6) | 0);
    const self = { evstore: new Map(), raw: new Map() };
    const ms = { evstore: 0, raw: 0 };
    for (let i = 0; i < runs; i++) {
      for (const k of i % 2 ? ["raw", "evstore"] : ["evstore", "raw"]) {
        await cdp.send("Profiler.start");
        ms[k] += await run(k);
        const { profile } = await cdp.send("Profiler.stop");
        addSelfTimes(profile, self[k]);
      }
    }
    console.log(`${workload}, ${runs} runs each in turns: evstore ${ms.evstore.toFixed(0)} ms, raw ${ms.raw.toFixed(0)} ms in the workload`);
    console.log(`${"evstore ms".padStart(10)} ${"raw ms".padStart(8)} ${"diff".padStart(8)}  function`);
    const keys = new Set([...self.evstore.keys(), ...self.raw.keys()]);
    const rows = [...keys].map((key) => [key, (self.evstore.get(key) ?? 0) / 1000, (self.raw.get(key) ?? 0) / 1000]);
    rows.sort((a, b) => Math.abs(b[1] - b[2]) - Math.abs(a[1] - a[2]));
    for (const [key, e, r] of rows.slice(0, TOP)) {
      console.log(`${e.toFixed(1).padStart(10)} ${r.toFixed(1).padStart(8)} ${(e - r).toFixed(1).padStart(8)}  ${key}`);
    }
  }
} finally {
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
  server.child.kill();
}
