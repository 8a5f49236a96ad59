//! Scenes that hold the whole mix (docs/ARCHITECTURE.md §8): solos composed
//! with the host's, bus and insert bypasses switched at a transition's
//! midpoint with their 10 ms fades, source gains and sends, and a stored
//! scene (`session::capture::capture_scene`) that recalls the mix bit for bit.

use super::support::*;
use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::graph::controls::HostControl;
use mam_core::graph::schedule::StripControl;
use mam_core::session::capture::{capture_scene, HostStrip};
use mam_core::session::{ParamValue, Scene, Session, Transition};

const RATE: f32 = 48_000.0;

/// An instant recall: the switch flips with the 32-sample control step that
/// reaches half of the 480-sample (10 ms) declick, the step starting at 224
/// (ending at 256 ≥ 240), then fades over 480 samples.
const INSTANT_SWITCH: usize = 224;
/// Length of a bypass fade or crossfade (10 ms).
const FADE: usize = 480;
/// 10 ms of control ramp plus 10 ms of strip ramp, in samples.
const DECLICK: usize = 960;

fn engine(s: Session, max_block: usize) -> (Engine, AudioProcessor) {
    Engine::new(s, CompileOptions { sample_rate: RATE, max_block, ports: vec![PortBinding::source("in")] }).unwrap()
}

/// Runs `input` (the same on both channels) through in blocks of `block`,
/// calling `at(sample, audio)` before the block that starts at each sample
/// listed in `events`; returns the left channel.
fn play(audio: &mut AudioProcessor, input: &[f32], block: usize, events: &[usize], at: &mut dyn FnMut(usize, &mut AudioProcessor)) -> Vec<f32> {
    let mut out = Vec::with_capacity(input.len());
    let mut done = 0;
    while done < input.len() {
        if events.contains(&done) {
            at(done, audio);
        }
        let next_event = events.iter().copied().filter(|&e| e > done).min().unwrap_or(usize::MAX);
        let n = block.min(input.len() - done).min(next_event - done);
        let chunk = &input[done..done + n];
        let mut l = vec![0.0; n];
        let mut r = vec![0.0; n];
        audio.process(&[&[chunk, chunk]], &mut [&mut l, &mut r], n);
        assert_eq!(l, r, "a centred mix is the same on both sides");
        out.extend(l);
        done += n;
    }
    out
}

/// The first index where `a` and `b` differ, with both values.
fn first_difference(a: &[f32], b: &[f32]) -> Option<(usize, f32, f32)> {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).enumerate().find(|(_, (x, y))| x.to_bits() != y.to_bits()).map(|(i, (x, y))| (i, *x, *y))
}

/// ```text
///   in ─▶ [a] ─▶ master        (route gain 1)
///   in ─▶ [b] ─▶ master        (route gain 0.25)
/// ```
/// Scene 1 "Solo b": b.solo.
#[test]
fn a_scene_that_solos_b_silences_a_and_composes_with_the_host_solo() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a" }, { "id": "b" } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b", "gain": 0.25 } ],
        "scenes": [ { "name": "Solo b", "values": { "b.solo": true } } ] }"#,
    );
    let (_e, mut audio) = engine(s, 256);
    let input = dc(6 * DECLICK, 1.0);
    let events = [DECLICK, 2 * DECLICK, 3 * DECLICK, 4 * DECLICK];
    let out = play(&mut audio, &input, 256, &events, &mut |t, audio| match t {
        t if t == DECLICK => audio.set_control(HostControl::Scene(1)),
        // The host solos a (slot 1) on top of the scene's solo of b.
        t if t == 2 * DECLICK => audio.set_strip(1, StripControl::Solo(true)),
        t if t == 3 * DECLICK => audio.set_control(HostControl::Scene(0)),
        _ => audio.set_strip(1, StripControl::Solo(false)),
    });
    assert_eq!(out[DECLICK - 1], 1.25, "nothing soloed: a + b");
    assert_eq!(out[DECLICK + INSTANT_SWITCH - 1], 1.25, "the solo waits for the declick's midpoint");
    assert!(out[DECLICK + INSTANT_SWITCH] < 1.25, "then a's strip ramps down");
    assert_eq!(out[2 * DECLICK - 1], 0.25, "the scene solos b: a is silent");
    assert_eq!(out[3 * DECLICK - 1], 1.25, "either solo solos: host a + scene b");
    assert_eq!(out[4 * DECLICK - 1], 1.0, "back to the session: only the host's solo of a");
    assert_eq!(out[6 * DECLICK - 1], 1.25, "no solo left");
}

