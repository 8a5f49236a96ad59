//! The ducker's zero-latency `filterbank` algorithm: ERB-spaced key analysis and a cascade of minimum-phase bells on the program.
//!
//! The parameters keep the meaning the STFT mode gives them (see
//! [`SpectralDucker`](super::SpectralDucker)); what differs is where the
//! bands come from and how the reduction reaches the program.
//!
//! **Bands.** `bands` centres f_i, evenly spaced on the ERB-rate scale
//! E(f) = 21.4·log10(1 + 0.00437·f) from `lowHz` to `highHz` (the top
//! clamped to 0.45 × the sample rate), so `lowHz`/`highHz` are both the key
//! range and the span of the bank: narrowing them concentrates the bands.
//! One band spacing is `step` ERB (1.05 ERB at 40 bands over
//! 20 Hz–20 kHz); in Hz it is `step · ERB(f)`, with
//! ERB(f) = 24.7·(1 + 0.00437·f) the slope of E.
//!
//! **Program path.** A cascade of one bell per band,
//! `y = x + (g_i − 1)·BP_i(x)`, BP_i the RBJ constant-0-dB-peak band-pass at
//! f_i with its −3 dB points 1.5 band spacings either side (bandwidth
//! [`BANDWIDTH_PROGRAM`] spacings), designed on prewarped frequencies so this holds up to the top
//! band (see [`band_pass`]). Folded into one biquad the
//! bell is `((1 + g·α) + a1·z⁻¹ + (1 − g·α)·z⁻²) / ((1 + α) + a1·z⁻¹ + (1 − α)·z⁻²)`:
//! minimum phase for g > 0, exactly the identity at g = 1 (so an idle
//! ducker is transparent bit for bit and adds no latency), and only `b0` and
//! `b2` depend on g, linearly, so the gain is interpolated per sample
//! without redesigning anything. Neighbouring bells overlap, so a reduction
//! shared by a run of bands compounds (each bell three spacings wide: a
//! 12 dB region takes bells of 3.2 dB mid-bank, 1.9 dB at 200 Hz); each
//! band's dB reduction is mapped to its bell's dB by a curve worked out for
//! the layout: at each of the [`REFERENCE_DB`] depths, every band asking
//! for it gives it around every centre (the mean of the centre and the
//! points half-way to its neighbours), and between them the curve is
//! linear (the overlap's compounding is not proportional to the depth: one
//! factor solved at 12 dB gave 3.7 dB at 3 and 16–26 dB at 36). A region
//! reduced by D dB loses D dB, as in the STFT mode: within 0.4 dB at
//! centres and between them up to 24 dB, 1 dB at 30 dB, ±3.4 dB at 36 dB
//! (40 bands, 500 Hz–8 kHz, 48 kHz). Bells deeper than about 20 dB are
//! narrower in dB than their −3 dB width, so a deep uniform cut ripples;
//! two-spacing bells rippled ±4 dB at 24 dB and ±9 dB at 30, three keep
//! it small and cost an isolated tone about 1 dB of its cut. An
//! isolated tone ducks only the bands that read it, and since their bells
//! are compensated for neighbours that duck too, it loses less than the
//! depth: at depth 12, 8.8 dB at 2 and 3 kHz and 7.7 dB at 300 Hz for a
//! key 28 dB over the threshold, 11.2 dB at 1 kHz for one 54 dB over
//! (more neighbours then reach full depth) — the price of zero latency.
//!
//! **Key analysis.** Per band a 4th-order band-pass (two identical RBJ
//! sections, each `BANDWIDTH_KEY` spacings wide, so together about one
//! spacing: a key half-way between two centres reads about 3 dB low in
//! the nearer bands (3.5 at most), one on the next centre 8 dB low, one two
//! bands away 17 dB low), squared and smoothed by a one-pole of time constant
//! `clamp(2 periods, 1 ms, 5 ms)`, calibrated so a sine of amplitude A at a
//! centre reads 20·log10(A) dBFS (the mean square × 2; within 0.1 dB, and
//! rippling ±0.17 dB above 400 Hz, ±0.7 dB at 100 Hz: see
//! [`DETECTOR_PERIODS`]). Second-order key
//! bands were tried: their 6 dB/octave skirts let a loud key duck bands an
//! octave away.
//!
//! `smoothing` is a box `smoothing` × one ERB wide over the bands, each
//! weighed by how much of its cell the box covers: with bands at least an
//! ERB apart (40 bands over 20 Hz–20 kHz are 1.05 apart) it leaves each band
//! alone, since each already is that wide; it matters for dense banks.
//!
//! **Control rate.** Every [`CONTROL_FRAMES`] samples (counted in samples,
//! so the output does not depend on the block size): the key powers are
//! smoothed across bands (`smoothing` × one ERB wide, as the STFT mode),
//! turned into target reductions, run through the per-band ballistics,
//! linked, and turned into bell gains, which the program path then reaches
//! by a linear ramp over the next [`CONTROL_FRAMES`] samples (0.67 ms at
//! 48 kHz: far below any attack time, so the gain moves smoothly and
//! nothing zippers).
//!
//! Moving `lowHz` / `highHz` (scenes and macros may) re-lays the bank: new
//! centres and coefficients for every band, the filter states carried over
//! (a morph moves the centres a little per step). A re-layout costs some
//! 600 transcendental calls and the overlap solve, so during a morph or
//! automation it happens at most once per [`LAYOUT_INTERVAL_MS`] (counted in
//! control steps, so the output stays block-size invariant): the first
//! change after a quiet spell applies at the next control step, later ones
//! within 10 ms, the last one always. A change of `bands`, which clears
//! the state anyway, lays out at once.
//!
//! **Cost.** A bell whose gain is 1 and whose state has settled is skipped:
//! it would output its input exactly. With a key in few bands only those
//! bands cost anything on the program path.

use super::{
    SpectralDucker, ATTACK_MS, DEPTH_DB, HIGH_HZ, KEY_PRESENT_POWER, LOW_HZ, MODE, RATIO, RELEASE_MS, SMOOTHING, STEREO_LINK, THRESHOLD_DB, TILT_PIVOT_HZ,
    TIMING_TILT,
};
use crate::audio_buf::AudioBuf;
use crate::dsp::fast_math;
use crate::dsp::smoother::Smoother;
use crate::insert::SpectrumDisplay;

/// Shortest time between two re-layouts caused by `lowHz` / `highHz`.
const LAYOUT_INTERVAL_MS: f32 = 10.0;
/// Most bands a bank can have; every table is this long.
pub(super) const MAX_BANDS: usize = 64;
pub(super) const MIN_BANDS: usize = 16;
pub(super) const DEFAULT_BANDS: usize = 40;
/// Samples between control updates (gain targets, ballistics, display).
pub(super) const CONTROL_FRAMES: usize = 32;
/// Control steps between two computations of the cut shown at each centre
/// (2.7 ms at 48 kHz, still far faster than an editor redraws): it is a
/// product over the nearby bells at every centre, per channel, and at every
/// step it cost a fifth of the whole bank.
const DISPLAY_CUT_STEPS: usize = 4;
/// Bell −3 dB bandwidth, in band spacings (the band-pass's −3 dB points sit
/// 1.5 spacings either side): wide enough that a uniform cut of up to
/// 30 dB stays within 1 dB between centres (see the module docs).
const BANDWIDTH_PROGRAM: f64 = 3.0;
/// Bandwidth of each of the two key sections, in band spacings; cascaded
/// they are about 1.03 spacings wide at −3 dB.
const BANDWIDTH_KEY: f64 = 1.6;
/// The uniform reductions at which the bells' overlap is solved (`depthDb`
/// runs to 36 dB); a band's bell dB is interpolated between them, and
/// extrapolated from the last two above the last.
const REFERENCE_DB: [f64; NUM_REFERENCES] = [3.0, 6.0, 9.0, 12.0, 18.0, 24.0, 30.0, 36.0];
const NUM_REFERENCES: usize = 8;
/// Bells this many bands away still count towards the overlap (beyond it a
/// bell changes a centre by less than 0.05 dB).
const OVERLAP_REACH: usize = 8;
/// Fixed-point steps refining the overlap compensation (each takes the
/// mid-bank error down about fourfold; four leave under 0.1 dB).
const OVERLAP_ITERATIONS: usize = 6;
/// Key detector time constant: this many periods of the band's centre,
/// within the bounds below. At 2 periods a tone at the centre ripples the
/// level by ±0.17 dB (the squared tone's ripple at 2f is 1/(4π·f·τ) of its
/// mean, 1/(8π) at 2 periods). Below 400 Hz the 5 ms cap makes τ shorter
/// than 2 periods and the ripple grows: ±0.35 dB at 200 Hz, ±0.7 dB at
/// 100 Hz (measured 0.6 at the 120 Hz band). The cap stays: a detector
/// adds up to its τ to an attack, and 2 periods would be 20 ms at 100 Hz,
/// putting attacks under 100 ms there outside the 20 % the timing is held
/// to; with 5 ms any attack of 25 ms or more is within it in every band
/// (the 0.5 ms fastest attack is dominated by the detector anywhere).
const DETECTOR_PERIODS: f32 = 2.0;
const DETECTOR_MIN_S: f32 = 0.001;
const DETECTOR_MAX_S: f32 = 0.005;
/// Smoothing across bands reaches at most this many bands either side.
const MAX_SMOOTHING_REACH: usize = 8;
/// A bell at unity gain whose state is below this (−180 dB) is zeroed and
/// skipped: its output differs from its input by less than this.
const SETTLED_STATE: f32 = 1e-9;
/// Inputs beyond this magnitude (or not finite) are read as 0: they are not
/// audio, and in a recursive filter they would poison the state.
const MAX_INPUT: f32 = 1e9;

