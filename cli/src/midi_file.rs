//! Standard MIDI Files for `mam render --midi`: every channel message of a
//! format 0 or 1 file at its sample, the tempo map honoured.
//!
//! Times are exact: a metrical file's tick becomes microseconds as an
//! integer sum over the tempo segments before it (ticks × µs per quarter),
//! a timecode file's as ticks over frames per second × ticks per frame, and
//! the sample is that instant at the render's rate rounded to the nearest
//! (halves up) in integer arithmetic — no drift over a long file.

use std::path::{Path, PathBuf};

use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};

/// A raw channel message (status with channel, data 1, data 2; 0 for a
/// message with one data byte) at an engine frame.
pub type MidiEvent = (u64, [u8; 3]);

/// Quarter-note length before the first Set Tempo event: 120 BPM.
const DEFAULT_US_PER_QUARTER: u128 = 500_000;

/// Why a MIDI file cannot play; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum MidiFileError {
    #[error("cannot read MIDI file '{path}': {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("'{path}' is not a Standard MIDI File: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("MIDI file '{path}' is format 2 (independent sequences, no common time); --midi plays format 0 or 1")]
    Sequential { path: PathBuf },
    #[error("MIDI file '{path}' gives 0 ticks per {unit}, so its ticks have no length")]
    NoTicks { path: PathBuf, unit: &'static str },
}

/// A parsed file: its channel messages in playing order, at ticks, and how
/// ticks become time.
#[derive(Clone, Debug)]
pub struct MidiFile {
    clock: Clock,
    /// `(tick, message)` sorted by tick; at one tick in file order, track
    /// by track, then event by event.
    events: Vec<(u64, [u8; 3])>,
}

/// How a file's ticks become seconds.
#[derive(Clone, Debug)]
enum Clock {
    /// Ticks per quarter note and the tempo map: `(tick, µs per quarter)`
    /// sorted by tick, starting at tick 0.
    Metrical { ticks_per_quarter: u128, tempo: Vec<(u64, u128)> },
    /// Seconds per tick = `fps_den / (fps_num × ticks_per_frame)`.
    Timecode { fps_num: u128, fps_den: u128, ticks_per_frame: u128 },
}

impl MidiFile {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// If the file cannot be read, is not a Standard MIDI File, is format 2
    /// or has ticks of no length.
    pub fn read(path: &Path) -> Result<Self, MidiFileError> {
        let bytes = std::fs::read(path).map_err(|source| MidiFileError::Read { path: path.into(), source })?;
        Self::parse(&bytes, path)
    }

    /// Parses the bytes of a file; `path` names it in errors.
    ///
    /// # Errors
    /// As [`Self::read`], but for reading.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, MidiFileError> {
        let smf = Smf::parse(bytes).map_err(|e| MidiFileError::Parse { path: path.into(), message: e.to_string() })?;
        if smf.header.format == Format::Sequential {
            return Err(MidiFileError::Sequential { path: path.into() });
        }
        let no_ticks = |unit| MidiFileError::NoTicks { path: path.into(), unit };
        let clock = match smf.header.timing {
            Timing::Metrical(tpq) if tpq.as_int() == 0 => return Err(no_ticks("quarter note")),
            Timing::Metrical(tpq) => Clock::Metrical { ticks_per_quarter: tpq.as_int() as u128, tempo: Vec::new() },
            Timing::Timecode(_, 0) => return Err(no_ticks("frame")),
            Timing::Timecode(fps, ticks_per_frame) => {
                // 29.97 is 30000/1001 frames per second (drop-frame timecode).
                let (fps_num, fps_den) = if fps == midly::Fps::Fps29 { (30_000, 1001) } else { (fps.as_int() as u128, 1) };
                Clock::Timecode { fps_num, fps_den, ticks_per_frame: ticks_per_frame as u128 }
            }
        };
        let mut events = Vec::new();
        let mut tempo = Vec::new();
        for track in &smf.tracks {
            let mut tick = 0u64;
            for event in track {
                tick += event.delta.as_int() as u64;
                match event.kind {
                    TrackEventKind::Midi { channel, message } => events.push((tick, bytes_of(channel.as_int(), message))),
                    TrackEventKind::Meta(MetaMessage::Tempo(us)) => tempo.push((tick, us.as_int() as u128)),
                    _ => {}
                }
            }
        }
        // Stable: at one tick, tracks in file order, then events in order.
        events.sort_by_key(|&(tick, _)| tick);
        tempo.sort_by_key(|&(tick, _)| tick);
        let clock = match clock {
            Clock::Metrical { ticks_per_quarter, .. } => {
                if tempo.first().is_none_or(|&(tick, _)| tick > 0) {
                    tempo.insert(0, (0, DEFAULT_US_PER_QUARTER));
                }
                Clock::Metrical { ticks_per_quarter, tempo }
            }
            timecode => timecode,
        };
        Ok(Self { clock, events })
    }

    /// Channel messages in the file.
    pub fn num_events(&self) -> usize {
        self.events.len()
    }

    /// Every channel message at its sample at `sample_rate` (the nearest,
    /// halves up), in playing order.
    pub fn at_rate(&self, sample_rate: u32) -> Vec<MidiEvent> {
        let rate = sample_rate as u128;
        // sample = round(numerator · rate / denominator), numerator and
        // denominator exact integers: µs × tpq and tpq × 10⁶, or ticks ×
        // fps_den and fps_num × ticks per frame.
        let nearest = |numerator: u128, denominator: u128| ((2 * numerator * rate + denominator) / (2 * denominator)) as u64;
        match &self.clock {
            Clock::Metrical { ticks_per_quarter, tempo } => {
                // Walk the tempo map alongside the (sorted) events: `base`
                // is the start of segment `k` in µs × ticks per quarter.
                let denominator = ticks_per_quarter * 1_000_000;
                let (mut k, mut base) = (0, 0u128);
                self.events
                    .iter()
                    .map(|&(tick, data)| {
                        while let Some(&(next_tick, _)) = tempo.get(k + 1).filter(|&&(t, _)| t <= tick) {
                            base += (next_tick - tempo[k].0) as u128 * tempo[k].1;
                            k += 1;
                        }
                        let (start, us_per_quarter) = tempo[k];
                        (nearest(base + (tick - start) as u128 * us_per_quarter, denominator), data)
                    })
                    .collect()
            }
            Clock::Timecode { fps_num, fps_den, ticks_per_frame } => {
                self.events.iter().map(|&(tick, data)| (nearest(tick as u128 * fps_den, fps_num * ticks_per_frame), data)).collect()
            }
        }
    }
}

/// The raw bytes of a channel message on `channel` (0 … 15).
fn bytes_of(channel: u8, message: MidiMessage) -> [u8; 3] {
    let c = channel & 0x0f;
    match message {
        MidiMessage::NoteOff { key, vel } => [0x80 | c, key.as_int(), vel.as_int()],
        MidiMessage::NoteOn { key, vel } => [0x90 | c, key.as_int(), vel.as_int()],
        MidiMessage::Aftertouch { key, vel } => [0xa0 | c, key.as_int(), vel.as_int()],
        MidiMessage::Controller { controller, value } => [0xb0 | c, controller.as_int(), value.as_int()],
        MidiMessage::ProgramChange { program } => [0xc0 | c, program.as_int(), 0],
        MidiMessage::ChannelAftertouch { vel } => [0xd0 | c, vel.as_int(), 0],
        MidiMessage::PitchBend { bend } => {
            let raw = bend.0.as_int();
            [0xe0 | c, (raw & 0x7f) as u8, (raw >> 7) as u8]
        }
    }
}
