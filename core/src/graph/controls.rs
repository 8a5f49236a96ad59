//! Scenes, morphs, macros and host trims on the audio thread: what every controlled mix value should be now.
//!
//! Composition (docs/ARCHITECTURE.md §7), per controlled value:
//!
//! ```text
//! scene value  = the timeline's value where a `set` event holds one (until
//!                the next scene recall, docs/ARCHITECTURE.md §8.1), else the
//!                recalled scene's value (ramping during a transition),
//!                or, while scene_morph_a/b are set, A…B interpolated at scene_morph
//! value        = clamp(scene value + Σ macro offsets + host trim, range) × host scale
//! ```
//!
//! A scene transition moves the recalled values from where they stand to its
//! destination — a scene's row, or the values a pop returns to — by its
//! policy (docs/ARCHITECTURE.md §8): linearly (`instant`, `morph`), or with
//! levels on an equal-power curve (`crossfade`); switches flip half-way.
//!
//! Host trims exist for the ducker slots (depth trim in dB, mix as a scale);
//! bus faders, pans and mutes compose with the host's strip controls in
//! [`super::schedule::Strip`] instead, so a scene's level and the host's
//! fader trim stay separate there too; a scene's solos compose with the
//! host's in [`super::solo::SoloGraph`] (either solos). Bus and insert
//! bypasses, source gains and sends have no host control: the scene value
//! is the value (a bypass switch fades over 10 ms in the schedule).

use std::sync::atomic::{AtomicU32, Ordering};

use super::schedule::Schedule;
use crate::dsp::smoother::Smoother;
use crate::insert::{db_to_gain, gain_to_db, SILENCE_DB};
use crate::session::slots::MAX_DUCKER_SLOTS;
use crate::session::{Quantize, Scene, Transition, MAX_MACROS};
use crate::timeline::playback::Layer;

/// While a scene transition runs, controlled values move in steps of this
/// many samples (counted from the transition's start, so the result does not
/// depend on the host's block size); gains between steps are smoothed by the
/// strip's own 10 ms ramps.
pub const CONTROL_STEP: usize = 32;

/// Most scenes pushed at once ([`HostControl::Push`]); a push onto a full
/// stack is ignored.
pub const MAX_SCENE_STACK: usize = 8;

/// The host's scene, morph, macro and ducker controls (the plugin's
/// parameters of the same names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostControls {
    /// 0 = the session's own values, n = `scenes[n − 1]`.
    pub scene: usize,
    /// 0 = the current scene, n = `scenes[n − 1]`.
    pub morph_a: usize,
    pub morph_b: usize,
    /// 0 = A … 1 = B.
    pub morph: f32,
    /// 0 … 1 each.
    pub macros: [f32; MAX_MACROS],
    /// Depth trim in dB added to each ducker slot's depth.
    pub ducker_depth_db: [f32; MAX_DUCKER_SLOTS],
    /// Scale (0 … 1) of each ducker slot's mix.
    pub ducker_mix: [f32; MAX_DUCKER_SLOTS],
}

impl Default for HostControls {
    fn default() -> Self {
        Self {
            scene: 0,
            morph_a: 0,
            morph_b: 0,
            morph: 0.0,
            macros: [0.0; MAX_MACROS],
            ducker_depth_db: [0.0; MAX_DUCKER_SLOTS],
            ducker_mix: [1.0; MAX_DUCKER_SLOTS],
        }
    }
}

impl HostControls {
    /// Records one change, clamping values to their ranges. `Push` and
    /// `Pop` change no field: the scene stack lives in the engine.
    pub fn apply(&mut self, control: HostControl) {
        match control {
            HostControl::Scene(n) => self.scene = n,
            HostControl::Push(_) | HostControl::Pop => {}
            HostControl::MorphA(n) => self.morph_a = n,
            HostControl::MorphB(n) => self.morph_b = n,
            HostControl::Morph(x) => self.morph = x.clamp(0.0, 1.0),
            HostControl::Macro(i, x) => {
                if let Some(m) = self.macros.get_mut(i) {
                    *m = x.clamp(0.0, 1.0);
                }
            }
            HostControl::DuckerDepthDb(i, db) => {
                if let Some(d) = self.ducker_depth_db.get_mut(i) {
                    *d = db;
                }
            }
            HostControl::DuckerMix(i, x) => {
                if let Some(m) = self.ducker_mix.get_mut(i) {
                    *m = x.clamp(0.0, 1.0);
                }
            }
        }
    }
}

