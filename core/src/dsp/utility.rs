//! `utility`: gain, polarity, stereo width and a self-inverse mid/side matrix.

use crate::audio_buf::AudioBuf;
use crate::dsp::smoother::Smoother;
use crate::insert::{db_to_gain, Insert, ParamKind, ParamSpec};

const GAIN_DB: usize = 0;
const INVERT: usize = 1;
const WIDTH: usize = 2;
const MID_SIDE: usize = 3;
const SMOOTHING_MS: f32 = 20.0;

/// Gain and stereo tools.
///
/// Order of operations per frame: width (side scaled by `width`), gain,
/// polarity, then — if `midSide` — the orthonormal matrix
/// `M = (L + R)/√2, S = (L − R)/√2` written to the left/right channels. That
/// matrix is its own inverse, so a second `utility` with `midSide` on decodes
/// what the first encoded; inserts between the two then work on mid and side.
/// Mono buses ignore `width` and `midSide`.
pub struct Utility {
    gain: Smoother,
    width: Smoother,
    invert: bool,
    mid_side: bool,
    gain_db: f32,
    width_target: f32,
    sample_rate: f32,
}

impl Utility {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec {
            id: "gainDb",
            unit: "dB",
            kind: ParamKind::Float { min: -144.0, max: 24.0, default: 0.0 },
            smoothing_ms: SMOOTHING_MS,
            doc: "gain; -144 is silence",
        },
        ParamSpec {
            id: "invert",
            unit: "",
            kind: ParamKind::Bool { default: false },
            smoothing_ms: 0.0,
            doc: "flip the polarity of every channel",
        },
        ParamSpec {
            id: "width",
            unit: "",
            kind: ParamKind::Float { min: 0.0, max: 4.0, default: 1.0 },
            smoothing_ms: SMOOTHING_MS,
            doc: "stereo width: 0 mono, 1 unchanged, 2 side doubled",
        },
        ParamSpec {
            id: "midSide",
            unit: "",
            kind: ParamKind::Bool { default: false },
            smoothing_ms: 0.0,
            doc: "apply the self-inverse mid/side matrix (encode, or decode a second time)",
        },
    ];

    pub fn new() -> Self {
        Self {
            gain: Smoother::new(1.0, 0),
            width: Smoother::new(1.0, 0),
            invert: false,
            mid_side: false,
            gain_db: 0.0,
            width_target: 1.0,
            sample_rate: 48_000.0,
        }
    }
}

impl Default for Utility {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Utility {
    fn prepare(&mut self, sample_rate: f32, _max_block: usize, _channels: usize) {
        self.sample_rate = sample_rate;
        let ramp = Smoother::ramp_len(SMOOTHING_MS, sample_rate);
        self.gain = Smoother::new(db_to_gain(self.gain_db as f64) as f32, ramp);
        self.width = Smoother::new(self.width_target, ramp);
    }

    fn reset(&mut self) {
        self.gain.reset_to(self.gain.target());
        self.width.reset_to(self.width.target());
    }

