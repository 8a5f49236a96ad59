//! Timeline playback (docs/ARCHITECTURE.md §8.1): events land on their sample
//! whatever the block size; at one sample `set` applies before `scene`; a
//! `set` holds until the next scene recall; push/pop and macros from the
//! timeline; the playhead follows the transport; nothing allocates.

use std::sync::Arc;

use super::alloc_guard::allocations_in;
use super::support::*;
use mam_core::engine::Engine;
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::insert::db_to_gain;
use mam_core::render::{render, RackAudio, RenderChunk, RenderOptions, Renderer};
use mam_core::session::Session;
use mam_core::timeline::{self, Timeline};
use mam_core::transport::Transport;

/// ```text
///   in ─▶ [bed: 0 dB, utility u] ─▶ master
///            └─ send −144 dB (post) ─▶ [fx] ─▶ master
/// ```
/// 120 BPM 4/4 at 48 kHz (a bar is 96 000 samples).
/// Scene 1 "Low": bed −6 dB, instant, quantize `bar`.
/// Scene 2 "Fade": bed −12 dB, morph 100 ms.
/// Scene 3 "Wide": bed −20 dB, send 0 dB, crossfade 50 ms.
/// Macro 1: bed.pan 0 … +1 (balance law: hard right silences the left).
fn plain() -> Session {
    session(
        r#"{ "version": 1, "sampleRate": 48000, "tempo": 120, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "bed", "inserts": [ { "id": "u", "type": "utility" } ], "sends": [ { "to": "fx", "levelDb": -144 } ] },
                   { "id": "fx" } ],
        "routes": [ { "from": "in", "to": "bed" } ],
        "scenes": [
          { "name": "Low", "transition": "instant", "quantize": "bar", "values": { "bed.gainDb": -6 } },
          { "name": "Fade", "transition": "morph", "morphMs": 100, "values": { "bed.gainDb": -12 } },
          { "name": "Wide", "transition": "crossfade", "morphMs": 50, "values": { "bed.gainDb": -20, "bed.send.fx": 0 } } ],
        "macros": [ { "name": "Pan", "targets": [ { "path": "bed.pan", "min": 0, "max": 1 } ] } ] }"#,
    )
}

