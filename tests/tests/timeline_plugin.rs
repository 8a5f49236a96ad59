//! A performance recorded through the CLAP plugin plays back bit for bit: from the plugin state with no input events, at any block size, and through `mam render --timeline` from the exported file.
//!
//! Host: 120 BPM, 4/4, 48 kHz, rolling from sample 0 (a beat is 24 000
//! samples, a bar 96 000). The session: the main input through bus `bed`
//! (a low-pass filter and a utility) to the master; scene 1 "Quiet" takes
//! `bed` to −12 dB instantly on the next beat; scene 2 "Dark" morphs the
//! filter to 500 Hz over 200 ms on the next bar.
//!
//! The performance (the plugin's test hook `MAM_TEST_TIMELINE_SCRIPT`
//! drives the editor's own paths while the host runs blocks in real time):
//!
//! ```text
//!   ~20 000  pad "Quiet"                → starts at 24 000 (beat)
//!   ~40 000  editor: bed pan 0.4, utility width 0.5 (gain 0 dB) → set events
//!  ~100 000  pad "hold Dark" (push)     → starts at 192 000 (bar)
//!  ~130 000  editor: utility gain −3 dB → set event
//!  ~200 000  pad "Pop"                  → starts at 288 000 (bar)
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clack_host::events::event_types::TransportFlags;
use clack_host::utils::{BeatTime, SecondsTime};
use mam_tests::clap::*;
use mam_tests::signals::{assert_same, first_difference, tones_over_noise};

use mam_tests::wav;

const BEAT: usize = BEAT_AT_120_BPM;
const BAR: usize = 4 * BEAT;
const FRAMES: usize = 3 * BAR + BEAT;

const SESSION: &str = r#"{ "version": 1, "sampleRate": 48000, "tempo": 120, "timeSignature": [4, 4], "channels": 2,
  "racks": [ { "id": "m", "input": "main" } ],
  "buses": [ { "id": "bed", "route": "master", "inserts": [
                 { "id": "f", "type": "filter", "params": { "freqHz": 6000 } },
                 { "id": "u", "type": "utility" } ] },
             { "id": "master" } ],
  "routes": [ { "from": "m", "to": "bed" } ],
  "scenes": [ { "name": "Quiet", "transition": "instant", "quantize": "beat", "values": { "bed.gainDb": -12 } },
              { "name": "Dark", "transition": "morph", "morphMs": 200, "quantize": "bar", "values": { "bed/f.freqHz": 500 } } ] }"#;

/// [`SESSION`] with `bed`'s pan and its utility's parameters as the editor
/// moved them.
fn moved(pan: f64, width: f64, gain_db: f64) -> serde_json::Value {
    let mut s: serde_json::Value = serde_json::from_str(SESSION).unwrap();
    s["buses"][0]["pan"] = pan.into();
    s["buses"][0]["inserts"][1]["params"] = serde_json::json!({ "width": width, "gainDb": gain_db });
    s
}

/// Two different tones over noise, so pan, width, gain and the filter all
/// change the output.
fn input() -> [Vec<f32>; 2] {
    tones_over_noise(FRAMES, 7)
}

