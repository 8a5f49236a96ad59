//! True-peak meter (ITU-R BS.1770-4 Annex 2): the largest magnitude of the signal oversampled 4×, per channel.
//!
//! The oversampling is the one `ebur128` uses, so the two read the same: a
//! 48-tap Hann-windowed sinc split into `F` phases of `48 / F` taps (`F` = 4
//! below 96 kHz, 2 below 192 kHz; above that the sample peak is the true
//! peak). Tap `j` is `h[j] = w[j] · sinc((j − 24) / F)` with
//! `w[j] = ½ (1 − cos(2πj / 48))`, and phase `p` of input sample `n` is
//! `y_p[n] = Σ_k h[F·k + p] · x[n − k]`, summed in increasing `k`.
//!
//! Phase 0 is the input itself, 24 samples late: its taps sit on the sinc's
//! zeros except the centre one, which is exactly 1. So phase 0 is not
//! filtered; the sample peak stands in for it (`ebur128` filters it and
//! reports the larger of that and the sample peak, which is the same figure
//! to within the f64 rounding of `sin(kπ)`, ~1e-16).
//!
//! Speed: instead of a frame at a time through a ring, the input is copied
//! per channel into a linear buffer behind the last `taps − 1` samples, and
//! each run of 8 consecutive outputs is accumulated tap by tap in registers
//! for all phases at once (one load of 8 samples feeds every phase), the
//! largest magnitudes kept in 8 lanes. The compiler turns that into vector
//! code; [`TruePeak::process_interleaved`] is compiled a second time for
//! AVX2 (see `crate::simd`), with the same sums in the same order, so both
//! versions read the same bits.

use std::f64::consts::PI;

/// Length of the whole interpolation filter, all phases.
const FILTER_TAPS: usize = 48;
/// Frames deinterleaved and scanned at a time: bounds the per-channel
/// buffers whatever the caller passes in.
const BLOCK_FRAMES: usize = 1024;
/// Outputs accumulated together: one AVX register of f32, two SSE ones.
const LANES: usize = 8;

/// Phases 1…F−1 of the interpolation filter, `[phase − 1][tap]`.
#[derive(Clone, Copy, Debug)]
enum Oversampling {
    /// 4× (below 96 kHz): three filtered phases of 12 taps.
    Four([[f32; 12]; 3]),
    /// 2× (96 kHz up to 192 kHz): one filtered phase of 24 taps.
    Two([[f32; 24]; 1]),
    /// 192 kHz and up: the samples are dense enough; no filtering.
    None([[f32; 1]; 0]),
}

/// Streaming true-peak meter for a few interleaved channels.
pub struct TruePeak {
    channels: usize,
    oversampling: Oversampling,
    /// Taps per phase (48 / F, or 1 without oversampling).
    taps: usize,
    /// `[channel][sample]`, `taps − 1 + BLOCK_FRAMES` per channel: the last
    /// `taps − 1` input samples, then the block being scanned. Allocated in
    /// `new`.
    history: Box<[f32]>,
    /// `[channel]` largest magnitude so far, linear.
    peaks: Box<[f32]>,
}

impl TruePeak {
    /// A meter for `channels` interleaved channels at `sample_rate` Hz,
    /// reading 0 until it sees a sample. Allocates here, never later.
    pub fn new(channels: usize, sample_rate: u32) -> Self {
        let oversampling = if sample_rate < 96_000 {
            Oversampling::Four(phases::<3, 12>())
        } else if sample_rate < 192_000 {
            Oversampling::Two(phases::<1, 24>())
        } else {
            Oversampling::None([])
        };
        let taps = match oversampling {
            Oversampling::Four(_) => 12,
            Oversampling::Two(_) => 24,
            Oversampling::None(_) => 1,
        };
        Self {
            channels,
            oversampling,
            taps,
            history: vec![0.0; channels * (taps - 1 + BLOCK_FRAMES)].into_boxed_slice(),
            peaks: vec![0.0; channels].into_boxed_slice(),
        }
    }

    crate::widened!(TruePeak: fn process_interleaved_dispatch(&mut self, frames: &[f32]) => process_interleaved_body);

    /// Measures `frames`: interleaved samples, `channels` per frame (a
    /// trailing partial frame is ignored). Any split of a signal into calls
    /// reads the same peak, bit for bit.
    /// No allocation, no locks (fit for the audio thread).
    pub fn process_interleaved(&mut self, frames: &[f32]) {
        self.process_interleaved_dispatch(frames);
    }

    /// Largest true peak so far over all channels, linear.
    pub fn peak(&self) -> f64 {
        self.peaks.iter().fold(0.0f32, |m, &p| m.max(p)) as f64
    }