/// A timeline of `lanes` (the JSON of the `lanes` array) at 48 kHz, which
/// must load against `s` without errors.
fn timeline(s: &Session, lanes: &str) -> Arc<Timeline> {
    let text = format!(r#"{{ "version": 1, "sampleRate": 48000, "lanes": {lanes} }}"#);
    match timeline::load_str(&text, s) {
        Ok(loaded) => Arc::new(loaded.timeline),
        Err(e) => panic!("test timeline invalid:\n{e}"),
    }
}

/// Renders DC 1.0 through `s` with `tl` playing, untrimmed, in blocks of `block`.
fn play(s: &Session, tl: &Arc<Timeline>, frames: usize, block: usize) -> Vec<Vec<f32>> {
    let inputs = [RackAudio { rack_id: "in".into(), channels: both(dc(frames, 1.0)) }];
    let options = RenderOptions { block, frames, trim_latency: false, stems: false, controls: Default::default(), timeline: Some(tl.clone()) };
    render(s, &inputs, &options, &mut |_, _| {}).expect("session compiles").master
}

fn gain(db: f64) -> f32 {
    db_to_gain(db) as f32
}

/// The first sample that differs from `value`.
fn first_change(x: &[f32], value: f32) -> Option<usize> {
    x.iter().position(|&s| s != value)
}

/// The strip's declick: 10 ms at 48 kHz.
const STRIP_RAMP: usize = 480;

#[test]
fn a_set_changes_the_output_from_exactly_its_sample() {
    let s = plain();
    let tl = timeline(&s, r#"[ { "id": "bed.gainDb", "events": [ { "t": 24000, "type": "set", "path": "bed.gainDb", "value": -6, "rampMs": 0 } ] } ]"#);
    let out = play(&s, &tl, 48_000, 512);
    let g = gain(-6.0);
    assert!(out[0][..24_000].iter().all(|&x| x == 1.0), "unity up to the event");
    // With no ramp of its own the value steps on sample 24000 and the
    // strip's 10 ms declick takes it there linearly: sample 24000 + k stands
    // k + 1 steps of (g − 1)/480 down. The smoother adds its step 480 times
    // in f32 (each addition rounds by at most half an ulp of a value below
    // 1, 3e-8), so 2e-5 bounds the drift from the exact line.
    for k in 0..STRIP_RAMP {
        let want = 1.0 + (g - 1.0) * (k + 1) as f32 / STRIP_RAMP as f32;
        close(out[0][24_000 + k], want, 2e-5, &format!("sample {}", 24_000 + k));
    }
    assert!(out[0][24_000 + STRIP_RAMP - 1..].iter().all(|&x| x == g), "exactly −6 dB once the declick ends");
    assert_eq!(out[0], out[1], "both channels alike");
}

#[test]
fn a_set_with_the_default_ramp_starts_on_its_sample_and_lands_exactly() {
    let s = plain();
    let tl = timeline(&s, r#"[ { "id": "bed", "events": [ { "t": 24000, "type": "set", "path": "bed.gainDb", "value": -6 } ] } ]"#);
    let out = play(&s, &tl, 48_000, 512);
    assert_eq!(first_change(&out[0], 1.0), Some(24_000));
    // 10 ms of control ramp, then the strip's 10 ms to its last step.
    assert!(out[0][24_000 + 2 * STRIP_RAMP..].iter().all(|&x| x == gain(-6.0)));
    assert!(out[0][24_000..24_000 + 2 * STRIP_RAMP].windows(2).all(|w| w[1] <= w[0]), "no overshoot on the way down");
}

#[test]
fn a_ramp_over_ramp_ms_moves_as_long_and_lands_exactly() {
    let s = plain();
    let tl = timeline(&s, r#"[ { "id": "bed", "events": [ { "t": 1000, "type": "set", "path": "bed.gainDb", "value": -12, "rampMs": 100 } ] } ]"#);
    let out = play(&s, &tl, 12_000, 512);
    assert_eq!(first_change(&out[0], 1.0), Some(1000));
    // Half-way through the 100 ms ramp the level stands near −6 dB (a
    // 32-sample control step and the strip's 10 ms lag behind it: between
    // −6 dB and where the ramp stood 10 ms + one step earlier).
    let mid = out[0][1000 + 2400];
    let lagged = gain(-12.0 * (2400.0 - 480.0 - 32.0) / 4800.0);
    assert!(mid < lagged && mid > gain(-6.0), "{mid} between {} and {lagged}", gain(-6.0));
    assert!(out[0][1000 + 4800 + STRIP_RAMP..].iter().all(|&x| x == gain(-12.0)));
}

#[test]
fn a_scene_event_fires_on_its_sample_not_on_the_scenes_bar() {
    let s = plain();
    // Scene 1 waits for the next bar when the host recalls it; the
    // timeline places it on sample 30000 (mid-bar), where it starts.
    let tl = timeline(&s, r#"[ { "id": "scenes", "events": [ { "t": 30000, "type": "scene", "scene": 1 } ] } ]"#);
    let out = play(&s, &tl, 48_000, 4096);
    assert_eq!(first_change(&out[0], 1.0), Some(30_000));
    assert!(out[0][30_000 + 2 * STRIP_RAMP..].iter().all(|&x| x == gain(-6.0)));
}

#[test]
fn at_one_sample_a_set_applies_before_a_scene() {
    let s = plain();
    // The scene's lane comes first in the file, so file order alone would
    // recall scene 1 and then set −20 dB over it; set-first lets the
    // recall take the value over, so scene 1's −6 dB stands.
    let same = timeline(
        &s,
        r#"[ { "id": "scenes", "events": [ { "t": 10000, "type": "scene", "scene": 1 } ] },
             { "id": "bed", "events": [ { "t": 10000, "type": "set", "path": "bed.gainDb", "value": -20, "rampMs": 0 } ] } ]"#,
    );
    let out = play(&s, &same, 20_000, 64);
    assert_eq!(first_change(&out[0], 1.0), Some(10_000));
    assert!(out[0][12_000..].iter().all(|&x| x == gain(-6.0)), "the scene's value: {}", out[0][19_999]);
    // One sample later, the set comes after the recall and holds.
    let later = timeline(
        &s,
        r#"[ { "id": "scenes", "events": [ { "t": 10000, "type": "scene", "scene": 1 } ] },
             { "id": "bed", "events": [ { "t": 10001, "type": "set", "path": "bed.gainDb", "value": -20, "rampMs": 0 } ] } ]"#,
    );
    let out = play(&s, &later, 20_000, 64);
    assert!(out[0][12_000..].iter().all(|&x| x == gain(-20.0)), "the set's value: {}", out[0][19_999]);
}

#[test]
fn a_set_holds_until_the_next_scene_recall_which_starts_from_it() {
    let s = plain();
    let tl = timeline(
        &s,
        r#"[ { "id": "bed", "events": [ { "t": 1000, "type": "set", "path": "bed.gainDb", "value": -20, "rampMs": 0 } ] },
             { "id": "scenes", "events": [ { "t": 20000, "type": "scene", "scene": 2 } ] } ]"#,
    );
    let out = play(&s, &tl, 30_000, 511);
    assert!(out[0][2000..20_000].iter().all(|&x| x == gain(-20.0)), "held −20 dB");
    // Scene 2 morphs over 100 ms from −20 dB (where the mix stands, not the
    // session's 0 dB) up to −12 dB.
    assert!(out[0][20_000..20_000 + 4800].windows(2).all(|w| w[1] >= w[0]), "rising from the held value");
    assert!(out[0][20_000] < gain(-19.0));
    assert!(out[0][20_000 + 4800 + STRIP_RAMP..].iter().all(|&x| x == gain(-12.0)));
}

#[test]
fn push_and_pop_from_the_timeline_return_to_exactly_the_state_before() {
    let s = plain();
    let tl = timeline(
        &s,
        r#"[ { "id": "bed", "events": [ { "t": 500, "type": "set", "path": "bed.gainDb", "value": -3, "rampMs": 0 } ] },
             { "id": "stack", "events": [ { "t": 4000, "type": "push", "scene": 2 }, { "t": 14000, "type": "pop" } ] } ]"#,
    );
    let out = play(&s, &tl, 24_000, 512);
    let before = gain(-3.0);
    assert_eq!(out[0][3999], before);
    assert!(out[0][4000 + 4800 + STRIP_RAMP..14_000].iter().all(|&x| x == gain(-12.0)), "scene 2 pushed, its 100 ms morph done");
    // Back over scene 2's 100 ms to the pushed-over −3 dB the timeline set.
    assert!(out[0][14_000 + 4800 + STRIP_RAMP..].iter().all(|&x| x == before));
}

#[test]
fn a_macro_event_moves_its_macro_on_its_sample() {
    let s = plain();
    let tl = timeline(&s, r#"[ { "id": "m", "events": [ { "t": 5000, "type": "macro", "macro": 1, "value": 1 } ] } ]"#);
    let out = play(&s, &tl, 8_000, 512);
    assert_eq!(first_change(&out[0], 1.0), Some(5000));
    assert!(out[1].iter().all(|&x| x == 1.0), "balance: the near side stays at unity");
    assert!(out[0][5000 + 2 * STRIP_RAMP..].iter().all(|&x| x == 0.0), "hard right silences the left");
}

/// Every kind of event, on and between block boundaries of every size tried.
fn busy(s: &Session) -> Arc<Timeline> {
    timeline(
        s,
        r#"[ { "id": "scenes", "events": [
               { "t": 700, "type": "scene", "scene": 2 },
               { "t": 6000, "type": "scene", "scene": 3 },
               { "t": 9001, "type": "scene", "scene": 1, "policy": "crossfade", "morphMs": 30 },
               { "t": 12000, "type": "push", "scene": 3 },
               { "t": 15333, "type": "pop" },
               { "t": 20480, "type": "scene", "scene": 0, "policy": "morph", "morphMs": 20 } ] },
             { "id": "mix", "events": [
               { "t": 0, "type": "set", "path": "bed.pan", "value": -0.5, "rampMs": 3 },
               { "t": 511, "type": "set", "path": "bed/u.gainDb", "value": -4.5, "rampMs": 25 },
               { "t": 6000, "type": "set", "path": "bed.send.fx", "value": -6, "rampMs": 7 },
               { "t": 8192, "type": "set", "path": "bed.mute", "value": true },
               { "t": 8500, "type": "set", "path": "bed.mute", "value": false },
               { "t": 13000, "type": "macro", "macro": 1, "value": 0.25 },
               { "t": 17000, "type": "set", "path": "bed.gainDb", "value": 3, "rampMs": 13 } ] } ]"#,
    )
}

