//! `limiter`: a stereo-linked lookahead peak limiter whose output never exceeds its ceiling.

use crate::audio_buf::AudioBuf;
use crate::dsp::delay_line::DelayLine;
use crate::insert::{db_to_gain, Insert, ParamKind, ParamSpec};

const LOOKAHEAD_MS: usize = 0;
const CEILING_DB: usize = 1;
const RELEASE_MS: usize = 2;
/// Upper end of `lookaheadMs`; buffers are sized for it so lookahead edits
/// never allocate.
pub const MAX_LOOKAHEAD_MS: f64 = 20.0;

/// Lookahead peak limiter.
///
/// Per frame `n` (channels linked by their largest magnitude):
/// 1. the gain this frame needs, `r[n] = min(1, ceiling / peak[n])`;
/// 2. `m[n]`: the minimum of `r` over the last `L + 1` frames (L = lookahead);
/// 3. `e[n] = min(m[n], release(e[n-1]))`: instant attack, one-pole release
///    back towards 1;
/// 4. `g[n]`: the mean of `e` over the last `L + 1` frames — a linear fade
///    into every reduction that spans the lookahead;
/// 5. output `x[n − L] · g[n]`.
///
/// Every `e[n − j]` averaged in step 4 (`0 ≤ j ≤ L`) is a minimum over a
/// window that contains frame `n − L`, so `g[n] ≤ r[n − L]`: the delayed
/// sample is never pushed above the ceiling. A final clamp to ±ceiling only
/// absorbs float rounding. When no reduction is needed `g` is exactly 1 and
/// the limiter is an exact delay of `L` samples.
pub struct Limiter {
    lookahead_ms: f64,
    ceiling_db: f64,
    release_ms: f64,
    sample_rate: f64,
    /// Lookahead in samples, `L`.
    lookahead: usize,
    ceiling: f32,
    release_coeff: f64,
    delay: DelayLine,
    window_min: SlidingMin,
    /// Ring of the last `L + 1` values of `e`, allocated in `prepare` for the
    /// largest lookahead.
    mean_ring: Vec<f64>,
    mean_pos: usize,
    mean_sum: f64,
    envelope: f64,
    /// Per frame of a block: the gain each frame requires, then the gain
    /// applied (`max_block` long, allocated in `prepare`).
    gains: Vec<f64>,
}

