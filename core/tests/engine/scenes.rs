//! Scenes, morphs and macros (docs/ARCHITECTURE.md §7–8): recall with a declicked or
//! morphing transition, A/B interpolation, macro offsets composed with the
//! host's fader trim, insert and send values, sample placement independent of
//! block size, and what survives a session reload.

use super::support::*;
use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::graph::controls::HostControl;
use mam_core::graph::schedule::StripControl;
use mam_core::session::{load_str, save, Session};

const RATE: f32 = 48_000.0;

/// ```text
///   in ─▶ [a: 0 dB, utility u] ─▶ master
///            └─ send −144 dB ─▶ [fx] ─▶ master
/// ```
/// Scene 1 "Quiet": a −6 dB, instant. Scene 2 "Fade": a −20 dB, morph 1000 ms.
/// Scene 3 "Send": the send at 0 dB, a muted, u.gainDb −12.
/// Macro 1: a.gainDb 0 … −12 dB, exp curve; a.pan 0 … +2 (clamped to +1).
fn scened() -> Session {
    session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [
          { "id": "a", "inserts": [ { "id": "u", "type": "utility" } ],
            "sends": [ { "to": "fx", "levelDb": -144, "tap": "pre" } ] },
          { "id": "fx" } ],
        "routes": [ { "from": "in", "to": "a" } ],
        "scenes": [
          { "name": "Quiet", "transition": "instant", "values": { "a.gainDb": -6 } },
          { "name": "Fade", "transition": "morph", "morphMs": 1000, "values": { "a.gainDb": -20 } },
          { "name": "Send", "values": { "a.send.fx": 0, "a.mute": true, "a/u.gainDb": -12 } } ],
        "macros": [ { "name": "Push", "targets": [
            { "path": "a.gainDb", "min": 0, "max": -12, "curve": "exp" },
            { "path": "a.pan", "min": 0, "max": 2 } ] } ] }"#,
    )
}

fn engine(s: Session, max_block: usize) -> (Engine, AudioProcessor) {
    Engine::new(s, CompileOptions { sample_rate: RATE, max_block, ports: vec![PortBinding::source("in")] }).unwrap()
}

/// Runs DC 1.0 through for `frames` frames in blocks of `block`; returns both channels.
fn process(audio: &mut AudioProcessor, frames: usize, block: usize) -> [Vec<f32>; 2] {
    let input = vec![1.0f32; block];
    let mut out = [Vec::new(), Vec::new()];
    let mut done = 0;
    while done < frames {
        let n = block.min(frames - done);
        let mut l = vec![0.0; n];
        let mut r = vec![0.0; n];
        audio.process(&[&[&input[..n], &input[..n]]], &mut [&mut l, &mut r], n);
        out[0].extend(l);
        out[1].extend(r);
        done += n;
    }
    out
}

fn db(x: f32) -> f32 {
    20.0 * x.abs().log10()
}

/// 10 ms of control ramp plus 10 ms of strip ramp, in samples.
const DECLICK: usize = 960;

#[test]
fn an_instant_scene_lands_within_the_declick_ramps() {
    let (_e, mut audio) = engine(scened(), 512);
    let before = process(&mut audio, 1000, 512);
    assert_eq!(before[0][999], 1.0, "scene 0 is the session's own 0 dB");
    audio.set_control(HostControl::Scene(1));
    let after = process(&mut audio, 2000, 512);
    assert!(after[0][0] > 0.99 && after[0][0] < 1.0, "the ramp starts on the first sample, from where the mix stands: {}", after[0][0]);
    let want = 10f32.powf(-6.0 / 20.0);
    close(after[0][DECLICK], want, 1e-6, "−6 dB after both 10 ms ramps");
    // Monotonic: no overshoot or click on the way.
    assert!(after[0][..DECLICK].windows(2).all(|w| w[1] <= w[0] + 1e-7));
}

#[test]
fn a_morph_scene_glides_in_db_over_its_time() {
    let (_e, mut audio) = engine(scened(), 512);
    process(&mut audio, 512, 512);
    audio.set_control(HostControl::Scene(2));
    let out = process(&mut audio, 60_000, 512);
    // Linear in dB from 0 to −20 over 48 000 samples; the strip ramp lags by
    // up to 10 ms (0.2 dB at 20 dB/s) and steps are 32 samples (0.013 dB).
    for (at, want_db) in [(12_000, -5.0), (24_000, -10.0), (36_000, -15.0)] {
        let got = db(out[0][at]);
        assert!((got - want_db).abs() < 0.25, "at {at}: {got} dB, want {want_db} dB");
        assert!(got > want_db, "the ramps lag behind, never ahead");
    }
    close(db(out[0][59_999]), -20.0, 1e-4, "the morph ends on the scene");
}

