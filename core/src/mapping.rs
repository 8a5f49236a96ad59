//! Controller mappings (docs/ARCHITECTURE.md §8.3): MIDI and OSC inputs bound
//! to mix values, macros and scene actions through a transform.
//!
//! - [`Mapping`]: the session file's `mappings` entries (read by
//!   [`load`], written by [`save`]).
//! - [`transform`]: the pure functions from an input's normalized value to
//!   the target's units and back (for feedback).
//! - [`runtime`]: the compiled table the audio thread runs, with the state
//!   each mapping keeps (toggle, 14-bit MSB, what the controller shows).
//!
//! A mapped value lands where a timeline `set` does (the timeline layer of
//! the composition, docs/ARCHITECTURE.md §8.1): it stands in for the
//! recalled scene's value until the next scene recall, push or pop, and
//! macros and host trims compose on top.

pub mod load;
pub mod runtime;
pub mod save;
pub mod transform;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub use crate::session::Curve;

/// UDP port OSC listens on unless the session says otherwise.
pub const DEFAULT_OSC_PORT: u16 = 9000;
/// Smoothing of a mapped value unless the mapping says otherwise (the
/// strip's declick).
pub const DEFAULT_SMOOTH_MS: f64 = 10.0;
/// Longest smoothing a mapping may ask for.
pub const MAX_SMOOTH_MS: f64 = 10_000.0;
/// Most mappings a session may hold.
pub const MAX_MAPPINGS: usize = 512;

/// One controller binding: `input` → `transform` → `target`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    pub input: Input,
    pub transform: Transform,
    pub target: Target,
}

/// What a mapping listens to. Channels are 1…16 as written in the file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// A control change; with `lsb`, a 14-bit pair (`cc` the MSB, 0…31,
    /// `lsb` its LSB controller, usually `cc + 32`).
    Cc { channel: u8, cc: u8, lsb: Option<u8> },
    /// A note: its velocity (note off = 0), or with `gate` on = 1, off = 0.
    Note { channel: u8, note: u8, gate: bool },
    /// Pitch bend, 14 bits (0 … 16383, centre 8192).
    PitchBend { channel: u8 },
    /// Channel pressure (aftertouch), 0 … 127.
    Pressure { channel: u8 },
    /// An OSC address; the first numeric argument, read as 0 … 1.
    Osc { address: String },
}

/// How an input's travel becomes the target's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Transform {
    /// Range in the target's units; `None` = the target's own range (0…1
    /// for a macro).
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub curve: Curve,
    /// Fraction (0 … 0.45) of the travel at each end that reads as the end.
    pub deadzone: f64,
    /// Ramp of a mapped value, in ms.
    pub smooth_ms: f64,
    /// Quantize the travel to this many evenly spaced values (≥ 2).
    pub steps: Option<u32>,
    pub invert: bool,
    /// `None`: the target's default — toggle for bus mute/solo and the
    /// recorder's record/play, absolute (a press triggers) otherwise.
    pub mode: Option<Mode>,
}

impl Default for Transform {
    fn default() -> Self {
        Self { min: None, max: None, curve: Curve::Linear, deadzone: 0.0, smooth_ms: DEFAULT_SMOOTH_MS, steps: None, invert: false, mode: None }
    }
}

/// How an input moves its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The input's position is the value (for actions: a press triggers).
    Absolute,
    /// An endless encoder: each message moves the value by its step count.
    Relative(Encoding),
    /// Each press flips the value between `min` and `max` (an action
    /// toggles: mute, solo, record, play).
    Toggle,
    /// Pressed = `max`, released = `min` (a `push` pops on release).
    Momentary,
}

/// How a relative encoder writes a step count into a 7-bit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// 1 … 63 up, 127 … 65 down by 1 … 63 (64 = down 64).
    TwosComplement,
    /// 64 = no move, 65 … 127 up, 63 … 0 down.
    Offset64,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::TwosComplement => "twos",
            Encoding::Offset64 => "offset64",
        }
    }
}

/// What a mapping moves.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A mix value by parameter path, as scenes name it.
    Path(String),
    /// Macro n (1 … 8), 0 … 1.
    Macro(usize),
    Action(Action),
}

