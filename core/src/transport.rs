//! The host's transport as the engine sees it, and the beat/bar grid quantized scene recalls wait for.
//!
//! A host tells the engine where its timeline stands once per block
//! ([`crate::engine::AudioProcessor::set_transport`]); the engine counts the
//! frames it processes after that, so a request that arrives part-way
//! through a block knows its musical position. docs/ARCHITECTURE.md §8
//! states the grid rules; [`Transport::frames_to_boundary`] implements them.

use crate::session::Quantize;

/// Where the host's timeline stands at the first sample of a block. Every
/// field but `playing` is optional because hosts may leave it out.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Transport {
    pub playing: bool,
    /// Beats (quarter notes) per minute.
    pub tempo: Option<f64>,
    /// Position of the block's first sample on the host's timeline, in samples.
    pub position_samples: Option<i64>,
    /// The same position in quarter-note beats.
    pub position_beats: Option<f64>,
    /// Start of the bar the block begins in, in quarter-note beats.
    pub bar_start_beats: Option<f64>,
    /// `(numerator, denominator)`.
    pub time_signature: Option<(u32, u32)>,
    /// Loop range `(start, end)` in quarter-note beats, while looping.
    pub loop_beats: Option<(f64, f64)>,
}

/// How far past a sample a boundary may fall and still count as on it.
/// Hosts give positions as doubles (VST3 in beats, CLAP in fixed point), so
/// a boundary that is exactly on a sample can come out a hair after it;
/// a thousandth of a sample is far below anything audible and far above
/// that rounding.
const ON_BOUNDARY_SAMPLES: f64 = 1e-3;

impl Transport {
    /// The renderer's transport at `frame`: playing from sample 0 at a fixed
    /// `tempo` and `time_signature`, bar 1 starting at sample 0.
    pub fn rolling(frame: u64, sample_rate: f64, tempo: f64, time_signature: (u32, u32)) -> Self {
        let beats = frame as f64 * tempo / (60.0 * sample_rate);
        let bar = bar_beats(time_signature);
        Self {
            playing: true,
            tempo: Some(tempo),
            position_samples: Some(frame as i64),
            position_beats: Some(beats),
            bar_start_beats: Some((beats / bar).floor() * bar),
            time_signature: Some(time_signature),
            loop_beats: None,
        }
    }

    /// The tempo, if the host gave a usable one.
    pub fn bpm(&self) -> Option<f64> {
        self.tempo.filter(|t| t.is_finite() && *t > 0.0)
    }

    /// Frames from this block's first sample to the first sample at or after
    /// the next `quantize` boundary, for a request `from` frames into the
    /// block (the result is never less than `from`; a request exactly on a
    /// boundary starts there). `None` means "at once": no quantize, the
    /// transport stopped, or no tempo or position to place a grid on.
    ///
    /// The grid (docs/ARCHITECTURE.md §8): a beat is one denominator note
    /// (`4 / den` quarter notes), a bar `num` beats; beats and bars count
    /// from the host's bar start (from beat 0 when the host gives none);
    /// `2bars` and `4bars` take the bar lines whose number — the bar start
    /// divided by the bar length, rounded, so bar 0 starts at beat 0 — is a
    /// multiple of 2 or 4. With a loop, a boundary at or past the loop's end
    /// is replaced by the first boundary at or after its start, reached
    /// through the wrap (by the wrap itself when the loop holds no
    /// boundary). Positions between blocks are extrapolated at the
    /// block's tempo; the next block's transport corrects them.
    ///
    /// Runs on the audio thread: no allocation, no locks.
    pub fn frames_to_boundary(&self, quantize: Quantize, sample_rate: f64, from: u64) -> Option<u64> {
        if quantize == Quantize::None || !self.playing {
            return None;
        }
        let tempo = self.bpm()?;
        let samples_per_beat = sample_rate * 60.0 / tempo;
        // Without a musical position, the sample position at this tempo.
        let start = match self.position_beats.filter(|b| b.is_finite()) {
            Some(beats) => beats,
            None => self.position_samples? as f64 / samples_per_beat,
        };
        let signature = self.time_signature.filter(|&(num, den)| num > 0 && den > 0).unwrap_or((4, 4));
        let bar = bar_beats(signature);
        let (step, every) = match quantize {
            Quantize::None => return None,
            Quantize::Beat => (4.0 / signature.1 as f64, 1),
            Quantize::Bar => (bar, 1),
            Quantize::TwoBars => (bar, 2),
            Quantize::FourBars => (bar, 4),
        };
        let origin = self.bar_start_beats.filter(|b| b.is_finite()).unwrap_or_else(|| (start / bar).floor() * bar);
        let grid = Grid { origin, origin_bar: (origin / bar).round() as i64, step, every, tolerance: ON_BOUNDARY_SAMPLES / samples_per_beat };
        let at = start + from as f64 / samples_per_beat;
        let mut boundary = grid.next(at);
        let mut beats_to_go = boundary - start;
        if let Some((loop_start, loop_end)) = self.loop_beats.filter(|&(s, e)| s.is_finite() && e.is_finite() && e > s) {
            if at < loop_end - grid.tolerance && boundary >= loop_end - grid.tolerance {
                // A loop with no boundary inside it restarts at its start:
                // the recall takes the wrap rather than wait for ever.
                boundary = grid.next(loop_start);
                if boundary >= loop_end - grid.tolerance {
                    boundary = loop_start;
                }
                beats_to_go = (loop_end - start) + (boundary - loop_start);
            }
        }
        let frames = (beats_to_go * samples_per_beat - ON_BOUNDARY_SAMPLES).ceil();
        Some((frames.max(0.0) as u64).max(from))
    }
}

