//! Controller mappings (issue 13): the transform formulas, the loader's
//! checks and saver, and MIDI/OSC messages through the engine — where they
//! land, what feedback the controller gets, what the log of mapped moves
//! says, that nothing allocates and that block sizes do not matter.
//! Expected levels come from the formulas: a CC value v on a fader mapped
//! to `min … max` dB stands at `min + (max − min)·v/127` dB, so a constant
//! input comes out scaled by `10^(dB/20)`.

use super::alloc_guard::allocations_in;
use super::support::*;
use mam_core::engine::{AudioProcessor, Engine, Feedback, Mapped, MappedEvent};
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::graph::controls::HostControl;
use mam_core::mapping::transform::{relative_ticks, to_14bit, to_7bit, Shape};
use mam_core::mapping::{osc_hash, Action, ControllerInput, Curve, Encoding, Input, Mapping, Mode, OscSettings, Seen, Target, Transform};
use mam_core::session::{load_str, save, Session};
use mam_core::transport::Transport;

const RATE: f32 = 48_000.0;
/// The level DC input enters at (below 1, so a gain above unity shows too).
const IN: f32 = 0.5;

// ─── Transform formulas ──────────────────────────────────────────────────

fn shape(min: f32, max: f32, exponent: f32) -> Shape {
    Shape { min, max, exponent, deadzone: 0.0, steps: 0, invert: false }
}

/// Positions 0, 1/40, …, 1.
fn grid() -> impl Iterator<Item = f64> {
    (0..=40).map(|i| i as f64 / 40.0)
}

/// `forward` against `want(x)` (f64) at every grid position. f32 holds a
/// value of magnitude ≤ 60 to 4e-6 and `powf` adds a few ulps: 1e-4 of a
/// unit is far above that and far below any step a test tells apart.
#[track_caller]
fn check_forward(s: &Shape, want: impl Fn(f64) -> f64, what: &str) {
    for x in grid() {
        close(s.forward(x as f32), want(x) as f32, 1e-4, &format!("{what} at x = {x}"));
    }
}

#[test]
fn curves_map_the_travel_by_their_exponent() {
    assert_eq!([Curve::Linear, Curve::Exp, Curve::Log, Curve::Power(3.0)].map(Curve::exponent), [1.0, 2.0, 0.5, 3.0]);
    check_forward(&shape(-60.0, 6.0, 1.0), |x| -60.0 + 66.0 * x, "linear");
    check_forward(&shape(-60.0, 6.0, 2.0), |x| -60.0 + 66.0 * x * x, "exp");
    check_forward(&shape(-60.0, 6.0, 0.5), |x| -60.0 + 66.0 * x.sqrt(), "log");
    check_forward(&shape(0.0, 1.0, 3.0), |x| x * x * x, "power 3");
    // The ends are the range's ends exactly, whatever the curve.
    for k in [1.0, 2.0, 0.5, 3.0] {
        let s = shape(-60.0, 6.0, k);
        assert_eq!((s.forward(0.0), s.forward(1.0)), (-60.0, 6.0), "k = {k}");
    }
    // A range written high to low runs down.
    check_forward(&shape(6.0, -60.0, 1.0), |x| 6.0 - 66.0 * x, "reversed range");
}

#[test]
fn the_deadzone_reads_both_ends_as_the_ends() {
    let s = Shape { deadzone: 0.1, ..shape(-60.0, 6.0, 1.0) };
    for x in [0.0, 0.05, 0.1] {
        assert_eq!(s.forward(x), -60.0, "low end at {x}");
    }
    for x in [0.95, 1.0] {
        assert_eq!(s.forward(x), 6.0, "high end at {x}");
    }
    // 0.9 − 0.1 and 1 − 0.2 round apart in f32: the top within an ulp.
    close(s.forward(0.9), 6.0, 1e-5, "high end at 0.9");
    // In between the remaining 0.8 of the travel spans the whole range.
    check_forward(&s, |x| -60.0 + 66.0 * ((x - 0.1) / 0.8).clamp(0.0, 1.0), "deadzone 0.1");
    close(s.forward(0.5), -27.0, 1e-4, "centre");
    close(s.forward(0.3), -60.0 + 66.0 * 0.25, 1e-4, "a quarter of the live travel");
}

#[test]
fn steps_quantize_to_evenly_spaced_values() {
    let s = Shape { steps: 5, ..shape(0.0, 1.0, 1.0) };
    // Five values 0, ¼, ½, ¾, 1; each position goes to the nearest.
    for (x, want) in [(0.0, 0.0), (0.12, 0.0), (0.13, 0.25), (0.3, 0.25), (0.38, 0.5), (0.62, 0.5), (0.63, 0.75), (0.9, 1.0), (1.0, 1.0)] {
        assert_eq!(s.forward(x), want, "x = {x}");
    }
    // On a dB range: steps of 66/4 = 16.5 dB.
    let db = Shape { steps: 5, ..shape(-60.0, 6.0, 1.0) };
    check_forward(&db, |x| -60.0 + 16.5 * (x * 4.0).round(), "5 steps over −60…6 dB");
}

#[test]
fn invert_runs_the_travel_backwards() {
    let s = Shape { invert: true, ..shape(-60.0, 6.0, 1.0) };
    check_forward(&s, |x| 6.0 - 66.0 * x, "inverted linear");
    // Everything together: invert, then deadzone 0.05, then exp, then 9
    // steps. Positions whose curve lands half-way between two steps (x =
    // 0.275: y = 0.75, 8y² = 4.5) round either way in f32, so are left out.
    let all = Shape { min: -60.0, max: 6.0, exponent: 2.0, deadzone: 0.05, steps: 9, invert: true };
    let steps_of = |x: f64| {
        let y = ((1.0 - x - 0.05) / 0.9).clamp(0.0, 1.0);
        y * y * 8.0
    };
    for x in grid().filter(|&x| (steps_of(x).fract() - 0.5).abs() > 1e-4) {
        let want = -60.0 + 66.0 * steps_of(x).round() / 8.0;
        close(all.forward(x as f32), want as f32, 1e-4, &format!("invert + deadzone + exp + steps at {x}"));
    }
}

#[test]
fn inverse_undoes_forward() {
    let shapes = [
        shape(-60.0, 6.0, 1.0),
        shape(-60.0, 6.0, 2.0),
        shape(-60.0, 6.0, 0.5),
        shape(0.0, 1.0, 3.0),
        Shape { invert: true, ..shape(-144.0, 24.0, 2.0) },
        shape(6.0, -60.0, 1.0),
    ];
    for s in &shapes {
        for x in grid() {
            // The value carries at most an ulp of the range's end (≤ 9e-8
            // of the span); the curve's slope k·x^(k−1) at the smallest
            // grid step, x = 1/40, divides it by at most 20: ≤ 2e-6 of the
            // travel, so 2e-5 is safe and far below a 14-bit step (6e-5).
            close(s.inverse(s.forward(x as f32)), x as f32, 2e-5, &format!("{s:?} at {x}"));
        }
    }
    // With a deadzone the live travel comes back; the dead ends read as 0
    // and 1 (the edges themselves, 0.1 and 0.9, fall either side in f32).
    let d = Shape { deadzone: 0.1, ..shape(-60.0, 6.0, 1.0) };
    for x in grid().filter(|x| (x - 0.1).abs() > 1e-9 && (x - 0.9).abs() > 1e-9) {
        let want = if x <= 0.1 { 0.0 } else if x >= 0.9 { 1.0 } else { x };
        close(d.inverse(d.forward(x as f32)), want as f32, 1e-5, &format!("deadzone at {x}"));
    }
    // With steps every step value comes back to itself through its position.
    let st = Shape { steps: 7, ..shape(-60.0, 6.0, 2.0) };
    for k in 0..7 {
        let v = st.forward(((k as f64 / 6.0).sqrt()) as f32);
        close(st.forward(st.inverse(v)), v, 1e-4, &format!("step {k}"));
    }
}

