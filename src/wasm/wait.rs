//! `projector.waitFor(position?, { name, signal }?)`: resolves once every projection (or the
//! named one) has handled everything up to `position` (default: the store's head at the call).
//! A projection whose filter leaves nothing to handle in `(checkpoint, position]` counts as
//! there although its checkpoint is lower — so waiting for the head does not hang on events a
//! filter leaves out. Rejects with code `ProjectionFailed` when a projection failed,
//! `InvalidInput` when the projector is not running (and the position is not reached), and
//! with the signal's reason when `signal` aborts.
//!
//! It looks at the projections' statuses every few milliseconds (in memory) and reads storage
//! only when a checkpoint moved. It is plain JS over the projector's and the store's API
//! (`glue.js`), installed on the `Projector` prototype when the module starts (`lifecycle.rs`):
//! written in Rust it cost the package ~4 KB gzipped.

use wasm_bindgen::prelude::*;

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// Defines `waitFor` on the prototype of `projector`'s class.
    #[wasm_bindgen(js_name = installWaitFor)]
    pub fn install_wait_for(projector: &JsValue);
}
