//! `spectral_ducker`: lowers a bus only in the frequencies where a key signal has energy (STFT, or a zero-latency filter bank).

mod filterbank;

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::audio_buf::AudioBuf;
use crate::dsp::fast_math;
use crate::dsp::smoother::Smoother;
use crate::insert::{Insert, ParamKind, ParamSpec, SpectrumDisplay};
use filterbank::FilterBank;

const DEPTH_DB: usize = 0;
const THRESHOLD_DB: usize = 1;
const RATIO: usize = 2;
const ATTACK_MS: usize = 3;
const RELEASE_MS: usize = 4;
const TIMING_TILT: usize = 5;
const LOW_HZ: usize = 6;
const HIGH_HZ: usize = 7;
const SMOOTHING: usize = 8;
const STEREO_LINK: usize = 9;
const MODE: usize = 10;
const MIX: usize = 11;
const FFT_SIZE: usize = 12;
const OVERLAP: usize = 13;
const ALGORITHM: usize = 14;
const BANDS: usize = 15;

const FFT_SIZES: [usize; 4] = [512, 1024, 2048, 4096];
const MAX_FFT: usize = 4096;
const MAX_BINS: usize = MAX_FFT / 2 + 1;
/// Largest hop (the largest FFT at the smallest overlap).
const MAX_HOP: usize = MAX_FFT / 4;
/// A key whose loudest bin is below this power (−100 dBFS) counts as absent.
const KEY_PRESENT_POWER: f32 = 1e-10;
/// Timing is specified at this frequency; `timingTilt` scales around it.
const TILT_PIVOT_HZ: f32 = 1000.0;
const MIX_SMOOTHING_MS: f32 = 20.0;

/// Per-bin tables a parameter change leaves stale, as bits of
/// `SpectralDucker::stale`: `timingTilt` → the time scales (and with them
/// both coefficient tables), `attackMs` / `releaseMs` → their own table,
/// `smoothing` → the smoothing widths.
const STALE_TIME_SCALE: u8 = 1;
const STALE_ATTACK: u8 = 2;
const STALE_RELEASE: u8 = 4;
const STALE_HALF_WIDTH: u8 = 8;
const STALE_ALL: u8 = STALE_TIME_SCALE | STALE_ATTACK | STALE_RELEASE | STALE_HALF_WIDTH;

/// The spectral ducker.
///
/// Program and key run through matching STFTs (√Hann analysis and synthesis
/// windows, `fftSize` points, hop `fftSize / overlap`, exact overlap-add
/// reconstruction). Per hop and per bin:
/// 1. the key's power, calibrated so a sine of peak amplitude A centred on a
///    bin reads 20·log10(A) dBFS, zeroed outside `lowHz..highHz`;
/// 2. smoothed across frequency by a box `smoothing` × one ERB wide
///    (Glasberg & Moore: 24.7·(4.37·f/kHz + 1) Hz) — this is what smooths the
///    reduction across frequency, while a strong key keeps its full depth;
/// 3. reduction `min(depthDb, (level − thresholdDb)·(1 − 1/ratio))`, 0 below
///    the threshold and outside the key range;
/// 4. one-pole ballistics per bin, per hop: `attackMs` / `releaseMs` is the
///    time to cover 90 % of a step, scaled at frequency f by
///    `(1 kHz / f)^timingTilt` (clamped to ¼…4×), so positive tilt makes lows
///    slower and highs faster;
/// 5. `stereoLink` pulls each channel's reduction towards the larger of the
///    two (stereo mode only; in `mid_side` mode mid and side duck
///    independently, mid by the key's mid, side by the key's side).
///
/// With `algorithm` = `filterbank` the same parameters drive a bank of
/// `bands` ERB-spaced bands with no latency instead (see the `filterbank`
/// module); `fftSize` and `overlap` then do nothing. Both engines take every
/// parameter change whichever runs, so a switch needs no setup; the engine
/// normally replaces the instance when `algorithm` or `bands` changes (they
/// are structural), and a switch in place clears the running state.
///
/// Latency is exactly `fftSize` samples; the dry signal for `mix` is delayed
/// by the same amount, so the mix never combs. Attack and release are timed
/// from the hop where the key enters or leaves the analysis window; the
/// window itself adds up to `fftSize` samples of smear.
///
/// Parameters cost what they change, because a scene morph or host
/// automation sets them every 32-sample control step. `depthDb`,
/// `thresholdDb`, `ratio`, `stereoLink`, `lowHz`/`highHz` and `mix` store a
/// scalar (or two bin indices). `attackMs`, `releaseMs`, `timingTilt` and
/// `smoothing` only mark their per-bin tables stale; the tables are read
/// only at a hop, so the next hop rebuilds each stale one once, however
/// many changes arrived since, with the same float operations as a fresh
/// instance (its output is bit-identical). Everything that depends on the
/// FFT size, the overlap and the sample rate (window, bin frequencies and
/// ERB widths, the hop time) is computed when those change, which is never
/// by automation: they set the latency.
pub struct SpectralDucker {
    depth_db: f32,
    threshold_db: f32,
    ratio: f32,
    /// `1 − 1/ratio`: dB of reduction per dB of key above the threshold.
    slope: f32,
    attack_ms: f32,
    release_ms: f32,
    timing_tilt: f32,
    low_hz: f32,
    high_hz: f32,
    smoothing: f32,
    stereo_link: f32,
    mid_side: bool,
    mix: Smoother,
    mix_target: f32,
    fft_size: usize,
    overlap: usize,
    /// `algorithm` = `filterbank`.
    filterbank: bool,
    bank: FilterBank,

