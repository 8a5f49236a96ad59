//! MAM Session as a CLAP and VST3 plugin: our own format layer around `mam_core`.
//!
//! Both formats offer the same ports: main stereo in/out, stereo keys
//! "Sidechain 1" and "Sidechain 2", eight stereo stems "Bus 1"…"Bus 8" (bus
//! slots 1–8, post-fader, aligned with the main output; in CLAP through a
//! second audio-ports configuration, in VST3 as aux output buses a host may
//! leave inactive), MIDI in and out. The format wrappers are ours
//! ([`format::clap`], [`format::vst3`]), written to each specification
//! because nice-plug 0.4.2's wrappers read past host arrays, drop aux ports
//! and ask for a restart at every load (docs/ARCHITECTURE.md §7.1); the
//! parameter model and the editor still come from nice-plug-core and
//! nice-plug-egui.
//!
//! The instance is split by thread: [`MamSession`] is the main-thread half
//! (parameters, state, editor, the control thread that compiles every session
//! change), [`MamAudio`] the audio-thread half a format creates at activation.
//! Host parameters (`bus{n}_gain`, `bus{n}_pan`, `bus{n}_mute`,
//! `bus{n}_solo`, `master_gain`, `duck{n}_depth`, `duck{n}_mix`, `scene`,
//! `scene_morph_a`, `scene_morph_b`, `scene_morph`, `scene_hold`, `macro{n}`) reach the
//! engine at the sample they change on; the session itself (with its scenes
//! and macro mappings) is persisted as JSON in the state, next to the
//! timeline ([`timeline`]: recorded from the editor, played with the host's
//! transport; `timeline_record` arms the recorder).
//!
//! Every session change — an editor edit, or a state the host restores while
//! the plugin runs — goes the same way: posted to the mailbox in
//! [`state::SessionState`], compiled by the plugin's control thread
//! ([`control`]), queued, and swapped in by the audio thread between blocks,
//! which never waits for any of it. When the new schedule's latency differs,
//! [`MamAudio::take_latency_change`] tells the format, which asks the host to
//! restart (CLAP and VST3 only let latency change across a re-activation).
//! See docs/ARCHITECTURE.md.

pub mod control;
pub mod editor;
pub mod format;
mod nice;
pub mod osc;
mod params;
pub mod state;
pub mod timeline;

use std::sync::{Arc, Mutex};

use control::{ControlShared, ControlThread};
use format::{Event, HostBuffers, MidiEvent, ParamTable, RemotePage, Transport, MAX_MIDI_OUT, NUM_KEYS, NUM_STEMS};
use mam_core::engine::{AudioProcessor, Engine, Feedback, MappedEvent};
use mam_core::mapping::ControllerInput;
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::graph::controls::{HostControl, HostControls};
use mam_core::graph::schedule::StripControl;
use mam_core::session::slots::MAX_DUCKER_SLOTS;
use mam_core::session::{load_str, save, Session, MAX_MACROS};

pub use params::MamParams;
use params::MIN_TRIM_DB;

/// The session a fresh instance starts with (see the README).
pub const DEFAULT_SESSION_JSON: &str = include_str!("default_session.json");
/// Names of the engine input ports, in the order `process` passes them.
pub const PORTS: [&str; 1 + NUM_KEYS] = ["main", "sidechain1", "sidechain2"];
/// Environment variable naming a session file to load at instantiation
/// (until the editor can import one).
pub const SESSION_ENV: &str = "MAM_SESSION";
/// Sample rate and block size the latency is estimated at before the host
/// activates the plugin (VST3 hosts may ask that early).
const ESTIMATE_RATE: f64 = 48_000.0;
const ESTIMATE_BLOCK: usize = 512;

const SLOTS: usize = mam_core::session::slots::MAX_BUS_SLOTS;
/// OSC messages applied per host block at most; more wait for the next.
const OSC_PER_BLOCK: usize = 128;

/// The initial session: `MAM_SESSION`'s file if it names a valid one, else
/// the built-in default. A bad file is reported and ignored.
fn initial_session_json() -> String {
    if let Ok(path) = std::env::var(SESSION_ENV) {
        match std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|t| load_str(&t).map_err(|e| e.to_string())) {
            Ok(loaded) => return save::to_string(&loaded.session),
            Err(e) => log!("MAM Session: ignoring {SESSION_ENV}={path}: {e}"),
        }
    }
    DEFAULT_SESSION_JSON.to_string()
}

/// The main-thread half of an instance: parameters, state, editor, latency,
/// and the control thread that compiles every session change.
pub struct MamSession {
    params: Arc<MamParams>,
    table: Arc<ParamTable>,
    /// Compiles every session change off the audio thread; owns the shared
    /// engine control half (see [`control`]).
    control: ControlThread,
    /// The latency hosts are told: estimated at creation, exact from each
    /// activation on.
    latency: u32,
    /// Whether the tests' edit script (see [`editor::EDIT_SCRIPT_ENV`]) runs.
    script_started: bool,
    /// Whether the tests' timeline script (see [`editor::timeline::SCRIPT_ENV`]) runs.
    timeline_script_started: bool,
}

impl Default for MamSession {
    fn default() -> Self {
        Self::new()
    }
}