    /// Largest true peak so far of channel `channel`, linear.
    pub fn channel_peak(&self, channel: usize) -> f64 {
        self.peaks[channel] as f64
    }

    /// Forgets every sample seen: peaks back to 0, filter history silent.
    pub fn reset(&mut self) {
        self.history.fill(0.0);
        self.peaks.fill(0.0);
    }

    #[inline(always)]
    fn process_interleaved_body(&mut self, frames: &[f32]) {
        // A copy of the coefficients (≤ 144 floats), so `self` stays free to borrow.
        match self.oversampling {
            Oversampling::Four(coeffs) => self.process_with(&coeffs, frames),
            Oversampling::Two(coeffs) => self.process_with(&coeffs, frames),
            Oversampling::None(coeffs) => self.process_with(&coeffs, frames),
        }
    }

    /// The body for `P` filtered phases of `K` taps.
    #[inline(always)]
    fn process_with<const P: usize, const K: usize>(&mut self, coeffs: &[[f32; K]; P], frames: &[f32]) {
        debug_assert_eq!(K, self.taps);
        let channels = self.channels;
        if channels == 0 {
            return;
        }
        let stride = K - 1 + BLOCK_FRAMES;
        for block in frames.chunks(BLOCK_FRAMES * channels) {
            let n = block.len() / channels;
            if n == 0 {
                continue;
            }
            for (c, (signal, peak)) in self.history.chunks_exact_mut(stride).zip(self.peaks.iter_mut()).enumerate() {
                for (slot, frame) in signal[K - 1..K - 1 + n].iter_mut().zip(block.chunks_exact(channels)) {
                    *slot = frame[c];
                }
                *peak = scan(coeffs, &signal[..K - 1 + n], *peak);
                // The newest K − 1 samples are the next block's history.
                signal.copy_within(n..n + K - 1, 0);
            }
        }
    }
}

/// Phases 1…P of the `P + 1`-phase split of the 48-tap filter, `K` taps
/// each (`(P + 1) · K = 48`), `[phase − 1][tap]`.
fn phases<const P: usize, const K: usize>() -> [[f32; K]; P] {
    let factor = (P + 1) as f64;
    debug_assert_eq!((P + 1) * K, FILTER_TAPS);
    let tap = |j: usize| {
        let window = 0.5 * (1.0 - (2.0 * PI * j as f64 / FILTER_TAPS as f64).cos());
        let m = j as f64 - (FILTER_TAPS / 2) as f64;
        if m == 0.0 {
            window
        } else {
            let x = PI * m / factor;
            window * x.sin() / x
        }
    };
    std::array::from_fn(|p| std::array::from_fn(|k| tap((P + 1) * k + p + 1) as f32))
}

/// `m` or `|y|`, whichever is larger (a NaN `y` leaves `m`); one vector max.
#[inline(always)]
fn max_magnitude(m: f32, y: f32) -> f32 {
    let a = y.abs();
    if a > m {
        a
    } else {
        m
    }
}

