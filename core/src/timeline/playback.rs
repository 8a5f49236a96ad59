//! The timeline on the audio thread: every lane's events merged into one list of cues on the control side, walked by a cursor of indices; and the timeline layer of controlled values.
//!
//! Order of cues: by sample; at the same sample `set` and `macro` before
//! `scene`, `push` and `pop` ([`Action::rank`]); otherwise as in the file
//! (lane by lane, then event by event). Nothing here allocates after
//! [`Playback::compile`] and [`Layer::new`].

use super::{Action, Policy, Timeline, DEFAULT_RAMP_MS};
use crate::dsp::smoother::Smoother;
use crate::graph::controls::{Target, CONTROL_STEP};
use crate::graph::schedule::Schedule;
use crate::session::{path, Session, Transition};

/// What a cue does when the playhead reaches it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum CueAction {
    /// Controlled value `target` moves to `value` (audio-thread units)
    /// over `ramp_samples`.
    Set { target: usize, value: f32, ramp_samples: u32 },
    /// Recall scene `scene` (0 = the session's values), with `transition`
    /// in place of the scene's own when given.
    Scene { scene: usize, transition: Option<Transition> },
    Push(usize),
    Pop,
    /// Macro index (0-based) and value.
    Macro { index: usize, value: f32 },
}

/// One event, resolved and placed on the sample it fires at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cue {
    /// Sample at the rate the schedule runs.
    pub t: u64,
    pub action: CueAction,
}

/// A timeline compiled for one schedule: its cues in firing order and the
/// playhead walking them.
#[derive(Debug, Default)]
pub struct Playback {
    /// In firing order; sized on the control side, never resized.
    cues: Vec<Cue>,
    /// Index of the first cue not yet fired.
    next: usize,
    /// Timeline sample of the next frame to be processed (negative in a
    /// host's pre-roll).
    position: i64,
    /// Whether the playhead moves (the transport plays).
    playing: bool,
}

impl Playback {
    /// Resolves every event of `timeline` against `session` and orders them
    /// for playing at `sample_rate`; `target_of` gives the controlled value
    /// (index of the schedule's [`Target`]) a resolved `set` path moves,
    /// adding it if the scenes and macros do not already control it.
    /// Allocates; control side only. The playhead stands stopped at 0.
    ///
    /// An event the session cannot play (a timeline loaded against another
    /// version of it: a bus since removed, a scene or macro fewer) is left
    /// out and reported through `warn`, so a session edit never fails
    /// because of the timeline; [`super::load_str`] refuses such events
    /// up front.
    pub(crate) fn compile(
        timeline: &Timeline,
        session: &Session,
        sample_rate: f32,
        target_of: &mut dyn FnMut(path::Resolved) -> usize,
        warn: &mut dyn FnMut(String),
    ) -> Self {
        let rate = sample_rate.round() as u32;
        let mut cues = Vec::with_capacity(timeline.num_events());
        let mut ranks = Vec::with_capacity(timeline.num_events());
        for (i, lane) in timeline.lanes.iter().enumerate() {
            for (j, event) in lane.events.iter().enumerate() {
                match cue_action(&event.action, session, sample_rate, target_of) {
                    Ok(action) => {
                        cues.push(Cue { t: timeline.sample_at(event.t, rate), action });
                        ranks.push(event.action.rank());
                    }
                    Err(e) => warn(format!("timeline lanes[{i}].events[{j}] left out: {e}")),
                }
            }
        }
        // A stable sort keeps file order (lane by lane, then event by event)
        // among cues of one sample and rank.
        let mut order: Vec<usize> = (0..cues.len()).collect();
        order.sort_by_key(|&k| (cues[k].t, ranks[k]));
        let cues = order.into_iter().map(|k| cues[k]).collect();
        Self { cues, next: 0, position: 0, playing: false }
    }

    /// Number of cues.
    pub fn len(&self) -> usize {
        self.cues.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cues.is_empty()
    }

