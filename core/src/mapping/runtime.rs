//! The mappings as the audio thread runs them: compiled on the control side
//! into plain numbers (inputs by channel and number or OSC address hash,
//! targets by controlled-value index), with per-mapping state.

use super::transform::Shape;
use super::{osc_hash, Action, Encoding, Input, Mapping, Mode, Target};
use crate::session::path::Resolved;

/// What a compiled mapping listens to; MIDI channels 0 … 15.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listen {
    Cc { channel: u8, cc: u8, lsb: Option<u8> },
    Note { channel: u8, note: u8, gate: bool },
    Bend { channel: u8 },
    Pressure { channel: u8 },
    Osc(u64),
}

/// What a compiled mapping does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Effect {
    /// A controlled value (index into the schedule's targets), ramped over
    /// `ramp` samples (a switch changes at once). `whole`: a switch, choice
    /// or count, which takes the nearest whole value (inserts truncate, so
    /// a knob over four choices would reach the last only at its end).
    Value { t: usize, ramp: u32, whole: bool },
    /// Macro index (0-based).
    Macro(usize),
    Scene(usize),
    SceneNext,
    ScenePrev,
    Push(usize),
    Pop,
    Record,
    Play,
}

/// How the input moves the target, defaults resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunMode {
    Absolute,
    Relative(Encoding),
    Toggle,
    Momentary,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub listen: Listen,
    pub shape: Shape,
    pub mode: RunMode,
    pub effect: Effect,
    /// Identity across recompiles (a hash of the mapping as saved), so a
    /// new schedule keeps what the controller shows and toggles' states.
    pub ident: u64,
}

/// What one mapping remembers between messages.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EntryState {
    /// The input is held (position ≥ ½): presses are its rising edges.
    pub pressed: bool,
    /// A toggled `push` is held.
    pub latched: bool,
    /// The last 14-bit MSB received.
    pub msb: u8,
    /// The value the controller shows as far as we know (a feedback code:
    /// 7- or 14-bit MIDI value, or an OSC float's bits): what it sent or
    /// was sent last. Feedback goes out only when the target's code differs.
    pub shown: Option<u32>,
}

/// How [`MappingTable::compile`] finds a path: its controlled-value index
/// and resolution.
pub(crate) type Resolve<'a> = dyn FnMut(&str) -> Result<(usize, Resolved), String> + 'a;

/// Every compiled mapping of a schedule and its state. Sized on the control
/// side; the audio thread never resizes it.
#[derive(Default)]
pub(crate) struct MappingTable {
    pub entries: Vec<Entry>,
    pub state: Vec<EntryState>,
}

