//! Cross-tab wake-ups: after a commit, tell the other tabs of the same origin through a
//! `BroadcastChannel`, so their subscriptions and projectors read at once instead of at their
//! next poll. The poll stays as the fallback (a channel message can be missed while a tab
//! sleeps, and other writers may not announce themselves).

use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/wasm/glue.js")]
extern "C" {
    /// Posts `position` on `channel` in a task of its own (the latest position once, however
    /// many appends committed before it runs).
    #[wasm_bindgen(js_name = announceSoon)]
    fn announce_soon(channel: &BroadcastChannel, position: f64);
    /// Posts an announcement still waiting for its task now.
    #[wasm_bindgen(js_name = announceNow)]
    fn announce_now(channel: &BroadcastChannel);
}

/// One tab's end of the channel of one database.
pub struct Broadcast {
    channel: BroadcastChannel,
    // Kept alive as long as the channel listens.
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Broadcast {
    /// Joins the channel of database `name`; `on_append` runs when another tab appended.
    /// `None` where `BroadcastChannel` is unavailable.
    pub fn join(name: &str, mut on_append: impl FnMut() + 'static) -> Option<Self> {
        let channel = BroadcastChannel::new(&format!("evstore:{name}")).ok()?;
        let on_message =
            Closure::<dyn FnMut(MessageEvent)>::new(move |_message: MessageEvent| on_append());
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(Broadcast {
            channel,
            _on_message: on_message,
        })
    }

    /// Tells the other tabs that this one committed up to `position` — soon, not now: posting
    /// (a structured clone and a message to every tab) then happens while this tab waits for
    /// IndexedDB, not between a commit and the resolution of its append.
    pub fn announce(&self, position: u64) {
        announce_soon(&self.channel, position as f64);
    }
}

impl Drop for Broadcast {
    fn drop(&mut self) {
        announce_now(&self.channel);
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
