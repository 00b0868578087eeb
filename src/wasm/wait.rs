//! `projector.waitFor(position?, { name, signal }?)`: resolves once every projection (or the
//! named one) has handled everything up to `position` (default: the store's head at the call).
//! A projection whose filter leaves nothing to handle in `(checkpoint, position]` counts as
//! there although its checkpoint is lower — so waiting for the head does not hang on events a
//! filter leaves out. Rejects with code `ProjectionFailed` when a projection failed,
//! `InvalidInput` when the projector is not running (and the position is not reached), and
//! with the signal's reason when `signal` aborts.
//!
//! It looks at the projections' statuses every few milliseconds (in memory) and reads storage
//! only when a checkpoint moved. It is plain JS over the projector's and the store's API,
//! installed on the `Projector` prototype when the module starts (`lifecycle.rs`): written in
//! Rust it cost the package ~4 KB gzipped.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const TICK_MS = 10;

function evstoreError(code, message, fields) {
  const error = new Error(message);
  error.name = "EvstoreError";
  error.code = code;
  return Object.assign(error, fields);
}

const invalid = (reason) => evstoreError("InvalidInput", reason, { reason });

function pause(signal) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
    };
    const aborted = () => {
      done();
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, TICK_MS);
    signal?.addEventListener("abort", aborted, { once: true });
  });
}

async function waitFor(position, options) {
  const { name, signal } = options ?? {};
  if (position !== undefined && position !== null && !(Number.isSafeInteger(position) && position >= 0)) {
    throw invalid(`waitFor's position must be a non-negative integer, got ${describe(position)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalid(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
  let projections = this.__projections();
  if (name !== undefined) {
    projections = projections.filter((p) => p.name === name);
    if (projections.length === 0) throw invalid(`no projection ${describe(name)} was added`);
  }
  const store = this.__store();
  const target = position ?? (await store.head());
  const reached = new Set();
  // The checkpoint at which each projection's next matching event was last looked up.
  const looked = new Map();
  for (;;) {
    signal?.throwIfAborted();
    let pending = false;
    for (const { name, filter } of projections) {
      if (reached.has(name)) continue;
      const status = this.status(name);
      if (status?.state === "failed") {
        const reason = status.error ?? "failed";
        throw evstoreError(
          "ProjectionFailed",
          `projection \`${name}\` failed at position ${status.failedPosition}: ${reason}`,
          { projection: name, position: status.failedPosition, reason },
        );
      }
      const checkpoint = status && status.state !== "idle" ? status.checkpoint : await this.checkpoint(name);
      let done = checkpoint >= target;
      if (!done && looked.get(name) !== checkpoint && (await store.head()) >= target) {
        looked.set(name, checkpoint);
        const [next] = await store.readAll({ fromPosition: checkpoint, maxCount: 1, filter });
        done = next === undefined || next.position > target;
      }
      if (done) reached.add(name);
      else pending = true;
    }
    if (!pending) return;
    if (!this.isRunning) {
      throw invalid(`the projector is not running, so position ${target} will not be reached: start() it before waitFor()`);
    }
    await pause(signal);
  }
}

function describe(value) {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

export function installWaitFor(projector) {
  Object.defineProperty(Object.getPrototypeOf(projector), "waitFor", {
    value: waitFor,
    writable: true,
    configurable: true,
  });
}
"#)]
extern "C" {
    /// Defines `waitFor` on the prototype of `projector`'s class.
    #[wasm_bindgen(js_name = installWaitFor)]
    pub fn install_wait_for(projector: &JsValue);
}