/// Quarter notes in a bar of `(num, den)`.
fn bar_beats((num, den): (u32, u32)) -> f64 {
    num as f64 * 4.0 / den as f64
}

/// Boundaries `origin + k · step` for whole `k`, keeping with `every > 1`
/// only those whose bar number `origin_bar + k` is a multiple of `every`.
struct Grid {
    origin: f64,
    origin_bar: i64,
    step: f64,
    every: i64,
    /// In beats: a boundary this close before a position still counts.
    tolerance: f64,
}

impl Grid {
    /// The first boundary at or after `at` (within the tolerance).
    fn next(&self, at: f64) -> f64 {
        let mut k = ((at - self.tolerance - self.origin) / self.step).ceil() as i64;
        k += (self.every - (self.origin_bar + k).rem_euclid(self.every)) % self.every;
        self.origin + k as f64 * self.step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 120 BPM at 48 kHz: a quarter note is 24 000 samples.
    fn at(beats: f64, bar_start: f64, signature: (u32, u32)) -> Transport {
        Transport {
            playing: true,
            tempo: Some(120.0),
            position_samples: Some((beats * 24_000.0) as i64),
            position_beats: Some(beats),
            bar_start_beats: Some(bar_start),
            time_signature: Some(signature),
            loop_beats: None,
        }
    }

    #[test]
    fn beats_and_bars_from_the_bar_start() {
        let t = at(2.5, 0.0, (4, 4));
        assert_eq!(t.frames_to_boundary(Quantize::Beat, 48_000.0, 0), Some(12_000), "beat 3");
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), Some(36_000), "beat 4");
        // A request 100 frames into the block: same boundaries.
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 100), Some(36_000));
        // 6/8: a beat is an eighth (12 000 samples), a bar three quarters.
        let t = at(2.25, 0.0, (6, 8));
        assert_eq!(t.frames_to_boundary(Quantize::Beat, 48_000.0, 0), Some(6_000), "eighth at 2.5");
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), Some(18_000), "bar at 3");
    }

    #[test]
    fn on_a_boundary_is_now() {
        let t = at(4.0, 4.0, (4, 4));
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), Some(0));
        assert_eq!(t.frames_to_boundary(Quantize::Beat, 48_000.0, 24_000), Some(24_000));
        // A hair past the sample from rounding still counts as on it.
        let t = at(4.0 - 1e-12, 0.0, (4, 4));
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), Some(0));
    }

    #[test]
    fn two_and_four_bars_count_bars_from_beat_zero() {
        // In bar 1 (beats 4…8): the next even bar starts at beat 8.
        let t = at(5.0, 4.0, (4, 4));
        assert_eq!(t.frames_to_boundary(Quantize::TwoBars, 48_000.0, 0), Some(3 * 24_000));
        assert_eq!(t.frames_to_boundary(Quantize::FourBars, 48_000.0, 0), Some(11 * 24_000), "bar 4 at beat 16");
        // In bar 2 (beats 8…12): the next even bar is 4, at beat 16.
        let t = at(9.0, 8.0, (4, 4));
        assert_eq!(t.frames_to_boundary(Quantize::TwoBars, 48_000.0, 0), Some(7 * 24_000));
    }

    #[test]
    fn a_loop_wraps_to_the_first_boundary_after_its_start() {
        // Loop beats 1…6; at beat 5 the next bar (8) lies past the loop
        // end: the wrap at 6 goes back to 1, whose next bar line is beat 4.
        let t = Transport { loop_beats: Some((1.0, 6.0)), ..at(5.0, 4.0, (4, 4)) };
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), Some((1 + 3) * 24_000));
        // A boundary before the loop end is taken as usual.
        assert_eq!(t.frames_to_boundary(Quantize::Beat, 48_000.0, 0), Some(0), "beat 5 itself");
        // A loop of beats 5…7 holds no bar line: the wrap at 7 is taken.
        let t = Transport { loop_beats: Some((5.0, 7.0)), ..at(5.5, 4.0, (4, 4)) };
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), Some(36_000));
    }

    #[test]
    fn stopped_or_unknown_is_at_once() {
        let t = Transport { playing: false, ..at(2.5, 0.0, (4, 4)) };
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), None);
        let t = Transport { tempo: None, ..at(2.5, 0.0, (4, 4)) };
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), None);
        let t = Transport { position_beats: None, position_samples: None, ..at(2.5, 0.0, (4, 4)) };
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), None);
        assert_eq!(at(2.5, 0.0, (4, 4)).frames_to_boundary(Quantize::None, 48_000.0, 0), None);
    }

    #[test]
    fn the_renderers_transport_starts_bars_at_sample_zero() {
        let t = Transport::rolling(30_000, 48_000.0, 120.0, (3, 4));
        assert_eq!(t.position_beats, Some(1.25));
        assert_eq!(t.bar_start_beats, Some(0.0));
        assert_eq!(t.frames_to_boundary(Quantize::Bar, 48_000.0, 0), Some(72_000 - 30_000), "a 3/4 bar is three beats");
    }
}
