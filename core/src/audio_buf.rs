//! `AudioBuf`: a planar, fixed-capacity audio buffer that the audio thread never resizes.

/// Planar audio, `channels` channels of `capacity` frames each.
///
/// Storage is one `Vec<f32>` laid out `[channel][frame]`, allocated once in
/// [`AudioBuf::new`] (on the control side) and never grown afterwards.
#[derive(Clone, Debug)]
pub struct AudioBuf {
    /// `[channel][frame]`, `channels * capacity` samples, allocated in `new`.
    data: Vec<f32>,
    channels: usize,
    capacity: usize,
}

impl AudioBuf {
    /// A silent buffer. Allocates; call on the control side.
    pub fn new(channels: usize, capacity: usize) -> Self {
        Self { data: vec![0.0; channels * capacity], channels, capacity }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Frames per channel this buffer can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// One channel, all `capacity` frames.
    pub fn channel(&self, ch: usize) -> &[f32] {
        &self.data[ch * self.capacity..(ch + 1) * self.capacity]
    }

    /// One channel, all `capacity` frames, writable.
    pub fn channel_mut(&mut self, ch: usize) -> &mut [f32] {
        &mut self.data[ch * self.capacity..(ch + 1) * self.capacity]
    }

    /// The first two channels at once, writable (for stereo processing).
    ///
    /// # Panics
    /// If the buffer has fewer than two channels.
    pub fn stereo_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        let (left, right) = self.data.split_at_mut(self.capacity);
        (left, &mut right[..self.capacity])
    }

    /// Zeroes the first `frames` frames of every channel.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn clear(&mut self, frames: usize) {
        for ch in 0..self.channels {
            self.channel_mut(ch)[..frames].fill(0.0);
        }
    }

    /// Copies the first `frames` frames from `src`, converting the channel count
    /// with [`mix_into`].
    /// Runs on the audio thread: no allocation, no locks.
    pub fn copy_from(&mut self, src: &AudioBuf, frames: usize) {
        self.clear(frames);
        mix_into(src, self, frames, 1.0);
    }
}

/// Adds `gain * src` into `dst` over `frames` frames, converting channel counts
/// the way a mixer does:
/// - equal counts: channel to channel;
/// - mono into stereo: the mono signal at unity on both sides (dual mono, as a
///   mono item on a stereo track in Reaper or Bitwig);
/// - stereo into mono: the average `(L + R) / 2`, so a centred source keeps
///   its level.
///
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
pub fn mix_into(src: &AudioBuf, dst: &mut AudioBuf, frames: usize, gain: f32) {
    match (src.channels(), dst.channels()) {
        (s, d) if s == d => {
            for ch in 0..d {
                add_scaled(&src.channel(ch)[..frames], &mut dst.channel_mut(ch)[..frames], gain);
            }
        }
        (1, d) => {
            for ch in 0..d {
                add_scaled(&src.channel(0)[..frames], &mut dst.channel_mut(ch)[..frames], gain);
            }
        }
        (s, 1) => {
            let per_channel = gain / s as f32;
            for ch in 0..s {
                add_scaled(&src.channel(ch)[..frames], &mut dst.channel_mut(0)[..frames], per_channel);
            }
        }
        (s, d) => {
            // Not reachable with the mono/stereo sessions the loader accepts;
            // map channel to channel and leave the rest silent.
            for ch in 0..s.min(d) {
                add_scaled(&src.channel(ch)[..frames], &mut dst.channel_mut(ch)[..frames], gain);
            }
        }
    }
}

/// Runs on the audio thread: no allocation, no locks.
/// [`mix_into`] into a buffer that holds nothing yet: `dst = src · gain`
/// (channels mapped as `mix_into` maps them), saving the clear and the
/// read of the silence it would add to. The same values as clearing and
/// mixing, but for the sign of a zero (`0 + −0 = +0`).
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
pub fn write_into(src: &AudioBuf, dst: &mut AudioBuf, frames: usize, gain: f32) {
    match (src.channels(), dst.channels()) {
        (s, d) if s == d => {
            for ch in 0..d {
                write_scaled(&src.channel(ch)[..frames], &mut dst.channel_mut(ch)[..frames], gain);
            }
        }
        (1, d) => {
            for ch in 0..d {
                write_scaled(&src.channel(0)[..frames], &mut dst.channel_mut(ch)[..frames], gain);
            }
        }
        _ => {
            dst.clear(frames);
            mix_into(src, dst, frames, gain);
        }
    }
}

/// `dst = src · gain` (a copy at unity).
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
pub(crate) fn write_scaled(src: &[f32], dst: &mut [f32], gain: f32) {
    if gain == 1.0 {
        dst.copy_from_slice(src);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s * gain;
        }
    }
}

/// `dst += src · gain` (a plain sum at unity).
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
pub(crate) fn add_scaled(src: &[f32], dst: &mut [f32], gain: f32) {
    if gain == 1.0 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += *s;
        }
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += *s * gain;
        }
    }
}

/// Replaces NaN and ±Inf with silence and flushes denormals to zero.
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
pub fn sanitize(samples: &mut [f32]) {
    const EXPONENT: u32 = 0x7f80_0000;
    const LOWEST_EXPONENT: u32 = 0x0080_0000;
    for s in samples {
        // Exponent all zeros: zero or denormal; all ones: Inf or NaN. Adding
        // one exponent step moves all ones to the sign bit and all zeros to
        // the lowest step, so one signed comparison keeps exactly the normal
        // numbers. Written without branches so it vectorises, in four vector
        // operations where the two separate tests took six.
        let bits = s.to_bits();
        let stepped = ((bits & EXPONENT) + LOWEST_EXPONENT) as i32;
        let keep = (stepped > LOWEST_EXPONENT as i32) as u32;
        *s = f32::from_bits(bits & keep.wrapping_neg());
    }
}

