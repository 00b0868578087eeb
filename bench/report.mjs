// Renders bench/results.json: the tables (stdout and BENCHMARKS.md, between the
// `<!-- bench:<section>:start -->` / `<!-- bench:<section>:end -->` markers) and bench/ratios.svg.
//
//   node bench/report.mjs            # print the tables, rewrite BENCHMARKS.md's tables and the SVG
//   node bench/report.mjs --print    # print only
//
// Also imported by bench/browser/run.mjs for its stdout table. Plain Node, no dependencies.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "..");
export const resultsPath = join(repoRoot, "bench", "results.json");
const docPath = join(repoRoot, "BENCHMARKS.md");
const svgPath = join(repoRoot, "bench", "ratios.svg");

const SECTIONS = [
  ["native", "Native (SQLite)"],
  ["postgres", "Native (PostgreSQL)"],
  ["browser", "Browser (IndexedDB, headless Chromium)"],
];

export function fmt(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 10000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

const stats = (s) => (s ? `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]` : "–");
const ratioText = (s) =>
  s && Number.isFinite(s.median) ? `${s.median.toFixed(2)} [${s.min.toFixed(2)}–${s.max.toFixed(2)}]` : "–";

function targetText(w) {
  if (!w.target) return "";
  const met = w.target.met === true ? "met" : w.target.met === false ? "NOT met" : "?";
  return `${w.target.text}: ${met}`;
}

/** Rows of one section: [workload, unit, evstore, baseline, ratio, target]. */
export function rows(section) {
  return section.workloads.map((w) => [
    w.name,
    w.unit,
    stats(w.evstore),
    w.baseline ? `${stats(w.baseline.stats)} (${w.baseline.label})` : "–",
    ratioText(w.ratio),
    targetText(w),
  ]);
}

const HEADER = ["workload", "unit", "evstore median [min–max]", "baseline median [min–max]", "ratio evstore/baseline", "target"];

export function textTable(section) {
  const all = [HEADER, ...rows(section)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => [...r[i]].length)));
  const line = (r) => r.map((c, i) => c + " ".repeat(widths[i] - [...c].length)).join("  ").trimEnd();
  return [line(HEADER), line(widths.map((w) => "-".repeat(w))), ...all.slice(1).map(line)].join("\n");
}

export function machineLine(section) {
  const m = section.machine ?? {};
  const parts = [
    m.cpu,
    m.cores ? `${m.cores} cores` : null,
    m.memory_gb ? `${m.memory_gb} GB RAM` : null,
    m.os,
    m.sqlite && !m.postgresql ? `SQLite ${m.sqlite}` : null,
    m.postgresql ? `PostgreSQL ${m.postgresql}` : null,
    m.chromium,
    m.rustc,
    m.node ? `Node ${m.node}` : null,
    m.load_average_at_start ? `load average at start ${m.load_average_at_start}` : null,
    m.runs ? `${m.runs} runs per workload` : null,
  ].filter(Boolean);
  return parts.join(" · ");
}

function markdown(section) {
  const esc = (c) => c.replaceAll("|", "\\|");
  const lines = [
    `| ${HEADER.join(" | ")} |`,
    `| ${HEADER.map((_, i) => (i >= 2 && i <= 4 ? "---:" : "---")).join(" | ")} |`,
    ...rows(section).map((r) => `| ${r.map(esc).join(" | ")} |`),
  ];
  // One line per distinct description (the p50 and p99 rows of a latency share theirs).
  const seen = new Set();
  const notes = [];
  for (const w of section.workloads) {
    const text = `${w.detail ?? ""}${w.note ? ` — ${w.note}` : ""}`;
    if (!text || seen.has(text)) continue;
    seen.add(text);
    notes.push(`- **${w.name.replace(/,? p(50|99)$/, "")}**: ${text}`);
  }
  return [
    `Run of ${section.generated_at} (${section.command ?? ""}, ${section.total_seconds ?? "?"} s).`,
    "",
    `Machine: ${machineLine(section)}.`,
    "",
    ...lines,
    "",
    ...notes,
  ].join("\n");
}

/** Relative speed of evstore vs its baseline (> 1: evstore faster / lower latency). */
function speed(w, v) {
  if (!Number.isFinite(v) || v <= 0) return null;
  return w.better === "lower" ? 1 / v : v;
}

