//! `delay`: echo in milliseconds or tempo-synced note values, with feedback, ping-pong, a high cut and click-free time changes.

use crate::audio_buf::AudioBuf;
use crate::dsp::smoother::Smoother;
use crate::insert::{time_ms, Insert, ParamKind, ParamSpec};

const TIME: usize = 0;
const FEEDBACK: usize = 1;
const PING_PONG: usize = 2;
const HIGH_CUT_HZ: usize = 3;
const MIX: usize = 4;
/// Longest echo; the buffer is allocated for it in `prepare`.
pub const MAX_DELAY_MS: f64 = 4000.0;
/// The most feedback the delay plays. The effects RFC allows 1, but at 1 the
/// low frequencies (which the feedback high cut passes at unity) would
/// circulate forever and pile up with every new input; the loader clamps
/// larger values with a warning and `set_param` clamps what scenes send.
pub const MAX_FEEDBACK: f64 = 0.98;
/// How fast a [`GlidingTap`] glides, in samples of delay per sample: the
/// read position then runs at 15/16 … 17/16 of real time, a pitch bend of at
/// most about one semitone while it moves.
pub const GLIDE_RATE: f64 = 1.0 / 16.0;
/// Length of a [`GlidingTap`]'s crossfade.
pub const FADE_MS: f32 = 20.0;

/// Where a [`GlidingTap`] reads this sample: `previous` fading out with
/// weight `1 − weight`, `current` fading in with `weight` (delays in
/// samples, fractional while gliding).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TapRead {
    pub previous: f64,
    pub current: f64,
    pub weight: f32,
}

/// A read position into a delay ring that moves without clicks or gaps.
///
/// Jumping a read position is a step in the output (the zipper noise of
/// automated delay times); restarting the line is a gap. Instead a move the
/// tap can cover within one fade time at [`GLIDE_RATE`] (the small steps of
/// automation or a scene morph) glides, read with linear interpolation like
/// a tape delay's head; a larger move crossfades linearly over [`FADE_MS`]
/// from the old position to the new one, both read from the same ring, so
/// the output's step per sample exceeds the audio's own by at most
/// (tap difference)/fade length. A target that moves again during a fade is
/// followed by gliding the incoming tap, or by the next fade once this one
/// ends. Settled taps sit on whole samples, so an echo lands on an exact
/// sample and reads without interpolation.
#[derive(Clone, Debug)]
pub struct GlidingTap {
    /// Delay of the tap faded in (the only one when not fading), samples.
    current: f64,
    /// Delay of the tap being faded out, samples.
    previous: f64,
    /// Where `current` is going: a whole number of samples.
    target: f64,
    /// Weight of `current`, 0 … 1; 1 = not fading.
    weight: f32,
    fade_step: f32,
    /// Largest move that glides; farther ones crossfade.
    reach: f64,
}

impl GlidingTap {
    /// A settled tap at `delay` samples that crossfades over `fade_samples`.
    pub fn new(delay: f64, fade_samples: u32) -> Self {
        let fade_samples = fade_samples.max(1);
        Self {
            current: delay,
            previous: delay,
            target: delay,
            weight: 1.0,
            fade_step: 1.0 / fade_samples as f32,
            reach: GLIDE_RATE * fade_samples as f64,
        }
    }

