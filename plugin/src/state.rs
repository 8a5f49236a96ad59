//! The persisted session JSON, and the mailbox through which every session and timeline change reaches the control thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nice_plug::params::persist::PersistentField;

/// The session as JSON in the plugin state. A host restore (the format
/// layer's `load_state` calls [`PersistentField::set`] on the main thread,
/// without re-activating the plugin) bumps [`SessionState::generation`] and posts the JSON to
/// the control thread, which compiles it (see `control.rs`). The audio
/// thread never touches this.
///
/// Every change carries a sequence number, given when it is posted, so the
/// persisted JSON is always the newest change that applied: a slower, older
/// one never overwrites it.
pub struct SessionState {
    json: Mutex<Persisted>,
    generation: AtomicU64,
    /// The last sequence number handed out.
    seq: AtomicU64,
    mailbox: Arc<Mailbox>,
}

struct Persisted {
    json: String,
    /// Sequence number of the change this JSON came from (0: the initial one).
    seq: u64,
}

impl SessionState {
    pub fn new(json: String) -> Self {
        Self { json: Mutex::new(Persisted { json, seq: 0 }), generation: AtomicU64::new(0), seq: AtomicU64::new(0), mailbox: Arc::new(Mailbox::default()) }
    }

    /// A copy of the JSON. Never on the audio thread (locks).
    pub fn json(&self) -> String {
        self.lock().json.clone()
    }

    /// Replaces the JSON without counting a restore (the plugin setting
    /// back a state with errors at activation). Never on the audio thread.
    pub fn replace_quietly(&self, json: String) {
        self.lock().json = json;
    }

    /// Posts an editor edit to the control thread; returns its sequence number.
    pub fn post_edit(&self, json: String) -> u64 {
        let seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
        self.mailbox.post(Request { json, origin: Origin::Editor, seq });
        seq
    }

    /// Persists the JSON of change `seq`, which applied, unless a newer
    /// change is persisted already (control thread).
    pub fn persist(&self, json: String, seq: u64) {
        let mut persisted = self.lock();
        if seq > persisted.seq {
            *persisted = Persisted { json, seq };
        }
    }

    /// Sets the state back to `good` if it still holds change `seq`, which
    /// did not apply (control thread).
    pub fn revert(&self, seq: u64, good: String) {
        let mut persisted = self.lock();
        if persisted.seq == seq {
            persisted.json = good;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Persisted> {
        self.json.lock().unwrap_or_else(|e| e.into_inner())
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
        let seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
        *self.lock() = Persisted { json: new_value.clone(), seq };
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.mailbox.post(Request { json: new_value, origin: Origin::Restore, seq });
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&String) -> R,
    {
        f(&self.lock().json)
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
    /// Order of posting (see [`SessionState`]).
    pub seq: u64,
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
    /// The timeline changed (see `timeline::TimelineState`): the control
    /// thread hands the stored one to the engine.
    timeline: bool,
    quit: bool,
}

/// What [`Mailbox::wait`] returns.
pub enum Wake {
    Request(Request),
    /// The stored timeline changed.
    Timeline,
    Timeout,
    Quit,
}

impl Mailbox {
    /// Leaves `request` for the control thread, replacing one still waiting.
    /// Never on the audio thread (locks).
    fn post(&self, request: Request) {
        self.lock().request = Some(request);
        self.wake.notify_all();
    }

    /// Tells the control thread the stored timeline changed. A session
    /// change waiting is taken first, so a restored state's timeline is
    /// compiled against its own session. Never on the audio thread (locks).
    pub fn post_timeline(&self) {
        self.lock().timeline = true;
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
        if slot.request.is_none() && !slot.timeline && !slot.quit {
            slot = match self.wake.wait_timeout(slot, timeout) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
        if slot.quit {
            Wake::Quit
        } else if let Some(request) = slot.request.take() {
            Wake::Request(request)
        } else if std::mem::take(&mut slot.timeline) {
            Wake::Timeline
        } else {
            Wake::Timeout
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}
