//! Controller mappings on the audio thread (docs/ARCHITECTURE.md §8.3):
//! MIDI and OSC messages through the compiled mappings into the mix, the
//! log of what they did (for the plugin's recorder), and feedback to the
//! controller.

use super::AudioProcessor;
use crate::graph::controls::HostControl;
use crate::mapping::runtime::{code_of, emit, read_midi, Effect, Entry, Feedback, Listen, Reading, RunMode};
use crate::mapping::{ControllerInput, Seen};

/// Mapped moves logged per host block (more are counted as lost).
pub const MAX_MAPPED: usize = 128;

/// What a mapping did, at a frame of the current host block (frames since
/// the last [`AudioProcessor::set_transport`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mapped {
    pub frame: u64,
    pub event: MappedEvent,
}

impl Mapped {
    pub(crate) const NONE: Mapped = Mapped { frame: 0, event: MappedEvent::Pop };
}

/// One logged mapped move. Scene actions are logged on the sample they
/// start (after any quantize wait).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MappedEvent {
    /// Mapping number `mapping` (index into the session's `mappings`) set
    /// its path (or bus switch) to `value`, in audio-thread units.
    Set { mapping: usize, value: f32 },
    /// Macro `index` (0-based) to `value`.
    Macro { index: usize, value: f32 },
    Scene(usize),
    Push(usize),
    Pop,
    /// A `record` / `play` action: the plugin flips its recorder or playback.
    Record,
    Play,
}

impl AudioProcessor {
    /// A controller message, applied from the next processed sample on
    /// through every mapping that listens to it (split the block at the
    /// message's sample for sample accuracy). Returns whether any mapping
    /// took it. MIDI that moves (CC, note on, pitch bend, pressure) is also
    /// shown to learn ([`super::Engine::input_monitor`]).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn controller(&mut self, input: ControllerInput) -> bool {
        if let ControllerInput::Midi(data) = input {
            if let Some(seen) = Seen::of(data) {
                self.monitor.saw(seen);
            }
        }
        let mut taken = false;
        for i in 0..self.schedule.mappings.entries.len() {
            let entry = self.schedule.mappings.entries[i];
            let state = &mut self.schedule.mappings.state[i];
            let reading = match (input, entry.listen) {
                (ControllerInput::Midi(data), listen) => read_midi(listen, entry.mode, data, state),
                (ControllerInput::Osc { hash, value }, Listen::Osc(h)) if h == hash => {
                    if value.is_finite() {
                        Some(Reading::Position(value.clamp(0.0, 1.0)))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            let Some(reading) = reading else { continue };
            taken = true;
            self.apply_mapping(i, entry, reading);
            // A fader, knob or encoder shows where it was just put: no echo.
            // A pad's own light is ours to set (the state it toggled or the
            // scene it started), so it gets feedback.
            let positional = matches!(entry.mode, RunMode::Absolute | RunMode::Relative(_)) && matches!(entry.effect, Effect::Value { .. } | Effect::Macro(_));
            if positional {
                let shown = self.feedback_code(&entry);
                self.schedule.mappings.state[i].shown = shown;
            }
        }
        taken
    }

    /// Sends the controller every mapped value that changed from anywhere
    /// but the controller (scene recalls, host automation, timeline, other
    /// mappings, edits) since it last showed it.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn feedback(&mut self, out: &mut dyn FnMut(Feedback)) {
        for i in 0..self.schedule.mappings.entries.len() {
            let entry = self.schedule.mappings.entries[i];
            let Some(code) = self.feedback_code(&entry) else { continue };
            let state = &mut self.schedule.mappings.state[i];
            if state.shown != Some(code) {
                state.shown = Some(code);
                emit(entry.listen, code, out);
            }
        }
    }

    /// What mappings did since the last `set_transport` (at most
    /// [`MAX_MAPPED`]; see [`Self::mapped_lost`]).
    pub fn mapped_moves(&self) -> &[Mapped] {
        &self.mapped[..self.mapped_len]
    }

    /// Shows MIDI inputs to `monitor` from now on instead of the engine's
    /// own (a plugin keeps one monitor across activations for its editor).
    /// Control side, before the audio thread runs.
    pub fn share_input_monitor(&mut self, monitor: std::sync::Arc<crate::mapping::InputMonitor>) {
        self.monitor = monitor;
    }

    /// The identity ([`crate::mapping::runtime::ident_of`]) of mapping
    /// number `index` of the running session, for naming a logged move
    /// even if the list changes before it is read.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn mapping_ident(&self, index: usize) -> Option<u64> {
        self.schedule.mappings.entries.get(index).map(|e| e.ident)
    }

    /// Mapped moves that did not fit the log.
    pub fn mapped_lost(&self) -> u64 {
        self.mapped_lost
    }