/// One change of a [`HostControls`] field, or a scene stack operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HostControl {
    /// Recall scene n (0 = the session's own values) with its transition,
    /// on its quantize boundary while the transport plays.
    Scene(usize),
    /// Push scene n as momentary: the recalled values as they stand (and
    /// which scene was current) are saved on the scene stack, then scene n
    /// comes in with its transition. Ignored when [`MAX_SCENE_STACK`]
    /// scenes are pushed already.
    Push(usize),
    /// Pop the last push: back to exactly the saved values, with the pushed
    /// scene's transition. Ignored with nothing pushed.
    Pop,
    MorphA(usize),
    MorphB(usize),
    Morph(f32),
    /// Macro index (0-based) and value.
    Macro(usize, f32),
    /// Ducker slot index (0-based) and depth trim in dB.
    DuckerDepthDb(usize, f32),
    /// Ducker slot index (0-based) and mix scale.
    DuckerMix(usize, f32),
}

/// Where a controlled value goes in the schedule (positions in processing order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Dest {
    BusGainDb(usize),
    BusPan(usize),
    BusMute(usize),
    /// The scene's solo of a bus (either it or the host's solo solos).
    BusSolo(usize),
    /// The bus's bypass (a 10 ms fade to silence and back).
    BusBypass(usize),
    /// Feed `feed` of bus `bus`, level in dB: a bus's or a source's send.
    SendDb { bus: usize, feed: usize },
    Insert { bus: usize, slot: usize, param: usize },
    /// An insert's bypass (a 10 ms crossfade to the dry path and back).
    InsertBypass { bus: usize, slot: usize },
    /// A source's gain in dB, by its index in the schedule's racks.
    SourceGainDb(usize),
}

/// One controlled value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub dest: Dest,
    pub min: f32,
    pub max: f32,
    pub stepped: bool,
    /// Negative values are tempo-synced notes: no offsets, no clamping,
    /// and no gliding between a note and milliseconds.
    pub time: bool,
}

impl Target {
    /// A level in dB (bus gain, send level, source gain): what a crossfade
    /// moves on its equal-power curve.
    fn is_level(&self) -> bool {
        matches!(self.dest, Dest::BusGainDb(_) | Dest::SendDb { .. } | Dest::SourceGainDb(_))
    }
}

/// How a transition moves continuous values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Every continuous value linearly in its own units (dB for levels).
    Linear,
    /// Levels keep the summed power of the two ends constant:
    /// g = √((1 − p)·a² + p·b²) in linear gain; other values linearly.
    EqualPower,
}

/// How the mix moves into one row (the session's own values or a scene).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SceneTiming {
    /// Transition length in samples.
    pub ramp_samples: u32,
    pub policy: Policy,
    pub quantize: Quantize,
}

impl SceneTiming {
    /// The timing of a transition, at `sample_rate`.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn of(transition: Transition, quantize: Quantize, sample_rate: f32) -> Self {
        let (ms, policy) = match transition {
            Transition::Instant => (super::compile::GAIN_RAMP_MS as f64, Policy::Linear),
            Transition::Morph { ms } => (ms, Policy::Linear),
            Transition::Crossfade { ms } => (ms, Policy::EqualPower),
        };
        Self { ramp_samples: Smoother::ramp_len(ms as f32, sample_rate), policy, quantize }
    }

    /// One timing per row: row 0 (the session's own values) comes in with
    /// the declick and the session's quantize, row n as scene n says.
    /// Control side.
    pub(crate) fn rows(scenes: &[Scene], session_quantize: Quantize, sample_rate: f32) -> Vec<Self> {
        std::iter::once(Self::of(Transition::Instant, session_quantize, sample_rate))
            .chain(scenes.iter().map(|s| Self::of(s.transition, s.quantize.unwrap_or(session_quantize), sample_rate)))
            .collect()
    }
}

