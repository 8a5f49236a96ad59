//! The two halves of a running engine: `Engine` on the control side, `AudioProcessor` on the audio thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::graph::adopt::{AdoptPlan, ScheduleLayout};
use crate::graph::compile::{compile_with_timeline, CompileError, CompileInfo, CompileOptions, Compiled, MAX_PORTS};
use crate::graph::controls::{Armed, HostControl, HostControls, SceneStatus, MAX_SCENE_STACK};
use crate::graph::schedule::{Schedule, StripControl};
use crate::meters::{loudness_meter, BusMeter, LoudnessMeter, LoudnessReading, LoudnessTap, MeterReading, SpectrumDisplay};
use crate::session::slots::MAX_BUS_SLOTS;
use crate::session::{Quantize, Session, Transition};
use crate::telemetry::{ProcessTimer, Telemetry};
use crate::timeline::playback::CueAction;
use crate::timeline::Timeline;
use crate::transport::Transport;
use crate::mapping::InputMonitor;

mod controller;
pub use controller::{Mapped, MappedEvent, MAX_MAPPED};
pub use crate::mapping::runtime::Feedback;

/// Schedules that can wait in each direction. While this many are queued
/// for the audio thread, a newly compiled one waits on the control side
/// (see [`Engine::load`]); the audio thread keeps running its current
/// schedule until the return queue has room for it, so nothing is ever
/// dropped on the audio thread.
pub const QUEUE_DEPTH: usize = 4;

/// Control side: compiles sessions, sends schedules to the audio thread,
/// drops the ones that come back, owns the meters.
pub struct Engine {
    compiler: Compiler,
    to_audio: rtrb::Producer<Box<Schedule>>,
    from_audio: rtrb::Consumer<Box<Schedule>>,
    loudness: LoudnessMeter,
    /// Width of the audio `loudness` analyses (the newest schedule's).
    loudness_channels: usize,
    session: Session,
    info: CompileInfo,
    /// Ids of the schedule last queued, what the next adoption plan matches.
    layout: ScheduleLayout,
    /// A compiled schedule waiting for room in the queue, with its ids; a
    /// newer session replaces it (edits coalesce to the newest, none is lost).
    pending: Option<(Box<Schedule>, ScheduleLayout)>,
    /// Armed, current and pushed scenes, as the audio thread last wrote them.
    scene_status: Arc<SceneStatus>,
    monitor: Arc<InputMonitor>,
}

/// Audio side: runs the current schedule and swaps in new ones between blocks.
pub struct AudioProcessor {
    schedule: Box<Schedule>,
    from_control: rtrb::Consumer<Box<Schedule>>,
    to_control: rtrb::Producer<Box<Schedule>>,
    loudness: LoudnessTap,
    /// The host's tempo once it has told us one; it overrides session tempos.
    host_tempo: Option<f64>,
    /// Host strip controls per slot (0 = master), re-applied to every new
    /// schedule so automation survives session edits.
    host_strips: [HostStrip; MAX_BUS_SLOTS + 1],
    /// Host scene, morph, macro and ducker controls, likewise re-applied.
    host_controls: HostControls,
    /// Whether any audio has been processed; until then host controls jump
    /// instead of ramping (a fresh instance starts at its scene).
    started: bool,
    /// The host's transport at the first sample of its current block.
    transport: Transport,
    /// Frames processed since [`Self::set_transport`]: where a request
    /// arriving now stands in the host's block.
    transport_frames: u64,
    /// Scene actions waiting for their quantize boundaries, in request order.
    scene_queue: SceneQueue,
    /// What the editor reads: the armed request, current scene, stack depth.
    scene_status: Arc<SceneStatus>,
    /// The last MIDI input that moved (the editor's learn reads it).
    monitor: Arc<InputMonitor>,
    /// What mappings did since the last `set_transport`, for recording.
    mapped: [Mapped; MAX_MAPPED],
    mapped_len: usize,
    /// Mapped moves not logged because the log was full.
    mapped_lost: u64,
    /// Times every process call (or host block, see [`Self::begin_block`]),
    /// and samples buses and inserts.
    timer: ProcessTimer,
    /// Inside [`Self::begin_block`] … [`Self::end_block`]: the block's
    /// start (`None` while telemetry is off).
    block: Option<Option<crate::telemetry::CallStart>>,
    /// Frames of the host block `block` times.
    block_frames: usize,
}

