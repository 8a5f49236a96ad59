//! `reverb`: an eight-line feedback delay network with input diffusion, damping and pre-delay.

use crate::audio_buf::AudioBuf;
use crate::dsp::delay::{GlidingTap, Ring, FADE_MS};
use crate::dsp::smoother::Smoother;
use crate::insert::{Insert, ParamKind, ParamSpec};

const DECAY: usize = 0;
const SIZE: usize = 1;
const PRE_DELAY_MS: usize = 2;
const DAMPING: usize = 3;
const MIX: usize = 4;

const LINES: usize = 8;
/// Line lengths at size 0.5, ms: mutually prime in samples at common rates,
/// spread over 1.6 octaves so no mode pattern dominates.
const LINE_MS: [f32; LINES] = [29.7, 37.1, 41.1, 43.7, 47.9, 53.3, 59.9, 67.7];
/// Input diffusion all-passes (ms) and their gain.
const DIFFUSER_MS: [f32; 4] = [4.77, 3.59, 12.73, 9.31];
const DIFFUSER_GAIN: f32 = 0.6;
pub const MAX_PRE_DELAY_MS: f32 = 250.0;
/// Size 1 scales the lines by this much.
const MAX_SCALE: f32 = 1.5;

/// A fixed delay with a write cursor; reads at a fixed lag (the diffusers,
/// whose lengths never change).
#[derive(Clone)]
struct Line {
    buf: Vec<f32>,
    len: usize,
    pos: usize,
}

impl Line {
    fn new(capacity: usize) -> Self {
        Self { buf: vec![0.0; capacity.max(1)], len: 1, pos: 0 }
    }
    fn set_len(&mut self, len: usize) {
        self.len = len.clamp(1, self.buf.len());
        self.pos %= self.len;
    }
    /// The sample written `len` samples ago.
    #[inline]
    fn read(&self) -> f32 {
        self.buf[self.pos]
    }
    #[inline]
    fn write(&mut self, x: f32) {
        self.buf[self.pos] = x;
        self.pos += 1;
        if self.pos >= self.len {
            self.pos = 0;
        }
    }
    fn clear(&mut self) {
        self.buf.fill(0.0);
        self.pos = 0;
    }
}

/// Algorithmic stereo reverb.
///
/// Per channel, four series all-passes diffuse the input, which after the
/// pre-delay feeds an eight-line feedback delay network: left into lines 0–3,
/// right into 4–7, mixed every pass by the orthogonal Householder matrix
/// `I − (2/8)·11ᵀ` (lossless, dense). Each line is attenuated by
/// `10^(−3·length/(decay·rate))`, which makes the energy fall 60 dB in `decay`
/// seconds, and low-passed by `damping` (unity at DC, so low frequencies keep
/// the full decay and highs die sooner). Outputs sum the lines with two
/// different sign patterns for a wide, decorrelated stereo image.
/// Output = (1 − mix)·dry + mix·wet.
///
/// `size` and `preDelayMs` move read taps, never the rings themselves: each
/// line and the pre-delay reads through a [`GlidingTap`], so a small change
/// glides (the tail bends in pitch by at most a semitone while it moves) and
/// a large one crossfades over 20 ms, with no click and nothing lost from
/// the tail. Each line's attenuation follows its tap's length as it moves.
pub struct Reverb {
    decay_s: f32,
    size: f32,
    pre_delay_ms: f32,
    damping: f32,
    mix: Smoother,
    sample_rate: f32,
    /// Feedback lines, sized in `prepare` for `size` 1.
    lines: Vec<Ring>,
    taps: Vec<GlidingTap>,
    /// Attenuation per pass of each line, and the tap length it is for.
    gains: [f32; LINES],
    gain_delay: [f64; LINES],
    /// ln of the attenuation per sample of delay: −3·ln 10/(decay·rate).
    ln_gain_per_sample: f64,
    damp_state: [f32; LINES],
    damp_coeff: f32,
    /// Pre-delay rings `[channel]`, sized in `prepare` for [`MAX_PRE_DELAY_MS`].
    pre: Vec<Ring>,
    pre_tap: GlidingTap,
    diffusers: Vec<Line>,
}