#[test]
fn block_sizes_1_64_511_and_4096_are_bit_identical_with_a_timeline_playing() {
    let s = plain();
    let tl = busy(&s);
    let want = play(&s, &tl, 24_000, 4096);
    assert_ne!(want[0][23_999], want[0][0], "the timeline moved the mix");
    for block in [1, 64, 511] {
        assert_eq!(play(&s, &tl, 24_000, block), want, "block {block}");
    }
}

#[test]
fn randomly_sliced_process_calls_give_the_same_samples() {
    let s = plain();
    let tl = busy(&s);
    let want = play(&s, &tl, 24_000, 4096);
    let options = RenderOptions { block: 4096, frames: 24_000, trim_latency: false, stems: false, controls: Default::default(), timeline: Some(tl) };
    let mut renderer = Renderer::new(&s, &["in"], &options).unwrap();
    let input = dc(4096, 1.0);
    let mut got = vec![Vec::new(), Vec::new()];
    let mut chunk = RenderChunk::default();
    let mut seed = 0x9e37_79b9u32;
    while renderer.done_frames() < renderer.total_frames() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = 1 + seed as usize % 4096;
        renderer.process(&[&[&input[..n], &input[..n]]], n, &mut chunk);
        for (g, c) in got.iter_mut().zip(&chunk.master) {
            g.extend_from_slice(c);
        }
    }
    assert_eq!(got, want);
}

