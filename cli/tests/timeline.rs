//! `mam render --timeline`: events land on their sample in the rendered file
//! whatever `--block`, `set` before `scene` at one sample, another rate is
//! rescaled, and a bad timeline names every error's JSON path and writes nothing.

#[path = "support/common.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::{mam, read_wav, scratch, text, write_wav};

/// ```text
///   in ─▶ [bed] ─▶ master
/// ```
/// Scene 1 "Low": bed −6 dB, instant, quantize `bar` (a host recall would
/// wait for sample 96 000 at 120 BPM). Macro 1: bed.pan 0 … +1.
const SESSION: &str = r#"{ "version": 1, "sampleRate": 48000, "tempo": 120, "racks": [ { "id": "in" } ],
  "buses": [ { "id": "bed" } ], "routes": [ { "from": "in", "to": "bed" } ],
  "scenes": [ { "name": "Low", "transition": "instant", "quantize": "bar", "values": { "bed.gainDb": -6 } } ],
  "macros": [ { "name": "Pan", "targets": [ { "path": "bed.pan", "min": 0, "max": 1 } ] } ] }"#;

/// Input level: DC at 0.5, so every gain shows as a sample value.
const LEVEL: f32 = 0.5;

/// A folder with the session, one second of DC input, and `timeline` (the
/// JSON of the `lanes` array, at 48 kHz) as `timeline.json`.
fn setup(test: &str, lanes: &str) -> (PathBuf, PathBuf, String, PathBuf) {
    let dir = scratch(test);
    let session = dir.join("session.json");
    std::fs::write(&session, SESSION).unwrap();
    let input = dir.join("in.wav");
    write_wav(&input, 48_000, &[vec![LEVEL; 48_000]]);
    let timeline = dir.join("timeline.json");
    std::fs::write(&timeline, format!(r#"{{ "version": 1, "sampleRate": 48000, "lanes": {lanes} }}"#)).unwrap();
    (dir, session, format!("in={}", input.display()), timeline)
}

/// Renders to `out` with `extra` arguments; returns the left channel.
fn render(session: &Path, bind: &str, timeline: &Path, out: &Path, extra: &[&str]) -> Vec<f32> {
    let mut args = vec!["render", session.to_str().unwrap(), "--in", bind, "--timeline", timeline.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = mam(&args);
    assert!(r.status.success(), "{}", text(&r.stderr));
    read_wav(out).1.swap_remove(0)
}

fn gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// The strip's declick: 10 ms at 48 kHz.
const STRIP_RAMP: usize = 480;

#[test]
fn a_set_at_24000_changes_the_output_from_exactly_that_sample() {
    let (dir, session, bind, timeline) =
        setup("set", r#"[ { "id": "bed.gainDb", "events": [ { "t": 24000, "type": "set", "path": "bed.gainDb", "value": -6, "rampMs": 0 } ] } ]"#);
    let out = render(&session, &bind, &timeline, &dir.join("out.wav"), &[]);
    assert_eq!(out.len(), 48_000);
    assert!(out[..24_000].iter().all(|&x| x == LEVEL), "untouched before the event");
    // The value steps on sample 24000; the strip's 10 ms declick takes the
    // gain from 1 to g in 480 equal steps, the first on that sample. 2e-5:
    // 480 f32 additions of the step, each rounding by half an ulp (3e-8).
    let g = gain(-6.0);
    for k in 0..STRIP_RAMP {
        let want = LEVEL * (1.0 + (g - 1.0) * (k + 1) as f32 / STRIP_RAMP as f32);
        assert!((out[24_000 + k] - want).abs() < 2e-5, "sample {}: {} vs {want}", 24_000 + k, out[24_000 + k]);
    }
    // Landed: −6 dB of 0.5 (f32 powf and the engine's f64 dB conversion
    // agree to an ulp).
    assert!(out[24_000 + STRIP_RAMP..].iter().all(|&x| (x - LEVEL * g).abs() < 1e-7));
    assert!(out[24_000 + STRIP_RAMP..].windows(2).all(|w| w[0] == w[1]), "and holds");
}

#[test]
fn a_scene_event_fires_on_its_sample() {
    let (dir, session, bind, timeline) = setup("scene", r#"[ { "id": "scenes", "events": [ { "t": 30000, "type": "scene", "scene": 1 } ] } ]"#);
    let out = render(&session, &bind, &timeline, &dir.join("out.wav"), &[]);
    assert_eq!(out.iter().position(|&x| x != LEVEL), Some(30_000), "not on the scene's bar at 96000");
    // 10 ms of instant transition, then the strip's 10 ms.
    assert!(out[30_000 + 2 * STRIP_RAMP..].iter().all(|&x| (x - LEVEL * gain(-6.0)).abs() < 1e-7));
}

#[test]
fn at_one_sample_set_applies_before_scene() {
    // The scene's lane is first in the file: file order alone would set
    // −20 dB after the recall. Set-first lets the recall win: −6 dB.
    let (dir, session, bind, timeline) = setup(
        "order",
        r#"[ { "id": "scenes", "events": [ { "t": 10000, "type": "scene", "scene": 1 } ] },
             { "id": "bed", "events": [ { "t": 10000, "type": "set", "path": "bed.gainDb", "value": -20, "rampMs": 0 } ] } ]"#,
    );
    let out = render(&session, &bind, &timeline, &dir.join("out.wav"), &["--duration", "0.5"]);
    assert_eq!(out.iter().position(|&x| x != LEVEL), Some(10_000));
    assert!(out[12_000..].iter().all(|&x| (x - LEVEL * gain(-6.0)).abs() < 1e-7), "scene 1's level: {}", out[23_999]);
}

#[test]
fn block_sizes_1_64_511_and_4096_write_the_same_bytes() {
    let (dir, session, bind, timeline) = setup(
        "blocks",
        r#"[ { "id": "scenes", "events": [ { "t": 700, "type": "scene", "scene": 1 }, { "t": 9001, "type": "push", "scene": 1 },
                                           { "t": 15333, "type": "pop" }, { "t": 20480, "type": "scene", "scene": 0, "policy": "morph", "morphMs": 20 } ] },
             { "id": "mix", "events": [ { "t": 0, "type": "set", "path": "bed.pan", "value": -0.5, "rampMs": 3 },
                                        { "t": 511, "type": "set", "path": "bed.gainDb", "value": -4.5, "rampMs": 25 },
                                        { "t": 8192, "type": "set", "path": "bed.mute", "value": true },
                                        { "t": 8500, "type": "set", "path": "bed.mute", "value": false },
                                        { "t": 13000, "type": "macro", "macro": 1, "value": 0.25 } ] } ]"#,
    );
    let mut outputs = Vec::new();
    for block in ["1", "64", "511", "4096"] {
        let out = dir.join(format!("b{block}.wav"));
        render(&session, &bind, &timeline, &out, &["--duration", "0.5", "--block", block]);
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "WAV bytes differ between block sizes");
    let (_, audio) = read_wav(&dir.join("b64.wav"));
    assert_ne!(audio[0][0], audio[0][23_999], "the timeline moved the mix");
}

#[test]
fn a_timeline_at_another_rate_is_rescaled_with_a_warning() {
    let (dir, session, bind, _) = setup("rate", "[]");
    let timeline = dir.join("at24k.json");
    std::fs::write(
        &timeline,
        r#"{ "version": 1, "sampleRate": 24000, "lanes": [ { "id": "b", "events": [ { "t": 12000, "type": "set", "path": "bed.gainDb", "value": -6, "rampMs": 0 } ] } ] }"#,
    )
    .unwrap();
    let out = dir.join("out.wav");
    let r = mam(&["render", session.to_str().unwrap(), "--in", &bind, "--timeline", timeline.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("sampleRate: the timeline counts at 24000 Hz and the session plays at 48000 Hz"), "{}", text(&r.stderr));
    let (_, audio) = read_wav(&out);
    assert_eq!(audio[0].iter().position(|&x| x != LEVEL), Some(24_000), "half a second either way");
}

/// Every kind of error, each with the JSON path the message must carry.
const BAD: &[(&str, &str, &str)] = &[
    ("not-json", "{ \"version\": 1,", "not valid JSON"),
    ("wrong-type", r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "a", "events": [ { "t": 0, "type": "set", "path": "bed.gainDb", "value": [1] } ] } ] }"#, "lanes[0].events[0].value: expected a number, boolean or string"),
    ("unknown-type", r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "a", "events": [ { "t": 0, "type": "fade" } ] } ] }"#, "lanes[0].events[0].type: unknown event type 'fade'"),
    ("order", r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "a", "events": [ { "t": 9, "type": "pop" }, { "t": 8, "type": "pop" } ] } ] }"#, "lanes[0].events[1].t: t 8 comes before the previous event's"),
    ("negative", r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "a", "events": [ { "t": -1, "type": "pop" } ] } ] }"#, "lanes[0].events[0].t: t -1 is negative"),
    ("path", r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "a", "events": [ { "t": 0, "type": "set", "path": "bed.volume", "value": 1 } ] } ] }"#, "lanes[0].events[0].path: bus 'bed' has no field 'volume'"),
    ("scene", r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "a", "events": [ { "t": 0, "type": "scene", "scene": 4 } ] } ] }"#, "lanes[0].events[0].scene: the session has no scene 4"),
    ("macro", r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "a", "events": [ { "t": 0, "type": "macro", "macro": 2, "value": 1 } ] } ] }"#, "lanes[0].events[0].macro: the session defines no macro 2"),
    ("value", r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "a", "events": [ { "t": 0, "type": "set", "path": "bed.pan", "value": 3 } ] } ] }"#, "lanes[0].events[0].value: bed.pan: 3 is out of range -1 … 1"),
];

