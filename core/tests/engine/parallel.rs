//! Offline renders that run independent buses at the same time: the same
//! output, bit for bit, as the render on one thread.

use super::support::*;
use mam_core::reference::reference_session;
use mam_core::render::{render, render_with_threads, RackAudio, RenderOptions, Renderer, Rendered};
use mam_core::session::Session;

/// ```text
///   in ─▶ a ──────────────┐                      level 0: a, b, c
///   in ─▶ b ─▶ sub ───────┤                      level 1: sub, k, d
///   in ─▶ c ─▶ d ─────────┼─▶ master             level 2: master
///   in ─▶ k [comp, key ◀─ a] ┘
/// ```
/// `k` reads only the source through its route but its compressor is keyed
/// by bus `a`, so it must wait for `a`: it is of level 1, not 0. Widest
/// level: 3 buses (a, b, c); were the key ignored, level 0 would hold 4.
fn drawn() -> Session {
    session(
        r#"{ "version": 1, "racks": [ { "id": "in", "generator": { "type": "noise", "amp": 0.3, "seed": 3 } } ],
        "buses": [
            { "id": "a", "gainDb": -3, "route": "master" },
            { "id": "b", "pan": -0.5, "route": "sub",
              "inserts": [ { "id": "eq", "type": "eq", "params": {} } ] },
            { "id": "c", "route": "d", "sends": [ { "to": "sub", "levelDb": -6, "tap": "pre" } ] },
            { "id": "d", "gainDb": -6, "route": "master",
              "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 2, "ceilingDb": -3 } } ] },
            { "id": "k", "route": "master",
              "inserts": [ { "id": "comp", "type": "compressor", "sidechain": "a", "params": { "thresholdDb": -30, "ratio": 4 } } ] },
            { "id": "sub", "route": "master" },
            { "id": "master" }
        ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b" }, { "from": "in", "to": "c" }, { "from": "in", "to": "k" } ] }"#,
    )
}

fn example(name: &str) -> Session {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    session(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// Most buses of `session` that can run at the same time.
fn width(session: &Session) -> usize {
    let ports: Vec<&str> = session.racks.iter().filter(|r| matches!(r.kind, mam_core::session::RackKind::Input(_))).map(|r| r.id.as_str()).collect();
    Renderer::new(session, &ports, &options(512, 512)).expect("session compiles").audio_mut().schedule().parallel_width()
}

fn options(block: usize, frames: usize) -> RenderOptions {
    RenderOptions { block, frames, trim_latency: true, stems: true, controls: Default::default(), timeline: None }
}

/// Index of the first sample whose bits differ, per channel.
fn first_difference(got: &[Vec<f32>], want: &[Vec<f32>]) -> Option<(usize, usize)> {
    assert_eq!(got.len(), want.len(), "channel count");
    got.iter().zip(want).enumerate().find_map(|(ch, (g, w))| {
        assert_eq!(g.len(), w.len(), "length of channel {ch}");
        g.iter().zip(w).position(|(a, b)| a.to_bits() != b.to_bits()).map(|i| (ch, i))
    })
}

fn assert_identical(got: &Rendered, want: &Rendered, what: &str) {
    if let Some((ch, i)) = first_difference(&got.master, &want.master) {
        panic!("{what}: master channel {ch} differs from the serial render at frame {i}");
    }
    assert_eq!(got.stems.len(), want.stems.len(), "{what}: stems");
    for ((id, g), (want_id, w)) in got.stems.iter().zip(&want.stems) {
        assert_eq!(id, want_id, "{what}: stem order");
        if let Some((ch, i)) = first_difference(g, w) {
            panic!("{what}: stem '{id}' channel {ch} differs from the serial render at frame {i}");
        }
    }
}

/// Renders `session` serially and on 1, 2 and 4 threads at blocks 64 and
/// 512, and checks every output bit for bit.
fn check(name: &str, session: &Session, frames: usize) {
    for block in [64, 512] {
        let options = options(block, frames);
        let serial = render(session, &[], &options, &mut |_, _| {}).expect("session compiles");
        let peak = serial.master.iter().flatten().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.01, "{name}: the session makes sound (peak {peak})");
        assert!(width(session) >= 2, "{name}: some buses are independent");
        for threads in [1, 2, 4] {
            let parallel = render_with_threads(session, &[], &options, threads, &mut |_, _| {}).expect("session compiles");
            assert_identical(&parallel, &serial, &format!("{name}, block {block}, {threads} threads"));
        }
    }
}

#[test]
fn levels_count_routes_sends_and_keys() {
    let s = drawn();
    let mut renderer = Renderer::new(&s, &[], &options(512, 4_800)).unwrap();
    assert_eq!(renderer.audio_mut().schedule().parallel_width(), 3, "a, b and c; k waits for its key a");
    assert_eq!(renderer.set_threads(4), 3, "no more workers than buses of the widest level");
    assert_eq!(renderer.set_threads(2), 2);
    assert_eq!(renderer.set_threads(1), 1, "one thread: no pool");

    // A chain has nothing to run side by side.
    let chain = session(
        r#"{ "version": 1, "racks": [ { "id": "in", "generator": { "type": "sine", "hz": 100, "amp": 0.5 } } ],
        "buses": [ { "id": "a", "route": "b" }, { "id": "b", "route": "master" }, { "id": "master" } ],
        "routes": [ { "from": "in", "to": "a" } ] }"#,
    );
    let mut renderer = Renderer::new(&chain, &[], &options(512, 4_800)).unwrap();
    assert_eq!(renderer.audio_mut().schedule().parallel_width(), 1);
    assert_eq!(renderer.set_threads(4), 1, "a chain renders on one thread");
}

#[test]
fn parallel_renders_of_a_drawn_graph_are_bit_identical() {
    check("drawn graph", &drawn(), 24_000);
}

#[test]
fn parallel_renders_of_all_inserts_are_bit_identical() {
    check("all_inserts.json", &example("all_inserts.json"), 48_000);
}

#[test]
fn parallel_renders_of_two_duckers_are_bit_identical() {
    check("two_duckers.json", &example("two_duckers.json"), 48_000);
}

#[test]
fn parallel_renders_of_the_reference_session_are_bit_identical() {
    check("reference session", &reference_session(), 48_000);
}

#[test]
fn parallel_renders_with_port_inputs_and_a_scene_morph_are_bit_identical() {
    // live.json's sources are the plugin's ports: bind noise to them.
    let live = example("live.json");
    let inputs: Vec<RackAudio> = ["music", "mic"]
        .iter()
        .enumerate()
        .map(|(k, id)| RackAudio { rack_id: id.to_string(), channels: both(white(24_000, k as u32 + 1, 0.4)) })
        .collect();
    // two_duckers.json held halfway between its two scenes.
    let scenes = example("two_duckers.json");
    let mut morph = options(512, 24_000);
    morph.controls.morph_a = 1;
    morph.controls.morph_b = 2;
    morph.controls.morph = 0.5;
    for (name, s, inputs, options) in [("live.json", &live, &inputs[..], options(512, 24_000)), ("two_duckers.json morphed", &scenes, &[][..], morph)] {
        assert!(width(s) >= 2, "{name}: some buses are independent");
        let serial = render(s, inputs, &options, &mut |_, _| {}).expect("session compiles");
        for threads in [2, 4] {
            let parallel = render_with_threads(s, inputs, &options, threads, &mut |_, _| {}).expect("session compiles");
            assert_identical(&parallel, &serial, &format!("{name}, {threads} threads"));
        }
    }
}