impl MamSession {
    pub fn new() -> Self {
        let params = Arc::new(MamParams::new(initial_session_json()));
        let table = Arc::new(ParamTable::new(params.clone()));
        let control = ControlThread::spawn(ControlShared {
            params: params.clone(),
            engine: Arc::new(Mutex::new(None)),
            last_good: Arc::new(Mutex::new(DEFAULT_SESSION_JSON.to_string())),
            status: Default::default(),
            recorder: Default::default(),
            monitor: Default::default(),
            osc: Default::default(),
        });
        let mut session = Self { params, table, control, latency: 0, script_started: false, timeline_script_started: false };
        // Hosts may ask for the latency before activating (VST3 allows it):
        // answer with the session's latency at a common rate, so the first
        // activation usually confirms it rather than changing it.
        let mut estimate = session.session();
        estimate.sample_rate = ESTIMATE_RATE as u32;
        if let Ok((_, audio)) = Engine::new(estimate, compile_options(ESTIMATE_RATE, ESTIMATE_BLOCK)) {
            session.latency = audio.latency() as u32;
        }
        session
    }

    pub fn params(&self) -> &Arc<MamParams> {
        &self.params
    }

    pub fn param_table(&self) -> &Arc<ParamTable> {
        &self.table
    }

    /// Latency in samples: exact for the last activation, estimated before.
    pub fn latency(&self) -> u32 {
        self.latency
    }

    /// The persisted session. If the state holds one with errors (never the
    /// case for states this plugin wrote), the last session that ran stays,
    /// or the default one in a fresh instance, and the state is set back to it.
    fn session(&self) -> Session {
        let json = self.params.session.json();
        let last_good = &self.control.shared().last_good;
        match load_str(&json) {
            Ok(loaded) => {
                *last_good.lock().unwrap_or_else(|e| e.into_inner()) = json;
                loaded.session
            }
            Err(e) => {
                log!("MAM Session: the session in the state has errors; keeping the previous one:\n{e}");
                let good = last_good.lock().unwrap_or_else(|e| e.into_inner()).clone();
                self.params.session.replace_quietly(good.clone());
                load_str(&good).or_else(|_| load_str(DEFAULT_SESSION_JSON)).expect("the default session is valid").session
            }
        }
    }

    /// Compiles the persisted session for `sample_rate` and blocks of up to
    /// `max_block` frames and returns the audio half. Sets [`Self::latency`].
    /// Main thread.
    pub fn activate(&mut self, sample_rate: f64, max_block: usize) -> Result<MamAudio, String> {
        let max_block = max_block.max(1);
        // Held from reading the session to installing the engine, so a change
        // the control thread applies meanwhile is not lost.
        let engine_slot = self.control.shared().engine.clone();
        let mut engine_slot = engine_slot.lock().unwrap_or_else(|e| e.into_inner());
        let mut session = self.session();
        publish_scene_names(&self.params, &session);
        session.sample_rate = sample_rate as u32;
        // The stored timeline plays from the first block (docs/ARCHITECTURE.md §8.2).
        let timeline = self.params.timeline.for_engine();
        self.params.timeline.mark_handed(timeline.clone());
        let (engine, mut audio) = Engine::with_timeline(session, compile_options(sample_rate, max_block), timeline).map_err(|e| {
            log!("MAM Session: cannot compile the session: {e}");
            e.to_string()
        })?;
        self.latency = audio.latency() as u32;
        // One monitor for every activation: the editor's learn keeps its handle.
        audio.share_input_monitor(self.control.shared().monitor.clone());
        let recorder = self.control.shared().recorder.connect(engine.scene_status(), sample_rate, max_block);
        *engine_slot = Some(engine);
        if let (Ok(script), false) = (std::env::var(editor::EDIT_SCRIPT_ENV), self.script_started) {
            self.script_started = true;
            let shared = self.control.shared().clone();
            std::thread::spawn(move || editor::run_edit_script(shared, &script));
        }
        if let (Ok(script), false) = (std::env::var(editor::timeline::SCRIPT_ENV), self.timeline_script_started) {
            self.timeline_script_started = true;
            let shared = self.control.shared().clone();
            std::thread::spawn(move || editor::timeline::run_script(shared, &script));
        }
        let mut audio = MamAudio::new(audio, self.params.clone(), self.table.clone(), max_block, self.latency);
        audio.recorder = Some(recorder);
        // Fresh queues to and from the OSC server for this activation.
        let (osc_audio, osc_ports) = osc::link();
        self.control.shared().osc.set_ports(Some(osc_ports));
        audio.osc = Some(osc_audio);
        Ok(audio)
    }

    /// After the format dropped its [`MamAudio`]: the control thread stops
    /// compiling for an engine that no longer runs.
    pub fn deactivate(&mut self) {
        *self.control.shared().engine.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.control.shared().recorder.disconnect();
        self.control.shared().osc.set_ports(None);
    }

    /// The plugin state (see [`format::save_state`]).
    pub fn save_state(&self) -> Vec<u8> {
        format::save_state(&self.params, &self.table)
    }