/// One pushed scene: what a pop goes back to.
#[derive(Clone, Copy, Debug, Default)]
struct StackEntry {
    /// The scene current before the push.
    scene: usize,
    /// The scene pushed (its transition and quantize are the pop's).
    pushed: usize,
}

/// What the editor reads about scene recalls (atomics; the audio thread
/// writes them). See [`crate::engine::Engine::scene_status`].
#[derive(Debug, Default)]
pub struct SceneStatus {
    /// [`Armed`] packed by [`Armed::pack`]; 0 = nothing waiting.
    armed: AtomicU32,
    current: AtomicU32,
    depth: AtomicU32,
}

/// A scene action waiting for its quantize boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Armed {
    Scene(usize),
    Push(usize),
    Pop,
}

impl Armed {
    fn pack(armed: Option<Armed>) -> u32 {
        match armed {
            None => 0,
            Some(Armed::Scene(n)) => (1 << 16) | (n as u32 & 0xffff),
            Some(Armed::Push(n)) => (2 << 16) | (n as u32 & 0xffff),
            Some(Armed::Pop) => 3 << 16,
        }
    }

    fn unpack(bits: u32) -> Option<Armed> {
        let n = (bits & 0xffff) as usize;
        match bits >> 16 {
            1 => Some(Armed::Scene(n)),
            2 => Some(Armed::Push(n)),
            3 => Some(Armed::Pop),
            _ => None,
        }
    }
}

impl SceneStatus {
    /// The scene action waiting for its boundary, if any ("armed").
    pub fn armed(&self) -> Option<Armed> {
        Armed::unpack(self.armed.load(Ordering::Relaxed))
    }

    /// The scene recalled last (0 = the session's own values); during a
    /// push, the pushed scene.
    pub fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed) as usize
    }

    /// How many scenes are pushed.
    pub fn stack_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed) as usize
    }

    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set_armed(&self, armed: Option<Armed>) {
        self.armed.store(Armed::pack(armed), Ordering::Relaxed);
    }

    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set_scene(&self, current: usize, depth: usize) {
        self.current.store(current as u32, Ordering::Relaxed);
        self.depth.store(depth as u32, Ordering::Relaxed);
    }
}

/// One macro → target mapping.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MacroRoute {
    pub macro_idx: usize,
    pub target: usize,
    pub min: f32,
    pub max: f32,
    pub exponent: f32,
}

/// The audio-side state of scenes and macros. Every `Vec` is sized on the
/// control side and never resized.
pub(crate) struct Controls {
    targets: Vec<Target>,
    /// `[row][target]`: row 0 holds the session's values, row n scene n's.
    rows: Vec<f32>,
    /// Per row: how a transition into it runs.
    timing: Vec<SceneTiming>,
    /// For transitions given in ms at recall time.
    sample_rate: f32,
    macros: Vec<MacroRoute>,
    /// Per ducker slot: its (depth, mix) targets.
    duckers: [Option<(usize, usize)>; MAX_DUCKER_SLOTS],
    host: HostControls,
    /// `[target]`: the recalled scene's values as they stand now.
    recalled: Vec<f32>,
    /// `[target]`: where the running transition started.
    from: Vec<f32>,
    /// `[target]`: where the running transition goes.
    to: Vec<f32>,
    /// How the running transition moves.
    policy: Policy,
    /// Length of the running transition (0 = none) and samples done.
    ramp_len: u32,
    ramp_done: u32,
    /// `[entry][target]`, [`MAX_SCENE_STACK`] entries: the recalled values
    /// each push saved.
    stack_values: Vec<f32>,
    stack: [StackEntry; MAX_SCENE_STACK],
    /// Entries in use.
    depth: usize,
    /// `[target]`: macro offsets, recomputed on each evaluation.
    offsets: Vec<f32>,
    /// `[target]`: the value last applied to the schedule.
    applied: Vec<f32>,
    /// Values the timeline's `set` events hold in place of the recalled ones.
    timeline: Layer,
    dirty: bool,
}

