//! `mam render --midi`: a Standard MIDI File plays through the session's
//! mappings with every message on the sample its tick stands for (tempo
//! map, timecode, halves rounded up), whatever `--block`; format 2 and
//! files that are not MIDI are refused by name; record/play mappings warn.

#[path = "support/common.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::{mam, read_wav, scratch, text, write_wav};
use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Fps, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// ```text
///   in ─▶ [bed] ─▶ master
/// ```
/// CC 7 on channel 1 sets bed.gainDb from −12 dB (value 0) to 0 dB (127),
/// linearly, with no smoothing of its own (the strip's 10 ms declick).
fn session(rate: u32, extra_mappings: &str) -> String {
    format!(
        r#"{{ "version": 1, "sampleRate": {rate}, "racks": [ {{ "id": "in" }} ],
  "buses": [ {{ "id": "bed" }} ], "routes": [ {{ "from": "in", "to": "bed" }} ],
  "mappings": [ {{ "input": {{ "type": "cc", "channel": 1, "cc": 7 }},
                   "transform": {{ "min": -12, "max": 0, "smoothMs": 0 }},
                   "target": {{ "path": "bed.gainDb" }} }}{extra_mappings} ] }}"#
    )
}

/// Input level: DC at 0.5, so every gain shows as a sample value.
const LEVEL: f32 = 0.5;

/// The level CC 7 at `value` gives: −12 + 12·value/127 dB of [`LEVEL`].
fn level_at_cc(value: u8) -> f32 {
    let db = -12.0 + 12.0 * value as f64 / 127.0;
    LEVEL * 10f64.powf(db / 20.0) as f32
}