#[test]
fn step_from_moves_one_127th_of_the_travel_per_tick() {
    let s = shape(-60.0, 6.0, 1.0);
    // From 0 dB (travel 60/66), +3 ticks: 66·3/127 dB up.
    close(s.step_from(0.0, 3), (66.0 * 3.0 / 127.0) as f32, 1e-4, "+3");
    close(s.step_from(0.0, -10), (-66.0 * 10.0 / 127.0) as f32, 1e-4, "−10");
    // The ends hold.
    assert_eq!(s.step_from(6.0, 5), 6.0);
    assert_eq!(s.step_from(-60.0, -1), -60.0);
    assert_eq!(s.step_from(5.9, 64), 6.0);
    // On a curve the ticks move the position before the curve: from 0.25 on
    // x², position ½, +10 ticks → (½ + 10/127)².
    let e = shape(0.0, 1.0, 2.0);
    close(e.step_from(0.25, 10), (0.5f64 + 10.0 / 127.0).powi(2) as f32, 1e-5, "exp +10");
    // With steps one tick is one step; inverted, ticks run the other way.
    let st = Shape { steps: 12, ..shape(-60.0, 6.0, 1.0) };
    assert_eq!(st.step_from(0.0, 1), 6.0);
    close(st.step_from(0.0, -2), -12.0, 1e-4, "two 6 dB steps down");
    let inv = Shape { invert: true, steps: 5, ..shape(0.0, 1.0, 1.0) };
    assert_eq!(inv.step_from(0.5, 1), 0.25);
    assert_eq!(inv.step_from(0.5, -1), 0.75);
}

#[test]
fn relative_encodings_read_their_tick_counts() {
    for (v, ticks) in [(0, 0), (1, 1), (2, 2), (63, 63), (64, -64), (65, -63), (126, -2), (127, -1)] {
        assert_eq!(relative_ticks(v, Encoding::TwosComplement), ticks, "twos {v}");
    }
    for (v, ticks) in [(64, 0), (65, 1), (66, 2), (127, 63), (63, -1), (1, -63), (0, -64)] {
        assert_eq!(relative_ticks(v, Encoding::Offset64), ticks, "offset64 {v}");
    }
    // Each encoding reads its 128 values as 128 different counts, −64 … 63.
    for e in [Encoding::TwosComplement, Encoding::Offset64] {
        let mut seen: Vec<i32> = (0..128).map(|v| relative_ticks(v, e)).collect();
        seen.sort();
        assert_eq!(seen, (-64..64).collect::<Vec<_>>(), "{e:?}");
    }
}

#[test]
fn midi_values_round_to_the_nearest_code() {
    assert_eq!([0.0, 0.5, 63.4 / 127.0, 63.6 / 127.0, 1.0, 1.5, -1.0].map(to_7bit), [0, 64, 63, 64, 127, 127, 0]);
    assert_eq!([0.0, 0.5, 1.0, 100.0 / 16383.0].map(to_14bit), [0, 8192, 16383, 100]);
}

// ─── Loader and saver ────────────────────────────────────────────────────

/// A session for the loader: bus `bed` (and `fx`), three scenes, one macro,
/// and `rest` (more top-level fields, starting with a comma, or empty).
fn session_text(mappings: &str, rest: &str) -> String {
    format!(
        r#"{{ "version": 1, "racks": [ {{ "id": "in" }} ],
        "buses": [ {{ "id": "bed", "inserts": [ {{ "id": "lim", "type": "limiter" }} ], "sends": [ {{ "to": "fx", "levelDb": -144 }} ] }}, {{ "id": "fx" }} ],
        "routes": [ {{ "from": "in", "to": "bed" }} ],
        "scenes": [ {{ "name": "A", "values": {{ "bed.gainDb": -6 }} }}, {{ "name": "B", "values": {{ "bed.gainDb": -12 }} }},
                    {{ "name": "C", "values": {{ "bed.gainDb": -20 }} }} ],
        "macros": [ {{ "name": "Trim", "targets": [ {{ "path": "bed.gainDb", "max": -12 }} ] }} ],
        "mappings": {mappings} {rest} }}"#
    )
}

/// The issue's example mappings.
const EXAMPLE: &str = r#"[
  { "input": { "type": "cc", "channel": 1, "cc": 7 },
    "transform": { "min": -60, "max": 6, "curve": "linear", "deadzone": 0.02, "smoothMs": 20, "invert": false, "mode": "absolute" },
    "target": { "path": "bed.gainDb" } },
  { "input": { "type": "note", "channel": 10, "note": 36 }, "target": { "action": "scene", "scene": 2 } },
  { "input": { "type": "note", "channel": 10, "note": 37 }, "transform": { "mode": "momentary" }, "target": { "action": "push", "scene": 3 } },
  { "input": { "type": "osc", "address": "/mam/fader/1" }, "target": { "macro": 1 } } ]"#;

/// The JSON paths of the errors `mappings` (and `rest`) give.
fn error_paths(mappings: &str, rest: &str) -> Vec<String> {
    match load_str(&session_text(mappings, rest)) {
        Ok(_) => panic!("loaded, but errors were expected: {mappings} {rest}"),
        Err(e) => e.errors.iter().map(|d| d.path.clone()).collect(),
    }
}

#[test]
fn the_issues_example_loads_as_written() {
    let loaded = load_str(&session_text(EXAMPLE, "")).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let m = &loaded.session.mappings;
    let want = vec![
        Mapping {
            input: Input::Cc { channel: 1, cc: 7, lsb: None },
            transform: Transform { min: Some(-60.0), max: Some(6.0), curve: Curve::Linear, deadzone: 0.02, smooth_ms: 20.0, steps: None, invert: false, mode: Some(Mode::Absolute) },
            target: Target::Path("bed.gainDb".into()),
        },
        Mapping { input: Input::Note { channel: 10, note: 36, gate: false }, transform: Transform::default(), target: Target::Action(Action::Scene(2)) },
        Mapping {
            input: Input::Note { channel: 10, note: 37, gate: false },
            transform: Transform { mode: Some(Mode::Momentary), ..Transform::default() },
            target: Target::Action(Action::Push(3)),
        },
        Mapping { input: Input::Osc { address: "/mam/fader/1".into() }, transform: Transform::default(), target: Target::Macro(1) },
    ];
    assert_eq!(m, &want);
    assert_eq!(loaded.session.osc, OscSettings { enabled: false, port: 9000 }, "OSC off on port 9000 unless the file says");
}

#[test]
fn every_kind_of_mapping_survives_load_save_load() {
    let all = r#"[
      { "input": { "type": "cc", "channel": 1, "cc": 7 },
        "transform": { "min": -60, "max": 6, "curve": "exp", "deadzone": 0.02, "smoothMs": 20, "steps": 12, "invert": true, "mode": "absolute" },
        "target": { "path": "bed.gainDb" } },
      { "input": { "type": "cc", "channel": 2, "cc": 1, "fourteenBit": true }, "transform": { "curve": 1.7 }, "target": { "path": "bed/lim.ceilingDb" } },
      { "input": { "type": "cc", "channel": 16, "cc": 10 }, "transform": { "mode": "relative", "encoding": "offset64" }, "target": { "path": "bed.pan" } },
      { "input": { "type": "cc", "channel": 3, "cc": 11 }, "transform": { "mode": "relative" }, "target": { "macro": 1 } },
      { "input": { "type": "note", "channel": 10, "note": 36, "value": "gate" }, "transform": { "curve": "log" }, "target": { "path": "fx.gainDb" } },
      { "input": { "type": "note", "channel": 10, "note": 37 }, "transform": { "mode": "toggle" }, "target": { "action": "push", "scene": 3 } },
      { "input": { "type": "pitchbend", "channel": 4 }, "target": { "path": "bed.send.fx" } },
      { "input": { "type": "pressure", "channel": 5 }, "target": { "macro": 1 } },
      { "input": { "type": "osc", "address": "/mam/scene" }, "target": { "action": "scene_next" } },
      { "input": { "type": "note", "channel": 1, "note": 1 }, "target": { "action": "scene_prev" } },
      { "input": { "type": "note", "channel": 1, "note": 2 }, "target": { "action": "pop" } },
      { "input": { "type": "note", "channel": 1, "note": 3 }, "target": { "action": "mute", "bus": "bed" } },
      { "input": { "type": "note", "channel": 1, "note": 4 }, "transform": { "mode": "momentary" }, "target": { "action": "solo", "bus": "fx" } },
      { "input": { "type": "note", "channel": 1, "note": 5 }, "target": { "action": "record" } },
      { "input": { "type": "note", "channel": 1, "note": 6 }, "target": { "action": "play" } },
      { "input": { "type": "note", "channel": 1, "note": 7 }, "target": { "action": "scene", "scene": 0 } } ]"#;
    let text = session_text(all, r#", "osc": { "enabled": true, "port": 9001 }"#);
    let first = load_str(&text).unwrap_or_else(|e| panic!("{e}")).session;
    assert_eq!(first.mappings.len(), 16);
    assert_eq!(first.osc, OscSettings { enabled: true, port: 9001 });
    // `fourteenBit` on cc 1 pairs it with cc 33.
    assert_eq!(first.mappings[1].input, Input::Cc { channel: 2, cc: 1, lsb: Some(33) });
    assert_eq!(first.mappings[2].transform.mode, Some(Mode::Relative(Encoding::Offset64)));
    assert_eq!(first.mappings[3].transform.mode, Some(Mode::Relative(Encoding::TwosComplement)), "twos by default");
    let saved = save::to_string(&first);
    let second = load_str(&saved).unwrap_or_else(|e| panic!("saved session does not load: {e}\n{saved}")).session;
    assert_eq!(second, first, "load → save → load");
    assert_eq!(save::to_string(&second), saved, "the same session saves to the same bytes");
    // The OSC block is written as the issue spells it.
    let v: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(v["osc"], serde_json::json!({ "enabled": true, "port": 9001 }));
}