#[test]
fn a_recorded_performance_plays_back_bit_identical_from_the_state_at_any_block_size_and_in_mam_render() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("mam-timeline-plugin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exported = dir.join("take.json");
    let script_path = dir.join("script.json");
    let script = serde_json::json!({
        "record": 1,
        "steps": [
            { "at": 20_000, "scene": 1 },
            { "at": 40_000, "session": moved(0.4, 0.5, 0.0) },
            { "at": 100_000, "push": 2 },
            { "at": 130_000, "session": moved(0.4, 0.5, -3.0) },
            { "at": 200_000, "pop": true }
        ],
        "export": exported.display().to_string()
    });
    std::fs::write(&script_path, script.to_string()).unwrap();
    let main = input();

    // Record: the host runs 512-frame blocks no faster than real time, as a
    // DAW does while recording (the editor's moves land a lookahead after the
    // gesture; a host that ran ahead of the wall clock, catching up after a
    // stall, could overtake it: the recorder then moves the event, and a
    // schedule swap in the middle of a scene transition is not bit-exact).
    // SAFETY: SERIAL guards the environment.
    unsafe { std::env::set_var("MAM_TEST_TIMELINE_SCRIPT", &script_path) };
    let mut rec = load_with_session(SESSION);
    let recorded = run_with_transport(&mut rec, &main, &no_keys(FRAMES), &[], &mut |_| {
        std::thread::sleep(Duration::from_secs_f64(512.0 / RATE));
        512
    }, &mut rolling_at_120_bpm);
    unsafe { std::env::remove_var("MAM_TEST_TIMELINE_SCRIPT") };
    let done = PathBuf::from(format!("{}.done", script_path.display()));
    let start = std::time::Instant::now();
    while !done.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&done).expect("the script finished")).unwrap();
    assert_eq!(report["pads"], 3, "{report}");
    assert_eq!(report["moves"], 2, "{report}");
    assert_eq!(report["dropped"], 0, "{report}");
    // 3 pad events and 4 sets (pan, width and gain 0 dB; then gain −3 dB).
    assert_eq!(report["events"], 7, "{report}");
    let take: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    let scenes = take["lanes"].as_array().unwrap().iter().find(|l| l["id"] == "scenes").expect("a scenes lane")["events"].clone();
    // Pads land on their boundaries, computed by hand: beat 1, bar 2, bar 3.
    let times: Vec<u64> = scenes.as_array().unwrap().iter().map(|e| e["t"].as_u64().unwrap()).collect();
    assert_eq!(times, vec![BEAT as u64, 2 * BAR as u64, 3 * BAR as u64], "{take}");
    let state = save_state(&mut rec);
    drop(rec);

    // The take changes the sound (so equality below can fail).
    let mut dry = load_with_session(SESSION);
    let untouched = run_with_transport(&mut dry, &main, &no_keys(FRAMES), &[], &mut |_| 512, &mut rolling_at_120_bpm);
    assert!(first_difference(&untouched, &recorded).is_some(), "the performance changes the output");
    drop(dry);

    // Play back from the state, no input events: bit-identical.
    let mut play = load_with_session(SESSION);
    load_state(&mut play, &state);
    let played = run_with_transport(&mut play, &main, &no_keys(FRAMES), &[], &mut |_| 512, &mut rolling_at_120_bpm);
    assert_same("played back from the state", &played, &recorded);
    // Every block size, and random slicing.
    for block in [1usize, 64, 511, 4096] {
        let out = run_with_transport_max(&mut play, &main, &no_keys(FRAMES), &[], &mut |_| block, &mut rolling_at_120_bpm, block.max(64) as u32);
        assert_same(&format!("block {block}"), &out, &recorded);
    }
    let out = run_with_transport_max(&mut play, &main, &no_keys(FRAMES), &[], &mut random_blocks(99, 4096), &mut rolling_at_120_bpm, 4096);
    assert_same("random slicing", &out, &recorded);
    drop(play);

    // The exported take renders offline to the same samples (untrimmed).
    let (session_path, main_wav, out_wav) = (dir.join("session.json"), dir.join("main.wav"), dir.join("cli.wav"));
    std::fs::write(&session_path, SESSION).unwrap();
    wav::write(&main_wav, &main);
    let r = Command::new(mam_tests::mam_binary())
        .arg("render")
        .arg(&session_path)
        .args(["--in", &format!("m={}", main_wav.display()), "--timeline"])
        .arg(&exported)
        .args(["--no-latency-trim", "--block", "512", "--out"])
        .arg(&out_wav)
        .output()
        .expect("mam runs");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let rendered: [Vec<f32>; 2] = wav::read(&out_wav).try_into().expect("a stereo render");
    assert_eq!(rendered[0].len(), FRAMES, "untrimmed");
    assert_same("mam render --timeline", &rendered, &recorded);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-bar host loop (blocks of 500 frames, so the wrap falls between
/// blocks as hosts split them), three laps. Lap 1: pad "Quiet" on beat 1;
/// lap 2: hold "Dark" on beat 1, Pop on beat 3; lap 3: nothing. Both scenes
/// quantize to the beat here.
fn loop_take(record: u8) -> Vec<(u64, String)> {
    let dir = std::env::temp_dir().join(format!("mam-timeline-loop-{}-{record}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exported = dir.join("take.json");
    let script_path = dir.join("script.json");
    let script = serde_json::json!({
        "record": record,
        "steps": [
            { "pass": 1, "at": 10_000, "scene": 1 },
            { "pass": 2, "at": 10_000, "push": 2 },
            { "pass": 2, "at": 50_000, "pop": true }
        ],
        "export": exported.display().to_string()
    });
    std::fs::write(&script_path, script.to_string()).unwrap();
    let session = SESSION.replace(r#""quantize": "bar""#, r#""quantize": "beat""#);
    let frames = 3 * BAR;
    let main = [vec![0.25f32; frames], vec![0.25f32; frames]];
    // SAFETY: SERIAL guards the environment.
    unsafe { std::env::set_var("MAM_TEST_TIMELINE_SCRIPT", &script_path) };
    let mut rec = load_with_session(&session);
    run_with_transport(&mut rec, &main, &no_keys(frames), &[], &mut |_| {
        std::thread::sleep(Duration::from_secs_f64(500.0 / RATE));
        500
    }, &mut |frame| {
        let mut t = rolling_at_120_bpm(frame % BAR)?;
        t.flags |= TransportFlags::IS_LOOP_ACTIVE;
        t.loop_end_beats = BeatTime::from_float(4.0);
        t.loop_end_seconds = SecondsTime::from_float(BAR as f64 / RATE);
        Some(t)
    });
    unsafe { std::env::remove_var("MAM_TEST_TIMELINE_SCRIPT") };
    let done = PathBuf::from(format!("{}.done", script_path.display()));
    let start = std::time::Instant::now();
    while !done.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = std::fs::read_to_string(&done).expect("the script finished");
    let take: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let lane = take["lanes"].as_array().unwrap().iter().find(|l| l["id"] == "scenes").unwrap_or_else(|| panic!("no scenes lane: {take} {report}"));
    lane["events"].as_array().unwrap().iter().map(|e| (e["t"].as_u64().unwrap(), format!("{}{}", e["type"].as_str().unwrap(), e["scene"].as_u64().map_or(String::new(), |n| n.to_string())))).collect()
}

#[test]
fn recording_through_a_host_loop_makes_a_pass_per_lap_replace_keeps_the_lap_played_over_and_overdub_layers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let b = BEAT as u64;
    assert_eq!(loop_take(1), vec![(b, "push2".to_string()), (3 * b, "pop".to_string())], "record: lap 2 replaced lap 1, lap 3 (no pads) kept it");
    assert_eq!(loop_take(2), vec![(b, "scene1".to_string()), (b, "push2".to_string()), (3 * b, "pop".to_string())], "overdub: laps layered");
}