/// ```text
///   in ─▶ [a: lim (ceiling −6 dB, lookahead 2 ms = 96 samples)] ─▶ master
/// ```
/// Scene 1 "Dry": a/lim.bypass.
fn limited(bypass: bool) -> Session {
    session(&format!(
        r#"{{ "version": 1, "racks": [ {{ "id": "in" }} ],
        "buses": [ {{ "id": "a", "inserts": [ {{ "id": "lim", "type": "limiter", "bypass": {bypass},
                                               "params": {{ "ceilingDb": -6, "lookaheadMs": 2 }} }} ] }} ],
        "routes": [ {{ "from": "in", "to": "a" }} ],
        "scenes": [ {{ "name": "Dry", "values": {{ "a/lim.bypass": true }} }} ] }}"#
    ))
}

#[test]
fn a_scene_bypassing_an_insert_plays_the_dry_path_delayed_by_its_latency() {
    const LOOKAHEAD: usize = 96;
    const RECALL: usize = 4800;
    let input = white(3 * RECALL, 7, 0.9);
    let (_e, mut audio) = engine(limited(true), 512);
    let reference = play(&mut audio, &input, 512, &[], &mut |_, _| {});
    // The session's own bypass: the input, delayed by the lookahead.
    assert!(reference[..LOOKAHEAD].iter().all(|&x| x == 0.0));
    assert_eq!(reference[LOOKAHEAD..], input[..input.len() - LOOKAHEAD], "a bypassed insert keeps its latency");

    let (_e, mut audio) = engine(limited(false), 512);
    let out = play(&mut audio, &input, 512, &[RECALL, 2 * RECALL], &mut |t, audio| {
        audio.set_control(HostControl::Scene(if t == RECALL { 1 } else { 0 }));
    });
    let ceiling = 10f32.powf(-6.0 / 20.0);
    let limited_peak = out[LOOKAHEAD..RECALL].iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(limited_peak <= ceiling + 1e-6 && input.iter().any(|x| x.abs() > 0.8), "running, the limiter holds −6 dB: {limited_peak}");
    // Crossfading from R + 224 for 480 samples, then exactly the dry path:
    // the delay line the dry path reads was fed all along.
    let from = RECALL + INSTANT_SWITCH + FADE;
    assert_eq!(out[from..2 * RECALL], reference[from..2 * RECALL], "after the crossfade the output is the dry path, bit for bit");
    assert_ne!(out[RECALL..RECALL + INSTANT_SWITCH], reference[RECALL..RECALL + INSTANT_SWITCH], "until the switch the limiter plays");
    // Back to the session: the limiter comes back from reset; for its 96
    // samples of lookahead it refills while the dry path still plays (no
    // dip into its silence), then the crossfade, then it holds its ceiling.
    let switch = 2 * RECALL + INSTANT_SWITCH;
    assert_eq!(out[switch..switch + LOOKAHEAD], reference[switch..switch + LOOKAHEAD], "the dry path while the limiter refills");
    assert_ne!(out[switch + LOOKAHEAD..switch + LOOKAHEAD + FADE], reference[switch + LOOKAHEAD..switch + LOOKAHEAD + FADE], "then the crossfade");
    let back = switch + LOOKAHEAD + FADE;
    let peak = out[back..].iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak <= ceiling + 1e-6, "un-bypassed, the limiter limits again: {peak}");
}

/// ```text
///   in ─▶ [a] ─▶ master
///   in ─ send −144 dB ─▶ [fx] ─▶ master
/// ```
/// Scene 1 "Send": in.send.fx 0 dB. Scene 2 "Half": in.gainDb and
/// in.send.fx both −6.0206 dB (a gain of ½).
#[test]
fn scenes_set_a_source_send_level_and_a_source_gain() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in", "sends": [ { "to": "fx", "levelDb": -144 } ] } ],
        "buses": [ { "id": "a" }, { "id": "fx" } ],
        "routes": [ { "from": "in", "to": "a" } ],
        "scenes": [ { "name": "Send", "values": { "in.send.fx": 0 } },
                    { "name": "Half", "values": { "in.gainDb": -6.020599913279624, "in.send.fx": -6.020599913279624 } } ] }"#,
    );
    let (_e, mut audio) = engine(s, 512);
    let input = dc(4 * DECLICK, 1.0);
    let out = play(&mut audio, &input, 512, &[DECLICK, 2 * DECLICK, 3 * DECLICK], &mut |t, audio| {
        audio.set_control(HostControl::Scene([0, 1, 2, 0][t / DECLICK]));
    });
    assert_eq!(out[DECLICK - 1], 1.0, "the send at −144 dB carries nothing");
    assert_eq!(out[2 * DECLICK - 1], 2.0, "the send at 0 dB: a + fx");
    // ½ through the route (source gain) + ½ · ½ through the send; the gains
    // come from dB through f64 → f32 (within 1 ulp of ½).
    close(out[3 * DECLICK - 1], 0.75, 1e-6, "source gain and send at −6 dB");
    assert_eq!(out[4 * DECLICK - 1], 1.0, "back to the session");
}