    /// Restores a state: parameter values at once, the session through the
    /// control thread (the running session plays on until the new one is
    /// compiled; a session with errors is refused and the state set back).
    /// Never waits for the audio thread.
    pub fn load_state(&self, bytes: &[u8]) -> Result<(), String> {
        format::load_state(&self.params, &self.table, bytes)?;
        // A state saved before the timeline existed has no `timeline` field:
        // its project has no timeline, so the one this instance held goes.
        let has_timeline = serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|state| state["fields"].get("timeline").is_some());
        let held = self.params.timeline.timeline();
        if !has_timeline && (held.num_events() > 0 || !held.markers.is_empty()) {
            self.params.timeline.replace(mam_core::timeline::Timeline::empty(held.sample_rate));
        }
        Ok(())
    }

    /// What the control thread shares (tests: its counters).
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &ControlShared {
        self.control.shared()
    }

    /// The editor (egui), for the format's GUI extension or view.
    pub fn editor(&self) -> Option<nice_plug_egui::EguiEditor<editor::MamEditor>> {
        editor::create(self.control.shared().clone(), self.params.editor_state.clone())
    }

    /// Remote-control pages for Bitwig and other CLAP hosts: the sixteen bus
    /// faders on two pages, then pans, mutes and solos of slots 1–8; the
    /// master; scenes (selector, morph A/B and position); the eight macros;
    /// the four ducker slots' depth and mix.
    pub fn remote_control_pages() -> Vec<RemotePage> {
        fn page(section: &'static str, name: &str, ids: &[String]) -> RemotePage {
            let mut params = [None; 8];
            for (slot, id) in params.iter_mut().zip(ids) {
                *slot = Some(format::param_hash(id));
            }
            RemotePage { section, name: name.to_string(), params }
        }
        let bus = |field: &str, first: usize| (first..first + 8).map(|n| format!("bus{n}_{field}")).collect::<Vec<_>>();
        vec![
            page("Buses", "Faders 1-8", &bus("gain", 1)),
            page("Buses", "Faders 9-16", &bus("gain", 9)),
            page("Buses", "Pans 1-8", &bus("pan", 1)),
            page("Buses", "Mutes 1-8", &bus("mute", 1)),
            page("Buses", "Solos 1-8", &bus("solo", 1)),
            page("Master", "Master", &["master_gain".to_string()]),
            page("Scenes", "Scenes", &["scene", "scene_morph_a", "scene_morph_b", "scene_morph", "scene_hold"].map(String::from)),
            page("Macros", "Macros", &(1..=MAX_MACROS).map(|n| format!("macro{n}")).collect::<Vec<_>>()),
            page("Duckers", "Duckers", &(1..=MAX_DUCKER_SLOTS).flat_map(|n| [format!("duck{n}_depth"), format!("duck{n}_mix")]).collect::<Vec<_>>()),
        ]
    }
}

fn compile_options(sample_rate: f64, max_block: usize) -> CompileOptions {
    CompileOptions { sample_rate: sample_rate as f32, max_block, ports: PORTS.iter().map(|p| PortBinding::host_port(*p)).collect() }
}

/// The audio-thread half of an instance, created by [`MamSession::activate`].
pub struct MamAudio {
    audio: AudioProcessor,
    params: Arc<MamParams>,
    table: Arc<ParamTable>,
    max_block: usize,
    /// Copies of the host's inputs, `[port][channel][frame]` (main, keys),
    /// because a host may hand the same memory for input and output.
    inputs: [[Vec<f32>; 2]; 1 + NUM_KEYS],
    /// Where a main output channel the host did not pass is written.
    discard: [Vec<f32>; 2],
    /// Last (trim dB, pan, mute, solo) sent per slot (0 = master), so only
    /// changes reach the engine.
    sent: [(f32, f32, bool, bool); SLOTS + 1],
    /// Scene, morph, macro and ducker values last sent (`None`: send all).
    sent_controls: Option<HostControls>,
    /// The `scene_hold` value last acted on (0 = nothing held).
    sent_hold: usize,
    /// MIDI of the last block, sorted by time (capacity [`MAX_MIDI_OUT`]).
    midi_out: Vec<MidiEvent>,
    midi_dropped: u64,
    /// Latency at activation or last told to the format.
    reported_latency: u32,
    /// Records the strip's scene pads (see [`timeline::AudioRecorder`]).
    recorder: Option<timeline::AudioRecorder>,
    /// `timeline_record`'s id hash, for a mapped `record` action.
    record_hash: u32,
    /// Messages from the OSC server and feedback to it (see [`osc`]).
    osc: Option<osc::OscAudio>,
    /// A parameter the plugin changed itself (a mapped `record` action):
    /// `(id hash, normalized, plain)`, for the format to tell the host.
    param_output: Option<(u32, f32, f32)>,
}

impl MamAudio {
    fn new(audio: AudioProcessor, params: Arc<MamParams>, table: Arc<ParamTable>, max_block: usize, latency: u32) -> Self {
        let buffer = || vec![0.0; max_block];
        Self {
            audio,
            params,
            table,
            max_block,
            inputs: std::array::from_fn(|_| [buffer(), buffer()]),
            discard: [buffer(), buffer()],
            sent: [(f32::NAN, f32::NAN, false, false); SLOTS + 1],
            sent_controls: None,
            sent_hold: 0,
            midi_out: Vec::with_capacity(MAX_MIDI_OUT),
            midi_dropped: 0,
            reported_latency: latency,
            recorder: None,
            record_hash: format::param_hash("timeline_record"),
            osc: None,
            param_output: None,
        }
    }

