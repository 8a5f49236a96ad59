//! Host controls of bus strips by parameter slot (the plugin's fixed
//! parameter pool, docs/ARCHITECTURE.md §7): trim, pan and mute compose with the
//! session's values, land on the sample they are applied at, and survive edits.

use super::support::*;
use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::graph::schedule::StripControl;
use mam_core::session::{load_str, Session};

/// ```text
///   in ─▶ [a: −6.0206 dB, slot 1] ─▶ master
///   in ─▶ [b: explicit slot 3] ─────▶ master
/// ```
fn two_buses() -> Session {
    session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a", "gainDb": -6.020599913279624 }, { "id": "b", "slot": 3, "mute": false } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b", "gain": 0 } ] }"#,
    )
}

fn engine(s: Session) -> (Engine, AudioProcessor) {
    Engine::new(s, CompileOptions { sample_rate: 48_000.0, max_block: 512, ports: vec![PortBinding::source("in")] }).unwrap()
}

fn process(audio: &mut AudioProcessor, value: f32, frames: usize) -> Vec<Vec<f32>> {
    let input = vec![value; frames];
    let mut out = vec![vec![0.0; frames]; 2];
    let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
    audio.process(&[&[&input, &input]], &mut outs, frames);
    out
}

#[test]
fn a_trim_at_sample_100_of_a_block_starts_there_and_composes_with_the_session_level() {
    let (_engine, mut audio) = engine(two_buses());
    process(&mut audio, 1.0, 512);
    // Split the host block at the event, as the plugin does.
    let mut left = process(&mut audio, 1.0, 100).remove(0);
    audio.set_strip(1, StripControl::TrimDb(-6.020599913279624));
    left.extend(process(&mut audio, 1.0, 412).remove(0));
    left.extend(process(&mut audio, 1.0, 512).remove(0));
    // Before the event: the session's −6 dB.
    assert!(left[..100].iter().all(|&s| (s - 0.5).abs() < 1e-6));
    // The ramp starts on sample 100 and lasts 480 samples (10 ms).
    assert!(left[100] < 0.5 && left[100] > 0.499, "first ramp step at 100: {}", left[100]);
    close(left[100 + 479], 0.25, 1e-6, "end of the ramp: −6 dB + −6 dB");
    assert!(left[600..].iter().all(|&s| (s - 0.25).abs() < 1e-6));
}

#[test]
fn pan_and_mute_controls_add_to_the_session_values() {
    let (_engine, mut audio) = engine(two_buses());
    audio.set_strip(1, StripControl::Pan(-1.0));
    let out = process(&mut audio, 1.0, 1024);
    assert_eq!((out[0][1023], out[1][1023]), (0.5, 0.0), "hard left silences the right");
    audio.set_strip(1, StripControl::Mute(true));
    let out = process(&mut audio, 1.0, 1024);
    assert_eq!(out[0][1023], 0.0, "host mute");
    audio.set_strip(1, StripControl::Mute(false));
    audio.set_strip(0, StripControl::TrimDb(-144.0));
    let out = process(&mut audio, 1.0, 1024);
    assert_eq!(out[0][1023], 0.0, "slot 0 is the master");
}

#[test]
fn host_controls_survive_a_session_edit() {
    let s = two_buses();
    let (mut engine, mut audio) = engine(s.clone());
    audio.set_strip(1, StripControl::TrimDb(-6.020599913279624));
    process(&mut audio, 1.0, 1024);
    let mut edited = s;
    edited.buses[1].gain = mam_core::session::Level::Db(-3.0);
    engine.load(edited).unwrap();
    let out = process(&mut audio, 1.0, 2048);
    close(out[0][2047], 0.25, 1e-6, "trim still applied after the reload");
}

#[test]
fn slots_are_assigned_explicitly_or_in_order_and_clashes_are_errors() {
    let err = load_str(r#"{ "version": 1, "buses": [ { "id": "a", "slot": 2 }, { "id": "b", "slot": 2 } ] }"#).unwrap_err();
    assert!(err.errors.iter().any(|e| e.path == "buses[1].slot" && e.message == "slot 2 is already taken by bus 'a'"), "{err}");
    let err = load_str(r#"{ "version": 1, "buses": [ { "id": "master", "slot": 2 } ] }"#).unwrap_err();
    assert!(err.errors.iter().any(|e| e.path == "buses[0].slot"), "{err}");
    // Bus b holds slot 3 explicitly; a takes slot 1. Trimming slot 3 touches only b.
    let (_engine, mut audio) = engine(session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ], "buses": [ { "id": "a", "gain": 0 }, { "id": "b", "slot": 3 } ],
            "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b" } ] }"#,
    ));
    audio.set_strip(3, StripControl::TrimDb(-6.020599913279624));
    audio.set_strip(2, StripControl::TrimDb(-144.0)); // no bus there: ignored
    let out = process(&mut audio, 1.0, 1024);
    close(out[0][1023], 0.5, 1e-6, "slot 3 is bus b");
}

/// ```text
///   in ─▶ [a: slot 1] ─▶ master
///   in ─▶ [b: slot 2] ─▶ master
///   in ─────────────────▶ master (direct)
/// ```
#[test]
fn host_solo_is_solo_in_place_resolved_live() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" }, { "id": "direct" } ],
        "buses": [ { "id": "a", "gain": 0.5 }, { "id": "b", "gain": 0.25 } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b" }, { "from": "direct", "to": "master", "gain": 0.125 } ] }"#,
    );
    let (mut engine, mut audio) = Engine::new(s.clone(), CompileOptions { sample_rate: 48_000.0, max_block: 512, ports: vec![PortBinding::source("in"), PortBinding::source("direct")] }).unwrap();
    let run = |audio: &mut AudioProcessor| {
        let one = vec![1.0f32; 1024];
        let mut out = vec![vec![0.0; 1024]; 2];
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
        audio.process(&[&[&one, &one], &[&one, &one]], &mut outs, 1024);
        out[0][1023]
    };
    close(run(&mut audio), 0.875, 1e-6, "nothing soloed");
    audio.set_strip(2, StripControl::Solo(true));
    close(run(&mut audio), 0.25, 1e-6, "solo b: a and the direct source fall silent");
    audio.set_strip(1, StripControl::Solo(true));
    close(run(&mut audio), 0.75, 1e-6, "solo a and b");
    // Survives an edit, then un-solo restores everything.
    engine.load(s).unwrap();
    close(run(&mut audio), 0.75, 1e-6, "after a reload");
    audio.set_strip(1, StripControl::Solo(false));
    audio.set_strip(2, StripControl::Solo(false));
    close(run(&mut audio), 0.875, 1e-6, "all un-soloed");
}

#[test]
fn sources_have_meters_too_so_the_editor_can_show_a_key_arriving() {
    let (engine, mut audio) = engine(two_buses());
    assert_eq!(engine.meter("in").unwrap().peak, [0.0, 0.0], "nothing yet");
    process(&mut audio, 0.5, 512);
    let reading = engine.meter("in").unwrap();
    assert_eq!(reading.peak, [0.5, 0.5], "the source's level after its gain");
    assert!(engine.meter("nope").is_none());
}