    /// Timeline sample of the next frame to be processed.
    pub fn position(&self) -> i64 {
        self.position
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Puts the playhead at `position` (the next frame's timeline sample),
    /// moving or stopped. A position other than where the playhead stands
    /// (a loop wrap, a jump) skips to the first cue at or after it; cues
    /// passed over do not fire.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn locate(&mut self, position: i64, playing: bool) {
        self.playing = playing;
        if position != self.position {
            self.position = position;
            self.next = self.cues.partition_point(|c| (c.t as i64) < position);
        }
    }

    /// Takes the playhead over from `old` (the schedule this one replaces).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn continue_from(&mut self, old: &Playback) {
        self.position = i64::MIN;
        self.locate(old.position, old.playing);
    }

    /// The next cue that fires on the next frame, if any: call until `None`
    /// before processing from [`Self::position`].
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn next_due(&mut self) -> Option<Cue> {
        let cue = *self.cues.get(self.next)?;
        if !self.playing || cue.t as i64 > self.position {
            return None;
        }
        self.next += 1;
        Some(cue)
    }

    /// Frames until the next cue fires (`usize::MAX` when none will while
    /// playing): a block is split there, so a cue lands on its sample
    /// whatever the block size. Never 0, so a caller that has taken every
    /// due cue ([`Self::next_due`]) always moves on.
    pub fn frames_to_next_cue(&self) -> usize {
        match self.cues.get(self.next) {
            Some(cue) if self.playing => usize::try_from((cue.t as i64).saturating_sub(self.position)).unwrap_or(usize::MAX).max(1),
            _ => usize::MAX,
        }
    }

    /// Moves the playhead on by `frames` processed frames (if playing).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn advance(&mut self, frames: usize) {
        if self.playing {
            self.position = self.position.saturating_add(frames as i64);
        }
    }
}

impl Schedule {
    /// The timeline's cues and playhead.
    pub fn timeline(&self) -> &Playback {
        &self.timeline
    }

    /// A `set` cue: controlled value `target` moves to `value` over `ramp`
    /// samples and holds (see [`Layer`]).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set_timeline_value(&mut self, target: usize, value: f32, ramp: u32) {
        self.controls.set_timeline(target, value, ramp);
    }

    /// Takes over the playhead and the values the timeline holds from
    /// `old`, the schedule this one replaces.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn take_timeline(&mut self, old: &Schedule) {
        self.timeline.continue_from(&old.timeline);
        self.controls.take_timeline(&old.controls);
    }
}

/// What one event does in `session`, resolved to audio-thread terms.
fn cue_action(action: &Action, session: &Session, sample_rate: f32, target_of: &mut dyn FnMut(path::Resolved) -> usize) -> Result<CueAction, String> {
    Ok(match action {
        Action::Set { path: p, value, ramp_ms } => {
            let resolved = path::resolve(session, p)?;
            let value = path::scene_value(session, &resolved, value).map_err(|e| format!("{p}: {e}"))? as f32;
            let ramp_samples = Smoother::ramp_len(ramp_ms.unwrap_or(DEFAULT_RAMP_MS) as f32, sample_rate);
            CueAction::Set { target: target_of(resolved), value, ramp_samples }
        }
        Action::Scene { scene, policy } => {
            if *scene > session.scenes.len() {
                return Err(format!("the session has no scene {scene}"));
            }
            let transition = match policy {
                None => None,
                Some(p) => Some(policy_transition(*p, super::load::scene_ms(session, *scene)).ok_or_else(|| format!("a {} needs 'morphMs'", p.name()))?),
            };
            CueAction::Scene { scene: *scene, transition }
        }
        Action::Push { scene } => {
            if *scene == 0 || *scene > session.scenes.len() {
                return Err(format!("the session has no scene {scene} to push"));
            }
            CueAction::Push(*scene)
        }
        Action::Pop => CueAction::Pop,
        Action::Macro { number, value } => {
            if *number == 0 || *number > session.macros.len() {
                return Err(format!("the session defines no macro {number}"));
            }
            CueAction::Macro { index: number - 1, value: *value as f32 }
        }
    })
}

/// The transition a scene event's policy asks for, with the scene's own
/// morph time (`scene_ms`) when the event gives none (`None` if neither does).
fn policy_transition(policy: Policy, scene_ms: Option<f64>) -> Option<Transition> {
    Some(match policy {
        Policy::Instant => Transition::Instant,
        Policy::Morph { ms } => Transition::Morph { ms: ms.or(scene_ms)? },
        Policy::Crossfade { ms } => Transition::Crossfade { ms: ms.or(scene_ms)? },
    })
}