#[test]
fn a_session_without_mappings_saves_none() {
    let s = load_str(&session_text("[]", "")).unwrap().session;
    let v: serde_json::Value = serde_json::from_str(&save::to_string(&s)).unwrap();
    assert!(v.get("mappings").is_none() && v.get("osc").is_none(), "{v}");
}

#[test]
fn bad_mappings_are_errors_at_their_json_paths() {
    let cc = |extra: &str| format!(r#"[ {{ "input": {{ "type": "cc", "channel": 1, "cc": 7 }}, {extra} }} ]"#);
    let cases: Vec<(String, &str)> = vec![
        (cc(r#""target": { "path": "bed.gain" }"#), "mappings[0].target.path"),
        (cc(r#""target": { "path": "nobus.gainDb" }"#), "mappings[0].target.path"),
        // A latency parameter is not a scene or mapping value.
        (cc(r#""target": { "path": "bed/lim.lookaheadMs" }"#), "mappings[0].target.path"),
        (r#"[ { "input": { "type": "cc", "channel": 0, "cc": 7 }, "target": { "macro": 1 } } ]"#.into(), "mappings[0].input.channel"),
        (r#"[ { "input": { "type": "cc", "channel": 17, "cc": 7 }, "target": { "macro": 1 } } ]"#.into(), "mappings[0].input.channel"),
        (r#"[ { "input": { "type": "note", "channel": 17, "note": 7 }, "target": { "macro": 1 } } ]"#.into(), "mappings[0].input.channel"),
        (r#"[ { "input": { "type": "cc", "channel": 1, "cc": 128 }, "target": { "macro": 1 } } ]"#.into(), "mappings[0].input.cc"),
        (r#"[ { "input": { "type": "cc", "channel": 1, "cc": 40, "fourteenBit": true }, "target": { "macro": 1 } } ]"#.into(), "mappings[0].input.fourteenBit"),
        (cc(r#""transform": { "min": -200, "max": 6 }, "target": { "path": "bed.gainDb" }"#), "mappings[0].transform.min"),
        (cc(r#""transform": { "min": -60, "max": 30 }, "target": { "path": "bed.gainDb" }"#), "mappings[0].transform.max"),
        (cc(r#""transform": { "max": 2 }, "target": { "macro": 1 }"#), "mappings[0].transform.max"),
        (cc(r#""target": { "action": "mute", "bus": "drums" }"#), "mappings[0].target.bus"),
        (cc(r#""target": { "action": "solo" }"#), "mappings[0].target.bus"),
        (cc(r#""target": { "action": "scene", "scene": 4 }"#), "mappings[0].target.scene"),
        (cc(r#""target": { "action": "push", "scene": 0 }"#), "mappings[0].target.scene"),
        (r#"[ { "input": { "type": "note", "channel": 1, "note": 36 }, "transform": { "mode": "relative" }, "target": { "path": "bed.gainDb" } } ]"#.into(), "mappings[0].transform.mode"),
        (cc(r#""transform": { "mode": "toggle" }, "target": { "action": "scene", "scene": 1 }"#), "mappings[0].transform.mode"),
        (cc(r#""target": { "action": "explode" }"#), "mappings[0].target.action"),
        (cc(r#""target": { "macro": 9 }"#), "mappings[0].target.macro"),
        (cc(r#""target": { "macro": 1, "path": "bed.gainDb" }"#), "mappings[0].target"),
        (r#"[ { "input": { "type": "sysex", "channel": 1 }, "target": { "macro": 1 } } ]"#.into(), "mappings[0].input.type"),
        (r#"[ { "input": { "type": "osc", "address": "no slash" }, "target": { "macro": 1 } } ]"#.into(), "mappings[0].input.address"),
        (cc(r#""transform": { "curve": "wobbly" }, "target": { "macro": 1 }"#), "mappings[0].transform.curve"),
        (cc(r#""transform": { "deadzone": 0.5 }, "target": { "macro": 1 }"#), "mappings[0].transform.deadzone"),
        (cc(r#""transform": { "steps": 1 }, "target": { "macro": 1 }"#), "mappings[0].transform.steps"),
        (r#"[ { "target": { "macro": 1 } } ]"#.into(), "mappings[0].input"),
    ];
    for (mappings, want) in &cases {
        let paths = error_paths(mappings, "");
        assert!(paths.iter().any(|p| p == want), "{mappings}: errors at {paths:?}, expected {want}");
    }
    // Errors name the mapping they are in.
    let second = r#"[ { "input": { "type": "cc", "channel": 1, "cc": 1 }, "target": { "macro": 1 } },
                      { "input": { "type": "cc", "channel": 1, "cc": 7 }, "target": { "path": "bed.gain" } } ]"#;
    assert_eq!(error_paths(second, ""), vec!["mappings[1].target.path".to_string()]);
}

#[test]
fn osc_settings_load_and_bad_ports_are_errors() {
    let s = load_str(&session_text("[]", r#", "osc": { "enabled": true, "port": 9001 }"#)).unwrap().session;
    assert_eq!(s.osc, OscSettings { enabled: true, port: 9001 });
    for port in ["0", "80", "65536", "-1", "9000.5", "\"9000\""] {
        let paths = error_paths("[]", &format!(r#", "osc": {{ "enabled": true, "port": {port} }}"#));
        assert!(paths.contains(&"osc.port".to_string()), "port {port}: {paths:?}");
    }
    assert!(error_paths("[]", r#", "osc": { "enabled": "yes" }"#).contains(&"osc.enabled".to_string()));
}

// ─── Through the engine ──────────────────────────────────────────────────

/// ```text
///   in ─▶ [bed: 0 dB] ─▶ master
/// ```
/// 120 BPM 4/4 at 48 kHz. Scenes: 1 "Low" bed −6 dB, 2 "Drop" −20 dB (both
/// instant), 3 "Hold" −30 dB (morph 50 ms), 4 "Beat" −12 dB quantized to
/// the beat. Macro 1 "Trim" offsets bed by 0 … −12 dB. `mappings` is the
/// JSON array of the session's mappings.
fn mixer(mappings: &str) -> Session {
    session(&format!(
        r#"{{ "version": 1, "tempo": 120, "racks": [ {{ "id": "in" }} ],
        "buses": [ {{ "id": "bed" }} ], "routes": [ {{ "from": "in", "to": "bed" }} ],
        "scenes": [
          {{ "name": "Low", "values": {{ "bed.gainDb": -6 }} }},
          {{ "name": "Drop", "values": {{ "bed.gainDb": -20 }} }},
          {{ "name": "Hold", "transition": "morph", "morphMs": 50, "values": {{ "bed.gainDb": -30 }} }},
          {{ "name": "Beat", "quantize": "beat", "values": {{ "bed.gainDb": -12 }} }} ],
        "macros": [ {{ "name": "Trim", "targets": [ {{ "path": "bed.gainDb", "max": -12 }} ] }} ],
        "mappings": {mappings} }}"#
    ))
}

/// A fader: CC 7 on channel 1 → bed.gainDb over −60 … +6 dB, 20 ms smoothing.
const FADER: &str = r#"{ "input": { "type": "cc", "channel": 1, "cc": 7 }, "transform": { "min": -60, "max": 6, "smoothMs": 20 }, "target": { "path": "bed.gainDb" } }"#;

fn engine(s: Session) -> (Engine, AudioProcessor) {
    Engine::new(s, CompileOptions { sample_rate: RATE, max_block: 4096, ports: vec![PortBinding::source("in")] }).unwrap()
}

fn cc(channel: u8, cc: u8, value: u8) -> ControllerInput {
    ControllerInput::Midi([0xb0 | (channel - 1), cc, value])
}

fn note_on(channel: u8, note: u8, velocity: u8) -> ControllerInput {
    ControllerInput::Midi([0x90 | (channel - 1), note, velocity])
}

fn note_off(channel: u8, note: u8) -> ControllerInput {
    ControllerInput::Midi([0x80 | (channel - 1), note, 0])
}

/// Something that happens between two process calls.
#[derive(Clone, Copy, Debug)]
enum Event {
    Controller(ControllerInput),
    Host(HostControl),
}

/// Plays `frames` frames of DC [`IN`] through `audio` in host blocks of
/// `block` (with a rolling 120 BPM transport set at each block's start
/// when `rolling`), split at every event `(sample, event)` (sorted), which
/// is given between the two parts. Returns the left channel.
fn play(audio: &mut AudioProcessor, frames: usize, block: usize, rolling: bool, events: &[(usize, Event)]) -> Vec<f32> {
    let input = dc(block.max(4096), IN);
    let mut left = vec![0.0f32; frames];
    let mut right = vec![0.0f32; frames];
    let mut next = 0;
    let mut at = 0;
    while at < frames {
        let end = (at + block).min(frames);
        if rolling {
            audio.set_transport(&Transport::rolling(at as u64, RATE as f64, 120.0, (4, 4)));
        }
        let mut start = at;
        while start < end {
            while let Some(&(_, event)) = events.get(next).filter(|(t, _)| *t <= start) {
                match event {
                    Event::Controller(input) => drop(audio.controller(input)),
                    Event::Host(control) => audio.set_control(control),
                }
                next += 1;
            }
            let until = events.get(next).map_or(end, |(t, _)| (*t).clamp(start + 1, end));
            let n = until - start;
            audio.process(&[&[&input[..n], &input[..n]]], &mut [&mut left[start..until], &mut right[start..until]], n);
            start = until;
        }
        at = end;
    }
    assert_eq!(left, right, "both channels alike");
    left
}

/// Runs `frames` more frames of DC in one call; returns the left channel.
fn run(audio: &mut AudioProcessor, frames: usize) -> Vec<f32> {
    play(audio, frames, frames, false, &[])
}

fn gain(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// The level a fader over `min … max` dB stands at for 7-bit value `v`.
fn fader_db(min: f64, max: f64, v: u8) -> f64 {
    min + (max - min) * v as f64 / 127.0
}

/// Asserts every sample of `out` is one and the same, and that it is DC
/// [`IN`] scaled by `db`. The mapped value is computed in f32 (a level
/// near 60 dB to ~8e-6 dB, 1e-6 of the gain) and the strip's gain in f32:
/// 5e-6 of the gain bounds both and tells apart levels 4e-5 dB apart.
#[track_caller]
fn assert_level(out: &[f32], db: f64, what: &str) {
    assert!(out.iter().all(|&x| x == out[0]), "{what}: not settled ({} … {})", out[0], out[out.len() - 1]);
    let ratio = out[0] as f64 / IN as f64;
    let want = gain(db);
    assert!((ratio - want).abs() <= 5e-6 * want, "{what}: gain {ratio}, want {want} ({db} dB)");
}

/// The strip's declick: 10 ms.
const STRIP_RAMP: usize = 480;

#[test]
fn a_cc_at_sample_200_moves_the_fader_from_sample_200_over_its_smoothing() {
    let s = mixer(&format!("[ {FADER} ]"));
    let (_e, mut reference) = engine(s.clone());
    let still = play(&mut reference, 4000, 512, false, &[]);
    assert!(still.iter().all(|&x| x == IN), "unity without the CC");
    for v in [64u8, 0, 127, 100] {
        let (_e, mut audio) = engine(s.clone());
        let out = play(&mut audio, 4000, 512, false, &[(200, Event::Controller(cc(1, 7, v)))]);
        assert_eq!(out[..200], still[..200], "v {v}: nothing moves before the message");
        assert_ne!(out[200], still[200], "v {v}: the first sample after the message moves (latency 0)");
        // 20 ms of mapped ramp (960 samples, 32-sample control steps) and the
        // strip's 10 ms behind its last step: settled 1440 samples on.
        let ramp = 960;
        let db = fader_db(-60.0, 6.0, v);
        assert!((out[200 + ramp - 64] as f64 / IN as f64 - gain(db)).abs() > 1e-3 * gain(db), "v {v}: still gliding before the 20 ms are up");
        assert_level(&out[200 + ramp + STRIP_RAMP..], db, &format!("v {v}"));
        let glide = &out[199..200 + ramp + STRIP_RAMP];
        if db < 0.0 {
            assert!(glide.windows(2).all(|w| w[1] <= w[0]), "v {v}: straight down, no overshoot");
        } else {
            assert!(glide.windows(2).all(|w| w[1] >= w[0]), "v {v}: straight up, no overshoot");
        }
    }
}

#[test]
fn a_controller_message_not_mapped_changes_nothing() {
    let (_e, mut audio) = engine(mixer(&format!("[ {FADER} ]")));
    run(&mut audio, 100);
    for msg in [cc(2, 7, 10), cc(1, 8, 10), note_on(1, 7, 100), ControllerInput::Osc { hash: osc_hash("/a"), value: 0.3 }] {
        assert!(!audio.controller(msg), "{msg:?} is not mapped");
    }
    assert!(audio.controller(cc(1, 7, 127)), "the fader takes its CC");
    assert!(run(&mut audio, 100)[0] != IN);
}

#[test]
fn a_14_bit_pair_reads_msb_then_lsb() {
    let s = mixer(
        r#"[ { "input": { "type": "cc", "channel": 1, "cc": 1, "fourteenBit": true },
               "transform": { "min": -60, "max": 6, "smoothMs": 0 }, "target": { "path": "bed.gainDb" } } ]"#,
    );
    let (_e, mut audio) = engine(s);
    let db14 = |code: u32| -60.0 + 66.0 * code as f64 / 16383.0;
    run(&mut audio, 64);
    audio.controller(cc(1, 1, 100));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], db14(100 << 7), "MSB 100 alone (LSB 0)");
    audio.controller(cc(1, 33, 50));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], db14(100 << 7 | 50), "MSB 100, LSB 50");
    // A new MSB resets the LSB to 0 (the MIDI rule).
    audio.controller(cc(1, 1, 90));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], db14(90 << 7), "MSB 90: LSB back to 0");
    audio.controller(cc(1, 33, 127));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], db14(90 << 7 | 127), "MSB 90, LSB 127");
    audio.controller(cc(1, 1, 127));
    audio.controller(cc(1, 33, 127));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], 6.0, "16383 is the top");
}

#[test]
fn pitch_bend_pressure_and_gated_notes_move_their_targets() {
    let s = mixer(
        r#"[ { "input": { "type": "pitchbend", "channel": 2 }, "transform": { "min": -60, "max": 6, "smoothMs": 0 }, "target": { "path": "bed.gainDb" } },
             { "input": { "type": "pressure", "channel": 3 }, "transform": { "min": -60, "max": 6, "smoothMs": 0 }, "target": { "path": "bed.gainDb" } },
             { "input": { "type": "note", "channel": 4, "note": 60, "value": "gate" }, "transform": { "min": -30, "max": -10, "smoothMs": 0 }, "target": { "path": "bed.gainDb" } } ]"#,
    );
    let (_e, mut audio) = engine(s);
    run(&mut audio, 64);
    // Pitch bend: LSB first, 14 bits.
    audio.controller(ControllerInput::Midi([0xe1, 0x05, 0x40]));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -60.0 + 66.0 * (0x40 << 7 | 0x05) as f64 / 16383.0, "bend");
    audio.controller(ControllerInput::Midi([0xd2, 30, 0]));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], fader_db(-60.0, 6.0, 30), "pressure");
    // A gate reads any note on as the top, note off as the bottom.
    audio.controller(note_on(4, 60, 5));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -10.0, "gate on");
    audio.controller(note_off(4, 60));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -30.0, "gate off");
}

#[test]
fn a_note_recalls_its_scene() {
    let s = mixer(r#"[ { "input": { "type": "note", "channel": 10, "note": 36 }, "target": { "action": "scene", "scene": 2 } } ]"#);
    for velocity in [127u8, 100, 64, 30, 1] {
        let (_e, mut audio) = engine(s.clone());
        let out = play(&mut audio, 3000, 256, false, &[(1000, Event::Controller(note_on(10, 36, velocity)))]);
        assert!(out[..1000].iter().all(|&x| x == IN));
        assert_ne!(out[1000], IN, "velocity {velocity}: the recall starts on the note's sample");
        // An instant recall: 10 ms of declick, then the strip's 10 ms.
        assert_level(&out[1000 + 2 * STRIP_RAMP..], -20.0, &format!("velocity {velocity}: scene 2's −20 dB"));
    }
}

#[test]
fn a_momentary_pad_pushes_and_its_release_pops_back_exactly() {
    let pad = r#"{ "input": { "type": "note", "channel": 10, "note": 37 }, "transform": { "mode": "momentary" }, "target": { "action": "push", "scene": 3 } }"#;
    let s = mixer(&format!("[ {FADER}, {pad} ]"));
    // The fader first sets the mix apart from any scene, so "back" is
    // the fader's value, not a scene's.
    let fader = (100, Event::Controller(cc(1, 7, 90)));
    let (_e, mut reference) = engine(s.clone());
    let want = play(&mut reference, 20_000, 512, false, &[fader]);
    let (_e, mut audio) = engine(s);
    let out = play(&mut audio, 20_000, 512, false, &[fader, (4000, Event::Controller(note_on(10, 37, 90))), (9000, Event::Controller(note_off(10, 37)))]);
    assert_eq!(out[..4000], want[..4000]);
    assert_level(&out[3000..4000], fader_db(-60.0, 6.0, 90), "the fader's level");
    // Scene 3 morphs over 50 ms (2400 samples) to −30 dB and holds while the pad is down.
    assert!(out[4000..4000 + 2400].windows(2).all(|w| w[1] <= w[0]));
    assert_level(&out[4000 + 2400 + STRIP_RAMP..9000], -30.0, "pushed scene 3");
    // Released: back over scene 3's 50 ms to exactly the mix before.
    assert!(out[9000] > out[8999]);
    assert_eq!(out[9000 + 2400 + STRIP_RAMP..], want[9000 + 2400 + STRIP_RAMP..], "bit-identical to never having pushed");
}

#[test]
fn a_mute_pad_toggles_the_bus_on_each_press() {
    let s = mixer(r#"[ { "input": { "type": "note", "channel": 1, "note": 40 }, "target": { "action": "mute", "bus": "bed" } } ]"#);
    let (_e, mut audio) = engine(s);
    run(&mut audio, 100);
    audio.controller(note_on(1, 40, 127));
    let out = run(&mut audio, 1000);
    assert!(out[0] < IN && out[STRIP_RAMP..].iter().all(|&x| x == 0.0), "muted after the 10 ms declick");
    // The release does nothing; the next press unmutes, a soft one too.
    audio.controller(note_off(1, 40));
    assert!(run(&mut audio, 1000).iter().all(|&x| x == 0.0), "still muted after the release");
    audio.controller(note_on(1, 40, 20));
    let out = run(&mut audio, 1000);
    assert!(out[0] > 0.0 && out[STRIP_RAMP..].iter().all(|&x| x == IN), "unmuted by the next press");
    // A CC button: 127 presses, 0 releases.
    let s = mixer(r#"[ { "input": { "type": "cc", "channel": 1, "cc": 64 }, "target": { "action": "mute", "bus": "bed" } } ]"#);
    let (_e, mut audio) = engine(s);
    let out = play(
        &mut audio,
        6000,
        512,
        false,
        &[(1000, Event::Controller(cc(1, 64, 127))), (2000, Event::Controller(cc(1, 64, 0))), (3000, Event::Controller(cc(1, 64, 127))), (4000, Event::Controller(cc(1, 64, 0)))],
    );
    assert!(out[1000 + STRIP_RAMP..3000].iter().all(|&x| x == 0.0), "first press mutes, its release keeps it");
    assert!(out[3000 + STRIP_RAMP..].iter().all(|&x| x == IN), "second press unmutes");
}

#[test]
fn macro_targets_set_the_macro() {
    // Macro 1 offsets bed by 0 … −12 dB.
    let s = mixer(
        r#"[ { "input": { "type": "cc", "channel": 1, "cc": 20 }, "target": { "macro": 1 } },
             { "input": { "type": "osc", "address": "/a" }, "target": { "macro": 1 } },
             { "input": { "type": "osc", "address": "/b" }, "transform": { "min": 0.25, "max": 0.75, "curve": "exp" }, "target": { "macro": 1 } } ]"#,
    );
    let (_e, mut audio) = engine(s);
    run(&mut audio, 64);
    audio.controller(cc(1, 20, 127));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -12.0, "CC 127: macro 1 at 1");
    assert!(audio.controller(ControllerInput::Osc { hash: osc_hash("/a"), value: 0.5 }));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -6.0, "OSC /a 0.5: macro 1 at ½");
    // /b maps 0 … 1 onto 0.25 + 0.5·x²: 0.5 → 0.375.
    assert!(audio.controller(ControllerInput::Osc { hash: osc_hash("/b"), value: 0.5 }));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -12.0 * 0.375, "OSC /b 0.5");
    // OSC values outside 0 … 1 clamp; non-numbers are ignored.
    audio.controller(ControllerInput::Osc { hash: osc_hash("/a"), value: 7.0 });
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -12.0, "OSC 7 reads as 1");
    assert!(!audio.controller(ControllerInput::Osc { hash: osc_hash("/a"), value: f32::NAN }));
    assert_level(&run(&mut audio, 2000), -12.0, "NaN ignored");
}

#[test]
fn relative_encoders_move_by_their_ticks() {
    // Two encoders on the same fader, −60 … +6 dB: one tick is 66/127 dB.
    let s = mixer(
        r#"[ { "input": { "type": "cc", "channel": 1, "cc": 10 }, "transform": { "min": -60, "max": 6, "smoothMs": 0, "mode": "relative" }, "target": { "path": "bed.gainDb" } },
             { "input": { "type": "cc", "channel": 1, "cc": 11 }, "transform": { "min": -60, "max": 6, "smoothMs": 0, "mode": "relative", "encoding": "offset64" }, "target": { "path": "bed.gainDb" } },
             { "input": { "type": "cc", "channel": 1, "cc": 12 }, "transform": { "min": -60, "max": 6, "smoothMs": 0, "steps": 12, "mode": "relative" }, "target": { "path": "bed.gainDb" } } ]"#,
    );
    let (_e, mut audio) = engine(s);
    let tick = 66.0 / 127.0;
    run(&mut audio, 64);
    audio.controller(cc(1, 10, 3));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], 3.0 * tick, "twos +3 from 0 dB");
    audio.controller(cc(1, 10, 127));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], 2.0 * tick, "twos −1");
    audio.controller(cc(1, 11, 61));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -tick, "offset64 −3");
    audio.controller(cc(1, 11, 64));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -tick, "offset64 64 moves nothing");
    for _ in 0..4 {
        audio.controller(cc(1, 10, 63));
    }
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], 6.0, "held at the top");
    // 12 steps over 66 dB: 6 dB a tick, on the −60 + 6k grid.
    audio.controller(cc(1, 12, 126));
    assert_level(&run(&mut audio, 2000)[STRIP_RAMP..], -6.0, "two 6 dB steps down from +6");
}

#[test]
fn scene_next_and_prev_walk_the_scenes() {
    let s = mixer(
        r#"[ { "input": { "type": "cc", "channel": 1, "cc": 21 }, "target": { "action": "scene_next" } },
             { "input": { "type": "cc", "channel": 1, "cc": 22 }, "target": { "action": "scene_prev" } } ]"#,
    );
    let (_e, mut audio) = engine(s);
    run(&mut audio, 64);
    let press = |audio: &mut AudioProcessor, cc_num: u8| {
        audio.controller(cc(1, cc_num, 127));
        audio.controller(cc(1, cc_num, 0));
        run(audio, 4000)
    };
    assert_level(&press(&mut audio, 21)[3000..], -6.0, "next: scene 1");
    assert_level(&press(&mut audio, 21)[3000..], -20.0, "next: scene 2");
    assert_level(&press(&mut audio, 22)[3000..], -6.0, "prev: scene 1");
    assert_level(&press(&mut audio, 22)[3000..], 0.0, "prev: scene 0, the session's own");
    assert_level(&press(&mut audio, 22)[3000..], 0.0, "prev stays at 0");
    for _ in 0..6 {
        press(&mut audio, 21);
    }
    assert_level(&press(&mut audio, 21)[3000..], -12.0, "next stays at the last scene, 4");
    // A press is a rising edge: 127 twice is one press.
    audio.controller(cc(1, 22, 127));
    audio.controller(cc(1, 22, 127));
    assert_level(&run(&mut audio, 4000)[3000..], -30.0, "one step back: scene 3");
}

// ─── Feedback ─────────────────────────────────────────────────────────────

/// Collects what `feedback` sends.
fn feedback(audio: &mut AudioProcessor) -> Vec<Feedback> {
    let mut out = Vec::new();
    audio.feedback(&mut |f| out.push(f));
    out
}

/// The 7-bit value a fader over −60 … +6 dB shows for `db`.
fn fader_code(db: f64) -> u8 {
    ((db + 60.0) / 66.0 * 127.0).round() as u8
}

#[test]
fn feedback_follows_every_move_but_the_controllers_own() {
    let s = mixer(&format!(
        r#"[ {FADER},
             {{ "input": {{ "type": "note", "channel": 10, "note": 36 }}, "target": {{ "action": "scene", "scene": 2 }} }},
             {{ "input": {{ "type": "note", "channel": 1, "note": 40 }}, "target": {{ "action": "mute", "bus": "bed" }} }},
             {{ "input": {{ "type": "cc", "channel": 1, "cc": 20 }}, "target": {{ "macro": 1 }} }},
             {{ "input": {{ "type": "osc", "address": "/a" }}, "target": {{ "macro": 1 }} }} ]"#
    ));
    let (_e, mut audio) = engine(s);
    run(&mut audio, 64);
    // First: the controller is told where everything stands.
    let first = feedback(&mut audio);
    let want = vec![
        Feedback::Midi([0xb0, 7, fader_code(0.0)]),
        Feedback::Midi([0x89, 36, 0]),
        Feedback::Midi([0x80, 40, 0]),
        Feedback::Midi([0xb0, 20, 0]),
        Feedback::Osc { hash: osc_hash("/a"), value: 0.0 },
    ];
    assert_eq!(first, want);
    assert_eq!(fader_code(0.0), 115, "0 dB is 60/66 of the travel");
    assert!(feedback(&mut audio).is_empty(), "nothing moved since");

    // The host recalls scene 1: the fader follows to −6 dB.
    audio.set_control(HostControl::Scene(1));
    run(&mut audio, 2000);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0xb0, 7, fader_code(-6.0)])]);
    assert_eq!(fader_code(-6.0), 104);

    // The controller moves the fader itself: no echo.
    audio.controller(cc(1, 7, 90));
    run(&mut audio, 2000);
    assert!(feedback(&mut audio).is_empty(), "the controller's own move is not sent back");

    // Scene 2 comes in: its pad lights (note on 127), the fader goes to −20 dB.
    audio.set_control(HostControl::Scene(2));
    run(&mut audio, 2000);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0xb0, 7, fader_code(-20.0)]), Feedback::Midi([0x99, 36, 127])]);
    // … and goes dark when scene 2 is left.
    audio.set_control(HostControl::Scene(1));
    run(&mut audio, 2000);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0xb0, 7, fader_code(-6.0)]), Feedback::Midi([0x89, 36, 0])]);

    // A pad's light is the state, not what the pad sent: the mute pad
    // pressed on the controller lights (note on 127) and stays lit after
    // its release (the controller's own note off changes nothing).
    audio.controller(note_on(1, 40, 100));
    audio.controller(note_off(1, 40));
    run(&mut audio, 1000);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0x90, 40, 127])]);
    audio.controller(note_on(1, 40, 100));
    audio.controller(note_off(1, 40));
    run(&mut audio, 1000);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0x80, 40, 0])], "unmuted: dark");
    // The scene pad pressed: its scene is current at once, so it lights.
    audio.controller(note_on(10, 36, 100));
    audio.controller(note_off(10, 36));
    run(&mut audio, 2000);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0xb0, 7, fader_code(-20.0)]), Feedback::Midi([0x99, 36, 127])]);

    // The host moves macro 1: both the CC and the OSC control follow.
    audio.set_control(HostControl::Macro(0, 0.25));
    run(&mut audio, 100);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0xb0, 20, 32]), Feedback::Osc { hash: osc_hash("/a"), value: 0.25 }]);
    // The OSC control moves it: the CC on the same macro follows, OSC gets no echo.
    audio.controller(ControllerInput::Osc { hash: osc_hash("/a"), value: 0.5 });
    run(&mut audio, 100);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0xb0, 20, 64])]);
}

