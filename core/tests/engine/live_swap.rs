//! Session edits while audio runs (docs/ARCHITECTURE.md §4.1): latency
//! compensation keeps its content when its length changes, edits coalesce
//! when the audio thread is not consuming, and the loudness meter follows a
//! change of width.

use super::support::*;
use mam_core::engine::{AudioProcessor, Engine, QUEUE_DEPTH};
use mam_core::graph::compile::CompileOptions;
use mam_core::session::Session;

const RATE: f32 = 48_000.0;
const BLOCK: usize = 64;

fn engine(s: Session) -> (Engine, AudioProcessor) {
    Engine::new(s, CompileOptions { sample_rate: RATE, max_block: BLOCK, ports: Vec::new() }).unwrap()
}

/// Runs `frames` frames (a multiple of the block) with no input ports;
/// returns channel 0 of the output.
fn play(audio: &mut AudioProcessor, frames: usize) -> Vec<f32> {
    let mut left = Vec::with_capacity(frames);
    let (mut l, mut r) = (vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]);
    for _ in 0..frames / BLOCK {
        audio.process(&[], &mut [&mut l[..], &mut r[..]], BLOCK);
        left.extend_from_slice(&l);
    }
    left
}

/// Longest run of samples quieter than 1e-6. A 1 kHz sine at 0.5 has at
/// most one such sample in a row (one may fall on a zero crossing; its
/// neighbours are ≥ 0.06 away), so a run of 2 or more is a gap.
fn longest_gap(signal: &[f32]) -> usize {
    let (mut longest, mut run) = (0, 0);
    for s in signal {
        run = if s.abs() < 1e-6 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// ```text
///   tone ─▶ [dry] ──────────────────────────▶ master
///           [wet: limiter, lookahead L ms] ─▶ master   (no input)
/// ```
/// The dry path is delayed by the wet bus's latency; changing L changes the
/// length of that compensation delay while the tone plays.
fn pdc_session(lookahead_ms: f64) -> Session {
    session(&format!(
        r#"{{ "version": 1,
        "racks": [ {{ "id": "tone", "generator": {{ "type": "sine", "hz": 1000, "amp": 0.5 }} }} ],
        "buses": [ {{ "id": "dry" }},
                   {{ "id": "wet", "inserts": [ {{ "id": "lim", "type": "limiter", "params": {{ "lookaheadMs": {lookahead_ms}, "ceilingDb": 0 }} }} ] }} ],
        "routes": [ {{ "from": "tone", "to": "dry" }} ] }}"#
    ))
}

#[test]
fn a_compensation_delay_that_changes_length_keeps_its_content() {
    // 5 ms → 10 ms: 240 → 480 samples. The 240 samples in the old line come
    // out after a gap of exactly the difference (what the old line never
    // stored); restarting the line empty would leave a 480-sample gap.
    let (mut engine, mut audio) = engine(pdc_session(5.0));
    assert_eq!(audio.latency(), 240);
    let before = play(&mut audio, 4800);
    assert!(longest_gap(&before[240..]) <= 1, "the tone plays before the edit");
    engine.load(pdc_session(10.0)).unwrap();
    let after = play(&mut audio, 4800);
    assert_eq!(audio.latency(), 480);
    let gap = longest_gap(&after);
    assert!((240..=241).contains(&gap), "a gap of the difference only (plus at most a zero crossing): {gap}");

    // 10 ms → 5 ms: the line skips ahead; no gap at all.
    engine.load(pdc_session(5.0)).unwrap();
    let shorter = play(&mut audio, 4800);
    assert_eq!(audio.latency(), 240);
    assert!(longest_gap(&shorter) <= 1, "no gap when the delay shrinks ({})", longest_gap(&shorter));
}

/// `tone ─▶ [music: gain g] ─▶ master`
fn gain_session(gain_db: f64) -> Session {
    session(&format!(
        r#"{{ "version": 1,
        "racks": [ {{ "id": "tone", "generator": {{ "type": "sine", "hz": 1000, "amp": 0.5 }} }} ],
        "buses": [ {{ "id": "music", "gainDb": {gain_db} }} ],
        "routes": [ {{ "from": "tone", "to": "music" }} ] }}"#
    ))
}

#[test]
fn edits_made_while_the_audio_thread_is_stalled_coalesce_to_the_newest() {
    let (mut engine, mut audio) = engine(gain_session(0.0));
    play(&mut audio, 4800);
    // No blocks run meanwhile: more edits than the queue holds all succeed.
    for k in 1..=QUEUE_DEPTH + 3 {
        engine.load(gain_session(-(k as f64))).unwrap();
    }
    assert!(engine.is_pending(), "the newest waits on the control side");
    // The audio thread takes the queued ones; the waiting one follows.
    play(&mut audio, BLOCK);
    assert!(engine.flush(), "queued once there is room");
    let out = play(&mut audio, 9600);
    let newest = -((QUEUE_DEPTH + 3) as f64);
    let peak = out[4800..].iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let expected = 0.5 * 10f64.powf(newest / 20.0) as f32;
    close(peak, expected, 1e-3, "the output plays the newest edit");
    assert_eq!(engine.session().buses.iter().find(|b| b.id == "music").unwrap().gain.db(), newest);
}

#[test]
fn loudness_is_measured_after_an_edit_changes_the_session_width() {
    let stereo = gain_session(0.0);
    let (mut engine, mut audio) = engine(stereo);
    play(&mut audio, 4800);
    // The same, mono: a −20 dBFS-peak 1 kHz sine in one channel reads
    // −23.01 LUFS (BS.1770: 0 dBFS peak in one channel is −3.01 LUFS).
    let mut mono = gain_session(-13.979_4); // 0.5 · 10^(−13.98/20) = 0.1
    mono.channels = 1;
    for bus in &mut mono.buses {
        bus.channels = 1;
    }
    engine.load(mono).unwrap();
    for _ in 0..8 {
        play(&mut audio, 24_000);
        engine.update_loudness();
    }
    let reading = engine.update_loudness();
    assert!((reading.integrated_lufs - (-23.01)).abs() < 0.2, "integrated {} LUFS", reading.integrated_lufs);
    assert_eq!(reading.dropped_frames, 0);
}

#[test]
fn loudness_follows_a_width_change_made_while_the_audio_thread_is_stalled() {
    // Queue full, then a mono edit, then another mono edit that supersedes it
    // while it still waits: the ring the first brought must reach the
    // audio thread with the second.
    let (mut engine, mut audio) = engine(gain_session(0.0));
    play(&mut audio, 4800);
    for k in 1..=QUEUE_DEPTH {
        engine.load(gain_session(-(k as f64))).unwrap();
    }
    let mono = |gain_db: f64| {
        let mut s = gain_session(gain_db);
        s.channels = 1;
        for bus in &mut s.buses {
            bus.channels = 1;
        }
        s
    };
    engine.load(mono(-6.0)).unwrap();
    engine.load(mono(-13.979_4)).unwrap();
    assert!(engine.is_pending());
    play(&mut audio, BLOCK);
    assert!(engine.flush());
    for _ in 0..8 {
        play(&mut audio, 24_000);
        engine.update_loudness();
    }
    let reading = engine.update_loudness();
    assert!((reading.integrated_lufs - (-23.01)).abs() < 0.2, "integrated {} LUFS", reading.integrated_lufs);
}