impl Limiter {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec {
            id: "lookaheadMs",
            unit: "ms",
            kind: ParamKind::Float { min: 0.0, max: MAX_LOOKAHEAD_MS, default: 5.0 },
            smoothing_ms: 0.0,
            doc: "lookahead; this is the limiter's latency",
        },
        ParamSpec {
            id: "ceilingDb",
            unit: "dB",
            kind: ParamKind::Float { min: -60.0, max: 0.0, default: -1.0 },
            smoothing_ms: 0.0,
            doc: "no output sample exceeds this level",
        },
        ParamSpec {
            id: "releaseMs",
            unit: "ms",
            kind: ParamKind::Float { min: 1.0, max: 5000.0, default: 100.0 },
            smoothing_ms: 0.0,
            doc: "time for the gain to recover by 63 %",
        },
    ];

    pub fn new() -> Self {
        Self {
            lookahead_ms: 5.0,
            ceiling_db: -1.0,
            release_ms: 100.0,
            sample_rate: 48_000.0,
            lookahead: 0,
            ceiling: 1.0,
            release_coeff: 1.0,
            delay: DelayLine::new(0, 0, 0),
            window_min: SlidingMin::new(1),
            mean_ring: vec![1.0],
            mean_pos: 0,
            mean_sum: 1.0,
            envelope: 1.0,
            gains: vec![1.0; 64],
        }
    }

    /// Linear ceiling from `ceilingDb`.
    fn set_ceiling(&mut self) {
        self.ceiling = db_to_gain(self.ceiling_db) as f32;
    }

    /// Release coefficient from `releaseMs` and the sample rate.
    fn set_release(&mut self) {
        let release_samples = (self.release_ms * 0.001 * self.sample_rate).max(1.0);
        self.release_coeff = 1.0 - (-1.0 / release_samples).exp();
    }

    /// Lookahead in samples from `lookaheadMs`; a new length changes the
    /// windows and the delay, so the limiter restarts from silence.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_lookahead(&mut self) {
        let lookahead = (self.lookahead_ms * 0.001 * self.sample_rate).round() as usize;
        let lookahead = lookahead.min(self.mean_ring.len().saturating_sub(1));
        if lookahead != self.lookahead {
            self.lookahead = lookahead;
            self.delay.set_delay(lookahead);
            self.reset();
        }
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Limiter {
    fn prepare(&mut self, sample_rate: f32, max_block: usize, channels: usize) {
        self.sample_rate = sample_rate as f64;
        self.gains = vec![1.0; max_block.max(1)];
        let max_lookahead = (MAX_LOOKAHEAD_MS * 0.001 * self.sample_rate).ceil() as usize;
        self.delay = DelayLine::new(channels, 0, max_lookahead);
        self.window_min = SlidingMin::new(max_lookahead + 1);
        self.mean_ring = vec![1.0; max_lookahead + 1];
        self.set_ceiling();
        self.set_release();
        self.lookahead = usize::MAX; // forces set_lookahead to apply and reset
        self.set_lookahead();
    }

    fn reset(&mut self) {
        self.delay.reset();
        self.window_min.clear();
        let window = self.lookahead + 1;
        self.mean_ring[..window].fill(1.0);
        self.mean_pos = 0;
        self.mean_sum = window as f64;
        self.envelope = 1.0;
    }

    /// Each parameter recomputes only what derives from it: the ceiling
    /// and the release are one scalar each; only a new lookahead length
    /// touches the delay and the windows.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            LOOKAHEAD_MS => {
                self.lookahead_ms = value as f64;
                self.set_lookahead();
            }
            CEILING_DB => {
                self.ceiling_db = value as f64;
                self.set_ceiling();
            }
            RELEASE_MS => {
                self.release_ms = value as f64;
                self.set_release();
            }
            _ => {}
        }
    }

    fn latency(&self) -> usize {
        self.lookahead
    }

    crate::widened!(Limiter: fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl Limiter {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let (channels, window, ceiling) = (audio.channels(), self.lookahead + 1, self.ceiling);
        let block_peak = (0..channels).map(|ch| crate::audio_buf::peak(&audio.channel(ch)[..frames])).fold(0.0, f32::max);
        let idle = self.envelope == 1.0 && self.mean_sum == window as f64 && self.window_min.min() == 1.0;
        if idle && block_peak <= ceiling {
            // Exactly what the per-frame loop below computes when every
            // required gain is 1 and the state is fully released: a delay.
            self.delay.process(audio, frames);
            self.window_min.push_ones(frames);
            self.mean_pos = (self.mean_pos + frames) % window;
            return;
        }
        // Blocks longer than the prepared `max_block` go in parts.
        let part = self.gains.len();
        let mut start = 0;
        while start < frames {
            let end = frames.min(start + part);
            self.limit(audio, start..end);
            start = end;
        }
    }

    /// The limiter's per-frame work on frames `range` of `audio` (at most
    /// `gains.len()` of them).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn limit(&mut self, audio: &mut AudioBuf, range: std::ops::Range<usize>) {
        let (channels, window, ceiling) = (audio.channels(), self.lookahead + 1, self.ceiling);
        // In passes, the same arithmetic as frame by frame: the gain each
        // frame requires (vectorises), the envelope and moving sum (the only
        // recurrence), the average, then the delay and the gains
        // (vectorise).
        let gains = &mut self.gains[..range.len()];
        for (i, required) in (range.clone()).zip(gains.iter_mut()) {
            let mut peak = 0.0f32;
            for ch in 0..channels {
                peak = peak.max(audio.channel(ch)[i].abs());
            }
            *required = if peak > ceiling { (ceiling / peak) as f64 } else { 1.0 };
        }
        for gain in gains.iter_mut() {
            let min = self.window_min.push(*gain, window);
            let released = self.envelope + (1.0 - self.envelope) * self.release_coeff;
            // Snap the release home so an idle limiter is an exact delay.
            let released = if released > 1.0 - 1e-9 { 1.0 } else { released };
            self.envelope = min.min(released);

            self.mean_sum += self.envelope - self.mean_ring[self.mean_pos];
            self.mean_ring[self.mean_pos] = self.envelope;
            self.mean_pos += 1;
            if self.mean_pos == window {
                // Re-add from scratch once per window so rounding cannot drift.
                self.mean_pos = 0;
                self.mean_sum = self.mean_ring[..window].iter().sum();
            }
            *gain = self.mean_sum;
        }
        // The moving average's division, out of the recurrence: a vector
        // pass, the same quotients.
        let window = window as f64;
        for gain in gains.iter_mut() {
            *gain /= window;
        }
        self.delay.process_range(audio, range.clone());
        for ch in 0..channels {
            for (sample, &gain) in audio.channel_mut(ch)[range.clone()].iter_mut().zip(gains.iter()) {
                *sample = if gain == 1.0 { *sample } else { ((*sample as f64 * gain) as f32).clamp(-ceiling, ceiling) };
            }
        }
    }
}

