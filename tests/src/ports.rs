//! What the port tests (`tests/ports_clap.rs`, `tests/ports_vst3.rs`) feed
//! and expect, the same for both formats: the test sessions, one distinct
//! signal per input port, and the outputs the sessions imply.

/// ```text
///   Sidechain 1 ─▶ [key1: ×0.5] ─▶ master ─▶ Output
/// ```
/// Nothing else is bound: main input and Sidechain 2 must not be heard.
pub const KEY1_ONLY: &str = include_str!("../sessions/key1_only.json");
/// ```text
///   Sidechain 2 ─▶ [key2: ×0.25] ─▶ master ─▶ Output
/// ```
pub const KEY2_ONLY: &str = include_str!("../sessions/key2_only.json");
/// ```text
///   Input       ─▶ [music: ×0.5,   slot 1] ─┐
///   Sidechain 1 ─▶ [key1:  ×0.25,  slot 4] ─┼─▶ master (plain sum) ─▶ Output
///   Sidechain 2 ─▶ [key2:  ×0.125, slot 8] ─┘
/// ```
/// Stems 1, 4 and 8 carry the three buses; the other five slots are empty.
/// No inserts: no latency, so outputs line up with inputs sample for sample.
pub const THREE_PORTS_TO_STEMS: &str = include_str!("../sessions/three_ports_to_stems.json");

/// Gains of [`THREE_PORTS_TO_STEMS`]'s buses, by input port (main, key 1, key 2).
pub const STEM_GAINS: [f32; 3] = [0.5, 0.25, 0.125];
/// The stem (1-based bus slot) each input port's bus lands on.
pub const STEM_OF_PORT: [usize; 3] = [1, 4, 8];

/// Powers of two are exact in f32, but the engine composes a bus level in
/// dB (session level + host trim) and converts back, which can cost an
/// ulp or two of the gain: at these amplitudes (< 0.4) about 1e-7.
pub const TOLERANCE: f32 = 1e-6;

/// Input port `port`'s test signal (0 main, 1 Sidechain 1, 2 Sidechain 2):
/// a sine whose frequency differs per port and channel, so a swapped port
/// or channel shows, `[channel][frame]`.
pub fn signal(port: usize, frames: usize) -> [Vec<f32>; 2] {
    [0, 1].map(|ch| (0..frames).map(|i| 0.35 * (i as f32 * 0.003 * (1 + 2 * port + ch) as f32 + port as f32).sin()).collect())
}

/// `x` times `gain`, per channel.
pub fn scaled(x: &[Vec<f32>; 2], gain: f32) -> [Vec<f32>; 2] {
    [0, 1].map(|ch| x[ch].iter().map(|s| s * gain).collect())
}

/// The sum of stereo signals.
pub fn sum(parts: &[[Vec<f32>; 2]], frames: usize) -> [Vec<f32>; 2] {
    [0, 1].map(|ch| (0..frames).map(|i| parts.iter().map(|p| p[ch][i]).sum()).collect())
}

pub fn silent(frames: usize) -> [Vec<f32>; 2] {
    [vec![0.0; frames], vec![0.0; frames]]
}

/// What [`THREE_PORTS_TO_STEMS`] puts on the master when the ports in
/// `heard` carry their [`signal`]s and the others are silent (or absent).
pub fn three_ports_mix(heard: &[usize], frames: usize) -> [Vec<f32>; 2] {
    let parts: Vec<[Vec<f32>; 2]> = heard.iter().map(|&p| scaled(&signal(p, frames), STEM_GAINS[p])).collect();
    sum(&parts, frames)
}

/// Panics with the first frame where `actual` strays from `expected` by
/// more than `tolerance` (both stereo, `[channel][frame]`).
pub fn assert_close(actual: &[Vec<f32>; 2], expected: &[Vec<f32>; 2], tolerance: f32, what: &str) {
    for ch in 0..2 {
        assert_eq!(actual[ch].len(), expected[ch].len(), "{what}: length");
        // A NaN difference counts as a miss.
        let misses = |a: f32, e: f32| (a - e).abs().is_nan() || (a - e).abs() > tolerance;
        if let Some((i, (a, e))) = actual[ch].iter().zip(&expected[ch]).enumerate().find(|(_, (a, e))| misses(**a, **e)) {
            panic!("{what}: channel {ch} frame {i}: {a}, expected {e} (±{tolerance})");
        }
    }
}

/// Panics unless every sample is exactly 0.
pub fn assert_silent(actual: &[Vec<f32>; 2], what: &str) {
    for (ch, channel) in actual.iter().enumerate() {
        if let Some((i, s)) = channel.iter().enumerate().find(|(_, s)| **s != 0.0) {
            panic!("{what}: channel {ch} frame {i} is {s}, expected silence");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_sessions_load_without_warnings() {
        for json in [KEY1_ONLY, KEY2_ONLY, THREE_PORTS_TO_STEMS] {
            let loaded = mam_core::session::load_str(json).expect("loads");
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        }
    }

    #[test]
    fn port_signals_differ_and_are_audible() {
        let frames = 4096;
        let s: Vec<[Vec<f32>; 2]> = (0..3).map(|p| signal(p, frames)).collect();
        for a in 0..3 {
            assert_ne!(s[a][0], s[a][1], "channels differ");
            assert!(s[a][0].iter().any(|x| x.abs() > 0.3), "loud enough");
            for b in a + 1..3 {
                assert_ne!(s[a][0], s[b][0], "ports differ");
            }
        }
    }
}