/// ```text
///   in ─▶ [a: utility −6 dB] ─▶ master
///   in ─▶ [b] ─▶ master            (route gain 0.25)
/// ```
/// Scene 1 "Dry", morph 100 ms (4800 samples): a/u.bypass, b.bypass.
fn switched() -> Session {
    session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a", "inserts": [ { "id": "u", "type": "utility", "params": { "gainDb": -6 } } ] }, { "id": "b" } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b", "gain": 0.25 } ],
        "scenes": [ { "name": "Dry", "transition": "morph", "morphMs": 100, "values": { "a/u.bypass": true, "b.bypass": true } } ] }"#,
    )
}

#[test]
fn a_morph_switches_bypasses_at_its_midpoint_whatever_the_block_size() {
    const RECALL: usize = 1000;
    // The step that reaches 2400 of 4800 samples starts at 2368 (= 74 · 32).
    const SWITCH: usize = RECALL + 2368;
    let input = dc(RECALL + 6000, 1.0);
    let run = |block: usize| {
        let (_e, mut audio) = engine(switched(), block.max(64));
        play(&mut audio, &input, block, &[RECALL], &mut |_, audio| audio.set_control(HostControl::Scene(1)))
    };
    let out = run(64);
    let u = 10f64.powf(-6.0 / 20.0) as f32;
    close(out[RECALL - 1], u + 0.25, 1e-6, "utility −6 dB on a, plus b");
    assert_eq!(out[SWITCH - 1], out[RECALL - 1], "nothing moves before the midpoint");
    assert!(out[SWITCH] > out[RECALL - 1], "the switch starts on the midpoint's step");
    // Half-way through both 480-sample fades: a is ½ dry + ½ utility, b at ½.
    // Each fade is a linear ramp summed in f32 240 times (≤ 240 · 2⁻²⁴ off).
    close(out[SWITCH + FADE / 2 - 1], 0.5 * (1.0 + u) + 0.125, 2e-5, "both fades half-way");
    assert!(out[SWITCH..SWITCH + FADE].windows(2).all(|w| w[1] >= w[0]), "no click: the sum rises monotonically");
    assert!(out[SWITCH + FADE..].iter().all(|&x| x == 1.0), "a dry at 0 dB, b silent");
    for block in [1, 511] {
        assert_eq!(run(block), out, "block {block}: bit-identical");
    }
}

/// ```text
///   in ─▶ [a: utility, lim (lookahead 1 ms)] ─▶ master
///    │      └─ send pre −144 dB ─▶ [fx] ─▶ master
///    └──────────────────────────▶ [b] ─▶ master      (route gain 0.5)
/// ```
/// Scene 1 "Show" (crossfade 50 ms) moves something of every kind.
fn show() -> Session {
    session(
        r#"{ "version": 1, "racks": [ { "id": "in", "sends": [ { "to": "fx", "levelDb": -144 } ] } ],
        "buses": [ { "id": "a", "inserts": [ { "id": "u", "type": "utility" },
                                             { "id": "lim", "type": "limiter", "params": { "ceilingDb": -3, "lookaheadMs": 1 } } ],
                     "sends": [ { "to": "fx", "levelDb": -144, "tap": "pre" } ] },
                   { "id": "fx" }, { "id": "b" } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b", "gain": 0.5 } ],
        "scenes": [ { "name": "Show", "transition": "crossfade", "morphMs": 50, "values": {
            "a.gainDb": -3, "a.pan": 0.3, "a/u.gainDb": -6, "a/u.width": 0.5, "a/lim.bypass": true,
            "a.send.fx": -10, "in.send.fx": -6, "in.gainDb": -1, "b.mute": true, "fx.solo": true } } ] }"#,
    )
}