/// The largest of `peak` and the magnitudes of every phase of every output
/// in `signal`: its first `K − 1` samples are history, each later sample
/// `x[n]` gives outputs `x[n]` (phase 0) and `y_p[n]`, p = 1…P.
#[inline(always)]
fn scan<const P: usize, const K: usize>(coeffs: &[[f32; K]; P], signal: &[f32], peak: f32) -> f32 {
    let outputs = signal.len() + 1 - K;
    let runs = outputs / LANES;
    let mut lanes = [peak; LANES];
    for run in 0..runs {
        // Outputs run·8 … run·8 + 7; x[n − k] of lane l is window[K − 1 − k + l].
        let window = &signal[run * LANES..run * LANES + K - 1 + LANES];
        let mut acc = [[0.0f32; LANES]; P];
        for k in 0..K {
            let x = &window[K - 1 - k..K - 1 - k + LANES];
            for (phase, taps) in acc.iter_mut().zip(coeffs) {
                for (y, &x) in phase.iter_mut().zip(x) {
                    *y += taps[k] * x;
                }
            }
        }
        for (l, lane) in lanes.iter_mut().enumerate() {
            *lane = max_magnitude(*lane, window[K - 1 + l]);
            for phase in &acc {
                *lane = max_magnitude(*lane, phase[l]);
            }
        }
    }
    // The last outputs one at a time, each summed in the same order.
    let mut peak = lanes.into_iter().fold(0.0f32, max_magnitude);
    for n in runs * LANES + K - 1..signal.len() {
        peak = max_magnitude(peak, signal[n]);
        for taps in coeffs {
            let mut y = 0.0f32;
            for (k, &h) in taps.iter().enumerate() {
                y += h * signal[n - k];
            }
            peak = max_magnitude(peak, y);
        }
    }
    peak
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-channel true peaks of interleaved `signal` by `ebur128` (the
    /// reference implementation the meter replaces).
    fn oracle(channels: usize, rate: u32, signal: &[f32]) -> Vec<f64> {
        let mut ebu = ebur128::EbuR128::new(channels as u32, rate, ebur128::Mode::TRUE_PEAK).unwrap();
        ebu.add_frames_f32(signal).unwrap();
        (0..channels as u32).map(|c| ebu.true_peak(c).unwrap()).collect()
    }

    fn ours(channels: usize, rate: u32, signal: &[f32]) -> TruePeak {
        let mut meter = TruePeak::new(channels, rate);
        meter.process_interleaved(signal);
        meter
    }

    /// Both implementations sum the same f32 products in the same order;
    /// the coefficients come from the same formula written differently, so
    /// an f32 coefficient may differ in its last bit (6e-8 relative), and
    /// ebur128's phase 0 carries ~1e-16 residues. 1e-6 relative bounds that
    /// with room and still catches any wrong tap, phase or history sample.
    fn assert_agrees(channels: usize, rate: u32, signal: &[f32]) {
        let want = oracle(channels, rate, signal);
        let meter = ours(channels, rate, signal);
        for (c, &w) in want.iter().enumerate() {
            let got = meter.channel_peak(c);
            assert!((got - w).abs() <= 1e-6 * w, "{channels} ch at {rate} Hz, channel {c}: ours {got}, ebur128 {w}");
        }
        let max = want.iter().copied().fold(0.0, f64::max);
        assert!((meter.peak() - max).abs() <= 1e-6 * max);
    }

    /// Uniform noise in −amp…amp, from a xorshift (reproducible, no crate).
    fn noise(len: usize, amp: f32, mut seed: u32) -> Vec<f32> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                amp * ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
            })
            .collect()
    }

    /// `channels` copies of one sine (each channel a different phase), interleaved.
    fn sine(channels: usize, rate: u32, hz: f64, amp: f64, frames: usize) -> Vec<f32> {
        (0..frames * channels)
            .map(|i| {
                let (n, c) = (i / channels, i % channels);
                (amp * (2.0 * PI * hz * n as f64 / rate as f64 + 0.7 * c as f64).sin()) as f32
            })
            .collect()
    }

    #[test]
    fn white_noise_reads_as_ebur128_mono_and_stereo_at_44_1_48_and_96_khz() {
        for rate in [44_100, 48_000, 96_000] {
            for channels in [1, 2] {
                // Not a multiple of 8 frames nor of the block: the tail path runs too.
                assert_agrees(channels, rate, &noise(channels * (rate as usize / 2 + 13), 0.8, 7 + rate));
            }
        }
    }

    #[test]
    fn sines_read_as_ebur128_from_low_to_near_nyquist() {
        for rate in [44_100, 48_000, 96_000] {
            for hz in [50.0, 997.0, 5_000.0, 11_025.0, 17_000.0, 20_000.0] {
                for channels in [1, 2] {
                    assert_agrees(channels, rate, &sine(channels, rate, hz, 0.5, 9_001));
                }
            }
        }
    }

    #[test]
    fn quarter_rate_sine_at_45_degrees_peaks_3_db_over_its_samples() {
        // sin(πn/2 + π/4) has samples ±√½ and crests between them: the 4×
        // grid lands on the crests (phase 2), so the true peak is the
        // amplitude times the filter's gain at fs/4, which for this filter is
        // |Σ_k h[4k + 2] e^{−iπk/2}|, computed here from the formula itself.
        let rate = 48_000;
        let amp = 0.5;
        // Faded in over 0.1 s: an abrupt start rings (Gibbs) to 1.6 % over
        // the steady crest; a fade this slow leaves ~1e-8 of that.
        let fade = 4_800;
        let signal: Vec<f32> = (0..2 * fade)
            .map(|n| {
                let gain = if n < fade { 0.5 * (1.0 - (PI * n as f64 / fade as f64).cos()) } else { 1.0 };
                (gain * amp * (PI * n as f64 / 2.0 + PI / 4.0).sin()) as f32
            })
            .collect();
        let sample_peak = signal.iter().fold(0.0f32, |m, x| m.max(x.abs())) as f64;
        assert!((sample_peak - amp * 0.5f64.sqrt()).abs() < 1e-7);
        let h = |j: usize| {
            let w = 0.5 * (1.0 - (2.0 * PI * j as f64 / 48.0).cos());
            let m = j as f64 - 24.0;
            if m == 0.0 {
                w
            } else {
                w * (PI * m / 4.0).sin() / (PI * m / 4.0)
            }
        };
        let (re, im) = (0..12).fold((0.0, 0.0), |(re, im), k| {
            let a = -PI * k as f64 / 2.0;
            (re + h(4 * k + 2) * a.cos(), im + h(4 * k + 2) * a.sin())
        });
        let gain = (re * re + im * im).sqrt();
        let meter = ours(1, rate, &signal);
        // f32 taps, samples and sums (12 products, each rounded to ~3e-8)
        // plus the fade's ~1e-8.
        assert!((meter.peak() - amp * gain).abs() < 1e-6, "{} vs {}", meter.peak(), amp * gain);
        let over_db = 20.0 * (meter.peak() / sample_peak).log10();
        // 3.01 dB, less the filter's small passband droop at fs/4.
        assert!((over_db - 3.01).abs() < 0.05, "{over_db} dB over the sample peak");
        assert_agrees(1, rate, &signal);
    }

    #[test]
    fn a_lone_impulse_reads_its_own_height_in_its_channel_only() {
        // The impulse response is the filter itself: its largest tap is the
        // centre one, exactly 1, so the true peak is the impulse's height.
        for rate in [44_100, 48_000, 96_000] {
            let mut signal = vec![0.0f32; 2 * 3_000];
            signal[2 * 1_500 + 1] = -0.75;
            let meter = ours(2, rate, &signal);
            assert_eq!(meter.channel_peak(0), 0.0);
            assert_eq!(meter.channel_peak(1), 0.75);
            assert_agrees(2, rate, &signal);
        }
    }

    #[test]
    fn at_192_khz_and_up_the_true_peak_is_the_sample_peak() {
        let signal = noise(2 * 10_001, 0.9, 3);
        let meter = ours(2, 192_000, &signal);
        for c in 0..2 {
            let want = signal.iter().skip(c).step_by(2).fold(0.0f32, |m, x| m.max(x.abs()));
            assert_eq!(meter.channel_peak(c), want as f64);
        }
    }

    #[test]
    fn any_split_into_calls_reads_the_same_bits() {
        for (channels, rate) in [(1, 48_000), (2, 44_100), (2, 96_000), (3, 48_000)] {
            let signal = noise(channels * 20_000, 0.7, 11);
            let whole = ours(channels, rate, &signal);
            for chunk in [1, 7, 64, 4096] {
                let mut split = TruePeak::new(channels, rate);
                for part in signal.chunks(chunk * channels) {
                    split.process_interleaved(part);
                }
                for c in 0..channels {
                    assert_eq!(split.channel_peak(c).to_bits(), whole.channel_peak(c).to_bits(), "{channels} ch, {rate} Hz, chunks of {chunk}");
                }
            }
        }
    }

    #[test]
    fn reset_forgets_peaks_and_history() {
        let loud = noise(2 * 5_000, 0.9, 5);
        let quiet = noise(2 * 5_000, 0.1, 6);
        let mut meter = ours(2, 48_000, &loud);
        meter.reset();
        assert_eq!(meter.peak(), 0.0);
        meter.process_interleaved(&quiet);
        // Loud history left in the filter would raise the first outputs.
        let fresh = ours(2, 48_000, &quiet);
        assert_eq!(meter.peak().to_bits(), fresh.peak().to_bits());
        assert!(meter.peak() < 0.2);
    }

    #[test]
    fn wide_and_baseline_versions_read_the_same_bits() {
        // The only test that switches the global SIMD level; the others read
        // the same bits either way, so running beside them is harmless.
        if !crate::simd::cpu_supports_wide() {
            eprintln!("no AVX2+FMA here: both runs take the baseline version");
        }
        let cases = [(1, 44_100, 3), (2, 48_000, 4), (2, 96_000, 5), (5, 48_000, 6)];
        let signals: Vec<Vec<f32>> = cases.iter().map(|&(channels, _, seed)| noise(channels * 30_007, 0.9, seed)).collect();
        let run = |wide: bool| {
            crate::simd::allow_wide(wide);
            cases.iter().zip(&signals).flat_map(|(&(channels, rate, _), s)| {
                let meter = ours(channels, rate, s);
                (0..channels).map(move |c| meter.channel_peak(c).to_bits())
            }).collect::<Vec<u64>>()
        };
        let baseline = run(false);
        let wide = run(true);
        assert_eq!(baseline, wide);
    }
}
