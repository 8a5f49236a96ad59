//! Session edits while audio runs (docs/ARCHITECTURE.md §4.1): latency
//! compensation keeps its content when its length changes, edits coalesce
//! when the audio thread is not consuming, the loudness meter follows a
//! change of width, and a recompile mid-transition is bit-transparent.

use super::support::*;
use mam_core::engine::{AudioProcessor, Engine, QUEUE_DEPTH};
use mam_core::graph::compile::CompileOptions;
use mam_core::graph::controls::HostControl;
use mam_core::graph::schedule::StripControl;
use mam_core::session::{ParamValue, Session};
use mam_core::timeline;
use mam_core::transport::Transport;
use std::sync::Arc;

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

/// ```text
///   tone ─▶ [music] ─▶ master
///              └─ send −20 dB ─▶ [verb] ─▶ master
/// ```
/// Scene 1 "Drop": instant (the 10 ms declick). Scene 2 "Morph": morph over
/// 200 ms. Scene 3 "Fade": crossfade over 200 ms. Each moves the music
/// bus's level, pan and send.
fn transition_session() -> Session {
    session(
        r#"{ "version": 1,
        "racks": [ { "id": "tone", "generator": { "type": "sine", "hz": 1000, "amp": 0.5 } } ],
        "buses": [ { "id": "music", "sends": [ { "to": "verb", "levelDb": -20 } ] }, { "id": "verb" } ],
        "routes": [ { "from": "tone", "to": "music" } ],
        "scenes": [
          { "name": "Drop", "transition": "instant", "values": { "music.gainDb": -12, "music.pan": 0.5, "music.send.verb": -6 } },
          { "name": "Morph", "transition": "morph", "morphMs": 200, "values": { "music.gainDb": -24, "music.pan": -0.5, "music.send.verb": 0 } },
          { "name": "Fade", "transition": "crossfade", "morphMs": 200, "values": { "music.gainDb": -30, "music.send.verb": -40 } } ] }"#,
    )
}

/// What runs at the swap besides the scene transition.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Also {
    Nothing,
    /// The music fader (slot 1) moved 200 samples before the swap: its
    /// 10 ms ramp is half-way.
    FaderRamp,
    /// A timeline plays a `set` on the verb bus's level, ramping over
    /// 300 ms from sample 24 100 (after the recall, which would release
    /// it); the swap is `Engine::set_timeline` with the
    /// same timeline.
    TimelineRamp,
}

/// Plays 48 000 frames of `s` in 512-frame blocks, recalling `scene` at
/// sample 24 000 (the block split there) and, when `reload` gives one,
/// compiling that session before the block at sample 24 576 (block 48),
/// while the transition runs. Returns both output channels, interleaved.
fn play_transition(s: &Session, scene: usize, reload: Option<&Session>, also: Also) -> Vec<f32> {
    const BLOCK: usize = 512;
    const SWAP: usize = 24_576;
    let options = CompileOptions { sample_rate: RATE, max_block: BLOCK, ports: Vec::new() };
    let tl = (also == Also::TimelineRamp).then(|| {
        let text = r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "verb", "events": [
            { "t": 24100, "type": "set", "path": "verb.gainDb", "value": -10, "rampMs": 300 } ] } ] }"#;
        Arc::new(timeline::load_str(text, s).expect("test timeline loads").timeline)
    });
    let (mut engine, mut audio) = Engine::with_timeline(s.clone(), options, tl.clone()).unwrap();
    let mut out = Vec::new();
    let (mut l, mut r) = (vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]);
    let splits = [24_000, SWAP - 200];
    let mut at = 0;
    while at < 48_000 {
        if at == 24_000 {
            audio.set_control(HostControl::Scene(scene));
        }
        if at == SWAP - 200 && also == Also::FaderRamp {
            audio.set_strip(1, StripControl::TrimDb(-3.0));
        }
        if let (true, Some(edit)) = (at == SWAP, reload) {
            match &tl {
                Some(tl) => engine.set_timeline(Some(tl.clone())).map(|_| ()),
                None => engine.load(edit.clone()).map(|_| ()),
            }
            .unwrap();
        }
        if tl.is_some() {
            audio.set_transport(&Transport { playing: true, position_samples: Some(at as i64), tempo: Some(120.0), ..Default::default() });
        }
        // Blocks on the 512 grid, split where something happens.
        let end = splits.iter().copied().filter(|&x| x > at).fold((at / BLOCK + 1) * BLOCK, usize::min).min(48_000);
        let n = end - at;
        audio.process(&[], &mut [&mut l[..n], &mut r[..n]], n);
        for i in 0..n {
            out.push(l[i]);
            out.push(r[i]);
        }
        at = end;
    }
    out
}

#[test]
fn recompiling_the_same_session_mid_transition_changes_nothing() {
    // Instant (the 10 ms declick is through 576 samples in, but the strip's
    // own 10 ms ramp still glides), morph and crossfade (576 of 9 600
    // samples in), each alone, with a fader ramp and with a timeline ramp
    // running at the swap. Nothing changed, so every sample is the same.
    for scene in 1..=3 {
        for also in [Also::Nothing, Also::FaderRamp, Also::TimelineRamp] {
            let s = transition_session();
            let plain = play_transition(&s, scene, None, also);
            let reloaded = play_transition(&s, scene, Some(&s), also);
            assert_eq!(plain.len(), reloaded.len());
            let first = plain.iter().zip(&reloaded).position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(first.map(|i| i / 2), None, "scene {scene}, {also:?}: first sample that differs");
        }
    }
}

#[test]
fn an_edit_of_the_recalled_scene_mid_transition_lands_on_the_edited_values() {
    // Scene 2 morphs to −24 dB over 200 ms; the edit makes it −18 dB 576
    // samples in. Once the morph and the strip's ramps are through (by
    // sample 24 000 + 9 600 + 480), the mix is the edited scene's, bit for
    // bit as when the edited session played from the start.
    let s = transition_session();
    let mut edited = s.clone();
    let value = edited.scenes[1].values.get_mut("music.gainDb").expect("scene 2 sets music.gainDb");
    *value = ParamValue::Number(-18.0);
    let reloaded = play_transition(&s, 2, Some(&edited), Also::Nothing);
    let direct = play_transition(&edited, 2, None, Also::Nothing);
    let old = play_transition(&s, 2, None, Also::Nothing);
    let settled = 2 * 35_000..;
    assert!(reloaded[settled.clone()] == direct[settled.clone()], "the edited scene's values");
    assert!(reloaded[settled.clone()] != old[settled], "not the old scene's");
}