    /// Makes the tap move to `delay` samples (rounded to a whole sample).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_target(&mut self, delay: f64) {
        self.target = delay.round();
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    /// Jumps to the target at once (for a silent ring: after `prepare` or `reset`).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn snap(&mut self) {
        self.current = self.target;
        self.previous = self.target;
        self.weight = 1.0;
    }

    /// True while the tap glides or crossfades.
    pub fn is_moving(&self) -> bool {
        self.weight < 1.0 || self.current != self.target
    }

    /// Advances one sample and says where to read.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn next(&mut self) -> TapRead {
        if self.weight < 1.0 {
            self.weight = (self.weight + self.fade_step).min(1.0);
            if self.weight >= 1.0 {
                self.previous = self.current;
            }
        }
        if self.current != self.target {
            let gap = self.target - self.current;
            if gap.abs() <= self.reach {
                self.current = if gap.abs() <= GLIDE_RATE { self.target } else { self.current + GLIDE_RATE.copysign(gap) };
                if self.weight >= 1.0 {
                    self.previous = self.current;
                }
            } else if self.weight >= 1.0 {
                // Start a fade; its first sample still reads the old tap only.
                self.previous = self.current;
                self.current = self.target;
                self.weight = 0.0;
            }
        }
        TapRead { previous: self.previous, current: self.current, weight: self.weight }
    }
}

/// One channel of a delay ring: `capacity` slots and a write cursor; reads
/// at any delay from 1 to `capacity − 1` samples. Allocated in `new` only.
#[derive(Clone, Debug)]
pub struct Ring {
    /// Samples by slot; the newest is just before `write`.
    buf: Vec<f32>,
    write: usize,
}

impl Ring {
    /// A silent ring that holds delays up to `capacity − 1` samples.
    /// Allocates; call on the control side.
    pub fn new(capacity: usize) -> Self {
        Self { buf: vec![0.0; capacity.max(2)], write: 0 }
    }

    /// The sample written `delay` samples ago (1 = the last one pushed),
    /// linearly interpolated between whole samples. Linear interpolation
    /// never gains above unity, so a moving tap inside a feedback loop cannot
    /// make it unstable.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn read(&self, delay: f64) -> f32 {
        let cap = self.buf.len();
        let whole = (delay as usize).clamp(1, cap - 2);
        let frac = (delay - whole as f64).clamp(0.0, 1.0) as f32;
        let i0 = if self.write >= whole { self.write - whole } else { self.write + cap - whole };
        let x0 = self.buf[i0];
        if frac == 0.0 {
            return x0;
        }
        let x1 = self.buf[if i0 == 0 { cap - 1 } else { i0 - 1 }];
        x0 + frac * (x1 - x0)
    }

    /// Reads where `tap` says, crossfading while it fades.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn read_tap(&self, tap: TapRead) -> f32 {
        if tap.weight >= 1.0 {
            self.read(tap.current)
        } else {
            (1.0 - tap.weight) * self.read(tap.previous) + tap.weight * self.read(tap.current)
        }
    }

    /// Writes the newest sample.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn push(&mut self, x: f32) {
        self.buf[self.write] = x;
        self.write += 1;
        if self.write == self.buf.len() {
            self.write = 0;
        }
    }

    /// Runs on the audio thread: no allocation, no locks.
    pub fn clear(&mut self) {
        self.buf.fill(0.0);
        self.write = 0;
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
}

/// Echo. `time` is milliseconds or a note value resolved from the tempo (the
/// host's when it plays, else the session's `tempo`), rounded to whole
/// samples so a settled echo lands on an exact sample. A change of time or
/// tempo moves the echo through a [`GlidingTap`]: small moves glide, large
/// ones crossfade over 20 ms, and the line keeps its content, so there is
/// neither a click nor a gap. The feedback path runs through a one-pole
/// low-pass at `highCutHz`. `pingPong` feeds the mono sum into the left line
/// and alternates echoes left, right, left…; otherwise each channel echoes
/// itself. Output = (1 − mix)·dry + mix·echoes.
pub struct Delay {
    /// `time` as the audio thread holds it: ms, or −beats for a note.
    time: f32,
    tempo: f64,
    feedback: Smoother,
    ping_pong: bool,
    high_cut_hz: f32,
    mix: Smoother,
    sample_rate: f32,
    tap: GlidingTap,
    lp_coeff: f32,
    /// Echo lines `[channel]`, sized for [`MAX_DELAY_MS`] in `prepare`.
    rings: [Ring; 2],
    lp_state: [f32; 2],
}

