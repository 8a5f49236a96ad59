//! `distortion`: four waveshapers, run 8× oversampled with first-order antiderivative anti-aliasing.

use crate::audio_buf::AudioBuf;
use crate::dsp::delay_line::DelayLine;
use crate::dsp::smoother::Smoother;
use crate::insert::{Insert, ParamKind, ParamSpec};

const TYPE: usize = 0;
const DRIVE: usize = 1;
const TONE: usize = 2;
const MIX: usize = 3;

const FACTOR: usize = 8;
/// Up-sampling filter: 241 taps at 8× (group delay 120 high-rate samples),
/// pass to 20 kHz, images from 28 kHz down 80 dB.
const UP_TAPS: usize = 241;
const UP_CUTOFF_HZ: f64 = 24_000.0;
/// Down-sampling filter: 478 taps (group delay 238.5), pass to 20 kHz, stop
/// from 24 kHz, so nothing folds back into the audible band.
const DOWN_TAPS: usize = 478;
const DOWN_CUTOFF_HZ: f64 = 22_000.0;
/// Kaiser β for about 80 dB of stop-band attenuation.
const KAISER_BETA: f64 = 7.857;
/// Up filter 120 + the antiderivative's half sample + down filter 238.5,
/// less the 7 high-rate samples by which each output is computed late in its
/// group of 8 = 352 high-rate samples = 44 samples at the host rate.
pub const LATENCY: usize = 44;
/// Gain into the shaper at `drive` 1.
pub const MAX_DRIVE_DB: f64 = 36.0;
/// `drive` when a session gives neither `drive` nor `driveDb` (≈ 11 dB).
pub const DEFAULT_DRIVE: f64 = 0.3;

/// Saturation with four characters:
/// - `soft`: the algebraic sigmoid `x/√(1+x²)` (tanh-like, and its
///   antiderivative `√(1+x²)` is cheap, which matters 8× per sample);
/// - `hard`: clipping at ±1;
/// - `fuzz`: `x/(1+|x|)` with 4× more gain and a bias (even harmonics);
/// - `tube`: the soft curve with a bias (even harmonics).
///
/// `drive` is the effects RFC's amount of distortion, 0 … 1, mapped linearly
/// in dB onto the gain into the shaper: 0 dB (the gentlest the shaper gets;
/// a −20 dBFS signal comes out almost clean) … [`MAX_DRIVE_DB`] (36 dB).
/// Sessions may give the same control in dB as `driveDb` (0 … 36); the
/// loader converts it (`drive` = `driveDb`/36), giving both is an error, and
/// scenes, macros and the editor move `drive`. The shaper runs at 8× the host
/// rate between linear-phase Kaiser FIR filters, and uses first-order
/// antiderivative anti-aliasing (ADAA: the average of the shaper over each
/// step, `(F(x₁) − F(x₀))/(x₁ − x₀)`), which suppresses what oversampling
/// alone would still fold back. Biased shapes are re-centred and DC-blocked.
/// `tone` is a one-pole low-pass after the shaper, 800 Hz (0) to 20 kHz (1).
/// Latency: 44 samples; the dry path of `mix` is delayed to match.
pub struct Distortion {
    shape: usize,
    drive: Smoother,
    tone: f32,
    mix: Smoother,
    sample_rate: f32,
    tone_coeff: f32,
    /// Up-sampling taps split by phase: `up[p][k] = h[FACTOR·k + p]`, each
    /// `IN_HIST` long (zero-padded), so phase p is one dot product.
    up: Vec<Vec<f32>>,
    down: Vec<f32>,
    /// Per channel: host-rate input history, high-rate shaped history,
    /// previous shaper input, tone and DC-blocker states.
    in_hist: [History; 2],
    hi_hist: [History; 2],
    prev_x: [f64; 2],
    /// F(prev_x): the antiderivative at the previous shaper input.
    prev_f: [f64; 2],
    tone_state: [f32; 2],
    dc_in: [f32; 2],
    dc_out: [f32; 2],
    dry_delay: DelayLine,
    dry: AudioBuf,
}

const IN_HIST: usize = UP_TAPS.div_ceil(FACTOR);

/// The most recent `len` samples, newest first, always contiguous: each
/// sample is written twice, `len` apart, into a ring of `2·len`.
struct History {
    buf: Vec<f32>,
    len: usize,
    pos: usize,
}

impl History {
    fn new(len: usize) -> Self {
        Self { buf: vec![0.0; 2 * len], len, pos: 0 }
    }

    #[inline]
    fn push(&mut self, x: f32) {
        self.pos = if self.pos == 0 { self.len - 1 } else { self.pos - 1 };
        self.buf[self.pos] = x;
        self.buf[self.pos + self.len] = x;
    }

