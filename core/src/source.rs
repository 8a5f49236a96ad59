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
}

impl GeneratorState {
    pub fn new(kind: Generator, offset: u64, sample_rate: f64) -> Self {
        let seed = match kind {
            Generator::Noise { seed, .. } => seed as u32,
            _ => 0,
        };
        // Distinct non-zero states per channel (xorshift must not start at 0).
        let rng = [seed.wrapping_mul(2_654_435_761) | 1, seed.wrapping_add(0x9E37_79B9).wrapping_mul(2_246_822_519) | 1];
        Self { kind, offset, sample_rate, frame: 0, rng }
    }

    /// Continues the clock of `old` if it is the same signal.
    pub fn continue_from(&mut self, old: &GeneratorState) {
        if old.kind == self.kind && old.offset == self.offset && old.sample_rate == self.sample_rate {
            self.frame = old.frame;
            self.rng = old.rng;
        }
    }

    /// Writes the next `frames` frames into every channel of `out`.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn fill(&mut self, out: &mut AudioBuf, frames: usize) {
        let channels = out.channels().min(2);
        for i in 0..frames {
            let frame = self.frame + i as u64;
            let Some(t) = frame.checked_sub(self.offset) else {
                for ch in 0..channels {
                    out.channel_mut(ch)[i] = 0.0;
                }
                continue;
            };
            match self.kind {
                Generator::Noise { amp, .. } => {
                    for ch in 0..channels {
                        let x = xorshift(&mut self.rng[ch]);
                        // Top 24 bits → uniform in [-1, 1).
                        let u = (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
                        out.channel_mut(ch)[i] = u * amp as f32;
                    }
                }
                _ => {
                    let s = self.mono_sample(t);
                    for ch in 0..channels {
                        out.channel_mut(ch)[i] = s;
                    }
                }
            }
        }
        self.frame += frames as u64;
    }

    fn mono_sample(&self, t: u64) -> f32 {
        let sr = self.sample_rate;
        match self.kind {
            Generator::Sine { hz, amp } => {
                // Phase from the frame count, reduced to one cycle in f64, so
                // hours of rendering do not drift.
                let cycles = (t as f64 * hz / sr).fract();
                (amp * (std::f64::consts::TAU * cycles).sin()) as f32
            }
            Generator::Pulse { hz, amp } => {
                let period = |n: u64| (n as f64 * hz / sr).floor();
                if t == 0 || period(t) > period(t - 1) {
                    amp as f32
                } else {
                    0.0
                }
            }
            Generator::Impulse { at, amp } => {
                if t == at {
                    amp as f32
                } else {
                    0.0
                }
            }
            Generator::Noise { .. } => 0.0,
        }
    }
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
