//! The plugin's control thread: compiles every session and timeline change (editor edit, host state restore, recording) off the audio thread, and analyses master loudness.
//!
//! One path for every change (docs/ARCHITECTURE.md, "The control path"):
//! the editor and the host's state restore post the session JSON to the
//! [`Mailbox`] in the persisted state; this thread takes the newest, parses
//! and compiles it, and queues the schedule with [`Engine::load`], which
//! also works out how the new schedule takes over the running one's state.
//! The audio thread swaps schedules between blocks and never waits for any
//! of this. When the audio thread is not consuming (the queue is full), the
//! engine keeps the newest compiled schedule and this thread queues it as
//! soon as there is room ([`Engine::flush`]); nothing here sleeps while
//! holding a lock another thread needs (it waits on the mailbox, which
//! releases its lock).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mam_core::engine::{Compiler, Engine};
use mam_core::meters::LoudnessReading;
use mam_core::session::{load_str, Session};
use crate::log;

use crate::state::{Origin, Request, Wake};
use crate::osc::OscServer;
use crate::timeline::Recorder;
use mam_core::mapping::OscSettings;

use crate::MamParams;

/// How often loudness is analysed and a waiting schedule retried.
const TICK: Duration = Duration::from_millis(50);

/// Environment variable (tests only): milliseconds the control thread keeps
/// the engine lock after each compile, so a test can see that the audio
/// thread never waits for it (a process call would take that long).
pub const HOLD_LOCK_ENV: &str = "MAM_TEST_CONTROL_HOLD_MS";

/// What the control thread shares with the plugin and the editor.
#[derive(Clone)]
pub struct ControlShared {
    pub params: Arc<MamParams>,
    /// The engine's control half (`None` while the plugin is inactive). Locked
    /// by the control thread, by activate/deactivate and by the editor, never
    /// by the audio thread.
    pub engine: Arc<Mutex<Option<Engine>>>,
    /// JSON of the session running (or to run at the next activation): what
    /// a state with errors is set back to.
    pub last_good: Arc<Mutex<String>>,
    pub status: Arc<ControlStatus>,
    /// The timeline recorder's control side (see [`crate::timeline`]).
    pub recorder: Arc<Recorder>,
    /// The last MIDI input the audio thread saw (the editor's learn reads it).
    pub monitor: Arc<mam_core::mapping::InputMonitor>,
    /// The OSC server's counters and last address (see [`crate::osc`]).
    pub osc: Arc<crate::osc::OscShared>,
}

/// What the control thread reports back.
#[derive(Default)]
pub struct ControlStatus {
    /// Requests handled so far (applied or refused).
    handled: AtomicU64,
    /// Requests refused so far, and the sequence number of the last one.
    refused: AtomicU64,
    last_refused_seq: AtomicU64,
    /// Why the last refused request was refused.
    last_error: Mutex<String>,
    /// Timeline changes handed to the engine so far.
    timelines: AtomicU64,
    /// Latest master loudness, analysed whether or not an editor is open.
    loudness: Mutex<Option<LoudnessReading>>,
}

impl ControlStatus {
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Acquire)
    }

    /// Timeline changes handed to the engine so far.
    pub fn timelines(&self) -> u64 {
        self.timelines.load(Ordering::Acquire)
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Acquire)
    }

    pub fn last_refused_seq(&self) -> u64 {
        self.last_refused_seq.load(Ordering::Acquire)
    }

    pub fn last_error(&self) -> String {
        self.last_error.lock().map(|e| e.clone()).unwrap_or_default()
    }

    pub fn loudness(&self) -> Option<LoudnessReading> {
        self.loudness.lock().ok().and_then(|l| *l)
    }
}

/// The running control thread; stops and joins when dropped.
pub struct ControlThread {
    shared: ControlShared,
    handle: Option<JoinHandle<()>>,
}

impl ControlThread {
    pub fn spawn(shared: ControlShared) -> Self {
        let worker = shared.clone();
        let hold = std::env::var(HOLD_LOCK_ENV).ok().and_then(|v| v.parse().ok()).map(Duration::from_millis);
        let handle = std::thread::Builder::new().name("mam-control".into()).spawn(move || run(&worker, hold)).ok();
        if handle.is_none() {
            log!("MAM Session: cannot start the control thread; session changes will not apply");
        }
        Self { shared, handle }
    }

    pub fn shared(&self) -> &ControlShared {
        &self.shared
    }
}

