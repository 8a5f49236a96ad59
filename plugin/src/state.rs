//! The persisted session JSON, and the mailbox through which every session change reaches the control thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nice_plug::params::persist::PersistentField;

/// The session as JSON in the plugin state. A host restore (nice-plug calls
/// [`PersistentField::set`] on the main thread; it does not re-activate the
/// plugin for it) bumps [`SessionState::generation`] and posts the JSON to
/// the control thread, which compiles it (see `control.rs`). The audio
/// thread never touches this.
pub struct SessionState {
    json: Mutex<String>,
    generation: AtomicU64,
    mailbox: Arc<Mailbox>,
}

impl SessionState {
    pub fn new(json: String) -> Self {
        Self { json: Mutex::new(json), generation: AtomicU64::new(0), mailbox: Arc::new(Mailbox::default()) }
    }

    /// A copy of the JSON. Never on the audio thread (locks).
    pub fn json(&self) -> String {
        self.json.lock().map(|j| j.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Replaces the JSON without counting a restore (the plugin writing back
    /// the session it runs). Never on the audio thread (locks).
    pub fn replace_quietly(&self, json: String) {
        match self.json.lock() {
            Ok(mut j) => *j = json,
            Err(e) => *e.into_inner() = json,
        }
    }

    /// How many times a host has restored a state into this field.
    /// Any thread (an atomic load).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Where session changes wait for the control thread.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }
}

impl PersistentField<'_, String> for SessionState {
    fn set(&self, new_value: String) {
        self.replace_quietly(new_value.clone());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.mailbox.post(Request { json: new_value, origin: Origin::Restore });
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

/// Who asked for a session change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The editor (or anything acting for it): the JSON becomes the
    /// persisted session once it compiles.
    Editor,
    /// The host restored a state: the JSON is already persisted; if it does
    /// not compile, the state is set back to the running session.
    Restore,
}

/// One session change for the control thread.
#[derive(Clone, Debug)]
pub struct Request {
    pub json: String,
    pub origin: Origin,
}

/// A one-slot mailbox: a newer request replaces one still waiting (changes
/// coalesce to the newest; the newest is never lost). Posting and taking
/// hold the lock only to move a request in or out; the control thread waits
/// on the condition variable, which releases the lock while it waits.
#[derive(Default)]
pub struct Mailbox {
    slot: Mutex<Slot>,
    wake: Condvar,
}

#[derive(Default)]
struct Slot {
    request: Option<Request>,
    quit: bool,
}

/// What [`Mailbox::wait`] returns.
pub enum Wake {
    Request(Request),
    Timeout,
    Quit,
}

impl Mailbox {
    /// Leaves `request` for the control thread, replacing one still waiting.
    /// Never on the audio thread (locks).
    pub fn post(&self, request: Request) {
        self.lock().request = Some(request);
        self.wake.notify_all();
    }

    /// Asks the control thread to stop.
    pub fn quit(&self) {
        self.lock().quit = true;
        self.wake.notify_all();
    }

    /// Waits up to `timeout` for a request (control thread).
    pub fn wait(&self, timeout: Duration) -> Wake {
        let mut slot = self.lock();
        if slot.request.is_none() && !slot.quit {
            slot = match self.wake.wait_timeout(slot, timeout) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
        if slot.quit {
            Wake::Quit
        } else {
            slot.request.take().map_or(Wake::Timeout, Wake::Request)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}