    /// `recent()[k]` is the sample pushed `k` pushes ago.
    #[inline]
    fn recent(&self) -> &[f32] {
        &self.buf[self.pos..self.pos + self.len]
    }

    fn clear(&mut self) {
        self.buf.fill(0.0);
    }
}

/// Dot product with eight partial sums, so it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn kaiser_lowpass(taps: usize, cutoff_hz: f64, rate: f64) -> Vec<f32> {
    fn bessel_i0(x: f64) -> f64 {
        let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
        while term > 1e-12 * sum {
            term *= (x / (2.0 * k)).powi(2);
            sum += term;
            k += 1.0;
        }
        sum
    }
    let centre = (taps - 1) as f64 / 2.0;
    let fc = cutoff_hz / rate;
    (0..taps)
        .map(|i| {
            let t = i as f64 - centre;
            let sinc = if t == 0.0 { 2.0 * fc } else { (std::f64::consts::TAU * fc * t).sin() / (std::f64::consts::PI * t) };
            let r = t / centre;
            let window = bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(KAISER_BETA);
            (sinc * window) as f32
        })
        .collect()
}

impl Distortion {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec { id: "type", unit: "", kind: ParamKind::Choice { options: &["soft", "hard", "fuzz", "tube"], default: 0 }, smoothing_ms: 0.0, doc: "shaper character" },
        ParamSpec { id: "drive", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: DEFAULT_DRIVE }, smoothing_ms: 20.0, doc: "amount: gain into the shaper, 0 = 0 dB … 1 = 36 dB (linear in dB); or give `driveDb`" },
        ParamSpec { id: "tone", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.7 }, smoothing_ms: 0.0, doc: "low-pass after the shaper: 0 = 800 Hz … 1 = 20 kHz" },
        ParamSpec { id: "mix", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 1.0 }, smoothing_ms: 20.0, doc: "wet/dry" },
    ];

    pub fn new() -> Self {
        Self {
            shape: 0,
            drive: Smoother::new(Self::drive_gain(DEFAULT_DRIVE as f32), 0),
            tone: 0.7,
            mix: Smoother::new(1.0, 0),
            sample_rate: 48_000.0,
            tone_coeff: 1.0,
            up: Vec::new(),
            down: Vec::new(),
            in_hist: [History::new(1), History::new(1)],
            hi_hist: [History::new(1), History::new(1)],
            prev_x: [0.0; 2],
            prev_f: [0.0; 2],
            tone_state: [0.0; 2],
            dc_in: [0.0; 2],
            dc_out: [0.0; 2],
            dry_delay: DelayLine::new(0, 0, 0),
            dry: AudioBuf::new(0, 0),
        }
    }

    /// Linear gain into the shaper for a `drive` amount.
    pub fn drive_gain(amount: f32) -> f32 {
        10f32.powf(amount.clamp(0.0, 1.0) * MAX_DRIVE_DB as f32 / 20.0)
    }

    /// (bias, extra gain) of a shape.
    fn bias(shape: usize) -> (f64, f64) {
        match shape {
            2 => (0.3, 4.0),
            3 => (0.2, 1.0),
            _ => (0.0, 1.0),
        }
    }

    /// The shaper f, before re-centring.
    fn shape_of(shape: usize, x: f64) -> f64 {
        match shape {
            1 => x.clamp(-1.0, 1.0),
            2 => x / (1.0 + x.abs()),
            _ => x / (1.0 + x * x).sqrt(),
        }
    }

    /// The antiderivative F of the shaper (F' = f).
    fn antiderivative(shape: usize, x: f64) -> f64 {
        let a = x.abs();
        match shape {
            1 => {
                if a <= 1.0 {
                    0.5 * x * x
                } else {
                    a - 0.5
                }
            }
            2 => a - a.ln_1p(),
            _ => (1.0 + x * x).sqrt(),
        }
    }

    /// One anti-aliased shaper step from `x0` (whose antiderivative is
    /// `f0`) to `x1`; returns the output and F(x1).
    fn adaa(shape: usize, x0: f64, f0: f64, x1: f64) -> (f64, f64) {
        let f1 = Self::antiderivative(shape, x1);
        let dx = x1 - x0;
        if dx.abs() < 1e-6 {
            (Self::shape_of(shape, 0.5 * (x0 + x1)), f1)
        } else {
            ((f1 - f0) / dx, f1)
        }
    }

    fn rest(&mut self) {
        let (bias, _) = Self::bias(self.shape);
        self.prev_x = [bias; 2];
        self.prev_f = [Self::antiderivative(self.shape, bias); 2];
    }

    fn update(&mut self) {
        let fc = 800.0 * 25f32.powf(self.tone);
        self.tone_coeff = 1.0 - (-std::f32::consts::TAU * fc / self.sample_rate).exp();
    }
}