impl MappingTable {
    /// Compiles `mappings`; `resolve(path)` gives a path's controlled-value
    /// index and resolution (a path the session loader accepted). Control side.
    ///
    /// # Errors
    /// A message for a target the session cannot play (the loader checks
    /// these first, so only for a session built in code).
    pub(crate) fn compile(mappings: &[Mapping], sample_rate: f32, resolve: &mut Resolve<'_>) -> Result<Self, String> {
        let mut entries = Vec::with_capacity(mappings.len());
        for m in mappings {
            let listen = match &m.input {
                Input::Cc { channel, cc, lsb } => Listen::Cc { channel: channel - 1, cc: *cc, lsb: *lsb },
                Input::Note { channel, note, gate } => Listen::Note { channel: channel - 1, note: *note, gate: *gate },
                Input::PitchBend { channel } => Listen::Bend { channel: channel - 1 },
                Input::Pressure { channel } => Listen::Pressure { channel: channel - 1 },
                Input::Osc { address } => Listen::Osc(osc_hash(address)),
            };
            let t = &m.transform;
            let ramp = crate::dsp::smoother::Smoother::ramp_len(t.smooth_ms as f32, sample_rate);
            let (effect, lo, hi, switch) = match &m.target {
                Target::Path(p) => {
                    let (t, r) = resolve(p)?;
                    (Effect::Value { t, ramp, whole: r.stepped }, r.min, r.max, false)
                }
                Target::Macro(n) => (Effect::Macro(n - 1), 0.0, 1.0, false),
                Target::Action(a) => match a {
                    Action::Mute(bus) | Action::Solo(bus) => {
                        let field = if matches!(a, Action::Mute(_)) { "mute" } else { "solo" };
                        let (t, _) = resolve(&format!("{bus}.{field}"))?;
                        (Effect::Value { t, ramp: 0, whole: true }, 0.0, 1.0, true)
                    }
                    Action::Scene(n) => (Effect::Scene(*n), 0.0, 1.0, false),
                    Action::SceneNext => (Effect::SceneNext, 0.0, 1.0, false),
                    Action::ScenePrev => (Effect::ScenePrev, 0.0, 1.0, false),
                    Action::Push(n) => (Effect::Push(*n), 0.0, 1.0, false),
                    Action::Pop => (Effect::Pop, 0.0, 1.0, false),
                    Action::Record => (Effect::Record, 0.0, 1.0, true),
                    Action::Play => (Effect::Play, 0.0, 1.0, true),
                },
            };
            let mode = match t.mode {
                Some(Mode::Absolute) => RunMode::Absolute,
                Some(Mode::Relative(e)) => RunMode::Relative(e),
                Some(Mode::Toggle) => RunMode::Toggle,
                Some(Mode::Momentary) => RunMode::Momentary,
                // Bus switches and the recorder toggle by default; the rest follow the input.
                None if switch => RunMode::Toggle,
                None => RunMode::Absolute,
            };
            let (min, max) = (t.min.unwrap_or(lo), t.max.unwrap_or(hi));
            // A whole-valued target steps through its values unless told
            // otherwise: one encoder tick is one option, not 1/127 of the
            // travel that rounds back to where it was.
            let whole_steps = match effect {
                Effect::Value { whole: true, .. } if (max - min).abs() >= 1.0 => Some(((max - min).abs().round() as u32 + 1).min(1024)),
                _ => None,
            };
            let shape = Shape {
                min: min as f32,
                max: max as f32,
                exponent: t.curve.exponent() as f32,
                deadzone: t.deadzone as f32,
                steps: t.steps.or(whole_steps).unwrap_or(0),
                invert: t.invert,
            };
            let ident = ident_of(m);
            entries.push(Entry { listen, shape, mode, effect, ident });
        }
        let state = vec![EntryState::default(); entries.len()];
        Ok(Self { entries, state })
    }

    /// Takes over the state of every mapping `old` also has: all of it when
    /// the two lists are the same, else by the `(new, old)` index pairs the
    /// adoption plan matched on the control side (`None`: no plan for this
    /// pair of schedules, nothing carries over).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn take_state(&mut self, old: &MappingTable, pairs: Option<&[(usize, usize)]>) {
        let same = old.entries.len() == self.entries.len() && old.entries.iter().zip(&self.entries).all(|(a, b)| a.ident == b.ident);
        if same {
            self.state.copy_from_slice(&old.state);
            return;
        }
        for &(n, o) in pairs.unwrap_or(&[]) {
            if let (Some(state), Some(&prev)) = (self.state.get_mut(n), old.state.get(o)) {
                *state = prev;
            }
        }
    }
}

/// A mapping's identity across recompiles and sessions: a hash of it as
/// saved (so the same mapping anywhere in the list is the same).
pub fn ident_of(m: &Mapping) -> u64 {
    osc_hash(&super::save::mapping(m).to_string())
}

/// What a message says to one mapping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reading {
    /// A position, 0 … 1.
    Position(f32),
    /// Relative encoder steps.
    Ticks(i32),
}

