//! MAM Session as a CLAP and VST3 plugin: nice-plug glue around `mam_core`.
//!
//! Ports: main stereo in/out plus stereo keys, laid out per format around
//! nice-plug 0.4.2's VST3 defects: the CLAP plugin has two stereo aux inputs,
//! "Sidechain 1" and "Sidechain 2"; the VST3 plugin has only "Sidechain 1",
//! because its wrapper reads no aux input after the first next to a single
//! output bus (docs/ARCHITECTURE.md §2), and its `setBusArrangements` compares every aux
//! bus against the main input's channel count, so one four-channel aux bus
//! carrying both keys would be refused to any host that confirms the layout.
//! The CLAP plugin offers a second layout (through CLAP's audio-ports-config)
//! that adds eight stereo stem outputs, "Bus 1"…"Bus 8", for bus slots 1–8;
//! the VST3 plugin has none, because nice-plug 0.4.2's VST3 wrapper skips the
//! whole block (main output included) when a host leaves an aux output
//! unconnected, and its aux-output bound reads past the host's bus array.
//! Every declared port is proven at host level in `tests/`. The session runs in a
//! `mam_core` engine; host parameters (`bus{n}_gain`, `bus{n}_pan`,
//! `bus{n}_mute`, `bus{n}_solo`, `master_gain`, `duck{n}_depth`, `duck{n}_mix`,
//! `scene`, `scene_morph_a`, `scene_morph_b`, `scene_morph`, `macro{n}`) reach
//! it at the sample they change on; the session itself (with its scenes and
//! macro mappings) is persisted as JSON in the state.
//!
//! Every session change — an editor edit, or a state the host restores while
//! the plugin runs (nice-plug does not re-activate for it) — goes the same
//! way: posted to the mailbox in [`state::SessionState`], compiled by the
//! plugin's control thread ([`control`]), queued, and swapped in by the audio
//! thread between blocks, which never waits for any of it. When the new
//! schedule's latency differs the plugin reports it (nice-plug then asks the
//! host to restart, as CLAP and VST3 require for a latency change). See
//! docs/ARCHITECTURE.md.

pub mod control;
pub mod editor;
mod params;
pub mod state;

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use control::{ControlShared, ControlThread};
use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::CompileOptions;
use mam_core::graph::controls::{HostControl, HostControls};
use mam_core::graph::schedule::StripControl;
use mam_core::session::slots::MAX_DUCKER_SLOTS;
use mam_core::session::{load_str, save, Session, MAX_MACROS};
use nice_plug::prelude::*;

pub use params::MamParams;
use params::MIN_TRIM_DB;

/// The session a fresh instance starts with (see the README).
pub const DEFAULT_SESSION_JSON: &str = include_str!("default_session.json");
/// Names of the engine input ports, in the order `process` passes them.
pub const PORTS: [&str; 3] = ["main", "sidechain1", "sidechain2"];
/// Stereo keys the plugin takes.
pub const NUM_KEYS: usize = 2;

/// What differs between the CLAP and the VST3 plugin: the port layout.
pub trait Format: Send + Sync + 'static {
    const LAYOUTS: &'static [AudioIOLayout];
    /// Stereo keys carried by each aux input port, in order.
    const KEYS_PER_AUX: usize;
}

/// CLAP: one stereo aux input per key.
pub struct ClapFormat;
/// VST3: one stereo aux input, key 1 only (see the module docs for why).
pub struct Vst3Format;

// Main port names are left to nice-plug's defaults ("Input", "Output"): in
// 0.4.2 `main_output_name()` reads `names.main_input`, so naming the input
// would name the output the same.
/// Stereo stem outputs in the CLAP stem layout: bus slots 1…8.
pub const NUM_STEMS: usize = 8;
const STEREO: NonZeroU32 = new_nonzero_u32(2);

impl Format for ClapFormat {
    /// The plain layout first (hosts without the audio-ports-config
    /// extension use it), then the same plus eight stereo stems, one per bus
    /// slot, post-fader and aligned with the main output.
    const LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[STEREO, STEREO],
            aux_output_ports: &[],
            names: PortNames { layout: Some("Stereo + 2 sidechains"), main_input: None, main_output: None, aux_inputs: &["Sidechain 1", "Sidechain 2"], aux_outputs: &[] },
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[STEREO, STEREO],
            aux_output_ports: &[STEREO; NUM_STEMS],
            names: PortNames {
                layout: Some("Stereo + 2 sidechains + 8 bus stems"),
                main_input: None,
                main_output: None,
                aux_inputs: &["Sidechain 1", "Sidechain 2"],
                aux_outputs: &["Bus 1", "Bus 2", "Bus 3", "Bus 4", "Bus 5", "Bus 6", "Bus 7", "Bus 8"],
            },
        },
    ];
    const KEYS_PER_AUX: usize = 1;
}