/// Largest magnitude in `samples` (0 for none). Eight running maxima so
/// the loop vectorises (one chain is enough here: a maximum is cheaper to
/// wait on than a sum, and short blocks end sooner).
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
pub fn peak(samples: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = samples.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, s) in lanes.iter_mut().zip(chunk) {
            let a = s.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    let mut m = max_of_lanes(lanes);
    for s in rest {
        m = m.max(s.abs());
    }
    m
}

/// Running lanes of the meter sums: sixteen, so the additions and maxima
/// of one block run as two (AVX2) or four (SSE2) independent vector chains
/// instead of waiting on one.
const LANES: usize = 16;

/// `lanes` (a power of two of them) folded pairwise by `op`: lane i with
/// lane i + N/2, then the halves again, so the steps vectorise and run
/// log2 N deep instead of N − 1.
#[inline(always)]
fn fold_lanes<const N: usize>(mut lanes: [f32; N], op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut half = N / 2;
    while half > 0 {
        for i in 0..half {
            lanes[i] = op(lanes[i], lanes[i + half]);
        }
        half /= 2;
    }
    lanes[0]
}

/// The largest of the lanes' magnitudes (never NaN, never −0): the same
/// value as a fold, in fewer cycles.
#[inline(always)]
fn max_of_lanes<const N: usize>(lanes: [f32; N]) -> f32 {
    fold_lanes(lanes, |a, b| if a > b { a } else { b })
}

/// The sum of the lanes, added pairwise.
#[inline(always)]
fn sum_of_lanes(lanes: [f32; LANES]) -> f32 {
    fold_lanes(lanes, |a, b| a + b)
}

/// Sum of squares, with `LANES` partial sums so the loop vectorises.
/// Samples above ~1.8e19 overflow to +∞, which callers clamp; nothing
/// finite here can make NaN.
/// Runs on the audio thread: no allocation, no locks.
pub fn sum_of_squares(samples: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = samples.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (acc, &s) in lanes.iter_mut().zip(chunk) {
            *acc += s * s;
        }
    }
    sum_of_lanes(lanes) + rest.iter().map(|&s| s * s).sum::<f32>()
}

/// [`peak`] and [`sum_of_squares`] in one pass over `samples`, with the
/// same lanes each, so both results equal the separate functions' bit for
/// bit at half the loads.
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
pub fn peak_and_sum_of_squares(samples: &[f32]) -> (f32, f32) {
    let mut max_lanes = [0.0f32; LANES];
    let mut sq_lanes = [0.0f32; LANES];
    let chunks = samples.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for ((m, acc), &s) in max_lanes.iter_mut().zip(&mut sq_lanes).zip(chunk) {
            let a = s.abs();
            *m = if a > *m { a } else { *m };
            *acc += s * s;
        }
    }
    let mut m = max_of_lanes(max_lanes);
    for s in rest {
        m = m.max(s.abs());
    }
    (m, sum_of_lanes(sq_lanes) + rest.iter().map(|&s| s * s).sum::<f32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_zeroes_nan_inf_and_denormals_only() {
        let mut x = [f32::NAN, f32::INFINITY, -f32::INFINITY, 1e-40, -1e-42, 0.5, -2.0, f32::MAX, f32::MIN_POSITIVE, 0.0];
        sanitize(&mut x);
        assert_eq!(x, [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, -2.0, f32::MAX, f32::MIN_POSITIVE, 0.0]);
    }

    #[test]
    fn sanitize_keeps_exactly_the_normal_numbers_at_every_exponent() {
        // Every exponent, both signs, the smallest and largest mantissa.
        for exponent in 0..=255u32 {
            for bits in [exponent << 23, exponent << 23 | 0x007f_ffff, 1 << 31 | exponent << 23 | 1] {
                let x = f32::from_bits(bits);
                let mut y = [x];
                sanitize(&mut y);
                let want = if x.is_normal() { x.to_bits() } else { 0 };
                assert_eq!(y[0].to_bits(), want, "{bits:#010x}");
            }
        }
    }

    #[test]
    fn peak_and_sum_of_squares_match_plain_loops() {
        let x: Vec<f32> = (0..37).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
        assert_eq!(peak(&x), x.iter().fold(0.0f32, |a, s| a.max(s.abs())));
        // Small integers: every partial sum is exact, so any order agrees.
        let plain: f32 = x.iter().map(|&s| s * s).sum();
        assert_eq!(sum_of_squares(&x), plain);
        assert_eq!(sum_of_squares(&[f32::MAX, f32::MAX]), f32::INFINITY);
    }

    #[test]
    fn peak_and_sum_of_squares_in_one_pass_equal_the_two_passes_bit_for_bit() {
        // Non-integer samples, so a different summation order would show.
        for len in [0, 1, 7, 8, 64, 67, 512] {
            let x: Vec<f32> = (0..len).map(|i| ((i as f32 * 0.731).sin() * 1.37) / (1.0 + i as f32 * 0.01)).collect();
            let (p, sq) = peak_and_sum_of_squares(&x);
            assert_eq!(p.to_bits(), peak(&x).to_bits(), "len {len}");
            assert_eq!(sq.to_bits(), sum_of_squares(&x).to_bits(), "len {len}");
        }
    }
}
