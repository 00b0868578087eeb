// `evstore serve` for the end-to-end tests: the debug build of the program (or EVSTORE_BIN),
// started on a free 127.0.0.1 port over a SQLite file, allowing the test pages' origin, and
// killed by `stopServers()` (a test file's `after`) if a test did not stop it itself.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";

import { baseUrl, repoRoot } from "./helpers.js";

const bin =
  process.env.EVSTORE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, "target"), "debug", "evstore");
const running = new Set();

/** A free port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts `evstore serve` on `port` over `db` (`extra`: more arguments) and resolves once it
 * listens: `{ url, kill(signal = "SIGKILL") }`, where `kill` resolves when the process exited.
 */
export async function serve(db, port, extra = []) {
  const origin = await baseUrl();
  const child = spawn(bin, ["serve", "--db", db, "--listen", `127.0.0.1:${port}`, "--allow-origin", origin, ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (chunk) => (log += chunk));
  await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("listening on")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`evstore serve exited (${code}): ${log}`)));
  });
  const server = {
    url: `http://127.0.0.1:${port}`,
    kill(signal = "SIGKILL") {
      running.delete(server);
      child.kill(signal);
      return new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", resolve)));
    },
  };
  running.add(server);
  return server;
}

/** Kills every server still running. */
export async function stopServers() {
  await Promise.all([...running].map((server) => server.kill()));
}

/** A JSON call to a server: `{ status, body }`. */
export async function http(server, path, { method = "GET", body, token } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${server.url}${path}`, { method, headers, body: body && JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}
