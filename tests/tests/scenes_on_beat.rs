//! Scenes on the beat through the CLAP plugin, with a scripted host
//! transport: 120 BPM, 4/4, 48 kHz, so a beat is 24 000 samples and a bar
//! 96 000 (computed by hand, not by the plugin's code).
//!
//! The session: the main input (a constant 0.5) on bus `a` at 0 dB →
//! master; scene 1 "Quiet" takes `a` to −12 dB instantly (with the 10 ms
//! declick that starts on its first sample). So the sample where the output
//! first drops below 0.5 is the sample the recall started on.

use clack_host::events::event_types::{ParamValueEvent, TransportEvent};
use clack_host::events::Pckn;
use mam_tests::clap::*;

const BEAT: usize = 24_000;
const BAR: usize = 4 * BEAT;

fn session(quantize: &str) -> String {
    format!(
        r#"{{ "version": 1, "sampleRate": 48000, "tempo": 120, "timeSignature": [4, 4],
        "racks": [ {{ "id": "m", "input": "main" }} ],
        "buses": [ {{ "id": "a", "route": "master" }}, {{ "id": "master" }} ],
        "routes": [ {{ "from": "m", "to": "a" }} ],
        "scenes": [ {{ "name": "Quiet", "transition": "instant", "quantize": "{quantize}", "values": {{ "a.gainDb": -12 }} }} ] }}"#
    )
}


/// Plays `frames` of a constant 0.5 with the scene parameter set to 1 at
/// `request` and the transport from `song`; returns the first frame whose
/// output is below 0.5 (the recall's start).
fn first_quiet_frame(quantize: &str, frames: usize, request: usize, song: &mut dyn FnMut(usize) -> Option<TransportEvent>, block: usize) -> Option<usize> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut loaded = load_with_session(&session(quantize));
    let scene = param_id(&mut loaded, "Scene");
    let main = [vec![0.5f32; frames], vec![0.5f32; frames]];
    let out = run_with_transport(&mut loaded, &main, &no_keys(frames), &[ParamValueEvent::new(request as u32, scene, Pckn::match_all(), 1.0)], &mut |_| block, song);
    out[0].iter().position(|&s| s < 0.5)
}

fn rolling(frame: usize) -> Option<TransportEvent> {
    Some(transport_event(frame, true, 120.0, frame as f64 / BEAT as f64))
}

#[test]
fn a_bar_quantized_scene_at_beat_2_5_starts_on_the_first_sample_of_the_next_bar() {
    let request = 2 * BEAT + BEAT / 2;
    for block in [512, 511, 64] {
        assert_eq!(first_quiet_frame("bar", BAR + 4096, request, &mut rolling, block), Some(BAR), "block {block}");
    }
}

#[test]
fn a_beat_quantized_scene_starts_on_the_next_beat_and_one_on_a_boundary_starts_there() {
    assert_eq!(first_quiet_frame("beat", 4 * BEAT, 2 * BEAT + BEAT / 2, &mut rolling, 512), Some(3 * BEAT));
    assert_eq!(first_quiet_frame("beat", 4 * BEAT, 2 * BEAT, &mut rolling, 512), Some(2 * BEAT), "exactly on a beat");
}

#[test]
fn a_tempo_change_before_the_boundary_moves_it() {
    // 120 BPM until frame 72 000 (beat 3), then 60 BPM: beat 4 (the bar)
    // comes one 60-BPM beat (48 000 samples) later, at frame 120 000.
    let change = 3 * BEAT;
    let mut song = |frame: usize| {
        let beats = if frame < change { frame as f64 / BEAT as f64 } else { 3.0 + (frame - change) as f64 / 48_000.0 };
        Some(transport_event(frame, true, if frame < change { 120.0 } else { 60.0 }, beats))
    };
    assert_eq!(first_quiet_frame("bar", 130_000, 2 * BEAT + BEAT / 2, &mut song, 500), Some(120_000));
}

#[test]
fn a_loop_wrap_before_the_boundary_is_honoured() {
    // The host loops beats 2…3.5 three times (36 000 frames per lap) from
    // frame 48 000, then plays on from beat 2. The bar line (beat 4) lies
    // outside the loop, so a bar-quantized recall requested at beat 2.5 (in
    // the first lap) waits through every wrap and starts when the song
    // finally reaches beat 4: 48 000 frames after the loop ends.
    let lap = 36_000;
    let mut song = |frame: usize| {
        let beats = if frame < 2 * BEAT {
            frame as f64 / BEAT as f64
        } else if frame < 2 * BEAT + 3 * lap {
            2.0 + ((frame - 2 * BEAT) % lap) as f64 / BEAT as f64
        } else {
            2.0 + (frame - 2 * BEAT - 3 * lap) as f64 / BEAT as f64
        };
        Some(transport_event(frame, true, 120.0, beats))
    };
    // After the loop (frame 156 000 = beat 2 again), bar 1 is 48 000 later.
    let expected = 2 * BEAT + 3 * lap + 2 * BEAT;
    // 1000-frame blocks: the position jumps back at a block start, as a
    // host's loop wraps between process calls.
    assert_eq!(first_quiet_frame("bar", expected + 2048, 2 * BEAT + BEAT / 2, &mut song, 1000), Some(expected));
}

#[test]
fn with_the_transport_stopped_or_absent_a_quantized_scene_starts_at_once() {
    let request = 2 * BEAT + BEAT / 2;
    let mut stopped = |frame: usize| Some(transport_event(frame, false, 120.0, frame as f64 / BEAT as f64));
    assert_eq!(first_quiet_frame("bar", 3 * BEAT, request, &mut stopped, 512), Some(request));
    assert_eq!(first_quiet_frame("bar", 3 * BEAT, request, &mut |_| None, 512), Some(request));
}

#[test]
fn scene_hold_pushes_and_pops_back_to_the_exact_mix() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let frames = 48_000;
    // A changing input, so "exactly the mix before" means sample for sample.
    let main: [Vec<f32>; 2] = [0, 1].map(|c| (0..frames).map(|i| 0.4 * ((i * (3 + c)) as f32 * 0.001).sin()).collect());
    let mut reference = load_with_session(&session("none"));
    let plain = run(&mut reference, &main, &no_keys(frames), &[]);
    drop(reference);
    let mut held = load_with_session(&session("none"));
    let hold = param_id(&mut held, "Scene Hold");
    let events = [ParamValueEvent::new(4_800, hold, Pckn::match_all(), 1.0), ParamValueEvent::new(14_400, hold, Pckn::match_all(), 0.0)];
    let out = run(&mut held, &main, &no_keys(frames), &events);
    assert_eq!(out[0][..4_800], plain[0][..4_800], "untouched before the push");
    assert!((4_800..14_400).any(|i| out[0][i] != plain[0][i]), "the held scene is heard");
    // After the pop: the instant transition's 10 ms declick, then the
    // strip's own 10 ms gain ramp (960 samples in all), the mix is back.
    let settled = 14_400 + 960;
    for c in 0..2 {
        let first_difference = (settled..frames).find(|&i| out[c][i] != plain[c][i]);
        assert_eq!(first_difference, None, "channel {c} is bit-identical after the pop");
    }
}