    /// Transport jumps and the like: clear tails, lookahead and PDC delays.
    pub fn reset(&mut self) {
        self.audio.reset();
    }

    /// MIDI the last [`Self::process`] produced, sorted by time. Today the
    /// plugin passes its MIDI input through unchanged (same bytes, same
    /// sample), as a DAW user expects of an effect that does not use MIDI yet.
    pub fn midi_out(&self) -> &[MidiEvent] {
        &self.midi_out
    }

    /// The parameter the plugin changed itself since the last call, if any
    /// (a mapped `record` action arming or disarming the recorder): `(id
    /// hash, normalized, plain)`. The format sends it to the host as an
    /// output parameter change at the end of the host's block.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn take_param_output(&mut self) -> Option<(u32, f32, f32)> {
        self.param_output.take()
    }

    /// MIDI events dropped because a block carried more than [`MAX_MIDI_OUT`].
    pub fn midi_dropped(&self) -> u64 {
        self.midi_dropped
    }

    /// `Some(latency)` once when a session change gave the running schedule
    /// another latency than the host knows: the format asks the host to
    /// restart (re-activate), which reads it again.
    pub fn take_latency_change(&mut self) -> Option<u32> {
        let latency = self.audio.latency() as u32;
        (latency != self.reported_latency).then(|| {
            self.reported_latency = latency;
            latency
        })
    }

    /// Processes one host block: events apply at their sample (the block is
    /// split there), then the engine runs in chunks of up to the activation's
    /// block size. Audio thread: no allocation, no locks.
    ///
    /// # Safety
    /// Every non-null pointer in `buffers` must be valid for `buffers.frames`
    /// samples (reads for inputs, writes for outputs) for the whole call.
    /// Inputs may alias outputs, and outputs each other: an output channel
    /// whose memory overlaps an earlier one (main output first, then stems
    /// in order) is not written, since hosts may hand one scratch buffer to
    /// every output they ignore.
    pub unsafe fn process(&mut self, buffers: &HostBuffers, events: &[Event], transport: &Transport) {
        let buffers = &distinct_outputs(buffers);
        // Telemetry times the host's whole block against its deadline, however it is split.
        self.audio.begin_block(buffers.frames);
        self.midi_out.clear();
        // The transport at this call's first sample: tempo-synced inserts
        // follow it and quantized scene recalls are placed from it.
        self.audio.set_transport(transport);
        let frames = buffers.frames;
        if let Some(recorder) = self.recorder.as_mut() {
            // Scene pads start (quantized by the engine) and are stamped on
            // the sample they start; the host's own parameter events follow.
            let mode = self.params.timeline_record.value().clamp(0, 2) as u8;
            recorder.begin_block(&mut self.audio, transport, frames, mode);
        }
        // OSC messages that came in since the last block apply at its start
        // (at most OSC_PER_BLOCK: a flood waits rather than overrun a block).
        if let Some(osc) = self.osc.as_mut() {
            let audio = &mut self.audio;
            osc.drain_up_to(OSC_PER_BLOCK, &mut |hash, value| {
                audio.controller(ControllerInput::Osc { hash, value });
            });
        }
        let mut next_event = 0;
        let mut start = 0;
        while start < frames {
            // Everything due at or before this sample applies first.
            while let Some(event) = events.get(next_event).filter(|e| e.time() as usize <= start) {
                self.apply(event);
                next_event += 1;
            }
            let until = events.get(next_event).map_or(frames, |e| (e.time() as usize).min(frames));
            let len = (until - start).min(self.max_block);
            self.sync_params();
            // A new schedule is taken here rather than inside the engine's
            // process (the same place): the recorder learns the sample.
            if self.audio.poll_schedule() {
                if let (Some(recorder), Some(position)) = (self.recorder.as_ref(), transport.position_samples) {
                    recorder.adopted(if transport.playing { position + start as i64 } else { position });
                }
            }
            // SAFETY: the caller's contract, for [start, start + len).
            unsafe { self.run_chunk(buffers, start, len) };
            start += len;
        }
        // Events at or past the block's end (and all of them in a block of
        // no frames, a parameter flush) still apply.
        for event in &events[next_event..] {
            self.apply(event);
        }
        if frames == 0 {
            self.sync_params();
        }
        self.after_block(transport, frames);
        self.audio.end_block(frames);
    }

    /// What controller mappings did in the block: record and play actions,
    /// mapped moves into the recorder, and feedback to the controller (at
    /// the block's last sample, after everything passed through).
    /// Runs on the audio thread: no allocation, no locks.
    fn after_block(&mut self, transport: &Transport, frames: usize) {
        for m in self.audio.mapped_moves() {
            match m.event {
                MappedEvent::Record => {
                    // Off ↔ Record, as the strip's button arms it.
                    if let Some(entry) = self.table.by_hash(self.record_hash) {
                        let armed = self.params.timeline_record.value() != 0;
                        let normalized = if armed { 0.0 } else { 0.5 };
                        entry.set_normalized(normalized);
                        // The host keeps its own copy of the value: it is told
                        // (`take_param_output`), else it could send the old one back.
                        self.param_output = Some((entry.hash, normalized, entry.plain(normalized)));
                    }
                }
                MappedEvent::Play => {
                    if let Some(recorder) = self.recorder.as_ref() {
                        recorder.toggle_play();
                    }
                }
                _ => {}
            }
        }
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.record_mapped(&self.audio, transport);
        }
        let time = frames.saturating_sub(1) as u32;
        let (midi_out, dropped, osc) = (&mut self.midi_out, &mut self.midi_dropped, &mut self.osc);
        self.audio.feedback(&mut |feedback| match feedback {
            Feedback::Midi(data) => {
                if midi_out.len() < MAX_MIDI_OUT {
                    midi_out.push(MidiEvent { time, data });
                } else {
                    *dropped += 1;
                }
            }
            Feedback::Osc { hash, value } => {
                if let Some(osc) = osc.as_mut() {
                    osc.send(hash, value);
                }
            }
        });
    }

    fn apply(&mut self, event: &Event) {
        match *event {
            Event::Param { hash, normalized, .. } => {
                if let Some(entry) = self.table.by_hash(hash) {
                    entry.set_normalized(normalized);
                }
            }
            Event::Midi(midi) => {
                // A message a mapping takes is the controller's, not the
                // next plugin's; anything else passes through on its sample.
                if self.audio.controller(ControllerInput::Midi(midi.data)) {
                    return;
                }
                if self.midi_out.len() < MAX_MIDI_OUT {
                    self.midi_out.push(midi);
                } else {
                    self.midi_dropped += 1;
                }
            }
        }
    }

    /// # Safety
    /// See [`Self::process`]; `start + len <= buffers.frames`, `len <= max_block`.
    unsafe fn run_chunk(&mut self, buffers: &HostBuffers, start: usize, len: usize) {
        let host_inputs: [[*const f32; 2]; 1 + NUM_KEYS] = [buffers.main_in, buffers.keys[0], buffers.keys[1]];
        for (copy, host) in self.inputs.iter_mut().zip(host_inputs) {
            for (channel, ptr) in copy.iter_mut().zip(host) {
                if ptr.is_null() {
                    channel[..len].fill(0.0);
                } else {
                    // SAFETY: valid for `frames` reads (caller); copied before any write.
                    channel[..len].copy_from_slice(unsafe { std::slice::from_raw_parts(ptr.add(start), len) });
                }
            }
        }
        // A key port the host did not pass at all is no key (the ducker shows
        // "no key"); the main input is always two channels.
        let width = |port: [*const f32; 2]| if port.iter().all(|p| p.is_null()) { 0 } else { 2 };
        let [main, key1, key2] = &self.inputs;
        let main: [&[f32]; 2] = [&main[0][..len], &main[1][..len]];
        let key1: [&[f32]; 2] = [&key1[0][..len], &key1[1][..len]];
        let key2: [&[f32]; 2] = [&key2[0][..len], &key2[1][..len]];
        let inputs: [&[&[f32]]; 1 + NUM_KEYS] = [&main, &key1[..width(buffers.keys[0])], &key2[..width(buffers.keys[1])]];
        let [discard_l, discard_r] = &mut self.discard;
        let mut discard = [discard_l.as_mut_slice(), discard_r.as_mut_slice()].into_iter();
        let mut out: [&mut [f32]; 2] = [&mut [], &mut []];
        for (slot, ptr) in out.iter_mut().zip(buffers.main_out) {
            let spare = discard.next().expect("two spare channels");
            *slot = if ptr.is_null() {
                &mut spare[..len]
            } else {
                // SAFETY: valid for `frames` writes, no overlap (caller).
                unsafe { std::slice::from_raw_parts_mut(ptr.add(start), len) }
            };
        }
        let mut stem_channels: [[&mut [f32]; 2]; NUM_STEMS] = std::array::from_fn(|_| [&mut [][..], &mut [][..]]);
        let mut widths = [0usize; NUM_STEMS];
        for (k, port) in buffers.stems.iter().enumerate() {
            // A stem is written only when the host passed both channels; a
            // lone channel gets silence rather than whatever it held.
            if port.iter().any(|p| p.is_null()) {
                for ptr in port.iter().filter(|p| !p.is_null()) {
                    // SAFETY: as for the main output.
                    unsafe { std::slice::from_raw_parts_mut(ptr.add(start), len) }.fill(0.0);
                }
            } else {
                for (c, ptr) in port.iter().enumerate() {
                    // SAFETY: as for the main output.
                    stem_channels[k][c] = unsafe { std::slice::from_raw_parts_mut(ptr.add(start), len) };
                }
                widths[k] = 2;
            }
        }
        let mut stems: [&mut [&mut [f32]]; NUM_STEMS] = std::array::from_fn(|_| &mut [][..]);
        for (k, (stem, channels)) in stems.iter_mut().zip(stem_channels.iter_mut()).enumerate() {
            *stem = &mut channels[..widths[k]];
        }
        self.audio.process_with_stems(&inputs, &mut out, &mut stems, len);
    }

    /// The host's scene, morph, macro and ducker parameters as engine controls.
    fn host_controls(&self) -> HostControls {
        let p = &self.params;
        HostControls {
            scene: p.scene.value().max(0) as usize,
            morph_a: p.scene_morph_a.value().max(0) as usize,
            morph_b: p.scene_morph_b.value().max(0) as usize,
            morph: p.scene_morph.value(),
            macros: std::array::from_fn(|i| p.macro_param(i + 1).value()),
            ducker_depth_db: std::array::from_fn(|i| p.ducker(i + 1).depth.value()),
            ducker_mix: std::array::from_fn(|i| p.ducker(i + 1).mix.value()),
        }
    }

    /// Sends every host parameter that changed since the last call.
    /// Runs on the audio thread: no allocation, no locks.
    fn sync_params(&mut self) {
        let audio = &mut self.audio;
        for slot in 0..=SLOTS {
            let (trim, pan, mute, solo) = if slot == 0 {
                (self.params.master_gain.value(), 0.0, false, false)
            } else {
                let p = self.params.slot(slot);
                (p.gain.value(), p.pan.value(), p.mute.value(), p.solo.value())
            };
            let last = self.sent[slot];
            if trim != last.0 {
                audio.set_strip(slot, StripControl::TrimDb(if trim <= MIN_TRIM_DB { -144.0 } else { trim }));
            }
            if pan != last.1 {
                audio.set_strip(slot, StripControl::Pan(pan));
            }
            if mute != last.2 {
                audio.set_strip(slot, StripControl::Mute(mute));
            }
            if solo != last.3 {
                audio.set_strip(slot, StripControl::Solo(solo));
            }
            self.sent[slot] = (trim, pan, mute, solo);
        }
        let now = self.host_controls();
        let audio = &mut self.audio;
        let last = self.sent_controls;
        let changed = |f: &dyn Fn(&HostControls) -> bool| last.as_ref().is_none_or(f);
        // Morph end points before the scene, so a recall sees them.
        if changed(&|l| l.morph_a != now.morph_a) {
            audio.set_control(HostControl::MorphA(now.morph_a));
        }
        if changed(&|l| l.morph_b != now.morph_b) {
            audio.set_control(HostControl::MorphB(now.morph_b));
        }
        if changed(&|l| l.morph != now.morph) {
            audio.set_control(HostControl::Morph(now.morph));
        }
        for i in 0..MAX_MACROS {
            if changed(&|l| l.macros[i] != now.macros[i]) {
                audio.set_control(HostControl::Macro(i, now.macros[i]));
            }
        }
        for i in 0..MAX_DUCKER_SLOTS {
            if changed(&|l| l.ducker_depth_db[i] != now.ducker_depth_db[i]) {
                audio.set_control(HostControl::DuckerDepthDb(i, now.ducker_depth_db[i]));
            }
            if changed(&|l| l.ducker_mix[i] != now.ducker_mix[i]) {
                audio.set_control(HostControl::DuckerMix(i, now.ducker_mix[i]));
            }
        }
        if changed(&|l| l.scene != now.scene) {
            audio.set_control(HostControl::Scene(now.scene));
        }
        self.sent_controls = Some(now);
        // A held scene: N pushes scene N, back to 0 pops to the mix before
        // the push; N → M pops N, then pushes M (quantized like a recall).
        let hold = self.params.scene_hold.value().max(0) as usize;
        if hold != self.sent_hold {
            if self.sent_hold != 0 {
                self.audio.set_control(HostControl::Pop);
            }
            if hold != 0 {
                self.audio.set_control(HostControl::Push(hold));
            }
            self.sent_hold = hold;
        }
    }
}