/// A scene recall, push or pop waiting for its boundary.
#[derive(Clone, Copy, Debug)]
struct SceneRequest {
    /// `Scene`, `Push` or `Pop`.
    action: HostControl,
    /// A recall's transition in place of the scene's own.
    transition: Option<Transition>,
    quantize: Quantize,
    /// Its boundary, in frames since the last `set_transport`.
    fire_at: u64,
    /// Asked for by a controller mapping: logged when it starts.
    mapped: bool,
}

impl SceneRequest {
    const NONE: SceneRequest = SceneRequest { action: HostControl::Pop, transition: None, quantize: Quantize::None, fire_at: 0, mapped: false };

    fn armed(&self) -> Armed {
        match self.action {
            HostControl::Push(n) => Armed::Push(n),
            HostControl::Pop => Armed::Pop,
            HostControl::Scene(n) => Armed::Scene(n),
            _ => unreachable!("only scene actions wait for a boundary"),
        }
    }

    fn is_recall(&self) -> bool {
        matches!(self.action, HostControl::Scene(_))
    }
}

/// Most scene actions that wait at once; more are ignored. Pushes and pops
/// beyond the stack's depth are refused before they queue, so this is only
/// reached by pushes and pops alternating faster than their boundaries.
const MAX_WAITING_SCENES: usize = 2 * MAX_SCENE_STACK;

/// Scene actions waiting for their boundaries, preallocated, in request
/// order. Only the first may start: a later one starts on its own boundary
/// or with the one before it, whichever is later, so a pop and the push
/// after it (a held scene changed) keep their order.
struct SceneQueue {
    items: [SceneRequest; MAX_WAITING_SCENES],
    len: usize,
}

impl SceneQueue {
    fn new() -> Self {
        Self { items: [SceneRequest::NONE; MAX_WAITING_SCENES], len: 0 }
    }

