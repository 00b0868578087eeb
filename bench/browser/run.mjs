// `make bench-browser` (scripts/bench-browser.sh builds pkg/ first): runs bench/browser/ in
// headless Chromium through playwright-core (installed in js/node_modules), evstore beside raw
// IndexedDB in the same page, several interleaved runs per workload; prints the table and writes
// the "browser" section of bench/results.json.
//
// Environment: BENCH_RUNS (default 5), BENCH_SCALE (default 1), BENCH_ONLY (groups: append,
// single, read, live, cross, size), CHROMIUM (default /usr/bin/chromium), BENCH_OUT (default
// bench/results.json), BENCH_PKG (another built package directory to measure instead of pkg/,
// e.g. one built from an earlier commit for a before/after comparison in the same conditions).
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";

import { CHROMIUM_ARGS, startStaticServer } from "../../js/tests/helpers.js";
import { printTables, repoRoot, resultsPath } from "../report.mjs";
import { packageDir, routePackage } from "./package.mjs";

const require = createRequire(join(repoRoot, "js", "package.json"));
const { chromium } = require("playwright-core");

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5) | 0);
const SCALE = Number(process.env.BENCH_SCALE ?? 1) || 1;
const OUT = process.env.BENCH_OUT ?? resultsPath;
const count = (n) => Math.max(1, Math.round(n * SCALE));
// BENCH_ONLY: comma-separated groups (append, single, read, live, cross, size); default all.
const ONLY = (process.env.BENCH_ONLY ?? "").split(",").map((g) => g.trim()).filter(Boolean);
const wants = (group) => ONLY.length === 0 || ONLY.includes(group);


// ------------------------------------------------------------------------------------------------
// Statistics (as in benches/native/bench.rs)

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(Math.max(rank, 1), s.length) - 1];
};
const round = (v) => (Number.isFinite(v) ? Math.round(v * (Math.abs(v) >= 100 ? 10 : 10000)) / (Math.abs(v) >= 100 ? 10 : 10000) : null);
const stats = (xs) => ({
  median: round(median(xs)),
  min: round(Math.min(...xs)),
  max: round(Math.max(...xs)),
  runs: xs.map(round),
});

const workloads = [];

function record({ id, name, detail, unit, better, baselineLabel, evstore, baseline, target, note }) {
  const ratios = baseline ? evstore.map((e, i) => e / baseline[i]) : null;
  let met = null;
  if (target) {
    const v = target.on === "ratio" ? median(ratios) : median(evstore);
    met = target.better === "higher" ? v >= target.value : target.strict ? v < target.value : v <= target.value;
  }
  workloads.push({
    id,
    name,
    detail,
    unit,
    better,
    evstore: stats(evstore),
    baseline: baseline ? { label: baselineLabel, stats: stats(baseline) } : null,
    ratio: ratios ? stats(ratios) : null,
    target: target ? { text: target.text, on: target.on, better: target.better, value: target.value, met } : null,
    note: note ?? null,
  });
}

const progress = (text) => console.error(`  · ${text}`);

/** Runs `evstore(run)` and `raw(run)` once per run, alternating which goes first. */
async function paired(evstore, raw) {
  const e = [];
  const r = [];
  for (let run = 0; run < RUNS; run++) {
    if (run % 2 === 0) {
      e.push(await evstore(run));
      r.push(await raw(run));
    } else {
      r.push(await raw(run));
      e.push(await evstore(run));
    }
  }
  return [e, r];
}

// ------------------------------------------------------------------------------------------------
// Server and browser

async function openBenchPage(context, url) {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") console.error(`console.error: ${message.text()}`);
  });
  await page.goto(`${url}/bench/browser/index.html`);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 60_000 });
  return page;
}

// ------------------------------------------------------------------------------------------------

