//! The session model (docs/ARCHITECTURE.md §5): sources, buses, routes, sends, inserts, and its JSON form.

pub mod capture;
pub(crate) mod json;
pub mod load;
pub mod path;
pub mod save;
pub mod slots;

use std::collections::BTreeMap;

pub use load::{load_str, Diagnostic, LoadSessionError, Loaded};

/// Newest session file version this build reads and writes.
pub const SESSION_VERSION: u64 = 1;
/// Id of the bus that always exists and feeds the main output.
pub const MASTER_ID: &str = "master";

/// A whole mixing session.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub version: u64,
    pub sample_rate: u32,
    /// Channels of the session's main input/output (1 or 2).
    pub channels: usize,
    pub pan_law: PanLaw,
    /// Tempo in BPM, for tempo-synced inserts when no host tempo is known,
    /// and the tempo `mam render` plays its transport at.
    pub tempo: f64,
    /// `(numerator, denominator)` of the renderer's transport (bars for
    /// quantized scene recalls); the plugin follows the host's instead.
    pub time_signature: (u32, u32),
    /// Where recalls of scenes without their own `quantize` start.
    pub scene_quantize: Quantize,
    pub racks: Vec<Rack>,
    /// Buses in file order; the master is always present (added if missing).
    pub buses: Vec<Bus>,
    pub routes: Vec<Route>,
    /// Snapshots of mix values the host's `scene` parameters recall and morph.
    pub scenes: Vec<Scene>,
    /// What the host's `macro1`…`macro8` parameters move, in order.
    pub macros: Vec<Macro>,
    /// Controller mappings (docs/ARCHITECTURE.md §8.3).
    pub mappings: Vec<crate::mapping::Mapping>,
    /// The plugin's OSC server (off by default).
    pub osc: crate::mapping::OscSettings,
}

impl Session {
    /// An empty session: just a master bus, stereo, 48 kHz.
    pub fn empty() -> Self {
        Self {
            version: SESSION_VERSION,
            sample_rate: 48_000,
            channels: 2,
            pan_law: PanLaw::Balance,
            tempo: 120.0,
            time_signature: DEFAULT_TIME_SIGNATURE,
            scene_quantize: Quantize::None,
            racks: Vec::new(),
            buses: vec![Bus::new(MASTER_ID)],
            routes: Vec::new(),
            scenes: Vec::new(),
            macros: Vec::new(),
            mappings: Vec::new(),
            osc: crate::mapping::OscSettings::default(),
        }
    }

    pub fn bus(&self, id: &str) -> Option<&Bus> {
        self.buses.iter().find(|b| b.id == id)
    }

    pub fn rack(&self, id: &str) -> Option<&Rack> {
        self.racks.iter().find(|r| r.id == id)
    }
}

/// How `pan` turns into per-channel gains.
///
/// Mono buses feeding a stereo session always pan with the constant-power
/// sin/cos law (−3 dB each side at centre). Stereo buses follow the session's
/// law:
/// - `balance` (default): unity at centre; panning turns the far side down
///   linearly (hard left silences the right channel). Bitwig's and Reaper's
///   default for stereo tracks.
/// - `constant_power`: the sin/cos law on each side, −3 dB at centre, 0 dB on
///   the near side when panned hard (Reaper's "−3 dB" pan law). Every bus
///   but the master, whose pan stays a balance control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanLaw {
    Balance,
    ConstantPower,
}

impl PanLaw {
    pub const NAMES: &'static [&'static str] = &["balance", "constant_power"];

    pub fn name(self) -> &'static str {
        match self {
            PanLaw::Balance => "balance",
            PanLaw::ConstantPower => "constant_power",
        }
    }
}

/// A level written either as a linear gain (`gain`) or in dB (`gainDb`).
/// The spelling is kept so saving writes back what was read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Level {
    Linear(f64),
    Db(f64),
}

impl Level {
    pub const UNITY: Level = Level::Db(0.0);

    /// The linear gain (dB at or below −144 is silence).
    pub fn linear(self) -> f64 {
        match self {
            Level::Linear(g) => g,
            Level::Db(db) => crate::insert::db_to_gain(db),
        }
    }

    pub fn db(self) -> f64 {
        match self {
            Level::Linear(g) => crate::insert::gain_to_db(g),
            Level::Db(db) => db,
        }
    }
}