    fn as_slice(&self) -> &[SceneRequest] {
        &self.items[..self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [SceneRequest] {
        &mut self.items[..self.len]
    }

    fn first(&self) -> Option<&SceneRequest> {
        self.as_slice().first()
    }

    fn last(&self) -> Option<&SceneRequest> {
        self.as_slice().last()
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn push(&mut self, request: SceneRequest) {
        if self.len < MAX_WAITING_SCENES {
            self.items[self.len] = request;
            self.len += 1;
        }
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn remove(&mut self, index: usize) {
        if index < self.len {
            self.items.copy_within(index + 1..self.len, index);
            self.len -= 1;
        }
    }

    /// Drops every waiting request `drop` picks.
    /// Runs on the audio thread: no allocation, no locks.
    fn remove_where(&mut self, drop: impl Fn(&SceneRequest) -> bool) {
        let mut i = 0;
        while i < self.len {
            if drop(&self.items[i]) {
                self.remove(i);
            } else {
                i += 1;
            }
        }
    }
}

/// The host's current controls of one slot.
#[derive(Clone, Copy, Debug)]
struct HostStrip {
    trim_db: f32,
    pan: f32,
    mute: bool,
    solo: bool,
}

impl Default for HostStrip {
    fn default() -> Self {
        Self { trim_db: 0.0, pan: 0.0, mute: false, solo: false }
    }
}

/// Compiles sessions for one engine without needing the engine itself, so
/// a control thread can compile with no lock held and take the engine's
/// lock only to queue the result ([`Engine::queue`]). Cheap to clone.
#[derive(Clone)]
pub struct Compiler {
    options: CompileOptions,
    /// Meters by source or bus id and editor displays by (bus id, insert
    /// id), kept across recompiles so readers keep their handles. Locked only
    /// to look an entry up or add one.
    registry: Arc<Mutex<Registry>>,
    /// The timeline every schedule plays (docs/ARCHITECTURE.md §8.1).
    timeline: Option<Arc<Timeline>>,
    /// CPU figures; its bus and insert counters are shared with every
    /// schedule compiled here.
    telemetry: Arc<Telemetry>,
}

#[derive(Default)]
struct Registry {
    meters: HashMap<String, Arc<BusMeter>>,
    displays: HashMap<(String, String), Arc<SpectrumDisplay>>,
}

impl Compiler {
    /// Compiles `session` for this engine's rate, block size and ports.
    /// Allocates; control side only.
    ///
    /// # Errors
    /// [`CompileError`] for a session that does not compile.
    pub fn compile(&self, session: &Session) -> Result<Compiled, CompileError> {
        let registry = &self.registry;
        let mut compiled = compile_with_timeline(
            session,
            &self.options,
            self.timeline.as_deref(),
            &mut |id| lock(registry).meters.entry(id.to_string()).or_default().clone(),
            &mut |bus, insert, fresh| lock(registry).displays.entry((bus.to_string(), insert.to_string())).or_insert(fresh).clone(),
        )?;
        compiled.schedule.share_telemetry(&self.telemetry);
        Ok(compiled)
    }

    pub fn options(&self) -> &CompileOptions {
        &self.options
    }

    /// Whether `self` and `other` compile alike (the same engine's handles,
    /// with the same timeline).
    fn same_as(&self, other: &Compiler) -> bool {
        let same_timeline = match (&self.timeline, &other.timeline) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        Arc::ptr_eq(&self.registry, &other.registry) && same_timeline
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    /// Compiles `session` and returns both halves, the audio half already
    /// running it.
    ///
    /// # Errors
    /// If the session does not compile.
    pub fn new(session: Session, options: CompileOptions) -> Result<(Engine, AudioProcessor), CompileError> {
        Self::with_timeline(session, options, None)
    }

    /// [`Self::new`], every schedule also playing `timeline` with the
    /// transport ([`AudioProcessor::set_transport`]; docs/ARCHITECTURE.md §8.1).
    ///
    /// # Errors
    /// If the session does not compile.
    pub fn with_timeline(session: Session, options: CompileOptions, timeline: Option<Arc<Timeline>>) -> Result<(Engine, AudioProcessor), CompileError> {
        // Which vector width the audio thread will run, decided here on the
        // control side (it reads the environment).
        crate::simd::init();
        let telemetry = Arc::new(Telemetry::new(options.sample_rate));
        let compiler = Compiler { options, registry: Default::default(), timeline, telemetry };
        let compiled = compiler.compile(&session)?;
        let options = &compiler.options;
        let (to_audio, from_control) = rtrb::RingBuffer::new(QUEUE_DEPTH);
        let (to_control, from_audio) = rtrb::RingBuffer::new(QUEUE_DEPTH);
        let (loudness, tap) = loudness_meter(session.channels, options.sample_rate as u32);
        let layout = ScheduleLayout::of(&compiled.schedule);
        let loudness_channels = session.channels;
        let scene_status = Arc::new(SceneStatus::default());
        let monitor = Arc::new(InputMonitor::default());
        let timer = compiler.telemetry.timer();
        let engine = Engine { compiler, to_audio, from_audio, loudness, loudness_channels, session, info: compiled.info, layout, pending: None, scene_status: scene_status.clone(), monitor: monitor.clone() };
        let audio = AudioProcessor {
            schedule: compiled.schedule,
            from_control,
            to_control,
            loudness: tap,
            host_tempo: None,
            host_strips: Default::default(),
            host_controls: HostControls::default(),
            started: false,
            transport: Transport::default(),
            transport_frames: 0,
            scene_queue: SceneQueue::new(),
            scene_status,
            monitor,
            mapped: [Mapped::NONE; MAX_MAPPED],
            mapped_len: 0,
            mapped_lost: 0,
            timer,
            block: None,
            block_frames: 0,
        };
        Ok((engine, audio))
    }

    /// Compiles `session` and queues it for the audio thread, which switches
    /// at its next block, taking over the running state by an
    /// [`AdoptPlan`] worked out here (see [`Schedule::adopt`]). On error the
    /// running session is untouched.
    ///
    /// If the queue is full (the audio thread is not running blocks), the
    /// schedule waits here and [`Self::flush`] queues it later; a newer
    /// session replaces a waiting one, so edits coalesce to the newest and
    /// none is dropped. Never blocks.
    ///
    /// # Errors
    /// [`CompileError`] for a session that does not compile.
    pub fn load(&mut self, session: Session) -> Result<&CompileInfo, CompileError> {
        let compiler = self.compiler.clone();
        let compiled = compiler.compile(&session)?;
        self.queue(session, compiled, &compiler)
    }

    /// Plays `timeline` (or none) from now on: the running session is
    /// compiled again with it and queued as [`Self::load`] does; the
    /// playhead carries over.
    ///
    /// # Errors
    /// [`CompileError`] if the session does not compile (it ran before, so
    /// only for a schedule that cannot be built at all).
    pub fn set_timeline(&mut self, timeline: Option<Arc<Timeline>>) -> Result<&CompileInfo, CompileError> {
        self.compiler.timeline = timeline;
        self.load(self.session.clone())
    }

    /// A handle that compiles for this engine without its lock (see
    /// [`Compiler`]); hand the result to [`Self::queue`].
    pub fn compiler(&self) -> Compiler {
        self.compiler.clone()
    }

    /// Queues a schedule that `compiler` made from `session`, as
    /// [`Self::load`] does after compiling. A schedule compiled by another
    /// engine's compiler (this one was re-created meanwhile, perhaps at
    /// another rate or block size) is compiled again here.
    ///
    /// # Errors
    /// [`CompileError`] if compiling again fails.
    pub fn queue(&mut self, session: Session, compiled: Compiled, compiler: &Compiler) -> Result<&CompileInfo, CompileError> {
        let mut compiled = if compiler.same_as(&self.compiler) { compiled } else { self.compiler.compile(&session)? };
        self.collect_garbage();
        let schedule = &mut compiled.schedule;
        schedule.generation = self.layout.generation + 1;
        schedule.plan = AdoptPlan::between(&self.layout, schedule);
        if schedule.channels() != self.loudness_channels {
            // The loudness ring is laid out for the old width: a new one
            // travels with the schedule and the audio thread switches to it.
            let (loudness, tap) = loudness_meter(schedule.channels(), self.compiler.options.sample_rate as u32);
            self.loudness = loudness;
            self.loudness_channels = schedule.channels();
            schedule.loudness = Some(tap);
        }
        // A schedule still waiting is superseded (dropped here, never
        // queued). A new ring it brought for the meter `self.loudness` reads
        // passes to its successor, which has that width (else it brought its own).
        if let Some((mut superseded, _)) = self.pending.take() {
            if schedule.loudness.is_none() {
                schedule.loudness = superseded.loudness.take();
            }
        }
        let layout = ScheduleLayout::of(schedule);
        self.pending = Some((compiled.schedule, layout));
        self.flush();
        self.session = session;
        self.info = compiled.info;
        Ok(&self.info)
    }

    /// Queues the waiting schedule if the queue has room. Returns true when
    /// nothing is left waiting. Call regularly while [`Self::is_pending`].
    pub fn flush(&mut self) -> bool {
        self.collect_garbage();
        if let Some((schedule, layout)) = self.pending.take() {
            match self.to_audio.push(schedule) {
                Ok(()) => self.layout = layout,
                Err(rtrb::PushError::Full(schedule)) => self.pending = Some((schedule, layout)),
            }
        }
        self.pending.is_none()
    }

    /// Whether a compiled schedule is waiting for room in the queue.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Drops schedules the audio thread has finished with. Call regularly
    /// (every `load` and `flush` does).
    pub fn collect_garbage(&mut self) {
        while let Ok(old) = self.from_audio.pop() {
            drop(old);
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn info(&self) -> &CompileInfo {
        &self.info
    }

    pub fn options(&self) -> &CompileOptions {
        &self.compiler.options
    }

    /// The post-fader meter of a bus, or the level of a source after its
    /// gain (sources and buses share ids), or `None` for an unknown id.
    pub fn meter(&self, bus_id: &str) -> Option<MeterReading> {
        lock(&self.compiler.registry).meters.get(bus_id).map(|m| m.read())
    }

    /// The editor display of an insert (spectral ducker spectra and key
    /// presence), if that insert publishes one.
    pub fn display(&self, bus_id: &str, insert_id: &str) -> Option<Arc<SpectrumDisplay>> {
        lock(&self.compiler.registry).displays.get(&(bus_id.to_string(), insert_id.to_string())).cloned()
    }

    /// Analyses master audio queued since the last call (see
    /// [`LoudnessMeter`]) and returns the loudness figures.
    pub fn update_loudness(&mut self) -> LoudnessReading {
        self.loudness.update()
    }

    /// The master loudness meter, to drain and read separately (the CLI
    /// drains as the ring fills and reads once at the end).
    pub fn loudness_mut(&mut self) -> &mut LoudnessMeter {
        &mut self.loudness
    }

    /// The scene recall waiting for its quantize boundary ("armed"), the
    /// current scene and the scene stack's depth, as the audio thread last
    /// set them (atomics: an editor reads them at any time, lock-free).
    pub fn scene_status(&self) -> Arc<SceneStatus> {
        self.scene_status.clone()
    }

    /// The last MIDI input that reached the audio thread (for learn).
    pub fn input_monitor(&self) -> Arc<InputMonitor> {
        self.monitor.clone()
    }

    /// CPU figures of the process call, every bus and every insert, as the
    /// audio thread measures them (atomics; see [`crate::telemetry`]).
    pub fn telemetry(&self) -> Arc<Telemetry> {
        self.compiler.telemetry.clone()
    }
}

impl AudioProcessor {
    /// Latency of the running schedule in samples.
    pub fn latency(&self) -> usize {
        self.schedule.latency()
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Turns CPU telemetry on (the default) or off; off, no clock is read
    /// and the figures stand still.
    pub fn set_telemetry(&mut self, on: bool) {
        self.timer.set_enabled(on);
    }

    /// The telemetry this processor writes (the same as [`Engine::telemetry`]).
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        self.timer.telemetry()
    }

    /// Starts a host block that the caller processes in several calls
    /// (split at events, as the plugin does): telemetry then times the
    /// whole block, up to [`Self::end_block`], as one call against the
    /// block's deadline — a few-frame part holding an FFT hop is not an
    /// overrun. Without it every process call is a block of its own.
    /// The block has `frames` frames.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn begin_block(&mut self, frames: usize) {
        self.block = Some(self.timer.begin());
        self.block_frames = frames;
    }

    /// Ends the host block [`Self::begin_block`] started, which had `frames`
    /// frames.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn end_block(&mut self, frames: usize) {
        if let Some(start) = self.block.take() {
            self.timer.end(start, frames);
        }
    }

    /// Applies a host control to the bus in parameter slot `slot` (1…16 as
    /// assigned by [`crate::session::slots::assign`], 0 = the master) from the
    /// next processed sample on; it ramps over 10 ms and persists across
    /// session edits. For sample-accurate automation, split the host's block
    /// at each event and call this between the parts.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_strip(&mut self, slot: usize, control: StripControl) {
        let Some(host) = self.host_strips.get_mut(slot) else { return };
        match control {
            StripControl::TrimDb(db) => host.trim_db = db,
            StripControl::Pan(p) => host.pan = p,
            StripControl::Mute(m) => host.mute = m,
            StripControl::Solo(on) => host.solo = on,
        }
        self.schedule.control(slot, control);
    }

    /// Applies a host scene, morph, macro or ducker control, or a scene
    /// push or pop, from the next processed sample on; it persists across
    /// session edits. Before any audio has been processed the change takes
    /// effect at once.
    ///
    /// Scene recalls, pushes and pops start on their quantize boundary
    /// while the transport plays ([`Self::set_transport`]; docs/ARCHITECTURE.md
    /// §8): the scene's `quantize` (a pop: the pushed scene's). Waiting
    /// requests are shown as armed in [`Engine::scene_status`] and start in
    /// the order they came. A recall replaces a waiting recall (a recall of
    /// the current scene just calls it off); a pop calls off a push still
    /// waiting, as a pad released before its boundary; a push onto a full
    /// stack and a pop of an empty one are ignored.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_control(&mut self, control: HostControl) {
        match control {
            HostControl::Scene(_) | HostControl::Push(_) | HostControl::Pop => self.request_scene(control, None, false),
            _ => {
                self.host_controls.apply(control);
                self.schedule.set_control(control, !self.started);
            }
        }
    }

    /// Recalls scene `n` as [`Self::set_control`] with `HostControl::Scene`
    /// does, moving by `transition` instead of the scene's own transition
    /// when given (a timeline's policy override).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn recall_scene(&mut self, n: usize, transition: Option<Transition>) {
        self.request_scene(HostControl::Scene(n), transition, false);
    }

    /// Follows the host's transport: call once per host block, before
    /// processing it, with the transport at the block's first sample. Sets
    /// the tempo as [`Self::set_tempo`] does, and places waiting scene
    /// requests again from the new position — a tempo change or a loop's
    /// jump back moves them; with the transport stopped they start at once.
    /// Until a transport is set, scene requests start at once.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_transport(&mut self, transport: &Transport) {
        self.transport = *transport;
        self.transport_frames = 0;
        self.mapped_len = 0;
        if let Some(bpm) = transport.bpm() {
            self.set_tempo(bpm);
        }
        let sample_rate = self.schedule.sample_rate() as f64;
        for request in self.scene_queue.as_mut_slice() {
            request.fire_at = transport.frames_to_boundary(request.quantize, sample_rate, 0).unwrap_or(0);
        }
        // The timeline's playhead: at the host's sample position (a jump or a
        // loop's wrap seeks), counting on by itself when the host gives none.
        let timeline = &mut self.schedule.timeline;
        timeline.locate(transport.position_samples.unwrap_or(timeline.position()), transport.playing);
    }

    /// The transport last set, and the frames processed since.
    pub fn transport(&self) -> (&Transport, u64) {
        (&self.transport, self.transport_frames)
    }

    /// Starts a scene action now or queues it for its boundary.
    /// Runs on the audio thread: no allocation, no locks.
    fn request_scene(&mut self, action: HostControl, transition: Option<Transition>, mapped: bool) {
        let quantize = match action {
            HostControl::Scene(n) => {
                let Some(q) = self.schedule.scene_quantize(n) else {
                    // Not in this session: remembered, so a session edit
                    // that brings the scene recalls it (set_all_controls).
                    self.host_controls.scene = n;
                    return;
                };
                // The newest recall wins; back to the current scene is none.
                self.scene_queue.remove_where(SceneRequest::is_recall);
                if n == self.host_controls.scene {
                    self.publish_armed();
                    return;
                }
                q
            }
            HostControl::Push(n) => {
                let Some(q) = self.schedule.scene_quantize(n) else { return };
                if self.projected_stack().0 == MAX_SCENE_STACK {
                    return;
                }
                q
            }
            HostControl::Pop => {
                if self.scene_queue.last().is_some_and(|r| matches!(r.action, HostControl::Push(_))) {
                    // Released before it landed: the push never happens.
                    self.scene_queue.remove(self.scene_queue.len - 1);
                    self.publish_armed();
                    return;
                }
                let Some(pushed) = self.projected_stack().1 else { return };
                self.schedule.scene_quantize(pushed).unwrap_or_default()
            }
            _ => return,
        };
        let sample_rate = self.schedule.sample_rate() as f64;
        let at = self.transport_frames;
        let fire_at = self.transport.frames_to_boundary(quantize, sample_rate, at).unwrap_or(at);
        if self.scene_queue.len == 0 && (fire_at <= at || !self.started) {
            self.start_scene(action, transition, mapped);
        } else {
            self.scene_queue.push(SceneRequest { action, transition, quantize, fire_at, mapped });
            self.publish_armed();
        }
    }

    /// The stack's depth and top pushed scene once every waiting push and
    /// pop has run.
    /// Runs on the audio thread: no allocation, no locks.
    fn projected_stack(&self) -> (usize, Option<usize>) {
        let mut pushed = [0usize; MAX_SCENE_STACK];
        let mut depth = self.schedule.stack_depth();
        for (level, slot) in pushed.iter_mut().enumerate().take(depth) {
            *slot = self.schedule.pushed_scene(level).unwrap_or(0);
        }
        for request in self.scene_queue.as_slice() {
            match request.action {
                HostControl::Push(n) if depth < MAX_SCENE_STACK => {
                    pushed[depth] = n;
                    depth += 1;
                }
                HostControl::Pop => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        (depth, depth.checked_sub(1).map(|top| pushed[top]))
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn publish_armed(&self) {
        self.scene_status.set_armed(self.scene_queue.first().map(SceneRequest::armed));
    }

    /// Runs a scene action on the running schedule and publishes the result.
    /// Runs on the audio thread: no allocation, no locks.
    fn start_scene(&mut self, action: HostControl, transition: Option<Transition>, mapped: bool) {
        if mapped {
            let event = match action {
                HostControl::Scene(n) => MappedEvent::Scene(n),
                HostControl::Push(n) => MappedEvent::Push(n),
                _ => MappedEvent::Pop,
            };
            self.log_mapped(event);
        }
        self.schedule.set_control_with(action, transition, !self.started);
        self.host_controls.scene = self.schedule.host_controls().scene;
        self.scene_status.set_scene(self.host_controls.scene, self.schedule.stack_depth());
    }

    /// Starts the waiting scene requests whose boundary is here (in order,
    /// each no earlier than the one before), and returns the frames until
    /// the next is due (unbounded when none waits).
    /// Runs on the audio thread: no allocation, no locks.
    fn fire_due_scenes(&mut self) -> usize {
        while let Some(&request) = self.scene_queue.first() {
            if request.fire_at > self.transport_frames {
                return (request.fire_at - self.transport_frames).try_into().unwrap_or(usize::MAX);
            }
            self.scene_queue.remove(0);
            self.start_scene(request.action, request.transition, request.mapped);
            self.publish_armed();
        }
        usize::MAX
    }

    /// Applies the timeline's cues due on the next frame, in order, and
    /// returns the frames until the next one (unbounded when none is
    /// coming). A `scene`, `push` or `pop` starts on its own sample, not on
    /// its scene's quantize boundary: the timeline already placed it.
    /// Runs on the audio thread: no allocation, no locks.
    fn play_timeline(&mut self) -> usize {
        while let Some(cue) = self.schedule.timeline.next_due() {
            match cue.action {
                CueAction::Set { target, value, ramp_samples } => self.schedule.set_timeline_value(target, value, ramp_samples),
                CueAction::Scene { scene, transition } => self.start_scene(HostControl::Scene(scene), transition, false),
                CueAction::Push(scene) => self.start_scene(HostControl::Push(scene), None, false),
                CueAction::Pop => self.start_scene(HostControl::Pop, None, false),
                CueAction::Macro { index, value } => self.set_control(HostControl::Macro(index, value)),
            }
        }
        self.schedule.timeline.frames_to_next_cue()
    }

    /// Clears every tail, delay line and envelope of the running schedule.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn reset(&mut self) {
        self.schedule.reset();
    }

    /// Follows the host's tempo (BPM) from now on, for tempo-synced inserts.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_tempo(&mut self, bpm: f64) {
        if bpm.is_finite() && bpm > 0.0 {
            self.host_tempo = Some(bpm);
            self.schedule.set_tempo(bpm);
        }
    }

    /// Switches to a newly compiled schedule if one is waiting and the return
    /// queue has room for the old one; otherwise keeps the current one.
    /// Returns true if it switched.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn poll_schedule(&mut self) -> bool {
        let mut switched = false;
        while !self.to_control.is_full() {
            let Ok(mut next) = self.from_control.pop() else { break };
            if let Some(bpm) = self.host_tempo {
                next.set_tempo(bpm);
            }
            next.adopt(&mut self.schedule);
            if let Some(mut tap) = next.loudness.take() {
                // A new width: write the new ring from now on; the old tap
                // goes back with the old schedule, to be dropped off this thread.
                std::mem::swap(&mut tap, &mut self.loudness);
                self.schedule.loudness = Some(tap);
            }
            for (slot, host) in self.host_strips.iter().enumerate() {
                let controls = [StripControl::TrimDb(host.trim_db), StripControl::Pan(host.pan), StripControl::Mute(host.mute), StripControl::Solo(host.solo)];
                for control in controls {
                    next.control(slot, control);
                }
            }
            next.set_all_controls(&self.host_controls);
            next.take_scene_stack(&self.schedule);
            next.take_timeline(&self.schedule);
            // `adopt` handed the plan back with the old schedule.
            let pairs = (self.schedule.plan.from == Some(self.schedule.generation)).then_some(&self.schedule.plan.mappings[..]);
            next.mappings.take_state(&self.schedule.mappings, pairs);
            next.continue_running(&self.schedule);
            if !self.started {
                next.settle();
            }
            let old = std::mem::replace(&mut self.schedule, next);
            // Cannot fail: checked for room above, and only this thread pushes.
            let _ = self.to_control.push(old);
            switched = true;
        }
        if switched {
            self.scene_status.set_scene(self.schedule.host_controls().scene, self.schedule.stack_depth());
        }
        switched
    }

    /// Processes any number of frames, in slices of at most the schedule's
    /// `max_block`, after picking up a new schedule if one is waiting.
    /// `inputs[port][channel][frame]`, `outputs[channel][frame]`; see
    /// [`Schedule::process`].
    /// Runs on the audio thread: no allocation, no locks.
    pub fn process(&mut self, inputs: &[&[&[f32]]], outputs: &mut [&mut [f32]], frames: usize) {
        self.process_with_stems(inputs, outputs, &mut [], frames);
    }

    /// [`Self::process`], also writing stem outputs: `stems[k][channel][frame]`
    /// receives the bus in parameter slot k + 1 (up to [`MAX_BUS_SLOTS`]),
    /// post-fader and aligned with the main output (see
    /// [`Schedule::write_stems`]).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn process_with_stems(&mut self, inputs: &[&[&[f32]]], outputs: &mut [&mut [f32]], stems: &mut [&mut [&mut [f32]]], frames: usize) {
        self.process_slices(inputs, outputs, stems, frames, &mut |_, _| {});
    }