impl Format for Vst3Format {
    const LAYOUTS: &'static [AudioIOLayout] = &[AudioIOLayout {
        main_input_channels: NonZeroU32::new(2),
        main_output_channels: NonZeroU32::new(2),
        aux_input_ports: &[new_nonzero_u32(2)],
        aux_output_ports: &[],
        names: PortNames { layout: Some("Stereo + sidechain"), main_input: None, main_output: None, aux_inputs: &["Sidechain 1"], aux_outputs: &[] },
    }];
    const KEYS_PER_AUX: usize = 1;
}

pub type MamSessionClap = MamSession<ClapFormat>;
pub type MamSessionVst3 = MamSession<Vst3Format>;
/// Environment variable naming a session file to load at instantiation
/// (until the editor can import one).
pub const SESSION_ENV: &str = "MAM_SESSION";

const SLOTS: usize = mam_core::session::slots::MAX_BUS_SLOTS;

pub struct MamSession<F: Format> {
    params: Arc<MamParams>,
    /// Compiles every session change off the audio thread; owns the shared
    /// engine control half (see [`control`]).
    control: ControlThread,
    /// Latency last reported to the host.
    reported_latency: u32,
    /// Whether the tests' edit script (see [`editor::EDIT_SCRIPT_ENV`]) runs.
    script_started: bool,
    /// Audio side (audio thread: process).
    audio: Option<AudioProcessor>,
    /// Copy of the main input, `[channel][frame]`, sized in `activate`,
    /// because the host's buffer is also where the output goes.
    main_in: Vec<Vec<f32>>,
    /// Last (trim dB, pan, mute, solo) sent per slot (0 = master), so only
    /// changes reach the engine.
    sent: [(f32, f32, bool, bool); SLOTS + 1],
    /// Scene, morph, macro and ducker values last sent (`None`: send all).
    sent_controls: Option<HostControls>,
    _format: PhantomData<F>,
}

/// The initial session: `MAM_SESSION`'s file if it names a valid one, else
/// the built-in default. A bad file is reported and ignored.
fn initial_session_json() -> String {
    if let Ok(path) = std::env::var(SESSION_ENV) {
        match std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|t| load_str(&t).map_err(|e| e.to_string())) {
            Ok(loaded) => return save::to_string(&loaded.session),
            Err(e) => nice_log!("MAM Session: ignoring {SESSION_ENV}={path}: {e}"),
        }
    }
    DEFAULT_SESSION_JSON.to_string()
}

impl<F: Format> Default for MamSession<F> {
    fn default() -> Self {
        let params = Arc::new(MamParams::new(initial_session_json()));
        let control = ControlThread::spawn(ControlShared {
            params: params.clone(),
            engine: Arc::new(Mutex::new(None)),
            last_good: Arc::new(Mutex::new(DEFAULT_SESSION_JSON.to_string())),
            status: Default::default(),
        });
        Self {
            params,
            control,
            reported_latency: 0,
            script_started: false,
            audio: None,
            main_in: Vec::new(),
            sent: [(f32::NAN, f32::NAN, false, false); SLOTS + 1],
            sent_controls: None,
            _format: PhantomData,
        }
    }
}

impl<F: Format> MamSession<F> {
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
                nice_log!("MAM Session: the session in the state has errors; keeping the previous one:\n{e}");
                let good = last_good.lock().unwrap_or_else(|e| e.into_inner()).clone();
                self.params.session.replace_quietly(good.clone());
                load_str(&good).or_else(|_| load_str(DEFAULT_SESSION_JSON)).expect("the default session is valid").session
            }
        }
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
    fn sync_params(&mut self, audio: &mut AudioProcessor) {
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
        let last = self.sent_controls;
        let changed = |f: &dyn Fn(&HostControls) -> bool| last.as_ref().is_none_or(|l| f(l));
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
    }
}