#[test]
fn a_scene_pad_lights_when_its_scene_lands_from_the_pad_itself_after_a_quantize_wait() {
    // Scene 4 waits for the next beat (24 000 samples at 120 BPM): the pad
    // lights when it lands, not before.
    let s = mixer(r#"[ { "input": { "type": "note", "channel": 10, "note": 38 }, "target": { "action": "scene", "scene": 4 } } ]"#);
    let (_e, mut audio) = engine(s);
    audio.set_transport(&Transport::rolling(0, RATE as f64, 120.0, (4, 4)));
    run(&mut audio, 1000);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0x89, 38, 0])]);
    audio.controller(note_on(10, 38, 100));
    audio.controller(note_off(10, 38));
    run(&mut audio, 1000);
    assert!(feedback(&mut audio).is_empty(), "armed, not yet current");
    run(&mut audio, 23_000);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0x99, 38, 127])], "lit on the beat");
}

// ─── The log of mapped moves ──────────────────────────────────────────────

#[test]
fn mapped_moves_are_logged_on_their_frames() {
    let pad = |note: u8, target: &str, mode: &str| format!(r#"{{ "input": {{ "type": "note", "channel": 10, "note": {note} }}, {mode} "target": {target} }}"#);
    let s = mixer(&format!(
        "[ {FADER}, {}, {}, {}, {}, {} ]",
        pad(36, r#"{ "action": "scene", "scene": 2 }"#, ""),
        pad(37, r#"{ "action": "push", "scene": 3 }"#, r#""transform": { "mode": "momentary" },"#),
        pad(38, r#"{ "action": "scene", "scene": 4 }"#, ""),
        r#"{ "input": { "type": "osc", "address": "/a" }, "target": { "macro": 1 } }"#,
        pad(40, r#"{ "action": "mute", "bus": "bed" }"#, ""),
    ));
    let (_e, mut audio) = engine(s);
    // A rolling transport from sample 0: the beat is 24 000 samples.
    audio.set_transport(&Transport::rolling(0, RATE as f64, 120.0, (4, 4)));
    run(&mut audio, 100);
    audio.controller(cc(1, 7, 127));
    run(&mut audio, 50);
    audio.controller(note_on(10, 36, 100));
    run(&mut audio, 50);
    audio.controller(note_on(10, 37, 100));
    run(&mut audio, 50);
    audio.controller(note_off(10, 37));
    run(&mut audio, 50);
    audio.controller(ControllerInput::Osc { hash: osc_hash("/a"), value: 0.5 });
    audio.controller(note_on(10, 40, 127));
    run(&mut audio, 700);
    // Scene 4 is quantized to the beat: logged on the sample it starts.
    audio.controller(note_on(10, 38, 127));
    run(&mut audio, 30_000);
    let want = [
        Mapped { frame: 100, event: MappedEvent::Set { mapping: 0, value: 6.0 } },
        Mapped { frame: 150, event: MappedEvent::Scene(2) },
        Mapped { frame: 200, event: MappedEvent::Push(3) },
        Mapped { frame: 250, event: MappedEvent::Pop },
        Mapped { frame: 300, event: MappedEvent::Macro { index: 0, value: 0.5 } },
        Mapped { frame: 300, event: MappedEvent::Set { mapping: 5, value: 1.0 } },
        Mapped { frame: 24_000, event: MappedEvent::Scene(4) },
    ];
    assert_eq!(audio.mapped_moves(), &want[..]);
    assert_eq!(audio.mapped_lost(), 0);
    // The next host block starts a new log.
    audio.set_transport(&Transport::rolling(30_000, RATE as f64, 120.0, (4, 4)));
    assert!(audio.mapped_moves().is_empty());
}

#[test]
fn learn_sees_the_last_moving_input() {
    let (engine, mut audio) = engine(mixer("[]"));
    let monitor = engine.input_monitor();
    assert_eq!(monitor.last(), (0, None));
    audio.controller(cc(3, 21, 5));
    audio.controller(note_off(1, 60));
    assert_eq!(monitor.last(), (1, Some(Seen { kind: 1, channel: 3, number: 21 })), "a note off moves nothing");
    audio.controller(note_on(16, 60, 1));
    assert_eq!(monitor.last(), (2, Some(Seen { kind: 2, channel: 16, number: 60 })));
    assert_eq!(Seen { kind: 2, channel: 16, number: 60 }.input(), Some(Input::Note { channel: 16, note: 60, gate: false }));
}

// ─── Realtime safety and block sizes ─────────────────────────────────────

/// Every kind of mapping.
fn busy() -> Session {
    mixer(&format!(
        r#"[ {FADER},
             {{ "input": {{ "type": "cc", "channel": 1, "cc": 1, "fourteenBit": true }}, "transform": {{ "min": -20, "max": 0, "curve": "exp" }}, "target": {{ "path": "bed.gainDb" }} }},
             {{ "input": {{ "type": "cc", "channel": 1, "cc": 10 }}, "transform": {{ "min": -60, "max": 6, "mode": "relative" }}, "target": {{ "path": "bed.gainDb" }} }},
             {{ "input": {{ "type": "note", "channel": 10, "note": 36 }}, "target": {{ "action": "scene", "scene": 2 }} }},
             {{ "input": {{ "type": "note", "channel": 10, "note": 37 }}, "transform": {{ "mode": "momentary" }}, "target": {{ "action": "push", "scene": 3 }} }},
             {{ "input": {{ "type": "note", "channel": 10, "note": 38 }}, "target": {{ "action": "scene", "scene": 4 }} }},
             {{ "input": {{ "type": "note", "channel": 1, "note": 40 }}, "target": {{ "action": "mute", "bus": "bed" }} }},
             {{ "input": {{ "type": "cc", "channel": 1, "cc": 21 }}, "target": {{ "action": "scene_next" }} }},
             {{ "input": {{ "type": "osc", "address": "/a" }}, "target": {{ "macro": 1 }} }},
             {{ "input": {{ "type": "pitchbend", "channel": 2 }}, "transform": {{ "min": -30, "max": 0 }}, "target": {{ "path": "bed.gainDb" }} }} ]"#
    ))
}

/// A performance on [`busy`]: `(sample, message)`, sorted.
fn performance() -> Vec<(usize, Event)> {
    let c = |t: usize, m: ControllerInput| (t, Event::Controller(m));
    vec![
        c(200, cc(1, 7, 100)),
        c(700, cc(1, 7, 30)),
        c(1023, cc(1, 1, 70)),
        c(1024, cc(1, 33, 5)),
        c(3000, cc(1, 10, 5)),
        c(3001, cc(1, 10, 125)),
        c(5000, note_on(10, 36, 90)),
        c(7777, note_on(10, 37, 127)),
        c(9000, note_off(10, 37)),
        c(11_111, ControllerInput::Osc { hash: osc_hash("/a"), value: 0.8 }),
        c(12_000, note_on(1, 40, 100)),
        c(12_500, note_on(1, 40, 0)),
        c(13_000, note_on(1, 40, 100)),
        c(14_000, ControllerInput::Midi([0xe1, 0, 0x20])),
        (15_000, Event::Host(HostControl::Scene(1))),
        c(16_000, cc(1, 21, 127)),
        c(16_100, cc(1, 21, 0)),
        c(17_000, note_on(10, 38, 127)),
        c(20_000, cc(1, 7, 127)),
    ]
}

#[test]
fn block_sizes_1_64_511_and_4096_are_bit_identical_with_mappings_playing() {
    let events = performance();
    let render = |block: usize| {
        let (_e, mut audio) = engine(busy());
        play(&mut audio, 30_000, block, true, &events)
    };
    let want = render(4096);
    let (_e, mut still) = engine(busy());
    let quiet = play(&mut still, 30_000, 4096, true, &[]);
    assert_ne!(want, quiet, "the performance moved the mix");
    // Scene 4 lands on beat 1 (sample 24 000), wherever the blocks fall.
    assert_eq!(want[24_000 - 1], want[23_000]);
    assert_ne!(want[24_000], want[23_999]);
    for block in [1, 64, 511] {
        let got = render(block);
        assert!(got == want, "block {block}: first difference at {:?}", got.iter().zip(&want).position(|(a, b)| a != b));
    }
}

#[test]
fn mapping_feedback_and_processing_allocate_nothing() {
    let s = busy();
    let (mut engine, mut audio) = Engine::new(s.clone(), CompileOptions { sample_rate: RATE, max_block: 512, ports: vec![PortBinding::source("in")] }).unwrap();
    let input = dc(512, IN);
    let (mut l, mut r) = (vec![0.0; 512], vec![0.0; 512]);
    let events = performance();
    let mut sent = [Feedback::Midi([0; 3]); 64];
    let mut count = 0usize;
    let mut block = |audio: &mut AudioProcessor, at: usize| {
        audio.set_transport(&Transport::rolling(at as u64, RATE as f64, 120.0, (4, 4)));
        let mut n = 0;
        for &(t, event) in events.iter().filter(|(t, _)| (at..at + 512).contains(t)) {
            // Split at the event, as a host's events are.
            let part = t - at - n;
            audio.process(&[&[&input[..part], &input[..part]]], &mut [&mut l[..part], &mut r[..part]], part);
            n += part;
            match event {
                Event::Controller(m) => drop(audio.controller(m)),
                Event::Host(c) => audio.set_control(c),
            }
        }
        let rest = 512 - n;
        audio.process(&[&[&input[..rest], &input[..rest]]], &mut [&mut l[..rest], &mut r[..rest]], rest);
        audio.feedback(&mut |f| {
            if count < sent.len() {
                sent[count] = f;
            }
            count += 1;
        });
    };
    let mut at = 0;
    let calls = allocations_in(|| {
        while at < 15_360 {
            block(&mut audio, at);
            at += 512;
        }
    });
    assert_eq!(calls, 0, "mapping, feedback and processing allocated {calls} times");
    // A session edit (the fader's range) swaps in a new mapping table,
    // taking over the others' state, on the audio thread: still nothing.
    let mut edited = s;
    edited.mappings[0].transform.min = Some(-40.0);
    engine.load(edited).unwrap();
    let calls = allocations_in(|| {
        while at < 30_000 {
            block(&mut audio, at);
            at += 512;
        }
    });
    assert_eq!(calls, 0, "after the swap: {calls} allocations");
    assert!(count > 0, "feedback went out");
    engine.collect_garbage();
}


#[test]
fn record_and_play_pads_are_logged_for_the_plugin() {
    let s = mixer(
        r#"[ { "input": { "type": "note", "channel": 1, "note": 41 }, "target": { "action": "record" } },
             { "input": { "type": "note", "channel": 1, "note": 42 }, "transform": { "mode": "momentary" }, "target": { "action": "play" } } ]"#,
    );
    let (_e, mut audio) = engine(s);
    audio.set_transport(&Transport::default());
    run(&mut audio, 10);
    // Record toggles on each press (the plugin flips its recorder); a
    // momentary play flips on the press and back on the release.
    audio.controller(note_on(1, 41, 100));
    audio.controller(note_off(1, 41));
    run(&mut audio, 10);
    audio.controller(note_on(1, 42, 100));
    run(&mut audio, 10);
    audio.controller(note_off(1, 42));
    let want = [
        Mapped { frame: 10, event: MappedEvent::Record },
        Mapped { frame: 20, event: MappedEvent::Play },
        Mapped { frame: 30, event: MappedEvent::Play },
    ];
    assert_eq!(audio.mapped_moves(), &want[..]);
    assert!(run(&mut audio, 100).iter().all(|&x| x == IN), "the mix is untouched");
}

#[test]
fn encoder_ticks_add_up_while_the_value_glides() {
    // Default 10 ms smoothing: each tick moves from where the value is
    // going, not from where the glide stands.
    let s = mixer(r#"[ { "input": { "type": "cc", "channel": 1, "cc": 10 }, "transform": { "min": -60, "max": 6, "mode": "relative" }, "target": { "path": "bed.gainDb" } } ]"#);
    let (_e, mut audio) = engine(s);
    run(&mut audio, 64);
    for _ in 0..5 {
        audio.controller(cc(1, 10, 127));
    }
    for _ in 0..5 {
        run(&mut audio, 32);
        audio.controller(cc(1, 10, 126));
    }
    assert_level(&run(&mut audio, 3000)[2 * STRIP_RAMP..], -15.0 * 66.0 / 127.0, "15 ticks down from 0 dB");
}

/// The 14-bit code a fader over −60 … +6 dB shows for `db`, as (MSB, LSB).
fn fader_code14(db: f64) -> (u8, u8) {
    let code = ((db + 60.0) / 66.0 * 16383.0).round() as u32;
    ((code / 128) as u8, (code % 128) as u8)
}

#[test]
fn fourteen_bit_and_pitch_bend_feedback_and_a_session_edit_keeps_what_was_shown() {
    let text = |min: i32| {
        format!(
            r#"[ {{ "input": {{ "type": "cc", "channel": 2, "cc": 2, "fourteenBit": true }}, "transform": {{ "min": {min}, "max": 6 }}, "target": {{ "path": "bed.gainDb" }} }},
                 {{ "input": {{ "type": "pitchbend", "channel": 3 }}, "transform": {{ "min": -60, "max": 6 }}, "target": {{ "path": "bed.gainDb" }} }},
                 {{ "input": {{ "type": "note", "channel": 10, "note": 36 }}, "target": {{ "action": "scene", "scene": 2 }} }} ]"#
        )
    };
    let (mut engine, mut audio) = engine(mixer(&text(-60)));
    run(&mut audio, 64);
    let (msb, lsb) = fader_code14(0.0);
    assert_eq!((msb, lsb), (116, 46), "0 dB: 14894 of 16383");
    assert_eq!(
        feedback(&mut audio),
        vec![Feedback::Midi([0xb1, 2, msb]), Feedback::Midi([0xb1, 34, lsb]), Feedback::Midi([0xe2, lsb, msb]), Feedback::Midi([0x89, 36, 0])],
        "MSB then LSB; pitch bend LSB first"
    );
    audio.set_control(HostControl::Scene(1));
    run(&mut audio, 2000);
    let (msb, lsb) = fader_code14(-6.0);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0xb1, 2, msb]), Feedback::Midi([0xb1, 34, lsb]), Feedback::Midi([0xe2, lsb, msb])]);
    // The same session again: the new schedule keeps what each control shows.
    engine.load(mixer(&text(-60))).unwrap();
    run(&mut audio, 64);
    assert!(feedback(&mut audio).is_empty(), "nothing re-sent after an unchanged reload");
    // The 14-bit fader's range edited to −40 … +6: only it is sent again,
    // at its new position for −6 dB (34/46 of the travel).
    engine.load(mixer(&text(-40))).unwrap();
    run(&mut audio, 64);
    let code = (34.0 / 46.0 * 16383.0f64).round() as u32;
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0xb1, 2, (code >> 7) as u8]), Feedback::Midi([0xb1, 34, (code & 127) as u8])]);
    engine.collect_garbage();
}

