//! The timeline (docs/ARCHITECTURE.md §8.1): lanes of timestamped parameter, scene, stack and macro events, and markers, in host timeline samples.
//!
//! The control side loads a [`Timeline`] from JSON ([`load_str`], checked
//! against the [`Session`](crate::session::Session) it plays with) and saves
//! it back ([`save::to_string`]); the compiler turns it into a flat list of
//! cues the audio thread walks with a cursor of indices ([`playback`]).

pub mod load;
pub mod playback;
pub mod save;

use crate::session::ParamValue;

pub use load::{load_str, parse_str, validate, LoadTimelineError, Loaded};

/// Newest timeline file version this build reads and writes.
pub const TIMELINE_VERSION: u64 = 1;

/// A recorded or written performance: what happens to the mix, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub version: u64,
    /// The rate event times count in (the host's rate when it was recorded).
    /// Played at another rate, times are rescaled (see [`Self::sample_at`]).
    pub sample_rate: u32,
    /// Lanes in file order; the order breaks ties between lanes (see
    /// [`playback`]).
    pub lanes: Vec<Lane>,
    /// Named positions, in file order; they do nothing to the sound.
    pub markers: Vec<Marker>,
}

impl Timeline {
    /// A timeline with nothing in it.
    pub fn empty(sample_rate: u32) -> Self {
        Self { version: TIMELINE_VERSION, sample_rate, lanes: Vec::new(), markers: Vec::new() }
    }

    /// Events in every lane.
    pub fn num_events(&self) -> usize {
        self.lanes.iter().map(|l| l.events.len()).sum()
    }

    /// The time `t` (in this timeline's samples) at `rate`: the same instant,
    /// rounded to the nearest sample (halves round up), so a timeline plays at
    /// another rate with every event within half a sample of its time.
    /// Exact (the same `t`) when the rates agree.
    pub fn sample_at(&self, t: u64, rate: u32) -> u64 {
        if rate == self.sample_rate || self.sample_rate == 0 {
            return t;
        }
        let (num, den) = (t as u128 * rate as u128, self.sample_rate as u128);
        ((num + den / 2) / den) as u64
    }
}

/// One lane: a named series of events in time order (times never decrease).
#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    /// A label (`scenes`, `bed.gainDb`); unique within the timeline. It does
    /// not address anything: every event names its own target.
    pub id: String,
    pub events: Vec<Event>,
}

/// Something that happens to the mix at sample `t`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Timeline sample (at [`Timeline::sample_rate`]).
    pub t: u64,
    pub action: Action,
}

/// What an event does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The parameter at `path` moves to `value` (in the session file's units,
    /// as a scene stores it), ramping over `ramp_ms` (default
    /// [`DEFAULT_RAMP_MS`]). It holds until the next scene recall.
    Set { path: String, value: ParamValue, ramp_ms: Option<f64> },
    /// Recalls scene `scene` (0 = the session's own values) with its own
    /// transition, or `policy` instead.
    Scene { scene: usize, policy: Option<Policy> },
    /// Pushes scene `scene` onto the scene stack (a momentary scene).
    Push { scene: usize },
    /// Pops the scene stack back to the state before the last push.
    Pop,
    /// Sets macro `number` (1-based, as the host's `macro1`…`macro8`) to
    /// `value` (0…1).
    Macro { number: usize, value: f64 },
}

impl Action {
    /// The event's `type` in JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            Action::Set { .. } => "set",
            Action::Scene { .. } => "scene",
            Action::Push { .. } => "push",
            Action::Pop => "pop",
            Action::Macro { .. } => "macro",
        }
    }

    /// Events at the same sample apply in this order: parameter values
    /// first (`set`, `macro`: 0), then what recalls a scene (`scene`,
    /// `push`, `pop`: 1), so a scene recalled on a sample starts from the
    /// values set on it.
    pub fn rank(&self) -> u8 {
        match self {
            Action::Set { .. } | Action::Macro { .. } => 0,
            Action::Scene { .. } | Action::Push { .. } | Action::Pop => 1,
        }
    }
}

/// Event types, as written in JSON.
pub const EVENT_TYPES: &[&str] = &["set", "scene", "push", "pop", "macro"];

/// A `set` event's ramp when it gives none: the 10 ms declick every value
/// change gets.
pub const DEFAULT_RAMP_MS: f64 = crate::graph::compile::GAIN_RAMP_MS as f64;

/// Longest `set` ramp (one minute, as a scene morph).
pub const MAX_RAMP_MS: f64 = 60_000.0;

/// A scene event's transition in place of the scene's own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    /// At once, with the 10 ms declick.
    Instant,
    /// Every value ramps over `ms` (the scene's own morph time when the
    /// event gives none).
    Morph { ms: Option<f64> },
    /// Levels on an equal-power curve, switches at the midpoint, over `ms`
    /// (the scene's own morph time when the event gives none).
    Crossfade { ms: Option<f64> },
}

impl Policy {
    pub const NAMES: &'static [&'static str] = &["instant", "morph", "crossfade"];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Instant => "instant",
            Policy::Morph { .. } => "morph",
            Policy::Crossfade { .. } => "crossfade",
        }
    }

    /// The event's own `morphMs`, if it gives one.
    pub fn ms(self) -> Option<f64> {
        match self {
            Policy::Instant => None,
            Policy::Morph { ms } | Policy::Crossfade { ms } => ms,
        }
    }
}

/// A named position on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub t: u64,
    pub label: String,
}