#[test]
fn each_kind_of_bad_timeline_prints_its_json_path_and_writes_no_file() {
    let (dir, session, bind, _) = setup("bad", "[]");
    for (name, json, want) in BAD {
        let timeline = dir.join(format!("{name}.json"));
        std::fs::write(&timeline, json).unwrap();
        let out = dir.join(format!("{name}.wav"));
        let r = mam(&["render", session.to_str().unwrap(), "--in", &bind, "--timeline", timeline.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let err = text(&r.stderr);
        assert!(!r.status.success(), "{name}: rendered");
        assert!(err.contains(want), "{name}: expected '{want}' in:\n{err}");
        assert!(err.contains("nothing was rendered"), "{name}: {err}");
        assert!(!out.exists(), "{name}: wrote {}", out.display());
    }
    // Several errors at once are all listed; with --out-dir not even the folder is made.
    let timeline = dir.join("several.json");
    std::fs::write(&timeline, r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "a", "events": [ { "t": 5, "type": "scene", "scene": 9 }, { "t": 1, "type": "set", "path": "nope.gainDb", "value": 0 } ] } ] }"#).unwrap();
    let out_dir = dir.join("never");
    let r = mam(&["render", session.to_str().unwrap(), "--in", &bind, "--timeline", timeline.to_str().unwrap(), "--out-dir", out_dir.to_str().unwrap()]);
    let err = text(&r.stderr);
    assert!(!r.status.success());
    for want in ["lanes[0].events[0].scene:", "lanes[0].events[1].t: t 1 comes before", "lanes[0].events[1].path:"] {
        assert!(err.contains(want), "expected '{want}' in:\n{err}");
    }
    assert!(!out_dir.exists(), "--out-dir created");
    // A timeline file that is not there.
    let r = mam(&["render", session.to_str().unwrap(), "--in", &bind, "--timeline", dir.join("missing.json").to_str().unwrap(), "--out", dir.join("m.wav").to_str().unwrap()]);
    assert!(!r.status.success());
    assert!(text(&r.stderr).contains("cannot read timeline"), "{}", text(&r.stderr));
    assert!(!dir.join("m.wav").exists());
}