    prepared: bool,
    sample_rate: f32,
    channels: usize,
    /// Forward and inverse plans for every size in `FFT_SIZES`, made in `prepare`.
    forward: Vec<Arc<dyn RealToComplex<f32>>>,
    inverse: Vec<Arc<dyn ComplexToReal<f32>>>,
    plan: usize,

    /// √Hann of length `fft_size` (first `fft_size` entries used).
    window: Vec<f32>,
    /// Bin power → amplitude² calibration, `(2 / Σ window)²`.
    key_calibration: f32,
    /// `1 / fft_size` (inverse FFT) × `2 / overlap` (window overlap sum).
    output_scale: f32,

    /// Rings `[channel][slot]`, `MAX_FFT` slots per channel, allocated in
    /// `prepare`: program and key input, wet output accumulator, dry delay.
    in_ring: Vec<f32>,
    key_ring: Vec<f32>,
    out_ring: Vec<f32>,
    dry_ring: Vec<f32>,
    pos: usize,
    hop_count: usize,
    /// Wet output of the current run, `[channel][frame]`, `MAX_HOP` per channel.
    wet: Vec<f32>,

    /// FFT workspaces, sized for `MAX_FFT`.
    frame: Vec<f32>,
    scratch: Vec<Complex<f32>>,
    key_spectrum: Vec<Complex<f32>>,
    /// Program spectra `[channel][bin]`, `MAX_BINS` per channel.
    spectra: Vec<Complex<f32>>,
    /// Per `[channel][bin]`: key power, program power, reduction state (dB).
    key_power: Vec<f32>,
    program_power: Vec<f32>,
    reduction_db: Vec<f32>,
    /// Per-bin scratch: smoothed key power, then target reduction, then gains.
    target: Vec<f32>,
    /// Running sums for the frequency smoothing, `[channel][bin]`,
    /// `MAX_BINS + 1` per channel (two rows, allocated in `prepare`).
    prefix: Vec<f64>,
    /// Per bin, from the FFT size and sample rate, `MAX_BINS` each: the
    /// timing pivot over the bin frequency, `1 kHz / f`, and the ERB at f in Hz.
    pivot_ratio: Vec<f32>,
    erb_hz: Vec<f32>,
    /// Per bin, `MAX_BINS` each: the timing scale `(1 kHz / f)^tilt`
    /// clamped to ¼…4, smoothing half-width, attack and release coefficients.
    time_scale: Vec<f32>,
    half_width: Vec<u16>,
    attack_coeff: Vec<f32>,
    release_coeff: Vec<f32>,
    /// The smoothing box of each key-range bin, counted from `key_lo`: it
    /// averages the running sums' entries `box_from..box_to`, `box_width`
    /// of them. `MAX_BINS` each; valid for the key range `box_range` and
    /// rebuilt at a hop when that or the half-widths changed.
    box_from: Vec<u16>,
    box_to: Vec<u16>,
    box_width: Vec<f32>,
    box_range: Option<(usize, usize)>,
    /// `STALE_*` bits: tables to rebuild before the next hop reads them.
    stale: u8,
    /// Bins `key_lo..key_hi` lie inside `lowHz..highHz`.
    key_lo: usize,
    key_hi: usize,

    display: Arc<SpectrumDisplay>,
    /// Display rows `[bin]`: key power, program power, applied reduction dB.
    show_key: Vec<f32>,
    show_program: Vec<f32>,
    show_reduction: Vec<f32>,
    key_present: bool,
}