impl Drop for ControlThread {
    fn drop(&mut self) {
        self.shared.params.session.mailbox().quit();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn run(shared: &ControlShared, hold: Option<Duration>) {
    let mut osc = OscKeeper::default();
    loop {
        match shared.params.session.mailbox().wait(TICK) {
            Wake::Quit => return,
            Wake::Request(request) => apply(shared, request, hold),
            Wake::Timeline => apply_timeline(shared),
            Wake::Timeout => {}
        }
        osc.follow(shared);
        shared.recorder.tick(&shared.params);
        let mut guard = lock(&shared.engine);
        if let Some(engine) = guard.as_mut() {
            engine.flush();
            let reading = engine.update_loudness();
            if let Ok(mut l) = shared.status.loudness.lock() {
                *l = Some(reading);
            }
        }
    }
}

/// Runs the OSC server the running session asks for (`osc`): started,
/// moved to another port or stopped when the session changes, and told
/// which addresses the mappings use (for naming feedback).
#[derive(Default)]
struct OscKeeper {
    server: Option<OscServer>,
    settings: Option<OscSettings>,
    /// Fingerprint of the session JSON last looked at.
    seen: u64,
}

impl OscKeeper {
    fn follow(&mut self, shared: &ControlShared) {
        let fingerprint = {
            let json = lock(&shared.last_good);
            mam_core::mapping::osc_hash(&json) ^ json.len() as u64
        };
        if fingerprint == self.seen {
            return;
        }
        self.seen = fingerprint;
        let json = lock(&shared.last_good).clone();
        let Ok(loaded) = load_str(&json) else { return };
        let session = loaded.session;
        let addresses = session
            .mappings
            .iter()
            .filter_map(|m| match &m.input {
                mam_core::mapping::Input::Osc { address } => Some(address.clone()),
                _ => None,
            })
            .collect();
        shared.osc.set_addresses(addresses);
        let wanted = session.osc.enabled.then_some(session.osc);
        if wanted == self.settings && (self.server.is_some() || wanted.is_none()) {
            return;
        }
        // The old socket goes first, so the same port can be bound again.
        self.server = None;
        self.settings = wanted;
        if let Some(settings) = wanted {
            match OscServer::start(settings.port, shared.osc.clone()) {
                Ok(server) => self.server = Some(server),
                Err(e) => log!("MAM Session: OSC cannot listen on 127.0.0.1:{}: {e}", settings.port),
            }
        }
    }
}

/// Parses, compiles and queues one session change. A change that does not
/// load or compile never replaces the running session: it is reported, and a
/// restored state is set back to the running session's JSON. The engine lock
/// is held until the outcome is persisted, so an activation (which compiles
/// the persisted session under the same lock) sees either the state before
/// this change or after it, never a change that runs but is not saved.
fn apply(shared: &ControlShared, request: Request, hold: Option<Duration>) {
    let status = &shared.status;
    // The session running already (a host restoring the state the plugin
    // was activated with, as hosts do): nothing to compile or swap.
    if *lock(&shared.last_good) == request.json && lock(&shared.engine).is_some() {
        if request.origin == Origin::Editor {
            shared.params.session.persist(request.json, request.seq);
        }
        status.handled.fetch_add(1, Ordering::AcqRel);
        return;
    }
    // Compile with no lock held (the editor keeps reading meters meanwhile),
    // then take the engine lock to queue and to record the outcome.
    let loaded = load_str(&request.json).map_err(|e| e.to_string());
    let compiler = lock(&shared.engine).as_ref().map(Engine::compiler);
    let compiled = match (&loaded, &compiler) {
        (Ok(loaded), Some(compiler)) => {
            let running = running_session(&loaded.session, compiler);
            Some(compiler.compile(&running).map(|c| (running, c)).map_err(|e| e.to_string()))
        }
        _ => None,
    };
    let mut guard = lock(&shared.engine);
    let outcome = loaded.and_then(|loaded| {
        let session = loaded.session;
        match (guard.as_mut(), compiled, &compiler) {
            (Some(engine), Some(compiled), Some(compiler)) => {
                let (running, compiled) = compiled?;
                engine.queue(running, compiled, compiler).map_err(|e| e.to_string())?;
            }
            // Activated while this compiled with no engine: compile under the lock.
            (Some(engine), _, _) => {
                let running = running_session(&session, &engine.compiler());
                engine.load(running).map_err(|e| e.to_string())?;
            }
            // Inactive: the next activation compiles the persisted session.
            (None, _, _) => {}
        }
        if let Some(ms) = hold {
            std::thread::sleep(ms);
        }
        Ok(session)
    });
    match outcome {
        Ok(session) => {
            // A restore is persisted already (by the host's `set`).
            if request.origin == Origin::Editor {
                shared.params.session.persist(request.json.clone(), request.seq);
            }
            *lock(&shared.last_good) = request.json;
            crate::publish_scene_names(&shared.params, &session);
        }
        Err(e) => {
            log!("MAM Session: a session change was refused; the running session stays:\n{e}");
            shared.params.session.revert(request.seq, lock(&shared.last_good).clone());
            *lock(&status.last_error) = e;
            status.last_refused_seq.store(request.seq, Ordering::Release);
            status.refused.fetch_add(1, Ordering::AcqRel);
        }
    }
    drop(guard);
    status.handled.fetch_add(1, Ordering::AcqRel);
}

/// Hands the stored timeline to the engine (or none, when it is empty or
/// playback is off): the running session is compiled again with it and
/// queued, the playhead carrying over. An inactive plugin takes it at the
/// next activation. The timeline is never refused: events the session
/// cannot play are left out with a warning (docs/ARCHITECTURE.md §8.1).
fn apply_timeline(shared: &ControlShared) {
    let mut guard = lock(&shared.engine);
    if let Some(engine) = guard.as_mut() {
        // The engine plays it already (a restore of the state it was activated with).
        let Some(timeline) = shared.params.timeline.changed_for_engine() else {
            drop(guard);
            shared.status.timelines.fetch_add(1, Ordering::AcqRel);
            return;
        };
        match engine.set_timeline(timeline.clone()) {
            Ok(info) => {
                shared.params.timeline.mark_handed(timeline);
                shared.recorder.queued();
                for warning in info.warnings.iter().filter(|w| w.starts_with("timeline")) {
                    log!("MAM Session: {warning}");
                }
            }
            Err(e) => log!("MAM Session: the timeline could not be compiled with the session: {e}"),
        }
    }
    drop(guard);
    shared.status.timelines.fetch_add(1, Ordering::AcqRel);
}

/// Waits until the control thread has handled `count` requests in all, or
/// `timeout` passes (tests and the editor's headless script). Returns
/// whether it got there.
pub fn wait_handled(status: &ControlStatus, count: u64, timeout: Duration) -> bool {
    let start = std::time::Instant::now();
    while status.handled() < count {
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// The session as the engine runs it (at the engine's sample rate).
fn running_session(session: &Session, compiler: &Compiler) -> Session {
    let mut running = session.clone();
    running.sample_rate = compiler.options().sample_rate as u32;
    running
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