/// Storing scene 1 (with the host at rest) and recalling the stored scene
/// later gives the mix back bit for bit.
#[test]
fn a_stored_scene_recalls_the_mix_bit_identically_after_its_transition() {
    let mut s = show();
    let stored = capture_scene(&s, Some(&s.scenes[0]), &[HostStrip::default(); 3]);
    assert_eq!(stored["a/lim.bypass"], ParamValue::Bool(true));
    assert_eq!(stored["fx.solo"], ParamValue::Bool(true));
    assert_eq!(stored["a.solo"], ParamValue::Bool(false), "what the scene leaves out is the session's");
    assert_eq!(stored["b.bypass"], ParamValue::Bool(false));
    s.scenes.push(Scene { name: "Stored".into(), transition: Transition::Instant, quantize: None, values: stored });

    const T: usize = 19 * 512;
    // Stereo output here: pan 0.3 on a makes the sides differ.
    let input = white(4 * T, 3, 0.5);
    let render = |recalls: &[(usize, usize)]| {
        let (_e, mut audio) = engine(s.clone(), 512);
        let mut out = [Vec::new(), Vec::new()];
        let mut done = 0;
        while done < input.len() {
            if let Some(&(_, scene)) = recalls.iter().find(|(t, _)| *t == done) {
                audio.set_control(HostControl::Scene(scene));
            }
            let n = 512.min(input.len() - done);
            let chunk = &input[done..done + n];
            let (mut l, mut r) = (vec![0.0; n], vec![0.0; n]);
            audio.process(&[&[chunk, chunk]], &mut [&mut l, &mut r], n);
            out[0].extend(l);
            out[1].extend(r);
            done += n;
        }
        out
    };
    // Scene 1 at 0 and kept, versus: scene 1, the session's values at T
    // (every value moves back, the limiter comes in), the stored scene at
    // 2T; 512-sample blocks keep the recalls on block starts. The last of
    // the transition: the control step at 2T + 448 sets the utility's gain,
    // which glides over its own 20 ms (960 samples), and reaches the output
    // through the limiter's 1 ms (48-sample) dry path — 2T + 1456.
    let kept = render(&[(0, 1)]);
    let recalled = render(&[(0, 1), (T, 0), (2 * T, 2)]);
    let from = 2 * T + 448 + 960 + 48;
    assert!(first_difference(&kept[0][from - 64..from], &recalled[0][from - 64..from]).is_some(), "still gliding just before");
    assert_ne!(kept[0][T + DECLICK..2 * T], recalled[0][T + DECLICK..2 * T], "the session's values are another mix");
    for ch in 0..2 {
        assert_eq!(first_difference(&kept[ch][from..], &recalled[ch][from..]), None, "channel {ch}: the stored scene is the mix it stored");
    }
    assert_ne!(kept[0][from..], kept[1][from..], "the pan is in the stored mix");
}

/// A session edit keeps what a scene switched: the bus and insert bypasses
/// of scene 1 hold through the swap (no fade out and back in).
#[test]
fn bypasses_a_scene_switched_hold_through_a_session_edit() {
    let (mut engine, mut audio) = engine(switched(), 512);
    let input = dc(6 * 4800, 1.0);
    let out = play(&mut audio, &input, 512, &[0], &mut |_, audio| audio.set_control(HostControl::Scene(1)));
    assert!(out.iter().all(|&x| x == 1.0), "recalled before playing: a dry, b silent from the first sample");
    let mut edited = switched();
    edited.buses[0].inserts[0].params.insert("gainDb".into(), ParamValue::Number(-7.0));
    edited.buses[1].gain = mam_core::session::Level::Db(-1.0);
    engine.load(edited).unwrap();
    let out = play(&mut audio, &input, 512, &[], &mut |_, _| {});
    assert!(out.iter().all(|&x| x == 1.0), "still a dry and b silent across the edit");
}

/// [`show`]: scene 1 ⇄ scene 0 every 10 blocks (solo, bypasses, source
/// gain and send switching), before and after a session edit.
#[test]
fn switching_solos_bypasses_and_source_values_allocates_nothing() {
    let s = show();
    let (mut engine, mut audio) = engine(s.clone(), 256);
    let input = white(256, 5, 0.5);
    let (mut l, mut r) = (vec![0.0; 256], vec![0.0; 256]);
    let mut run = |audio: &mut AudioProcessor, blocks: usize| {
        for k in 0..blocks {
            if k % 10 == 0 {
                audio.set_control(HostControl::Scene((k / 10 + 1) % 2));
            }
            audio.process(&[&[&input, &input]], &mut [&mut l, &mut r], 256);
        }
    };
    run(&mut audio, 4);
    let calls = super::alloc_guard::allocations_in(|| run(&mut audio, 60));
    assert_eq!(calls, 0, "scene switches of bypasses allocate nothing");
    let mut edited = s;
    edited.buses[2].gain = mam_core::session::Level::Db(-2.0);
    engine.load(edited).unwrap();
    let calls = super::alloc_guard::allocations_in(|| run(&mut audio, 60));
    assert_eq!(calls, 0, "nor does taking them over in a session edit");
}

