//! `filter`: a resonant state-variable filter (low/high/band pass, notch) that can be swept without clicks.

use crate::audio_buf::AudioBuf;
use crate::dsp::smoother::Smoother;
use crate::insert::{Insert, ParamKind, ParamSpec};

const TYPE: usize = 0;
const FREQ_HZ: usize = 1;
const RESONANCE: usize = 2;
const SMOOTHING_MS: f32 = 20.0;
const RECOMPUTE_EVERY: u32 = 8;

/// Topology-preserving-transform state-variable filter (Zavalishin's
/// trapezoidal SVF): its low-pass and high-pass outputs have the same
/// response as the cookbook biquads at the same Q, and it stays well behaved
/// while its cutoff moves. `resonance` 0…1 maps to Q = 0.707·28.3^resonance
/// (0.707 … 20); band pass has 0 dB at the centre.
pub struct Filter {
    mode: usize,
    freq: Smoother,
    resonance: Smoother,
    sample_rate: f32,
    /// (g, k) of the trapezoidal integrators and the damping.
    g: f64,
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
        ParamSpec { id: "resonance", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.0 }, smoothing_ms: SMOOTHING_MS, doc: "0 = Q 0.707 (no peak) … 1 = Q 20" },
    ];

    pub fn new() -> Self {
        Self {
            mode: 0,
            freq: Smoother::new(1000.0, 0),
            resonance: Smoother::new(0.0, 0),
            sample_rate: 48_000.0,
            g: 0.0,
            k: 1.0,
            countdown: 0,
            ic1: [0.0; 2],
            ic2: [0.0; 2],
        }
    }

    /// Q for a resonance setting.
    pub fn q(resonance: f32) -> f64 {
        0.707 * 28.3f64.powf(resonance as f64)
    }

    fn design(&mut self) {
        let f = (self.freq.current() as f64).clamp(10.0, self.sample_rate as f64 * 0.49);
        self.g = (std::f64::consts::PI * f / self.sample_rate as f64).tan();
        self.k = 1.0 / Self::q(self.resonance.current());
    }

    fn ramping(&self) -> bool {
        self.freq.is_ramping() || self.resonance.is_ramping()
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
        self.resonance = Smoother::new(self.resonance.target(), ramp);
        self.design();
    }

    fn reset(&mut self) {
        self.ic1 = [0.0; 2];
        self.ic2 = [0.0; 2];
        self.freq.reset_to(self.freq.target());
        self.resonance.reset_to(self.resonance.target());
        self.design();
    }

    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            TYPE => self.mode = (value as usize).min(3),
            FREQ_HZ => self.freq.set_target(value),
            RESONANCE => self.resonance.set_target(value),
            _ => return,
        }
        if !self.ramping() {
            self.design();
        }
    }

    fn latency(&self) -> usize {
        0
    }

    fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let channels = audio.channels().min(2);
        for i in 0..frames {
            if self.ramping() {
                self.freq.next();
                self.resonance.next();
                if self.countdown == 0 || !self.ramping() {
                    self.design();
                    self.countdown = RECOMPUTE_EVERY;
                }
                self.countdown -= 1;
            }
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
                *x = y as f32;
            }
        }
        for ch in 0..channels {
            if !self.ic1[ch].is_finite() || !self.ic2[ch].is_finite() || (self.ic1[ch].abs() < 1e-30 && self.ic2[ch].abs() < 1e-30) {
                self.ic1[ch] = 0.0;
                self.ic2[ch] = 0.0;
            }
        }
    }
}
