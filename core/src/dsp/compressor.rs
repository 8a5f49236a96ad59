//! `compressor`: feed-forward compressor with soft knee, peak/RMS detector, sidechain and lookahead.

use std::sync::Arc;

use crate::audio_buf::AudioBuf;
use crate::dsp::fast_math;
use crate::dsp::delay_line::DelayLine;
use crate::dsp::smoother::Smoother;
use crate::insert::{Insert, ParamKind, ParamSpec, SpectrumDisplay};

const THRESHOLD_DB: usize = 0;
const RATIO: usize = 1;
const KNEE_DB: usize = 2;
const ATTACK_MS: usize = 3;
const RELEASE_MS: usize = 4;
const MAKEUP_DB: usize = 5;
const DETECTOR: usize = 6;
const LOOKAHEAD_MS: usize = 7;
const MIX: usize = 8;

pub const MAX_LOOKAHEAD_MS: f64 = 20.0;
/// Ratios at or above this act as ∞:1 (limiting).
pub const INFINITE_RATIO: f32 = 100.0;
/// Time constant of the RMS detector.
const RMS_MS: f32 = 10.0;

/// Feed-forward compressor.
///
/// Detector (per frame, channels linked by their largest level): `peak` uses
/// the sample magnitude, `rms` a 10 ms mean square, both in dB, referenced so
/// a sine's peak in dBFS is its level for `peak` (and 3 dB lower for `rms`).
/// The key, if connected, is detected instead of the program.
/// Gain computer: reduction `(1 − 1/ratio)·(level − threshold)` above the
/// knee, quadratic inside a `kneeDb`-wide soft knee, 0 below (ratio ≥ 100 is
/// ∞:1). Ballistics on the reduction in dB (Giannoulis, Massberg & Reiss'
/// smooth decoupled peak detector): a release stage that holds peaks, then an
/// attack smoother. Optional lookahead delays the program (its latency).
/// The gain reduction is published as a one-band display.
pub struct Compressor {
    threshold_db: f32,
    ratio: f32,
    knee_db: f32,
    attack_ms: f32,
    release_ms: f32,
    makeup: Smoother,
    rms: bool,
    lookahead_ms: f32,
    mix: Smoother,
    sample_rate: f32,
    attack_coeff: f32,
    release_coeff: f32,
    rms_coeff: f32,
    mean_square: f32,
    /// Release stage and attack stage of the reduction, dB ≥ 0.
    held_db: f32,
    reduction_db: f32,
    delay: DelayLine,
    dry_delay: DelayLine,
    dry: AudioBuf,
    /// Per frame of the block being processed: the detected level, then the
    /// reduction, then the gain. `max_block` samples, allocated in `prepare`.
    envelope: Vec<f32>,
    display: Arc<SpectrumDisplay>,
}