/// `STALE_*` bits of [`FilterBank::stale`]: the band layout (centres and
/// every coefficient: `bands`, `lowHz`, `highHz`) → everything below it;
/// `timingTilt` → time scales and both ballistics; `attackMs` /
/// `releaseMs` → their own; `smoothing` → the smoothing kernel.
const STALE_LAYOUT: u8 = 1;
const STALE_TIME_SCALE: u8 = 2;
const STALE_ATTACK: u8 = 4;
const STALE_RELEASE: u8 = 8;
const STALE_KERNEL: u8 = 16;
const STALE_ALL: u8 = STALE_LAYOUT | STALE_TIME_SCALE | STALE_ATTACK | STALE_RELEASE | STALE_KERNEL;

/// Per-band tables, from the layout and the parameters. `[band]`, all
/// `MAX_BANDS` long (the first `bands` used), allocated in `prepare`.
struct Tables {
    centre_hz: [f32; MAX_BANDS],
    /// Program bell: the band-pass's normalised `α / a0`, and the shared
    /// denominator `a1 / a0`, `a2 / a0`.
    alpha: [f32; MAX_BANDS],
    a1: [f32; MAX_BANDS],
    a2: [f32; MAX_BANDS],
    /// The overlap compensation, per band and segment of the reduction
    /// between 0 and the `REFERENCE_DB` depths: a band reduced by r dB
    /// (in segment k: r ≥ `REFERENCE_DB[k − 1]`) sets its bell to
    /// `bell_db_at0[b][k] + bell_db_per_db[b][k] · r` dB. See [`bell_db`].
    bell_db_at0: [[f32; NUM_REFERENCES]; MAX_BANDS],
    bell_db_per_db: [[f32; NUM_REFERENCES]; MAX_BANDS],
    /// Key band-pass section (used twice): `b0 = α/a0` (b2 = −b0, b1 = 0),
    /// `a1/a0`, `a2/a0`.
    key_b0: [f32; MAX_BANDS],
    key_a1: [f32; MAX_BANDS],
    key_a2: [f32; MAX_BANDS],
    /// Detector one-pole coefficient per sample, `1 − e^(−1/(τ·rate))`.
    detector: [f32; MAX_BANDS],
    /// `1 kHz / f`, the timing scale `(1 kHz / f)^tilt` clamped to ¼…4, and
    /// the per-control-step attack and release coefficients.
    pivot_ratio: [f32; MAX_BANDS],
    time_scale: [f32; MAX_BANDS],
    attack_coeff: [f32; MAX_BANDS],
    release_coeff: [f32; MAX_BANDS],
    /// For the display, `[band][k]`: band-pass `band + k − OVERLAP_REACH`'s
    /// complex response at this band's centre (0 outside the bank), so the
    /// cascade's cut there is `Π_k |1 + (g − 1)·BP|²` over the nearby bells.
    centre_bp: [[(f32, f32); 2 * OVERLAP_REACH + 1]; MAX_BANDS],
    /// Smoothing weights by distance in bands, `[0]` = own band (always 1).
    kernel: [f32; MAX_SMOOTHING_REACH + 1],
    kernel_reach: usize,
}

/// Working space of [`FilterBank::lay_out`], `[band]` (boxed in `new`: it is
/// about 40 kB, too much for the audio thread's stack on every re-layout).
struct LayoutScratch {
    /// Each program band-pass's `(α/a0, a1/a0, a2/a0)`.
    poles: [(f64, f64, f64); MAX_BANDS],
    /// Points where the overlap is measured, `[point]`: centre i is point
    /// 2i, half-way (geometrically) from centre i to i + 1 is 2i + 1.
    /// `bp[p][k]`: band-pass `p/2 + k − OVERLAP_REACH` at point p (complex),
    /// 0 for bands outside the bank; `tail[p]`: the sums of Re BP and
    /// Re BP² over the bands further away; `loss[p]`: the cascade's loss.
    bp: [[(f64, f64); 2 * OVERLAP_REACH + 1]; 2 * MAX_BANDS],
    tail: [(f64, f64); 2 * MAX_BANDS],
    loss: [f64; 2 * MAX_BANDS],
    /// The fixed point's scales (bell dB / band dB), bell gains − 1, and
    /// the next scales.
    scale: [f64; MAX_BANDS],
    c: [f64; MAX_BANDS],
    next: [f64; MAX_BANDS],
    /// Bell dB per band at each reference depth.
    bell_db: [[f64; NUM_REFERENCES]; MAX_BANDS],
}

/// Running state of one channel (left/right or mid/side). `[band]`.
struct Channel {
    /// Key band-pass states, two sections of transposed direct form II.
    key_s1: [f32; MAX_BANDS],
    key_s2: [f32; MAX_BANDS],
    key_t1: [f32; MAX_BANDS],
    key_t2: [f32; MAX_BANDS],
    /// Smoothed key power (amplitude²).
    key_power: [f32; MAX_BANDS],
    /// Reduction after ballistics, dB ≥ 0.
    reduction_db: [f32; MAX_BANDS],
    /// Bell: transposed direct form II state, the current `b0` (its `b2` is
    /// `a2 + 1 − b0`), its per-sample step, and the `b0` the ramp ends on.
    s1: [f32; MAX_BANDS],
    s2: [f32; MAX_BANDS],
    b0: [f32; MAX_BANDS],
    b0_step: [f32; MAX_BANDS],
    b0_to: [f32; MAX_BANDS],
}

impl Channel {
    fn new() -> Self {
        Self {
            key_s1: [0.0; MAX_BANDS],
            key_s2: [0.0; MAX_BANDS],
            key_t1: [0.0; MAX_BANDS],
            key_t2: [0.0; MAX_BANDS],
            key_power: [0.0; MAX_BANDS],
            reduction_db: [0.0; MAX_BANDS],
            s1: [0.0; MAX_BANDS],
            s2: [0.0; MAX_BANDS],
            b0: [1.0; MAX_BANDS],
            b0_step: [0.0; MAX_BANDS],
            b0_to: [1.0; MAX_BANDS],
        }
    }
}

/// Display-only analysis of one program channel as it comes in, `[band]`:
/// one key-style section (2nd order: the display needs no more
/// selectivity) and its power.
struct ProgramMeter {
    s1: [f32; MAX_BANDS],
    s2: [f32; MAX_BANDS],
    power: [f32; MAX_BANDS],
}

/// The filter-bank engine; [`SpectralDucker`] owns one and forwards its
/// parameters to it whichever algorithm runs, so switching needs no setup.
pub(super) struct FilterBank {
    depth_db: f32,
    threshold_db: f32,
    slope: f32,
    attack_ms: f32,
    release_ms: f32,
    timing_tilt: f32,
    low_hz: f32,
    high_hz: f32,
    smoothing: f32,
    stereo_link: f32,
    mid_side: bool,
    bands: usize,

    prepared: bool,
    sample_rate: f32,
    channels: usize,
    /// Band spacing in ERB, from the layout.
    step_erb: f32,
    /// Whether `lowHz ≤ highHz` (otherwise nothing ducks, as in the STFT mode).
    range_valid: bool,
    /// Allocated in `prepare` (boxed: several kB each).
    tables: Box<Tables>,
    layout: Box<LayoutScratch>,
    state: Box<[Channel; 2]>,
    /// One per input channel; the display shows the louder.
    meter: Box<[ProgramMeter; 2]>,
    /// Per-control-step scratch `[band]`: smoothed power, then targets, then
    /// linked reductions; each bell's target gain − 1; and the display rows
    /// (key and program power, the cascade's cut at each centre in dB).
    scratch: Box<[f32; MAX_BANDS]>,
    bell_c: Box<[f32; MAX_BANDS]>,
    show_key: Box<[f32; MAX_BANDS]>,
    show_program: Box<[f32; MAX_BANDS]>,
    show_reduction: Box<[f32; MAX_BANDS]>,
    /// Bells to run this control step, ascending (a band is listed if either
    /// channel's bell is not settled at unity).
    active: [u8; MAX_BANDS],
    num_active: usize,
    /// Samples since the last control step.
    count: usize,
    /// Control steps until the shown cut is next computed.
    display_countdown: usize,
    /// Control steps since the last re-layout (saturating), and whether the
    /// next one must not wait (`bands` changed, or `prepare`).
    steps_since_layout: usize,
    layout_now: bool,
    stale: u8,
    key_present: bool,
}