impl SpectralDucker {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec { id: "depthDb", unit: "dB", kind: ParamKind::Float { min: 0.0, max: 36.0, default: 12.0 }, smoothing_ms: 0.0, doc: "the most any bin is reduced" },
        ParamSpec { id: "thresholdDb", unit: "dB", kind: ParamKind::Float { min: -80.0, max: 0.0, default: -40.0 }, smoothing_ms: 0.0, doc: "key level above which ducking starts, per STFT bin; in filterbank per band, so a broadband key reads hotter by about band spacing / bin width (≈ 8 dB at 1 kHz: 40 bands against 2048 points at 48 kHz)" },
        ParamSpec { id: "ratio", unit: "", kind: ParamKind::Float { min: 1.0, max: 20.0, default: 4.0 }, smoothing_ms: 0.0, doc: "reduction grows by (1 - 1/ratio) dB per dB of key above the threshold" },
        ParamSpec { id: "attackMs", unit: "ms", kind: ParamKind::Float { min: 0.5, max: 500.0, default: 10.0 }, smoothing_ms: 0.0, doc: "time to reach 90 % of a deeper reduction (at 1 kHz)" },
        ParamSpec { id: "releaseMs", unit: "ms", kind: ParamKind::Float { min: 5.0, max: 2000.0, default: 150.0 }, smoothing_ms: 0.0, doc: "time to recover 90 % of the way (at 1 kHz)" },
        ParamSpec { id: "timingTilt", unit: "", kind: ParamKind::Float { min: -1.0, max: 1.0, default: 0.0 }, smoothing_ms: 0.0, doc: "times scale by (1 kHz / f)^tilt: positive = slower lows, faster highs" },
        ParamSpec { id: "lowHz", unit: "Hz", kind: ParamKind::Float { min: 20.0, max: 20_000.0, default: 20.0 }, smoothing_ms: 0.0, doc: "lowest key frequency that ducks; in filterbank also the lowest band (moving it re-lays the bank, at most every 10 ms)" },
        ParamSpec { id: "highHz", unit: "Hz", kind: ParamKind::Float { min: 20.0, max: 20_000.0, default: 20_000.0 }, smoothing_ms: 0.0, doc: "highest key frequency that ducks; in filterbank also the highest band (at most 0.45 × the sample rate; re-laid as lowHz)" },
        ParamSpec { id: "smoothing", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.5 }, smoothing_ms: 0.0, doc: "smoothing across frequency; 1 = one ERB wide" },
        ParamSpec { id: "stereoLink", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.5 }, smoothing_ms: 0.0, doc: "0 = channels duck independently, 1 = both by the larger reduction" },
        ParamSpec { id: "mode", unit: "", kind: ParamKind::Choice { options: &["stereo", "mid_side"], default: 0 }, smoothing_ms: 0.0, doc: "mid_side: mid ducked by the key's mid, side by the key's side" },
        ParamSpec { id: "mix", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 1.0 }, smoothing_ms: MIX_SMOOTHING_MS, doc: "wet/dry; the dry path is delayed to match" },
        ParamSpec { id: "fftSize", unit: "samples", kind: ParamKind::Discrete { values: &[512.0, 1024.0, 2048.0, 4096.0], default: 2 }, smoothing_ms: 0.0, doc: "STFT window; also the latency (unused in filterbank)" },
        ParamSpec { id: "overlap", unit: "", kind: ParamKind::Discrete { values: &[4.0, 8.0], default: 0 }, smoothing_ms: 0.0, doc: "windows per fftSize; hop = fftSize / overlap (unused in filterbank)" },
        ParamSpec { id: "algorithm", unit: "", kind: ParamKind::Choice { options: &["stft", "filterbank"], default: 0 }, smoothing_ms: 0.0, doc: "stft: latency fftSize; filterbank: zero latency, a cascade of `bands` minimum-phase bells ERB-spaced from lowHz to highHz, keyed per band" },
        ParamSpec { id: "bands", unit: "", kind: ParamKind::Float { min: 16.0, max: 64.0, default: 40.0 }, smoothing_ms: 0.0, doc: "filterbank: number of bands, ERB-spaced from lowHz to highHz (rounded to a whole number; unused in stft)" },
    ];

    pub fn new() -> Self {
        Self {
            depth_db: 12.0,
            threshold_db: -40.0,
            ratio: 4.0,
            slope: 0.75,
            attack_ms: 10.0,
            release_ms: 150.0,
            timing_tilt: 0.0,
            low_hz: 20.0,
            high_hz: 20_000.0,
            smoothing: 0.5,
            stereo_link: 0.5,
            mid_side: false,
            mix: Smoother::new(1.0, 0),
            mix_target: 1.0,
            fft_size: 2048,
            overlap: 4,
            filterbank: false,
            bank: FilterBank::new(),
            prepared: false,
            sample_rate: 48_000.0,
            channels: 2,
            forward: Vec::new(),
            inverse: Vec::new(),
            plan: 2,
            window: Vec::new(),
            key_calibration: 1.0,
            output_scale: 1.0,
            in_ring: Vec::new(),
            key_ring: Vec::new(),
            out_ring: Vec::new(),
            dry_ring: Vec::new(),
            pos: 0,
            hop_count: 0,
            wet: Vec::new(),
            frame: Vec::new(),
            scratch: Vec::new(),
            key_spectrum: Vec::new(),
            spectra: Vec::new(),
            key_power: Vec::new(),
            program_power: Vec::new(),
            reduction_db: Vec::new(),
            target: Vec::new(),
            prefix: Vec::new(),
            pivot_ratio: Vec::new(),
            erb_hz: Vec::new(),
            time_scale: Vec::new(),
            half_width: Vec::new(),
            attack_coeff: Vec::new(),
            release_coeff: Vec::new(),
            box_from: Vec::new(),
            box_to: Vec::new(),
            box_width: Vec::new(),
            box_range: None,
            stale: STALE_ALL,
            key_lo: 0,
            key_hi: 0,
            display: Arc::new(SpectrumDisplay::new()),
            show_key: Vec::new(),
            show_program: Vec::new(),
            show_reduction: Vec::new(),
            key_present: false,
        }
    }

    fn hop(&self) -> usize {
        self.fft_size / self.overlap
    }

    fn bins(&self) -> usize {
        self.fft_size / 2 + 1
    }

    /// Recomputes everything that depends on the FFT size, the overlap and
    /// the sample rate, clears the running state (a new size or hop makes it
    /// meaningless) and marks every per-bin table stale. Writes only into
    /// preallocated buffers.
    /// Runs on the audio thread: no allocation, no locks.
    fn configure_size(&mut self) {
        if !self.prepared {
            return;
        }
        let n = self.fft_size;
        self.plan = FFT_SIZES.iter().position(|&s| s == n).unwrap_or(2);
        // Periodic √Hann = |sin(π i / N)|; its square sums to overlap/2
        // across hops, which `output_scale` undoes.
        let mut sum = 0.0f64;
        for i in 0..n {
            let w = (std::f64::consts::PI * i as f64 / n as f64).sin();
            self.window[i] = w as f32;
            sum += w;
        }
        self.key_calibration = (2.0 / sum as f32).powi(2);
        // Only the STFT's state: the filter bank does not depend on the size,
        // and a session setting it while `filterbank` runs must not clear it.
        self.reset_stft();
        self.output_scale = (1.0 / n as f32) * (2.0 / self.overlap as f32);
        let bin_hz = self.bin_hz();
        for k in 0..self.bins() {
            let f = (k as f32 * bin_hz).max(bin_hz * 0.5);
            self.pivot_ratio[k] = TILT_PIVOT_HZ / f;
            self.erb_hz[k] = 24.7 * (4.37 * f / 1000.0 + 1.0);
        }
        self.set_key_range();
        self.stale = STALE_ALL;
    }

    /// Clears the STFT engine's running state (rings, reductions, hop
    /// position); the filter bank and the mix smoother are left alone.
    /// Runs on the audio thread: no allocation, no locks.
    fn reset_stft(&mut self) {
        for buf in [&mut self.in_ring, &mut self.key_ring, &mut self.out_ring, &mut self.dry_ring] {
            buf.fill(0.0);
        }
        self.reduction_db.fill(0.0);
        self.pos = 0;
        self.hop_count = 0;
        self.key_present = false;
    }

    fn bin_hz(&self) -> f32 {
        self.sample_rate / self.fft_size as f32
    }

    /// Bins `key_lo..key_hi` from `lowHz`, `highHz` and the bin spacing.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_key_range(&mut self) {
        let (bin_hz, bins) = (self.bin_hz(), self.bins());
        self.key_lo = ((self.low_hz / bin_hz).ceil() as usize).min(bins);
        self.key_hi = (((self.high_hz / bin_hz).floor() as usize) + 1).clamp(self.key_lo, bins);
    }

    /// Rebuilds the per-bin tables that parameter changes left stale, each
    /// once. Called at the start of every hop, the only place that reads
    /// them, so deferring changes here gives the same numbers as applying
    /// each at once.
    /// Runs on the audio thread: no allocation, no locks.
    fn refresh_tables(&mut self) {
        if self.stale == 0 || !self.prepared {
            return;
        }
        let (bin_hz, bins) = (self.bin_hz(), self.bins());
        if self.stale & STALE_HALF_WIDTH != 0 {
            let smoothing = self.smoothing;
            for (h, &erb_hz) in self.half_width[..bins].iter_mut().zip(&self.erb_hz[..bins]) {
                // The float-to-int cast truncates, which is the floor here
                // (negative widths saturate to 0 either way), and saves a
                // libm `floor` call per bin.
                *h = ((smoothing * erb_hz / bin_hz) * 0.5).min(512.0) as u16;
            }
            self.box_range = None;
        }
        if self.stale & STALE_TIME_SCALE != 0 {
            let tilt = self.timing_tilt;
            for (scale, &ratio) in self.time_scale[..bins].iter_mut().zip(&self.pivot_ratio[..bins]) {
                *scale = time_scale(ratio, tilt);
            }
            self.stale |= STALE_ATTACK | STALE_RELEASE;
        }
        let hop_s = self.hop() as f32 / self.sample_rate;
        if self.stale & STALE_ATTACK != 0 {
            Self::ballistics(&mut self.attack_coeff[..bins], &self.time_scale[..bins], self.attack_ms, hop_s);
        }
        if self.stale & STALE_RELEASE != 0 {
            Self::ballistics(&mut self.release_coeff[..bins], &self.time_scale[..bins], self.release_ms, hop_s);
        }
        self.stale = 0;
    }

    /// Per-hop one-pole coefficients covering 90 % of a step in `ms` times
    /// each bin's scale (time constant ms / ln(10)). Neighbouring bins often
    /// share a scale (all of them at zero tilt, the clamped ends otherwise),
    /// and then share the `exp` too.
    /// Runs on the audio thread: no allocation, no locks.
    fn ballistics(coeffs: &mut [f32], time_scale: &[f32], ms: f32, hop_s: f32) {
        let (exponent, seconds) = (-hop_s * std::f32::consts::LN_10, ms * 0.001);
        let (mut last_scale, mut last_coeff) = (f32::NAN, 0.0);
        for (coeff, &scale) in coeffs.iter_mut().zip(time_scale) {
            if scale != last_scale {
                (last_scale, last_coeff) = (scale, (exponent / (seconds * scale)).exp());
            }
            *coeff = last_coeff;
        }
    }

    /// Copies the `fft_size` most recent samples of one ring channel,
    /// oldest first, times the window, into `frame`.
    #[inline(always)]
    fn gather(ring: &[f32], pos: usize, window: &[f32], frame: &mut [f32]) {
        let n = frame.len();
        let (older, newer) = ring[..n].split_at(pos);
        let (head, tail) = frame.split_at_mut(n - pos);
        for ((f, r), w) in head.iter_mut().zip(newer).zip(window) {
            *f = r * w;
        }
        for ((f, r), w) in tail.iter_mut().zip(older).zip(&window[n - pos..]) {
            *f = r * w;
        }
    }

    // One STFT hop, compiled for the baseline and for AVX2 (crate::simd):
    // the hop's work is out of line from `process_block` (a hop comes once
    // per `hop` samples), so it is widened on its own.
    crate::widened!(SpectralDucker: fn process_frame(&mut self) => process_hop);

    /// One STFT hop: analyse, compute the reduction, resynthesise.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_hop(&mut self) {
        self.refresh_tables();
        let n = self.fft_size;
        let bins = self.bins();
        let channels = self.channels;
        // Borrowed, not cloned: an `Arc` clone is two atomic operations per hop.
        let (forward, inverse) = (&*self.forward[self.plan], &*self.inverse[self.plan]);
        let mut loudest_key = 0.0f32;

        for ch in 0..channels {
            let ring = ch * MAX_FFT..ch * MAX_FFT + n;
            let row = ch * MAX_BINS..ch * MAX_BINS + bins;
            // realfft only errs on buffer lengths (sized from the plan here) or
            // non-real DC/Nyquist bins for the inverse (zeroed below), so its
            // results are not inspected on the audio thread.
            // Key power per bin, calibrated to sine amplitude².
            Self::gather(&self.key_ring[ring.clone()], self.pos, &self.window[..n], &mut self.frame[..n]);
            let _ = forward.process_with_scratch(&mut self.frame[..n], &mut self.key_spectrum[..bins], &mut self.scratch);
            for (p, c) in self.key_power[row.clone()].iter_mut().zip(&self.key_spectrum[..bins]) {
                *p = c.norm_sqr() * self.key_calibration;
            }
            loudest_key = loudest_key.max(crate::audio_buf::peak(&self.key_power[row.clone()]));
            // Program spectrum, kept for resynthesis.
            Self::gather(&self.in_ring[ring], self.pos, &self.window[..n], &mut self.frame[..n]);
            let _ = forward.process_with_scratch(&mut self.frame[..n], &mut self.spectra[row.clone()], &mut self.scratch);
            for (p, c) in self.program_power[row.clone()].iter_mut().zip(&self.spectra[row.clone()]) {
                *p = c.norm_sqr() * self.key_calibration;
            }
        }
        self.key_present = loudest_key > KEY_PRESENT_POWER;

        // Target reduction per channel and bin, then ballistics. Outside the
        // key range, or with no key, the target is 0 and bins only release.
        let slope = self.slope;
        let (lo, hi) = if self.key_present { (self.key_lo, self.key_hi) } else { (0, 0) };
        // Running sums of the key power over the key range, one row per
        // channel; both channels in one loop, so their two serial chains of
        // f64 additions overlap instead of running one after the other.
        const ROW: usize = MAX_BINS + 1;
        if channels == 2 {
            let (left, right) = self.key_power.split_at(MAX_BINS);
            let (prefix_l, prefix_r) = self.prefix.split_at_mut(ROW);
            let (mut sum_l, mut sum_r) = (0.0f64, 0.0f64);
            prefix_l[0] = 0.0;
            prefix_r[0] = 0.0;
            for (((pl, pr), &l), &r) in prefix_l[1..=hi - lo].iter_mut().zip(&mut prefix_r[1..=hi - lo]).zip(&left[lo..hi]).zip(&right[lo..hi]) {
                sum_l += l as f64;
                sum_r += r as f64;
                (*pl, *pr) = (sum_l, sum_r);
            }
        } else {
            let mut running = 0.0f64;
            self.prefix[0] = 0.0;
            for (s, &p) in self.prefix[1..=hi - lo].iter_mut().zip(&self.key_power[lo..hi]) {
                running += p as f64;
                *s = running;
            }
        }
        if self.box_range != Some((lo, hi)) {
            // k counts from lo: the box is k − h … k + h, clipped to the key range.
            for (k, &h) in self.half_width[lo..hi].iter().enumerate() {
                let h = h as usize;
                let (a, b) = (k.saturating_sub(h), (k + h + 1).min(hi - lo));
                (self.box_from[k], self.box_to[k], self.box_width[k]) = (a as u16, b as u16, (b - a) as f32);
            }
            self.box_range = Some((lo, hi));
        }
        let len = hi - lo;
        let (box_from, box_to, box_width) = (&self.box_from[..len], &self.box_to[..len], &self.box_width[..len]);
        for ch in 0..channels {
            let row = ch * MAX_BINS..ch * MAX_BINS + bins;
            let prefix = &self.prefix[ch * ROW..ch * ROW + len + 1];
            // Simple passes (no branches inside): each box's sum, read at
            // its two ends (scalar, a gather); then, vectorised, the average
            // and the gain curve; then the ballistics.
            let target = &mut self.target[..bins];
            target.fill(0.0);
            for ((t, &a), &b) in target[lo..hi].iter_mut().zip(box_from).zip(box_to) {
                *t = (prefix[b as usize] - prefix[a as usize]) as f32;
            }
            let (threshold, depth) = (self.threshold_db, self.depth_db);
            for (t, &width) in target[lo..hi].iter_mut().zip(box_width) {
                *t = reduction_db((*t / width).max(0.0), threshold, slope, depth);
            }
            // Indexed over slices of one length (no bounds checks left), which
            // vectorises where a four-way zip did not.
            let states = &mut self.reduction_db[row];
            let (attack, release) = (&self.attack_coeff[..bins], &self.release_coeff[..bins]);
            for k in 0..bins {
                states[k] = ballistics_step(states[k], target[k], attack[k], release[k]);
            }
        }

        // Apply, with stereo link in stereo mode.
        let link = if channels == 2 && !self.mid_side { self.stereo_link } else { 0.0 };
        self.show_reduction[..bins].fill(0.0);
        for ch in 0..channels {
            let row = ch * MAX_BINS;
            // The other channel's row (itself when mono, where link is 0).
            let other = if channels == 2 { (1 - ch) * MAX_BINS } else { row };
            // Linked reduction, shown, then turned into gains; each pass a
            // plain zip so it vectorises.
            let gains = &mut self.target[..bins];
            let (own, others) = (&self.reduction_db[row..row + bins], &self.reduction_db[other..other + bins]);
            for ((g, &own), &other) in gains.iter_mut().zip(own).zip(others) {
                *g = linked(own, other, link);
            }
            for (shown, &g) in self.show_reduction[..bins].iter_mut().zip(gains.iter()) {
                *shown = shown.max(g);
            }
            apply_reduction(gains, &mut self.spectra[row..row + bins]);
            let spectrum = &mut self.spectra[row..row + bins];
            // The inverse real FFT needs purely real DC and Nyquist bins.
            spectrum[0].im = 0.0;
            spectrum[bins - 1].im = 0.0;
            let _ = inverse.process_with_scratch(spectrum, &mut self.frame[..n], &mut self.scratch);
            // Overlap-add, oldest slot first: the frame's start lands at `pos`.
            let ring = &mut self.out_ring[ch * MAX_FFT..ch * MAX_FFT + n];
            let scale = self.output_scale;
            let (older, newer) = ring.split_at_mut(self.pos);
            let (head, tail) = self.frame[..n].split_at(n - self.pos);
            let (w_head, w_tail) = self.window[..n].split_at(n - self.pos);
            for ((r, &x), &w) in newer.iter_mut().zip(head).zip(w_head) {
                *r += x * w * scale;
            }
            for ((r, &x), &w) in older.iter_mut().zip(tail).zip(w_tail) {
                *r += x * w * scale;
            }
        }

        // The display takes powers (the reader converts to dB), loudest channel.
        let (first, second) = (0..bins, MAX_BINS..MAX_BINS + bins);
        self.show_key[..bins].copy_from_slice(&self.key_power[first.clone()]);
        self.show_program[..bins].copy_from_slice(&self.program_power[first]);
        if channels == 2 {
            for ((k, p), (k2, p2)) in self.show_key[..bins].iter_mut().zip(&mut self.show_program[..bins]).zip(self.key_power[second.clone()].iter().zip(&self.program_power[second])) {
                *k = k.max(*k2);
                *p = p.max(*p2);
            }
        }
        let bin_hz = self.bin_hz();
        self.display.publish(bin_hz, self.key_present, &self.show_key[..bins], &self.show_program[..bins], &self.show_reduction[..bins]);
    }
}