impl Reverb {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec { id: "decay", unit: "s", kind: ParamKind::Float { min: 0.3, max: 10.0, default: 2.0 }, smoothing_ms: 0.0, doc: "RT60: time for the tail to fall 60 dB" },
        ParamSpec { id: "size", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.5 }, smoothing_ms: FADE_MS, doc: "room size (scales the delay lines 0.5…1.5×); changes glide or crossfade" },
        ParamSpec { id: "preDelayMs", unit: "ms", kind: ParamKind::Float { min: 0.0, max: MAX_PRE_DELAY_MS as f64, default: 10.0 }, smoothing_ms: FADE_MS, doc: "gap before the reverb starts; changes glide or crossfade" },
        ParamSpec { id: "damping", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.3 }, smoothing_ms: 0.0, doc: "how much faster highs decay than lows" },
        ParamSpec { id: "mix", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.25 }, smoothing_ms: 20.0, doc: "wet/dry" },
    ];

    /// The effects RFC's parameter names.
    pub const ALIASES: &'static [(&'static str, &'static str)] = &[("preDelay", "preDelayMs")];

    pub fn new() -> Self {
        Self {
            decay_s: 2.0,
            size: 0.5,
            pre_delay_ms: 10.0,
            damping: 0.3,
            mix: Smoother::new(0.25, 0),
            sample_rate: 48_000.0,
            lines: Vec::new(),
            taps: Vec::new(),
            gains: [0.0; LINES],
            gain_delay: [0.0; LINES],
            ln_gain_per_sample: 0.0,
            damp_state: [0.0; LINES],
            damp_coeff: 0.7 * 0.3,
            pre: Vec::new(),
            pre_tap: GlidingTap::new(1.0, 1),
            diffusers: Vec::new(),
        }
    }

    fn samples(&self, ms: f32) -> usize {
        (ms * 0.001 * self.sample_rate).round() as usize
    }

    /// Points the line taps at the current size (multiplies only).
    fn retarget_lines(&mut self) {
        let scale = 0.5 + self.size.clamp(0.0, 1.0);
        for (tap, ms) in self.taps.iter_mut().zip(LINE_MS) {
            tap.set_target((ms * scale * 0.001 * self.sample_rate).round().max(1.0) as f64);
        }
    }

    /// Points the pre-delay tap at the current pre-delay (at least a sample).
    fn retarget_pre_delay(&mut self) {
        let longest = self.samples(MAX_PRE_DELAY_MS).max(1) as f64;
        self.pre_tap.set_target((self.samples(self.pre_delay_ms.max(0.0)) as f64).clamp(1.0, longest));
    }

    /// Attenuation of one pass through a line `delay` samples long (one `exp`).
    fn gain_for(&self, delay: f64) -> f32 {
        (delay * self.ln_gain_per_sample).exp() as f32
    }

    /// New decay: one `exp` per line.
    fn update_gains(&mut self) {
        self.ln_gain_per_sample = -3.0 * std::f64::consts::LN_10 / (self.decay_s as f64 * self.sample_rate as f64);
        for l in 0..LINES {
            self.gains[l] = self.gain_for(self.gain_delay[l]);
        }
    }
}