/// What `message` means to a mapping listening as `listen` in `mode`, or
/// `None` when it is not for it. Updates the 14-bit MSB in `state`.
/// Runs on the audio thread: no allocation, no locks.
pub(crate) fn read_midi(listen: Listen, mode: RunMode, message: [u8; 3], state: &mut EntryState) -> Option<Reading> {
    let (status, channel) = (message[0] & 0xf0, message[0] & 0x0f);
    let (d1, d2) = (message[1] & 0x7f, message[2] & 0x7f);
    match listen {
        Listen::Cc { channel: c, cc, lsb } if status == 0xb0 && channel == c => {
            if d1 == cc {
                if let RunMode::Relative(encoding) = mode {
                    return Some(Reading::Ticks(super::transform::relative_ticks(d2, encoding)));
                }
                match lsb {
                    None => Some(Reading::Position(d2 as f32 / 127.0)),
                    // The MIDI rule: a new MSB resets the LSB to 0.
                    Some(_) => {
                        state.msb = d2;
                        Some(Reading::Position(((d2 as u32) << 7) as f32 / 16383.0))
                    }
                }
            } else if lsb == Some(d1) {
                Some(Reading::Position((((state.msb as u32) << 7) | d2 as u32) as f32 / 16383.0))
            } else {
                None
            }
        }
        Listen::Note { channel: c, note, gate } if channel == c && d1 == note => match status {
            0x90 if d2 > 0 => Some(Reading::Position(if gate { 1.0 } else { d2 as f32 / 127.0 })),
            0x90 | 0x80 => Some(Reading::Position(0.0)),
            _ => None,
        },
        Listen::Bend { channel: c } if status == 0xe0 && channel == c => Some(Reading::Position((((d2 as u32) << 7) | d1 as u32) as f32 / 16383.0)),
        Listen::Pressure { channel: c } if status == 0xd0 && channel == c => Some(Reading::Position(d1 as f32 / 127.0)),
        _ => None,
    }
}

/// A message to the controller.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Feedback {
    Midi([u8; 3]),
    /// The OSC address (by hash) and its value, 0 … 1.
    Osc { hash: u64, value: f32 },
}

/// The feedback code for position `x` (0 … 1) on `listen`.
pub(crate) fn code_of(listen: Listen, x: f32) -> u32 {
    match listen {
        Listen::Cc { lsb: Some(_), .. } | Listen::Bend { .. } => super::transform::to_14bit(x) as u32,
        Listen::Cc { .. } | Listen::Note { .. } | Listen::Pressure { .. } => super::transform::to_7bit(x) as u32,
        Listen::Osc(_) => x.clamp(0.0, 1.0).to_bits(),
    }
}

/// Sends `code` to the controller as `listen` expects it.
pub(crate) fn emit(listen: Listen, code: u32, out: &mut dyn FnMut(Feedback)) {
    match listen {
        Listen::Cc { channel, cc, lsb: None } => out(Feedback::Midi([0xb0 | channel, cc, code as u8 & 0x7f])),
        Listen::Cc { channel, cc, lsb: Some(lsb) } => {
            out(Feedback::Midi([0xb0 | channel, cc, (code >> 7) as u8 & 0x7f]));
            out(Feedback::Midi([0xb0 | channel, lsb, code as u8 & 0x7f]));
        }
        Listen::Note { channel, note, .. } => {
            if code > 0 {
                out(Feedback::Midi([0x90 | channel, note, code as u8 & 0x7f]));
            } else {
                out(Feedback::Midi([0x80 | channel, note, 0]));
            }
        }
        Listen::Bend { channel } => out(Feedback::Midi([0xe0 | channel, code as u8 & 0x7f, (code >> 7) as u8 & 0x7f])),
        Listen::Pressure { channel } => out(Feedback::Midi([0xd0 | channel, code as u8 & 0x7f, 0])),
        Listen::Osc(hash) => out(Feedback::Osc { hash, value: f32::from_bits(code) }),
    }
}