    /// [`Self::process`], calling `observe(schedule, slice)` after each slice
    /// the engine runs on its own (it splits a call at `max_block`, control
    /// steps and scene starts), with the slice's frames within this call;
    /// meanwhile [`Schedule::bus_outputs`] hold that slice's audio, from
    /// frame 0. The offline renderer captures bus outputs this way.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn process_observed(&mut self, inputs: &[&[&[f32]]], outputs: &mut [&mut [f32]], frames: usize, observe: &mut dyn FnMut(&Schedule, std::ops::Range<usize>)) {
        self.process_slices(inputs, outputs, &mut [], frames, observe);
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn process_slices(&mut self, inputs: &[&[&[f32]]], outputs: &mut [&mut [f32]], stems: &mut [&mut [&mut [f32]]], frames: usize, observe: &mut dyn FnMut(&Schedule, std::ops::Range<usize>)) {
        // Timed here unless a host block (begin_block) is timed around it.
        let call = if self.block.is_some() { None } else { self.timer.begin() };
        self.poll_schedule();
        let call_frames = if self.block.is_some() { self.block_frames } else { frames };
        self.schedule.timing = self.timer.bus_timing(self.block.unwrap_or(call), call_frames);
        if !self.started {
            self.schedule.settle();
            self.started = true;
        }
        let _denormals = DenormalGuard::new();
        let mut start = 0;
        // Up to MAX_PORTS ports (the compiler refuses more) of up to 2
        // channels re-sliced per chunk, on the stack.
        while start < frames {
            // Timeline cues and scene requests start on their sample: the
            // block splits there (the timeline's first, so at one sample its
            // events land before a host's quantized recall).
            let until_cue = self.play_timeline();
            let until_scene = self.fire_due_scenes();
            let len = (frames - start).min(self.schedule.next_block_limit()).min(until_scene).min(until_cue);
            let mut channel_slices: [[&[f32]; 2]; MAX_PORTS] = [[&[]; 2]; MAX_PORTS];
            let ports = inputs.len().min(MAX_PORTS);
            for (p, port) in inputs.iter().take(ports).enumerate() {
                for (c, ch) in port.iter().take(2).enumerate() {
                    channel_slices[p][c] = ch.get(start..start + len).unwrap_or(&[]);
                }
            }
            let mut port_slices: [&[&[f32]]; MAX_PORTS] = [&[]; MAX_PORTS];
            for p in 0..ports {
                port_slices[p] = &channel_slices[p][..inputs[p].len().min(2)];
            }
            let mut out_slices: [&mut [f32]; 2] = [&mut [], &mut []];
            let mut n_out = 0;
            for (c, out) in outputs.iter_mut().enumerate() {
                if c < 2 {
                    out_slices[c] = &mut out[start..start + len];
                    n_out += 1;
                } else {
                    out[start..start + len].fill(0.0);
                }
            }
            self.schedule.process(&port_slices[..ports], &mut out_slices[..n_out], len);
            if !stems.is_empty() {
                // Up to 16 stems of up to 2 channels re-sliced per chunk, on the stack.
                let mut stem_channels: [[&mut [f32]; 2]; MAX_BUS_SLOTS] = std::array::from_fn(|_| [&mut [][..], &mut [][..]]);
                let mut widths = [0usize; MAX_BUS_SLOTS];
                let n = stems.len().min(MAX_BUS_SLOTS);
                for (k, stem) in stems.iter_mut().take(MAX_BUS_SLOTS).enumerate() {
                    for (c, ch) in stem.iter_mut().take(2).enumerate() {
                        stem_channels[k][c] = &mut ch[start..start + len];
                        widths[k] = c + 1;
                    }
                }
                let mut stem_slices: [&mut [&mut [f32]]; MAX_BUS_SLOTS] = std::array::from_fn(|_| &mut [][..]);
                for (k, (slot, channels)) in stem_slices.iter_mut().zip(stem_channels.iter_mut()).enumerate().take(n) {
                    *slot = &mut channels[..widths[k]];
                }
                self.schedule.write_stems(&mut stem_slices[..n], len);
            }
            {
                let master: [&[f32]; 2] = [&out_slices[0][..], if n_out > 1 { &out_slices[1][..] } else { &[] }];
                self.loudness.push(&master[..self.schedule.channels().min(n_out.max(1))], if n_out > 0 { len } else { 0 });
            }
            observe(&self.schedule, start..start + len);
            self.transport_frames += len as u64;
            self.schedule.timeline.advance(len);
            start += len;
        }
        self.timer.end(call, frames);
    }
}

/// Sets flush-to-zero and denormals-are-zero for the duration of a process
/// call and restores the host's setting afterwards.
struct DenormalGuard {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    saved: u32,
}

impl DenormalGuard {
    #[allow(deprecated)]
    fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            // SAFETY: reading and writing MXCSR only changes floating-point
            // modes of this thread; FTZ (bit 15) and DAZ (bit 6) are valid on
            // every x86_64 CPU.
            let saved = unsafe { _mm_getcsr() };
            unsafe { _mm_setcsr(saved | 0x8040) };
            Self { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Self {
                #[cfg(target_arch = "x86")]
                saved: 0,
            }
        }
    }
}

impl Drop for DenormalGuard {
    #[allow(deprecated)]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::_mm_setcsr;
            // SAFETY: restores the MXCSR value read in `new` on this thread.
            unsafe { _mm_setcsr(self.saved) };
        }
    }
}
