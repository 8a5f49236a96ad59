//! The `mam` binary end to end: render, stems, trimming, block sizes, validate, info, bench, errors.

#[path = "support/common.rs"]
mod common;

use std::path::Path;

use common::{example, mam, noise, read_wav, scratch, text, write_wav};
use mam_core::analysis::{band_power, ratio_db};

/// ```text
///   in ─▶ [a: limiter 5 ms] ─▶ master
///   in ─▶ [b] ───────────────▶ master
/// ```
const PDC_SESSION: &str = r#"{ "version": 1, "sampleRate": 48000, "racks": [ { "id": "in" } ],
  "buses": [ { "id": "a", "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 5 } } ] }, { "id": "b" } ],
  "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b" } ] }"#;

#[test]
fn render_trims_latency_so_the_impulse_stays_on_its_sample_and_info_reports_it() {
    let dir = scratch("pdc");
    let session = dir.join("pdc.json");
    std::fs::write(&session, PDC_SESSION).unwrap();
    let mut impulse = vec![0.0f32; 4800];
    impulse[1000] = 0.25;
    let input = dir.join("in.wav");
    write_wav(&input, 48_000, &[impulse.clone()]);

    let info = mam(&["info", session.to_str().unwrap(), "--json"]);
    assert!(info.status.success(), "{}", text(&info.stderr));
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["latencySamples"], 240);
    let a = info["buses"].as_array().unwrap().iter().find(|b| b["id"] == "a").unwrap();
    assert_eq!(a["latencySamples"], 240);
    assert_eq!(info["buses"].as_array().unwrap().last().unwrap()["id"], "master");

    let out = dir.join("out.wav");
    let bind = format!("in={}", input.display());
    let r = mam(&["render", session.to_str().unwrap(), "--in", &bind, "--out", out.to_str().unwrap(), "--stems", dir.join("stems").to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("x realtime"), "reports a speed-up: {}", text(&r.stderr));
    let (spec, audio) = read_wav(&out);
    assert_eq!((spec.bits_per_sample, spec.sample_format, spec.channels), (32, hound::SampleFormat::Float, 2));
    assert_eq!(audio[0].len(), 4800, "length of the longest input");
    let hot: Vec<usize> = (0..4800).filter(|&i| audio[0][i] != 0.0).collect();
    assert_eq!(hot, vec![1000], "mono input on both paths lands on input sample 1000");
    assert_eq!(audio[0][1000], 0.5);
    // Stems are aligned the same way.
    for bus in ["a", "b", "master"] {
        let (_, stem) = read_wav(&dir.join("stems").join(format!("{bus}.wav")));
        assert_eq!((0..4800).filter(|&i| stem[1][i] != 0.0).collect::<Vec<_>>(), vec![1000], "stem {bus}");
    }

    // Without trimming the impulse comes out late by the latency, and a tail extends the file.
    let r = mam(&["render", session.to_str().unwrap(), "--in", &bind, "--out", out.to_str().unwrap(), "--no-latency-trim", "--tail", "0.1"]);
    assert!(r.status.success());
    let (_, audio) = read_wav(&out);
    assert_eq!(audio[0].len(), 4800 + 4800);
    assert_eq!((0..audio[0].len()).filter(|&i| audio[0][i] != 0.0).collect::<Vec<_>>(), vec![1240]);
}

#[test]
fn render_is_bit_identical_at_block_sizes_1_64_511_and_4096() {
    let dir = scratch("blocks");
    let mut outputs = Vec::new();
    for block in ["1", "64", "511", "4096"] {
        let out = dir.join(format!("b{block}.wav"));
        let r = mam(&["render", &example("basic.json"), "--out", out.to_str().unwrap(), "--duration", "0.5", "--block", block]);
        assert!(r.status.success(), "{}", text(&r.stderr));
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "WAV bytes differ between block sizes");
    let (_, audio) = read_wav(&dir.join("b64.wav"));
    assert_eq!(audio[0].len(), 24_000);
    assert!(audio[0].iter().all(|s| s.abs() <= 0.891_251), "master limiter ceiling −1 dBFS holds");
}