impl Default for Distortion {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Distortion {
    fn prepare(&mut self, sample_rate: f32, max_block: usize, channels: usize) {
        self.sample_rate = sample_rate;
        let high_rate = sample_rate as f64 * FACTOR as f64;
        // ×FACTOR restores the level lost to zero-stuffing.
        let up = kaiser_lowpass(UP_TAPS, UP_CUTOFF_HZ.min(sample_rate as f64 * 0.5), high_rate);
        self.up = (0..FACTOR)
            .map(|p| (0..IN_HIST).map(|k| up.get(FACTOR * k + p).map_or(0.0, |h| h * FACTOR as f32)).collect())
            .collect();
        self.down = kaiser_lowpass(DOWN_TAPS, DOWN_CUTOFF_HZ.min(sample_rate as f64 * 0.46), high_rate);
        self.in_hist = [History::new(IN_HIST), History::new(IN_HIST)];
        self.hi_hist = [History::new(DOWN_TAPS), History::new(DOWN_TAPS)];
        self.dry_delay = DelayLine::new(channels, LATENCY, LATENCY);
        self.dry = AudioBuf::new(channels, max_block);
        let ramp = Smoother::ramp_len(20.0, sample_rate);
        self.drive = Smoother::new(self.drive.target(), ramp);
        self.mix = Smoother::new(self.mix.target(), ramp);
        self.update();
        self.reset();
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn reset(&mut self) {
        for h in self.in_hist.iter_mut().chain(&mut self.hi_hist) {
            h.clear();
        }
        self.rest();
        self.tone_state = [0.0; 2];
        self.dc_in = [0.0; 2];
        self.dc_out = [0.0; 2];
        self.dry_delay.reset();
    }

    /// Only the tone recomputes a coefficient (one `exp`, and only when it
    /// changes); drive is one `powf` into a smoother; type and mix are stores.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            TYPE => {
                let shape = (value as usize).min(3);
                if shape != self.shape {
                    self.shape = shape;
                    self.rest();
                }
            }
            DRIVE => self.drive.set_target(Self::drive_gain(value)),
            TONE => {
                if value != self.tone {
                    self.tone = value;
                    self.update();
                }
            }
            MIX => self.mix.set_target(value),
            _ => {}
        }
    }

    fn latency(&self) -> usize {
        LATENCY
    }

    crate::widened!(Distortion:
    /// Runs on the audio thread: no allocation, no locks.
    fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl Distortion {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let channels = audio.channels().min(2);
        for ch in 0..channels {
            self.dry.channel_mut(ch)[..frames].copy_from_slice(&audio.channel(ch)[..frames]);
        }
        self.dry_delay.process(&mut self.dry, frames);
        let (bias, extra) = Self::bias(self.shape);
        let centre = Self::shape_of(self.shape, bias);
        // DC blocker pole for ~10 Hz.
        let dc_pole = 1.0 - std::f32::consts::TAU * 10.0 / self.sample_rate;
        for i in 0..frames {
            let drive = self.drive.next() as f64 * extra;
            let mix = self.mix.next();
            for ch in 0..channels {
                self.in_hist[ch].push(audio.channel(ch)[i]);
                let recent = self.in_hist[ch].recent();
                for phase in 0..FACTOR {
                    // High-rate sample 8n + phase: Σ_k h[8k + phase] · x[n − k].
                    let up = dot(&self.up[phase], recent);
                    let x1 = up as f64 * drive + bias;
                    let (y, f1) = Self::adaa(self.shape, self.prev_x[ch], self.prev_f[ch], x1);
                    let shaped = y - centre;
                    self.prev_x[ch] = x1;
                    self.prev_f[ch] = f1;
                    self.hi_hist[ch].push(shaped as f32);
                }
                let wet = dot(&self.down, self.hi_hist[ch].recent());
                // DC blocker (biased shapes), then the tone low-pass.
                let blocked = wet - self.dc_in[ch] + dc_pole * self.dc_out[ch];
                self.dc_in[ch] = wet;
                self.dc_out[ch] = if blocked.abs() < 1e-25 { 0.0 } else { blocked };
                self.tone_state[ch] += (self.dc_out[ch] - self.tone_state[ch]) * self.tone_coeff;
                if self.tone_state[ch].abs() < 1e-25 {
                    self.tone_state[ch] = 0.0;
                }
                let dry = self.dry.channel(ch)[i];
                audio.channel_mut(ch)[i] = mix * self.tone_state[ch] + (1.0 - mix) * dry;
            }
        }
        // A non-finite input would otherwise stick in the shaper's memory.
        if self.prev_x.iter().chain(&self.prev_f).any(|x| !x.is_finite()) {
            self.rest();
        }
    }
}