/// `buffers` with every output channel whose memory overlaps an earlier
/// output channel's (main L, main R, then each stem's L and R) set to null,
/// so no two `&mut` slices of the host's memory can coexist.
/// Audio thread: a fixed 18 × 18 comparison, no allocation.
fn distinct_outputs(buffers: &HostBuffers) -> HostBuffers {
    let mut out = *buffers;
    let bytes = buffers.frames.max(1) * std::mem::size_of::<f32>();
    let overlaps = |a: *mut f32, b: *mut f32| {
        let (a, b) = (a as usize, b as usize);
        a < b.saturating_add(bytes) && b < a.saturating_add(bytes)
    };
    let mut kept: [*mut f32; 2 + 2 * NUM_STEMS] = [std::ptr::null_mut(); 2 + 2 * NUM_STEMS];
    let mut count = 0;
    let channels = out.main_out.iter_mut().chain(out.stems.iter_mut().flatten());
    for ptr in channels {
        if ptr.is_null() {
            continue;
        }
        if kept[..count].iter().any(|&k| overlaps(k, *ptr)) {
            *ptr = std::ptr::null_mut();
        } else {
            kept[count] = *ptr;
            count += 1;
        }
    }
    out
}

/// Publishes the running session's scene names for the scene parameters' text.
pub(crate) fn publish_scene_names(params: &MamParams, session: &Session) {
    if let Ok(mut names) = params.scene_names.write() {
        *names = session.scenes.iter().map(|s| s.name.clone()).collect();
    }
}