#[test]
fn validate_exits_0_with_warnings_and_1_with_every_error() {
    let ok = mam(&["validate", &example("basic.json")]);
    assert!(ok.status.success());
    assert!(text(&ok.stdout).contains("valid"));

    let dir = scratch("validate");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{ "version": 1, "extra": 1, "buses": [ { "id": "a", "route": "nowhere", "pan": 3 } ] }"#).unwrap();
    let r = mam(&["validate", bad.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    let out = text(&r.stdout);
    assert!(out.contains("error: buses[0].pan: 3 is out of range -1..1"), "{out}");
    assert!(out.contains("warning: extra: unknown field 'extra' ignored"), "{out}");
}

#[test]
fn bench_json_reports_three_block_sizes() {
    let r = mam(&["bench", "--seconds", "0.2", "--json"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks.iter().map(|b| b["block"].as_u64().unwrap()).collect::<Vec<_>>(), vec![64, 128, 512]);
    for b in blocks {
        let (p50, p99, max) = (b["p50Us"].as_f64().unwrap(), b["p99Us"].as_f64().unwrap(), b["maxUs"].as_f64().unwrap());
        assert!(b["realtimeFactor"].as_f64().unwrap() > 0.0);
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{b}");
    }
}

#[test]
fn bench_json_reports_cpu_per_bus_and_insert_for_every_block_size() {
    let r = mam(&["bench", "--seconds", "0.5", "--json"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    // The reference session's buses in file order, with their inserts.
    let reference = mam_core::reference::reference_session();
    let want: Vec<(String, Vec<(String, String)>)> =
        reference.buses.iter().map(|b| (b.id.clone(), b.inserts.iter().map(|i| (i.id.clone(), i.kind.clone())).collect())).collect();
    assert!(want.iter().any(|(_, inserts)| !inserts.is_empty()));
    for block in v["blocks"].as_array().unwrap() {
        let buses = block["buses"].as_array().unwrap_or_else(|| panic!("no buses in {block}"));
        let got: Vec<(String, Vec<(String, String)>)> = buses
            .iter()
            .map(|b| {
                let inserts = b["inserts"].as_array().unwrap().iter().map(|i| (i["id"].as_str().unwrap().to_string(), i["type"].as_str().unwrap().to_string())).collect();
                (b["id"].as_str().unwrap().to_string(), inserts)
            })
            .collect();
        assert_eq!(got, want, "block {}", block["block"]);
        let percents = buses.iter().map(|b| &b["cpuPercent"]).chain(buses.iter().flat_map(|b| b["inserts"].as_array().unwrap().iter().map(|i| &i["cpuPercent"])));
        for p in percents {
            let p = p.as_f64().unwrap_or_else(|| panic!("cpuPercent {p} is not a number"));
            assert!(p.is_finite() && p >= 0.0, "cpuPercent {p}");
        }
        // Each bus holds its inserts, and the master's limiter has work to do.
        for b in buses {
            let inserts: f64 = b["inserts"].as_array().unwrap().iter().map(|i| i["cpuPercent"].as_f64().unwrap()).sum();
            assert!(inserts <= b["cpuPercent"].as_f64().unwrap() + 1e-9, "{b}");
        }
        let master = buses.iter().find(|b| b["id"] == "master").unwrap();
        assert!(master["cpuPercent"].as_f64().unwrap() > 0.0, "{master}");
    }
}

#[test]
fn bad_arguments_and_files_give_one_clear_line_and_a_nonzero_exit() {
    let dir = scratch("errors");
    let out = dir.join("o.wav");
    let out = out.to_str().unwrap();
    let session = dir.join("s.json");
    std::fs::write(&session, PDC_SESSION).unwrap();
    let session = session.to_str().unwrap();
    let wav44 = dir.join("44k.wav");
    write_wav(&wav44, 44_100, &[vec![0.0; 10]]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["render".into(), "/no/such/session.json".into(), "--out".into(), out.into()], "cannot read session '/no/such/session.json'"),
        (vec!["render".into(), session.into(), "--in".into(), "in=/no/such.wav".into(), "--out".into(), out.into()], "cannot read input 'in' from '/no/such.wav'"),
        (vec!["render".into(), session.into(), "--in".into(), "nope=x.wav".into(), "--out".into(), out.into()], "the session has no source 'nope' (sources: in)"),
        (vec!["render".into(), session.into(), "--in".into(), "in".into(), "--out".into(), out.into()], "expected ID=FILE.wav"),
        (vec!["render".into(), session.into(), "--in".into(), format!("in={}", wav44.display()), "--out".into(), out.into()], "is 44100 Hz but the session renders at 48000 Hz"),
        (vec!["render".into(), session.into(), "--in".into(), format!("in={}", session), "--out".into(), out.into()], "cannot read input 'in'"),
        (vec!["render".into(), session.into(), "--out".into(), "/no/such/dir/o.wav".into(), "--duration".into(), "0.01".into()], "cannot write '/no/such/dir/o.wav'"),
        (vec!["render".into(), session.into(), "--out".into(), out.into(), "--duration=-1".into()], "durations must be 0 or more"),
        (vec!["info".into(), example("missing.json")], "cannot read session"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = mam(&args);
        let err = text(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: expected {expected:?} in {err:?}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
    // Argument-parser errors (clap) exit 2 with usage.
    let r = mam(&["render", session, "--block", "0", "--out", out]);
    assert_eq!(r.status.code(), Some(2));
}

/// The demo report's level change in `band` (the line naming it): (while
/// the voice sings, while it rests), in dB.
fn band_change(report: &str, band: &str) -> (f64, f64) {
    let line = report.lines().find(|l| l.contains(band)).unwrap_or_else(|| panic!("no {band} line in {report}"));
    let numbers: Vec<f64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (numbers[numbers.len() - 2], numbers[numbers.len() - 1])
}

/// The first number after `label` in `report` (`"total latency 240 samples"` → 240).
fn number_after(report: &str, label: &str) -> f64 {
    let rest = &report[report.find(label).unwrap_or_else(|| panic!("no '{label}' in {report}")) + label.len()..];
    rest.split_whitespace().next().and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("no number after '{label}' in {report}"))
}

/// Checks the demo's WAV: 10 s at 48 kHz under the master limiter's ceiling.
fn assert_demo_wav(out: &Path) {
    let (spec, audio) = read_wav(out);
    assert_eq!(spec.sample_rate, 48_000);
    assert_eq!(audio[0].len(), 480_000);
    assert!(audio.iter().flatten().all(|s| s.abs() <= 0.891_251), "master limiter ceiling");
}

#[test]
fn demo_renders_and_reports_ducking_only_in_the_voice_band() {
    let dir = scratch("demo");
    let out = dir.join("demo.wav");
    let r = mam(&["demo", "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let report = text(&r.stdout);
    let (voice_singing, voice_resting) = band_change(&report, "voice band");
    assert!(voice_singing <= -9.0, "pads on the voice's harmonics dip: {voice_singing} dB\n{report}");
    assert!(voice_resting.abs() < 0.5, "and come back when it rests: {voice_resting} dB");
    let (bass, _) = band_change(&report, "bass 60–150 Hz");
    let (air, _) = band_change(&report, "air 5–12 kHz");
    assert!(bass.abs() < 1.0 && air.abs() < 1.0, "bands without voice stay: bass {bass}, air {air}");
    // The default is the STFT: 2048 samples of ducker latency, plus the
    // master limiter's 5 ms (240 samples at 48 kHz).
    assert!(report.contains("algorithm stft (2048-point FFT)"), "{report}");
    assert_eq!(number_after(&report, "ducker latency"), 2048.0, "{report}");
    assert_eq!(number_after(&report, "total latency"), 2288.0, "{report}");
    assert_demo_wav(&out);
}

#[test]
fn demo_with_the_filterbank_ducks_the_voice_band_with_no_latency_of_its_own() {
    let dir = scratch("demo-filterbank");
    let out = dir.join("demo.wav");
    let r = mam(&["demo", "--algorithm", "filterbank", "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let report = text(&r.stdout);
    assert!(report.contains("algorithm filterbank (40 bands)"), "{report}");
    // The same session as the STFT run, so the two reports compare: the
    // pads on the voice's harmonics dip by about the depth and come back.
    let (voice_singing, voice_resting) = band_change(&report, "voice band");
    assert!(voice_singing <= -9.0, "pads on the voice's harmonics dip: {voice_singing} dB\n{report}");
    assert!(voice_resting.abs() < 0.5, "and come back when it rests: {voice_resting} dB\n{report}");
    // The air, more than three octaves above the voice's formants, stays.
    let (air, air_resting) = band_change(&report, "air 5–12 kHz");
    assert!(air.abs() < 1.0 && air_resting.abs() < 0.5, "the air stays: {air} dB while singing, {air_resting} dB at rest\n{report}");
    // The bass pad (110 Hz) is 1.7 ERB below the voice's 180 Hz fundamental,
    // under two band spacings: at the demo's −55 dB threshold the loud
    // fundamental leaks through the key bands' skirts and ducks it too (the
    // STFT, with a bin every 23 Hz, leaves it; README "Live use"). It still
    // dips less than the voice band and comes back when the voice rests.
    let (bass, bass_resting) = band_change(&report, "bass 60–150 Hz");
    assert!(bass > voice_singing + 2.0, "the bass dips less than the voice band: bass {bass} dB, voice band {voice_singing} dB\n{report}");
    assert!(bass_resting.abs() < 0.5, "the bass comes back when the voice rests: {bass_resting} dB\n{report}");
    // Zero latency: all that is left is the master limiter's 5 ms lookahead.
    assert_eq!(number_after(&report, "ducker latency"), 0.0, "{report}");
    assert_eq!(number_after(&report, "total latency"), 240.0, "{report}");
    assert_demo_wav(&out);
}

#[test]
fn demo_refuses_an_unknown_algorithm() {
    let r = mam(&["demo", "--algorithm", "wavelet", "--out", scratch("demo-bad").join("o.wav").to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "a clap usage error");
    assert!(text(&r.stderr).contains("possible values: stft, filterbank"), "{}", text(&r.stderr));
}

#[test]
fn the_live_example_has_only_the_limiters_lookahead_as_latency() {
    // examples/live.json: a filterbank ducker (0 samples) on the music, a
    // limiter with 1 ms of lookahead on the master: 48 samples at 48 kHz.
    let r = mam(&["info", &example("live.json"), "--json"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["latencySamples"], 48, "{v}");
    let bed = v["buses"].as_array().unwrap().iter().find(|b| b["id"] == "bed").expect("a bed bus");
    assert_eq!(bed["chainLatencySamples"], 0, "the ducker adds nothing: {bed}");
    let r = mam(&["info", &example("live.json")]);
    assert!(text(&r.stdout).contains("latency: 48 samples (1.00 ms)"), "{}", text(&r.stdout));
}

#[test]
fn every_example_session_validates_without_warnings() {
    let dir = format!("{}/../examples", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let r = mam(&["validate", path.to_str().unwrap()]);
            assert!(r.status.success(), "{}: {}", path.display(), text(&r.stdout));
            assert!(!text(&r.stdout).contains("warning:"), "{}: {}", path.display(), text(&r.stdout));
            seen += 1;
        }
    }
    assert!(seen >= 3);
}

#[test]
fn render_recalls_a_scene_and_holds_macros() {
    // examples/scenes.json: a 0.5 sine on "bed"; scene 1 "Quiet" puts bed at
    // −12 dB; macro 1 "Down" takes bed down by up to 6 dB.
    let dir = scratch("scenes");
    let out = dir.join("out.wav");
    let peak = |args: &[&str]| {
        let session = example("scenes.json");
        let mut all = vec!["render", &session[..], "--out", out.to_str().unwrap(), "--duration", "0.5"];
        all.extend_from_slice(args);
        let r = mam(&all);
        assert!(r.status.success(), "{}", text(&r.stderr));
        let (_, audio) = read_wav(&out);
        audio[0][12_000..].iter().fold(0.0f32, |m, s| m.max(s.abs()))
    };
    let within = |got: f32, want: f32, what: &str| assert!((got - want).abs() < 2e-3, "{what}: peak {got}, want {want}");
    within(peak(&[]), 0.5, "scene 0 = the session's values");
    within(peak(&["--scene", "1"]), 0.5 * 10f32.powf(-12.0 / 20.0), "scene 1: −12 dB");
    within(peak(&["--macro", "1=0.5"]), 0.5 * 10f32.powf(-3.0 / 20.0), "macro 1 at 50 %: −3 dB");
    within(peak(&["--scene", "1", "--macro", "1=1"]), 0.5 * 10f32.powf(-18.0 / 20.0), "scene + macro add");
    let bad = mam(&["render", &example("scenes.json"), "--out", out.to_str().unwrap(), "--scene", "3"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("--scene 3: the session has 2 scenes"), "{}", text(&bad.stderr));
    let bad = mam(&["render", &example("scenes.json"), "--out", out.to_str().unwrap(), "--macro", "9=0.5"]);
    assert_eq!(bad.status.code(), Some(1));
}

/// A session made for the plugin: the music on the main input, a voice on
/// Sidechain 1 that keys the music's ducker.
///
/// ```text
///   music (input main) ───────▶ [bed: ducker ◀─ key voice] ─▶ [master: limiter]
///   voice (input sidechain1) ─▶ [vox] ───────────────────────▶ [master]
/// ```
const PLUGIN_SESSION: &str = r#"{ "version": 1, "sampleRate": 48000,
  "racks": [ { "id": "music", "input": "main" }, { "id": "voice", "input": "sidechain1", "gainDb": -6 } ],
  "buses": [ { "id": "bed", "inserts": [ { "id": "duck", "type": "spectral_ducker", "sidechain": "voice",
                                           "params": { "depthDb": 12, "thresholdDb": -60 } } ] },
             { "id": "vox" },
             { "id": "master", "inserts": [ { "id": "lim", "type": "limiter", "params": { "ceilingDb": -1 } } ] } ],
  "routes": [ { "from": "music", "to": "bed" }, { "from": "voice", "to": "vox" } ] }"#;

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt()
}

#[test]
fn render_feeds_input_sources_from_files_like_the_same_session_with_paths() {
    let dir = scratch("plugin-session");
    let frames = 96_000;
    // Music: stationary stereo noise. Voice: noise in the first second only,
    // so the bed is ducked in the first second and not in the second.
    let music = [noise(frames, 0.3, 1), noise(frames, 0.3, 2)];
    let mut voice = noise(frames, 0.5, 3);
    voice[frames / 2..].fill(0.0);
    write_wav(&dir.join("music.wav"), 48_000, &music);
    write_wav(&dir.join("voice.wav"), 48_000, &[voice]);
    let live = dir.join("live.json");
    std::fs::write(&live, PLUGIN_SESSION).unwrap();
    let files = dir.join("files.json");
    let with_paths = PLUGIN_SESSION.replace(r#""input": "main""#, r#""path": "music.wav""#).replace(r#""input": "sidechain1""#, r#""path": "voice.wav""#);
    assert_ne!(with_paths, PLUGIN_SESSION);
    std::fs::write(&files, with_paths).unwrap();

    let (out_live, out_files) = (dir.join("live.wav"), dir.join("files.wav"));
    let music_in = format!("music={}", dir.join("music.wav").display());
    let voice_in = format!("voice={}", dir.join("voice.wav").display());
    let stems = dir.join("stems");
    let r = mam(&["render", live.to_str().unwrap(), "--in", &music_in, "--in", &voice_in, "--out", out_live.to_str().unwrap(), "--stems", stems.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(!text(&r.stderr).contains("silent"), "every source is fed: {}", text(&r.stderr));
    let r = mam(&["render", files.to_str().unwrap(), "--out", out_files.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));

    let (_, live_audio) = read_wav(&out_live);
    let (_, files_audio) = read_wav(&out_files);
    assert_eq!(live_audio[0].len(), frames);
    assert!(rms(&live_audio[0]) > 0.1, "not silent: rms {}", rms(&live_audio[0]));
    assert!(live_audio == files_audio, "input sources fed by --in render exactly as path sources");
    // The key arrived: the bed is ducked while the voice sounds (skipping the
    // first 0.25 s of attack) and back when it rests (skipping its release).
    let (_, bed) = read_wav(&stems.join("bed.wav"));
    let (keyed, free) = (rms(&bed[0][12_000..48_000]), rms(&bed[0][60_000..]));
    let change_db = 20.0 * (keyed / free).log10();
    assert!(change_db < -6.0, "the voice ducks the bed: {change_db:.1} dB");
}

/// examples/live.json as the plugin would play it: music (stereo noise) on
/// the main input, a 1 kHz tone on the mic for the first 1.5 s. The bed is
/// ducked around the tone while it sounds, left alone two octaves away, and
/// untouched once the mic is quiet; the only latency is the limiter's.
#[test]
fn the_live_example_ducks_the_music_around_the_mic_with_no_delay() {
    let dir = scratch("live");
    let frames = 144_000;
    let music = [noise(frames, 0.3, 5), noise(frames, 0.3, 6)];
    let mic: Vec<f32> = (0..frames).map(|i| if i < 72_000 { 0.25 * (std::f32::consts::TAU * 1000.0 * i as f32 / 48_000.0).sin() } else { 0.0 }).collect();
    write_wav(&dir.join("music.wav"), 48_000, &music);
    write_wav(&dir.join("mic.wav"), 48_000, &[mic]);
    let (music_in, mic_in) = (format!("music={}", dir.join("music.wav").display()), format!("mic={}", dir.join("mic.wav").display()));
    let (out, stems) = (dir.join("live.wav"), dir.join("stems"));
    let r = mam(&["render", &example("live.json"), "--in", &music_in, "--in", &mic_in, "--out", out.to_str().unwrap(), "--stems", stems.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("latency 48 samples"), "{}", text(&r.stderr));
    let (_, bed) = read_wav(&stems.join("bed.wav"));
    // The bed has nothing but the ducker, which adds no delay: where it does
    // not duck, the stem is the input itself, so each window is compared
    // with the same samples of the input.
    let change = |from: usize, to: usize, lo: f32, hi: f32| {
        let (a, b) = (band_power(&bed[0][from..to], 48_000.0, lo, hi).unwrap(), band_power(&music[0][from..to], 48_000.0, lo, hi).unwrap());
        ratio_db(a, b)
    };
    // Skipping the first 0.25 s (attack) and 0.5 s after the tone (release).
    let (keyed, free) = ((12_000, 72_000), (96_000, frames));
    let at_tone = change(keyed.0, keyed.1, 950.0, 1050.0);
    let far = change(keyed.0, keyed.1, 3500.0, 4500.0);
    let after = change(free.0, free.1, 950.0, 1050.0);
    assert!(at_tone <= -6.0, "the music dips around the mic's tone: {at_tone:.2} dB (depth 9)");
    assert!(far.abs() < 1.5, "and stays two octaves away: {far:.2} dB");
    assert!(after.abs() < 0.1, "and comes back when the mic is quiet: {after:.2} dB");
}

#[test]
fn binding_a_file_to_a_generator_is_an_error_naming_it() {
    let dir = scratch("generator");
    let session = dir.join("s.json");
    std::fs::write(&session, r#"{ "version": 1, "racks": [ { "id": "in" }, { "id": "tone", "generator": { "type": "sine", "hz": 440, "amp": 0.5 } } ] }"#).unwrap();
    let wav = dir.join("x.wav");
    write_wav(&wav, 48_000, &[vec![0.1; 480]]);
    let bind = format!("tone={}", wav.display());
    let r = mam(&["render", session.to_str().unwrap(), "--in", &bind, "--out", dir.join("o.wav").to_str().unwrap()]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("source 'tone' is a generator"), "{err}");
    assert!(err.contains("(those in this session: in)"), "names the sources that take a file: {err}");
    assert!(!dir.join("o.wav").exists(), "nothing rendered");
}

#[test]
fn more_files_than_the_engine_reads_is_an_error_not_a_silent_source() {
    let dir = scratch("nine");
    let wav = dir.join("x.wav");
    write_wav(&wav, 48_000, &[vec![0.1; 480]]);
    let racks: Vec<String> = (0..9).map(|i| format!(r#"{{ "id": "s{i}", "path": "x.wav" }}"#)).collect();
    let session = dir.join("s.json");
    std::fs::write(&session, format!(r#"{{ "version": 1, "racks": [ {} ] }}"#, racks.join(", "))).unwrap();
    let r = mam(&["render", session.to_str().unwrap(), "--out", dir.join("o.wav").to_str().unwrap()]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("9 input ports are bound but the engine reads at most 8"), "{err}");
}

/// An `input` source plays its port as it arrives in the plugin, whatever
/// its `startOffsetFrames`; a file bound to it by `--in` renders the same
/// (and the offset is reported as ignored), while a `path` source is placed
/// at its offset.
#[test]
fn start_offsets_apply_to_file_sources_not_to_input_sources_fed_by_in() {
    let dir = scratch("offsets");
    let mut impulse = vec![0.0f32; 4800];
    impulse[100] = 0.5;
    write_wav(&dir.join("click.wav"), 48_000, &[impulse]);
    let session = |source: &str| {
        format!(
            r#"{{ "version": 1, "sampleRate": 48000,
            "racks": [ {{ "id": "click", {source}, "startOffsetFrames": 1000 }} ],
            "buses": [ {{ "id": "a" }} ], "routes": [ {{ "from": "click", "to": "a" }} ] }}"#
        )
    };
    let first_peak = |wav: &Path| read_wav(wav).1[0].iter().position(|s| s.abs() > 0.1);
    let live = dir.join("live.json");
    std::fs::write(&live, session(r#""input": "main""#)).unwrap();
    let out = dir.join("live.wav");
    let click_in = format!("click={}", dir.join("click.wav").display());
    let r = mam(&["render", live.to_str().unwrap(), "--in", &click_in, "--out", out.to_str().unwrap(), "--duration", "0.1"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("live input plays as it arrives"), "the offset is reported as ignored: {}", text(&r.stderr));
    assert_eq!(first_peak(&out), Some(100), "as the plugin plays its port");

    let file = dir.join("file.json");
    std::fs::write(&file, session(r#""path": "click.wav""#)).unwrap();
    let out = dir.join("file.wav");
    let r = mam(&["render", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--duration", "0.1"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(first_peak(&out), Some(1100), "a file source starts at its offset");
}