/// A source of audio ("rack" in session files).
#[derive(Clone, Debug, PartialEq)]
pub struct Rack {
    pub id: String,
    pub kind: RackKind,
    pub gain: Level,
    /// The source starts this many frames into the timeline.
    pub start_offset_frames: u64,
    pub sends: Vec<Send>,
}

impl Rack {
    /// Where audio bound to this source starts, in frames: a file source's
    /// (`path`, or none given) `startOffsetFrames`; an `input` source stands
    /// for the host's port, whose audio plays as it arrives (as in the
    /// plugin), so a file bound to it in the CLI starts at 0 too.
    pub fn bound_offset_frames(&self) -> u64 {
        match self.kind {
            RackKind::Input(_) => 0,
            _ => self.start_offset_frames,
        }
    }
}

/// Where a rack's audio comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum RackKind {
    /// A plugin port (`main`, `sidechain1`, …); in the CLI bound with `--in`.
    Input(String),
    /// A WAV file, relative to the session file (CLI only).
    File(String),
    /// A built-in test signal.
    Generator(Generator),
    /// Nothing yet: the CLI binds it with `--in ID=FILE.wav`.
    Unbound,
}

/// Built-in signals, so sessions render with no files. All are deterministic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Generator {
    /// A sine of `hz` at peak amplitude `amp`, same on every channel.
    Sine { hz: f64, amp: f64 },
    /// Uniform white noise in ±`amp`, independent per channel, from `seed`.
    Noise { amp: f64, seed: u64 },
    /// One-sample impulses of `amp`, `hz` times a second, the first at frame 0.
    Pulse { hz: f64, amp: f64 },
    /// A single one-sample impulse of `amp` at frame `at` (for latency tests).
    Impulse { at: u64, amp: f64 },
    /// A voice-like test key: a harmonic series on `hz` shaped by two vowel
    /// formants (700 Hz and 1.2 kHz), peak about `amp`, sounding for `on_s`
    /// seconds then silent for `off_s` seconds, repeating, with 10 ms fades.
    Voice { hz: f64, amp: f64, on_s: f64, off_s: f64 },
}

impl Generator {
    pub const TYPES: &'static [&'static str] = &["sine", "noise", "pulse", "impulse", "voice"];
}

/// A bus: sums its inputs, runs its inserts, then gain, mute, pan and meter.
#[derive(Clone, Debug, PartialEq)]
pub struct Bus {
    pub id: String,
    /// Processing width inside the bus (1 or 2, at most the session's).
    pub channels: usize,
    pub gain: Level,
    /// −1 (left) … +1 (right).
    pub pan: f64,
    pub mute: bool,
    pub solo: bool,
    pub solo_safe: bool,
    pub bypass: bool,
    /// Downstream bus; `None` only for the master.
    pub route: Option<String>,
    pub inserts: Vec<InsertDesc>,
    pub sends: Vec<Send>,
    /// Explicit parameter slot for the plugin (docs/ARCHITECTURE.md §7), if given.
    pub slot: Option<u64>,
}

impl Bus {
    /// A stereo bus at unity routed to the master (or the master itself).
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            channels: 2,
            gain: Level::UNITY,
            pan: 0.0,
            mute: false,
            solo: false,
            solo_safe: false,
            bypass: false,
            route: if id == MASTER_ID { None } else { Some(MASTER_ID.to_string()) },
            inserts: Vec::new(),
            sends: Vec::new(),
            slot: None,
        }
    }

    pub fn is_master(&self) -> bool {
        self.id == MASTER_ID
    }
}

/// Where a send picks up its signal in the source bus's strip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tap {
    /// After the fader, mute and pan (follows the fader).
    Post,
    /// After the inserts, before the fader (ignores fader and mute).
    Pre,
    /// Before the inserts.
    PreFx,
}

impl Tap {
    pub const NAMES: &'static [&'static str] = &["post", "pre", "pre_fx"];

    pub fn name(self) -> &'static str {
        match self {
            Tap::Post => "post",
            Tap::Pre => "pre",
            Tap::PreFx => "pre_fx",
        }
    }
}

/// A send from a bus or rack to another bus.
#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    pub to: String,
    /// Written as `level` (linear) or `levelDb`.
    pub level: Level,
    pub tap: Tap,
}

/// Largest send level (+12 dB); louder sends are clamped with a warning.
pub const MAX_SEND_GAIN: f64 = 3.981_071_705_534_972;

/// A connection from a rack into a bus.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub from: String,
    pub to: String,
    pub gain: Level,
}