async function main() {
  const started = performance.now();
  const wasmPath = join(packageDir, "evstore_bg.wasm");
  const wasm = await readFile(wasmPath).catch(() => {
    throw new Error("pkg/evstore_bg.wasm is missing: run scripts/build-pkg.sh (make bench-browser does)");
  });
  const server = await startStaticServer();
  const userDataDir = await mkdtemp(join(os.tmpdir(), "evstore-bench-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
  context.setDefaultTimeout(120_000);
  await routePackage(context);
  const browserVersion = context.browser()?.version() ?? "";
  try {
    const page = await openBenchPage(context, server.url);
    const pageB = await openBenchPage(context, server.url);
    const userAgent = await page.evaluate(() => navigator.userAgent);
    const payloadBytes = await page.evaluate(() => window.bench.payloadBytes());
    console.error(`evstore browser benchmarks: ${RUNS} runs per workload, scale ${SCALE}, ${server.url}`);

    // Batched append.
    if (wants("append")) {
      const total = count(10_000);
      const per = Math.min(100, total);
      const streams = 100;
      console.error(`batched append: ${total} events, ${per} per append, ${streams} streams`);
      const one = (kind) => async (run) => {
        const ms = await page.evaluate(([k, n, t, p, s]) => window.bench.appendRun(k, n, t, p, s), [kind, `bench-append-${kind}-${run}`, total, per, streams]);
        const eps = (total / ms) * 1000;
        progress(`run ${run} ${kind} ${eps.toFixed(0)} ev/s`);
        return eps;
      };
      const [e, r] = await paired(one("evstore"), one("raw"));
      record({
        id: "batched_append",
        name: "batched append",
        detail: `${total} events, ${per} per append (one read-write transaction each), ${streams} streams, ${payloadBytes} B JSON payloads`,
        unit: "events/s",
        better: "higher",
        baselineLabel: "raw IndexedDB",
        evstore: e,
        baseline: r,
        target: { text: "≥ 1.0× raw", on: "ratio", better: "higher", value: 1.0 },
      });
    }

    // Single-event appends.
    if (wants("single")) {
      const total = count(1_000);
      const streams = 100;
      console.error(`single-event appends: ${total}`);
      const one = (kind) => async (run) => {
        const ms = await page.evaluate(([k, n, t, s]) => window.bench.appendRun(k, n, t, 1, s), [kind, `bench-single-${kind}-${run}`, total, streams]);
        const aps = (total / ms) * 1000;
        progress(`run ${run} ${kind} ${aps.toFixed(0)} appends/s`);
        return aps;
      };
      const [e, r] = await paired(one("evstore"), one("raw"));
      record({
        id: "single_append",
        name: "single-event appends",
        detail: `${total} appends of one event, ${streams} streams`,
        unit: "appends/s",
        better: "higher",
        baselineLabel: "raw IndexedDB",
        evstore: e,
        baseline: r,
        target: { text: "≥ 0.9× raw", on: "ratio", better: "higher", value: 0.9 },
      });
    }

    // Reads, on one database written by evstore (the raw side opens the same database).
    if (wants("read")) {
      const total = count(10_000);
      const big = count(1_000);
      const name = "bench-read-fixture";
      console.error(`building the read fixture: ${total} events + a stream of ${big}`);
      const head = await page.evaluate(([n, t, b]) => window.bench.buildReadFixture(n, t, b), [name, total, big]);
      // Warm both paths once.
      await page.evaluate(([n, h]) => Promise.all([window.bench.readAll("evstore", n, h), window.bench.readAll("raw", n, h)]), [name, head]);

      console.error(`read_all of ${head} events`);
      const all = (kind) => async (run) => {
        const ms = await page.evaluate(([k, n, h]) => window.bench.readAll(k, n, h), [kind, name, head]);
        const eps = (head / ms) * 1000;
        progress(`run ${run} ${kind} ${eps.toFixed(0)} ev/s`);
        return eps;
      };
      let [e, r] = await paired(all("evstore"), all("raw"));
      record({
        id: "read_all",
        name: "read_all",
        detail: `all ${head} events (evstore: readAll(), one getAll whose records become event objects in JS; raw: one getAll + JSON.parse)`,
        unit: "events/s",
        better: "higher",
        baselineLabel: "raw IndexedDB",
        evstore: e,
        baseline: r,
        target: { text: "≥ 0.8× raw", on: "ratio", better: "higher", value: 0.8 },
      });

      const reps = 5;
      console.error(`read_stream of a ${big}-event stream, ${reps} times per run`);
      const stream = (kind) => async (run) => {
        const ms = await page.evaluate(([k, n, b, reps]) => window.bench.readStream(k, n, "big-0", b, reps), [kind, name, big, reps]);
        const eps = ((big * reps) / ms) * 1000;
        progress(`run ${run} ${kind} ${eps.toFixed(0)} ev/s`);
        return eps;
      };
      [e, r] = await paired(stream("evstore"), stream("raw"));
      record({
        id: "read_stream",
        name: "read_stream",
        detail: `a ${big}-event stream in a store of ${head} events (raw: one index getAll + JSON.parse)`,
        unit: "events/s",
        better: "higher",
        baselineLabel: "raw IndexedDB",
        evstore: e,
        baseline: r,
        target: { text: "≥ 0.9× raw", on: "ratio", better: "higher", value: 0.9 },
      });

      console.error(`subscription catch-up of ${head} events`);
      const catchUp = (kind) => async (run) => {
        const ms = await page.evaluate(([k, n, h]) => window.bench.catchUp(k, n, h), [kind, name, head]);
        const eps = (head / ms) * 1000;
        progress(`run ${run} ${kind} ${eps.toFixed(0)} ev/s`);
        return eps;
      };
      [e, r] = await paired(catchUp("evstore"), catchUp("raw"));
      record({
        id: "subscription_catch_up",
        name: "subscription catch-up",
        detail: `subscribe() from the start, all ${head} events to a callback until onCaughtUp (raw: getAll pages of 500, each in its own transaction, + JSON.parse, a callback per event)`,
        unit: "events/s",
        better: "higher",
        baselineLabel: "raw IndexedDB",
        evstore: e,
        baseline: r,
      });
    }

    // Live latency, same tab.
    if (wants("live")) {
      const samples = Math.max(20, count(200));
      console.error(`live latency, same tab: ${samples} appends per run`);
      const one = (kind) => async (run) => {
        const lat = await page.evaluate(([k, n, s]) => window.bench.liveSameTab(k, n, s), [kind, `bench-live-${kind}-${run}`, samples]);
        progress(`run ${run} ${kind} p50 ${percentile(lat, 50).toFixed(2)} ms p99 ${percentile(lat, 99).toFixed(2)} ms`);
        return lat;
      };
      const [e, r] = await paired(one("evstore"), one("raw"));
      for (const p of [50, 99]) {
        record({
          id: `live_same_tab_p${p}`,
          name: `live latency same tab p${p}`,
          detail: `append of one event → a subscription in the same tab receives it; ${samples} samples per run`,
          unit: "ms",
          better: "lower",
          baselineLabel: "raw commit + wake + getAll",
          evstore: e.map((s) => percentile(s, p)),
          baseline: r.map((s) => percentile(s, p)),
          target: p === 50 ? { text: "p50 < 5 ms", on: "evstore", better: "lower", value: 5, strict: true } : null,
        });
      }
    }

    // Live latency across two tabs (BroadcastChannel).
    if (wants("cross")) {
      const samples = Math.max(20, count(100));
      const spacing = 20;
      console.error(`live latency, two tabs: ${samples} appends per run, ~${spacing} ms apart`);
      const one = (kind) => async (run) => {
        const name = `bench-cross-${kind}-${run}`;
        await page.evaluate((n) => window.bench.deleteDatabase(n), name);
        await pageB.evaluate(([k, n]) => window.bench.listen(k, n), [kind, name]);
        await page.evaluate(([k, n, s, sp]) => window.bench.write(k, n, s, sp), [kind, name, samples, spacing]);
        const lat = await pageB.evaluate((s) => window.bench.collect(s), samples);
        await page.evaluate((n) => window.bench.deleteDatabase(n), name);
        if (lat.length < samples) throw new Error(`${kind}: only ${lat.length} of ${samples} events crossed the tabs`);
        progress(`run ${run} ${kind} p50 ${percentile(lat, 50).toFixed(2)} ms p99 ${percentile(lat, 99).toFixed(2)} ms`);
        return lat;
      };
      const [e, r] = await paired(one("evstore"), one("raw"));
      for (const p of [50, 99]) {
        record({
          id: `live_cross_tab_p${p}`,
          name: `live latency across tabs p${p}`,
          detail: `append in tab A → a subscription in tab B (woken by BroadcastChannel); ${samples} samples per run, appends ${spacing / 2}–${spacing * 1.5} ms apart`,
          unit: "ms",
          better: "lower",
          baselineLabel: "raw commit + BroadcastChannel + getAll",
          evstore: e.map((s) => percentile(s, p)),
          baseline: r.map((s) => percentile(s, p)),
          target: p === 50 ? { text: "p50 < 50 ms", on: "evstore", better: "lower", value: 50, strict: true } : null,
        });
      }
    }

    // The .wasm size.
    if (wants("size")) {
      const gzBytes = gzipSync(wasm, { level: 9 }).length;
      const raw = wasm.length / 1024;
      const gz = gzBytes / 1024;
      record({
        id: "wasm_size_raw",
        name: ".wasm size",
        detail: "pkg/evstore_bg.wasm as built by scripts/build-pkg.sh (release, wasm-bindgen --target web, wasm-opt -Oz)",
        unit: "KiB",
        better: "lower",
        evstore: [raw],
      });
      record({
        id: "wasm_size_gzip",
        name: ".wasm size gzipped",
        detail: `pkg/evstore_bg.wasm through gzip level 9 (node zlib): ${gzBytes} bytes (${wasm.length} raw)`,
        unit: "KiB",
        better: "lower",
        evstore: [gz],
        target: { text: "≤ 120 KB gzipped", on: "evstore", better: "lower", value: 120 },
        note: "target read as 120 KiB (122,880 bytes)",
      });
    }

    const section = {
      generated_at: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      command: "make bench-browser (scripts/bench-browser.sh)",
      total_seconds: Math.round((performance.now() - started) / 100) / 10,
      machine: {
        cpu: os.cpus()[0]?.model ?? "unknown",
        cores: os.availableParallelism?.() ?? os.cpus().length,
        memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
        os: `${os.platform()} ${os.release()}`,
        load_average_at_start: null,
        chromium: `Chromium ${browserVersion} (headless)`,
        user_agent: userAgent,
        node: process.versions.node,
        runs: RUNS,
        scale: SCALE,
        payload_bytes: payloadBytes,
      },
      workloads,
    };
    section.machine.load_average_at_start = loadAtStart;
    let all = {};
    try {
      all = JSON.parse(await readFile(OUT, "utf8"));
    } catch {
      all = {};
    }
    all.browser = section;
    await mkdir(dirname(OUT), { recursive: true });
    await writeFile(OUT, `${JSON.stringify(all, null, 2)}\n`);
    printTables({ browser: section });
    console.log(`\nwrote ${OUT}`);
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
    server.child.kill();
  }
}

const loadAtStart = os.loadavg().map((l) => l.toFixed(2)).join(" ");
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