impl Delay {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec { id: "time", unit: "ms", kind: ParamKind::Time { min_ms: 1.0, max_ms: MAX_DELAY_MS, default_ms: 375.0 }, smoothing_ms: FADE_MS, doc: "echo time: ms, or a note value from the tempo; changes glide or crossfade" },
        ParamSpec { id: "feedback", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.35 }, smoothing_ms: 20.0, doc: "level of each repeat relative to the last (plays at most 0.98)" },
        ParamSpec { id: "pingPong", unit: "", kind: ParamKind::Bool { default: false }, smoothing_ms: 0.0, doc: "alternate repeats left and right" },
        ParamSpec { id: "highCutHz", unit: "Hz", kind: ParamKind::Float { min: 200.0, max: 20_000.0, default: 8000.0 }, smoothing_ms: 0.0, doc: "low-pass in the feedback path (each repeat darker)" },
        ParamSpec { id: "mix", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.3 }, smoothing_ms: 20.0, doc: "wet/dry" },
    ];

    pub fn new() -> Self {
        let mut delay = Self {
            time: 375.0,
            tempo: 120.0,
            feedback: Smoother::new(0.35, 0),
            ping_pong: false,
            high_cut_hz: 8000.0,
            mix: Smoother::new(0.3, 0),
            sample_rate: 48_000.0,
            tap: GlidingTap::new(1.0, 1),
            lp_coeff: 1.0,
            rings: [Ring::new(0), Ring::new(0)],
            lp_state: [0.0; 2],
        };
        delay.retarget();
        delay.tap.snap();
        delay.update_high_cut();
        delay
    }

    /// Echo time in samples the delay is settling on for the current time
    /// and tempo.
    pub fn delay_samples(&self) -> usize {
        self.tap.target() as usize
    }

    /// Points the tap at the current time and tempo (no transcendental
    /// functions: a scene morph calls this every 32 samples).
    fn retarget(&mut self) {
        let ms = time_ms(self.time, self.tempo).clamp(1.0, MAX_DELAY_MS);
        let longest = (self.rings[0].capacity() - 2).max(1) as f64;
        self.tap.set_target((ms * 0.001 * self.sample_rate as f64).clamp(1.0, longest));
    }

    fn update_high_cut(&mut self) {
        // One-pole low-pass: y += (x − y)·c, c = 1 − e^(−2π fc / fs).
        self.lp_coeff = 1.0 - (-std::f32::consts::TAU * self.high_cut_hz / self.sample_rate).exp();
    }
}