/// A track of `(absolute tick, event)`, ended.
fn track(events: &[(u32, TrackEventKind<'static>)]) -> Vec<TrackEvent<'static>> {
    let mut at = 0;
    let mut out: Vec<TrackEvent<'static>> = events
        .iter()
        .map(|&(tick, kind)| {
            let delta = tick - at;
            at = tick;
            TrackEvent { delta: u28::new(delta), kind }
        })
        .collect();
    out.push(TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
    out
}

fn cc7(value: u8) -> TrackEventKind<'static> {
    TrackEventKind::Midi { channel: u4::new(0), message: MidiMessage::Controller { controller: u7::new(7), value: u7::new(value) } }
}

fn tempo(us_per_quarter: u32) -> TrackEventKind<'static> {
    TrackEventKind::Meta(MetaMessage::Tempo(u24::new(us_per_quarter)))
}

fn write_midi(path: &Path, format: Format, timing: Timing, tracks: Vec<Vec<TrackEvent<'static>>>) {
    let smf = Smf { header: Header::new(format, timing), tracks };
    smf.save(path).unwrap();
}

/// A folder with the session at `rate` and `seconds` of DC input.
fn setup(test: &str, rate: u32, seconds: f64, extra_mappings: &str) -> (PathBuf, PathBuf, String) {
    let dir = scratch(test);
    let session_path = dir.join("session.json");
    std::fs::write(&session_path, session(rate, extra_mappings)).unwrap();
    let input = dir.join("in.wav");
    write_wav(&input, rate, &[vec![LEVEL; (seconds * rate as f64) as usize]]);
    (dir, session_path, format!("in={}", input.display()))
}

/// Renders with `--midi`; returns the left channel.
fn render(session: &Path, bind: &str, midi: &Path, out: &Path, extra: &[&str]) -> Vec<f32> {
    let mut args = vec!["render", session.to_str().unwrap(), "--in", bind, "--midi", midi.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = mam(&args);
    assert!(r.status.success(), "{}", text(&r.stderr));
    read_wav(out).1.swap_remove(0)
}

/// The strip's declick at 48 kHz: 10 ms.
const DECLICK_48K: usize = 480;

/// Checks that `out` holds `before` exactly up to `at`, differs on `at`,
/// and has settled to `after` (within 1e-7: the engine's f64 dB
/// conversion against this f64 one, both rounded to f32, differ by at most
/// an ulp of 0.5, 6e-8) from `at + declick` to `until`, holding exactly.
fn assert_step(out: &[f32], from: usize, at: usize, until: usize, declick: usize, before: f32, after: f32) {
    assert!(out[from..at].iter().all(|&x| x == before), "{before} held until sample {at}: first change at {:?}", out[from..at].iter().position(|&x| x != before).map(|p| p + from));
    assert_ne!(out[at], before, "the move starts on sample {at}");
    let landed = &out[at + declick..until];
    assert!((landed[0] - after).abs() < 1e-7, "landed at {} instead of {after}", landed[0]);
    assert!(landed.iter().all(|&x| x == landed[0]), "and holds until {until}");
}

#[test]
fn a_tempo_change_on_another_track_puts_ccs_on_hand_computed_samples() {
    let (dir, session, bind) = setup("tempo", 48_000, 2.5, "");
    // 480 ticks per quarter, 120 BPM (500 000 µs per quarter) from tick 0
    // on track 0, 60 BPM (1 000 000 µs) from tick 960 on track 2. At 48 kHz:
    //   tick  480: 480 · 500 000 / 480 µs                    = 0.5 s → 24 000
    //   tick 1200: (960 · 500 000 + 240 · 1 000 000) / 480 µs = 1.5 s → 72 000
    //   tick 1440: (960 · 500 000 + 480 · 1 000 000) / 480 µs = 2.0 s → 96 000
    let midi = dir.join("tempo.mid");
    write_midi(
        &midi,
        Format::Parallel,
        Timing::Metrical(u15::new(480)),
        vec![track(&[(0, tempo(500_000))]), track(&[(480, cc7(0)), (1200, cc7(127)), (1440, cc7(64))]), track(&[(960, tempo(1_000_000))])],
    );
    let out = render(&session, &bind, &midi, &dir.join("out.wav"), &[]);
    assert_eq!(out.len(), 120_000);
    assert_step(&out, 0, 24_000, 72_000, DECLICK_48K, LEVEL, level_at_cc(0));
    assert_step(&out, 24_000 + DECLICK_48K, 72_000, 96_000, DECLICK_48K, out[71_999], level_at_cc(127));
    assert_step(&out, 72_000 + DECLICK_48K, 96_000, 120_000, DECLICK_48K, out[95_999], level_at_cc(64));
}

#[test]
fn samples_round_to_the_nearest_with_halves_up() {
    // 44.1 kHz, 480 ticks per quarter at the default 120 BPM: a tick is
    // 500 000 / 480 µs = 45.9375 samples.
    //   tick    8:    367.5    → 368 (a half: up)
    //   tick 1001: 45 983.4375 → 45 983
    let (dir, session, bind) = setup("halves", 44_100, 1.5, "");
    let midi = dir.join("halves.mid");
    write_midi(&midi, Format::SingleTrack, Timing::Metrical(u15::new(480)), vec![track(&[(8, cc7(0)), (1001, cc7(127))])]);
    let out = render(&session, &bind, &midi, &dir.join("out.wav"), &[]);
    let declick = 441; // 10 ms at 44.1 kHz
    assert_step(&out, 0, 368, 45_983, declick, LEVEL, level_at_cc(0));
    assert_step(&out, 368 + declick, 45_983, out.len(), declick, out[45_982], level_at_cc(127));
}

#[test]
fn timecode_ticks_count_frames_per_second() {
    // 25 fps × 40 ticks per frame: 1000 ticks a second, tick 500 → 0.5 s → 24 000.
    // 29.97 fps (30000/1001) × 100 ticks: tick 3000 → 3000 · 1001 / 3 000 000 s
    // = 1.001 s → 48 048.
    let (dir, session, bind) = setup("timecode", 48_000, 1.5, "");
    for (name, timing, tick, sample) in
        [("25fps", Timing::Timecode(Fps::Fps25, 40), 500, 24_000), ("2997fps", Timing::Timecode(Fps::Fps29, 100), 3000, 48_048)]
    {
        let midi = dir.join(format!("{name}.mid"));
        write_midi(&midi, Format::SingleTrack, timing, vec![track(&[(tick, cc7(0))])]);
        let out = render(&session, &bind, &midi, &dir.join(format!("{name}.wav")), &[]);
        assert_step(&out, 0, sample, out.len(), DECLICK_48K, LEVEL, level_at_cc(0));
    }
}

#[test]
fn block_sizes_1_64_511_and_4096_write_the_same_bytes() {
    let (dir, session, bind) = setup("blocks", 48_000, 0.5, "");
    // Messages 50 samples apart, two on one tick, a move mid-declick, and
    // ticks on and off 64- and 511-frame block edges.
    let midi = dir.join("blocks.mid");
    write_midi(
        &midi,
        Format::Parallel,
        Timing::Metrical(u15::new(480)),
        vec![track(&[(0, cc7(20)), (1, cc7(90)), (100, cc7(0)), (100, cc7(127)), (205, cc7(64)), (206, cc7(10)), (400, cc7(127))])],
    );
    let mut outputs = Vec::new();
    for block in ["1", "64", "511", "4096"] {
        let out = dir.join(format!("b{block}.wav"));
        render(&session, &bind, &midi, &out, &["--block", block]);
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "WAV bytes differ between block sizes");
    let (_, audio) = read_wav(&dir.join("b64.wav"));
    assert_ne!(audio[0][0], LEVEL, "CC 7 = 20 at tick 0 moves the level from the first sample");
}

#[test]
fn the_same_file_plays_into_every_session_at_its_own_rate() {
    // Tick 480 at 120 BPM is 0.5 s: sample 24 000 at 48 kHz, 22 050 at 44.1 kHz.
    let dir = scratch("sessions");
    let mut paths = Vec::new();
    for rate in [48_000, 44_100] {
        let path = dir.join(format!("s{rate}.json"));
        std::fs::write(&path, session(rate, "").replace(r#"{ "id": "in" }"#, &format!(r#"{{ "id": "in", "path": "in{rate}.wav" }}"#))).unwrap();
        write_wav(&dir.join(format!("in{rate}.wav")), rate, &[vec![LEVEL; rate as usize]]);
        paths.push(path);
    }
    let midi = dir.join("one.mid");
    write_midi(&midi, Format::SingleTrack, Timing::Metrical(u15::new(480)), vec![track(&[(480, cc7(0))])]);
    let outs = dir.join("out");
    let r = mam(&["render", paths[0].to_str().unwrap(), paths[1].to_str().unwrap(), "--midi", midi.to_str().unwrap(), "--out-dir", outs.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    for (rate, at, declick) in [(48_000, 24_000, 480), (44_100, 22_050, 441)] {
        let (_, audio) = read_wav(&outs.join(format!("s{rate}.wav")));
        assert_step(&audio[0], 0, at, audio[0].len(), declick, LEVEL, level_at_cc(0));
    }
}

#[test]
fn format_2_garbage_and_missing_files_are_refused_by_name() {
    let (dir, session, bind) = setup("errors", 48_000, 0.1, "");
    let sequential = dir.join("songs.mid");
    write_midi(&sequential, Format::Sequential, Timing::Metrical(u15::new(96)), vec![track(&[(0, cc7(1))]), track(&[(0, cc7(2))])]);
    let garbage = dir.join("garbage.mid");
    std::fs::write(&garbage, b"RIFF\x10\x00\x00\x00this is not a midi file").unwrap();
    let missing = dir.join("missing.mid");
    for (file, says) in [
        (&sequential, "is format 2 (independent sequences, no common time); --midi plays format 0 or 1"),
        (&garbage, "is not a Standard MIDI File"),
        (&missing, "cannot read MIDI file"),
    ] {
        let out = dir.join("out.wav");
        let r = mam(&["render", session.to_str().unwrap(), "--in", &bind, "--midi", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let stderr = text(&r.stderr);
        assert!(!r.status.success(), "{} rendered", file.display());
        assert!(stderr.contains(&format!("'{}'", file.display())), "names the file: {stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!out.exists(), "nothing written for {}", file.display());
    }
}

#[test]
fn record_and_play_mappings_warn_once_that_they_are_ignored_offline() {
    let extra = r#", { "input": { "type": "note", "channel": 10, "note": 36 }, "target": { "action": "record" } },
                    { "input": { "type": "cc", "channel": 1, "cc": 20 }, "target": { "action": "play" } }"#;
    let (dir, session, bind) = setup("actions", 48_000, 0.5, extra);
    let note_on = TrackEventKind::Midi { channel: u4::new(9), message: MidiMessage::NoteOn { key: u7::new(36), vel: u7::new(100) } };
    let midi = dir.join("pads.mid");
    write_midi(&midi, Format::SingleTrack, Timing::Metrical(u15::new(480)), vec![track(&[(0, note_on), (240, cc7(0))])]);
    let out = dir.join("out.wav");
    let r = mam(&["render", session.to_str().unwrap(), "--in", &bind, "--midi", midi.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stderr = text(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    assert_eq!(stderr.matches("ignored offline").count(), 1, "{stderr}");
    assert!(stderr.contains("mappings[1] (record), mappings[2] (play)"), "{stderr}");
    // The mix still plays the CC: tick 240 at 120 BPM = 0.25 s = sample 12 000.
    let (_, audio) = read_wav(&out);
    assert_step(&audio[0], 0, 12_000, audio[0].len(), DECLICK_48K, LEVEL, level_at_cc(0));
}
