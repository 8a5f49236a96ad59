//! Audio-side sources: built-in generators, sample-exact and deterministic.

use crate::audio_buf::AudioBuf;
use crate::session::Generator;

/// A running generator. Its clock counts frames since the schedule started
/// (or since the state was carried over from the previous schedule), so the
/// signal is the same whatever the block size.
#[derive(Clone, Debug)]
pub struct GeneratorState {
    pub kind: Generator,
    /// Frames of silence before the generator starts (`startOffsetFrames`).
    pub offset: u64,
    sample_rate: f64,
    /// Frames produced so far, offset included.
    frame: u64,
    /// One xorshift state per channel, for noise.
    rng: [u32; 2],
    /// Sine as a rotating phasor `(cos, sin)` valid at time `phasor_t`,
    /// re-computed exactly every `RESYNC_FRAMES` so rounding cannot build up.
    phasor: (f64, f64),
    phasor_t: u64,
    /// `(sin, cos)` of one frame's phase step.
    rotation: (f64, f64),
}

/// How often the sine phasor is re-derived from the frame count.
const RESYNC_FRAMES: u64 = 1024;

impl GeneratorState {
    pub fn new(kind: Generator, offset: u64, sample_rate: f64) -> Self {
        let seed = match kind {
            Generator::Noise { seed, .. } => seed as u32,
            _ => 0,
        };
        // Distinct non-zero states per channel (xorshift must not start at 0).
        let rng = [seed.wrapping_mul(2_654_435_761) | 1, seed.wrapping_add(0x9E37_79B9).wrapping_mul(2_246_822_519) | 1];
        let rotation = match kind {
            Generator::Sine { hz, .. } => (std::f64::consts::TAU * hz / sample_rate).sin_cos(),
            _ => (0.0, 1.0),
        };
        Self { kind, offset, sample_rate, frame: 0, rng, phasor: (1.0, 0.0), phasor_t: u64::MAX, rotation }
    }

    /// Continues the clock of `old` if it is the same signal.
    pub fn continue_from(&mut self, old: &GeneratorState) {
        if old.kind == self.kind && old.offset == self.offset && old.sample_rate == self.sample_rate {
            self.frame = old.frame;
            self.rng = old.rng;
            self.phasor = old.phasor;
            self.phasor_t = old.phasor_t;
        }
    }

    /// Writes the next `frames` frames into every channel of `out`.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn fill(&mut self, out: &mut AudioBuf, frames: usize) {
        let channels = out.channels().min(2);
        // Frames before the start offset are silent.
        let silent = (self.offset.saturating_sub(self.frame) as usize).min(frames);
        for ch in 0..channels {
            out.channel_mut(ch)[..silent].fill(0.0);
        }
        let t0 = (self.frame + silent as u64).saturating_sub(self.offset);
        let live = silent..frames;
        match self.kind {
            Generator::Noise { amp, .. } => {
                for ch in 0..channels {
                    let rng = &mut self.rng[ch];
                    for s in &mut out.channel_mut(ch)[live.clone()] {
                        // Top 24 bits → uniform in [-1, 1).
                        let u = (xorshift(rng) >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
                        *s = u * amp as f32;
                    }
                }
            }
            Generator::Sine { hz, amp } => {
                for (j, s) in out.channel_mut(0)[live.clone()].iter_mut().enumerate() {
                    *s = (amp * self.sine_at(t0 + j as u64, hz)) as f32;
                }
            }
            Generator::Pulse { hz, amp } => {
                // A pulse on frame 0 and wherever the cycle count ticks over.
                let sr = self.sample_rate;
                // Non-negative, so truncation is floor.
                let cycle = |t: u64| (t as f64 * hz / sr) as u64;
                for (j, s) in out.channel_mut(0)[live.clone()].iter_mut().enumerate() {
                    let t = t0 + j as u64;
                    *s = if t == 0 || cycle(t) > cycle(t - 1) { amp as f32 } else { 0.0 };
                }
            }
            Generator::Voice { hz, amp, on_s, off_s } => {
                let sr = self.sample_rate;
                for (j, s) in out.channel_mut(0)[live.clone()].iter_mut().enumerate() {
                    *s = (amp * voice_sample(t0 + j as u64, sr, hz, on_s, off_s)) as f32;
                }
            }
            Generator::Impulse { at, amp } => {
                let ch0 = &mut out.channel_mut(0)[live.clone()];
                ch0.fill(0.0);
                if at >= t0 && ((at - t0) as usize) < ch0.len() {
                    ch0[(at - t0) as usize] = amp as f32;
                }
            }
        }
        if !matches!(self.kind, Generator::Noise { .. }) {
            if channels == 2 {
                let (left, right) = out.stereo_mut();
                right[live.clone()].copy_from_slice(&left[live]);
            }
        }
        self.frame += frames as u64;
    }