/// The timing scale at a band or bin whose `1 kHz / f` is `pivot_ratio`:
/// `(1 kHz / f)^tilt`, clamped to ¼…4 (both algorithms).
#[inline(always)]
fn time_scale(pivot_ratio: f32, tilt: f32) -> f32 {
    pivot_ratio.powf(tilt).clamp(0.25, 4.0)
}

/// The gain computer (both algorithms): the reduction in dB for a key
/// power (calibrated to sine amplitude²), `min(depth, (level − threshold) ·
/// slope)`, 0 below the threshold.
#[inline(always)]
fn reduction_db(key_power: f32, threshold_db: f32, slope: f32, depth_db: f32) -> f32 {
    ((fast_math::power_to_db(key_power + 1e-30) - threshold_db) * slope).clamp(0.0, depth_db)
}

/// One step of the one-pole ballistics towards `target` dB (attack when the
/// reduction deepens, release when it recovers), settling exactly at 0 so no
/// denormal tail is left (both algorithms).
#[inline(always)]
fn ballistics_step(state: f32, target: f32, attack: f32, release: f32) -> f32 {
    let coeff = if target > state { attack } else { release };
    let next = target + (state - target) * coeff;
    if next < 1e-6 {
        0.0
    } else {
        next
    }
}

/// Scales each bin of `spectrum` by the gain of its reduction in
/// `reduction_db` (overwritten with the gains), eight bins at a time: where
/// none of the eight is reduced their gain is exactly 1 and they are left as
/// they are (the key rarely covers the whole spectrum). The groups are
/// `chunks_exact` so their length is known and each group's eight gains
/// are one vector (the products go a bin, both parts, at a time); the bins
/// left over (one, at the usual sizes) go through the same code.
#[inline(always)]
fn apply_reduction(reduction_db: &mut [f32], spectrum: &mut [Complex<f32>]) {
    let (mut gains, mut bins) = (reduction_db.chunks_exact_mut(8), spectrum.chunks_exact_mut(8));
    for (gs, cs) in (&mut gains).zip(&mut bins) {
        apply_group(gs, cs);
    }
    apply_group(gains.into_remainder(), bins.into_remainder());
}

