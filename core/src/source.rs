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
    /// Noise: `NOISE_LANES` xorshift states per channel, `[channel][lane]`.
    /// Frame `t` of a channel is drawn from lane `t % NOISE_LANES`, and
    /// lane 0 always holds the next frame's state (the lanes turn with the
    /// block's length), so any slicing gives the same samples while the
    /// lanes' independent chains run side by side in vector registers.
    rng: [[u32; NOISE_LANES]; 2],
    /// Sine as `SINE_LANES` rotating phasors, lane `k` holding `(cos, sin)`
    /// of frame `quad_t + k` (`quad_t` is the next frame to produce). Each
    /// lane steps `SINE_LANES` frames at a time, so the lanes' multiply
    /// chains run side by side instead of one long serial chain. Every frame
    /// whose position in a `RESYNC_FRAMES` cycle is below `SINE_LANES` is
    /// re-computed exactly, so each lane is re-anchored once a cycle and
    /// rounding cannot build up.
    quad_cos: [f64; SINE_LANES],
    quad_sin: [f64; SINE_LANES],
    quad_t: u64,
    /// `(sin, cos)` of `SINE_LANES` frames' phase step.
    rotation: (f64, f64),
    /// Voice generator: per-harmonic weights (formants and tilt; they depend
    /// only on `hz`) and their sum, computed once in `new`.
    voice_weights: [f64; VOICE_MAX_HARMONICS],
    voice_harmonics: usize,
    voice_norm: f64,
}

/// Independent xorshift chains per noise channel.
const NOISE_LANES: usize = 4;

/// Sine phasors stepped side by side: eight, so each lane's rotation (a
/// multiply and an add in sequence) overlaps seven others'.
const SINE_LANES: usize = 8;

/// How often every sine lane is re-derived from the frame count.
const RESYNC_FRAMES: u64 = 1024;

impl GeneratorState {
    pub fn new(kind: Generator, offset: u64, sample_rate: f64) -> Self {
        let seed = match kind {
            Generator::Noise { seed, .. } => seed as u32,
            _ => 0,
        };
        // Distinct non-zero states per channel and lane (xorshift must not
        // start at 0), each scrambled so neighbouring seeds and lanes do not
        // start on similar bit patterns.
        let rng = std::array::from_fn(|ch| std::array::from_fn(|lane| lane_seed(seed, ch, lane)));
        let rotation = match kind {
            Generator::Sine { hz, .. } => (std::f64::consts::TAU * hz * SINE_LANES as f64 / sample_rate).sin_cos(),
            _ => (0.0, 1.0),
        };
        let mut voice_weights = [0.0; VOICE_MAX_HARMONICS];
        let (mut voice_harmonics, mut voice_norm) = (0, 0.0);
        if let Generator::Voice { hz, .. } = kind {
            let formant = |f: f64, centre: f64, width: f64| (-((f - centre) / width).powi(2)).exp();
            for h in 1..=VOICE_MAX_HARMONICS {
                let f = hz * h as f64;
                if f > 4000.0 {
                    break;
                }
                let weight = 0.3 / h as f64 + formant(f, 700.0, 150.0) + 0.7 * formant(f, 1200.0, 200.0);
                voice_weights[h - 1] = weight;
                voice_norm += weight;
                voice_harmonics = h;
            }
        }
        Self {
            kind,
            offset,
            sample_rate,
            frame: 0,
            rng,
            quad_cos: [1.0; SINE_LANES],
            quad_sin: [0.0; SINE_LANES],
            quad_t: u64::MAX,
            rotation,
            voice_weights,
            voice_harmonics,
            voice_norm,
        }
    }

    /// Continues the clock of `old` if it is the same signal.
    pub fn continue_from(&mut self, old: &GeneratorState) {
        if old.kind == self.kind && old.offset == self.offset && old.sample_rate == self.sample_rate {
            self.frame = old.frame;
            self.rng = old.rng;
            self.quad_cos = old.quad_cos;
            self.quad_sin = old.quad_sin;
            self.quad_t = old.quad_t;
        }
    }