/// An insert in a bus's chain.
#[derive(Clone, Debug, PartialEq)]
pub struct InsertDesc {
    pub id: String,
    /// Registry name (`limiter`, `utility`, …).
    pub kind: String,
    /// Values by parameter id; absent ones take the table's default.
    pub params: BTreeMap<String, ParamValue>,
    pub bypass: bool,
    pub sidechains: Vec<Sidechain>,
}

impl InsertDesc {
    /// The source or bus that keys this insert, if any (the first sidechain).
    pub fn key_source(&self) -> Option<&str> {
        self.sidechains.first().map(|s| s.from.as_str())
    }
}

/// A named key input of an insert, fed from a rack or bus.
#[derive(Clone, Debug, PartialEq)]
pub struct Sidechain {
    pub id: String,
    pub from: String,
}

/// A parameter value as written in the session.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Number(f64),
    Bool(bool),
    Text(String),
}

/// Most scenes a session may hold (the host's `scene` parameter has one
/// step per scene, plus "Session").
pub const MAX_SCENES: usize = 16;
/// Most macros a session may define (the plugin's `macro1`…`macro8`).
pub const MAX_MACROS: usize = 8;

/// The time signature a session without `timeSignature` has.
pub const DEFAULT_TIME_SIGNATURE: (u32, u32) = (4, 4);

/// A snapshot of mix values, addressed by parameter path (see [`path`]).
/// Anything a scene does not name keeps the session's own value.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub name: String,
    pub transition: Transition,
    /// Where a recall starts while the transport plays; `None` takes the
    /// session's `scene_quantize`.
    pub quantize: Option<Quantize>,
    /// Values by parameter path, in the units the session file uses (dB for
    /// levels, −1…1 for pans, booleans for mutes, an insert's own units).
    pub values: BTreeMap<String, ParamValue>,
}

/// How the mix moves to a scene when it is recalled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transition {
    /// At once, with the 10 ms declicking ramp every value change gets.
    Instant,
    /// Every value ramps from where it stands to the scene's over `ms`.
    Morph { ms: f64 },
    /// Over `ms`, levels (bus gains, send levels) move on an equal-power
    /// curve, switches flip half-way, other values ramp as in a morph.
    Crossfade { ms: f64 },
}

/// The grid a scene recall waits for while the host's transport plays
/// (docs/ARCHITECTURE.md §8): it starts on the first sample at or after the
/// next boundary. A beat is one note of the time signature's denominator,
/// a bar is `numerator` beats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Quantize {
    /// At once, on the sample the request arrives.
    #[default]
    None,
    Beat,
    Bar,
    /// The next bar whose number (counted from beat 0) is even.
    TwoBars,
    /// The next bar whose number (counted from beat 0) is a multiple of 4.
    FourBars,
}

impl Quantize {
    pub const ALL: [Quantize; 5] = [Quantize::None, Quantize::Beat, Quantize::Bar, Quantize::TwoBars, Quantize::FourBars];

    /// The session file's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Quantize::None => "none",
            Quantize::Beat => "beat",
            Quantize::Bar => "bar",
            Quantize::TwoBars => "2bars",
            Quantize::FourBars => "4bars",
        }
    }
}

/// A macro: one host knob (0…1) moving any number of parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Macro {
    pub name: String,
    pub targets: Vec<MacroTarget>,
}

/// What a macro does to one parameter: at macro value `m` it adds
/// `min + (max − min) · curve(m)` to the parameter's scene value (offsets in
/// the parameter's units; the result is clamped to the parameter's range).
/// With the usual `min = 0`, a macro at 0 leaves the mix as the scene has it.
#[derive(Clone, Debug, PartialEq)]
pub struct MacroTarget {
    pub path: String,
    pub min: f64,
    pub max: f64,
    pub curve: Curve,
}

/// The shape of a macro's travel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Curve {
    /// `m`
    Linear,
    /// `m²`: fine control near 0.
    Exp,
    /// `√m`: fine control near 1.
    Log,
    /// `m^k` for a given exponent `k > 0`.
    Power(f64),
}

impl Curve {
    pub const NAMES: &'static [&'static str] = &["linear", "exp", "log"];

    /// The exponent `k` of `m^k`.
    pub fn exponent(self) -> f64 {
        match self {
            Curve::Linear => 1.0,
            Curve::Exp => 2.0,
            Curve::Log => 0.5,
            Curve::Power(k) => k,
        }
    }
}
