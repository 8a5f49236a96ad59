//! `filter`: a resonant state-variable filter (low/high/band pass, notch) that can be swept without clicks.

use crate::audio_buf::AudioBuf;
use crate::dsp::smoother::Smoother;
use crate::insert::{Insert, ParamKind, ParamSpec};

const TYPE: usize = 0;
const FREQ_HZ: usize = 1;
const RESONANCE: usize = 2;
const MIX: usize = 3;
const SMOOTHING_MS: f32 = 20.0;
const RECOMPUTE_EVERY: u32 = 8;
/// Butterworth (1/√2, as conventionally rounded): the flattest pass band with no peak.
pub const DEFAULT_Q: f64 = 0.707;

/// Topology-preserving-transform state-variable filter (Zavalishin's
/// trapezoidal SVF): its low-pass and high-pass outputs have the same
/// response as the cookbook biquads at the same Q, and it stays well behaved
/// while its cutoff moves.
///
/// `resonance` is the Q factor itself (0.1 … 20), as in the effects RFC.
/// At the cutoff the low pass and the high pass both have gain Q
/// (20·log10 Q dB: +14 dB at Q 5, −3 dB at Q 0.707); the band pass has
/// 0 dB at its centre and a −3 dB bandwidth of about cutoff/Q; the notch
/// is −∞ at its centre with the same bandwidth.
pub struct Filter {
    mode: usize,
    freq: Smoother,
    q: Smoother,
    mix: Smoother,
    sample_rate: f32,
    /// g = tan(π·fc/fs) of the trapezoidal integrators.
    g: f64,
    /// Damping k = 1/Q.
    k: f64,
    countdown: u32,
    /// Integrator states `[channel]`.
    ic1: [f64; 2],
    ic2: [f64; 2],
}

impl Filter {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec { id: "type", unit: "", kind: ParamKind::Choice { options: &["lowpass", "highpass", "bandpass", "notch"], default: 0 }, smoothing_ms: 0.0, doc: "response" },
        ParamSpec { id: "freqHz", unit: "Hz", kind: ParamKind::Float { min: 20.0, max: 20_000.0, default: 1000.0 }, smoothing_ms: SMOOTHING_MS, doc: "cutoff / centre frequency" },
        ParamSpec { id: "resonance", unit: "Q", kind: ParamKind::Float { min: 0.1, max: 20.0, default: DEFAULT_Q }, smoothing_ms: SMOOTHING_MS, doc: "Q factor: low/high pass gain at the cutoff is Q (0.707 = no peak, 5 = +14 dB)" },
        ParamSpec { id: "mix", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 1.0 }, smoothing_ms: SMOOTHING_MS, doc: "wet/dry" },
    ];

    /// The effects RFC's names.
    pub const ALIASES: &'static [(&'static str, &'static str)] = &[("frequency", "freqHz")];

    pub fn new() -> Self {
        Self {
            mode: 0,
            freq: Smoother::new(1000.0, 0),
            q: Smoother::new(DEFAULT_Q as f32, 0),
            mix: Smoother::new(1.0, 0),
            sample_rate: 48_000.0,
            g: 0.0,
            k: 1.0 / DEFAULT_Q,
            countdown: 0,
            ic1: [0.0; 2],
            ic2: [0.0; 2],
        }
    }

    /// Recomputes g from the current cutoff (one `tan`).
    fn design_g(&mut self) {
        let f = (self.freq.current() as f64).clamp(10.0, self.sample_rate as f64 * 0.49);
        self.g = (std::f64::consts::PI * f / self.sample_rate as f64).tan();
    }

    /// Recomputes k from the current Q (one division).
    fn design_k(&mut self) {
        self.k = 1.0 / (self.q.current() as f64).max(0.01);
    }

    fn ramping(&self) -> bool {
        self.freq.is_ramping() || self.q.is_ramping()
    }
}

impl Default for Filter {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Filter {
    fn prepare(&mut self, sample_rate: f32, _max_block: usize, _channels: usize) {
        self.sample_rate = sample_rate;
        let ramp = Smoother::ramp_len(SMOOTHING_MS, sample_rate);
        self.freq = Smoother::new(self.freq.target(), ramp);
        self.q = Smoother::new(self.q.target(), ramp);
        self.mix = Smoother::new(self.mix.target(), ramp);
        self.design_g();
        self.design_k();
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn reset(&mut self) {
        self.ic1 = [0.0; 2];
        self.ic2 = [0.0; 2];
        self.freq.settle();
        self.q.settle();
        self.mix.settle();
        self.design_g();
        self.design_k();
        // As freshly prepared: the next ramp redesigns on its first sample.
        self.countdown = 0;
    }

    /// Only what the parameter touches is recomputed, and only when it is
    /// not ramping (a ramp recomputes as it goes): a `tan` for the cutoff, a
    /// division for Q, nothing for the type or the mix.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            TYPE => self.mode = (value as usize).min(3),
            FREQ_HZ => {
                self.freq.set_target(value);
                if !self.freq.is_ramping() {
                    self.design_g();
                }
            }
            RESONANCE => {
                self.q.set_target(value);
                if !self.q.is_ramping() {
                    self.design_k();
                }
            }
            MIX => self.mix.set_target(value),
            _ => {}
        }
    }