    crate::widened!(GeneratorState:
    /// Writes the next `frames` frames into every channel of `out`: on its
    /// own (not inlined into the schedule's block) so its loops get the
    /// registers to themselves.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn fill(&mut self, out: &mut AudioBuf, frames: usize) => fill_block);

    #[inline(always)]
    fn fill_block(&mut self, out: &mut AudioBuf, frames: usize) {
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
                if channels == 2 {
                    // Both channels' chains side by side: the same samples,
                    // twice the independent work per step.
                    let (left, right) = out.stereo_mut();
                    let [rng_l, rng_r] = &mut self.rng;
                    noise_pair(&mut left[live.clone()], &mut right[live.clone()], rng_l, rng_r, amp as f32);
                } else {
                    for ch in 0..channels {
                        noise(&mut out.channel_mut(ch)[live.clone()], &mut self.rng[ch], amp as f32);
                    }
                }
            }
            Generator::Sine { hz, amp } => self.sine(&mut out.channel_mut(0)[live.clone()], t0, hz, amp),
            Generator::Pulse { hz, amp } => pulses(&mut out.channel_mut(0)[live.clone()], t0, hz, self.sample_rate, amp as f32),
            Generator::Voice { hz, amp, on_s, off_s } => {
                let sr = self.sample_rate;
                let harmonics = &self.voice_weights[..self.voice_harmonics];
                let norm = self.voice_norm;
                for (j, s) in out.channel_mut(0)[live.clone()].iter_mut().enumerate() {
                    *s = (amp * voice_sample(t0 + j as u64, sr, hz, on_s, off_s, harmonics, norm)) as f32;
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

    /// Writes `amp·sin(2π·hz·t/sr)` for frames `t0, t0 + 1, …` into `out`.
    /// A frame's phasor is the one `SINE_LANES` frames earlier turned by
    /// that many frames' step, or (at the first `SINE_LANES` frames of every `RESYNC_FRAMES`
    /// cycle, and whenever `t0` is not the frame that follows the last call)
    /// taken from the frame count, reduced to one cycle in f64. So hours of
    /// rendering do not drift and any block size gives the same samples.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn sine(&mut self, out: &mut [f32], t0: u64, hz: f64, amp: f64) {
        if out.is_empty() {
            return;
        }
        if self.quad_t != t0 {
            for k in 0..L {
                (self.quad_cos[k], self.quad_sin[k]) = self.exact_phasor(t0 + k as u64, hz);
            }
        }
        const L: usize = SINE_LANES;
        let (sin_step, cos_step) = self.rotation;
        let (mut c, mut s) = (self.quad_cos, self.quad_sin);
        let mut t = t0;
        let whole = out.len() / L * L;
        let mut done = 0;
        while done < whole {
            // The group at frame t rotates plainly when its next frames
            // t + L … t + 2L − 1 do not touch the first L frames of a cycle,
            // i.e. while t's place in the cycle is at most RESYNC − 2L: a
            // run of such groups goes without a test per group.
            let place = t % RESYNC_FRAMES;
            let plain = if place <= RESYNC_FRAMES - 2 * L as u64 { ((RESYNC_FRAMES - 2 * L as u64 - place) / L as u64 + 1) as usize } else { 0 };
            let run = plain.min((whole - done) / L);
            for group in out[done..done + L * run].chunks_exact_mut(L) {
                for k in 0..L {
                    group[k] = (amp * s[k]) as f32;
                }
                for k in 0..L {
                    let (ck, sk) = (c[k], s[k]);
                    c[k] = ck * cos_step - sk * sin_step;
                    s[k] = sk * cos_step + ck * sin_step;
                }
            }
            done += L * run;
            t += (L * run) as u64;
            if run == plain && done < whole {
                // A group that needs exact phases for some lanes.
                for k in 0..L {
                    out[done + k] = (amp * s[k]) as f32;
                }
                for k in 0..L {
                    (c[k], s[k]) = self.step_lane(t + (L + k) as u64, hz, (c[k], s[k]));
                }
                done += L;
                t += L as u64;
            }
        }
        let rest = &mut out[whole..];
        let r = rest.len();
        for (k, o) in rest.iter_mut().enumerate() {
            *o = (amp * s[k]) as f32;
            (c[k], s[k]) = self.step_lane(t + (L + k) as u64, hz, (c[k], s[k]));
        }
        // Lane 0 holds the next frame again.
        c.rotate_left(r);
        s.rotate_left(r);
        (self.quad_cos, self.quad_sin) = (c, s);
        self.quad_t = t + r as u64;
    }

    /// The phasor of frame `t` from the one of frame `t − SINE_LANES`.
    fn step_lane(&self, t: u64, hz: f64, (c, s): (f64, f64)) -> (f64, f64) {
        if t % RESYNC_FRAMES < SINE_LANES as u64 {
            return self.exact_phasor(t, hz);
        }
        let (sin_step, cos_step) = self.rotation;
        (c * cos_step - s * sin_step, s * cos_step + c * sin_step)
    }

    /// `(cos, sin)` of frame `t`'s phase, from the frame count.
    fn exact_phasor(&self, t: u64, hz: f64) -> (f64, f64) {
        let cycles = (t as f64 * hz / self.sample_rate).fract();
        let (s, c) = (std::f64::consts::TAU * cycles).sin_cos();
        (c, s)
    }
}

/// Writes the pulse train into `out` (frames `t0, t0 + 1, …`): `amp` on
/// frame 0 and on every frame where the cycle count `⌊t·hz/sr⌋` ticks over,
/// silence elsewhere. The next tick is estimated by division and then
/// confirmed with the same per-frame formula, so the ticks land exactly
/// where a frame-by-frame test would put them at a few operations a block.
/// Runs on the audio thread: no allocation, no locks.
fn pulses(out: &mut [f32], t0: u64, hz: f64, sr: f64, amp: f32) {
    out.fill(0.0);
    let end = t0 + out.len() as u64;
    // Non-negative, so truncation is floor; and monotonic in t.
    let cycle = |t: u64| (t as f64 * hz / sr) as u64;
    let mut t = t0;
    if t == 0 && t < end {
        out[0] = amp;
        t = 1;
    }
    if !(hz > 0.0 && hz.is_finite() && sr > 0.0) {
        // No ticks after frame 0 (only reachable from code, not a session).
        return;
    }
    while t < end {
        let c = cycle(t - 1);
        // The first frame whose cycle count is above c, estimated (the
        // float-to-int cast saturates for huge values)...
        let mut next = (((c + 1) as f64 * sr / hz).ceil() as u64).max(t);
        // ...then corrected to the exact per-frame test.
        while next > t && cycle(next - 1) > c {
            next -= 1;
        }
        while cycle(next) <= c {
            next += 1;
        }
        if next >= end {
            break;
        }
        out[(next - t0) as usize] = amp;
        t = next + 1;
    }
}

/// Writes uniform white noise in ±`amp` into `out`, frame `j` from lane
/// `j % NOISE_LANES` of `lanes`, then turns the lanes so lane 0 holds the
/// next frame's state.
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
fn noise(out: &mut [f32], lanes: &mut [u32; NOISE_LANES], amp: f32) {
    let mut state = *lanes;
    let mut groups = out.chunks_exact_mut(NOISE_LANES);
    for group in &mut groups {
        for (s, x) in group.iter_mut().zip(&mut state) {
            *s = noise_sample(x) * amp;
        }
    }
    let rest = groups.into_remainder();
    for (s, x) in rest.iter_mut().zip(&mut state) {
        *s = noise_sample(x) * amp;
    }
    state.rotate_left(rest.len());
    *lanes = state;
}

/// [`noise`] on two channels at once (equal lengths), each from its own
/// lanes: the same samples as two calls, with the two channels' xorshift
/// chains interleaved so each waits less on its own.
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
fn noise_pair(left: &mut [f32], right: &mut [f32], lanes_l: &mut [u32; NOISE_LANES], lanes_r: &mut [u32; NOISE_LANES], amp: f32) {
    debug_assert_eq!(left.len(), right.len());
    let (mut state_l, mut state_r) = (*lanes_l, *lanes_r);
    let mut groups_l = left.chunks_exact_mut(NOISE_LANES);
    let mut groups_r = right.chunks_exact_mut(NOISE_LANES);
    for (group_l, group_r) in (&mut groups_l).zip(&mut groups_r) {
        for k in 0..NOISE_LANES {
            group_l[k] = noise_sample(&mut state_l[k]) * amp;
            group_r[k] = noise_sample(&mut state_r[k]) * amp;
        }
    }
    let (rest_l, rest_r) = (groups_l.into_remainder(), groups_r.into_remainder());
    for (k, (l, r)) in rest_l.iter_mut().zip(rest_r.iter_mut()).enumerate() {
        *l = noise_sample(&mut state_l[k]) * amp;
        *r = noise_sample(&mut state_r[k]) * amp;
    }
    state_l.rotate_left(rest_l.len());
    state_r.rotate_left(rest_r.len());
    (*lanes_l, *lanes_r) = (state_l, state_r);
}

/// Uniform in [-1, 1) from the top 24 bits of the next xorshift value.
#[inline]
fn noise_sample(rng: &mut u32) -> f32 {
    (xorshift(rng) >> 8) as f32 / (1u32 << 23) as f32 - 1.0
}

/// The starting state of one noise lane: the seed, channel and lane mixed
/// by a 64-bit finaliser (splitmix64's), never 0.
fn lane_seed(seed: u32, ch: usize, lane: usize) -> u32 {
    let mut z = (seed as u64) << 8 | (ch as u64) << 4 | lane as u64;
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z as u32) | 1
}

/// Harmonics of the voice generator: up to 4 kHz, at most 24.
const VOICE_MAX_HARMONICS: usize = 24;

/// One sample of the voice-like generator at frame `t` (peak about 1);
/// `weights` holds the harmonics' weights (from 1·hz up), `norm` their sum.
fn voice_sample(t: u64, sr: f64, hz: f64, on_s: f64, off_s: f64, weights: &[f64], norm: f64) -> f64 {
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
    let mut sum = 0.0;
    for (h, weight) in (1..).zip(weights) {
        sum += weight * (std::f64::consts::TAU * phase * h as f64).sin();
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

    /// Renders `total` frames of `kind` in blocks whose sizes cycle through `sizes`.
    fn render_sliced(kind: Generator, offset: u64, total: usize, sizes: &[usize]) -> Vec<f32> {
        let mut g = GeneratorState::new(kind, offset, 48_000.0);
        let mut buf = AudioBuf::new(2, sizes.iter().copied().max().unwrap());
        let mut out = Vec::with_capacity(total);
        for &n in sizes.iter().cycle() {
            let n = n.min(total - out.len());
            g.fill(&mut buf, n);
            out.extend_from_slice(&buf.channel(0)[..n]);
            if out.len() == total {
                return out;
            }
        }
        unreachable!()
    }

    #[test]
    fn pulses_land_where_the_frame_by_frame_test_puts_them_at_any_slicing() {
        // The plain definition: frame 0 and every frame whose ⌊t·hz/sr⌋ is
        // above the previous frame's. Rates that divide the sample rate,
        // that do not, above the sample rate and very slow ones.
        for hz in [1000.0, 4.0, 7.3, 1234.567, 0.001, 48_000.0, 60_001.5, 3.0 / 7.0] {
            let cycle = |t: u64| (t as f64 * hz / 48_000.0) as u64;
            let offset = 5;
            let total = 20_000;
            let plain: Vec<f32> = (0..total as u64)
                .map(|i| match i.checked_sub(offset) {
                    Some(t) if t == 0 || cycle(t) > cycle(t - 1) => 0.25,
                    _ => 0.0,
                })
                .collect();
            for sizes in [&[64][..], &[1], &[511, 3, 1, 97]] {
                let got = render_sliced(Generator::Pulse { hz, amp: 0.25 }, offset, total, sizes);
                assert_eq!(got, plain, "hz {hz}, blocks {sizes:?}");
            }
        }
    }

    #[test]
    fn sine_is_the_same_at_any_slicing_and_stays_on_the_exact_phase() {
        // Eight lanes re-anchored every 1024 frames: any slicing gives the
        // same samples, and after a minute the phase has not drifted (the
        // bound is f32 rounding of the output, 2^-24 of the amplitude, plus
        // a little for the rotations between anchors).
        let kind = Generator::Sine { hz: 440.0, amp: 1.0 };
        let total = 48_000 * 60;
        let whole = render_sliced(kind, 0, total, &[512]);
        for sizes in [&[1][..], &[64], &[3, 1021, 7, 2]] {
            assert_eq!(render_sliced(kind, 0, total, sizes), whole, "blocks {sizes:?}");
        }
        let worst = whole
            .iter()
            .enumerate()
            .map(|(t, &s)| (s as f64 - (std::f64::consts::TAU * (t as f64 * 440.0 / 48_000.0).fract()).sin()).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-7, "{worst}");
    }

    #[test]
    fn noise_is_the_same_at_any_slicing() {
        // Four lanes per channel turn with each block's length: uneven
        // blocks must give the samples one long block gives.
        let kind = Generator::Noise { amp: 0.5, seed: 9 };
        let whole = render_sliced(kind, 3, 10_000, &[512]);
        for sizes in [&[1][..], &[64], &[3, 1021, 7, 2]] {
            assert_eq!(render_sliced(kind, 3, 10_000, sizes), whole, "blocks {sizes:?}");
        }
        // Neighbouring samples are not correlated (lanes are independent
        // sequences, not copies): |r| < 4/√n for n samples of white noise.
        let n = whole.len() - 4;
        let r = (0..n).map(|i| whole[i + 3] as f64 * whole[i + 4] as f64).sum::<f64>() / (n as f64 * 0.25 / 3.0);
        assert!(r.abs() < 4.0 / (n as f64).sqrt(), "{r}");
    }

    #[test]
    fn stereo_noise_is_each_channel_drawn_alone_at_any_slicing() {
        // Both channels drawn side by side (noise_pair) must equal each
        // channel drawn by itself from its own lanes in one call, whatever
        // the slicing, right channel included.
        let (amp, total) = (0.5, 5_000);
        let fresh = GeneratorState::new(Generator::Noise { amp, seed: 4 }, 0, 48_000.0);
        let alone: Vec<Vec<f32>> = (0..2)
            .map(|ch| {
                let mut lanes = fresh.rng[ch];
                let mut out = vec![0.0; total];
                noise(&mut out, &mut lanes, amp as f32);
                out
            })
            .collect();
        assert_ne!(alone[0], alone[1], "the channels differ");
        for sizes in [&[total][..], &[1], &[64], &[3, 1021, 7, 2]] {
            let mut g = GeneratorState::new(Generator::Noise { amp, seed: 4 }, 0, 48_000.0);
            let mut buf = AudioBuf::new(2, sizes.iter().copied().max().unwrap());
            let mut got = vec![Vec::new(), Vec::new()];
            for &n in sizes.iter().cycle() {
                let n = n.min(total - got[0].len());
                g.fill(&mut buf, n);
                for (ch, out) in got.iter_mut().enumerate() {
                    out.extend_from_slice(&buf.channel(ch)[..n]);
                }
                if got[0].len() == total {
                    break;
                }
            }
            assert_eq!(got, alone, "blocks {sizes:?}");
        }
    }
}
