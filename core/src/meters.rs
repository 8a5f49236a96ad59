//! Bus meters (peak with hold, RMS) written by the audio thread into atomics, and master loudness.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use atomic_float::AtomicF32;

use crate::dsp::true_peak::TruePeak;

/// Meter channels kept per bus (the session is mono or stereo).
pub const METER_CHANNELS: usize = 2;
/// How long a peak hold stays before it drops to the current peak.
pub const PEAK_HOLD_MS: f32 = 2_000.0;
/// Peak fall-back speed after the hold, dB per second.
pub const PEAK_FALL_DB_PER_S: f32 = 12.0;
/// RMS integration time constant.
pub const RMS_TIME_MS: f32 = 300.0;

/// Post-fader levels of one bus, linear, per channel. Written once per block
/// by the audio thread; read by anyone at any time without blocking.
#[derive(Debug, Default)]
pub struct BusMeter {
    pub peak: [AtomicF32; METER_CHANNELS],
    pub peak_hold: [AtomicF32; METER_CHANNELS],
    /// The RMS envelope squared (the mean square): the reader takes the
    /// root, so the audio thread does not, block after block.
    mean_square: [AtomicF32; METER_CHANNELS],
}

/// A copy of a meter's values at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeterReading {
    pub peak: [f32; METER_CHANNELS],
    pub peak_hold: [f32; METER_CHANNELS],
    pub rms: [f32; METER_CHANNELS],
}

impl BusMeter {
    pub fn read(&self) -> MeterReading {
        let get = |a: &[AtomicF32; METER_CHANNELS]| [a[0].load(Ordering::Relaxed), a[1].load(Ordering::Relaxed)];
        MeterReading { peak: get(&self.peak), peak_hold: get(&self.peak_hold), rms: get(&self.mean_square).map(f32::sqrt) }
    }
}

/// The audio thread's running meter state for one bus. It advances once per
/// block (block peak, sum of squares), which keeps metering to a few vector
/// operations; the hold, fall and RMS envelopes are scaled by the block
/// length, so readings agree across block sizes to within one block.
#[derive(Clone, Debug)]
pub struct MeterState {
    peak: [f32; METER_CHANNELS],
    hold: [f32; METER_CHANNELS],
    hold_left: [u32; METER_CHANNELS],
    mean_square: [f32; METER_CHANNELS],
    hold_samples: u32,
    /// Per-sample peak fall factor.
    fall: f32,
    /// Per-sample RMS envelope retention, `exp(-1 / τ)`.
    rms_keep: f32,
    /// `fall` and `rms_keep` raised to the last block length (blocks are
    /// usually all the same size, so the powers are computed once).
    cached_frames: usize,
    fall_pow: f32,
    keep_pow: f32,
}

impl MeterState {
    pub fn new(sample_rate: f32) -> Self {
        Self {
            peak: [0.0; METER_CHANNELS],
            hold: [0.0; METER_CHANNELS],
            hold_left: [0; METER_CHANNELS],
            mean_square: [0.0; METER_CHANNELS],
            hold_samples: (PEAK_HOLD_MS * 0.001 * sample_rate) as u32,
            fall: 10f32.powf(-PEAK_FALL_DB_PER_S / 20.0 / sample_rate),
            rms_keep: (-1.0 / (RMS_TIME_MS * 0.001 * sample_rate)).exp(),
            cached_frames: 0,
            fall_pow: 1.0,
            keep_pow: 1.0,
        }
    }

