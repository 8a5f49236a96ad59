//! One plugin instance: what its COM object, its editor view and its
//! run-loop timer share — the main-thread half, the audio half while
//! active, the buses, the host-facing latency and parameter values, and
//! the life-cycle state.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vst3::ComRef;
use vst3::ComPtr;
use vst3::Steinberg::Linux::IRunLoop;
use vst3::Steinberg::Vst::RestartFlags_;
use vst3::Steinberg::{kResultFalse, kResultOk, tresult, FUnknown, IBStream, IBStreamTrait};

use super::buses::Buses;
use super::main_thread::MainThread;
use super::midi;
use super::process::AudioSide;
use super::units::Units;
use super::view::EditorState;
use crate::format::ParamTable;
use crate::{log, MamSession};

/// Locks a main-thread mutex. A panic while one was held leaves plain data
/// behind, still usable, so poisoning is ignored.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the audio half lives: a try-lock. The audio thread takes it for
/// each process call and never waits (a taken slot skips the block); the UI
/// thread takes it only in setActive, when no process call may run. (The
/// audio half is `Send` but not `Sync`, so a lock it is, not a shared cell.)
pub(super) struct AudioSlot {
    taken: AtomicBool,
    side: UnsafeCell<Option<Box<AudioSide>>>,
}

// SAFETY: `side` is reached only through an `AudioGuard`, and `taken` lets
// one exist at a time, so threads only ever hand the `AudioSide` (which is
// `Send`) to one another.
unsafe impl Sync for AudioSlot {}

impl AudioSlot {
    fn new() -> Self {
        Self { taken: AtomicBool::new(false), side: UnsafeCell::new(None) }
    }

    /// The audio half, unless another thread has it. Runs on the audio
    /// thread: no allocation, no locks (it never waits).
    pub fn try_lock(&self) -> Option<AudioGuard<'_>> {
        self.taken.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).ok().map(|_| AudioGuard { slot: self })
    }
}

pub(super) struct AudioGuard<'a> {
    slot: &'a AudioSlot,
}

impl Deref for AudioGuard<'_> {
    type Target = Option<Box<AudioSide>>;
    fn deref(&self) -> &Self::Target {
        // SAFETY: this guard is the only one (see `AudioSlot`).
        unsafe { &*self.slot.side.get() }
    }
}

impl DerefMut for AudioGuard<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        // SAFETY: this guard is the only one (see `AudioSlot`).
        unsafe { &mut *self.slot.side.get() }
    }
}

impl Drop for AudioGuard<'_> {
    fn drop(&mut self) {
        self.slot.taken.store(false, Ordering::Release);
    }
}

/// What setActive(true) compiles for when the host never called
/// setupProcessing (the validator's state-transition tests do that): the
/// rate and block size hosts most often start with.
const DEFAULT_SETUP: (f64, usize) = (44_100.0, 1024);

/// `reported_latency` before the host has asked.
const NOT_READ: u64 = u64::MAX;

pub(super) struct Instance {
    /// The main-thread half: locked on the host's UI thread and, for the
    /// editor's GUI-context calls, on the editor's thread; never by the
    /// audio thread.
    pub session: Mutex<MamSession>,
    pub table: Arc<ParamTable>,
    /// What getLatencySamples answers: the session's estimate from
    /// creation, exact from each activation, and updated by the audio
    /// thread when a session change alters it.
    pub latency: AtomicU32,
    /// The last latency getLatencySamples answered ([`NOT_READ`] before the
    /// first call): an activation that arrives at another one must tell
    /// the host, which may have read it before activating.
    reported_latency: AtomicU64,
    /// Between initialize and terminate.
    initialized: AtomicBool,
    /// Sample rate and maximum block from the last setupProcessing.
    setup: Mutex<Option<(f64, usize)>>,
    /// The audio half while active. The audio thread borrows it for each
    /// process call without waiting; the UI thread replaces it only in
    /// setActive, when the spec rules out process calls.
    pub audio: AudioSlot,
    /// Between setProcessing(true) and setProcessing(false).
    pub processing: AtomicBool,
    pub buses: Buses,
    /// The last value (f32 bits) of each MIDI controller parameter (see
    /// midi.rs), for getParamNormalized.
    pub controller_values: Box<[AtomicU32]>,
    /// The edit controller's view of each parameter's normalized value (f64
    /// bits, in table order), what getParamNormalized answers. Written by
    /// the host's setParamNormalized, the editor's moves, a loaded state,
    /// and process for each automation point it reads. Kept apart from the
    /// parameters themselves, which the processor changes only at the
    /// samples the host's `IParameterChanges` name.
    shadow: Box<[AtomicU64]>,
    /// IUnitInfo's units: one per parameter group.
    pub units: Units,
    pub main: MainThread,
    pub editor: EditorState,
    /// The host context the factory was given (IPluginFactory3), another
    /// place hosts offer their `IRunLoop`.
    factory_context: Option<ComPtr<FUnknown>>,
}

