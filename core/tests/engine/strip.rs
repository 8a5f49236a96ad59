//! The channel strip (docs/ARCHITECTURE.md §3): faders, route gains, pan laws, send taps,
//! mute, solo-in-place, bus and insert bypass.

use super::support::*;
use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::session::Session;

const N: usize = 2048;

fn last(ch: &[f32]) -> f32 {
    *ch.last().unwrap()
}

//   in ─▶ [a: −6.0206 dB] ─▶ master
#[test]
fn minus_6_0206_db_fader_halves_the_amplitude() {
    let s = session(r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a", "gainDb": -6.0206 } ], "routes": [ { "from": "in", "to": "a" } ] }"#);
    let out = run(&s, &[("in", both(dc(N, 0.8)))], N, 256);
    // 10^(−6.0206/20) = 0.4999986; f32 rounding adds < 1e-7.
    close(out[0][0], 0.4, 1e-6, "left, first sample (no fade-in on first load)");
    close(last(&out[1]), 0.4, 1e-6, "right, last sample");
}

//   in ─(gain 0.5)─▶ [a] ─▶ master
#[test]
fn linear_route_gain_of_half_halves_the_amplitude() {
    let s = session(r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a" } ], "routes": [ { "from": "in", "to": "a", "gain": 0.5 } ] }"#);
    let out = run(&s, &[("in", both(dc(N, 0.8)))], N, 256);
    assert_eq!(out[0][100], 0.4);
    assert_eq!(out[1][100], 0.4);
}

fn pan_session(law: &str, channels: u32, pan: f64) -> Session {
    session(&format!(
        r#"{{ "version": 1, "panLaw": "{law}", "racks": [ {{ "id": "in" }} ],
            "buses": [ {{ "id": "a", "channels": {channels}, "pan": {pan} }} ], "routes": [ {{ "from": "in", "to": "a" }} ] }}"#
    ))
}

#[test]
fn balance_pan_is_unity_at_centre_and_hard_left_silences_the_right() {
    let input = both(dc(N, 1.0));
    let centre = run(&pan_session("balance", 2, 0.0), &[("in", input.clone())], N, 64);
    assert_eq!((centre[0][10], centre[1][10]), (1.0, 1.0));
    let left = run(&pan_session("balance", 2, -1.0), &[("in", input.clone())], N, 64);
    assert_eq!((left[0][10], left[1][10]), (1.0, 0.0));
    // Half right: the left side at 1 − 0.5, the right side untouched.
    let half = run(&pan_session("balance", 2, 0.5), &[("in", input)], N, 64);
    assert_eq!((half[0][10], half[1][10]), (0.5, 1.0));
}

#[test]
fn mono_bus_pans_with_constant_power_minus_3_db_at_centre() {
    let input = both(dc(N, 1.0));
    let centre = run(&pan_session("balance", 1, 0.0), &[("in", input.clone())], N, 64);
    let g = std::f32::consts::FRAC_1_SQRT_2;
    close(centre[0][10], g, 1e-6, "left at centre");
    close(centre[1][10], g, 1e-6, "right at centre");
    // Power is constant across the arc: at pan 0.5, cos²+sin² = 1.
    let off = run(&pan_session("balance", 1, 0.5), &[("in", input)], N, 64);
    close(off[0][10].powi(2) + off[1][10].powi(2), 1.0, 1e-6, "power at pan 0.5");
    close(off[1][10], (3.0 * std::f32::consts::PI / 8.0).sin(), 1e-6, "right at pan 0.5");
}

#[test]
fn constant_power_law_applies_to_stereo_buses_too() {
    let out = run(&pan_session("constant_power", 2, 0.0), &[("in", both(dc(N, 1.0)))], N, 64);
    close(out[0][10], std::f32::consts::FRAC_1_SQRT_2, 1e-6, "left at centre");
    let hard = run(&pan_session("constant_power", 2, 1.0), &[("in", both(dc(N, 1.0)))], N, 64);
    close(hard[0][10], 0.0, 1e-7, "left when hard right");
    close(hard[1][10], 1.0, 1e-7, "right when hard right");
}