impl Default for Reverb {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Reverb {
    fn prepare(&mut self, sample_rate: f32, _max_block: usize, _channels: usize) {
        self.sample_rate = sample_rate;
        let fade = Smoother::ramp_len(FADE_MS, sample_rate);
        // + 2: the longest line plus the slot interpolation reads past it.
        let max_line = self.samples(LINE_MS[LINES - 1] * MAX_SCALE) + 2;
        self.lines = (0..LINES).map(|_| Ring::new(max_line)).collect();
        self.taps = (0..LINES).map(|_| GlidingTap::new(1.0, fade)).collect();
        self.retarget_lines();
        self.pre = (0..2).map(|_| Ring::new(self.samples(MAX_PRE_DELAY_MS) + 2)).collect();
        self.pre_tap = GlidingTap::new(1.0, fade);
        self.retarget_pre_delay();
        self.diffusers = (0..2)
            .flat_map(|ch| DIFFUSER_MS.iter().map(move |&ms| (ch, ms)))
            .map(|(ch, ms)| {
                // Right-channel diffusers a little longer, for decorrelation.
                let ms = ms * if ch == 1 { 1.13 } else { 1.0 };
                let mut line = Line::new(self.samples(ms) + 1);
                line.set_len(self.samples(ms).max(1));
                line
            })
            .collect();
        self.mix = Smoother::new(self.mix.target(), Smoother::ramp_len(20.0, sample_rate));
        self.reset();
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn reset(&mut self) {
        for ring in self.lines.iter_mut().chain(&mut self.pre) {
            ring.clear();
        }
        for line in &mut self.diffusers {
            line.clear();
        }
        for (l, tap) in self.taps.iter_mut().enumerate() {
            tap.snap();
            self.gain_delay[l] = tap.target();
        }
        self.pre_tap.snap();
        self.update_gains();
        self.damp_state = [0.0; LINES];
    }

    /// Each parameter costs only its own update: decay one `exp` per line,
    /// size and pre-delay a multiply per tap (the taps then move on their
    /// own), damping a multiply; nothing when the value is unchanged.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            DECAY => {
                let decay_s = value.max(0.05);
                if decay_s != self.decay_s {
                    self.decay_s = decay_s;
                    self.update_gains();
                }
            }
            SIZE => {
                if value != self.size {
                    self.size = value;
                    self.retarget_lines();
                }
            }
            PRE_DELAY_MS => {
                if value != self.pre_delay_ms {
                    self.pre_delay_ms = value;
                    self.retarget_pre_delay();
                }
            }
            // Damping 0…1 → one-pole pole 0…0.7 (cutoff from open to ~2.7 kHz at 48 kHz).
            DAMPING => {
                self.damping = value;
                self.damp_coeff = 0.7 * value;
            }
            MIX => self.mix.set_target(value),
            _ => {}
        }
    }

    fn latency(&self) -> usize {
        0
    }

    crate::widened!(Reverb:
    /// Runs on the audio thread: no allocation, no locks.
    fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl Reverb {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let stereo = audio.channels() >= 2;
        let norm = 1.0 / (LINES as f32).sqrt();
        for i in 0..frames {
            let dry = [audio.channel(0)[i], if stereo { audio.channel(1)[i] } else { audio.channel(0)[i] }];
            // Diffuse and pre-delay each channel.
            let pre_tap = self.pre_tap.next();
            let mut input = [0.0f32; 2];
            for ch in 0..2 {
                let mut x = dry[ch];
                for d in &mut self.diffusers[ch * DIFFUSER_MS.len()..(ch + 1) * DIFFUSER_MS.len()] {
                    let delayed = d.read();
                    let v = x + DIFFUSER_GAIN * delayed;
                    d.write(v);
                    x = delayed - DIFFUSER_GAIN * v;
                }
                input[ch] = self.pre[ch].read_tap(pre_tap);
                self.pre[ch].push(x);
            }
            // The network: read, damp, attenuate, mix, write back with input.
            let mut outs = [0.0f32; LINES];
            let mut sum = 0.0f32;
            for l in 0..LINES {
                let tap = self.taps[l].next();
                let y = self.lines[l].read_tap(tap);
                // The attenuation follows the length being read (an `exp`
                // only while the tap moves).
                let length = if tap.weight >= 1.0 { tap.current } else { tap.previous + (tap.current - tap.previous) * tap.weight as f64 };
                if length != self.gain_delay[l] {
                    self.gain_delay[l] = length;
                    self.gains[l] = self.gain_for(length);
                }
                let damped = (1.0 - self.damp_coeff) * y + self.damp_coeff * self.damp_state[l];
                self.damp_state[l] = if damped.abs() < 1e-25 { 0.0 } else { damped };
                outs[l] = self.damp_state[l] * self.gains[l];
                sum += outs[l];
            }
            let householder = sum * (2.0 / LINES as f32);
            let (mut wet_l, mut wet_r) = (0.0f32, 0.0f32);
            for l in 0..LINES {
                let feed = outs[l] - householder + if l < LINES / 2 { input[0] } else { input[1] } * norm;
                self.lines[l].push(feed);
                wet_l += if l % 2 == 0 { outs[l] } else { -outs[l] };
                wet_r += if (l / 2) % 2 == 0 { outs[l] } else { -outs[l] };
            }
            let mix = self.mix.next();
            let wet = [wet_l * norm, wet_r * norm];
            audio.channel_mut(0)[i] = (1.0 - mix) * dry[0] + mix * wet[0];
            if stereo {
                audio.channel_mut(1)[i] = (1.0 - mix) * dry[1] + mix * wet[1];
            } else {
                audio.channel_mut(0)[i] = (1.0 - mix) * dry[0] + mix * 0.5 * (wet[0] + wet[1]);
            }
        }
    }
}