/// DC through `audio` for `frames` frames in one block after a transport
/// at `position` (`None`: stopped); returns the left channel.
fn block(audio: &mut mam_core::engine::AudioProcessor, position: Option<i64>, frames: usize) -> Vec<f32> {
    let transport = Transport { playing: position.is_some(), position_samples: position, tempo: Some(120.0), ..Default::default() };
    audio.set_transport(&transport);
    let input = dc(frames, 1.0);
    let (mut l, mut r) = (vec![0.0; frames], vec![0.0; frames]);
    audio.process(&[&[&input, &input]], &mut [&mut l, &mut r], frames);
    l
}

#[test]
fn the_playhead_follows_the_transport_stopping_and_jumping_back() {
    let s = plain();
    let tl = timeline(
        &s,
        r#"[ { "id": "bed", "events": [ { "t": 1000, "type": "set", "path": "bed.gainDb", "value": -6, "rampMs": 0 },
                                       { "t": 3000, "type": "set", "path": "bed.gainDb", "value": 0, "rampMs": 0 } ] } ]"#,
    );
    let options = CompileOptions { sample_rate: 48_000.0, max_block: 2048, ports: vec![PortBinding::source("in")] };
    let (_engine, mut audio) = Engine::with_timeline(s, options, Some(tl)).unwrap();
    // Stopped at 0: nothing fires however long it runs.
    assert!(block(&mut audio, None, 2048).iter().all(|&x| x == 1.0));
    // Playing from 0: the set at 1000 lands on its sample.
    assert_eq!(first_change(&block(&mut audio, Some(0), 2048), 1.0), Some(1000));
    let out = block(&mut audio, Some(2048), 2048);
    assert_eq!(out[3000 - 2048 - 1], gain(-6.0));
    assert_eq!(out[2047], 1.0, "the set back to 0 dB at 3000 and the declick are past");
    // A loop's jump back to 512: the event at 1000 fires again, 488 in.
    let out = block(&mut audio, Some(512), 2048);
    assert_eq!(first_change(&out, 1.0), Some(488));
}

#[test]
fn playing_a_timeline_allocates_nothing() {
    let s = plain();
    let tl = busy(&s);
    let options = CompileOptions { sample_rate: 48_000.0, max_block: 512, ports: vec![PortBinding::source("in")] };
    let (_engine, mut audio) = Engine::with_timeline(s, options, Some(tl)).unwrap();
    let input = dc(512, 1.0);
    let (mut l, mut r) = (vec![0.0; 512], vec![0.0; 512]);
    let mut position = 0i64;
    let calls = allocations_in(|| {
        while position < 24_000 {
            audio.set_transport(&Transport { playing: true, position_samples: Some(position), tempo: Some(120.0), ..Default::default() });
            audio.process(&[&[&input, &input]], &mut [&mut l, &mut r], 512);
            position += 512;
        }
        // A jump back seeks without allocating either.
        audio.set_transport(&Transport { playing: true, position_samples: Some(600), tempo: Some(120.0), ..Default::default() });
        audio.process(&[&[&input, &input]], &mut [&mut l, &mut r], 512);
    });
    assert_eq!(calls, 0);
}