impl Instance {
    pub fn new(factory_context: Option<ComPtr<FUnknown>>) -> Arc<Self> {
        let session = MamSession::new();
        let controller_values = (0..midi::NUM_CONTROLLER_PARAMS)
            .map(|index| {
                let controller = (index % midi::NUM_CONTROLLERS) as u8;
                AtomicU32::new((midi::controller_default(controller) as f32).to_bits())
            })
            .collect();
        let table = session.param_table().clone();
        let shadow = table.entries().iter().map(|e| AtomicU64::new(f64::from(e.normalized()).to_bits())).collect();
        Arc::new(Self {
            units: Units::new(&table),
            shadow,
            table,
            latency: AtomicU32::new(session.latency()),
            reported_latency: AtomicU64::new(NOT_READ),
            initialized: AtomicBool::new(false),
            session: Mutex::new(session),
            setup: Mutex::new(None),
            audio: AudioSlot::new(),
            processing: AtomicBool::new(false),
            buses: Buses::new(),
            controller_values,
            main: MainThread::new(),
            editor: EditorState::new(),
            factory_context,
        })
    }

    /// IPluginBase::initialize: finds the host's run loop (in the context
    /// given here, or the factory's) for the main-thread timer. A second
    /// call before terminate is refused, as the SDK's own base classes do.
    ///
    /// # Safety
    /// `context` is null or a valid host object.
    pub unsafe fn initialize(self: &Arc<Self>, context: *mut FUnknown) -> tresult {
        if self.initialized.swap(true, Ordering::AcqRel) {
            return kResultFalse;
        }
        // SAFETY: null or valid (caller).
        let from_context = unsafe { ComRef::from_raw(context) }.and_then(|c| c.cast::<IRunLoop>());
        let run_loop = from_context.or_else(|| self.factory_context.as_ref().and_then(|c| c.cast::<IRunLoop>()));
        if let Some(run_loop) = run_loop {
            self.main.start_timer(self, run_loop);
        }
        kResultOk
    }

    /// IPluginBase::terminate: no more calls to the host from here on. Only
    /// after initialize (a second terminate is refused); a host that did
    /// not deactivate first gets it done here.
    pub fn terminate(&self) -> tresult {
        if !self.is_initialized() {
            return kResultFalse;
        }
        if self.is_active() {
            self.set_active(false);
        }
        self.initialized.store(false, Ordering::Release);
        self.main.stop_timer();
        self.close_editor();
        self.main.set_handler(None);
        kResultOk
    }

    pub fn is_initialized(&self) -> bool {
        self.initialized.load(Ordering::Acquire)
    }

    /// Whether an audio half exists (between setActive(true) and (false)).
    /// UI thread; a process call in flight counts as active.
    pub fn is_active(&self) -> bool {
        self.audio.try_lock().is_none_or(|a| a.is_some())
    }

    /// Asks the host (from the UI thread) to read the latency again. Until
    /// it does, no activation compares against what it heard before, so
    /// the restart this asks for does not ask for another. Runs on the
    /// audio thread: no allocation, no locks.
    pub fn announce_latency_change(&self) {
        self.reported_latency.store(NOT_READ, Ordering::Relaxed);
        self.main.request_restart(RestartFlags_::kLatencyChanged);
    }

    /// IAudioProcessor::getLatencySamples, remembering what the host heard.
    pub fn report_latency(&self) -> u32 {
        let latency = self.latency.load(Ordering::Relaxed);
        self.reported_latency.store(u64::from(latency), Ordering::Relaxed);
        latency
    }

    pub fn setup_processing(&self, sample_rate: f64, max_block: usize) {
        *lock(&self.setup) = Some((sample_rate, max_block));
    }