impl FilterBank {
    /// A bank with the ducker's defaults; `prepare` allocates.
    pub(super) fn new() -> Self {
        Self {
            depth_db: 12.0,
            threshold_db: -40.0,
            slope: 0.75,
            attack_ms: 10.0,
            release_ms: 150.0,
            timing_tilt: 0.0,
            low_hz: 20.0,
            high_hz: 20_000.0,
            smoothing: 0.5,
            stereo_link: 0.5,
            mid_side: false,
            bands: DEFAULT_BANDS,
            prepared: false,
            sample_rate: 48_000.0,
            channels: 2,
            step_erb: 1.0,
            range_valid: true,
            tables: Box::new(Tables::zeroed()),
            layout: Box::new(LayoutScratch {
                poles: [(0.0, 0.0, 0.0); MAX_BANDS],
                bp: [[(0.0, 0.0); 2 * OVERLAP_REACH + 1]; 2 * MAX_BANDS],
                tail: [(0.0, 0.0); 2 * MAX_BANDS],
                loss: [0.0; 2 * MAX_BANDS],
                scale: [1.0; MAX_BANDS],
                c: [0.0; MAX_BANDS],
                next: [1.0; MAX_BANDS],
                bell_db: [[0.0; NUM_REFERENCES]; MAX_BANDS],
            }),
            state: Box::new([Channel::new(), Channel::new()]),
            meter: Box::new([ProgramMeter::new(), ProgramMeter::new()]),
            scratch: Box::new([0.0; MAX_BANDS]),
            bell_c: Box::new([0.0; MAX_BANDS]),
            show_key: Box::new([0.0; MAX_BANDS]),
            show_program: Box::new([0.0; MAX_BANDS]),
            show_reduction: Box::new([0.0; MAX_BANDS]),
            active: [0; MAX_BANDS],
            num_active: 0,
            count: 0,
            display_countdown: 0,
            steps_since_layout: 0,
            layout_now: true,
            stale: STALE_ALL,
            key_present: false,
        }
    }

    /// Every table is already allocated (boxed in `new`, for all
    /// `MAX_BANDS`); this builds them for the rate.
    pub(super) fn prepare(&mut self, sample_rate: f32, channels: usize) {
        self.sample_rate = sample_rate;
        self.channels = channels.clamp(1, 2);
        self.prepared = true;
        self.stale = STALE_ALL;
        self.layout_now = true;
        self.reset();
        self.refresh_tables();
    }

    /// Clears the running state (filters, detectors, reductions, ramps).
    /// Runs on the audio thread: no allocation, no locks.
    pub(super) fn reset(&mut self) {
        for ch in self.state.iter_mut() {
            *ch = Channel::new();
        }
        for m in self.meter.iter_mut() {
            *m = ProgramMeter::new();
        }
        self.num_active = 0;
        self.count = 0;
        self.display_countdown = 0;
        self.show_reduction.fill(0.0);
        self.key_present = false;
    }

    /// The number of bands `value` asks for: rounded, within 16…64.
    pub(super) fn bands_of(value: f32) -> usize {
        if value.is_finite() {
            (value.round() as usize).clamp(MIN_BANDS, MAX_BANDS)
        } else {
            DEFAULT_BANDS
        }
    }