    fn latency(&self) -> usize {
        0
    }

    crate::widened!(Filter:
    /// Runs on the audio thread: no allocation, no locks.
    fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl Filter {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let channels = audio.channels().min(2);
        if !self.ramping() && !self.mix.is_ramping() {
            self.process_steady(audio, channels, frames);
        } else {
            self.process_moving(audio, channels, frames);
        }
        for ch in 0..channels {
            if !self.ic1[ch].is_finite() || !self.ic2[ch].is_finite() || (self.ic1[ch].abs() < 1e-30 && self.ic2[ch].abs() < 1e-30) {
                self.ic1[ch] = 0.0;
                self.ic2[ch] = 0.0;
            }
        }
    }

    /// Frequency, Q and mix all settled: the coefficients once, then the
    /// recurrences with their state in registers, both channels of a frame
    /// side by side (their chains overlap). The same arithmetic per sample
    /// as [`Self::process_moving`].
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_steady(&mut self, audio: &mut AudioBuf, channels: usize, frames: usize) {
        let mix = self.mix.current() as f64;
        let (g, k, mode) = (self.g, self.k, self.mode);
        let a1 = 1.0 / (1.0 + g * (g + k));
        let (a2, a3) = (g * a1, g * g * a1);
        let step = |x: &mut f32, ic1: &mut f64, ic2: &mut f64| {
            let v0 = *x as f64;
            let v3 = v0 - *ic2;
            let v1 = a1 * *ic1 + a2 * v3;
            let v2 = *ic2 + a2 * *ic1 + a3 * v3;
            *ic1 = 2.0 * v1 - *ic1;
            *ic2 = 2.0 * v2 - *ic2;
            let y = match mode {
                0 => v2,
                1 => v0 - k * v1 - v2,
                2 => k * v1,
                _ => v0 - k * v1,
            };
            *x = if mix == 1.0 { y as f32 } else { ((1.0 - mix) * v0 + mix * y) as f32 };
        };
        let [mut l1, mut r1] = self.ic1;
        let [mut l2, mut r2] = self.ic2;
        if channels == 2 {
            let (left, right) = audio.stereo_mut();
            for (l, r) in left[..frames].iter_mut().zip(&mut right[..frames]) {
                step(l, &mut l1, &mut l2);
                step(r, &mut r1, &mut r2);
            }
        } else if channels == 1 {
            for x in &mut audio.channel_mut(0)[..frames] {
                step(x, &mut l1, &mut l2);
            }
        }
        (self.ic1, self.ic2) = ([l1, r1], [l2, r2]);
    }

    /// Frame by frame while a parameter ramps.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_moving(&mut self, audio: &mut AudioBuf, channels: usize, frames: usize) {
        for i in 0..frames {
            if self.ramping() {
                self.freq.next();
                self.q.next();
                // Coefficients every few samples: the ramp moves too little
                // in between to be heard, and `tan` is the costly part.
                if self.countdown == 0 || !self.ramping() {
                    self.design_g();
                    self.design_k();
                    self.countdown = RECOMPUTE_EVERY;
                }
                self.countdown -= 1;
            }
            let mix = self.mix.next() as f64;
            let (g, k) = (self.g, self.k);
            let a1 = 1.0 / (1.0 + g * (g + k));
            let (a2, a3) = (g * a1, g * g * a1);
            for ch in 0..channels {
                let x = &mut audio.channel_mut(ch)[i];
                let v0 = *x as f64;
                let v3 = v0 - self.ic2[ch];
                let v1 = a1 * self.ic1[ch] + a2 * v3;
                let v2 = self.ic2[ch] + a2 * self.ic1[ch] + a3 * v3;
                self.ic1[ch] = 2.0 * v1 - self.ic1[ch];
                self.ic2[ch] = 2.0 * v2 - self.ic2[ch];
                let y = match self.mode {
                    0 => v2,
                    1 => v0 - k * v1 - v2,
                    2 => k * v1,
                    _ => v0 - k * v1,
                };
                *x = if mix == 1.0 { y as f32 } else { ((1.0 - mix) * v0 + mix * y) as f32 };
            }
        }
    }
}