/// ```text
///   in ─▶ [src: utility ×0.5, fader F, mute M] ─▶ master
///            ├─ post ──▶ [fx_post]
///            ├─ pre ───▶ [fx_pre]
///            └─ pre_fx ▶ [fx_prefx]
/// ```
fn sends_session(fader_db: f64, mute: bool) -> Session {
    session(&format!(
        r#"{{ "version": 1, "racks": [ {{ "id": "in" }} ],
        "buses": [
          {{ "id": "src", "gainDb": {fader_db}, "mute": {mute},
             "inserts": [ {{ "id": "half", "type": "utility", "params": {{ "gainDb": -6.020599913279624 }} }} ],
             "sends": [ {{ "to": "fx_post", "tap": "post" }}, {{ "to": "fx_pre", "tap": "pre" }}, {{ "to": "fx_prefx", "tap": "pre_fx" }} ] }},
          {{ "id": "fx_post" }}, {{ "id": "fx_pre" }}, {{ "id": "fx_prefx" }} ],
        "routes": [ {{ "from": "in", "to": "src" }} ] }}"#
    ))
}

fn send_levels(s: &Session) -> [f32; 4] {
    let (_, stems, _) = run_full(s, &[("in", both(dc(N, 1.0)))], N, 128, false);
    ["src", "fx_post", "fx_pre", "fx_prefx"].map(|id| stem(&stems, id)[0][N - 1])
}

#[test]
fn post_send_follows_the_fader_pre_does_not_and_pre_fx_skips_the_inserts() {
    let [src, post, pre, prefx] = send_levels(&sends_session(-6.020599913279624, false));
    close(src, 0.25, 1e-6, "src: inserts ×0.5, fader ×0.5");
    close(post, 0.25, 1e-6, "post send: after the fader");
    close(pre, 0.5, 1e-6, "pre send: after the inserts, before the fader");
    close(prefx, 1.0, 1e-6, "pre_fx send: before the inserts");

    let [_, post, pre, prefx] = send_levels(&sends_session(-12.041199826559248, false));
    close(post, 0.125, 1e-6, "post send follows a fader move");
    close(pre, 0.5, 1e-6, "pre send ignores a fader move");
    close(prefx, 1.0, 1e-6, "pre_fx send ignores a fader move");
}

#[test]
fn mute_silences_the_bus_and_its_post_sends_only() {
    let [src, post, pre, prefx] = send_levels(&sends_session(0.0, true));
    assert_eq!(src, 0.0, "muted bus");
    assert_eq!(post, 0.0, "post-fader send of a muted bus");
    close(pre, 0.5, 1e-6, "pre-fader send keeps flowing");
    close(prefx, 1.0, 1e-6, "pre-FX send keeps flowing");
}

/// ```text
///   a_in ─▶ [a] ─▶ [grp] ─▶ master      [a] ─send 0.5─▶ [verb, soloSafe] ─▶ master
///   b_in ─▶ [b] ──────────▶ master      [b] ─send 0.5─▶ [verb]
///   c_in ─────────────────▶ master (direct)
/// ```
fn solo_session(solo: &str) -> Session {
    let flag = |id: &str| if id == solo { r#", "solo": true"# } else { "" };
    session(&format!(
        r#"{{ "version": 1, "racks": [ {{ "id": "a_in" }}, {{ "id": "b_in" }}, {{ "id": "c_in" }} ],
        "buses": [
          {{ "id": "a", "route": "grp", "sends": [ {{ "to": "verb", "level": 0.5 }} ]{} }},
          {{ "id": "grp"{} }},
          {{ "id": "b", "sends": [ {{ "to": "verb", "level": 0.5 }} ]{} }},
          {{ "id": "verb", "soloSafe": true }} ],
        "routes": [ {{ "from": "a_in", "to": "a" }}, {{ "from": "b_in", "to": "b" }}, {{ "from": "c_in", "to": "master" }} ] }}"#,
        flag("a"),
        flag("grp"),
        flag("b")
    ))
}

fn solo_master(solo: &str) -> (f32, Vec<(String, Vec<Vec<f32>>)>) {
    let inputs = [("a_in", both(dc(N, 1.0))), ("b_in", both(dc(N, 0.1))), ("c_in", both(dc(N, 0.01)))];
    let (out, stems, _) = run_full(&solo_session(solo), &inputs, N, 128, false);
    (out[0][N - 1], stems)
}

#[test]
fn solo_in_place_keeps_the_soloed_path_and_solo_safe_returns() {
    // Nothing soloed: a + grp(a) path 1, b 0.1, c 0.01, verb 0.5·(1 + 0.1).
    close(solo_master("none").0, 1.0 + 0.1 + 0.01 + 0.55, 1e-6, "no solo");
    // Solo a: its downstream group stays, b and the direct source go quiet,
    // the solo-safe reverb still returns a's send.
    let (master, stems) = solo_master("a");
    close(master, 1.0 + 0.5, 1e-6, "solo a");
    assert_eq!(stem(&stems, "b")[0][N - 1], 0.0, "b is muted by solo");
    close(stem(&stems, "verb")[0][N - 1], 0.5, 1e-6, "verb is solo-safe");
    // Solo the group: its upstream bus a stays audible.
    close(solo_master("grp").0, 1.0 + 0.5, 1e-6, "solo grp keeps upstream a");
    // Solo b: a and its group fall silent.
    let (master, stems) = solo_master("b");
    close(master, 0.1 + 0.05, 1e-6, "solo b");
    assert_eq!(stem(&stems, "grp")[0][N - 1], 0.0, "grp is muted by solo");
}