function svg(results) {
  const items = [];
  for (const [key, title] of SECTIONS) {
    const section = results[key];
    if (!section) continue;
    const ws = section.workloads.filter((w) => w.ratio && Number.isFinite(w.ratio.median));
    if (!ws.length) continue;
    items.push({ header: title });
    for (const w of ws) items.push({ w });
  }
  const rowH = 22;
  const left = 330;
  const width = 900;
  const plotW = width - left - 40;
  const top = 58;
  const height = top + items.length * rowH + 50;
  const lo = Math.log2(1 / 8);
  const hi = Math.log2(4);
  const x = (v) => left + ((Math.log2(Math.min(Math.max(v, 2 ** lo), 2 ** hi)) - lo) / (hi - lo)) * plotW;
  const esc = (s) => String(s).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">evstore relative to its baseline in the same run (log scale; &gt; 1 = evstore faster)</text>`,
    `<text x="${width / 2}" y="38" text-anchor="middle" fill="#555">bar: median · whisker: min–max over runs · green/red: target met/not met · tick: ratio target · latencies and times inverted (baseline ÷ evstore)</text>`,
  );
  for (const t of [0.125, 0.25, 0.5, 1, 2, 4]) {
    const xx = x(t);
    out.push(
      `<line x1="${xx}" y1="${top - 6}" x2="${xx}" y2="${top + items.length * rowH}" stroke="${t === 1 ? "#333" : "#ddd"}" stroke-width="${t === 1 ? 1.5 : 1}"/>`,
      `<text x="${xx}" y="${top + items.length * rowH + 16}" text-anchor="middle" fill="#333">${t}×</text>`,
    );
  }
  items.forEach((item, i) => {
    const y = top + i * rowH;
    if (item.header) {
      out.push(`<text x="10" y="${y + 15}" font-weight="bold">${esc(item.header)}</text>`);
      return;
    }
    const w = item.w;
    const med = speed(w, w.ratio.median);
    const a = speed(w, w.ratio.min);
    const b = speed(w, w.ratio.max);
    const met = w.target?.met;
    const color = met === true ? "#3a9a4a" : met === false ? "#c8413b" : "#7a8fa8";
    out.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(w.name)}</text>`);
    if (med !== null) {
      const x0 = x(1);
      const x1 = x(med);
      out.push(
        `<rect x="${Math.min(x0, x1)}" y="${y + 5}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${rowH - 10}" fill="${color}"/>`,
      );
      if (a !== null && b !== null) {
        const [p, q] = [x(Math.min(a, b)), x(Math.max(a, b))];
        out.push(
          `<line x1="${p}" y1="${y + rowH / 2}" x2="${q}" y2="${y + rowH / 2}" stroke="#222"/>`,
          `<line x1="${p}" y1="${y + 7}" x2="${p}" y2="${y + rowH - 7}" stroke="#222"/>`,
          `<line x1="${q}" y1="${y + 7}" x2="${q}" y2="${y + rowH - 7}" stroke="#222"/>`,
        );
      }
      const label = `${med.toFixed(2)}×`;
      out.push(`<text x="${Math.max(x0, x1, b !== null ? x(Math.max(a, b)) : 0) + 6}" y="${y + 15}" fill="#333">${label}</text>`);
    }
    if (w.target?.on === "ratio") {
      const tv = speed(w, w.target.value);
      if (tv !== null) {
        const tx = x(tv);
        out.push(`<line x1="${tx}" y1="${y + 2}" x2="${tx}" y2="${y + rowH - 2}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>`);
      }
    }
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

export function readResults() {
  if (!existsSync(resultsPath)) return {};
  return JSON.parse(readFileSync(resultsPath, "utf8"));
}

export function printTables(results, only) {
  for (const [key, title] of SECTIONS) {
    if (only && key !== only) continue;
    const section = results[key];
    if (!section) continue;
    console.log(`\n${title}: ${machineLine(section)}\n`);
    console.log(textTable(section));
  }
}

function updateDoc(results) {
  if (!existsSync(docPath)) {
    console.log("BENCHMARKS.md not found: tables not written");
    return;
  }
  let doc = readFileSync(docPath, "utf8");
  for (const [key] of SECTIONS) {
    const section = results[key];
    if (!section) continue;
    const start = `<!-- bench:${key}:start -->`;
    const end = `<!-- bench:${key}:end -->`;
    const i = doc.indexOf(start);
    const j = doc.indexOf(end);
    if (i < 0 || j < i) {
      console.log(`BENCHMARKS.md has no ${start} … ${end} markers: ${key} table not written`);
      continue;
    }
    doc = `${doc.slice(0, i + start.length)}\n${markdown(section)}\n${doc.slice(j)}`;
  }
  writeFileSync(docPath, doc);
  console.log(`updated ${docPath}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const results = readResults();
  if (!Object.keys(results).length) {
    console.error(`no results in ${resultsPath}: run make bench or make bench-browser first`);
    process.exit(1);
  }
  if (process.argv.includes("--print")) {
    printTables(results);
  } else {
    writeFileSync(svgPath, svg(results));
    console.log(`wrote ${svgPath}`);
    updateDoc(results);
  }
}
