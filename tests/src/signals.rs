//! Test signals the host tests feed, and the bit-exact comparison of the
//! stereo outputs they compare.

/// Two tones over xorshift32 noise, `[channel][frame]`: 220 Hz on the left,
/// 330 Hz on the right (amplitude 0.2) over noise in −0.1…0.1, the noise
/// running on from the left channel into the right. Different per channel,
/// so gain, pan, width and a filter all change the output.
pub fn tones_over_noise(frames: usize, seed: u32) -> [Vec<f32>; 2] {
    let rate = crate::clap::RATE as f32;
    let mut seed = seed;
    [0usize, 1].map(|c| {
        (0..frames)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let t = i as f32 / rate;
                0.2 * (std::f32::consts::TAU * (220.0 + 110.0 * c as f32) * t).sin() + 0.1 * ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
            })
            .collect()
    })
}

/// The first `(channel, frame)` where `a` and `b` differ in any bit (the
/// left channel searched first).
pub fn first_difference(a: &[Vec<f32>; 2], b: &[Vec<f32>; 2]) -> Option<(usize, usize)> {
    (0..2).find_map(|c| (0..a[c].len()).find(|&i| a[c][i].to_bits() != b[c][i].to_bits()).map(|i| (c, i)))
}

/// Panics, naming `what` and the first differing sample, unless `got` and
/// `want` are bit for bit the same.
pub fn assert_same(what: &str, got: &[Vec<f32>; 2], want: &[Vec<f32>; 2]) {
    if let Some((c, i)) = first_difference(got, want) {
        panic!("{what}: channel {c} first differs at frame {i}: {} vs {}", got[c][i], want[c][i]);
    }
}