/// The timeline layer of controlled values: where a `set` event has moved a
/// value, the timeline's value stands in for the recalled scene's until the
/// next scene recall (docs/ARCHITECTURE.md §8.1). Ramps step every
/// [`CONTROL_STEP`] samples counted from their own start, as scene
/// transitions do, so where they stand does not depend on block sizes.
pub(crate) struct Layer {
    /// `[target]`: whether the timeline holds the value.
    held: Vec<bool>,
    /// `[target]`: the timeline's value as it stands (at the end of the
    /// running control step while ramping).
    value: Vec<f32>,
    /// `[target]`: where the running ramp started and goes.
    from: Vec<f32>,
    to: Vec<f32>,
    /// `[target]`: length of the running ramp (0 = none) and samples done.
    len: Vec<u32>,
    done: Vec<u32>,
    /// Targets with a ramp running.
    ramping: usize,
}

impl Layer {
    /// A layer for `targets` controlled values, holding none. Control side.
    pub(crate) fn new(targets: usize) -> Self {
        Self {
            held: vec![false; targets],
            value: vec![0.0; targets],
            from: vec![0.0; targets],
            to: vec![0.0; targets],
            len: vec![0; targets],
            done: vec![0; targets],
            ramping: 0,
        }
    }

    /// The timeline's value of target `t`, if it holds one.
    pub(crate) fn get(&self, t: usize) -> Option<f32> {
        self.held.get(t).copied().unwrap_or(false).then(|| self.value[t])
    }

    /// Target `t` as the layer holds it: its value now, where it is going
    /// and the samples its ramp has left (0: none), if it holds one.
    pub(crate) fn ramp_state(&self, t: usize) -> Option<(f32, f32, u32)> {
        self.held.get(t).copied().unwrap_or(false).then(|| if self.len[t] > 0 { (self.value[t], self.to[t], self.len[t] - self.done[t]) } else { (self.value[t], self.value[t], 0) })
    }

    /// Where the timeline's value of target `t` is going (the end of a
    /// running ramp), if it holds one.
    pub(crate) fn destination(&self, t: usize) -> Option<f32> {
        self.held.get(t).copied().unwrap_or(false).then(|| if self.len[t] > 0 { self.to[t] } else { self.value[t] })
    }