impl Default for Delay {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Delay {
    fn prepare(&mut self, sample_rate: f32, _max_block: usize, _channels: usize) {
        self.sample_rate = sample_rate;
        // + 2: the longest delay plus the slot interpolation reads past it.
        let capacity = (MAX_DELAY_MS * 0.001 * sample_rate as f64).ceil() as usize + 2;
        self.rings = [Ring::new(capacity), Ring::new(capacity)];
        self.tap = GlidingTap::new(self.tap.target(), Smoother::ramp_len(FADE_MS, sample_rate));
        self.retarget();
        self.tap.snap();
        let ramp = Smoother::ramp_len(20.0, sample_rate);
        self.feedback = Smoother::new(self.feedback.target(), ramp);
        self.mix = Smoother::new(self.mix.target(), ramp);
        self.update_high_cut();
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn reset(&mut self) {
        for ring in &mut self.rings {
            ring.clear();
        }
        self.tap.snap();
        self.lp_state = [0.0; 2];
    }

    /// Each parameter costs only its own update: time a multiply and a
    /// round, the high cut one `exp` (when it changes), the rest stores.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            TIME => {
                if value != self.time {
                    self.time = value;
                    self.retarget();
                }
            }
            FEEDBACK => self.feedback.set_target(value.clamp(0.0, MAX_FEEDBACK as f32)),
            PING_PONG => self.ping_pong = value >= 0.5,
            HIGH_CUT_HZ => {
                if value != self.high_cut_hz {
                    self.high_cut_hz = value;
                    self.update_high_cut();
                }
            }
            MIX => self.mix.set_target(value),
            _ => {}
        }
    }

    /// A note-valued time moves with the tempo, gliding like any other change.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_tempo(&mut self, bpm: f64) {
        if bpm != self.tempo {
            self.tempo = bpm;
            self.retarget();
        }
    }

    fn latency(&self) -> usize {
        0
    }

    crate::widened!(Delay:
    /// Runs on the audio thread: no allocation, no locks.
    fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl Delay {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let channels = audio.channels().min(2);
        let ping_pong = self.ping_pong && channels == 2;
        for i in 0..frames {
            let tap = self.tap.next();
            let feedback = self.feedback.next();
            let mix = self.mix.next();
            let mut echo = [0.0f32; 2];
            for ch in 0..channels {
                echo[ch] = self.rings[ch].read_tap(tap);
            }
            // Darken what goes round again.
            let mut back = [0.0f32; 2];
            for ch in 0..channels {
                self.lp_state[ch] += (echo[ch] - self.lp_state[ch]) * self.lp_coeff;
                back[ch] = self.lp_state[ch] * feedback;
            }
            if ping_pong {
                let mono = 0.5 * (audio.channel(0)[i] + audio.channel(1)[i]);
                self.rings[0].push(mono + back[1]);
                self.rings[1].push(back[0]);
            } else {
                for ch in 0..channels {
                    self.rings[ch].push(audio.channel(ch)[i] + back[ch]);
                }
            }
            for ch in 0..channels {
                let x = &mut audio.channel_mut(ch)[i];
                *x = (1.0 - mix) * *x + mix * echo[ch];
            }
        }
        for s in &mut self.lp_state {
            if s.abs() < 1e-30 {
                *s = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_move_glides_at_the_glide_rate_and_lands_on_the_whole_sample() {
        let mut tap = GlidingTap::new(100.0, 960);
        tap.set_target(103.0);
        let reads: Vec<TapRead> = (0..60).map(|_| tap.next()).collect();
        assert_eq!(reads[0].current, 100.0 + GLIDE_RATE);
        assert!(reads.iter().all(|r| r.weight == 1.0 && r.previous == r.current), "gliding never fades");
        assert_eq!(reads[47].current, 103.0, "3 samples at 1/16 per sample take 48 steps");
        assert!(!tap.is_moving());
    }

    #[test]
    fn a_large_move_crossfades_from_the_old_tap_to_the_new_one() {
        let mut tap = GlidingTap::new(100.0, 4);
        tap.set_target(1000.0);
        let weights: Vec<(f64, f64, f32)> = (0..6).map(|_| tap.next()).map(|r| (r.previous, r.current, r.weight)).collect();
        assert_eq!(weights[0], (100.0, 1000.0, 0.0), "the first faded sample still reads the old tap");
        assert_eq!(weights[1], (100.0, 1000.0, 0.25));
        assert_eq!(weights[4], (1000.0, 1000.0, 1.0));
        assert_eq!(weights[5], (1000.0, 1000.0, 1.0));
    }

    #[test]
    fn ring_reads_whole_samples_exactly_and_interpolates_between() {
        let mut ring = Ring::new(8);
        for x in [1.0, 2.0, 3.0, 4.0] {
            ring.push(x);
        }
        assert_eq!(ring.read(1.0), 4.0);
        assert_eq!(ring.read(3.0), 2.0);
        assert_eq!(ring.read(1.5), 3.5);
        assert_eq!(ring.read_tap(TapRead { previous: 1.0, current: 3.0, weight: 0.25 }), 0.75 * 4.0 + 0.25 * 2.0);
    }
}
