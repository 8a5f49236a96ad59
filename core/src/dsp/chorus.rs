//! `chorus`: several slowly modulated delay voices spread across the stereo field.

use crate::audio_buf::AudioBuf;
use crate::dsp::smoother::Smoother;
use crate::insert::{Insert, ParamKind, ParamSpec};

const RATE_HZ: usize = 0;
const DEPTH_MS: usize = 1;
const VOICES: usize = 2;
const MIX: usize = 3;
/// Centre delay of every voice.
const BASE_MS: f32 = 12.0;
pub const MAX_DEPTH_MS: f32 = 10.0;
pub const MAX_VOICES: usize = 4;

/// Chorus. Each voice reads the input through a delay of
/// `12 ms + depthMs·sin(phase)` (linear interpolation), its LFO phase offset
/// by 1/voices of a cycle from the last; voices alternate left and right, and
/// the right side's LFOs run a quarter cycle apart from the left's, so a mono
/// source spreads. Output = (1 − mix)·dry + mix·(mean of the voices).
pub struct Chorus {
    rate_hz: f32,
    depth: Smoother,
    voices: usize,
    mix: Smoother,
    sample_rate: f32,
    /// Input history `[channel][slot]`, allocated in `prepare`.
    ring: Vec<f32>,
    capacity: usize,
    write: usize,
    /// LFO phase in cycles, advanced per sample.
    phase: f64,
}

impl Chorus {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec { id: "rateHz", unit: "Hz", kind: ParamKind::Float { min: 0.01, max: 10.0, default: 0.8 }, smoothing_ms: 0.0, doc: "LFO speed" },
        ParamSpec { id: "depthMs", unit: "ms", kind: ParamKind::Float { min: 0.0, max: MAX_DEPTH_MS as f64, default: 3.0 }, smoothing_ms: 20.0, doc: "delay swing either side of 12 ms" },
        ParamSpec { id: "voices", unit: "", kind: ParamKind::Discrete { values: &[1.0, 2.0, 3.0, 4.0], default: 1 }, smoothing_ms: 0.0, doc: "number of modulated voices" },
        ParamSpec { id: "mix", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.5 }, smoothing_ms: 20.0, doc: "wet/dry" },
    ];

    pub fn new() -> Self {
        Self {
            rate_hz: 0.8,
            depth: Smoother::new(3.0, 0),
            voices: 2,
            mix: Smoother::new(0.5, 0),
            sample_rate: 48_000.0,
            ring: Vec::new(),
            capacity: 1,
            write: 0,
            phase: 0.0,
        }
    }
}

impl Default for Chorus {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Chorus {
    fn prepare(&mut self, sample_rate: f32, _max_block: usize, channels: usize) {
        self.sample_rate = sample_rate;
        self.capacity = ((BASE_MS + MAX_DEPTH_MS) * 0.001 * sample_rate).ceil() as usize + 4;
        self.ring = vec![0.0; channels.max(1) * self.capacity];
        let ramp = Smoother::ramp_len(20.0, sample_rate);
        self.depth = Smoother::new(self.depth.target(), ramp);
        self.mix = Smoother::new(self.mix.target(), ramp);
    }

    fn reset(&mut self) {
        self.ring.fill(0.0);
        self.write = 0;
        self.phase = 0.0;
    }

    /// Every parameter is a stored scalar or a smoother's target (the LFO
    /// step and delays are derived per block and per sample anyway), so a
    /// morph moving them every control step costs nothing extra.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            RATE_HZ => self.rate_hz = value,
            DEPTH_MS => self.depth.set_target(value),
            VOICES => self.voices = (value as usize).clamp(1, MAX_VOICES),
            MIX => self.mix.set_target(value),
            _ => {}
        }
    }

    fn latency(&self) -> usize {
        0
    }

    crate::widened!(Chorus: fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl Chorus {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let channels = audio.channels().min(2);
        let cap = self.capacity;
        let step = self.rate_hz as f64 / self.sample_rate as f64;
        let samples_per_ms = self.sample_rate as f64 / 1000.0;
        for i in 0..frames {
            let depth = self.depth.next();
            let mix = self.mix.next();
            for ch in 0..channels {
                self.ring[ch * cap + self.write] = audio.channel(ch)[i];
            }
            for ch in 0..channels {
                let mut sum = 0.0f32;
                let mut count = 0;
                for v in 0..self.voices {
                    // Voices alternate sides; in mono every voice is used.
                    if channels == 2 && v % 2 != ch {
                        continue;
                    }
                    let offset = v as f64 / self.voices as f64 + if ch == 1 { 0.25 } else { 0.0 };
                    let lfo = (std::f64::consts::TAU * (self.phase + offset)).sin();
                    // f64, so a still voice sits on a whole sample (12 ms = 576 at 48 kHz).
                    let delay = (BASE_MS as f64 + depth as f64 * lfo) * samples_per_ms;
                    let whole = delay.floor();
                    let frac = (delay - whole) as f32;
                    let back = whole as usize;
                    let a = (self.write + cap - back) % cap;
                    let b = (self.write + cap - back - 1) % cap;
                    sum += self.ring[ch * cap + a] * (1.0 - frac) + self.ring[ch * cap + b] * frac;
                    count += 1;
                }
                // With one voice in stereo, the right side borrows the left voice's timing.
                let wet = if count > 0 { sum / count as f32 } else { self.ring[ch * cap + (self.write + cap - (BASE_MS as f64 * samples_per_ms) as usize) % cap] };
                let x = &mut audio.channel_mut(ch)[i];
                *x = (1.0 - mix) * *x + mix * wet;
            }
            self.write += 1;
            if self.write == cap {
                self.write = 0;
            }
            self.phase += step;
            if self.phase >= 1.0 {
                self.phase -= 1.0;
            }
        }
    }
}