#[test]
fn at_most_512_mappings() {
    let one = r#"{ "input": { "type": "cc", "channel": 1, "cc": 7 }, "target": { "macro": 1 } }"#;
    let many = |n: usize| format!("[ {} ]", vec![one; n].join(", "));
    assert!(load_str(&session_text(&many(512), "")).is_ok());
    assert_eq!(error_paths(&many(513), ""), vec!["mappings".to_string()]);
}

/// ```text
///   in ─▶ [bed: filter f] ─▶ master
/// ```
fn filtered(filter_type: &str, mappings: &str) -> Session {
    session(&format!(
        r#"{{ "version": 1, "racks": [ {{ "id": "in" }} ],
        "buses": [ {{ "id": "bed", "inserts": [ {{ "id": "f", "type": "filter", "params": {{ "type": "{filter_type}" }} }} ] }} ],
        "routes": [ {{ "from": "in", "to": "bed" }} ], "mappings": {mappings} }}"#
    ))
}

#[test]
fn a_knob_on_a_choice_lands_on_the_nearest_option() {
    // Filter type: lowpass, highpass, bandpass, notch (0 … 3). A knob over
    // the whole travel reads CC v as option round(3·v/127): 64 → 1.51 →
    // bandpass (not highpass, as truncating would), 107 → 2.53 → notch.
    let knob = r#"[ { "input": { "type": "cc", "channel": 1, "cc": 70 }, "target": { "path": "bed/f.type" } } ]"#;
    for (v, option, name) in [(0u8, 0.0, "lowpass"), (21, 0.0, "lowpass"), (22, 1.0, "highpass"), (64, 2.0, "bandpass"), (107, 3.0, "notch"), (127, 3.0, "notch")] {
        let (_e, mut audio) = engine(filtered("lowpass", knob));
        audio.set_transport(&Transport::default());
        audio.controller(cc(1, 70, v));
        assert_eq!(audio.mapped_moves(), &[Mapped { frame: 0, event: MappedEvent::Set { mapping: 0, value: option } }], "CC {v}");
        // It plays exactly as the session with that filter type does.
        let noise = white(4096, 7, 0.5);
        let mut got = (vec![0.0; 4096], vec![0.0; 4096]);
        audio.process(&[&[&noise, &noise]], &mut [&mut got.0, &mut got.1], 4096);
        let (_e, mut reference) = engine(filtered(name, "[]"));
        let mut want = (vec![0.0; 4096], vec![0.0; 4096]);
        reference.process(&[&[&noise, &noise]], &mut [&mut want.0, &mut want.1], 4096);
        assert!(got == want, "CC {v} plays as {name}");
    }
}