    /// Takes the shared parameters; `bands` is [`FilterBank::set_bands`].
    /// Each change only stores a scalar or marks a table stale; tables are
    /// rebuilt at the next control step, once however many changes came.
    /// Runs on the audio thread: no allocation, no locks.
    pub(super) fn set_param(&mut self, index: usize, value: f32) {
        match index {
            DEPTH_DB => self.depth_db = value,
            THRESHOLD_DB => self.threshold_db = value,
            RATIO => self.slope = 1.0 - 1.0 / value.max(1.0),
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
            LOW_HZ => {
                self.low_hz = value;
                self.stale |= STALE_LAYOUT;
            }
            HIGH_HZ => {
                self.high_hz = value;
                self.stale |= STALE_LAYOUT;
            }
            SMOOTHING => {
                self.smoothing = value;
                self.stale |= STALE_KERNEL;
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
            _ => {}
        }
    }

    /// Re-lays the bank with `bands` bands; the running state of the old
    /// layout means nothing in the new one, so it is cleared.
    /// Runs on the audio thread: no allocation, no locks.
    pub(super) fn set_bands(&mut self, bands: usize) {
        if bands != self.bands {
            self.bands = bands;
            self.stale |= STALE_LAYOUT;
            self.layout_now = true;
            if self.prepared {
                self.reset();
            }
        }
    }

    /// Rebuilds the stale tables, each once.
    /// Runs on the audio thread: no allocation, no locks.
    fn refresh_tables(&mut self) {
        if self.stale == 0 || !self.prepared {
            return;
        }
        // A pending re-layout waits out LAYOUT_INTERVAL_MS since the last
        // one (its bit stays set); the other tables go ahead on the layout
        // in force and are rebuilt again after it.
        let interval = (LAYOUT_INTERVAL_MS * self.sample_rate / (1000.0 * CONTROL_FRAMES as f32)).round().max(1.0) as usize;
        let mut keep = 0;
        if self.stale & STALE_LAYOUT != 0 {
            if self.layout_now || self.steps_since_layout >= interval {
                self.lay_out();
                self.layout_now = false;
                self.steps_since_layout = 0;
                self.stale |= STALE_TIME_SCALE | STALE_KERNEL;
            } else {
                keep = STALE_LAYOUT;
            }
        }
        let n = self.bands;
        let t = &mut *self.tables;
        if self.stale & STALE_KERNEL != 0 {
            // A box `smoothing` ERB wide over cells one spacing wide: each
            // band weighs by how much of its cell the box covers, so the
            // smoothing grows continuously with the parameter (at most one
            // cell, its own, when the box is narrower than a spacing).
            let half_width = (self.smoothing / self.step_erb * 0.5).max(0.0);
            t.kernel[0] = 1.0;
            t.kernel_reach = 0;
            for d in 1..=MAX_SMOOTHING_REACH {
                let w = (half_width - d as f32 + 0.5).clamp(0.0, 1.0);
                t.kernel[d] = w;
                if w > 0.0 {
                    t.kernel_reach = d;
                }
            }
        }
        if self.stale & STALE_TIME_SCALE != 0 {
            let tilt = self.timing_tilt;
            for (scale, &ratio) in t.time_scale[..n].iter_mut().zip(&t.pivot_ratio[..n]) {
                *scale = super::time_scale(ratio, tilt);
            }
            self.stale |= STALE_ATTACK | STALE_RELEASE;
        }
        let step_s = CONTROL_FRAMES as f32 / self.sample_rate;
        if self.stale & STALE_ATTACK != 0 {
            SpectralDucker::ballistics(&mut t.attack_coeff[..n], &t.time_scale[..n], self.attack_ms, step_s);
        }
        if self.stale & STALE_RELEASE != 0 {
            SpectralDucker::ballistics(&mut t.release_coeff[..n], &t.time_scale[..n], self.release_ms, step_s);
        }
        self.stale = keep;
    }

    /// Centres, bells, key sections, detectors and the overlap compensation
    /// for the current `bands`, `lowHz`, `highHz` and rate (in f64: the
    /// narrow low bands' poles sit close to z = 1).
    /// Runs on the audio thread: no allocation, no locks.
    fn lay_out(&mut self) {
        let sr = self.sample_rate as f64;
        let n = self.bands;
        let hz_of = hz_of_erb_rate;
        let high = (self.high_hz as f64).min(0.45 * sr).max(1.0);
        self.range_valid = self.low_hz <= self.high_hz;
        let low = (self.low_hz as f64).clamp(1.0, high);
        // A span narrower than 0.05 ERB per band would make the bells
        // needle-thin; the bank then reaches a little above `highHz`.
        let step = ((erb_rate(high) - erb_rate(low)) / (n - 1) as f64).max(0.05);
        self.step_erb = step as f32;
        let t = &mut *self.tables;
        let l = &mut *self.layout;
        for i in 0..n {
            let f = hz_of(erb_rate(low) + step * i as f64).min(0.49 * sr);
            let section = |bandwidth: f64| band_pass(f, 0.5 * bandwidth * step, sr);
            let (alpha, a1, a2) = section(BANDWIDTH_PROGRAM);
            l.poles[i] = (alpha, a1, a2);
            t.centre_hz[i] = f as f32;
            t.alpha[i] = alpha as f32;
            t.a1[i] = a1 as f32;
            t.a2[i] = a2 as f32;
            let (kb0, ka1, ka2) = section(BANDWIDTH_KEY);
            t.key_b0[i] = kb0 as f32;
            t.key_a1[i] = ka1 as f32;
            t.key_a2[i] = ka2 as f32;
            let tau = (DETECTOR_PERIODS / f as f32).clamp(DETECTOR_MIN_S, DETECTOR_MAX_S);
            t.detector[i] = 1.0 - (-1.0 / (tau * self.sample_rate)).exp();
            t.pivot_ratio[i] = TILT_PIVOT_HZ / f as f32;
        }
        // Overlap: at each reference depth D, scale each band's dB so that
        // every band asking for D gives the cascade D around every centre:
        // the mean of its loss at the centre and half-way to its neighbours
        // (bells deeper than about 12 dB are narrower in dB than their
        // spacing, so a uniform cut ripples between centres, ±2.5 dB at
        // 24 dB; calibrating the mean splits the ripple evenly about D
        // where calibrating the centres alone left the regions between
        // short by all of it). A bell of gain g is 1 + (g − 1)·BP with
        // BP = α(1 − z⁻²)/(1 + a1 z⁻¹ + a2 z⁻²); the responses at the points
        // are taken once, then the scales are refined by fixed-point steps
        // (a bell's dB is not proportional to its gain's dB, so one step
        // from the reference leaves 2 dB), each depth starting from the last
        // one's scales. Bells beyond OVERLAP_REACH are summed in a tail: at
        // |BP| < 0.1 their ln|1 + c·BP|² is 2c·Re BP − c²·Re BP² within
        // 0.1 %, with c their gain − 1 taken as the point's own band's (the
        // cut is uniform); left out, the tail made every mid-bank centre
        // lose 0.3–0.5 dB too much.
        let num_points = 2 * n - 1;
        for p in 0..num_points {
            let i = p / 2;
            let hz = if p % 2 == 0 { t.centre_hz[i] as f64 } else { (t.centre_hz[i] as f64 * t.centre_hz[i + 1] as f64).sqrt() };
            let w = std::f64::consts::TAU * hz / sr;
            let (z1, z2) = ((w.cos(), -w.sin()), ((2.0 * w).cos(), -(2.0 * w).sin()));
            l.bp[p] = [(0.0, 0.0); 2 * OVERLAP_REACH + 1];
            l.tail[p] = (0.0, 0.0);
            for (j, &(alpha, a1, a2)) in l.poles[..n].iter().enumerate() {
                let num = (alpha * (1.0 - z2.0), -alpha * z2.1);
                let den = (1.0 + a1 * z1.0 + a2 * z2.0, a1 * z1.1 + a2 * z2.1);
                let d2 = den.0 * den.0 + den.1 * den.1;
                let (re, im) = ((num.0 * den.0 + num.1 * den.1) / d2, (num.1 * den.0 - num.0 * den.1) / d2);
                match (j + OVERLAP_REACH).checked_sub(i).filter(|&k| k <= 2 * OVERLAP_REACH) {
                    Some(k) => l.bp[p][k] = (re, im),
                    None => l.tail[p] = (l.tail[p].0 + re, l.tail[p].1 + re * re - im * im),
                }
            }
        }
        for (centre, point) in t.centre_bp[..n].iter_mut().zip(l.bp.iter().step_by(2)) {
            for (to, &(re, im)) in centre.iter_mut().zip(point) {
                *to = (re as f32, im as f32);
            }
        }
        // Loss in dB at point p with every bell's gain − 1 in `c`.
        let loss_db = |l: &LayoutScratch, p: usize| {
            let i = p / 2;
            let mut power = 1.0;
            for (k, &(re, im)) in l.bp[p].iter().enumerate() {
                // Entries outside the bank are 0: a factor of 1.
                let j = (i + k).wrapping_sub(OVERLAP_REACH).min(n - 1);
                let (hr, hi) = (1.0 + l.c[j] * re, l.c[j] * im);
                power *= hr * hr + hi * hi;
            }
            let (tail1, tail2) = l.tail[p];
            let c = l.c[i];
            -(fast_math::power_to_db(power as f32) as f64) - 10.0 * std::f64::consts::LOG10_E * (2.0 * c * tail1 - c * c * tail2)
        };
        l.scale[..n].fill(1.0);
        for (r, &depth) in REFERENCE_DB.iter().enumerate() {
            for _ in 0..OVERLAP_ITERATIONS {
                for (c, &scale) in l.c[..n].iter_mut().zip(&l.scale[..n]) {
                    // The fast f32 forms (within 0.01 dB): a morph re-lays
                    // the bank every 10 ms, and libm's would be most of it.
                    *c = fast_math::db_to_gain((-depth * scale) as f32) as f64 - 1.0;
                }
                for p in 0..num_points {
                    l.loss[p] = loss_db(l, p);
                }
                for i in 0..n {
                    let between = match (i > 0, i + 1 < n) {
                        (true, true) => 0.5 * (l.loss[2 * i - 1] + l.loss[2 * i + 1]),
                        (true, false) => l.loss[2 * i - 1],
                        (false, true) => l.loss[2 * i + 1],
                        (false, false) => l.loss[0],
                    };
                    l.next[i] = l.scale[i] * depth / (0.5 * (l.loss[2 * i] + between));
                }
                l.scale[..n].copy_from_slice(&l.next[..n]);
            }
            for (bell, &scale) in l.bell_db[..n].iter_mut().zip(&l.scale[..n]) {
                bell[r] = depth * scale.min(1.0);
            }
        }
        // The piecewise-linear curve through (0, 0) and (D, bell dB at D).
        for b in 0..n {
            let (mut x0, mut y0) = (0.0, 0.0);
            for r in 0..NUM_REFERENCES {
                let (x1, y1) = (REFERENCE_DB[r], l.bell_db[b][r]);
                let per_db = (y1 - y0) / (x1 - x0);
                t.bell_db_per_db[b][r] = per_db as f32;
                t.bell_db_at0[b][r] = (y0 - per_db * x0) as f32;
                (x0, y0) = (x1, y1);
            }
        }
    }

    /// Reduction display and key flag come from here; see `publish`.
    /// Runs on the audio thread: no allocation, no locks.
    pub(super) fn process(&mut self, audio: &mut AudioBuf, key: Option<&AudioBuf>, frames: usize, mix: &mut Smoother, display: &SpectrumDisplay) {
        let channels = self.channels.min(audio.channels());
        let mut done = 0;
        while done < frames {
            if self.count == 0 {
                self.control_step(channels, key.is_some(), display);
            }
            let len = (frames - done).min(CONTROL_FRAMES - self.count);
            self.run(audio, key, done, len, channels, mix);
            done += len;
            self.count = (self.count + len) % CONTROL_FRAMES;
        }
    }

    /// Audio for `len` samples from `start`, all inside one control step.
    /// Runs on the audio thread: no allocation, no locks.
    fn run(&mut self, audio: &mut AudioBuf, key: Option<&AudioBuf>, start: usize, len: usize, channels: usize, mix: &mut Smoother) {
        let n = self.bands;
        let mid_side = channels == 2 && self.mid_side;
        // With no bell running the program passes untouched: no mid/side
        // round trip ((M + S) need not be L bit for bit) and no wet/dry sum
        // (the mix still advances), so an idle ducker is the identity in
        // every mode and at any mix.
        let idle = self.num_active == 0;
        let coded = mid_side && !idle;
        let clean = |x: f32| if x.abs() <= MAX_INPUT { x } else { 0.0 };
        let t = &*self.tables;
        let mixing = mix.is_ramping() || mix.current() != 1.0;
        for i in start..start + len {
            // Key analysis, per channel (mid/side when the mode asks).
            if let Some(key) = key {
                let at = |ch: usize| if ch < key.channels() { clean(key.channel(ch)[i]) } else { 0.0 };
                let (k0, k1) = (at(0), at(1));
                let (k0, k1) = if mid_side { (0.5 * (k0 + k1), 0.5 * (k0 - k1)) } else { (k0, k1) };
                for (ch, x) in self.state[..channels].iter_mut().zip([k0, k1]) {
                    analyse_key(ch, t, n, x);
                }
            }
            let x0 = clean(audio.channel(0)[i]);
            let x1 = if channels == 2 { clean(audio.channel(1)[i]) } else { 0.0 };
            let (first, second) = self.meter.split_at_mut(1);
            meter_program(&mut first[0], t, n, x0);
            if channels == 2 {
                meter_program(&mut second[0], t, n, x1);
            }
            let (p0, p1) = if coded { (0.5 * (x0 + x1), 0.5 * (x0 - x1)) } else { (x0, x1) };
            let active = &self.active[..self.num_active];
            let (y0, y1) = if channels == 2 {
                let (first, second) = self.state.split_at_mut(1);
                cascade_stereo(&mut first[0], &mut second[0], t, active, p0, p1)
            } else {
                (cascade_mono(&mut self.state[0], t, active, p0), 0.0)
            };
            let (y0, y1) = if coded { (y0 + y1, y0 - y1) } else { (y0, y1) };
            let m = if mixing { mix.next() } else { 1.0 };
            if mixing && !idle {
                audio.channel_mut(0)[i] = m * y0 + (1.0 - m) * x0;
                if channels == 2 {
                    audio.channel_mut(1)[i] = m * y1 + (1.0 - m) * x1;
                }
            } else {
                audio.channel_mut(0)[i] = y0;
                if channels == 2 {
                    audio.channel_mut(1)[i] = y1;
                }
            }
        }
    }

    /// One control step: key levels → reductions → bell gain ramps, the
    /// list of bells to run, and the display.
    /// Runs on the audio thread: no allocation, no locks.
    fn control_step(&mut self, channels: usize, keyed: bool, display: &SpectrumDisplay) {
        self.steps_since_layout = self.steps_since_layout.saturating_add(1);
        self.refresh_tables();
        let n = self.bands;
        let t = &*self.tables;
        let mut loudest = 0.0f32;
        for ch in self.state[..channels].iter_mut() {
            if !keyed {
                ch.key_power = [0.0; MAX_BANDS];
            }
            // No state can overflow (inputs beyond MAX_INPUT are read as 0,
            // and every filter here is stable with a gain of at most 1), so
            // there is nothing to restart; decaying ones are flushed instead.
            for states in [&mut ch.key_s1, &mut ch.key_s2, &mut ch.key_t1, &mut ch.key_t2, &mut ch.key_power, &mut ch.s1, &mut ch.s2] {
                flush_tiny(&mut states[..n]);
            }
            loudest = ch.key_power[..n].iter().fold(loudest, |m, &p| m.max(p));
        }
        for m in self.meter[..channels].iter_mut() {
            for states in [&mut m.s1, &mut m.s2, &mut m.power] {
                flush_tiny(&mut states[..n]);
            }
        }
        self.key_present = loudest > KEY_PRESENT_POWER;
        let duck = self.key_present && self.range_valid;

        // Target reduction per channel and band, then ballistics.
        let (threshold, depth, slope) = (self.threshold_db, self.depth_db, self.slope);
        let reach = t.kernel_reach;
        for ch in self.state[..channels].iter_mut() {
            let target = &mut self.scratch[..n];
            if duck {
                let power = &ch.key_power[..n];
                if reach == 0 {
                    target.copy_from_slice(power);
                } else {
                    for (b, out) in target.iter_mut().enumerate() {
                        let (mut sum, mut weight) = (power[b], 1.0);
                        for d in 1..=reach {
                            let w = t.kernel[d];
                            if b >= d {
                                sum += w * power[b - d];
                                weight += w;
                            }
                            if b + d < n {
                                sum += w * power[b + d];
                                weight += w;
                            }
                        }
                        *out = sum / weight;
                    }
                }
                for x in target.iter_mut() {
                    *x = super::reduction_db(*x, threshold, slope, depth);
                }
            } else {
                target.fill(0.0);
            }
            // Settling exactly at 0 returns the bell to exact unity.
            for (((state, &target), &attack), &release) in ch.reduction_db[..n].iter_mut().zip(target.iter()).zip(&t.attack_coeff[..n]).zip(&t.release_coeff[..n]) {
                *state = super::ballistics_step(*state, target, attack, release);
            }
        }

        // Link (stereo mode only), show, and set each bell's ramp.
        let link = if channels == 2 && !self.mid_side { self.stereo_link } else { 0.0 };
        let show_cut = self.display_countdown == 0;
        self.display_countdown = if show_cut { DISPLAY_CUT_STEPS - 1 } else { self.display_countdown - 1 };
        if show_cut {
            self.show_reduction[..n].fill(0.0);
        }
        self.show_key[..n].fill(0.0);
        self.show_program[..n].copy_from_slice(&self.meter[0].power[..n]);
        if channels == 2 {
            for (shown, &p) in self.show_program[..n].iter_mut().zip(&self.meter[1].power[..n]) {
                *shown = shown.max(p);
            }
        }
        for c in 0..channels {
            let other = if channels == 2 { 1 - c } else { c };
            let linked = &mut self.scratch[..n];
            let (own, others) = (&self.state[c].reduction_db[..n], &self.state[other].reduction_db[..n]);
            for ((l, &own), &other) in linked.iter_mut().zip(own).zip(others) {
                *l = super::linked(own, other, link);
            }
            let ch = &mut self.state[c];
            for (shown, &p) in self.show_key[..n].iter_mut().zip(&ch.key_power[..n]) {
                *shown = shown.max(p);
            }
            let cutting = linked.iter().any(|&l| l > 0.0);
            for b in 0..n {
                let gain = fast_math::db_to_gain(-bell_db(t, b, linked[b]));
                self.bell_c[b] = gain - 1.0;
                let to = 1.0 + (gain - 1.0) * t.alpha[b];
                // Start the new ramp exactly where the last one was headed,
                // so a bell at unity stays exactly at unity.
                ch.b0[b] = ch.b0_to[b];
                ch.b0_step[b] = (to - ch.b0_to[b]) * (1.0 / CONTROL_FRAMES as f32);
                ch.b0_to[b] = to;
            }
            // Shown: the cut the cascade applies at each centre once the
            // ramp lands (what the STFT mode shows per bin), not the band's
            // reduction: a lone tone's bands ask for the depth but, with
            // the bells compensated for neighbours that stay up, it loses
            // less. Bells beyond OVERLAP_REACH are left out (under a deep
            // cut across the whole bank they add up to about 0.5 dB).
            if cutting && show_cut {
                for (i, shown) in self.show_reduction[..n].iter_mut().enumerate() {
                    let mut power = 1.0f32;
                    for (k, &(re, im)) in t.centre_bp[i].iter().enumerate() {
                        // Entries outside the bank are 0: a factor of 1.
                        let c = self.bell_c[(i + k).wrapping_sub(OVERLAP_REACH).min(n - 1)];
                        let (hr, hi) = (1.0 + c * re, c * im);
                        power *= hr * hr + hi * hi;
                    }
                    *shown = shown.max(-fast_math::power_to_db(power).min(0.0));
                }
            }
        }

        // Bells to run: skip one that is at unity for the whole step in
        // every channel with a settled state (zeroed, so skipping it gives
        // exactly what running it would).
        self.num_active = 0;
        for b in 0..n {
            let idle = self.state[..channels].iter_mut().all(|ch| {
                let settled = ch.b0[b] == 1.0 && ch.b0_to[b] == 1.0 && ch.s1[b].abs() < SETTLED_STATE && ch.s2[b].abs() < SETTLED_STATE;
                if settled {
                    (ch.s1[b], ch.s2[b]) = (0.0, 0.0);
                }
                settled
            });
            if !idle {
                self.active[self.num_active] = b as u8;
                self.num_active += 1;
            }
        }

        display.publish_bands(self.key_present, &t.centre_hz[..n], &self.show_key[..n], &self.show_program[..n], &self.show_reduction[..n]);
    }
}

impl ProgramMeter {
    fn new() -> Self {
        Self { s1: [0.0; MAX_BANDS], s2: [0.0; MAX_BANDS], power: [0.0; MAX_BANDS] }
    }
}

impl Tables {
    fn zeroed() -> Self {
        let z = [0.0; MAX_BANDS];
        Self {
            centre_hz: z,
            alpha: z,
            a1: z,
            a2: z,
            bell_db_at0: [[0.0; NUM_REFERENCES]; MAX_BANDS],
            bell_db_per_db: [[0.0; NUM_REFERENCES]; MAX_BANDS],
            key_b0: z,
            key_a1: z,
            key_a2: z,
            detector: z,
            pivot_ratio: z,
            time_scale: z,
            attack_coeff: z,
            release_coeff: z,
            centre_bp: [[(0.0, 0.0); 2 * OVERLAP_REACH + 1]; MAX_BANDS],
            kernel: [0.0; MAX_SMOOTHING_REACH + 1],
            kernel_reach: 0,
        }
    }
}

/// The bell dB of band `b` reduced by `reduction_db` (≥ 0): the overlap
/// compensation's piecewise-linear curve, a few flops and no table search
/// (the segment is the count of reference depths at or below the reduction).
#[inline]
fn bell_db(t: &Tables, b: usize, reduction_db: f32) -> f32 {
    let k = (1..NUM_REFERENCES).filter(|&r| reduction_db >= REFERENCE_DB[r - 1] as f32).count();
    t.bell_db_at0[b][k] + t.bell_db_per_db[b][k] * reduction_db
}

/// The ERB-rate scale, E(f) = 21.4·log10(1 + 0.00437·f), and its inverse.
fn erb_rate(hz: f64) -> f64 {
    21.4 * (1.0 + 0.00437 * hz).log10()
}

fn hz_of_erb_rate(erb: f64) -> f64 {
    (10f64.powf(erb / 21.4) - 1.0) / 0.00437
}

/// The RBJ constant-0-dB-peak band-pass peaking at `hz`, with its −3 dB
/// points `half_erb` ERB either side of it on the ERB-rate scale, as the
/// normalised `(α/a0, a1/a0, a2/a0)` (numerator `α/a0 · (1 − z⁻²)`).
///
/// Designed on prewarped frequencies Ω = tan(π f / rate), so the digital
/// filter's −3 dB points land where asked at any frequency (an analog
/// `Q = f / bandwidth` put through the bilinear transform comes out
/// narrower towards Nyquist: the bells then leave dips between centres and
/// the key bands miss tones between them). The bilinear band-pass
/// `B·s / (s² + B·s + Ω0²)` has its −3 dB points at Ω_lo·Ω_hi = Ω0²,
/// Ω_hi − Ω_lo = B; an ERB grid is not geometric, so each neighbour asks for
/// its own B (`Ω0²/Ω_lo − Ω_lo` puts the lower point exactly on Ω_lo), and
/// the wider of the two is taken: the filter then reaches at least to both
/// points (towards Nyquist the warped grid is lopsided, the upper
/// neighbour much further in log Ω; a narrower choice would leave dips
/// between the bells and tones between key bands read low). An edge below
/// 1 Hz or above 0.49 × the rate (the bottom and top bands) is left out, so
/// the other side decides alone. In RBJ's terms α = B / (1 + Ω0²).
fn band_pass(hz: f64, half_erb: f64, sample_rate: f64) -> (f64, f64, f64) {
    let warp = |f: f64| (std::f64::consts::PI * f / sample_rate).tan();
    let e = erb_rate(hz);
    let (lo_hz, hi_hz) = (hz_of_erb_rate(e - half_erb), hz_of_erb_rate(e + half_erb));
    let omega = warp(hz);
    let below = (lo_hz >= 1.0).then(|| omega * omega / warp(lo_hz) - warp(lo_hz));
    let above = (hi_hz <= 0.49 * sample_rate).then(|| warp(hi_hz) - omega * omega / warp(hi_hz));
    let b = match (below, above) {
        (Some(b_lo), Some(b_hi)) => b_lo.max(b_hi),
        (Some(b), None) | (None, Some(b)) => b,
        // Both edges outside (a bank squeezed near 1 Hz and Nyquist): the
        // analog bandwidth, scaled to the prewarped centre.
        (None, None) => omega * (hi_hz - lo_hz) / hz,
    };
    let alpha = b / (1.0 + omega * omega);
    let cos = (std::f64::consts::TAU * hz / sample_rate).cos();
    let a0 = 1.0 + alpha;
    (alpha / a0, -2.0 * cos / a0, (1.0 - alpha) / a0)
}

/// One key sample through every band's two band-pass sections and detector.
/// Plain loops over equal-length slices, so they vectorise across bands.
/// Runs on the audio thread: no allocation, no locks.
#[inline]
fn analyse_key(ch: &mut Channel, t: &Tables, n: usize, x: f32) {
    let (b0, a1, a2, det) = (&t.key_b0[..n], &t.key_a1[..n], &t.key_a2[..n], &t.detector[..n]);
    let (s1, s2, t1, t2, power) = (&mut ch.key_s1[..n], &mut ch.key_s2[..n], &mut ch.key_t1[..n], &mut ch.key_t2[..n], &mut ch.key_power[..n]);
    for b in 0..n {
        // Band-pass numerator (b0, 0, −b0), transposed direct form II.
        let bx = b0[b] * x;
        let v = bx + s1[b];
        s1[b] = s2[b] - a1[b] * v;
        s2[b] = -bx - a2[b] * v;
        let bv = b0[b] * v;
        let w = bv + t1[b];
        t1[b] = t2[b] - a1[b] * w;
        t2[b] = -bv - a2[b] * w;
        // Mean square × 2: a sine of amplitude A at the centre reads A².
        power[b] += det[b] * (2.0 * w * w - power[b]);
    }
}

/// Zeroes the values below 1e−20 in magnitude (−400 dB for a level):
/// decaying filter and detector states would otherwise end up denormal,
/// which costs 10–100× per operation on many processors, and the engine's
/// flush-to-zero guard covers x86 only.
/// Runs on the audio thread: no allocation, no locks.
#[inline]
fn flush_tiny(xs: &mut [f32]) {
    for x in xs {
        *x = if x.abs() < 1e-20 { 0.0 } else { *x };
    }
}

/// One program channel through one key section per band, for the display.
/// Runs on the audio thread: no allocation, no locks.
#[inline]
fn meter_program(m: &mut ProgramMeter, t: &Tables, n: usize, x: f32) {
    let (b0, a1, a2, det) = (&t.key_b0[..n], &t.key_a1[..n], &t.key_a2[..n], &t.detector[..n]);
    let (s1, s2, power) = (&mut m.s1[..n], &mut m.s2[..n], &mut m.power[..n]);
    for b in 0..n {
        let bx = b0[b] * x;
        let v = bx + s1[b];
        s1[b] = s2[b] - a1[b] * v;
        s2[b] = -bx - a2[b] * v;
        power[b] += det[b] * (2.0 * v * v - power[b]);
    }
}

/// One bell of the cascade, transposed direct form II with `b1 = a1` and
/// `b2 = a2 + 1 − b0`, written so the path from input to output is one
/// multiply and one add: `y = b0·x + s1`. Returns the output.
#[inline(always)]
fn bell(b0: f32, a1: f32, a2: f32, s1: &mut f32, s2: &mut f32, x: f32) -> f32 {
    let bx = b0 * x;
    let y = bx + *s1;
    let d = x - y;
    // b2·x − a2·y = a2·(x − y) − (b0 − 1)·x
    *s1 = a1 * d + *s2;
    *s2 = a2 * d - (bx - x);
    y
}

/// Both channels' samples through the active bells; the two chains are
/// independent, so the processor overlaps them.
/// Runs on the audio thread: no allocation, no locks.
#[inline]
fn cascade_stereo(c0: &mut Channel, c1: &mut Channel, t: &Tables, active: &[u8], mut x0: f32, mut x1: f32) -> (f32, f32) {
    for &b in active {
        let b = b as usize % MAX_BANDS;
        let (a1, a2) = (t.a1[b], t.a2[b]);
        x0 = bell(c0.b0[b], a1, a2, &mut c0.s1[b], &mut c0.s2[b], x0);
        x1 = bell(c1.b0[b], a1, a2, &mut c1.s1[b], &mut c1.s2[b], x1);
        c0.b0[b] += c0.b0_step[b];
        c1.b0[b] += c1.b0_step[b];
    }
    (x0, x1)
}

/// One channel's sample through the active bells.
/// Runs on the audio thread: no allocation, no locks.
#[inline]
fn cascade_mono(c: &mut Channel, t: &Tables, active: &[u8], mut x: f32) -> f32 {
    for &b in active {
        let b = b as usize % MAX_BANDS;
        x = bell(c.b0[b], t.a1[b], t.a2[b], &mut c.s1[b], &mut c.s2[b], x);
        c.b0[b] += c.b0_step[b];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f32 = 48_000.0;

    fn bank(bands: usize) -> FilterBank {
        let mut fb = FilterBank::new();
        fb.set_bands(bands);
        fb.prepare(SR, 2);
        fb
    }

    fn sine(hz: f32, amp: f32, frames: usize) -> Vec<f32> {
        (0..frames).map(|i| amp * (std::f64::consts::TAU * hz as f64 * i as f64 / SR as f64).sin() as f32).collect()
    }

    /// Peak of the last `len` samples.
    fn tail_peak(x: &[f32], len: usize) -> f32 {
        x[x.len() - len..].iter().fold(0.0, |m, &s| m.max(s.abs()))
    }

    #[test]
    fn a_bell_at_unity_is_the_identity_bit_for_bit_and_at_its_centre_has_its_gain() {
        let fb = bank(40);
        let t = &*fb.tables;
        let i = 20;
        let mut ch = Channel::new();
        let noise: Vec<f32> = (0..1000).map(|n| ((n * 7919 % 1000) as f32 / 500.0 - 1.0) * 0.8).collect();
        for &x in &noise {
            assert_eq!(bell(1.0, t.a1[i], t.a2[i], &mut ch.s1[i], &mut ch.s2[i], x).to_bits(), x.to_bits());
        }
        // Gain 0.5 (−6.02 dB): a sine at the centre comes out at half its
        // amplitude once the bell has settled (within 0.5 %: the peak of a
        // sampled sine falls between samples by at most cos(π f/rate)).
        let b0 = 1.0 + (0.5 - 1.0) * t.alpha[i];
        let x = sine(t.centre_hz[i], 1.0, 48_000);
        let y: Vec<f32> = x.iter().map(|&x| bell(b0, t.a1[i], t.a2[i], &mut ch.s1[i], &mut ch.s2[i], x)).collect();
        let gain = tail_peak(&y, 4800) / tail_peak(&x, 4800);
        assert!((gain - 0.5).abs() < 0.0025, "gain at the centre {gain}");
    }

    fn bank_at(bands: usize, sample_rate: f32) -> FilterBank {
        let mut fb = FilterBank::new();
        fb.set_bands(bands);
        fb.prepare(sample_rate, 2);
        fb
    }

    /// A stored band-pass section's response at `hz` (complex, f64).
    fn band_pass_at(b0: f32, a1: f32, a2: f32, hz: f64, sample_rate: f32) -> (f64, f64) {
        let w = std::f64::consts::TAU * hz / sample_rate as f64;
        let (b0, a1, a2) = (b0 as f64, a1 as f64, a2 as f64);
        let num = (b0 * (1.0 - (2.0 * w).cos()), b0 * (2.0 * w).sin());
        let den = (1.0 + a1 * w.cos() + a2 * (2.0 * w).cos(), -a1 * w.sin() - a2 * (2.0 * w).sin());
        let d2 = den.0 * den.0 + den.1 * den.1;
        ((num.0 * den.0 + num.1 * den.1) / d2, (num.1 * den.0 - num.0 * den.1) / d2)
    }

    /// The cascade's gain in dB at `hz` with bell `b` at linear gain `gain[b]`.
    fn cascade_db(t: &Tables, gain: &[f32], hz: f64, sample_rate: f32) -> f64 {
        let mut power = 1.0;
        for (b, &g) in gain.iter().enumerate() {
            let (re, im) = band_pass_at(t.alpha[b], t.a1[b], t.a2[b], hz, sample_rate);
            let c = g as f64 - 1.0;
            power *= (1.0 + c * re).powi(2) + (c * im).powi(2);
        }
        10.0 * power.log10()
    }

    #[test]
    fn each_bell_has_its_half_power_points_where_designed_up_to_the_top_band() {
        // |BP|² from the stored coefficients at the design points, E(f_i) ±
        // BANDWIDTH_PROGRAM/2 band spacings on the ERB-rate scale, from
        // 150 Hz up to the top band at 44.1 and 48 kHz (the bells are
        // designed on prewarped frequencies): the nearer side is on its
        // half-power point (0.5 within ±0.005, the f32 coefficients'
        // rounding), the other inside the band (0.5 … 0.95; 0.92 at the
        // second band from the top at 44.1 kHz): an ERB grid,
        // warped, is not symmetric about a centre in log Ω, and the bell
        // takes the wider of the two bandwidths. Sides past 0.49 × the rate
        // are not designed for (the top bands at 44.1 kHz).
        for sample_rate in [44_100.0, 48_000.0] {
            let fb = bank_at(40, sample_rate);
            let t = &*fb.tables;
            let half = 0.5 * BANDWIDTH_PROGRAM * fb.step_erb as f64;
            let power = |i: usize, hz: f64| {
                let (re, im) = band_pass_at(t.alpha[i], t.a1[i], t.a2[i], hz, sample_rate);
                re * re + im * im
            };
            for i in (0..40).filter(|&i| t.centre_hz[i] >= 150.0) {
                let e = erb_rate(t.centre_hz[i] as f64);
                let (lo, hi) = (hz_of_erb_rate(e - half), hz_of_erb_rate(e + half));
                let below = power(i, lo);
                let above = if hi <= 0.49 * sample_rate as f64 { power(i, hi) } else { below };
                let what = format!("{sample_rate} Hz, band {i} at {} Hz: {below:.3} / {above:.3}", t.centre_hz[i]);
                assert!((below.min(above) - 0.5).abs() < 0.005 && below.max(above) < 0.95, "{what}");
            }
        }
    }

    #[test]
    fn a_key_tone_between_any_two_centres_is_caught_up_to_the_top_band() {
        // The key's two sections from their stored coefficients (|H|⁴), at
        // the point half-way between two centres on the ERB scale, from
        // 100 Hz to the top band at 44.1 and 48 kHz: the band reading it
        // best reads it at most 3.5 dB low (each section is 1.6 spacings
        // wide, so a tone half a spacing from a centre is about 3 dB down
        // the pair's skirt). Without prewarping it read 8–21 dB low up there.
        for sample_rate in [44_100.0, 48_000.0] {
            let fb = bank_at(40, sample_rate);
            let t = &*fb.tables;
            for i in (0..39).filter(|&i| t.centre_hz[i] >= 100.0) {
                let mid = hz_of_erb_rate(0.5 * (erb_rate(t.centre_hz[i] as f64) + erb_rate(t.centre_hz[i + 1] as f64)));
                let best = (0..40)
                    .map(|b| {
                        let (re, im) = band_pass_at(t.key_b0[b], t.key_a1[b], t.key_a2[b], mid, sample_rate);
                        10.0 * ((re * re + im * im).powi(2)).log10()
                    })
                    .fold(f64::MIN, f64::max);
                assert!(best > -3.5, "{sample_rate} Hz: a key at {mid:.0} Hz reads {best:.2} dB");
            }
        }
    }

    #[test]
    fn moving_low_hz_re_lays_the_bank_at_most_once_per_10_ms_and_always_applies_the_last_value() {
        // 48 kHz: 10 ms is 15 control steps of 32 samples.
        let mut fb = bank(40);
        let (mut audio, key) = (AudioBuf::new(2, CONTROL_FRAMES), AudioBuf::new(2, CONTROL_FRAMES));
        let (mut mix, display) = (Smoother::new(1.0, 0), SpectrumDisplay::new());
        let mut step = |fb: &mut FilterBank| fb.process(&mut audio, Some(&key), CONTROL_FRAMES, &mut mix, &display);
        // Settle past the interval, then a change applies at the next step.
        for _ in 0..20 {
            step(&mut fb);
        }
        fb.set_param(LOW_HZ, 100.0);
        step(&mut fb);
        assert!((fb.tables.centre_hz[0] - 100.0).abs() < 0.01, "applied at once: {}", fb.tables.centre_hz[0]);
        // A change every step: the bank follows every 15th step only.
        let mut layouts = 0;
        for k in 0..60 {
            fb.set_param(LOW_HZ, 101.0 + k as f32);
            let before = fb.tables.centre_hz[0];
            step(&mut fb);
            if fb.tables.centre_hz[0] != before {
                layouts += 1;
            }
        }
        assert_eq!(layouts, 4, "60 steps of 0.67 ms are 4 intervals of 10 ms");
        // The last value lands within 10 ms after the changes stop.
        for _ in 0..15 {
            step(&mut fb);
        }
        assert!((fb.tables.centre_hz[0] - 160.0).abs() < 0.01, "the last value applies: {}", fb.tables.centre_hz[0]);
    }

    #[test]
    fn attack_and_release_take_their_set_times_in_low_mid_and_high_bands() {
        // The reduction of the band nearest each key tone, read after every
        // control step, against `attackMs` / `releaseMs` × the tilt scale
        // (1 kHz / centre)^tilt: within 20 %. Key: a sine at −6 dBFS from
        // 0.2 s to 1.5 s; threshold −60 dB so the key is far over (the
        // target is a clean step, as the parameters assume). Attack from
        // the first step that reduces to the first at 90 % of the depth;
        // release from the last at full depth to the first at 10 % of it.
        let step_ms = CONTROL_FRAMES as f32 * 1000.0 / SR;
        let (on, off, frames) = (SR as usize / 5, SR as usize * 3 / 2, SR as usize * 4);
        let (attack_ms, release_ms) = (100.0f32, 300.0f32);
        let mut report = Vec::new();
        for hz in [150.0f32, 1000.0, 6000.0] {
            let tone = sine(hz, 0.5, frames);
            for tilt in [-1.0f32, 0.0, 1.0] {
                let mut fb = bank(40);
                for (index, value) in [(DEPTH_DB, 12.0), (THRESHOLD_DB, -60.0), (ATTACK_MS, attack_ms), (RELEASE_MS, release_ms), (TIMING_TILT, tilt)] {
                    fb.set_param(index, value);
                }
                let band = (0..40).min_by(|&a, &b| (fb.tables.centre_hz[a] / hz).ln().abs().total_cmp(&(fb.tables.centre_hz[b] / hz).ln().abs())).unwrap();
                let (mut audio, mut key) = (AudioBuf::new(2, CONTROL_FRAMES), AudioBuf::new(2, CONTROL_FRAMES));
                let (mut mix, display) = (Smoother::new(1.0, 0), SpectrumDisplay::new());
                let mut trace = Vec::new();
                for start in (0..frames).step_by(CONTROL_FRAMES) {
                    for ch in 0..2 {
                        for (i, k) in key.channel_mut(ch).iter_mut().enumerate() {
                            *k = if (on..off).contains(&(start + i)) { tone[start + i] } else { 0.0 };
                        }
                    }
                    fb.process(&mut audio, Some(&key), CONTROL_FRAMES, &mut mix, &display);
                    trace.push(fb.state[0].reduction_db[band]);
                }
                let depth = trace.iter().fold(0.0f32, |a, &b| a.max(b));
                assert!((depth - 12.0).abs() < 0.01, "{hz} Hz: settles at the full depth, got {depth}");
                let scale = (1000.0 / fb.tables.centre_hz[band]).powf(tilt).clamp(0.25, 4.0);
                let start = trace.iter().position(|&r| r > 0.0).unwrap();
                let reached = trace.iter().position(|&r| r >= 0.9 * depth).unwrap();
                let attack = (reached - start + 1) as f32 * step_ms;
                let held = trace.iter().rposition(|&r| r >= 0.999 * depth).unwrap();
                let recovered = held + trace[held..].iter().position(|&r| r <= 0.1 * depth).expect("releases within the run");
                let release = (recovered - held) as f32 * step_ms;
                let (want_attack, want_release) = (attack_ms * scale, release_ms * scale);
                report.push(format!(
                    "{hz} Hz (band {:.0} Hz), tilt {tilt}: attack {attack:.1} ms (want {want_attack:.1}), release {release:.1} ms (want {want_release:.1})",
                    fb.tables.centre_hz[band]
                ));
                assert!((attack - want_attack).abs() <= 0.2 * want_attack, "{}", report.last().unwrap());
                assert!((release - want_release).abs() <= 0.2 * want_release, "{}", report.last().unwrap());
            }
        }
        eprintln!("{}", report.join("\n"));
    }

    #[test]
    fn a_sine_at_a_centre_reads_its_amplitude_squared() {
        for i in [5, 20, 35] {
            let mut fb = bank(40);
            let hz = fb.tables.centre_hz[i];
            let x = sine(hz, 0.25, 24_000);
            let mut level = Vec::new();
            for &x in &x {
                analyse_key(&mut fb.state[0], &fb.tables, 40, x);
                level.push(fb.state[0].key_power[i]);
            }
            // The detector ripples at twice the frequency: average the last 50 ms.
            let mean = level[level.len() - 2400..].iter().sum::<f32>() / 2400.0;
            let db = 10.0 * mean.log10();
            let want = 20.0 * 0.25f32.log10();
            assert!((db - want).abs() < 0.1, "band {i} at {hz} Hz reads {db:.2} dBFS, want {want:.2}");
        }
    }

    #[test]
    fn a_uniform_reduction_holds_between_the_top_centres_at_44k1_and_48k() {
        // Every bell set for 12 dB of band reduction; the cascade's exact
        // response (from the stored coefficients) at every centre and half-way
        // between, from 500 Hz to the top band: 12 dB within 1 dB (measured
        // 0.39 dB at 44.1 kHz, 0.35 at 48 kHz). Before the bells were
        // designed on prewarped frequencies (and with two-spacing bells) the
        // region between the top centres was cut 8.6 dB short at 12 kHz and
        // 5.9 dB short at 15 kHz.
        for sample_rate in [44_100.0, 48_000.0] {
            let fb = bank_at(40, sample_rate);
            let t = &*fb.tables;
            let gain: Vec<f32> = (0..40).map(|b| fast_math::db_to_gain(-bell_db(t, b, 12.0))).collect();
            let mut worst = (0.0f64, 0.0f64);
            for i in (0..39).filter(|&i| t.centre_hz[i] >= 500.0) {
                for hz in [t.centre_hz[i] as f64, (t.centre_hz[i] as f64 * t.centre_hz[i + 1] as f64).sqrt(), t.centre_hz[i + 1] as f64] {
                    let db = cascade_db(t, &gain, hz, sample_rate);
                    if (db + 12.0).abs() > worst.1.abs() {
                        worst = (hz, db + 12.0);
                    }
                }
            }
            eprintln!("{sample_rate} Hz: worst deviation from −12 dB {:+.2} dB at {:.0} Hz", worst.1, worst.0);
            assert!(worst.1.abs() < 1.0, "{sample_rate} Hz: {:+.2} dB off at {:.0} Hz", worst.1, worst.0);
        }
    }

    #[test]
    fn a_uniform_reduction_loses_that_much_at_every_depth() {
        // Every band reduced by D dB; the cascade's exact response at every
        // centre and half-way between, 500 Hz–8 kHz, 40 bands, 48 kHz.
        // Within 0.5 dB up to 24 dB (measured 0.38: the fixed point's residue,
        // the far bells' tail taken to second order, and the linear curve
        // between reference depths); at 30 dB within 1 dB and at 36 dB within
        // 3.5 dB (measured 0.97 and 3.41): bells that deep are narrower in dB
        // than their spacing and ripple between centres, evenly about D since
        // the mean is calibrated. Before, one factor solved at 12 dB lost
        // 3.7 dB at 3 dB and 16–26 dB at 36.
        let fb = bank(40);
        let t = &*fb.tables;
        for (depth, tolerance) in [(3.0, 0.5), (6.0, 0.5), (9.0, 0.5), (12.0, 0.5), (18.0, 0.5), (24.0, 0.5), (30.0, 1.0), (36.0, 3.5)] {
            let gain: Vec<f32> = (0..40).map(|b| fast_math::db_to_gain(-bell_db(t, b, depth))).collect();
            let (mut at_centres, mut between) = (0.0f64, 0.0f64);
            for i in (0..39).filter(|&i| (500.0..=8000.0).contains(&t.centre_hz[i])) {
                let mid = (t.centre_hz[i] as f64 * t.centre_hz[i + 1] as f64).sqrt();
                let (c, m) = (cascade_db(t, &gain, t.centre_hz[i] as f64, SR) + depth as f64, cascade_db(t, &gain, mid, SR) + depth as f64);
                at_centres = if c.abs() > at_centres.abs() { c } else { at_centres };
                between = if m.abs() > between.abs() { m } else { between };
            }
            eprintln!("uniform {depth} dB: worst {at_centres:+.2} dB at centres, {between:+.2} dB between");
            assert!(at_centres.abs() < tolerance && between.abs() < tolerance, "{depth} dB: {at_centres:+.2} / {between:+.2}");
        }
    }

    #[test]
    fn every_band_reduced_by_the_same_amount_lowers_mid_bank_by_that_amount() {
        // Every bell set for 12 dB of band reduction (its overlap-compensated
        // gain); sines at centres and half-way between, from 500 Hz to 4 kHz,
        // must come out 12 dB down within 0.75 dB (the overlap's ripple, up
        // to 0.55 dB there; towards the top the bilinear transform narrows
        // the bells and it grows to 1.2 dB at 7.5 kHz).
        let fb = bank(40);
        let t = &*fb.tables;
        let b0: Vec<f32> = (0..40).map(|b| 1.0 + (fast_math::db_to_gain(-bell_db(t, b, 12.0)) - 1.0) * t.alpha[b]).collect();
        for i in [10, 15, 20, 25] {
            for hz in [t.centre_hz[i], (t.centre_hz[i] * t.centre_hz[i + 1]).sqrt()] {
                let mut ch = Channel::new();
                let x = sine(hz, 1.0, 48_000);
                let y: Vec<f32> = x
                    .iter()
                    .map(|&x| (0..40).fold(x, |x, b| bell(b0[b], t.a1[b], t.a2[b], &mut ch.s1[b], &mut ch.s2[b], x)))
                    .collect();
                let db = 20.0 * (tail_peak(&y, 4800) / tail_peak(&x, 4800)).log10();
                assert!((db + 12.0).abs() < 0.75, "{hz} Hz: {db:.2} dB");
            }
        }
    }
}