    /// Feeds one block of a post-fader channel and publishes to `meter`.
    /// Channel `ch` ≥ `METER_CHANNELS` is ignored.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    pub fn process(&mut self, ch: usize, samples: &[f32], meter: &BusMeter) {
        let (peak, sum_sq) = crate::audio_buf::peak_and_sum_of_squares(samples);
        self.update(ch, samples.len(), peak, sum_sq, meter);
    }

    /// Like [`MeterState::process`] for a block already measured: its
    /// largest magnitude and sum of squares over `frames` frames.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn update(&mut self, ch: usize, frames: usize, block_peak: f32, sum_sq: f32, meter: &BusMeter) {
        if ch >= METER_CHANNELS || frames == 0 {
            return;
        }
        if frames != self.cached_frames {
            self.cached_frames = frames;
            self.fall_pow = self.fall.powi(frames as i32);
            self.keep_pow = self.rms_keep.powi(frames as i32);
        }
        let fallen = self.peak[ch] * self.fall_pow;
        let peak = block_peak.max(fallen);
        if block_peak >= self.hold[ch] {
            self.hold[ch] = block_peak;
            self.hold_left[ch] = self.hold_samples;
        } else if self.hold_left[ch] > frames as u32 {
            self.hold_left[ch] -= frames as u32;
        } else {
            self.hold_left[ch] = 0;
            self.hold[ch] = peak;
        }
        let keep = self.keep_pow;
        // Clamped: a huge sample's square is +∞, and the meter must stay finite.
        let mean = (sum_sq / frames as f32).min(f32::MAX);
        let mut ms = keep * self.mean_square[ch] + (1.0 - keep) * mean;
        if ms < 1e-20 {
            ms = 0.0; // no denormals in the envelope
        }
        self.peak[ch] = peak;
        self.mean_square[ch] = ms;
        meter.peak[ch].store(peak, Ordering::Relaxed);
        meter.peak_hold[ch].store(self.hold[ch], Ordering::Relaxed);
        meter.mean_square[ch].store(ms, Ordering::Relaxed);
    }

    /// Zeroes the state and the published values (bypassed bus).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn silence(&mut self, meter: &BusMeter) {
        for ch in 0..METER_CHANNELS {
            self.peak[ch] = 0.0;
            self.hold[ch] = 0.0;
            self.hold_left[ch] = 0;
            self.mean_square[ch] = 0.0;
            meter.peak[ch].store(0.0, Ordering::Relaxed);
            meter.peak_hold[ch].store(0.0, Ordering::Relaxed);
            meter.mean_square[ch].store(0.0, Ordering::Relaxed);
        }
    }
}

/// Master loudness (EBU R128 short-term and integrated, and true peak).
///
/// The K-weighting, gating and 4× true-peak oversampling are too costly to
/// run inside the host's process call for a meter, so the audio thread only
/// copies master samples into a lock-free ring ([`LoudnessTap`]) and this
/// side runs the analysis: `ebur128` for the loudness, our own
/// [`TruePeak`] for the true peak. The true peak was two thirds of
/// `ebur128`'s work, and this analysis is a render's critical path beside
/// the engine; ours filters a block at a time in vector registers where
/// `ebur128` filters a frame at a time (8–9× faster with AVX2, 5–6× on
/// the SSE2 baseline), with the same filter,
/// so the two read the same (`ebur128` is its test oracle). The work is
/// split in two because the costs differ: [`LoudnessMeter::drain`] analyses the queued frames (cost in
/// proportion to them), [`LoudnessMeter::reading`] sums the last 3 s for the
/// short-term figure (a fixed 3 s of work per call, whatever was queued).
/// The CLI therefore drains as the ring fills and reads once at the end. If
/// nobody drains for longer than the ring holds (at least 1.5 s), the audio
/// thread drops samples and counts them in `dropped_frames` rather than wait.
pub struct LoudnessMeter {
    consumer: rtrb::Consumer<f32>,
    /// Short-term and integrated loudness (no true peak: `true_peak` does that).
    analyser: ebur128::EbuR128,
    true_peak: TruePeak,
    channels: usize,
    dropped: Arc<AtomicU64>,
}

/// The audio thread's end of the loudness ring.
pub struct LoudnessTap {
    producer: rtrb::Producer<f32>,
    channels: usize,
    dropped: Arc<AtomicU64>,
}

/// Latest loudness figures. LUFS values are −∞ until enough audio was seen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoudnessReading {
    pub short_term_lufs: f64,
    pub integrated_lufs: f64,
    /// Largest true peak so far over all channels, linear.
    pub true_peak: f64,
    pub dropped_frames: u64,
}

/// Creates the two ends of the master loudness meter.
pub fn loudness_meter(channels: usize, sample_rate: u32) -> (LoudnessMeter, LoudnessTap) {
    let capacity = (sample_rate as usize * 3 / 2).next_power_of_two() * channels;
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    let mode = ebur128::Mode::S | ebur128::Mode::I | ebur128::Mode::HISTOGRAM;
    let analyser = ebur128::EbuR128::new(channels as u32, sample_rate, mode).expect("valid channel count and rate");
    let true_peak = TruePeak::new(channels, sample_rate);
    (
        LoudnessMeter { consumer, analyser, true_peak, channels, dropped: dropped.clone() },
        LoudnessTap { producer, channels, dropped },
    )
}