impl Compressor {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec { id: "thresholdDb", unit: "dB", kind: ParamKind::Float { min: -80.0, max: 0.0, default: -18.0 }, smoothing_ms: 0.0, doc: "level above which gain is reduced" },
        ParamSpec { id: "ratio", unit: "", kind: ParamKind::Float { min: 1.0, max: 100.0, default: 4.0 }, smoothing_ms: 0.0, doc: "input dB per output dB above the threshold; 100 = ∞ (limiting)" },
        ParamSpec { id: "kneeDb", unit: "dB", kind: ParamKind::Float { min: 0.0, max: 24.0, default: 6.0 }, smoothing_ms: 0.0, doc: "width of the soft knee around the threshold" },
        ParamSpec { id: "attackMs", unit: "ms", kind: ParamKind::Float { min: 0.05, max: 500.0, default: 10.0 }, smoothing_ms: 0.0, doc: "time constant of the gain going down" },
        ParamSpec { id: "releaseMs", unit: "ms", kind: ParamKind::Float { min: 1.0, max: 5000.0, default: 150.0 }, smoothing_ms: 0.0, doc: "time constant of the gain coming back" },
        ParamSpec { id: "makeupDb", unit: "dB", kind: ParamKind::Float { min: -24.0, max: 36.0, default: 0.0 }, smoothing_ms: 20.0, doc: "gain after compression" },
        ParamSpec { id: "detector", unit: "", kind: ParamKind::Choice { options: &["peak", "rms"], default: 0 }, smoothing_ms: 0.0, doc: "level detector" },
        ParamSpec { id: "lookaheadMs", unit: "ms", kind: ParamKind::Float { min: 0.0, max: MAX_LOOKAHEAD_MS, default: 0.0 }, smoothing_ms: 0.0, doc: "delays the program so the gain moves first; this is the latency" },
        ParamSpec { id: "mix", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 1.0 }, smoothing_ms: 20.0, doc: "wet/dry (parallel compression)" },
    ];

    /// The effects RFC's parameter names.
    pub const ALIASES: &'static [(&'static str, &'static str)] =
        &[("threshold", "thresholdDb"), ("makeupGain", "makeupDb"), ("attack", "attackMs"), ("release", "releaseMs")];

    pub fn new() -> Self {
        Self {
            threshold_db: -18.0,
            ratio: 4.0,
            knee_db: 6.0,
            attack_ms: 10.0,
            release_ms: 150.0,
            makeup: Smoother::new(1.0, 0),
            rms: false,
            lookahead_ms: 0.0,
            mix: Smoother::new(1.0, 0),
            sample_rate: 48_000.0,
            attack_coeff: 0.0,
            release_coeff: 0.0,
            rms_coeff: 0.0,
            mean_square: 0.0,
            held_db: 0.0,
            reduction_db: 0.0,
            delay: DelayLine::new(0, 0, 0),
            dry_delay: DelayLine::new(0, 0, 0),
            dry: AudioBuf::new(0, 0),
            envelope: Vec::new(),
            display: Arc::new(SpectrumDisplay::new()),
        }
    }

    /// Static curve: reduction in dB (≥ 0) for a detected level in dB.
    pub fn reduction_for(level_db: f32, threshold_db: f32, ratio: f32, knee_db: f32) -> f32 {
        let slope = if ratio >= INFINITE_RATIO { 1.0 } else { 1.0 - 1.0 / ratio };
        let over = level_db - threshold_db;
        if knee_db > 0.0 && over.abs() <= knee_db / 2.0 {
            slope * (over + knee_db / 2.0).powi(2) / (2.0 * knee_db)
        } else if over > 0.0 {
            slope * over
        } else {
            0.0
        }
    }

    /// One-pole coefficient for a time constant of `ms` at `sample_rate`.
    fn coeff(ms: f32, sample_rate: f32) -> f32 {
        (-1.0 / (ms * 0.001 * sample_rate)).exp()
    }

    /// Sets the lookahead delay from `lookaheadMs`; a new length clears both
    /// delay lines (what they hold no longer lines up).
    /// Runs on the audio thread: no allocation, no locks.
    fn set_lookahead(&mut self) {
        let lookahead = (self.lookahead_ms as f64 * 0.001 * self.sample_rate as f64).round() as usize;
        if lookahead != self.delay.delay() {
            self.delay.set_delay(lookahead);
            self.dry_delay.set_delay(lookahead);
            self.delay.reset();
            self.dry_delay.reset();
        }
    }
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Compressor {
    fn prepare(&mut self, sample_rate: f32, max_block: usize, channels: usize) {
        self.sample_rate = sample_rate;
        let max = (MAX_LOOKAHEAD_MS * 0.001 * sample_rate as f64).ceil() as usize;
        self.delay = DelayLine::new(channels, 0, max);
        self.dry_delay = DelayLine::new(channels, 0, max);
        self.dry = AudioBuf::new(channels, max_block);
        self.envelope = vec![0.0; max_block];
        let ramp = Smoother::ramp_len(20.0, sample_rate);
        self.makeup = Smoother::new(self.makeup.target(), ramp);
        self.mix = Smoother::new(self.mix.target(), ramp);
        self.attack_coeff = Self::coeff(self.attack_ms, sample_rate);
        self.release_coeff = Self::coeff(self.release_ms, sample_rate);
        self.rms_coeff = 1.0 - Self::coeff(RMS_MS, sample_rate);
        self.set_lookahead();
    }

    fn reset(&mut self) {
        self.delay.reset();
        self.dry_delay.reset();
        self.mean_square = 0.0;
        self.held_db = 0.0;
        self.reduction_db = 0.0;
    }

    /// Each parameter does only its own work: the curve's values are read
    /// per sample as they are, a time recomputes its one coefficient, and
    /// only a new lookahead length touches the delay lines.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            THRESHOLD_DB => self.threshold_db = value,
            RATIO => self.ratio = value.max(1.0),
            KNEE_DB => self.knee_db = value.max(0.0),
            ATTACK_MS => {
                self.attack_ms = value.max(0.01);
                self.attack_coeff = Self::coeff(self.attack_ms, self.sample_rate);
            }
            RELEASE_MS => {
                self.release_ms = value.max(0.01);
                self.release_coeff = Self::coeff(self.release_ms, self.sample_rate);
            }
            MAKEUP_DB => self.makeup.set_target(10f32.powf(value / 20.0)),
            DETECTOR => self.rms = value >= 0.5,
            LOOKAHEAD_MS => {
                self.lookahead_ms = value;
                self.set_lookahead();
            }
            MIX => self.mix.set_target(value),
            _ => {}
        }
    }

    fn latency(&self) -> usize {
        self.delay.delay()
    }

    fn display(&self) -> Option<Arc<SpectrumDisplay>> {
        Some(self.display.clone())
    }

    fn attach_display(&mut self, display: Arc<SpectrumDisplay>) {
        self.display = display;
    }

    crate::widened!(Compressor:
    /// Works in passes over the block: the detector's level for every frame,
    /// levels to dB, the reduction (the only pass with a per-sample
    /// recurrence), reductions to gains, then the program. Levels and gains
    /// go through the fast log/exp (errors below 0.001 dB): libm's log10 and
    /// powf per sample were most of the compressor's cost, and in passes of
    /// their own they vectorise.
    /// Runs on the audio thread: no allocation, no locks.
    fn process(&mut self, audio: &mut AudioBuf, key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl Compressor {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, key: Option<&AudioBuf>, frames: usize) {
        let channels = audio.channels();
        let env = &mut self.envelope[..frames];
        // Detector: the largest magnitude over the detected channels.
        env.fill(0.0);
        let detect = key.unwrap_or(audio);
        for ch in 0..detect.channels() {
            for (e, s) in env.iter_mut().zip(&detect.channel(ch)[..frames]) {
                // Written as a comparison so it vectorises; NaN never wins.
                let a = s.abs();
                *e = if a > *e { a } else { *e };
            }
        }
        if self.rms {
            let (mut ms, coeff) = (self.mean_square, self.rms_coeff);
            for e in env.iter_mut() {
                ms += (*e * *e - ms) * coeff;
                *e = fast_math::power_to_db(ms + 1e-30);
            }
            self.mean_square = ms;
        } else {
            for e in env.iter_mut() {
                *e = fast_math::power_to_db(*e * *e + 1e-30);
            }
        }
        // The static curve, then the decoupled peak detector on the
        // reduction: hold peaks, release slowly, then smooth the attack.
        let (threshold_db, ratio, knee_db) = (self.threshold_db, self.ratio, self.knee_db);
        let (release, attack) = (self.release_coeff, self.attack_coeff);
        let (mut held_db, mut reduction_db) = (self.held_db, self.reduction_db);
        for e in env.iter_mut() {
            let target = Self::reduction_for(*e, threshold_db, ratio, knee_db);
            held_db = target.max(release * held_db + (1.0 - release) * target);
            reduction_db = attack * reduction_db + (1.0 - attack) * held_db;
            if reduction_db < 1e-9 {
                reduction_db = 0.0;
            }
            *e = reduction_db;
        }
        (self.held_db, self.reduction_db) = (held_db, reduction_db);
        // Reductions to gains (0 dB gives exactly 1), times the makeup.
        for e in env.iter_mut() {
            *e = fast_math::db_to_gain(-*e);
        }
        self.makeup.apply(env);

        // The program, delayed by the lookahead, times the gain; with `mix`
        // below 1, against the dry signal delayed alike.
        let wet_only = !self.mix.is_ramping() && self.mix.current() == 1.0;
        if wet_only && self.dry_delay.delay() == 0 {
            // Nothing to keep: the dry path has no history to carry.
            self.delay.process(audio, frames);
            for ch in 0..channels {
                for (x, g) in audio.channel_mut(ch)[..frames].iter_mut().zip(env.iter()) {
                    *x *= *g;
                }
            }
        } else {
            self.dry_delay.process_from(audio, &mut self.dry, frames);
            self.delay.process(audio, frames);
            for (i, g) in env.iter().enumerate() {
                let mix = self.mix.next();
                for ch in 0..channels {
                    let x = &mut audio.channel_mut(ch)[i];
                    *x = mix * *x * g + (1.0 - mix) * self.dry.channel(ch)[i];
                }
            }
        }
        self.display.publish(0.0, key.is_some(), &[0.0], &[0.0], &[self.reduction_db]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compressor frame by frame, as it was written before the passes:
    /// the reference the block version must match.
    fn per_frame(c: &mut Compressor, audio: &mut AudioBuf, key: Option<&AudioBuf>, frames: usize) {
        let channels = audio.channels();
        for ch in 0..channels {
            c.dry.channel_mut(ch)[..frames].copy_from_slice(&audio.channel(ch)[..frames]);
        }
        c.dry_delay.process(&mut c.dry, frames);
        for i in 0..frames {
            let detect = key.unwrap_or(audio);
            let peak = (0..detect.channels()).fold(0.0f32, |p, ch| p.max(detect.channel(ch)[i].abs()));
            let level_db = if c.rms {
                c.mean_square += (peak * peak - c.mean_square) * c.rms_coeff;
                fast_math::power_to_db(c.mean_square + 1e-30)
            } else {
                fast_math::power_to_db(peak * peak + 1e-30)
            };
            let target = Compressor::reduction_for(level_db, c.threshold_db, c.ratio, c.knee_db);
            c.held_db = target.max(c.release_coeff * c.held_db + (1.0 - c.release_coeff) * target);
            c.reduction_db = c.attack_coeff * c.reduction_db + (1.0 - c.attack_coeff) * c.held_db;
            if c.reduction_db < 1e-9 {
                c.reduction_db = 0.0;
            }
            let reduction = if c.reduction_db == 0.0 { 1.0 } else { fast_math::db_to_gain(-c.reduction_db) };
            let gain = reduction * c.makeup.next();
            let mix = c.mix.next();
            for ch in 0..channels {
                let x = &mut audio.channel_mut(ch)[i];
                let delayed = c.delay.tick(ch, *x);
                *x = mix * delayed * gain + (1.0 - mix) * c.dry.channel(ch)[i];
            }
            c.delay.advance();
        }
    }

    #[test]
    fn passes_over_the_block_equal_the_frame_by_frame_compressor() {
        // Peak and RMS, own signal and a mono key, no lookahead and 2 ms,
        // full wet and a mix ramping to 0.5 with the makeup mid-block, in
        // blocks of 1, 64 and 500: the same samples (a zero may change sign).
        for (rms, keyed, lookahead_ms) in [(false, false, 0.0), (true, false, 0.0), (false, true, 2.0), (true, true, 2.0)] {
            for block in [1, 64, 500] {
                let make = || {
                    let mut c = Compressor::new();
                    c.prepare(48_000.0, 500, 2);
                    for (i, v) in [(THRESHOLD_DB, -24.0), (ATTACK_MS, 1.0), (RELEASE_MS, 40.0), (DETECTOR, rms as u8 as f32), (LOOKAHEAD_MS, lookahead_ms)] {
                        c.set_param(i, v);
                    }
                    c
                };
                let (mut blocks, mut frames) = (make(), make());
                let mut key = AudioBuf::new(1, block);
                let (mut a, mut b) = (AudioBuf::new(2, block), AudioBuf::new(2, block));
                for n in 0..(12_000 / block) {
                    if n * block >= 6_000 && n * block < 6_000 + block {
                        for c in [&mut blocks, &mut frames] {
                            c.set_param(MIX, 0.5);
                            c.set_param(MAKEUP_DB, 4.0);
                        }
                    }
                    for i in 0..block {
                        let t = (n * block + i) as f32;
                        let swell = 0.05 + 0.9 * (t / 3_000.0).sin().abs();
                        key.channel_mut(0)[i] = 0.7 * (t * 0.002).sin();
                        for ch in 0..2 {
                            a.channel_mut(ch)[i] = swell * (t * 0.031 + ch as f32).sin();
                        }
                    }
                    b.clone_from(&a);
                    let key = keyed.then_some(&key);
                    blocks.process(&mut a, key, block);
                    per_frame(&mut frames, &mut b, key, block);
                    for ch in 0..2 {
                        for (x, y) in a.channel(ch).iter().zip(b.channel(ch)) {
                            assert!(x == y, "rms {rms}, key {keyed}, lookahead {lookahead_ms}, block {block}: {x} vs {y}");
                        }
                    }
                }
            }
        }
    }
}