fn engine(s: Session, block: usize) -> (Engine, AudioProcessor) {
    Engine::new(s, CompileOptions { sample_rate: 48_000.0, max_block: block, ports: vec![PortBinding::source("in")] }).unwrap()
}

fn process(audio: &mut AudioProcessor, input: &[f32], frames: usize) -> Vec<Vec<f32>> {
    let mut out = vec![vec![0.0; frames]; 2];
    let port: [&[f32]; 2] = [input, input];
    let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
    audio.process(&[&port], &mut outs, frames);
    out
}

/// ```text
///   in ─▶ [a: limiter 5 ms, bypass B] ─▶ master
///          └─ pre ─▶ [fx]
/// ```
fn bypass_session(bypass: bool) -> Session {
    session(&format!(
        r#"{{ "version": 1, "racks": [ {{ "id": "in" }} ],
        "buses": [ {{ "id": "a", "bypass": {bypass},
                     "inserts": [ {{ "id": "lim", "type": "limiter", "params": {{ "lookaheadMs": 5 }} }} ],
                     "sends": [ {{ "to": "fx", "tap": "pre" }} ] }},
                   {{ "id": "fx" }} ],
        "routes": [ {{ "from": "in", "to": "a" }} ] }}"#
    ))
}

#[test]
fn bypassed_bus_is_silent_sends_nothing_meters_zero_and_resets_on_unbypass() {
    let (mut engine, mut audio) = engine(bypass_session(false), 512);
    let loud = dc(512, 0.5);
    let silent = dc(512, 0.0);
    for _ in 0..4 {
        process(&mut audio, &loud, 512);
    }
    assert!(engine.meter("a").unwrap().peak[0] > 0.4, "meter reads while running");

    engine.load(bypass_session(true)).unwrap();
    let out = process(&mut audio, &loud, 512);
    // fx receives only a's pre-fader send and routes to master: silence means
    // the send carried nothing either.
    assert!(out[0].iter().all(|&s| s == 0.0), "bypassed bus and its pre send are silent");
    assert_eq!(engine.meter("a").unwrap().peak, [0.0, 0.0], "meters read 0");

    // The limiter's lookahead still holds 0.5s from before the bypass; after
    // un-bypass it must have been reset, so silence in gives silence out.
    engine.load(bypass_session(false)).unwrap();
    let out = process(&mut audio, &silent, 512);
    assert!(out[0].iter().all(|&s| s == 0.0), "stale lookahead audio after un-bypass: {:?}", &out[0][..4]);
}

//   in ─▶ [a: limiter 5 ms (bypassed)] ─▶ master
//   in ─▶ [b] ──────────────────────────▶ master
#[test]
fn bypassed_insert_still_delays_by_its_latency() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a", "inserts": [ { "id": "lim", "type": "limiter", "bypass": true, "params": { "lookaheadMs": 5, "ceilingDb": -40 } } ] },
                   { "id": "b" } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b" } ] }"#,
    );
    let (out, _, latency) = run_full(&s, &[("in", both(impulse(N, 100)))], N, 64, false);
    assert_eq!(latency, 240);
    // One impulse of 2 (both paths, the bypassed limiter not limiting) at 100 + 240.
    assert_eq!(peaks(&out[0], 1e-6), vec![340]);
    assert_eq!(out[0][340], 2.0);
}

#[test]
fn fader_edit_ramps_without_a_click() {
    let mut s = pan_session("balance", 2, 0.0);
    let (mut engine, mut audio) = engine(s.clone(), 256);
    let one = dc(256, 1.0);
    process(&mut audio, &one, 256);
    s.buses[0].mute = true;
    engine.load(s).unwrap();
    let mut out = Vec::new();
    for _ in 0..4 {
        out.extend(process(&mut audio, &one, 256).remove(0));
    }
    // 10 ms ramp = 480 samples from 1 to 0: steps of 1/480, then silence.
    let max_step = out.windows(2).map(|w| (w[0] - w[1]).abs()).fold(0.0, f32::max);
    assert!(max_step < 1.01 / 480.0, "step {max_step}");
    assert!(out[0] > 0.99, "starts where it was");
    assert_eq!(out[480..], vec![0.0; 1024 - 480][..], "silent after the ramp");
}