#[test]
fn bad_solo_bypass_and_source_values_are_errors_at_their_paths() {
    let base = |values: &str| {
        format!(
            r#"{{ "version": 1, "racks": [ {{ "id": "src", "sends": [ {{ "to": "a" }} ] }} ],
            "buses": [ {{ "id": "a", "inserts": [ {{ "id": "u", "type": "utility" }} ] }} ],
            "scenes": [ {{ "name": "S", "values": {values} }} ] }}"#
        )
    };
    let cases = [
        (r#"{ "a.solo": 1 }"#, "scenes[0].values[\"a.solo\"]", "expected true or false"),
        (r#"{ "a.bypass": "on" }"#, "scenes[0].values[\"a.bypass\"]", "expected true or false"),
        (r#"{ "a/u.bypass": 0 }"#, "scenes[0].values[\"a/u.bypass\"]", "expected true or false"),
        (r#"{ "a/x.bypass": true }"#, "scenes[0].values[\"a/x.bypass\"]", "bus 'a' has no insert 'x' (it has: u)"),
        (r#"{ "src.gainDb": 30 }"#, "scenes[0].values[\"src.gainDb\"]", "30 is out of range -144 … 24"),
        (r#"{ "src.send.master": -6 }"#, "scenes[0].values[\"src.send.master\"]", "source 'src' has no send to 'master'"),
        (r#"{ "src.pan": 0.5 }"#, "scenes[0].values[\"src.pan\"]", "source 'src' has no field 'pan' (expected gainDb, send.<to>)"),
        (r#"{ "src.send.a": true }"#, "scenes[0].values[\"src.send.a\"]", "expected a number"),
    ];
    for (values, path, message) in cases {
        let err = mam_core::session::load_str(&base(values)).expect_err(path);
        assert!(err.errors.iter().any(|d| d.path == path && d.message.contains(message)), "want '{message}' at {path}, got {:?}", err.errors);
    }
}

#[test]
fn the_new_paths_round_trip_through_the_saver() {
    let mut s = show();
    let stored = capture_scene(&s, Some(&s.scenes[0]), &[]);
    s.scenes.push(Scene { name: "Stored".into(), transition: Transition::Instant, quantize: None, values: stored });
    let text = mam_core::session::save::to_string(&s);
    let again = mam_core::session::load_str(&text).unwrap();
    assert!(again.warnings.is_empty(), "a stored scene loads clean: {:?}", again.warnings);
    assert_eq!(again.session, s);
    assert_eq!(mam_core::session::save::to_string(&again.session), text, "byte-identical second save");
}

/// ```text
///   in ─▶ [a] ─▶ master
/// ```
/// Scene 1 "Out": in.gainDb −144, crossfade 1000 ms (48000 samples).
#[test]
fn a_crossfade_moves_a_source_gain_on_the_equal_power_curve() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ], "buses": [ { "id": "a" } ],
        "routes": [ { "from": "in", "to": "a" } ],
        "scenes": [ { "name": "Out", "transition": "crossfade", "morphMs": 1000, "values": { "in.gainDb": -144 } } ] }"#,
    );
    let (_e, mut audio) = engine(s, 512);
    let input = dc(50_000, 1.0);
    // One sample first, so the recall is a transition, not a jump; `out`
    // then counts from the transition's first sample.
    let out = play(&mut audio, &input, 512, &[0], &mut |_, audio| {
        audio.process(&[&[&[1.0], &[1.0]]], &mut [&mut [0.0], &mut [0.0]], 1);
        audio.set_control(HostControl::Scene(1));
    });
    // Half-way, g = √(½·1² + ½·0²) = 0.7071 (a morph in dB would be at
    // −72 dB). The source's 10 ms smoother trails the 32-sample steps by
    // about 240 samples, where the curve is ≈ 0.0035 higher: ±0.01.
    close(out[24_000], std::f32::consts::FRAC_1_SQRT_2, 0.01, "equal power half-way");
    close(out[36_000], 0.5, 0.01, "√(1 − ¾) = ½ three quarters of the way");
    assert_eq!(out[48_000 + 480], 0.0, "silent once the crossfade and the smoother are through");
}