#[test]
fn scene_morph_interpolates_a_to_b_and_defaults_to_the_current_scene() {
    let (_e, mut audio) = engine(scened(), 512);
    audio.set_control(HostControl::MorphA(1));
    audio.set_control(HostControl::MorphB(2));
    audio.set_control(HostControl::Morph(0.25));
    let out = process(&mut audio, 512, 512);
    // −6 + (−20 − −6)·0.25 = −9.5 dB, from the first sample (nothing played yet).
    close(db(out[0][0]), -9.5, 1e-4, "A→B at 25 %");
    audio.set_control(HostControl::MorphA(0));
    audio.set_control(HostControl::Morph(1.0));
    let out = process(&mut audio, 4096, 512);
    close(db(out[0][4095]), -20.0, 1e-4, "B alone at 100 %");
    audio.set_control(HostControl::Morph(0.5));
    let out = process(&mut audio, 4096, 512);
    close(db(out[0][4095]), -10.0, 1e-4, "A = 0 follows the current scene (session 0 dB), halfway to −20 dB");
}

#[test]
fn macros_offset_the_scene_value_and_compose_with_the_host_trim() {
    let (_e, mut audio) = engine(scened(), 512);
    audio.set_control(HostControl::Scene(1));
    audio.set_control(HostControl::Macro(0, 0.5));
    let out = process(&mut audio, 512, 512);
    // Scene −6 dB, macro exp curve: −12 · 0.5² = −3 dB → −9 dB; pan +2·0.5 = +1
    // (balance law: the left side is silent, the right at full level).
    close(db(out[1][0]), -9.0, 1e-4, "scene + macro");
    assert_eq!(out[0][0], 0.0, "pan offset +1 → hard right");
    audio.set_control(HostControl::Macro(0, 1.0));
    audio.set_strip(1, StripControl::TrimDb(4.0));
    let out = process(&mut audio, 4096, 512);
    // −6 − 12 + 4 = −14 dB; the pan offset of +2 is clamped to +1.
    close(db(out[1][4095]), -14.0, 1e-4, "scene + macro + host trim");
    assert_eq!(out[0][4095], 0.0);
}

#[test]
fn scenes_move_sends_mutes_and_insert_parameters() {
    let s = scened();
    let (_e, mut audio) = engine(s, 512);
    let out = process(&mut audio, 1024, 512);
    assert_eq!(out[0][1023], 1.0, "only a is heard; the send is at −144 dB");
    audio.set_control(HostControl::Scene(3));
    let out = process(&mut audio, 4096, 512);
    // a is muted; the pre-fader send at 0 dB carries a after its utility
    // (−12 dB) to fx: the master hears −12 dB.
    close(db(out[0][4095]), -12.0, 1e-4, "send 0 dB of a −12 dB utility, a muted");
}

#[test]
fn a_morph_gives_the_same_samples_whatever_the_block_size() {
    let reference = {
        let (_e, mut audio) = engine(scened(), 4096);
        let mut out = process(&mut audio, 1000, 4096);
        audio.set_control(HostControl::Scene(2));
        let rest = process(&mut audio, 30_000, 4096);
        out[0].extend(&rest[0]);
        out
    };
    for block in [1, 64, 511] {
        let (_e, mut audio) = engine(scened(), 4096);
        let mut out = process(&mut audio, 1000, block);
        audio.set_control(HostControl::Scene(2));
        let rest = process(&mut audio, 30_000, block);
        out[0].extend(&rest[0]);
        assert!(out[0] == reference[0], "block {block} differs from one 4096 block");
    }
}

#[test]
fn host_controls_survive_a_session_reload_and_reach_new_scenes() {
    let (mut engine, mut audio) = engine(scened(), 512);
    audio.set_control(HostControl::Scene(1));
    process(&mut audio, 512, 512);
    let mut edited = scened();
    edited.scenes[0].values.insert("a.gainDb".into(), mam_core::session::ParamValue::Number(-12.0));
    engine.load(edited).unwrap();
    let out = process(&mut audio, 4096, 512);
    close(db(out[0][4095]), -12.0, 1e-4, "scene 1 stays selected and takes its new value");
}

