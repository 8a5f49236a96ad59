//! MAM Session as a CLAP and VST3 plugin: nice-plug glue around `mam_core`.
//!
//! Ports: main stereo in/out and one stereo "Sidechain 1" input (the first
//! aux input is the one nice-plug 0.4.2 delivers in both formats; more keys
//! wait for host-level proof, DESIGN.md §2). The session runs in a
//! `mam_core` engine; host parameters (`bus{n}_gain`, `bus{n}_pan`,
//! `bus{n}_mute`, `master_gain`) reach it as strip controls at the sample
//! they change on; the session itself is persisted as JSON in the state.

mod params;

use std::sync::Arc;

use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::CompileOptions;
use mam_core::graph::schedule::StripControl;
use mam_core::session::{load_str, save, Session};
use nice_plug::prelude::*;

pub use params::MamParams;
use params::MIN_TRIM_DB;

/// The session a fresh instance starts with (see the README).
pub const DEFAULT_SESSION_JSON: &str = include_str!("default_session.json");
/// Names of the engine input ports, in the order `process` passes them.
pub const PORTS: [&str; 2] = ["main", "sidechain1"];
/// Environment variable naming a session file to load at instantiation
/// (until the editor can import one).
pub const SESSION_ENV: &str = "MAM_SESSION";

const SLOTS: usize = mam_core::session::slots::MAX_BUS_SLOTS;

pub struct MamSession {
    params: Arc<MamParams>,
    /// Control side of the engine (main thread: activate, state).
    engine: Option<Engine>,
    /// Audio side (audio thread: process).
    audio: Option<AudioProcessor>,
    /// Copy of the main input, `[channel][frame]`, sized in `activate`,
    /// because the host's buffer is also where the output goes.
    main_in: Vec<Vec<f32>>,
    /// Last (trim dB, pan, mute) sent per slot (0 = master), so only changes
    /// reach the engine.
    sent: [(f32, f32, bool); SLOTS + 1],
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

impl Default for MamSession {
    fn default() -> Self {
        Self {
            params: Arc::new(MamParams::new(initial_session_json())),
            engine: None,
            audio: None,
            main_in: Vec::new(),
            sent: [(f32::NAN, f32::NAN, false); SLOTS + 1],
        }
    }
}

impl MamSession {
    /// The persisted session, or the default one if the state holds an
    /// invalid session (never the case for states this plugin wrote).
    fn session(&self) -> Session {
        let json = self.params.session_json.lock().map(|s| s.clone()).unwrap_or_default();
        load_str(&json).or_else(|_| load_str(DEFAULT_SESSION_JSON)).expect("the default session is valid").session
    }

    /// Sends every host parameter that changed since the last call.
    /// Runs on the audio thread: no allocation, no locks.
    fn sync_params(&mut self, audio: &mut AudioProcessor) {
        for slot in 0..=SLOTS {
            let (trim, pan, mute) = if slot == 0 {
                (self.params.master_gain.value(), 0.0, false)
            } else {
                let p = self.params.slot(slot);
                (p.gain.value(), p.pan.value(), p.mute.value())
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
            self.sent[slot] = (trim, pan, mute);
        }
    }
}

impl Plugin for MamSession {
    const NAME: &'static str = "MAM Session";
    const VENDOR: &'static str = "MAM";
    const URL: &'static str = "https://example.invalid/mam-session";
    const EMAIL: &'static str = "mam@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[AudioIOLayout {
        main_input_channels: NonZeroU32::new(2),
        main_output_channels: NonZeroU32::new(2),
        aux_input_ports: &[new_nonzero_u32(2)],
        aux_output_ports: &[],
        // Main port names are left to nice-plug's defaults ("Input",
        // "Output"): in 0.4.2 `main_output_name()` reads `names.main_input`,
        // so naming the input would name the output the same.
        names: PortNames { layout: Some("Stereo + sidechain"), main_input: None, main_output: None, aux_inputs: &["Sidechain 1"], aux_outputs: &[] },
    }];

    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    /// No editor yet (its own issue).
    type Editor = ();
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn activate(&mut self, _layout: &AudioIOLayout, config: &BufferConfig, context: &mut impl ActivateContext<Self>) -> bool {
        let max_block = config.max_buffer_size.max(1) as usize;
        let mut session = self.session();
        session.sample_rate = config.sample_rate as u32;
        let options = CompileOptions { sample_rate: config.sample_rate, max_block, ports: PORTS.iter().map(|p| p.to_string()).collect() };
        match Engine::new(session, options) {
            Ok((engine, audio)) => {
                context.set_latency_samples(audio.latency() as u32);
                self.engine = Some(engine);
                self.audio = Some(audio);
                self.main_in = vec![vec![0.0; max_block]; 2];
                self.sent = [(f32::NAN, f32::NAN, false); SLOTS + 1];
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
        let sidechain: &[&mut [f32]] = aux.inputs.first().map_or(&[], |b| b.as_slice_immutable());
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
            let mut key: [&[f32]; 2] = [&[], &[]];
            for (ch, host) in sidechain.iter().take(2).enumerate() {
                key[ch] = &host[start..start + len];
            }
            let key_channels = sidechain.len().min(2);
            let mut out: [&mut [f32]; 2] = [&mut [], &mut []];
            let n_out = outputs.len().min(2);
            for (ch, host) in outputs.iter_mut().take(2).enumerate() {
                out[ch] = &mut host[start..start + len];
            }
            audio.process(&[&main, &key[..key_channels]], &mut out[..n_out], len);
            start += len;
        }
        self.audio = Some(audio);
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.audio = None;
        self.engine = None;
    }
}

impl ClapPlugin for MamSession {
    const CLAP_ID: &'static str = "org.mam.session";
    const CLAP_DESCRIPTION: Option<&'static str> = Some("A whole multi-bus mixing session with spectral ducking, in one plugin");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[ClapFeature::AudioEffect, ClapFeature::Stereo, ClapFeature::Mixing];
}

impl Vst3Plugin for MamSession {
    const VST3_CLASS_ID: [u8; 16] = *b"MAMSessionPlugin";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
}

nice_export_clap!(MamSession);
nice_export_vst3!(MamSession);