    /// Runs on the audio thread: no allocation, no locks.
    pub(super) fn log_mapped(&mut self, event: MappedEvent) {
        if self.mapped_len < MAX_MAPPED {
            self.mapped[self.mapped_len] = Mapped { frame: self.transport_frames, event };
            self.mapped_len += 1;
        } else {
            self.mapped_lost += 1;
        }
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn apply_mapping(&mut self, index: usize, entry: Entry, reading: Reading) {
        let state = &mut self.schedule.mappings.state[index];
        let was = state.pressed;
        if let Reading::Position(x) = reading {
            // A note is held from its note on, however soft, to its note
            // off (a pad hit at velocity 30 still presses); other inputs
            // from half their travel.
            state.pressed = if matches!(entry.listen, Listen::Note { .. }) { x > 0.0 } else { x >= 0.5 };
        }
        let (press, release) = (!was && state.pressed, was && !state.pressed);
        let shape = entry.shape;
        // The value a continuous or switched target moves to, if any.
        let current = self.standing(&entry);
        let value = match (entry.mode, reading) {
            (RunMode::Absolute, Reading::Position(x)) => Some(shape.forward(x)),
            (RunMode::Relative(_), Reading::Ticks(n)) => current.map(|c| shape.step_from(c, n)),
            (RunMode::Toggle, _) if press => current.map(|c| if shape.is_on(c) { shape.min } else { shape.max }),
            (RunMode::Momentary, _) if press => Some(shape.max),
            (RunMode::Momentary, _) if release => Some(shape.min),
            _ => None,
        };
        match entry.effect {
            Effect::Value { t, ramp, whole } => {
                if let Some(v) = value {
                    let v = if whole { v.round() } else { v };
                    self.schedule.set_timeline_value(t, v, ramp);
                    self.log_mapped(MappedEvent::Set { mapping: index, value: v });
                }
            }
            Effect::Macro(i) => {
                if let Some(v) = value {
                    let v = v.clamp(0.0, 1.0);
                    self.set_control(HostControl::Macro(i, v));
                    self.log_mapped(MappedEvent::Macro { index: i, value: v });
                }
            }
            Effect::Scene(n) if press => self.request_scene(HostControl::Scene(n), None, true),
            Effect::SceneNext | Effect::ScenePrev if press => {
                let base = self.scene_queue.as_slice().iter().rev().find_map(|r| match r.action {
                    HostControl::Scene(n) => Some(n),
                    _ => None,
                });
                let base = base.unwrap_or(self.host_controls.scene);
                let scenes = self.schedule.controls.num_scenes();
                let n = if entry.effect == Effect::SceneNext { (base + 1).min(scenes) } else { base.saturating_sub(1) };
                self.request_scene(HostControl::Scene(n), None, true);
            }
            Effect::Push(n) => match entry.mode {
                RunMode::Momentary if release => self.request_scene(HostControl::Pop, None, true),
                RunMode::Toggle if press => {
                    // Latched only while something is pushed (or waiting
                    // to be): a pop from elsewhere — the host, the
                    // timeline, another pad — lets go, so the next press
                    // pushes instead of popping an empty stack.
                    let held = self.projected_stack().0 > 0;
                    let state = &mut self.schedule.mappings.state[index];
                    state.latched = !(state.latched && held);
                    let action = if state.latched { HostControl::Push(n) } else { HostControl::Pop };
                    self.request_scene(action, None, true);
                }
                _ if press => self.request_scene(HostControl::Push(n), None, true),
                _ => {}
            },
            Effect::Pop if press => self.request_scene(HostControl::Pop, None, true),
            Effect::Record if press || (entry.mode == RunMode::Momentary && release) => self.log_mapped(MappedEvent::Record),
            Effect::Play if press || (entry.mode == RunMode::Momentary && release) => self.log_mapped(MappedEvent::Play),
            _ => {}
        }
    }

    /// The value a value or macro mapping moves, as it stands.
    fn standing(&self, entry: &Entry) -> Option<f32> {
        match entry.effect {
            Effect::Value { t, .. } => Some(self.schedule.controls.standing(t)),
            Effect::Macro(i) => self.host_controls.macros.get(i).copied(),
            _ => None,
        }
    }

    /// What the controller should show for `entry` now, or `None` for
    /// mappings with nothing to show (scene next/prev, pop, record, play).
    fn feedback_code(&self, entry: &Entry) -> Option<u32> {
        let x = match entry.effect {
            Effect::Value { .. } | Effect::Macro(_) => {
                let v = self.standing(entry)?;
                match entry.mode {
                    RunMode::Toggle | RunMode::Momentary => entry.shape.is_on(v) as u8 as f32,
                    _ => entry.shape.inverse(v),
                }
            }
            Effect::Scene(n) => (self.host_controls.scene == n) as u8 as f32,
            Effect::Push(n) => (self.host_controls.scene == n && self.schedule.stack_depth() > 0) as u8 as f32,
            _ => return None,
        };
        Some(code_of(entry.listen, x))
    }
}