    /// `sin(2π·hz·t/sr)`, from a phasor advanced one frame at a time. Every
    /// `RESYNC_FRAMES` frames (and whenever `t` is not the next frame) the
    /// phase is taken from the frame count, reduced to one cycle in f64, so
    /// hours of rendering do not drift and any block size gives the same
    /// samples.
    fn sine_at(&mut self, t: u64, hz: f64) -> f64 {
        if t % RESYNC_FRAMES == 0 || self.phasor_t.wrapping_add(1) != t {
            let cycles = (t as f64 * hz / self.sample_rate).fract();
            let (s, c) = (std::f64::consts::TAU * cycles).sin_cos();
            self.phasor = (c, s);
        } else {
            let (c, s) = self.phasor;
            let (sin_step, cos_step) = self.rotation;
            self.phasor = (c * cos_step - s * sin_step, s * cos_step + c * sin_step);
        }
        self.phasor_t = t;
        self.phasor.1
    }
}

/// Harmonics of the voice generator: up to 4 kHz, at most 24.
const VOICE_MAX_HARMONICS: usize = 24;

/// One sample of the voice-like generator at frame `t` (peak about 1).
fn voice_sample(t: u64, sr: f64, hz: f64, on_s: f64, off_s: f64) -> f64 {
    let period = on_s + off_s;
    let seconds = t as f64 / sr;
    let within = if period > 0.0 { seconds % period } else { 0.0 };
    if within >= on_s {
        return 0.0;
    }
    // 10 ms raised-cosine fades at both ends of each phrase.
    let fade = 0.010f64;
    let edge = within.min(on_s - within);
    let envelope = if edge >= fade { 1.0 } else { 0.5 - 0.5 * (std::f64::consts::PI * edge / fade).cos() };
    // A slow 5 Hz vibrato of ±1 % keeps it from sounding like an organ.
    let phase = (hz * seconds + hz * 0.01 / (std::f64::consts::TAU * 5.0) * (1.0 - (std::f64::consts::TAU * 5.0 * seconds).cos())).fract();
    let formant = |f: f64, centre: f64, width: f64| (-((f - centre) / width).powi(2)).exp();
    let mut sum = 0.0;
    let mut norm = 0.0;
    for h in 1..=VOICE_MAX_HARMONICS {
        let f = hz * h as f64;
        if f > 4000.0 {
            break;
        }
        let weight = 0.3 / h as f64 + formant(f, 700.0, 150.0) + 0.7 * formant(f, 1200.0, 200.0);
        sum += weight * (std::f64::consts::TAU * phase * h as f64).sin();
        norm += weight;
    }
    envelope * sum / norm.max(1e-9) * 2.0
}

fn xorshift(state: &mut u32) -> u32 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_train_at_1000_hz_ticks_every_48_frames_from_the_offset() {
        let mut g = GeneratorState::new(Generator::Pulse { hz: 1000.0, amp: 0.5 }, 10, 48_000.0);
        let mut out = AudioBuf::new(2, 200);
        g.fill(&mut out, 200);
        let hits: Vec<usize> = (0..200).filter(|&i| out.channel(0)[i] != 0.0).collect();
        assert_eq!(hits, vec![10, 58, 106, 154]);
        assert_eq!(out.channel(1)[58], 0.5);
    }

    #[test]
    fn noise_is_bounded_zero_mean_and_differs_between_channels() {
        let mut g = GeneratorState::new(Generator::Noise { amp: 0.25, seed: 7 }, 0, 48_000.0);
        let mut out = AudioBuf::new(2, 48_000);
        g.fill(&mut out, 48_000);
        let l = out.channel(0);
        assert!(l.iter().all(|s| s.abs() <= 0.25));
        let mean = l.iter().map(|&s| s as f64).sum::<f64>() / l.len() as f64;
        assert!(mean.abs() < 0.005, "{mean}");
        assert_ne!(out.channel(0)[..100], out.channel(1)[..100]);
    }

    #[test]
    fn sine_in_two_blocks_equals_one_block() {
        let kind = Generator::Sine { hz: 997.0, amp: 1.0 };
        let mut a = GeneratorState::new(kind, 0, 48_000.0);
        let mut b = a.clone();
        let mut whole = AudioBuf::new(1, 100);
        a.fill(&mut whole, 100);
        let mut part = AudioBuf::new(1, 60);
        b.fill(&mut part, 60);
        assert_eq!(&whole.channel(0)[..60], &part.channel(0)[..60]);
        b.fill(&mut part, 40);
        assert_eq!(&whole.channel(0)[60..], &part.channel(0)[..40]);
        assert!((whole.channel(0)[12] - (std::f64::consts::TAU * 997.0 * 12.0 / 48_000.0).sin() as f32).abs() < 1e-6);
    }
}