impl Controls {
    /// Built by the compiler: `rows` holds `targets.len()` values per row,
    /// row 0 being what the schedule already runs; one `timing` per row.
    pub(crate) fn new(
        targets: Vec<Target>,
        rows: Vec<f32>,
        timing: Vec<SceneTiming>,
        sample_rate: f32,
        macros: Vec<MacroRoute>,
        duckers: [Option<(usize, usize)>; MAX_DUCKER_SLOTS],
    ) -> Self {
        let n = targets.len();
        debug_assert_eq!(rows.len(), n * timing.len());
        let session_values = rows[..n].to_vec();
        Self {
            targets,
            rows,
            timing,
            sample_rate,
            macros,
            duckers,
            host: HostControls::default(),
            recalled: session_values.clone(),
            from: session_values.clone(),
            to: session_values.clone(),
            policy: Policy::Linear,
            ramp_len: 0,
            ramp_done: 0,
            stack_values: vec![0.0; n * MAX_SCENE_STACK],
            stack: [StackEntry::default(); MAX_SCENE_STACK],
            depth: 0,
            offsets: vec![0.0; n],
            applied: session_values,
            timeline: Layer::new(n),
            dirty: false,
        }
    }

    /// Records that target `t` already holds `value` in the schedule (a
    /// running insert this schedule took over), so the next evaluation sets
    /// it only if it is to change.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn learn_applied(&mut self, t: usize, value: f32) {
        if let Some(applied) = self.applied.get_mut(t) {
            *applied = value;
        }
    }

    /// Which insert parameters are controlled values: `(bus, slot, param,
    /// target)` with buses in processing order. Control side.
    pub(crate) fn insert_targets(&self) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        self.targets.iter().enumerate().filter_map(|(t, target)| match target.dest {
            Dest::Insert { bus, slot, param } => Some((bus, slot, param, t)),
            _ => None,
        })
    }

    /// Where every controlled value goes. Control side.
    pub(crate) fn dests(&self) -> impl Iterator<Item = Dest> + '_ {
        self.targets.iter().map(|t| t.dest)
    }

    /// Number of scenes (rows after the session's).
    pub(crate) fn num_scenes(&self) -> usize {
        self.timing.len() - 1
    }

    /// Where a recall of scene `row` starts (its quantize); `None` for a
    /// scene this schedule does not have.
    pub(crate) fn quantize_of(&self, row: usize) -> Option<Quantize> {
        self.timing.get(row).map(|t| t.quantize)
    }

    /// Scenes pushed.
    pub(crate) fn stack_depth(&self) -> usize {
        self.depth
    }

    /// The scene pushed at stack level `level` (0 = the first push).
    pub(crate) fn pushed_scene(&self, level: usize) -> Option<usize> {
        self.stack[..self.depth].get(level).map(|e| e.pushed)
    }

    /// Applies a host control. A scene change starts the scene's transition
    /// from where the values stand (or `transition` in its place), unless
    /// `jump` (nothing has played yet). Scene numbers beyond the session's
    /// scenes are ignored, as are a push onto a full stack and a pop of an
    /// empty one.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set(&mut self, control: HostControl, jump: bool) {
        self.set_with(control, None, jump);
    }

    /// [`Self::set`], a scene recall taking `transition` in place of the
    /// scene's own when given.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set_with(&mut self, control: HostControl, transition: Option<Transition>, jump: bool) {
        let n = self.targets.len();
        match control {
            HostControl::Scene(row) => {
                if row == self.host.scene || row > self.num_scenes() {
                    return;
                }
                self.host.scene = row;
                self.release_timeline();
                self.to.copy_from_slice(&self.rows[row * n..(row + 1) * n]);
                let timing = match transition {
                    Some(t) => SceneTiming::of(t, Quantize::None, self.sample_rate),
                    None => self.timing[row],
                };
                self.begin(timing, jump);
            }
            HostControl::Push(row) => {
                if row > self.num_scenes() || self.depth == MAX_SCENE_STACK {
                    return;
                }
                let top = self.depth;
                self.release_timeline();
                self.stack[top] = StackEntry { scene: self.host.scene, pushed: row };
                self.stack_values[top * n..(top + 1) * n].copy_from_slice(&self.recalled);
                self.depth += 1;
                self.host.scene = row;
                self.to.copy_from_slice(&self.rows[row * n..(row + 1) * n]);
                self.begin(self.timing[row], jump);
            }
            HostControl::Pop => {
                let Some(top) = self.depth.checked_sub(1) else { return };
                self.release_timeline();
                self.depth = top;
                let entry = self.stack[top];
                self.host.scene = entry.scene;
                self.to.copy_from_slice(&self.stack_values[top * n..(top + 1) * n]);
                // Back with the pushed scene's transition.
                let timing = self.timing.get(entry.pushed).copied().unwrap_or(self.timing[0]);
                self.begin(timing, jump);
            }
            other => {
                self.host.apply(other);
                self.dirty = true;
            }
        }
    }

    /// Takes over every host control at once with no transition (a new
    /// schedule picking up where the host stands).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set_all(&mut self, host: &HostControls) {
        let scene = if host.scene <= self.num_scenes() { host.scene } else { 0 };
        self.host = HostControls { scene, ..*host };
        let n = self.targets.len();
        self.to.copy_from_slice(&self.rows[scene * n..(scene + 1) * n]);
        self.begin(self.timing[scene], true);
        self.dirty = true;
    }

    /// Takes over the scene stack of the schedule this one replaces: the
    /// same scene numbers; the saved values themselves when both schedules
    /// control the same values, else the saved scene's values in this
    /// schedule (a pop then returns to that scene as edited).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn take_stack(&mut self, old: &Controls) {
        let n = self.targets.len();
        let same = old.targets.len() == n && old.targets.iter().zip(&self.targets).all(|(a, b)| a.dest == b.dest);
        self.depth = 0;
        for (k, entry) in old.stack[..old.depth].iter().enumerate() {
            let scene = if entry.scene <= self.num_scenes() { entry.scene } else { 0 };
            let pushed = if entry.pushed <= self.num_scenes() { entry.pushed } else { 0 };
            self.stack[k] = StackEntry { scene, pushed };
            let values = &mut self.stack_values[k * n..(k + 1) * n];
            if same {
                values.copy_from_slice(&old.stack_values[k * n..(k + 1) * n]);
            } else {
                values.copy_from_slice(&self.rows[scene * n..(scene + 1) * n]);
            }
            self.depth = k + 1;
        }
    }

    pub(crate) fn host(&self) -> &HostControls {
        &self.host
    }

    /// A timeline `set` event: target `t` moves from where it stands to
    /// `value` over `ramp` samples and holds there until the next scene
    /// recall, push or pop.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set_timeline(&mut self, t: usize, value: f32, ramp: u32) {
        let Some(target) = self.targets.get(t) else { return };
        let from = self.timeline.get(t).unwrap_or(self.recalled[t]);
        self.timeline.set(t, target, from, value, ramp);
        self.dirty = true;
    }

    /// The scene-layer value of target `t` a mapping moves and shows: where
    /// the timeline layer's value is going, else the recalled scene's value
    /// as it stands (macros and host trims are not in it).
    pub(crate) fn standing(&self, t: usize) -> f32 {
        self.timeline.destination(t).unwrap_or_else(|| self.recalled.get(t).copied().unwrap_or(0.0))
    }

    /// A scene recall takes over from the timeline: the values it holds
    /// become the recalled ones (where a transition starts, what a push
    /// saves), and it lets go of them.
    /// Runs on the audio thread: no allocation, no locks.
    fn release_timeline(&mut self) {
        for (t, recalled) in self.recalled.iter_mut().enumerate() {
            if let Some(v) = self.timeline.get(t) {
                *recalled = v;
            }
        }
        self.timeline.release_all();
    }

    /// Takes over the values the timeline holds in the schedule this one
    /// replaces, for every value both control (matched by destination).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn take_timeline(&mut self, old: &Controls) {
        for (t, target) in self.targets.iter().enumerate() {
            let held = old.targets.iter().position(|o| o.dest == target.dest).and_then(|o| old.timeline.ramp_state(o));
            // A running ramp (a timeline `set` or a mapped move's smoothing)
            // goes on from where it stands to where it was going.
            if let Some((value, to, left)) = held {
                self.timeline.set(t, target, value, to, left);
                self.dirty = true;
            }
        }
    }

    /// Takes over the running transition of `old`, the schedule this one
    /// replaces, when both control the same values in the same order (the
    /// adoption plan's `same_controls`): where it started, how far it is and
    /// how it moves, the recalled values as they stand, and the timeline's
    /// held values and ramps — so a recompile mid-transition changes no
    /// sample. A transition heading for the current scene's row heads for
    /// this schedule's row (an edit of that scene lands); one heading
    /// elsewhere (a pop) keeps its destination. Call after [`Self::set_all`]
    /// with the same host controls; another scene than `old`'s keeps what
    /// `set_all` did.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn take_transition(&mut self, old: &Controls) {
        let n = self.targets.len();
        let scene = self.host.scene;
        if old.targets.len() != n || old.host.scene != scene {
            return;
        }
        let to_row = old.rows.get(scene * n..(scene + 1) * n).is_some_and(|row| row == &old.to[..]);
        if !to_row {
            self.to.copy_from_slice(&old.to);
        }
        self.from.copy_from_slice(&old.from);
        self.policy = old.policy;
        self.ramp_len = old.ramp_len;
        self.ramp_done = old.ramp_done;
        if self.ramp_len == 0 {
            self.recalled.copy_from_slice(&self.to);
        } else {
            self.recalled.copy_from_slice(&old.recalled);
        }
        self.timeline.copy_from(&old.timeline);
        self.dirty = true;
    }

    /// Starts a transition from the recalled values to `self.to`.
    /// Runs on the audio thread: no allocation, no locks.
    fn begin(&mut self, timing: SceneTiming, jump: bool) {
        self.ramp_done = 0;
        self.policy = timing.policy;
        self.ramp_len = if jump { 0 } else { timing.ramp_samples };
        if self.ramp_len == 0 {
            self.recalled.copy_from_slice(&self.to);
        } else {
            self.from.copy_from_slice(&self.recalled);
            self.step_values();
        }
        self.dirty = true;
    }

    /// Sets the recalled values to where the transition stands at the end
    /// of the control step that starts now, so the strip's ramps glide
    /// towards them during the step (the first step moves on the
    /// transition's first sample). The last step lands on the destination
    /// exactly, so a pop returns bit for bit to what was saved.
    /// Runs on the audio thread: no allocation, no locks.
    fn step_values(&mut self) {
        let end = (self.ramp_done as usize + CONTROL_STEP).min(self.ramp_len as usize);
        if end == self.ramp_len as usize {
            self.recalled.copy_from_slice(&self.to);
            return;
        }
        let p = end as f32 / self.ramp_len as f32;
        for t in 0..self.targets.len() {
            self.recalled[t] = blend(&self.targets[t], self.from[t], self.to[t], p, self.policy);
        }
    }

    /// Samples until the values must be re-evaluated: the rest of the
    /// current control step while a transition or a timeline ramp runs,
    /// else unbounded.
    pub(crate) fn frames_to_next_step(&self) -> usize {
        let scene = if self.ramp_len == 0 { usize::MAX } else { CONTROL_STEP - self.ramp_done as usize % CONTROL_STEP };
        scene.min(self.timeline.frames_to_next_step())
    }

    /// Moves a running transition on by `frames` (which never cross a
    /// control step, see [`Self::frames_to_next_step`]).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn advance(&mut self, frames: usize) {
        if self.timeline.advance(frames) {
            self.dirty = true;
        }
        if self.ramp_len == 0 {
            return;
        }
        self.ramp_done = self.ramp_done.saturating_add(frames as u32).min(self.ramp_len);
        if self.ramp_done >= self.ramp_len {
            self.ramp_len = 0;
            return;
        }
        if self.ramp_done as usize % CONTROL_STEP == 0 {
            self.step_values();
            self.dirty = true;
        }
    }

    /// Writes every controlled value that changed since the last call into
    /// the schedule through `apply`.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn evaluate(&mut self, apply: &mut dyn FnMut(Dest, f32)) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.offsets.fill(0.0);
        for m in &self.macros {
            let x = self.host.macros[m.macro_idx];
            self.offsets[m.target] += m.min + (m.max - m.min) * x.powf(m.exponent);
        }
        let scenes = self.num_scenes();
        let pick = |n: usize| if n == 0 || n > scenes { None } else { Some(n) };
        let (a_row, b_row) = (pick(self.host.morph_a), pick(self.host.morph_b));
        let n = self.targets.len();
        for t in 0..n {
            let target = &self.targets[t];
            let current = self.timeline.get(t).unwrap_or(self.recalled[t]);
            let a = a_row.map_or(current, |r| self.rows[r * n + t]);
            let b = b_row.map_or(current, |r| self.rows[r * n + t]);
            let mut value = blend(target, a, b, self.host.morph, Policy::Linear);
            if !(target.time && value < 0.0) {
                value += self.offsets[t];
                for (k, slot) in self.duckers.iter().enumerate() {
                    match *slot {
                        Some((depth, _)) if depth == t => value += self.host.ducker_depth_db[k],
                        _ => {}
                    }
                }
                value = value.clamp(target.min, target.max);
                for (k, slot) in self.duckers.iter().enumerate() {
                    match *slot {
                        Some((_, mix)) if mix == t => value *= self.host.ducker_mix[k],
                        _ => {}
                    }
                }
                if target.stepped {
                    value = value.round();
                }
            }
            if value != self.applied[t] {
                self.applied[t] = value;
                apply(target.dest, value);
            }
        }
    }
}