/// Scene, bus and timeline actions.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Recall scene n (0 = the session's own values), quantized as the host's `scene`.
    Scene(usize),
    SceneNext,
    ScenePrev,
    /// Push scene n (from 1) on the scene stack.
    Push(usize),
    Pop,
    /// The bus's mute (its scene value, `<bus>.mute`).
    Mute(String),
    Solo(String),
    /// Arm or disarm timeline recording (plugin only).
    Record,
    /// Timeline playback on or off (plugin only).
    Play,
}

impl Action {
    /// The action's name in the session file.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Scene(_) => "scene",
            Action::SceneNext => "scene_next",
            Action::ScenePrev => "scene_prev",
            Action::Push(_) => "push",
            Action::Pop => "pop",
            Action::Mute(_) => "mute",
            Action::Solo(_) => "solo",
            Action::Record => "record",
            Action::Play => "play",
        }
    }
}

/// The session's OSC server settings (`"osc": { "enabled": false, "port": 9000 }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OscSettings {
    pub enabled: bool,
    pub port: u16,
}

impl Default for OscSettings {
    fn default() -> Self {
        Self { enabled: false, port: DEFAULT_OSC_PORT }
    }
}

/// The 64-bit FNV-1a hash of an OSC address: how the audio thread matches
/// an address without comparing strings.
pub fn osc_hash(address: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in address.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A controller message as the audio thread reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ControllerInput {
    /// A raw MIDI message (status, data 1, data 2).
    Midi([u8; 3]),
    /// An OSC message by address hash ([`osc_hash`]) and its first numeric argument.
    Osc { hash: u64, value: f32 },
}

/// A MIDI input that moved, as learn needs to know it: (kind, channel 1…16,
/// number). Kinds: 1 = CC, 2 = note, 3 = pitch bend, 4 = pressure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: u8,
    pub channel: u8,
    pub number: u8,
}

impl Seen {
    /// The input a learned mapping listens to.
    pub fn input(self) -> Option<Input> {
        match self.kind {
            1 => Some(Input::Cc { channel: self.channel, cc: self.number, lsb: None }),
            2 => Some(Input::Note { channel: self.channel, note: self.number, gate: false }),
            3 => Some(Input::PitchBend { channel: self.channel }),
            4 => Some(Input::Pressure { channel: self.channel }),
            _ => None,
        }
    }

    /// What moved in a MIDI message: CC, note on (velocity > 0), pitch bend,
    /// channel pressure; `None` for anything else (note off, clock, …).
    pub fn of(data: [u8; 3]) -> Option<Seen> {
        let channel = (data[0] & 0x0f) + 1;
        match data[0] & 0xf0 {
            0xb0 => Some(Seen { kind: 1, channel, number: data[1] & 0x7f }),
            0x90 if data[2] > 0 => Some(Seen { kind: 2, channel, number: data[1] & 0x7f }),
            0xe0 => Some(Seen { kind: 3, channel, number: 0 }),
            0xd0 => Some(Seen { kind: 4, channel, number: 0 }),
            _ => None,
        }
    }

    fn pack(self) -> u32 {
        (self.kind as u32) << 16 | (self.channel as u32) << 8 | self.number as u32
    }

    fn unpack(x: u32) -> Self {
        Self { kind: (x >> 16) as u8, channel: (x >> 8) as u8, number: x as u8 }
    }
}

/// The last MIDI input that moved (atomics: the audio thread writes, the
/// editor's learn reads). `count` goes up by one per input seen.
#[derive(Debug, Default)]
pub struct InputMonitor {
    count: AtomicU64,
    last: AtomicU32,
}

impl InputMonitor {
    /// Runs on the audio thread: no allocation, no locks.
    pub fn saw(&self, seen: Seen) {
        self.last.store(seen.pack(), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Release);
    }

    /// How many inputs were seen so far, and the last one.
    pub fn last(&self) -> (u64, Option<Seen>) {
        let count = self.count.load(Ordering::Acquire);
        (count, (count > 0).then(|| Seen::unpack(self.last.load(Ordering::Relaxed))))
    }
}