    /// Moves target `t` from `from` (where it stands now) to `to` over
    /// `ramp` samples. Switches (stepped values, and a time changing between
    /// a note and milliseconds) change on the event's sample, not half-way.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set(&mut self, t: usize, target: &Target, from: f32, to: f32, ramp: u32) {
        let Some(held) = self.held.get_mut(t) else { return };
        *held = true;
        if self.len[t] > 0 {
            self.ramping -= 1;
        }
        let switch = target.stepped || (target.time && (from < 0.0) != (to < 0.0));
        if ramp == 0 || switch {
            self.len[t] = 0;
            self.value[t] = to;
            return;
        }
        self.from[t] = from;
        self.to[t] = to;
        self.len[t] = ramp;
        self.done[t] = 0;
        self.ramping += 1;
        self.step(t);
    }

    /// Becomes `old` exactly (held values, running ramps where they
    /// stand), for a schedule that controls the same values in the same
    /// order; a layer of another size is left as it is.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn copy_from(&mut self, old: &Layer) {
        if old.held.len() != self.held.len() {
            return;
        }
        self.held.copy_from_slice(&old.held);
        self.value.copy_from_slice(&old.value);
        self.from.copy_from_slice(&old.from);
        self.to.copy_from_slice(&old.to);
        self.len.copy_from_slice(&old.len);
        self.done.copy_from_slice(&old.done);
        self.ramping = old.ramping;
    }

    /// Lets go of every value (a scene recall takes over).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn release_all(&mut self) {
        self.held.fill(false);
        self.len.fill(0);
        self.ramping = 0;
    }

    /// Samples until a running ramp takes its next step (`usize::MAX` with none).
    pub(crate) fn frames_to_next_step(&self) -> usize {
        if self.ramping == 0 {
            return usize::MAX;
        }
        self.len
            .iter()
            .zip(&self.done)
            .filter(|(&len, _)| len > 0)
            .map(|(_, &done)| CONTROL_STEP - done as usize % CONTROL_STEP)
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Moves running ramps on by `frames` (which never cross a step, see
    /// [`Self::frames_to_next_step`]); true when a value moved.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn advance(&mut self, frames: usize) -> bool {
        if self.ramping == 0 {
            return false;
        }
        let mut moved = false;
        for t in 0..self.len.len() {
            if self.len[t] == 0 {
                continue;
            }
            self.done[t] = self.done[t].saturating_add(frames as u32).min(self.len[t]);
            if self.done[t] >= self.len[t] {
                self.len[t] = 0;
                self.ramping -= 1;
            } else if (self.done[t] as usize).is_multiple_of(CONTROL_STEP) {
                self.step(t);
                moved = true;
            }
        }
        moved
    }

    /// Sets the value to where the ramp stands at the end of the control
    /// step that starts now (the strip's own ramps glide there meanwhile);
    /// the last step lands exactly on the ramp's end value.
    fn step(&mut self, t: usize) {
        let end = (self.done[t] as usize + CONTROL_STEP).min(self.len[t] as usize);
        self.value[t] = if end >= self.len[t] as usize {
            self.to[t]
        } else {
            let p = end as f32 / self.len[t] as f32;
            self.from[t] + (self.to[t] - self.from[t]) * p
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::controls::Dest;
    use crate::session::load_str as load_session;

    fn session() -> Session {
        load_session(
            r#"{ "version": 1, "buses": [ { "id": "bed" }, { "id": "fx" } ],
                "scenes": [ { "name": "A", "values": { "bed.gainDb": -3 } }, { "name": "B", "values": { "fx.gainDb": -3 } } ],
                "macros": [ { "name": "M", "targets": [ { "path": "bed.pan", "max": 1 } ] } ] }"#,
        )
        .unwrap()
        .session
    }

    fn compile(json: &str, rate: f32) -> Playback {
        let s = session();
        let tl = super::super::load_str(json, &s).unwrap().timeline;
        let mut paths: Vec<path::Resolved> = Vec::new();
        let mut p = Playback::compile(
            &tl,
            &s,
            rate,
            &mut |r| match paths.iter().position(|x| *x == r) {
                Some(i) => i,
                None => {
                    paths.push(r);
                    paths.len() - 1
                }
            },
            &mut |w| panic!("{w}"),
        );
        p.locate(0, true);
        p
    }

    /// Fires everything from `from` to `to`, in blocks of `block`, split at cues.
    fn play(p: &mut Playback, to: i64, block: usize) -> Vec<(i64, CueAction)> {
        let mut fired = Vec::new();
        while p.position() < to {
            let mut left = block.min((to - p.position()) as usize);
            while left > 0 {
                while let Some(cue) = p.next_due() {
                    fired.push((p.position(), cue.action));
                }
                let n = left.min(p.frames_to_next_cue());
                p.advance(n);
                left -= n;
            }
        }
        fired
    }

    const MERGED: &str = r#"{ "version": 1, "sampleRate": 48000, "lanes": [
        { "id": "scenes", "events": [ { "t": 100, "type": "scene", "scene": 1 }, { "t": 100, "type": "scene", "scene": 2 }, { "t": 300, "type": "pop" } ] },
        { "id": "mix", "events": [ { "t": 0, "type": "set", "path": "fx.gainDb", "value": -1 },
                                   { "t": 100, "type": "set", "path": "bed.gainDb", "value": -2 },
                                   { "t": 100, "type": "macro", "macro": 1, "value": 0.5 },
                                   { "t": 250, "type": "push", "scene": 1 } ] } ] }"#;

    #[test]
    fn cues_merge_lanes_by_time_sets_first_then_file_order() {
        let mut p = compile(MERGED, 48_000.0);
        let fired = play(&mut p, 1000, 64);
        let kinds: Vec<(i64, &str)> = fired
            .iter()
            .map(|(t, a)| {
                let name = match a {
                    CueAction::Set { .. } => "set",
                    CueAction::Macro { .. } => "macro",
                    CueAction::Scene { scene: 1, .. } => "scene1",
                    CueAction::Scene { .. } => "scene2",
                    CueAction::Push(_) => "push",
                    CueAction::Pop => "pop",
                };
                (*t, name)
            })
            .collect();
        assert_eq!(kinds, [(0, "set"), (100, "set"), (100, "macro"), (100, "scene1"), (100, "scene2"), (250, "push"), (300, "pop")]);
    }

    #[test]
    fn every_block_size_fires_each_cue_on_its_sample() {
        let want = play(&mut compile(MERGED, 48_000.0), 1000, 1000);
        for block in [1, 7, 64, 100, 511, 4096] {
            assert_eq!(play(&mut compile(MERGED, 48_000.0), 1000, block), want, "block {block}");
        }
    }

    #[test]
    fn another_rate_rescales_and_locate_skips_what_it_jumps_over() {
        let mut p = compile(r#"{ "version": 1, "sampleRate": 24000, "lanes": [ { "id": "x", "events": [ { "t": 50, "type": "pop" }, { "t": 150, "type": "pop" } ] } ] }"#, 48_000.0);
        assert_eq!(p.frames_to_next_cue(), 100);
        p.locate(150, true);
        assert_eq!(p.frames_to_next_cue(), 150, "the cue at 100 is behind the playhead");
        p.locate(150, false);
        assert_eq!(p.frames_to_next_cue(), usize::MAX, "a stopped playhead fires nothing");
        p.advance(1000);
        assert_eq!(p.position(), 150);
        p.locate(0, true);
        assert_eq!(play(&mut p, 400, 64).iter().map(|(t, _)| *t).collect::<Vec<_>>(), [100, 300], "a jump back plays them again");
        p.locate(-50, true);
        assert_eq!(p.frames_to_next_cue(), 150, "from a pre-roll the first cue is 150 frames away");
    }

    #[test]
    fn events_the_session_lost_are_left_out_with_a_warning() {
        let tl = super::super::load_str(
            r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "x", "events": [
                 { "t": 0, "type": "set", "path": "fx.gainDb", "value": -1 }, { "t": 5, "type": "scene", "scene": 2 } ] } ] }"#,
            &session(),
        )
        .unwrap()
        .timeline;
        let mut edited = session();
        edited.buses.retain(|b| b.id != "fx");
        edited.scenes.clear();
        let mut warnings = Vec::new();
        let p = Playback::compile(&tl, &edited, 48_000.0, &mut |_| 0, &mut |w| warnings.push(w));
        assert!(p.is_empty());
        assert_eq!(
            warnings,
            ["timeline lanes[0].events[0] left out: 'fx.gainDb' does not start with a bus id or a source id (expected bus.gainDb, bus.pan, bus.mute, bus.solo, bus.bypass, bus.send.<to>, bus/insert.param, bus/insert.bypass, source.gainDb or source.send.<to>)", "timeline lanes[0].events[1] left out: the session has no scene 2"]
        );
    }

    #[test]
    fn a_layer_ramp_steps_from_its_start_and_lands_exactly() {
        let gain = Target { dest: Dest::BusGainDb(0), min: -144.0, max: 24.0, stepped: false, time: false };
        let mute = Target { dest: Dest::BusMute(0), min: 0.0, max: 1.0, stepped: true, time: false };
        let mut layer = Layer::new(2);
        assert_eq!(layer.get(0), None);
        layer.set(0, &gain, 0.0, -6.0, 96);
        assert_eq!(layer.get(0), Some(-2.0), "the first step ends a third of the way");
        assert_eq!(layer.frames_to_next_step(), 32);
        layer.set(1, &mute, 0.0, 1.0, 96);
        assert_eq!(layer.get(1), Some(1.0), "a switch changes on its sample");
        assert!(!layer.advance(31));
        assert!(layer.advance(1));
        assert_eq!(layer.get(0), Some(-4.0));
        assert!(layer.advance(32));
        assert_eq!(layer.get(0), Some(-6.0));
        assert!(!layer.advance(32));
        assert_eq!(layer.frames_to_next_step(), usize::MAX);
        layer.release_all();
        assert_eq!((layer.get(0), layer.get(1)), (None, None));
    }
}