#[test]
fn a_ducker_slot_mix_of_zero_leaves_the_bus_dry() {
    // in ─▶ [bed: spectral_ducker keyed by key] ─▶ master; key ─▶ [k: muted]
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" }, { "id": "key" } ],
        "buses": [ { "id": "bed", "inserts": [ { "id": "d", "type": "spectral_ducker", "sidechain": "key", "params": { "depthDb": 24, "thresholdDb": -80, "ratio": 20 } } ] },
                   { "id": "k", "mute": true } ],
        "routes": [ { "from": "in", "to": "bed" }, { "from": "key", "to": "k" } ] }"#,
    );
    const N: usize = 512 * 94;
    let run = |mix: Option<f32>, depth_trim: f32| {
        let (_e, mut audio) = Engine::new(s.clone(), CompileOptions { sample_rate: RATE, max_block: 512, ports: vec![PortBinding::source("in"), PortBinding::source("key")] }).unwrap();
        if let Some(m) = mix {
            audio.set_control(HostControl::DuckerMix(0, m));
        }
        audio.set_control(HostControl::DuckerDepthDb(0, depth_trim));
        let program = white(N, 1, 0.25);
        let key = white(N, 2, 0.5);
        let mut out = vec![0.0; N];
        let mut right = vec![0.0; N];
        for start in (0..N).step_by(512) {
            let r = start..start + 512;
            audio.process(&[&[&program[r.clone()], &program[r.clone()]], &[&key[r.clone()], &key[r.clone()]]], &mut [&mut out[r.clone()], &mut right[r.clone()]], 512);
        }
        (program, out)
    };
    let (program, dry) = run(Some(0.0), 0.0);
    let latency = 2048;
    let err = (24_000..N).map(|i| (dry[i] - program[i - latency]).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-4, "mix 0 → the delayed dry program, worst error {err}");
    let (_, wet) = run(None, 0.0);
    let (_, shallow) = run(None, -18.0);
    let (_, none) = run(None, -30.0);
    let power = |x: &[f32]| x[24_000..].iter().map(|s| (s * s) as f64).sum::<f64>();
    let (p_dry, p_wet, p_shallow) = (power(&dry), power(&wet), power(&shallow));
    assert!(p_wet < p_dry * 0.25, "24 dB depth under a full-band key ducks by more than 6 dB: {p_wet} vs {p_dry}");
    assert!(p_shallow > p_wet * 1.5 && p_shallow < p_dry * 0.9, "a −18 dB trim (6 dB depth) ducks less: {p_shallow}");
    let err = (24_000..N).map(|i| (none[i] - program[i - latency]).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-4, "a −30 dB trim clamps the depth at 0 dB: transparent, worst error {err}");
}

#[test]
fn scenes_and_macros_round_trip_through_the_saver() {
    let s = scened();
    let text = save::to_string(&s);
    let again = load_str(&text).unwrap().session;
    assert_eq!(again, s);
    assert_eq!(save::to_string(&again), text, "byte-identical second save");
}

#[test]
fn bad_scene_and_macro_values_are_errors_at_their_paths() {
    let base = |scenes: &str, macros: &str| {
        format!(
            r#"{{ "version": 1, "buses": [ {{ "id": "a", "inserts": [ {{ "id": "d", "type": "spectral_ducker" }}, {{ "id": "c", "type": "chorus" }} ] }} ],
            "scenes": {scenes}, "macros": {macros} }}"#
        )
    };
    let cases = [
        (base(r#"[ { "values": { "b.gainDb": -3 } } ]"#, "[]"), "scenes[0].values[\"b.gainDb\"]", "does not start with a bus id"),
        (base(r#"[ { "values": { "a.gainDb": 30 } } ]"#, "[]"), "scenes[0].values[\"a.gainDb\"]", "out of range"),
        (base(r#"[ { "values": { "a/d.fftSize": 1024 } } ]"#, "[]"), "scenes[0].values[\"a/d.fftSize\"]", "changes the latency"),
        (base(r#"[ { "values": { "a.mute": 1 } } ]"#, "[]"), "scenes[0].values[\"a.mute\"]", "expected true or false"),
        (base(r#"[ { "transition": "morph" } ]"#, "[]"), "scenes[0].morphMs", "needs 'morphMs'"),
        (base(r#"[ { "transition": "fade" } ]"#, "[]"), "scenes[0].transition", "unknown value 'fade'"),
        (base(r#"[ { "values": { "a/d.algorithm": "filterbank" } } ]"#, "[]"), "scenes[0].values[\"a/d.algorithm\"]", "changes the latency"),
        (base(r#"[ { "values": { "a/d.bands": 32 } } ]"#, "[]"), "scenes[0].values[\"a/d.bands\"]", "sets the insert's structure"),
        (base("[]", r#"[ { "targets": [ { "path": "a/d.overlap", "max": 4 } ] } ]"#), "macros[0].targets[0].path", "sets the insert's structure"),
        (base("[]", r#"[ { "targets": [ { "path": "a/c.voices", "max": 2 } ] } ]"#), "macros[0].targets[0].path", "cannot offset"),
        (base("[]", r#"[ { "targets": [ { "path": "a/x.mix", "max": 1 } ] } ]"#), "macros[0].targets[0].path", "no insert 'x'"),
        (base("[]", r#"[ { "targets": [ { "path": "a.pan" } ] } ]"#), "macros[0].targets[0].max", "missing 'max'"),
        (base(&format!("[{}]", vec!["{}"; 17].join(",")), "[]"), "scenes", "at most 16"),
    ];
    for (json, path, message) in cases {
        let err = load_str(&json).expect_err(path);
        assert!(
            err.errors.iter().any(|d| d.path == path && d.message.contains(message)),
            "want '{message}' at {path}, got {:?}",
            err.errors
        );
    }
}
