//! The optional OSC server (docs/ARCHITECTURE.md §8.3). Placeholder: the
//! server itself is being written; `OscShared` is what the editor reads.

use std::sync::Mutex;

/// What the OSC server shares with the plugin and the editor.
#[derive(Default)]
pub struct OscShared {
    /// Addresses seen so far and the last one (for learn).
    last: Mutex<(u64, Option<String>)>,
}

impl OscShared {
    /// How many messages were seen so far, and the last one's address.
    pub fn last_seen(&self) -> (u64, Option<String>) {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