/// One group of [`apply_reduction`]. Reductions are ≥ 0, so "none above 0"
/// is "none reduced".
#[inline(always)]
fn apply_group(reduction_db: &mut [f32], spectrum: &mut [Complex<f32>]) {
    // An `or` over the group rather than a short-circuiting `any`: no branch per bin.
    if !reduction_db.iter().fold(false, |any, &r| any | (r > 0.0)) {
        return;
    }
    for g in reduction_db.iter_mut() {
        *g = fast_math::db_to_gain(-*g);
    }
    for (c, &g) in spectrum.iter_mut().zip(reduction_db.iter()) {
        *c *= g;
    }
}

/// Stereo link: `own` pulled towards the larger of the two channels'
/// reductions by `link` (0 = independent, 1 = both by the larger).
#[inline(always)]
fn linked(own: f32, other: f32, link: f32) -> f32 {
    own + link * (other.max(own) - own)
}

impl Default for SpectralDucker {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for SpectralDucker {
    fn prepare(&mut self, sample_rate: f32, _max_block: usize, channels: usize) {
        self.sample_rate = sample_rate;
        self.channels = channels.clamp(1, 2);
        let mut planner = RealFftPlanner::<f32>::new();
        self.forward = FFT_SIZES.iter().map(|&n| planner.plan_fft_forward(n)).collect();
        self.inverse = FFT_SIZES.iter().map(|&n| planner.plan_fft_inverse(n)).collect();
        let scratch = self
            .forward
            .iter()
            .map(|p| p.get_scratch_len())
            .chain(self.inverse.iter().map(|p| p.get_scratch_len()))
            .max()
            .unwrap_or(0);
        self.scratch = vec![Complex::default(); scratch];
        self.window = vec![0.0; MAX_FFT];
        let rings = self.channels * MAX_FFT;
        let rows = self.channels * MAX_BINS;
        self.in_ring = vec![0.0; rings];
        self.key_ring = vec![0.0; rings];
        self.out_ring = vec![0.0; rings];
        self.dry_ring = vec![0.0; rings];
        self.wet = vec![0.0; self.channels * MAX_HOP];
        self.frame = vec![0.0; MAX_FFT];
        self.key_spectrum = vec![Complex::default(); MAX_BINS];
        self.spectra = vec![Complex::default(); rows];
        self.key_power = vec![0.0; rows];
        self.program_power = vec![0.0; rows];
        self.reduction_db = vec![0.0; rows];
        self.target = vec![0.0; MAX_BINS];
        self.prefix = vec![0.0; 2 * (MAX_BINS + 1)];
        self.pivot_ratio = vec![0.0; MAX_BINS];
        self.erb_hz = vec![0.0; MAX_BINS];
        self.time_scale = vec![0.0; MAX_BINS];
        self.half_width = vec![0; MAX_BINS];
        self.box_from = vec![0; MAX_BINS];
        self.box_to = vec![0; MAX_BINS];
        self.box_width = vec![0.0; MAX_BINS];
        self.box_range = None;
        self.attack_coeff = vec![0.0; MAX_BINS];
        self.release_coeff = vec![0.0; MAX_BINS];
        self.show_key = vec![0.0; MAX_BINS];
        self.show_program = vec![0.0; MAX_BINS];
        self.show_reduction = vec![0.0; MAX_BINS];
        self.mix = Smoother::new(self.mix_target, Smoother::ramp_len(MIX_SMOOTHING_MS, sample_rate));
        self.bank.prepare(sample_rate, self.channels);
        self.prepared = true;
        self.configure_size();
        // Built here so the first hop on the audio thread does not pay for them.
        self.refresh_tables();
    }