#[test]
fn reloading_keeps_running_state_so_an_unchanged_session_plays_on_seamlessly() {
    // The reference session has limiters mid-release, generators mid-cycle and
    // compensation delays full of audio; reloading it every few blocks must
    // give exactly the samples of an uninterrupted run.
    let s = mam_core::reference::reference_session();
    let options = CompileOptions { sample_rate: 48_000.0, max_block: 128, ports: Vec::new() };
    let render = |reload_every: usize| {
        let (mut engine, mut audio) = Engine::new(s.clone(), options.clone()).unwrap();
        let mut out = vec![Vec::new(), Vec::new()];
        let mut block = vec![vec![0.0f32; 128]; 2];
        for i in 0..60 {
            if reload_every > 0 && i % reload_every == reload_every - 1 {
                engine.load(s.clone()).unwrap();
            }
            let mut outs: Vec<&mut [f32]> = block.iter_mut().map(|c| c.as_mut_slice()).collect();
            audio.process(&[], &mut outs, 128);
            for ch in 0..2 {
                out[ch].extend_from_slice(&block[ch]);
            }
            engine.collect_garbage();
        }
        out
    };
    let steady = render(0);
    assert!(steady[0].iter().any(|s| s.abs() > 0.01));
    assert!(render(5) == steady, "a reload changed the output");
}

/// ```text
///   in ─▶ [a: limiter 5 ms, −12 dB ceiling] ─▶ master
///   in ─▶ [b: fader G] ────────────────────────▶ master (delayed 240 to align)
/// ```
#[test]
fn an_edit_keeps_other_inserts_running_and_only_ramps_what_changed() {
    let make = |b_gain: f64| {
        session(&format!(
            r#"{{ "version": 1, "racks": [ {{ "id": "in" }} ],
            "buses": [ {{ "id": "a", "inserts": [ {{ "id": "lim", "type": "limiter", "params": {{ "lookaheadMs": 5, "ceilingDb": -12 }} }} ] }},
                       {{ "id": "b", "gain": {b_gain} }} ],
            "routes": [ {{ "from": "in", "to": "a" }}, {{ "from": "in", "to": "b" }} ] }}"#
        ))
    };
    // The same 256-sample block over and over, so "240 samples ago" is easy.
    let input: Vec<f32> = (0..256).map(|i| (i as f32 * 0.07).sin()).collect();
    let (mut edited_engine, mut edited) = engine(make(1.0), 256);
    let (_, mut steady) = engine(make(1.0), 256);
    for _ in 0..8 {
        process(&mut edited, &input, 256);
        process(&mut steady, &input, 256);
    }
    // Fade b out; a's limiter (mid gain reduction) must carry on untouched.
    edited_engine.load(make(0.0)).unwrap();
    let got = process(&mut edited, &input, 256);
    let reference = process(&mut steady, &input, 256);
    for i in 0..256 {
        // b's fader ramps 1 → 0 over 480 samples, seen 240 samples later at
        // the master because b's path is delayed to meet a's.
        let g = if i < 240 { 1.0 } else { 1.0 - (i - 240 + 1) as f32 / 480.0 };
        let b_now = input[(i + 256 - 240) % 256];
        let expected = reference[0][i] - b_now * (1.0 - g);
        close(got[0][i], expected, 1e-5, &format!("sample {i}"));
    }
}

#[test]
fn bus_meters_read_post_fader_levels() {
    let s = session(r#"{ "version": 1, "racks": [ { "id": "in" } ], "buses": [ { "id": "a", "gainDb": -6.020599913279624, "pan": -1 } ], "routes": [ { "from": "in", "to": "a" } ] }"#);
    let (engine, mut audio) = engine(s, 512);
    let square: Vec<f32> = (0..512).map(|i| if i % 2 == 0 { 0.8 } else { -0.8 }).collect();
    // 4.3 s = 14 RMS time constants: settled to 1e-6.
    for _ in 0..400 {
        process(&mut audio, &square, 512);
    }
    let m = engine.meter("a").unwrap();
    close(m.peak[0], 0.4, 1e-6, "left peak after the −6 dB fader");
    close(m.peak_hold[0], 0.4, 1e-6, "left hold");
    close(m.rms[0], 0.4, 1e-4, "left RMS of a square wave equals its peak");
    assert_eq!(m.peak[1], 0.0, "hard-left pan silences the right meter");
}
