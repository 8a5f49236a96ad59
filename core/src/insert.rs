//! The insert trait every processor on a bus implements, and its parameter tables.

pub mod registry;

use std::sync::Arc;

use crate::audio_buf::AudioBuf;
pub use crate::meters::SpectrumDisplay;

/// What kind of value a parameter holds. Every value crosses to the audio
/// thread as an `f32`: floats as themselves, booleans as 0/1, choices as the
/// option's index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamKind {
    Float { min: f64, max: f64, default: f64 },
    Bool { default: bool },
    Choice { options: &'static [&'static str], default: usize },
    /// A number that must be one of `values` (such as an FFT size); the
    /// audio thread sees the number itself.
    Discrete { values: &'static [f64], default: usize },
    /// A time: milliseconds as a number, or a tempo-synced note value as a
    /// string (`"4n"`, `"8n."`, `"4t"`, `"16n"` …, see [`note_beats`]). The
    /// audio thread sees milliseconds as themselves and a note as minus its
    /// length in quarter-note beats.
    Time { min_ms: f64, max_ms: f64, default_ms: f64 },
}

/// Length in quarter-note beats of a note value: `"<d>n"` is a 1/d note
/// (d = 1, 2, 4, 8, 16, 32, 64), a trailing `.` makes it dotted (×1.5), and
/// `"<d>t"` is a triplet (×2/3). `None` if the text is not a note value.
pub fn note_beats(text: &str) -> Option<f64> {
    let (body, dotted) = match text.strip_suffix('.') {
        Some(body) => (body, 1.5),
        None => (text, 1.0),
    };
    let (digits, kind) = body.split_at(body.len().checked_sub(1)?);
    let division: u32 = digits.parse().ok()?;
    if ![1, 2, 4, 8, 16, 32, 64].contains(&division) {
        return None;
    }
    let triplet = match kind {
        "n" => 1.0,
        "t" => 2.0 / 3.0,
        _ => return None,
    };
    Some(4.0 / division as f64 * dotted * triplet)
}

/// Resolves a [`ParamKind::Time`] value as the audio thread holds it
/// (ms, or −beats) to milliseconds at `bpm`.
pub fn time_ms(value: f32, bpm: f64) -> f64 {
    if value >= 0.0 {
        value as f64
    } else {
        -(value as f64) * 60_000.0 / bpm.max(1.0)
    }
}

/// One row of an insert's parameter table: how scenes, macros, mappings, the
/// session loader and the editor address and range-check a parameter, by the
/// path `bus/insert.param`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// Stable id as written in session files (`ceilingDb`).
    pub id: &'static str,
    /// Unit shown to users (`dB`, `ms`, `` for unitless).
    pub unit: &'static str,
    pub kind: ParamKind,
    /// How long the insert ramps this parameter when it changes (0 = steps).
    pub smoothing_ms: f32,
    /// One line for the README and the editor.
    pub doc: &'static str,
}

impl ParamSpec {
    /// The default as the `f32` the audio thread sees.
    pub fn default_value(&self) -> f32 {
        match self.kind {
            ParamKind::Float { default, .. } => default as f32,
            ParamKind::Bool { default } => default as u8 as f32,
            ParamKind::Choice { default, .. } => default as f32,
            ParamKind::Discrete { values, default } => values[default] as f32,
            ParamKind::Time { default_ms, .. } => default_ms as f32,
        }
    }
}

/// A processor that sits in a bus's insert chain.
///
/// Lifecycle: the control side creates it, calls [`Insert::set_param`] for
/// every parameter, then [`Insert::prepare`] (which may allocate), then reads
/// [`Insert::latency`]. From then on it lives on the audio thread, where
/// `set_param`, `reset` and `process` must not allocate, lock or block.
/// A running insert can receive new parameter values when a recompiled
/// schedule keeps it (same id, type and channel count); its latency for the
/// new values must equal what a freshly prepared instance would report.
pub trait Insert: Send + 'static {
    /// Sizes every buffer for `max_block` frames and `channels` channels.
    /// Allocates; called on the control side only.
    fn prepare(&mut self, sample_rate: f32, max_block: usize, channels: usize);

    /// Clears all running state (delay lines, envelopes, tails).
    /// Runs on the audio thread: no allocation, no locks.
    fn reset(&mut self);

    /// Sets parameter number `index` of this insert's table to `value`.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32);

    /// Latency in samples for the current parameters.
    fn latency(&self) -> usize;

    /// The tempo in BPM for tempo-synced parameters (session `tempo`, or the
    /// host's when it plays). Called before `prepare` and then whenever the
    /// tempo changes.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_tempo(&mut self, _bpm: f64) {}

    /// The lock-free display state this insert publishes for the editor
    /// (spectra, key presence), if it has any.
    fn display(&self) -> Option<Arc<SpectrumDisplay>> {
        None
    }

    /// Makes the insert publish into `display` (one shared by every instance
    /// of the same bus/insert across recompiles, so readers keep their
    /// handle). Called on the control side before `prepare`.
    fn attach_display(&mut self, _display: Arc<SpectrumDisplay>) {}

    /// Processes the first `frames` frames of `audio` in place. `key` is the
    /// insert's sidechain, already latency-aligned with `audio` and converted
    /// to the same channel count, or `None` if the insert has no key.
    /// Runs on the audio thread: no allocation, no locks.
    fn process(&mut self, audio: &mut AudioBuf, key: Option<&AudioBuf>, frames: usize);
}

/// Converts decibels to a linear gain; anything at or below
/// [`SILENCE_DB`] is silence.
pub fn db_to_gain(db: f64) -> f64 {
    if db <= SILENCE_DB {
        0.0
    } else {
        10f64.powf(db / 20.0)
    }
}

/// Converts a linear gain to decibels (silence is −∞).
pub fn gain_to_db(gain: f64) -> f64 {
    if gain <= 0.0 {
        f64::NEG_INFINITY
    } else {
        20.0 * gain.log10()
    }
}

/// Levels at or below this many dB are treated as −∞ (silence).
pub const SILENCE_DB: f64 = -144.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_values_at_120_bpm() {
        let ms = |t: &str| time_ms(-(note_beats(t).unwrap() as f32), 120.0);
        assert_eq!(ms("8n"), 250.0);
        assert_eq!(ms("8n."), 375.0);
        assert!((ms("4t") - 333.333).abs() < 1e-3);
        assert_eq!(ms("16n"), 125.0);
        assert_eq!(ms("1n"), 2000.0);
        for bad in ["", "n", "3n", "8x", "8n..", "4", "-4n"] {
            assert_eq!(note_beats(bad), None, "{bad}");
        }
    }
}