impl LoudnessTap {
    /// Queues `frames` frames of planar audio for analysis, or drops them if
    /// the ring is full.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn push(&mut self, channels: &[&[f32]], frames: usize) {
        let needed = frames * self.channels;
        match self.producer.write_chunk(needed) {
            Ok(mut chunk) => {
                let (first, second) = chunk.as_mut_slices();
                let split = first.len() / self.channels;
                interleave(first, channels, 0, self.channels);
                interleave(second, channels, split, self.channels);
                chunk.commit_all();
            }
            Err(_) => {
                self.dropped.fetch_add(frames as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Writes frames `from..` of planar `channels` interleaved into `dst`
/// (whose length is a multiple of `width`). Missing channels read as silence.
/// Runs on the audio thread: no allocation, no locks.
fn interleave(dst: &mut [f32], channels: &[&[f32]], from: usize, width: usize) {
    let frames = dst.len() / width.max(1);
    if let (2, Some(left), Some(right)) = (width, channels.first().and_then(|c| c.get(from..from + frames)), channels.get(1).and_then(|c| c.get(from..from + frames))) {
        // Stereo with every sample there (the usual case): one pass over
        // frame pairs, no per-sample lookups.
        for ((pair, &l), &r) in dst.chunks_exact_mut(2).zip(left).zip(right) {
            pair[0] = l;
            pair[1] = r;
        }
        return;
    }
    for ch in 0..width {
        let src = channels.get(ch).copied().unwrap_or(&[]);
        for (j, slot) in dst.iter_mut().skip(ch).step_by(width).enumerate() {
            *slot = src.get(from + j).copied().unwrap_or(0.0);
        }
    }
}

impl LoudnessMeter {
    /// Analyses everything queued so far and returns the current figures:
    /// [`Self::drain`] then [`Self::reading`].
    pub fn update(&mut self) -> LoudnessReading {
        self.drain();
        self.reading()
    }

    /// Analyses the frames queued since the last drain and returns how many
    /// there were. Costs in proportion to those frames only; no readings
    /// are computed.
    pub fn drain(&mut self) -> usize {
        let available = self.consumer.slots();
        // Whole frames only; the tap always writes whole frames, so this only
        // matters if a frame is mid-commit.
        let available = available - available % self.channels;
        if available == 0 {
            return 0;
        }
        let Ok(chunk) = self.consumer.read_chunk(available) else { return 0 };
        // Both halves of the ring hold whole frames: its capacity and every
        // write are whole frames, so the wrap point falls between frames.
        let (a, b) = chunk.as_slices();
        for part in [a, b] {
            if !part.is_empty() {
                // Cannot fail: the analyser was made for this width and rate.
                let _ = self.analyser.add_frames_f32(part);
                self.true_peak.process_interleaved(part);
            }
        }
        chunk.commit_all();
        available / self.channels
    }

    /// The figures for everything drained so far. Summing the last 3 s for
    /// the short-term loudness makes this the costly half: call it when a
    /// reading is shown, not per block.
    pub fn reading(&self) -> LoudnessReading {
        LoudnessReading {
            short_term_lufs: self.analyser.loudness_shortterm().unwrap_or(f64::NEG_INFINITY),
            integrated_lufs: self.analyser.loudness_global().unwrap_or(f64::NEG_INFINITY),
            true_peak: self.true_peak.peak(),
            dropped_frames: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Frames waiting in the ring for [`Self::drain`].
    pub fn queued_frames(&self) -> usize {
        self.consumer.slots() / self.channels
    }

    /// Frames the ring holds; once it is full the audio thread drops frames.
    pub fn capacity_frames(&self) -> usize {
        self.consumer.buffer().capacity() / self.channels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_fills_frame_pairs_and_reads_missing_samples_as_silence() {
        let (l, r) = ([1.0, 2.0, 3.0, 4.0], [-1.0, -2.0, -3.0, -4.0]);
        let mut dst = [9.0f32; 4];
        interleave(&mut dst, &[&l, &r], 1, 2);
        assert_eq!(dst, [2.0, -2.0, 3.0, -3.0]);
        // Past the end of the input, or a channel missing: silence.
        interleave(&mut dst, &[&l, &r], 3, 2);
        assert_eq!(dst, [4.0, -4.0, 0.0, 0.0]);
        interleave(&mut dst, &[&l], 0, 2);
        assert_eq!(dst, [1.0, 0.0, 2.0, 0.0]);
        let mut mono = [9.0f32; 3];
        interleave(&mut mono, &[&l], 1, 1);
        assert_eq!(mono, [2.0, 3.0, 4.0]);
    }

    #[test]
    fn full_scale_square_reads_peak_one_and_rms_one() {
        let meter = BusMeter::default();
        let mut state = MeterState::new(48_000.0);
        let square: Vec<f32> = (0..48_000).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        state.process(0, &square, &meter);
        let r = meter.read();
        assert_eq!(r.peak[0], 1.0);
        assert_eq!(r.peak_hold[0], 1.0);
        // 1 s = 3.3 time constants of 300 ms: RMS within 0.5 % of 1.
        assert!((r.rms[0] - 1.0).abs() < 0.02, "{}", r.rms[0]);
    }

    #[test]
    fn hold_outlasts_the_falling_peak_then_drops() {
        let meter = BusMeter::default();
        let mut state = MeterState::new(1_000.0);
        state.process(0, &[1.0], &meter);
        let silence = vec![0.0f32; 1_000];
        state.process(0, &silence, &meter);
        let r = meter.read();
        assert_eq!(r.peak_hold[0], 1.0, "still held after 1 s");
        // After 1 s the peak has fallen 12 dB.
        assert!((r.peak[0] - 10f32.powf(-12.0 / 20.0)).abs() < 1e-3, "{}", r.peak[0]);
        state.process(0, &silence, &meter);
        state.process(0, &silence, &meter);
        assert!(meter.read().peak_hold[0] < 0.5, "hold released after 2 s");
    }

    #[test]
    fn loudness_of_a_minus_20_dbfs_1khz_sine_in_both_channels_is_minus_20_lufs() {
        // BS.1770 calibrates a 1 kHz sine at 0 dBFS peak in one channel to
        // −3.01 LUFS; at −20 dBFS that is −23.01, and two channels add 3.01.
        let (mut meter, mut tap) = loudness_meter(2, 48_000);
        let amp = 0.1f32;
        let sine: Vec<f32> = (0..48_000 * 4).map(|i| amp * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48_000.0).sin()).collect();
        for block in sine.chunks(4800) {
            tap.push(&[block, block], block.len());
            meter.update();
        }
        let r = meter.update();
        assert!((r.integrated_lufs - (-20.0)).abs() < 0.1, "{}", r.integrated_lufs);
        assert!((r.true_peak - 0.1).abs() < 0.002, "{}", r.true_peak);
        assert_eq!(r.dropped_frames, 0);
    }

    #[test]
    fn draining_as_the_ring_fills_and_reading_once_equals_updating_every_block() {
        // Noise bursts at two levels, so the gates and the true peak have
        // something to do. Draining changes only when frames are analysed,
        // never which or in what order, so the figures must be identical.
        let mut seed = 1u32;
        let signal: Vec<f32> = (0..48_000 * 5)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let level = if (i / 24_000) % 2 == 0 { 0.5 } else { 0.02 };
                level * ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
            })
            .collect();
        let (mut every_block, mut tap_a) = loudness_meter(2, 48_000);
        let (mut drained, mut tap_b) = loudness_meter(2, 48_000);
        let mut drained_frames = 0;
        for block in signal.chunks(512) {
            tap_a.push(&[block, block], block.len());
            every_block.update();
            tap_b.push(&[block, block], block.len());
            if drained.queued_frames() * 2 >= drained.capacity_frames() {
                drained_frames += drained.drain();
            }
        }
        assert!(drained_frames > 0, "the ring filled to half at least once");
        assert!(drained.queued_frames() > 0, "frames still queued before the last drain");
        drained_frames += drained.drain();
        assert_eq!(drained_frames, signal.len());
        assert_eq!(drained.queued_frames(), 0);
        let (a, b) = (every_block.update(), drained.reading());
        assert!(a.integrated_lufs.is_finite() && a.true_peak > 0.4, "{a:?}");
        assert_eq!(a, b);
        // Reading analyses nothing: a second reading is the same.
        assert_eq!(drained.reading(), b);
    }
}

/// Largest number of spectrum bins a display holds (a 4096-point FFT).
pub const MAX_DISPLAY_BINS: usize = 4096 / 2 + 1;

/// Spectra an insert publishes for the editor: key, program and gain
/// reduction per bin, in dB, plus whether a key is arriving.
///
/// Single writer (the audio thread, at most once per STFT hop), any number of
/// readers, no locks: a sequence counter is made odd while the writer is
/// busy, and a reader that sees it change retries (a seqlock built from
/// atomics). The writer never waits for readers.
pub struct SpectrumDisplay {
    seq: AtomicU64,
    bins: std::sync::atomic::AtomicUsize,
    bin_hz: AtomicF32,
    key_present: std::sync::atomic::AtomicBool,
    /// Whether the last publication came from [`SpectrumDisplay::publish_bands`].
    banded: std::sync::atomic::AtomicBool,
    /// `[band]` centre frequencies of a banded publication, `MAX_DISPLAY_BINS`
    /// allocated in `new` (a filter bank has far fewer bands than that).
    band_hz: Box<[AtomicF32]>,
    /// `[bin]`, `MAX_DISPLAY_BINS` each, allocated in `new`.
    key_power: Box<[AtomicF32]>,
    program_power: Box<[AtomicF32]>,
    reduction_db: Box<[AtomicF32]>,
}

/// A consistent copy of a [`SpectrumDisplay`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpectrumSnapshot {
    /// Increases with every publication (0 = nothing published yet).
    pub version: u64,
    /// Spacing of uniform bins (bin k is at k·bin_hz); unused when `band_hz` is `Some`.
    pub bin_hz: f32,
    /// Centre frequency of each value, in Hz, when the publisher is a bank of
    /// bands ([`SpectrumDisplay::publish_bands`]); `None` for uniform bins.
    pub band_hz: Option<Vec<f32>>,
    pub key_present: bool,
    pub key_db: Vec<f32>,
    pub program_db: Vec<f32>,
    /// Gain reduction per bin, dB ≥ 0.
    pub reduction_db: Vec<f32>,
}

impl Default for SpectrumDisplay {
    fn default() -> Self {
        Self::new()
    }
}

impl SpectrumDisplay {
    /// Allocates room for [`MAX_DISPLAY_BINS`] bins. Control side.
    pub fn new() -> Self {
        let bank = || (0..MAX_DISPLAY_BINS).map(|_| AtomicF32::new(0.0)).collect::<Box<[_]>>();
        Self {
            seq: AtomicU64::new(0),
            bins: Default::default(),
            bin_hz: AtomicF32::new(0.0),
            key_present: Default::default(),
            banded: Default::default(),
            band_hz: bank(),
            key_power: bank(),
            program_power: bank(),
            reduction_db: bank(),
        }
    }

    /// Whether the key was arriving at the last publication.
    pub fn key_present(&self) -> bool {
        self.key_present.load(Ordering::Relaxed)
    }

    /// Publishes one frame: key and program power per bin (amplitude², the
    /// reader converts to dB) and the gain reduction in dB; slices of equal
    /// length, at most [`MAX_DISPLAY_BINS`].
    /// Runs on the audio thread: no allocation, no locks.
    pub fn publish(&self, bin_hz: f32, key_present: bool, key_power: &[f32], program_power: &[f32], reduction_db: &[f32]) {
        self.write(bin_hz, None, key_present, key_power, program_power, reduction_db);
    }

    /// Publishes one frame of a bank of bands: as [`SpectrumDisplay::publish`],
    /// with each value's centre frequency in `centres_hz` (bands are not
    /// evenly spaced, so the reader draws them where they are).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn publish_bands(&self, key_present: bool, centres_hz: &[f32], key_power: &[f32], program_power: &[f32], reduction_db: &[f32]) {
        self.write(0.0, Some(centres_hz), key_present, key_power, program_power, reduction_db);
    }

    /// One seqlock write of either kind of frame.
    /// Runs on the audio thread: no allocation, no locks.
    fn write(&self, bin_hz: f32, centres_hz: Option<&[f32]>, key_present: bool, key_power: &[f32], program_power: &[f32], reduction_db: &[f32]) {
        let bins = key_power.len().min(MAX_DISPLAY_BINS);
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        self.bins.store(bins, Ordering::Relaxed);
        self.bin_hz.store(bin_hz, Ordering::Relaxed);
        self.key_present.store(key_present, Ordering::Relaxed);
        self.banded.store(centres_hz.is_some(), Ordering::Relaxed);
        if let Some(centres_hz) = centres_hz {
            for (slot, &hz) in self.band_hz[..bins].iter().zip(centres_hz) {
                slot.store(hz, Ordering::Relaxed);
            }
        }
        // A row at a time: sequential stores without per-index bounds checks.
        for (bank, values) in [(&self.key_power, key_power), (&self.program_power, program_power), (&self.reduction_db, reduction_db)] {
            for (slot, &v) in bank[..bins].iter().zip(values) {
                slot.store(v, Ordering::Relaxed);
            }
        }
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// A consistent copy, or `None` if the writer was busy on every one of a
    /// few attempts (try again at the next display refresh).
    pub fn read(&self) -> Option<SpectrumSnapshot> {
        for _ in 0..8 {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let bins = self.bins.load(Ordering::Relaxed).min(MAX_DISPLAY_BINS);
            let copy = |bank: &[AtomicF32]| bank[..bins].iter().map(|a| a.load(Ordering::Relaxed)).collect::<Vec<f32>>();
            let decibels = |bank: &[AtomicF32]| bank[..bins].iter().map(|a| 10.0 * (a.load(Ordering::Relaxed) + 1e-20).log10()).collect::<Vec<f32>>();
            let snapshot = SpectrumSnapshot {
                version: before / 2,
                bin_hz: self.bin_hz.load(Ordering::Relaxed),
                band_hz: self.banded.load(Ordering::Relaxed).then(|| copy(&self.band_hz)),
                key_present: self.key_present.load(Ordering::Relaxed),
                key_db: decibels(&self.key_power),
                program_db: decibels(&self.program_power),
                reduction_db: copy(&self.reduction_db),
            };
            std::sync::atomic::fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return Some(snapshot);
            }
        }
        None
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn a_banded_frame_carries_its_centres_and_a_binned_frame_does_not() {
        let display = SpectrumDisplay::new();
        let centres = [100.0, 250.0, 1000.0];
        display.publish_bands(true, &centres, &[1.0, 0.01, 1e-4], &[1.0; 3], &[0.0, 3.0, 6.0]);
        let s = display.read().unwrap();
        assert_eq!(s.band_hz.as_deref(), Some(&centres[..]));
        // Powers 1, 0.01, 1e-4 read as 0, −20, −40 dB (the 1e-20 guard moves them by < 1e-9 dB).
        for (got, want) in s.key_db.iter().zip([0.0, -20.0, -40.0]) {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
        assert_eq!(s.reduction_db, vec![0.0, 3.0, 6.0]);
        display.publish(23.4, false, &[1.0; 5], &[1.0; 5], &[0.0; 5]);
        let s = display.read().unwrap();
        assert_eq!((s.band_hz, s.bin_hz, s.key_db.len()), (None, 23.4, 5));
    }

    #[test]
    fn readers_never_see_a_torn_frame() {
        // The writer publishes frames whose three spectra all hold the frame
        // number; a reader must always see one number throughout.
        // The writer keeps publishing until the reader has checked enough
        // frames (so a busy machine cannot end the race before it starts).
        use std::sync::atomic::AtomicUsize;
        const CHECKS: usize = 500;
        let display = Arc::new(SpectrumDisplay::new());
        let seen = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (display, seen) = (display.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut frame = vec![0.0f32; MAX_DISPLAY_BINS];
                let mut n = 0u64;
                // Frame numbers stay exact in f32 (below 2^24).
                while seen.load(Ordering::Relaxed) < CHECKS && n < 10_000_000 {
                    n += 1;
                    frame.fill(n as f32);
                    display.publish(23.4, n % 2 == 0, &frame, &frame, &frame);
                    // Let the reader in between some frames, as a real
                    // writer (one frame per hop) does.
                    if n % 4 == 0 {
                        std::thread::yield_now();
                    }
                }
                n
            })
        };
        while !writer.is_finished() {
            if let Some(s) = display.read() {
                if s.version == 0 {
                    continue;
                }
                let v = s.reduction_db[0];
                let v_db = 10.0 * (v + 1e-20).log10();
                assert!(s.reduction_db.iter().all(|&x| x == v), "torn frame");
                assert!(s.key_db.iter().chain(&s.program_db).all(|&x| x == v_db), "torn frame");
                assert_eq!(s.version as f32, v);
                seen.fetch_add(1, Ordering::Relaxed);
            }
        }
        let published = writer.join().unwrap();
        assert_eq!(display.read().unwrap().version, published);
        assert!(seen.load(Ordering::Relaxed) >= CHECKS, "the reader checked {} frames", seen.load(Ordering::Relaxed));
    }
}