#[test]
fn an_encoder_on_a_choice_moves_one_option_a_tick() {
    let encoder = r#"[ { "input": { "type": "cc", "channel": 1, "cc": 71 }, "transform": { "mode": "relative" }, "target": { "path": "bed/f.type" } } ]"#;
    let (_e, mut audio) = engine(filtered("lowpass", encoder));
    audio.set_transport(&Transport::default());
    for v in [1u8, 2, 127, 1, 127, 127, 127] {
        audio.controller(cc(1, 71, v));
    }
    let options: Vec<f32> = audio
        .mapped_moves()
        .iter()
        .map(|m| match m.event {
            MappedEvent::Set { value, .. } => value,
            other => panic!("{other:?}"),
        })
        .collect();
    // 0 +1 → 1, +2 → 3, −1 → 2, +1 → 3, −1 → 2, −1 → 1, −1 → 0.
    assert_eq!(options, [1.0, 3.0, 2.0, 3.0, 2.0, 1.0, 0.0]);
}

#[test]
fn a_push_pad_lights_while_its_scene_is_pushed() {
    let s = mixer(r#"[ { "input": { "type": "note", "channel": 10, "note": 37 }, "transform": { "mode": "momentary" }, "target": { "action": "push", "scene": 3 } } ]"#);
    let (_e, mut audio) = engine(s);
    run(&mut audio, 64);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0x89, 37, 0])]);
    audio.controller(note_on(10, 37, 40));
    run(&mut audio, 64);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0x99, 37, 127])], "pushed: lit");
    audio.controller(note_off(10, 37));
    run(&mut audio, 64);
    assert_eq!(feedback(&mut audio), vec![Feedback::Midi([0x89, 37, 0])], "popped: dark");
}