    /// IComponent::setActive. Activation compiles the session for the
    /// setup's rate and block size; the audio half is built here, pre-sized
    /// for that block size, so process never allocates.
    ///
    /// Refused before initialize and after terminate. Deactivating an
    /// inactive plugin succeeds: the SDK's validator does exactly that when
    /// it tears down its "Valid State Transition" test and counts a refusal
    /// as a failed teardown. Activating without setupProcessing compiles
    /// for the last setup, or [`DEFAULT_SETUP`].
    pub fn set_active(&self, active: bool) -> tresult {
        if !self.is_initialized() {
            return kResultFalse;
        }
        let Ok(running) = self.swap_audio(None) else { return kResultFalse };
        if let Some(side) = running {
            // Dropped here, on the UI thread, never on the audio thread.
            drop(side);
            lock(&self.session).deactivate();
        }
        if !active {
            // A host that deactivates without setProcessing(false) has
            // stopped processing all the same.
            self.processing.store(false, Ordering::Release);
            return kResultOk;
        }
        let (sample_rate, max_block) = lock(&self.setup).unwrap_or(DEFAULT_SETUP);
        let side = {
            let mut session = lock(&self.session);
            let Ok(audio) = session.activate(sample_rate, max_block) else { return kResultFalse };
            let latency = session.latency();
            self.latency.store(latency, Ordering::Relaxed);
            // Hosts read the latency after activating, so a restart request
            // for every activation would re-activate the plugin for nothing
            // (one of nice-plug's defects). But a host may have read the
            // creation-time estimate before (the spec allows it) and keep it
            // if it does not read again: only when what it heard last
            // differs is it told, from the UI thread's next pump.
            let heard = self.reported_latency.load(Ordering::Relaxed);
            if heard != NOT_READ && heard != u64::from(latency) {
                self.announce_latency_change();
            }
            // Boxed: moved in and out of the slot by pointer.
            Box::new(AudioSide::new(audio, sample_rate, self.table.entries().len() + midi::NUM_CONTROLLER_PARAMS as usize))
        };
        match self.swap_audio(Some(side)) {
            Ok(_) => kResultOk,
            Err(side) => {
                drop(side);
                lock(&self.session).deactivate();
                kResultFalse
            }
        }
    }

    /// Replaces the audio half. Waits up to a second for a process call in
    /// flight (a host that (de)activates while processing breaks the spec;
    /// this keeps it from crashing); gives `new` back if that runs out.
    fn swap_audio(&self, new: Option<Box<AudioSide>>) -> Result<Option<Box<AudioSide>>, Option<Box<AudioSide>>> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            if let Some(mut slot) = self.audio.try_lock() {
                return Ok(std::mem::replace(&mut *slot, new));
            }
            if Instant::now() > deadline {
                log!("MAM Session (VST3): the audio thread held the plugin for a second during setActive");
                return Err(new);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// IComponent::getState: the state bytes, written to the end.
    ///
    /// # Safety
    /// `stream` is null or a valid host stream.
    pub unsafe fn save_state(&self, stream: *mut IBStream) -> tresult {
        // SAFETY: null or valid (caller).
        let Some(stream) = (unsafe { ComRef::from_raw(stream) }) else { return kResultFalse };
        let bytes = lock(&self.session).save_state();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let mut written = 0;
            let chunk = rest.len().min(i32::MAX as usize);
            // SAFETY: `rest` holds `chunk` readable bytes; `written` is a local.
            let result = unsafe { stream.write(rest.as_ptr() as *mut c_void, chunk as i32, &mut written) };
            if result != kResultOk || written <= 0 {
                return kResultFalse;
            }
            rest = &rest[(written as usize).min(chunk)..];
        }
        kResultOk
    }

    /// IComponent::setState: reads the stream from where the host left it
    /// to its end (hosts may put their own header first) and loads it.
    ///
    /// # Safety
    /// `stream` is null or a valid host stream.
    pub unsafe fn load_state(&self, stream: *mut IBStream) -> tresult {
        // SAFETY: null or valid (caller).
        let Some(stream) = (unsafe { ComRef::from_raw(stream) }) else { return kResultFalse };
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let mut read = 0;
            // SAFETY: `chunk` holds its length in writable bytes; `read` is a local.
            let result = unsafe { stream.read(chunk.as_mut_ptr() as *mut c_void, chunk.len() as i32, &mut read) };
            let read = (read.max(0) as usize).min(chunk.len());
            bytes.extend_from_slice(&chunk[..read]);
            // Hosts differ at the end: 0 bytes, or a short read, or kResultFalse.
            if result != kResultOk || read == 0 {
                break;
            }
        }
        let loaded = lock(&self.session).load_state(&bytes);
        match loaded {
            Ok(()) => {
                self.refresh_shadow();
                kResultOk
            }
            Err(e) => {
                log!("MAM Session (VST3): {e}");
                kResultFalse
            }
        }
    }
}

/// The edit controller's parameter values (see `Instance::shadow`).
impl Instance {
    /// The controller's value of the parameter at `index` in the table.
    pub fn shadow(&self, index: usize) -> f64 {
        f64::from_bits(self.shadow[index].load(Ordering::Relaxed))
    }

    /// Sets the controller's value of the parameter at `index`. Any thread;
    /// runs on the audio thread: no allocation, no locks.
    pub fn set_shadow(&self, index: usize, normalized: f64) {
        self.shadow[index].store(normalized.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Every controller value from the parameters themselves, after a
    /// state set them all.
    pub fn refresh_shadow(&self) {
        for (index, entry) in self.table.entries().iter().enumerate() {
            self.set_shadow(index, f64::from(entry.normalized()));
        }
    }
}