/// Publishes the running session's scene names for the scene parameters' text.
pub(crate) fn publish_scene_names(params: &MamParams, session: &Session) {
    if let Ok(mut names) = params.scene_names.write() {
        *names = session.scenes.iter().map(|s| s.name.clone()).collect();
    }
}

impl<F: Format> Plugin for MamSession<F> {
    const NAME: &'static str = "MAM Session";
    const VENDOR: &'static str = "MAM";
    const URL: &'static str = "https://example.invalid/mam-session";
    const EMAIL: &'static str = "mam@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = F::LAYOUTS;

    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type Editor = nice_plug_egui::EguiEditor<editor::MamEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.control.shared().clone(), self.params.editor_state.clone())
    }

    fn activate(&mut self, _layout: &AudioIOLayout, config: &BufferConfig, context: &mut impl ActivateContext<Self>) -> bool {
        let max_block = config.max_buffer_size.max(1) as usize;
        // Held from reading the session to installing the engine, so a change
        // the control thread applies meanwhile is not lost.
        let engine_slot = self.control.shared().engine.clone();
        let mut engine_slot = engine_slot.lock().unwrap_or_else(|e| e.into_inner());
        let mut session = self.session();
        publish_scene_names(&self.params, &session);
        session.sample_rate = config.sample_rate as u32;
        let options = CompileOptions { sample_rate: config.sample_rate, max_block, ports: PORTS.iter().map(|p| mam_core::graph::compile::PortBinding::host_port(*p)).collect() };
        match Engine::new(session, options) {
            Ok((engine, audio)) => {
                self.reported_latency = audio.latency() as u32;
                context.set_latency_samples(self.reported_latency);
                *engine_slot = Some(engine);
                if let (Ok(script), false) = (std::env::var(editor::EDIT_SCRIPT_ENV), self.script_started) {
                    self.script_started = true;
                    let shared = self.control.shared().clone();
                    std::thread::spawn(move || editor::run_edit_script(shared, &script));
                }
                self.audio = Some(audio);
                self.main_in = vec![vec![0.0; max_block]; 2];
                self.sent = [(f32::NAN, f32::NAN, false, false); SLOTS + 1];
                self.sent_controls = None;
                true
            }
            Err(e) => {
                nice_log!("MAM Session: cannot compile the session: {e}");
                false
            }
        }
    }

    fn reset(&mut self) {
        // Transport jumps and the like: clear tails, lookahead and PDC delays.
        if let Some(audio) = &mut self.audio {
            audio.reset();
        }
    }

    fn process(&mut self, buffer: &mut Buffer, aux: &mut AuxiliaryBuffers, context: &mut impl ProcessContext<Self>) -> ProcessStatus {
        let Some(mut audio) = self.audio.take() else { return ProcessStatus::Error("not activated") };
        if let Some(bpm) = context.transport().tempo {
            audio.set_tempo(bpm);
        }
        self.sync_params(&mut audio);
        let frames = buffer.samples();
        let max = self.main_in.first().map_or(0, Vec::len);
        let outputs = buffer.as_slice();
        // Key k lives on aux port k / KEYS_PER_AUX, channels 2·(k % KEYS_PER_AUX) and up.
        let mut keys: [&[&mut [f32]]; NUM_KEYS] = [&[]; NUM_KEYS];
        for (k, key) in keys.iter_mut().enumerate() {
            if let Some(port) = aux.inputs.get(k / F::KEYS_PER_AUX) {
                let channels = port.as_slice_immutable();
                let first = 2 * (k % F::KEYS_PER_AUX);
                *key = channels.get(first..(first + 2).min(channels.len())).unwrap_or(&[]);
            }
        }
        let mut start = 0;
        while start < frames {
            let len = (frames - start).min(max);
            for (ch, copy) in self.main_in.iter_mut().enumerate() {
                match outputs.get(ch) {
                    Some(host) => copy[..len].copy_from_slice(&host[start..start + len]),
                    None => copy[..len].fill(0.0),
                }
            }
            let main: [&[f32]; 2] = [&self.main_in[0][..len], &self.main_in[1][..len]];
            let mut key_slices: [[&[f32]; 2]; NUM_KEYS] = [[&[], &[]]; NUM_KEYS];
            for (k, key) in keys.iter().enumerate() {
                for (ch, host) in key.iter().enumerate() {
                    key_slices[k][ch] = &host[start..start + len];
                }
            }
            let inputs: [&[&[f32]]; 1 + NUM_KEYS] = [&main, &key_slices[0][..keys[0].len()], &key_slices[1][..keys[1].len()]];
            let mut out: [&mut [f32]; 2] = [&mut [], &mut []];
            let n_out = outputs.len().min(2);
            for (ch, host) in outputs.iter_mut().take(2).enumerate() {
                out[ch] = &mut host[start..start + len];
            }
            // Stem ports (stem layout only), re-sliced for this chunk on the stack.
            let mut stem_channels: [[&mut [f32]; 2]; NUM_STEMS] = std::array::from_fn(|_| [&mut [][..], &mut [][..]]);
            let mut widths = [0usize; NUM_STEMS];
            let num_stems = aux.outputs.len().min(NUM_STEMS);
            for (k, port) in aux.outputs.iter_mut().take(NUM_STEMS).enumerate() {
                for (c, ch) in port.as_slice().iter_mut().take(2).enumerate() {
                    stem_channels[k][c] = &mut ch[start..start + len];
                    widths[k] = c + 1;
                }
            }
            let mut stems: [&mut [&mut [f32]]; NUM_STEMS] = std::array::from_fn(|_| &mut [][..]);
            for (k, (stem, channels)) in stems.iter_mut().zip(stem_channels.iter_mut()).enumerate() {
                *stem = &mut channels[..widths[k]];
            }
            audio.process_with_stems(&inputs, &mut out[..n_out], &mut stems[..num_stems], len);
            start += len;
        }
        let latency = audio.latency() as u32;
        if latency != self.reported_latency {
            // A session change altered the latency: nice-plug asks the host
            // to restart so it can re-read it.
            self.reported_latency = latency;
            context.set_latency_samples(latency);
        }
        self.audio = Some(audio);
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.audio = None;
        *self.control.shared().engine.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl ClapPlugin for MamSession<ClapFormat> {
    const CLAP_ID: &'static str = "org.mam.session";
    const CLAP_DESCRIPTION: Option<&'static str> = Some("A whole multi-bus mixing session with spectral ducking, in one plugin");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[ClapFeature::AudioEffect, ClapFeature::Stereo, ClapFeature::Mixing];

    /// Remote-control pages for Bitwig and other CLAP hosts: the sixteen bus
    /// faders on two pages, then pans, mutes and solos of slots 1–8; the
    /// master; scenes (selector, morph A/B and position); the eight macros;
    /// the four ducker slots' depth and mix.
    fn remote_controls(&self, context: &mut impl RemoteControlsContext) {
        let p = &self.params;
        context.add_section("Buses", |section| {
            for (name, first) in [("Faders 1-8", 1), ("Faders 9-16", 9)] {
                section.add_page(name, |page| (first..first + 8).for_each(|n| page.add_param(&p.slot(n).gain)));
            }
            section.add_page("Pans 1-8", |page| (1..=8).for_each(|n| page.add_param(&p.slot(n).pan)));
            section.add_page("Mutes 1-8", |page| (1..=8).for_each(|n| page.add_param(&p.slot(n).mute)));
            section.add_page("Solos 1-8", |page| (1..=8).for_each(|n| page.add_param(&p.slot(n).solo)));
        });
        context.add_section("Master", |section| section.add_page("Master", |page| page.add_param(&p.master_gain)));
        context.add_section("Scenes", |section| {
            section.add_page("Scenes", |page| {
                page.add_param(&p.scene);
                page.add_param(&p.scene_morph_a);
                page.add_param(&p.scene_morph_b);
                page.add_param(&p.scene_morph);
            })
        });
        context.add_section("Macros", |section| section.add_page("Macros", |page| (1..=MAX_MACROS).for_each(|n| page.add_param(p.macro_param(n)))));
        context.add_section("Duckers", |section| {
            section.add_page("Duckers", |page| {
                for n in 1..=MAX_DUCKER_SLOTS {
                    page.add_param(&p.ducker(n).depth);
                    page.add_param(&p.ducker(n).mix);
                }
            })
        });
    }
}

impl Vst3Plugin for MamSession<Vst3Format> {
    const VST3_CLASS_ID: [u8; 16] = *b"MAMSessionPlugin";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
}

nice_export_clap!(MamSessionClap);
nice_export_vst3!(MamSessionVst3);