    /// Every parameter is a stored flag or a smoother's target; `gainDb`
    /// costs its one dB-to-gain conversion.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            GAIN_DB => {
                self.gain_db = value;
                self.gain.set_target(db_to_gain(value as f64) as f32);
            }
            INVERT => self.invert = value >= 0.5,
            WIDTH => {
                self.width_target = value;
                self.width.set_target(value);
            }
            MID_SIDE => self.mid_side = value >= 0.5,
            _ => {}
        }
    }

    fn latency(&self) -> usize {
        0
    }

    crate::widened!(Utility: fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl Utility {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let sign = if self.invert { -1.0 } else { 1.0 };
        if audio.channels() < 2 {
            let samples = &mut audio.channel_mut(0)[..frames];
            for s in samples {
                *s *= self.gain.next() * sign;
            }
            return;
        }
        let (left, right) = audio.stereo_mut();
        let (left, right) = (&mut left[..frames], &mut right[..frames]);
        let mid_side = self.mid_side;
        let frame = |l: f32, r: f32, width: Option<f32>, g: f32| {
            let (mut l, mut r) = (l, r);
            if let Some(width) = width {
                let mid = 0.5 * (l + r);
                let side = 0.5 * (l - r) * width;
                l = mid + side;
                r = mid - side;
            }
            l *= g;
            r *= g;
            if mid_side {
                ((l + r) * std::f32::consts::FRAC_1_SQRT_2, (l - r) * std::f32::consts::FRAC_1_SQRT_2)
            } else {
                (l, r)
            }
        };
        if !self.gain.is_ramping() && !self.width.is_ramping() {
            // Settled parameters: constants for the whole block.
            let g = self.gain.current() * sign;
            let width = (self.width.current() != 1.0).then_some(self.width.current());
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                (*l, *r) = frame(*l, *r, width, g);
            }
            return;
        }
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let width = self.width.next();
            let g = self.gain.next() * sign;
            // Width 1 skips the mid/side maths here as in the steady path,
            // so the output does not depend on where a gain ramp ends in a
            // block (bit-identical at any block size).
            (*l, *r) = frame(*l, *r, (width != 1.0).then_some(width), g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stereo(l: &[f32], r: &[f32]) -> AudioBuf {
        let mut buf = AudioBuf::new(2, l.len());
        buf.channel_mut(0).copy_from_slice(l);
        buf.channel_mut(1).copy_from_slice(r);
        buf
    }

    fn prepared(params: &[(usize, f32)]) -> Utility {
        let mut u = Utility::new();
        for &(i, v) in params {
            u.set_param(i, v);
        }
        u.prepare(48_000.0, 64, 2);
        u
    }

    #[test]
    fn minus_6_0206_db_halves_and_invert_flips() {
        let mut u = prepared(&[(GAIN_DB, -6.0206), (INVERT, 1.0)]);
        let mut buf = stereo(&[1.0, 0.5], &[-0.8, 0.0]);
        u.process(&mut buf, None, 2);
        for (got, want) in buf.channel(0).iter().zip([-0.5, -0.25]) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
        assert!((buf.channel(1)[0] - 0.4).abs() < 1e-5);
    }

    #[test]
    fn width_zero_makes_mono() {
        let mut u = prepared(&[(WIDTH, 0.0)]);
        let mut buf = stereo(&[1.0], &[0.0]);
        u.process(&mut buf, None, 1);
        assert_eq!(buf.channel(0)[0], 0.5);
        assert_eq!(buf.channel(1)[0], 0.5);
    }

    #[test]
    fn mid_side_twice_is_identity() {
        let mut enc = prepared(&[(MID_SIDE, 1.0)]);
        let mut dec = prepared(&[(MID_SIDE, 1.0)]);
        let mut buf = stereo(&[0.3, -0.7], &[0.9, 0.1]);
        enc.process(&mut buf, None, 2);
        // Encoded: left = (L+R)/√2.
        assert!((buf.channel(0)[0] - 1.2 * std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        dec.process(&mut buf, None, 2);
        for (got, want) in buf.channel(0).iter().chain(buf.channel(1)).zip([0.3, -0.7, 0.9, 0.1]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn gain_change_ramps_without_a_step() {
        let mut u = prepared(&[]);
        u.set_param(GAIN_DB, -144.0);
        let mut buf = stereo(&vec![1.0; 2000], &vec![1.0; 2000]);
        u.process(&mut buf, None, 2000);
        let out = buf.channel(0);
        let ramp = Smoother::ramp_len(SMOOTHING_MS, 48_000.0) as usize;
        let max_step = out.windows(2).map(|w| (w[0] - w[1]).abs()).fold(0.0, f32::max);
        // A linear ramp moves 1/ramp per sample; allow 1 % for f32 accumulation.
        assert!(max_step <= 1.01 / ramp as f32, "step {max_step}");
        assert_eq!(out[ramp - 1], 0.0);
    }
}