    fn reset(&mut self) {
        self.reset_stft();
        self.mix.reset_to(self.mix.target());
        self.bank.reset();
    }

    /// Each parameter does only its own work; see the type's documentation.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        self.bank.set_param(index, value);
        match index {
            DEPTH_DB => self.depth_db = value,
            THRESHOLD_DB => self.threshold_db = value,
            RATIO => {
                self.ratio = value.max(1.0);
                self.slope = 1.0 - 1.0 / self.ratio;
            }
            ATTACK_MS => {
                self.attack_ms = value.max(0.01);
                self.stale |= STALE_ATTACK;
            }
            RELEASE_MS => {
                self.release_ms = value.max(0.01);
                self.stale |= STALE_RELEASE;
            }
            TIMING_TILT => {
                self.timing_tilt = value;
                self.stale |= STALE_TIME_SCALE;
            }
            LOW_HZ | HIGH_HZ => {
                if index == LOW_HZ {
                    self.low_hz = value;
                } else {
                    self.high_hz = value;
                }
                if self.prepared {
                    self.set_key_range();
                }
            }
            SMOOTHING => {
                self.smoothing = value;
                self.stale |= STALE_HALF_WIDTH;
            }
            STEREO_LINK => self.stereo_link = value,
            MODE => {
                let mid_side = value >= 0.5;
                // The state is in the other coordinates now.
                if mid_side != self.mid_side && self.prepared {
                    self.reset();
                }
                self.mid_side = mid_side;
            }
            MIX => {
                self.mix_target = value;
                self.mix.set_target(value);
            }
            FFT_SIZE => {
                let size = FFT_SIZES.iter().copied().find(|&s| s as f32 == value).unwrap_or(2048);
                if size != self.fft_size {
                    self.fft_size = size;
                    self.configure_size();
                }
            }
            OVERLAP => {
                let overlap = if value >= 8.0 { 8 } else { 4 };
                if overlap != self.overlap {
                    self.overlap = overlap;
                    self.configure_size();
                }
            }
            ALGORITHM => {
                let filterbank = value >= 0.5;
                // The other engine has not been running: start it clean.
                if filterbank != self.filterbank && self.prepared {
                    self.reset();
                }
                self.filterbank = filterbank;
            }
            BANDS => self.bank.set_bands(FilterBank::bands_of(value)),
            _ => {}
        }
    }