/// Minimum over a sliding window of the most recent values (a monotonic
/// deque in a fixed ring, O(1) amortised per push, no allocation after `new`).
struct SlidingMin {
    /// `(frame number, value)` pairs with increasing values, ring-buffered.
    ring: Vec<(u64, f64)>,
    head: usize,
    len: usize,
    frame: u64,
}

impl SlidingMin {
    fn new(max_window: usize) -> Self {
        Self { ring: vec![(0, 0.0); max_window + 1], head: 0, len: 0, frame: 0 }
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.frame = 0;
    }

    /// The current minimum (1 when empty, i.e. no reduction).
    fn min(&self) -> f64 {
        if self.len == 0 {
            1.0
        } else {
            self.ring[self.head].1
        }
    }

    /// Same as `frames` calls of `push(1.0, _)` when every value in the
    /// window is already 1: only the newest entry remains.
    fn push_ones(&mut self, frames: usize) {
        if frames == 0 {
            return;
        }
        self.frame += frames as u64;
        self.head = 0;
        self.len = 1;
        self.ring[0] = (self.frame - 1, 1.0);
    }

    /// Adds `value` and returns the minimum of the last `window` values.
    #[inline(always)]
    fn push(&mut self, value: f64, window: usize) -> f64 {
        let cap = self.ring.len();
        let wrap = |i: usize| if i >= cap { i - cap } else { i };
        while self.len > 0 && self.ring[wrap(self.head + self.len - 1)].1 >= value {
            self.len -= 1;
        }
        self.ring[wrap(self.head + self.len)] = (self.frame, value);
        self.len += 1;
        while self.ring[self.head].0 + window as u64 <= self.frame {
            self.head = wrap(self.head + 1);
            self.len -= 1;
        }
        self.frame += 1;
        self.ring[self.head].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(lookahead_ms: f32, ceiling_db: f32, release_ms: f32) -> Limiter {
        let mut l = Limiter::new();
        l.set_param(LOOKAHEAD_MS, lookahead_ms);
        l.set_param(CEILING_DB, ceiling_db);
        l.set_param(RELEASE_MS, release_ms);
        l.prepare(48_000.0, 512, 2);
        l
    }

    #[test]
    fn below_ceiling_it_is_an_exact_delay_of_its_lookahead() {
        let mut l = limiter(5.0, -1.0, 100.0);
        assert_eq!(l.latency(), 240);
        let mut buf = AudioBuf::new(2, 1000);
        let input: Vec<f32> = (0..1000).map(|i| 0.5 * ((i as f32) * 0.01).sin()).collect();
        buf.channel_mut(0).copy_from_slice(&input);
        buf.channel_mut(1).copy_from_slice(&input);
        l.process(&mut buf, None, 1000);
        assert!(buf.channel(0)[..240].iter().all(|&s| s == 0.0));
        assert_eq!(&buf.channel(0)[240..], &input[..760]);
    }

    #[test]
    fn sliding_min_matches_brute_force() {
        let mut m = SlidingMin::new(7);
        let values: Vec<f64> = (0..100).map(|i| ((i * 37 % 11) as f64) / 10.0).collect();
        for (n, &v) in values.iter().enumerate() {
            let got = m.push(v, 5);
            let start = n.saturating_sub(4);
            let want = values[start..=n].iter().cloned().fold(f64::INFINITY, f64::min);
            assert_eq!(got, want, "frame {n}");
        }
    }

    #[test]
    fn loud_burst_never_exceeds_ceiling_and_reduction_starts_before_it() {
        let mut l = limiter(2.0, -6.0, 10.0);
        let ceiling = db_to_gain(-6.0) as f32;
        let n = 8000;
        let mut buf = AudioBuf::new(2, n);
        for i in 0..n {
            let amp = if (1000..1500).contains(&i) { 4.0 } else { 0.3 };
            buf.channel_mut(0)[i] = amp * ((i as f32) * 0.05).sin();
            buf.channel_mut(1)[i] = -amp * ((i as f32) * 0.031).cos();
        }
        let input = buf.clone();
        l.process(&mut buf, None, n);
        let lat = l.latency();
        let peak = buf.channel(0).iter().chain(buf.channel(1)).fold(0.0f32, |a, s| a.max(s.abs()));
        assert!(peak <= ceiling, "peak {peak} above ceiling {ceiling}");
        // The burst starts at input frame 1000 → output frame 1000 + lat; the
        // gain must already be falling a few frames before it.
        let ratio = |i: usize| (buf.channel(0)[i] / input.channel(0)[i - lat]).abs();
        assert!(ratio(1000 + lat - 2) < 0.999, "no lookahead fade");
        // 13 release time constants after the burst the gain is back to 1.
        assert!((ratio(7999) - 1.0).abs() < 1e-3, "did not release: {}", ratio(7999));
    }
}