/// The value `p` of the way from `a` to `b`: a switch half-way for stepped
/// values and between a note and milliseconds; levels on the equal-power
/// curve under [`Policy::EqualPower`]; linear otherwise.
fn blend(target: &Target, a: f32, b: f32, p: f32, policy: Policy) -> f32 {
    if target.stepped || (target.time && (a < 0.0) != (b < 0.0)) {
        if p < 0.5 {
            a
        } else {
            b
        }
    } else if policy == Policy::EqualPower && target.is_level() {
        let (ga, gb, p) = (db_to_gain(a as f64), db_to_gain(b as f64), p as f64);
        let g = ((1.0 - p) * ga * ga + p * gb * gb).sqrt();
        gain_to_db(g).max(SILENCE_DB) as f32
    } else {
        a + (b - a) * p
    }
}

impl Schedule {
    /// Applies a host scene, morph, macro or ducker control from the next
    /// processed sample on.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_control(&mut self, control: HostControl, jump: bool) {
        self.controls.set(control, jump);
    }

    /// [`Self::set_control`], a scene recall (`HostControl::Scene`) taking
    /// `transition` in place of the scene's own.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_control_with(&mut self, control: HostControl, transition: Option<Transition>, jump: bool) {
        self.controls.set_with(control, transition, jump);
    }

    /// Where a recall of scene `n` starts, or `None` for a scene this
    /// schedule does not have.
    pub fn scene_quantize(&self, n: usize) -> Option<Quantize> {
        self.controls.quantize_of(n)
    }

    /// Scenes pushed (at most [`MAX_SCENE_STACK`]).
    pub fn stack_depth(&self) -> usize {
        self.controls.stack_depth()
    }

    /// The scene pushed at stack level `level` (0 = the first push).
    pub fn pushed_scene(&self, level: usize) -> Option<usize> {
        self.controls.pushed_scene(level)
    }

    /// Takes over the scene stack of `old`, the schedule this one replaces.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn take_scene_stack(&mut self, old: &Schedule) {
        self.controls.take_stack(&old.controls);
    }

    /// Takes over all host controls with no transition.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_all_controls(&mut self, host: &HostControls) {
        self.controls.set_all(host);
    }

    /// Goes on with what `old` (the schedule this one adopted, see
    /// [`Schedule::adopt`]) was doing, once [`Self::set_all_controls`],
    /// the scene stack and the timeline are taken over: a running scene
    /// transition and the timeline's ramps when both control the same
    /// values in the same order (else they stay as `set_all_controls` left
    /// them); then the controlled values are applied, and every carried
    /// gain ramp (strip, feed, source) whose target did not change goes on
    /// exactly where it stood rather than starting over.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn continue_running(&mut self, old: &Schedule) {
        // `adopt` hands its plan back with the old schedule.
        let plan = &old.plan;
        if plan.from != Some(old.generation) {
            return;
        }
        if plan.same_controls {
            self.controls.take_transition(&old.controls);
        }
        self.update_controls();
        for &(n, o) in &plan.racks {
            self.racks[n].gain.resume(&old.racks[o].gain);
        }
        for bp in &plan.buses {
            let (bus, prev) = (&mut self.buses[bp.new], &old.buses[bp.old]);
            for (g, p) in bus.out_gain.iter_mut().zip(&prev.out_gain) {
                g.resume(p);
            }
            for &(n, o) in &bp.feeds {
                bus.feeds[n].gain.resume(&prev.feeds[o].gain);
            }
            for ip in bp.inserts.iter().filter(|ip| ip.key) {
                if let (Some((feed, _)), Some((pfeed, _))) = (&mut bus.inserts[ip.new].key, &prev.inserts[ip.old].key) {
                    feed.gain.resume(&pfeed.gain);
                }
            }
        }
    }

    /// The host controls as this schedule last received them.
    pub fn host_controls(&self) -> &HostControls {
        self.controls.host()
    }

    /// Writes changed controlled values into buses, sends, sources and
    /// inserts; solos changed on the way are resolved once at the end.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn update_controls(&mut self) {
        let (controls, buses, racks, solo, order) = (&mut self.controls, &mut self.buses, &mut self.racks, &mut self.solo, &self.bus_order);
        let mut solo_changed = false;
        controls.evaluate(&mut |dest, value| match dest {
            Dest::BusGainDb(b) => {
                buses[b].strip.level = db_to_gain(value as f64) as f32;
                buses[b].retarget();
            }
            Dest::BusPan(b) => {
                buses[b].strip.session_pan = value;
                buses[b].retarget();
            }
            Dest::BusMute(b) => {
                buses[b].strip.session_mute = value >= 0.5;
                buses[b].retarget();
            }
            Dest::BusSolo(b) => {
                solo.set_session_solo(order[b], value >= 0.5);
                solo_changed = true;
            }
            Dest::BusBypass(b) => buses[b].set_bypass(value >= 0.5),
            Dest::SendDb { bus, feed } => buses[bus].feeds[feed].gain.set_target(db_to_gain(value as f64) as f32),
            Dest::Insert { bus, slot, param } => {
                let slot = &mut buses[bus].inserts[slot];
                slot.insert.set_param(param, value);
                slot.params[param] = value;
            }
            Dest::InsertBypass { bus, slot } => buses[bus].inserts[slot].set_bypass(value >= 0.5),
            Dest::SourceGainDb(r) => {
                let rack = &mut racks[r];
                rack.level = db_to_gain(value as f64) as f32;
                rack.gain.set_target(if rack.audible { rack.level } else { 0.0 });
            }
        });
        if solo_changed {
            self.resolve_solo();
        }
    }
}