    fn latency(&self) -> usize {
        if self.filterbank {
            0
        } else {
            self.fft_size
        }
    }

    fn display(&self) -> Option<Arc<SpectrumDisplay>> {
        Some(self.display.clone())
    }

    fn attach_display(&mut self, display: Arc<SpectrumDisplay>) {
        self.display = display;
    }

    crate::widened!(SpectralDucker: fn process(&mut self, audio: &mut AudioBuf, key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl SpectralDucker {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, key: Option<&AudioBuf>, frames: usize) {
        if self.filterbank {
            self.bank.process(audio, key, frames, &mut self.mix, &self.display);
            return;
        }
        let n = self.fft_size;
        let hop = self.hop();
        let channels = self.channels.min(audio.channels());
        let mid_side = channels == 2 && self.mid_side;
        let mut done = 0;
        // Runs that end at a hop boundary or the ring's end, whichever is first.
        while done < frames {
            let len = (frames - done).min(hop - self.hop_count).min(n - self.pos);
            let (pos, run) = (self.pos, done..done + len);
            for ch in 0..channels {
                let ring = ch * MAX_FFT + pos..ch * MAX_FFT + pos + len;
                let wet = &mut self.wet[ch * MAX_HOP..ch * MAX_HOP + len];
                // Wet output leaves the accumulator, which is cleared for reuse.
                wet.copy_from_slice(&self.out_ring[ring.clone()]);
                self.out_ring[ring.clone()].fill(0.0);
                self.in_ring[ring.clone()].copy_from_slice(&audio.channel(ch)[run.clone()]);
                match key {
                    Some(key) if ch < key.channels() => self.key_ring[ring.clone()].copy_from_slice(&key.channel(ch)[run.clone()]),
                    _ => self.key_ring[ring.clone()].fill(0.0),
                }
                // The dry signal is delayed by the latency: swap it through its ring.
                self.dry_ring[ring].swap_with_slice(&mut audio.channel_mut(ch)[run.clone()]);
            }
            if mid_side {
                // Analyse mid = (L + R)/2 and side = (L − R)/2; the wet output
                // comes back as mid/side and is decoded to L = M + S, R = M − S.
                for ring in [&mut self.in_ring, &mut self.key_ring] {
                    let (left, right) = ring.split_at_mut(MAX_FFT);
                    for (l, r) in left[pos..pos + len].iter_mut().zip(&mut right[pos..pos + len]) {
                        (*l, *r) = (0.5 * (*l + *r), 0.5 * (*l - *r));
                    }
                }
                let (mid, side) = self.wet.split_at_mut(MAX_HOP);
                for (m, s) in mid[..len].iter_mut().zip(&mut side[..len]) {
                    (*m, *s) = (*m + *s, *m - *s);
                }
            }
            // Mix: `audio` now holds the delayed dry signal.
            if !self.mix.is_ramping() && self.mix.current() == 1.0 {
                for ch in 0..channels {
                    audio.channel_mut(ch)[run.clone()].copy_from_slice(&self.wet[ch * MAX_HOP..ch * MAX_HOP + len]);
                }
            } else {
                for i in 0..len {
                    let mix = self.mix.next();
                    for ch in 0..channels {
                        let dry = &mut audio.channel_mut(ch)[done + i];
                        *dry = mix * self.wet[ch * MAX_HOP + i] + (1.0 - mix) * *dry;
                    }
                }
            }
            done += len;
            self.pos += len;
            if self.pos == n {
                self.pos = 0;
            }
            self.hop_count += len;
            if self.hop_count == hop {
                self.hop_count = 0;
                self.process_frame();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared() -> SpectralDucker {
        let mut d = SpectralDucker::new();
        d.prepare(48_000.0, 64, 2);
        d
    }

    #[test]
    fn scalar_parameters_leave_every_table_alone() {
        let mut d = prepared();
        assert_eq!(d.stale, 0, "prepare builds the tables");
        for (index, value) in [(DEPTH_DB, 20.0), (THRESHOLD_DB, -30.0), (RATIO, 6.0), (LOW_HZ, 100.0), (HIGH_HZ, 8000.0), (STEREO_LINK, 1.0), (MIX, 0.5)] {
            d.set_param(index, value);
            assert_eq!(d.stale, 0, "parameter {index}");
        }
        assert_eq!(d.slope, 1.0 - 1.0 / 6.0);
        assert_eq!((d.key_lo, d.key_hi), (5, 342), "100 Hz and 8 kHz at 23.4375 Hz per bin");
    }

    #[test]
    fn timing_and_smoothing_mark_only_their_tables_until_the_next_hop() {
        let mut d = prepared();
        for (index, stale) in [(ATTACK_MS, STALE_ATTACK), (RELEASE_MS, STALE_RELEASE), (TIMING_TILT, STALE_TIME_SCALE), (SMOOTHING, STALE_HALF_WIDTH)] {
            d.set_param(index, 0.3);
            assert_eq!(d.stale, stale, "parameter {index}");
            d.refresh_tables();
            assert_eq!(d.stale, 0);
        }
        // Many changes within one hop: one rebuild, with the last values.
        for ms in [5.0, 50.0, 20.0] {
            d.set_param(ATTACK_MS, ms);
        }
        let (mut audio, key) = (AudioBuf::new(2, 512), AudioBuf::new(2, 512));
        d.process(&mut audio, Some(&key), 512);
        assert_eq!(d.stale, 0, "the hop rebuilt the table");
        let mut want = vec![0.0; d.bins()];
        SpectralDucker::ballistics(&mut want, &d.time_scale[..d.bins()], 20.0, 512.0 / 48_000.0);
        assert_eq!(&d.attack_coeff[..d.bins()], &want[..]);
    }
}
