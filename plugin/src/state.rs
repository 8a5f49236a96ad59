//! The persisted session JSON, with a generation count so the audio thread can tell when a host restored a state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nice_plug::params::persist::PersistentField;

/// The session as JSON in the plugin state. nice-plug restores persisted
/// fields without re-activating the plugin, so every restore bumps
/// [`SessionState::generation`]; the plugin notices on the audio thread and
/// recompiles off it (see `lib.rs`).
pub struct SessionState {
    json: Mutex<String>,
    generation: AtomicU64,
}

impl SessionState {
    pub fn new(json: String) -> Self {
        Self { json: Mutex::new(json), generation: AtomicU64::new(0) }
    }

    /// A copy of the JSON. Main thread or background thread only (locks).
    pub fn json(&self) -> String {
        self.json.lock().map(|j| j.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Replaces the JSON without counting a restore (the plugin writing back
    /// the session it runs). Main thread or background thread only (locks).
    pub fn replace_quietly(&self, json: String) {
        match self.json.lock() {
            Ok(mut j) => *j = json,
            Err(e) => *e.into_inner() = json,
        }
    }

    /// How many times a state has been restored into this field.
    /// Any thread (an atomic load).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl PersistentField<'_, String> for SessionState {
    fn set(&self, new_value: String) {
        self.replace_quietly(new_value);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&String) -> R,
    {
        match self.json.lock() {
            Ok(j) => f(&j),
            Err(e) => f(&e.into_inner()),
        }
    }
}
