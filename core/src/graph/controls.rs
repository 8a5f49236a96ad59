//! Scenes, morphs, macros and host trims on the audio thread: what every controlled mix value should be now.
//!
//! Composition (docs/ARCHITECTURE.md §7), per controlled value:
//!
//! ```text
//! scene value  = the recalled scene's value (ramping during a transition),
//!                or, while scene_morph_a/b are set, A…B interpolated at scene_morph
//! value        = clamp(scene value + Σ macro offsets + host trim, range) × host scale
//! ```
//!
//! Host trims exist for the ducker slots (depth trim in dB, mix as a scale);
//! bus faders, pans and mutes compose with the host's strip controls in
//! [`super::schedule::Strip`] instead, so a scene's level and the host's
//! fader trim stay separate there too.

use super::schedule::Schedule;
use crate::insert::db_to_gain;
use crate::session::slots::MAX_DUCKER_SLOTS;
use crate::session::MAX_MACROS;

/// While a scene transition runs, controlled values move in steps of this
/// many samples (counted from the transition's start, so the result does not
/// depend on the host's block size); gains between steps are smoothed by the
/// strip's own 10 ms ramps.
pub const CONTROL_STEP: usize = 32;

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
    /// Records one change, clamping values to their ranges.
    pub fn apply(&mut self, control: HostControl) {
        match control {
            HostControl::Scene(n) => self.scene = n,
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

/// One change of a [`HostControls`] field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HostControl {
    Scene(usize),
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
    /// Feed `feed` of bus `bus`, level in dB.
    SendDb { bus: usize, feed: usize },
    Insert { bus: usize, slot: usize, param: usize },
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
    /// Transition length into each row, in samples.
    ramp_samples: Vec<u32>,
    macros: Vec<MacroRoute>,
    /// Per ducker slot: its (depth, mix) targets.
    duckers: [Option<(usize, usize)>; MAX_DUCKER_SLOTS],
    host: HostControls,
    /// `[target]`: the recalled scene's values as they stand now.
    recalled: Vec<f32>,
    /// `[target]`: where the running transition started.
    from: Vec<f32>,
    /// Row the running transition goes to.
    to_row: usize,
    /// Length of the running transition (0 = none) and samples done.
    ramp_len: u32,
    ramp_done: u32,
    /// `[target]`: macro offsets, recomputed on each evaluation.
    offsets: Vec<f32>,
    /// `[target]`: the value last applied to the schedule.
    applied: Vec<f32>,
    dirty: bool,
}

impl Controls {
    /// Built by the compiler: `rows` holds `targets.len()` values per row,
    /// row 0 being what the schedule already runs.
    pub(crate) fn new(
        targets: Vec<Target>,
        rows: Vec<f32>,
        ramp_samples: Vec<u32>,
        macros: Vec<MacroRoute>,
        duckers: [Option<(usize, usize)>; MAX_DUCKER_SLOTS],
    ) -> Self {
        let n = targets.len();
        debug_assert_eq!(rows.len(), n * ramp_samples.len());
        let session_values = rows[..n].to_vec();
        Self {
            targets,
            rows,
            ramp_samples,
            macros,
            duckers,
            host: HostControls::default(),
            recalled: session_values.clone(),
            from: session_values.clone(),
            to_row: 0,
            ramp_len: 0,
            ramp_done: 0,
            offsets: vec![0.0; n],
            applied: session_values,
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

    /// Number of scenes (rows after the session's).
    pub(crate) fn num_scenes(&self) -> usize {
        self.ramp_samples.len() - 1
    }

    /// Applies a host control. A scene change starts the scene's transition
    /// from where the values stand, unless `jump` (nothing has played yet).
    /// Scene numbers beyond the session's scenes are ignored.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set(&mut self, control: HostControl, jump: bool) {
        if let HostControl::Scene(n) = control {
            if n == self.host.scene || n > self.num_scenes() {
                return;
            }
            self.host.scene = n;
            self.start_transition(n, jump);
            return;
        }
        self.host.apply(control);
        self.dirty = true;
    }

    /// Takes over every host control at once with no transition (a new
    /// schedule picking up where the host stands).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set_all(&mut self, host: &HostControls) {
        let scene = if host.scene <= self.num_scenes() { host.scene } else { 0 };
        self.host = HostControls { scene, ..*host };
        self.start_transition(scene, true);
        self.dirty = true;
    }

    pub(crate) fn host(&self) -> &HostControls {
        &self.host
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn start_transition(&mut self, row: usize, jump: bool) {
        self.to_row = row;
        self.ramp_done = 0;
        self.ramp_len = if jump { 0 } else { self.ramp_samples[row] };
        if self.ramp_len == 0 {
            let n = self.targets.len();
            self.recalled.copy_from_slice(&self.rows[row * n..(row + 1) * n]);
        } else {
            self.from.copy_from_slice(&self.recalled);
            self.step_values();
        }
        self.dirty = true;
    }

    /// Sets the recalled values to where the transition stands at the end
    /// of the control step that starts now, so the strip's ramps glide
    /// towards them during the step (the first step moves on the
    /// transition's first sample).
    /// Runs on the audio thread: no allocation, no locks.
    fn step_values(&mut self) {
        let end = (self.ramp_done as usize + CONTROL_STEP).min(self.ramp_len as usize);
        let p = end as f32 / self.ramp_len as f32;
        let n = self.targets.len();
        for t in 0..n {
            let to = self.rows[self.to_row * n + t];
            self.recalled[t] = blend(&self.targets[t], self.from[t], to, p);
        }
    }

    /// Samples until the values must be re-evaluated: the rest of the
    /// current control step while a transition runs, else unbounded.
    pub(crate) fn frames_to_next_step(&self) -> usize {
        if self.ramp_len == 0 {
            usize::MAX
        } else {
            CONTROL_STEP - self.ramp_done as usize % CONTROL_STEP
        }
    }

    /// Moves a running transition on by `frames` (which never cross a
    /// control step, see [`Self::frames_to_next_step`]).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn advance(&mut self, frames: usize) {
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
            let current = self.recalled[t];
            let a = a_row.map_or(current, |r| self.rows[r * n + t]);
            let b = b_row.map_or(current, |r| self.rows[r * n + t]);
            let mut value = blend(target, a, b, self.host.morph);
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

/// The value `p` of the way from `a` to `b`: linear for continuous values,
/// a switch half-way for stepped ones and between a note and milliseconds.
fn blend(target: &Target, a: f32, b: f32, p: f32) -> f32 {
    if target.stepped || (target.time && (a < 0.0) != (b < 0.0)) {
        if p < 0.5 {
            a
        } else {
            b
        }
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

    /// Takes over all host controls with no transition.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_all_controls(&mut self, host: &HostControls) {
        self.controls.set_all(host);
    }

    /// The host controls as this schedule last received them.
    pub fn host_controls(&self) -> &HostControls {
        self.controls.host()
    }

    /// Writes changed controlled values into buses, sends and inserts.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn update_controls(&mut self) {
        let (controls, buses) = (&mut self.controls, &mut self.buses);
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
            Dest::SendDb { bus, feed } => buses[bus].feeds[feed].gain.set_target(db_to_gain(value as f64) as f32),
            Dest::Insert { bus, slot, param } => {
                let slot = &mut buses[bus].inserts[slot];
                slot.insert.set_param(param, value);
                slot.params[param] = value;
            }
        });
    }
}