#[cfg(test)]
mod tests {
    //! The audio half against host buffers as formats pass them: pointers
    //! that alias, ports left out, events inside a block.
    use super::*;
    use format::HostBuffers;

    /// Main input to bus "a", Sidechain 2 to bus "b", both to the master:
    /// no inserts, unity levels, so the output is main + Sidechain 2.
    const SUM: &str = r#"{ "version": 1, "sampleRate": 48000, "channels": 2, "panLaw": "balance",
        "racks": [ { "id": "m", "input": "main" }, { "id": "k2", "input": "sidechain2" } ],
        "buses": [ { "id": "a", "route": "master" }, { "id": "b", "route": "master" }, { "id": "master" } ],
        "routes": [ { "from": "m", "to": "a" }, { "from": "k2", "to": "b" } ] }"#;

    fn audio(session: &str, max_block: usize) -> MamAudio {
        let params = Arc::new(MamParams::new(session.to_string()));
        let table = Arc::new(ParamTable::new(params.clone()));
        let session = load_str(session).expect("test session loads").session;
        let (_engine, audio) = Engine::new(session, compile_options(48_000.0, max_block)).expect("compiles");
        let latency = audio.latency() as u32;
        MamAudio::new(audio, params, table, max_block, latency)
    }

    /// A deterministic test signal, different per seed.
    fn signal(seed: u32, frames: usize) -> Vec<f32> {
        (0..frames).map(|i| (((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503)) >> 8) as f32 / 16_777_216.0 - 0.5) * 0.5).collect()
    }

    fn run(audio: &mut MamAudio, main: &[Vec<f32>; 2], key2: Option<&[Vec<f32>; 2]>, events: &[Event]) -> [Vec<f32>; 2] {
        let frames = main[0].len();
        let mut out = [vec![0.0; frames], vec![0.0; frames]];
        let mut buffers = HostBuffers::empty(frames);
        buffers.main_in = [main[0].as_ptr(), main[1].as_ptr()];
        if let Some(key) = key2 {
            buffers.keys[1] = [key[0].as_ptr(), key[1].as_ptr()];
        }
        buffers.main_out = [out[0].as_mut_ptr(), out[1].as_mut_ptr()];
        // SAFETY: every pointer is valid for `frames` samples; outputs are distinct.
        unsafe { audio.process(&buffers, events, &Transport::default()) };
        out
    }

    #[test]
    fn output_is_the_sum_the_session_routes_and_missing_ports_are_silence() {
        let main = [signal(1, 512), signal(2, 512)];
        let key = [signal(3, 512), signal(4, 512)];
        let mut with_key = audio(SUM, 128);
        let out = run(&mut with_key, &main, Some(&key), &[]);
        for c in 0..2 {
            for i in 0..512 {
                assert!((out[c][i] - (main[c][i] + key[c][i])).abs() < 1e-6, "channel {c} frame {i}");
            }
        }
        // Sidechain 2 not passed: the output is the main input alone.
        let mut without = audio(SUM, 128);
        let out = run(&mut without, &main, None, &[]);
        assert_eq!(out, main);
        // No main input and no output channel 1 passed: silence out, nothing written past channel 0.
        let mut bare = audio(SUM, 128);
        let mut left = vec![1.0f32; 512];
        let mut buffers = HostBuffers::empty(512);
        buffers.main_out[0] = left.as_mut_ptr();
        // SAFETY: the one output pointer is valid for 512 samples.
        unsafe { bare.process(&buffers, &[], &Transport::default()) };
        assert!(left.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn inputs_may_alias_outputs() {
        let main = [signal(5, 300), signal(6, 300)];
        let expected = run(&mut audio(SUM, 64), &main, None, &[]);
        // In place: the host's input memory is also the output.
        let mut io = main.clone();
        let mut buffers = HostBuffers::empty(300);
        buffers.main_in = [io[0].as_ptr(), io[1].as_ptr()];
        buffers.main_out = [io[0].as_mut_ptr(), io[1].as_mut_ptr()];
        // SAFETY: valid for 300 samples; the two outputs are distinct.
        unsafe { audio(SUM, 64).process(&buffers, &[], &Transport::default()) };
        assert_eq!(io, expected);
    }

    #[test]
    fn a_parameter_event_applies_at_its_sample() {
        let main = [signal(7, 512), signal(8, 512)];
        let reference = run(&mut audio(SUM, 128), &main, None, &[]);
        let mut moved = audio(SUM, 128);
        let master = moved.table.by_id("master_gain").expect("master_gain").hash;
        let silence = moved.table.by_id("master_gain").unwrap().normalized_of(MIN_TRIM_DB);
        let out = run(&mut moved, &main, None, &[Event::Param { time: 200, hash: master, normalized: silence }]);
        let first_change = (0..512).find(|&i| out[0][i] != reference[0][i]);
        assert_eq!(first_change, Some(200), "the trim starts moving on the event's sample, not at a chunk edge");
    }

    #[test]
    fn outputs_sharing_memory_are_written_once() {
        let main = [signal(11, 256), signal(12, 256)];
        let expected = run(&mut audio(SUM, 64), &main, None, &[]);
        // A host handing one scratch buffer to both stems 1 and 2 and the
        // main right channel to stem 3's left: only the first user writes.
        let mut out = [vec![0.0f32; 256], vec![0.0f32; 256]];
        let mut scratch = vec![7.0f32; 256];
        let mut lone = vec![7.0f32; 256];
        let mut buffers = HostBuffers::empty(256);
        buffers.main_in = [main[0].as_ptr(), main[1].as_ptr()];
        buffers.main_out = [out[0].as_mut_ptr(), out[1].as_mut_ptr()];
        buffers.stems[0] = [scratch.as_mut_ptr(), scratch.as_mut_ptr()];
        buffers.stems[1] = [scratch.as_mut_ptr(), scratch.as_mut_ptr()];
        buffers.stems[2] = [out[1].as_mut_ptr(), lone.as_mut_ptr()];
        // SAFETY: every pointer is valid for 256 samples; overlaps are the point.
        unsafe { audio(SUM, 64).process(&buffers, &[], &Transport::default()) };
        assert_eq!(out, expected, "the main output is untouched by the stems sharing its memory");
        // Stem 1 got the scratch buffer's left channel; its right (the same
        // memory) and stem 2 were dropped, so stem 1 is a lone channel: silence.
        assert!(scratch.iter().all(|&s| s == 0.0));
        // Stem 3 kept only its right channel: a lone channel, silenced.
        assert!(lone.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn midi_passes_through_at_its_sample() {
        let main = [signal(9, 512), signal(10, 512)];
        let mut audio = audio(SUM, 128);
        let note = MidiEvent { time: 200, data: [0x90, 60, 100] };
        let cc = MidiEvent { time: 200, data: [0xB0, 7, 64] };
        let late = MidiEvent { time: 511, data: [0x80, 60, 0] };
        run(&mut audio, &main, None, &[Event::Midi(note), Event::Midi(cc), Event::Midi(late)]);
        assert_eq!(audio.midi_out(), &[note, cc, late]);
        run(&mut audio, &main, None, &[]);
        assert!(audio.midi_out().is_empty(), "each block starts empty");
    }

    /// SUM with a fader on CC 7 (channel 1, −60 … 0 dB on bus "a", no
    /// smoothing) and a scene that puts "a" at −6 dB.
    const MAPPED: &str = r#"{ "version": 1, "sampleRate": 48000, "channels": 2, "panLaw": "balance",
        "racks": [ { "id": "m", "input": "main" }, { "id": "k2", "input": "sidechain2" } ],
        "buses": [ { "id": "a", "route": "master" }, { "id": "b", "route": "master" }, { "id": "master" } ],
        "routes": [ { "from": "m", "to": "a" }, { "from": "k2", "to": "b" } ],
        "scenes": [ { "name": "down", "values": { "a.gainDb": -6 } } ],
        "mappings": [ { "input": { "type": "cc", "channel": 1, "cc": 7 },
                        "transform": { "min": -60, "max": 0, "smoothMs": 0 }, "target": { "path": "a.gainDb" } } ] }"#;

    #[test]
    fn a_mapped_cc_moves_its_fader_from_its_sample_and_is_not_passed_through() {
        let main = [signal(13, 512), signal(14, 512)];
        let reference = run(&mut audio(MAPPED, 128), &main, None, &[]);
        let mut mapped = audio(MAPPED, 128);
        // CC 7 = 0 → −60 dB from sample 200 (the strip's 10 ms declick follows).
        let cc = MidiEvent { time: 200, data: [0xB0, 7, 0] };
        let out = run(&mut mapped, &main, None, &[Event::Midi(cc)]);
        assert_eq!((0..512).find(|&i| out[0][i] != reference[0][i]), Some(200));
        assert!(mapped.midi_out().is_empty(), "a mapped message is taken, and the controller's own move is not echoed");
        // Unmapped MIDI still passes.
        let other = MidiEvent { time: 5, data: [0xB0, 8, 1] };
        run(&mut mapped, &main, None, &[Event::Midi(other)]);
        assert_eq!(mapped.midi_out(), &[other]);
    }

    #[test]
    fn a_scene_recall_sends_the_mapped_fader_to_the_controller() {
        let main = [signal(15, 256), signal(16, 256)];
        let mut mapped = audio(MAPPED, 256);
        // First block: the controller learns where the fader stands (0 dB = CC 127).
        run(&mut mapped, &main, None, &[]);
        assert_eq!(mapped.midi_out(), &[MidiEvent { time: 255, data: [0xB0, 7, 127] }]);
        run(&mut mapped, &main, None, &[]);
        assert!(mapped.midi_out().is_empty(), "nothing moved, nothing sent");
        // The host recalls scene 1 at sample 10: an instant recall's 10 ms
        // (480-sample) declick in 32-sample steps. At the block's end the
        // step under way ends 256 samples in: −6 · 256/480 = −3.2 dB →
        // (−3.2 + 60) / 60 · 127 = 120.2 → CC 120; the fader follows.
        let scene = mapped.table.by_id("scene").expect("scene").hash;
        let one = mapped.table.by_id("scene").unwrap().normalized_of(1.0);
        run(&mut mapped, &main, None, &[Event::Param { time: 10, hash: scene, normalized: one }]);
        assert_eq!(mapped.midi_out(), &[MidiEvent { time: 255, data: [0xB0, 7, 120] }]);
        // Landed: −6 dB → (−6 + 60) / 60 · 127 = 114.3 → 114.
        run(&mut mapped, &main, None, &[]);
        assert_eq!(mapped.midi_out(), &[MidiEvent { time: 255, data: [0xB0, 7, 114] }]);
    }
}