#[test]
fn the_log_holds_128_moves_a_block_and_counts_the_rest() {
    let (_e, mut audio) = engine(mixer(&format!("[ {FADER} ]")));
    audio.set_transport(&Transport::default());
    for i in 0..200u32 {
        audio.controller(cc(1, 7, (i % 128) as u8));
    }
    assert_eq!(audio.mapped_moves().len(), 128);
    assert_eq!(audio.mapped_moves()[127].event, MappedEvent::Set { mapping: 0, value: fader_db(-60.0, 6.0, 127) as f32 });
    assert_eq!(audio.mapped_lost(), 72);
}

#[test]
fn a_toggled_push_pad_pushes_again_after_a_pop_from_elsewhere() {
    let s = mixer(r#"[ { "input": { "type": "note", "channel": 10, "note": 37 }, "transform": { "mode": "toggle" }, "target": { "action": "push", "scene": 2 } } ]"#);
    let (_e, mut audio) = engine(s);
    run(&mut audio, 64);
    let tap = |audio: &mut AudioProcessor| {
        audio.controller(note_on(10, 37, 100));
        audio.controller(note_off(10, 37));
        run(audio, 2000)
    };
    assert_level(&tap(&mut audio)[1500..], -20.0, "first tap pushes scene 2");
    assert_level(&tap(&mut audio)[1500..], 0.0, "second tap pops");
    assert_level(&tap(&mut audio)[1500..], -20.0, "third tap pushes again");
    // The host pops it: the pad is no longer holding anything, so the
    // next tap pushes (rather than popping an empty stack).
    audio.set_control(HostControl::Pop);
    assert_level(&run(&mut audio, 2000)[1500..], 0.0, "popped by the host");
    assert_level(&tap(&mut audio)[1500..], -20.0, "the next tap pushes");
}

/// A session edit that changes which values the schedule controls (here a
/// mapping learned on another path) lands while a mapped fader is still
/// gliding over its 1 s smoothing: the new schedule goes on to where the
/// fader was going, and settles there, rather than freezing mid-glide.
#[test]
fn an_edit_that_changes_the_controlled_values_mid_glide_keeps_the_glide_going() {
    let slow = r#"{ "input": { "type": "cc", "channel": 1, "cc": 7 }, "transform": { "min": -60, "max": 6, "smoothMs": 1000 }, "target": { "path": "bed.gainDb" } }"#;
    let pan = r#"{ "input": { "type": "cc", "channel": 1, "cc": 10 }, "target": { "path": "bed.pan" } }"#;
    let (mut engine, mut audio) = engine(mixer(&format!("[ {slow} ]")));
    run(&mut audio, 512);
    assert!(audio.controller(cc(1, 7, 0)));
    // A quarter of the way down the 48 000-sample glide, the edit lands.
    let before = run(&mut audio, 12_000);
    engine.load(mixer(&format!("[ {slow}, {pan} ]"))).expect("the edit compiles");
    let after = run(&mut audio, 48_000 + 4 * STRIP_RAMP);
    let mid = before[before.len() - 1] as f64 / IN as f64;
    assert!(mid < 0.9 && mid > gain(-60.0), "gliding when the edit lands: gain {mid}");
    assert_level(&after[after.len() - 64..], fader_db(-60.0, 6.0, 0), "settled where the CC sent it");
}
