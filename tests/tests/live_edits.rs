//! Editor edits while the host's audio thread runs the built CLAP bundle:
//! 300 session edits (inserts added and removed, insert parameters, routes,
//! sends) through the editor's own edit path, scene recalls and bus-gain
//! automation from the host, all at once. Run against the
//! allocation-checking bundle (`cargo xtask test` does), any allocation in
//! the plugin's process aborts the test.
//!
//! A test binary of its own: it sets process-wide environment variables
//! (the edit script, and a lock-hold time for the control thread).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clack_extensions::params::PluginParams;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use mam_tests::clap::*;
use serde_json::{json, Value};

const DEFAULT_SESSION: &str = include_str!("../../plugin/src/default_session.json");
/// How long the control thread keeps the engine lock after each compile.
/// Were the audio thread ever to wait for that lock (or for anything the
/// control thread holds while it compiles), a process call would take this
/// long; every call must stay far below it.
const HOLD_MS: u64 = 30;
const EDITS: usize = 300;
/// Host block size of this test.
const FRAMES: usize = 256;

/// The plugin's default session with two scenes that move the music bus.
fn base_session() -> Value {
    let mut s: Value = serde_json::from_str(DEFAULT_SESSION).unwrap();
    s["scenes"] = json!([
        { "name": "Verse", "values": { "music.gainDb": -3.0, "key.pan": -0.5 } },
        { "name": "Drop", "transition": "morph", "morphMs": 50, "values": { "music.gainDb": -9.0, "key.pan": 0.5 } }
    ]);
    assert!(mam_core::session::load_str(&s.to_string()).is_ok(), "the test's base session is valid");
    s
}

/// Edit `i` of the script applied to `s`: it cycles through adding an
/// insert, changing insert parameters, adding/changing a send, removing the
/// inserts again, re-routing a source, and removing the send.
fn edit(s: &mut Value, i: usize) {
    let bus = |s: &mut Value, id: &str| -> usize { s["buses"].as_array().unwrap().iter().position(|b| b["id"] == id).unwrap() };
    match i % 6 {
        0 => {
            let k = bus(s, "key");
            let inserts = s["buses"][k].as_object_mut().unwrap().entry("inserts").or_insert(json!([]));
            inserts.as_array_mut().unwrap().push(json!({ "id": format!("eq{i}"), "type": "eq", "params": {} }));
        }
        1 => {
            let m = bus(s, "music");
            s["buses"][m]["inserts"][0]["params"]["depthDb"] = json!(3 + (i % 12));
            let master = bus(s, "master");
            s["buses"][master]["inserts"][0]["params"]["ceilingDb"] = json!(-1.0 - (i % 3) as f64 * 0.5);
        }
        2 => {
            let k = bus(s, "key");
            s["buses"][k]["sends"] = json!([{ "to": "music", "levelDb": -20 + (i % 10) as i64 }]);
        }
        3 => {
            let k = bus(s, "key");
            s["buses"][k]["inserts"] = json!([]);
        }
        4 => {
            let to = if (i / 6) % 2 == 0 { "key" } else { "key2" };
            s["routes"][2]["to"] = json!(to);
        }
        _ => {
            let k = bus(s, "key");
            s["buses"][k].as_object_mut().unwrap().remove("sends");
        }
    }
}


/// Deterministic noise in −0.25…0.25 for frame `n` of stream `seed`.
fn noise(seed: u64, n: usize) -> f32 {
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
}

/// One host block: main = noise stream 1, Sidechain 1 = noise stream 2
/// (half level), Sidechain 2 = noise stream 3; returns the stereo output.
fn block(processor: &mut StartedPluginAudioProcessor<TestHost>, t: usize, events: &[ParamValueEvent]) -> [Vec<f32>; 2] {
    let signal = |seed: u64| -> [Vec<f32>; 2] {
        let ch: Vec<f32> = (t..t + FRAMES).map(|n| noise(seed, n)).collect();
        [ch.clone(), ch]
    };
    let (mut main, mut key1, mut key2) = (signal(1), signal(2), signal(3));
    let mut out = [vec![0.0f32; FRAMES], vec![0.0f32; FRAMES]];
    process_block(processor, [&mut main, &mut key1, &mut key2], &mut out, &InputEvents::from_buffer(&events.to_vec()), None);
    out
}

/// Blocks between two moves of the bus-gain automation.
const BLOCKS_PER_STEP: usize = 8;

/// The bus-gain automation's `k`-th value: a slow triangle over `steps` (the
/// parameter's values for −12…0 dB in 0.5 dB steps).
fn automation(steps: &[f64], k: usize) -> f64 {
    let period = 2 * (steps.len() - 1);
    let k = k % period;
    steps[if k < steps.len() { k } else { period - k }]
}

#[test]
fn three_hundred_editor_edits_while_audio_runs_never_block_allocate_or_revert_automation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The script: EDITS sessions, each one edit further.
    let mut session = base_session();
    let mut script = Vec::new();
    for i in 0..EDITS {
        edit(&mut session, i);
        script.push(session.clone());
    }
    let final_session = session;
    let dir = std::env::temp_dir().join(format!("mam-live-edits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script_path = dir.join("script.json");
    std::fs::write(&script_path, serde_json::to_string(&script).unwrap()).unwrap();
    let done_path = dir.join("script.json.done");
    let _ = std::fs::remove_file(&done_path);

    // SAFETY: this test binary has one test, and it holds SERIAL.
    unsafe {
        std::env::set_var("MAM_TEST_EDIT_SCRIPT", &script_path);
        std::env::set_var("MAM_TEST_CONTROL_HOLD_MS", HOLD_MS.to_string());
    }
    let mut live = load_with_session(&serde_json::to_string(&base_session()).unwrap());
    let gain = param_id(&mut live, "Bus 1 Gain");
    let scene = param_id(&mut live, "Scene");
    let scene_value = |n: f64| n; // a stepped parameter's CLAP value is its number
    let steps: Vec<f64> = {
        let handle = live.instance.plugin_handle();
        let params: PluginParams = handle.get_extension().unwrap();
        (0..=24)
            .map(|k| {
                let text = std::ffi::CString::new(format!("{}", -12.0 + 0.5 * k as f64)).unwrap();
                params.text_to_value(&handle, gain, &text).unwrap()
            })
            .collect()
    };
    let table = steps.clone();

    // The audio thread: automation every block, a scene recall every 40
    // blocks, until the script is done; then the final values, a settling
    // second, a reset, and 40 recorded blocks.
    let config = PluginAudioConfiguration { sample_rate: RATE, min_frames_count: 1, max_frames_count: FRAMES as u32 };
    // The plugin reads the script's name when it activates.
    let stopped = live.instance.activate(|_, _| (), config).unwrap();
    unsafe {
        std::env::remove_var("MAM_TEST_EDIT_SCRIPT");
        std::env::remove_var("MAM_TEST_CONTROL_HOLD_MS");
    }
    let edits_done = Arc::new(AtomicBool::new(false));
    let flag = edits_done.clone();
    // 1 + the automation step of the last block the audio thread processed
    // (0 before the first).
    let step_sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let step = step_sent.clone();
    let audio = std::thread::spawn(move || {
        let mut processor = stopped.start_processing().unwrap();
        let mut worst = Duration::ZERO;
        let mut t = 0;
        let mut b = 0;
        let mut last_gain = automation(&table, 0);
        while !flag.load(Ordering::SeqCst) {
            let k = b / BLOCKS_PER_STEP;
            last_gain = automation(&table, k);
            let mut events = vec![ParamValueEvent::new(17, gain, Pckn::match_all(), last_gain)];
            if b % 40 == 0 {
                events.push(ParamValueEvent::new(100, scene, Pckn::match_all(), scene_value(1.0 + ((b / 40) % 2) as f64)));
            }
            let started = Instant::now();
            block(&mut processor, t, &events);
            worst = worst.max(started.elapsed());
            step.store(k + 1, Ordering::SeqCst);
            t += FRAMES;
            b += 1;
            std::thread::sleep(Duration::from_micros(1500));
        }
        // Settle: final values held for a second (the gain is not sent
        // again: the plugin must still hold the host's last value).
        let settle = [ParamValueEvent::new(0, scene, Pckn::match_all(), scene_value(2.0))];
        for k in 0..(RATE as usize / FRAMES) {
            block(&mut processor, t, if k == 0 { &settle } else { &[] });
            t += FRAMES;
        }
        processor.reset();
        let recorded: Vec<[Vec<f32>; 2]> = (0..40).map(|k| block(&mut processor, (1_000_000 + k) * FRAMES, &[])).collect();
        (processor.stop_processing(), worst, b, last_gain, recorded)
    });

    // This thread serves the plugin's main-thread requests, as a host's
    // event loop would, until the script reports; meanwhile it reads the
    // plugin's Bus 1 Gain, which must always be the host's latest value (or
    // the one before or after, the read racing the audio thread): an edit
    // that re-applied an older snapshot would show an older one.
    let started = Instant::now();
    let mut checks = 0;
    while !done_path.exists() {
        assert!(started.elapsed() < Duration::from_secs(240), "the edit script did not finish");
        pump_main_thread(&mut live);
        let Some(k) = step_sent.load(Ordering::SeqCst).checked_sub(1) else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let now = {
            let handle = live.instance.plugin_handle();
            let params: PluginParams = handle.get_extension().unwrap();
            params.get_value(&handle, gain).unwrap()
        };
        let allowed: Vec<f64> = [k.saturating_sub(1), k, k + 1].iter().map(|&j| automation(&steps, j)).collect();
        assert!(allowed.iter().any(|v| (v - now).abs() < 1e-6), "Bus 1 Gain reads {now} at automation step {k}, the host sent {allowed:?}");
        checks += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(checks > 100, "the automation was checked throughout ({checks} times)");
    // Let the last schedule reach the audio thread.
    std::thread::sleep(Duration::from_millis(200));
    edits_done.store(true, Ordering::SeqCst);
    let (stopped, worst, blocks, last_gain, recorded) = audio.join().unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&done_path).unwrap()).unwrap();
    assert_eq!(report["applied"], json!(EDITS), "every edit applied: {report}");
    assert_eq!(report["refused"], json!(0), "{report}");
    eprintln!("{EDITS} edits in {:.1} s over {blocks} blocks; worst process call {:.2} ms", started.elapsed().as_secs_f64(), worst.as_secs_f64() * 1e3);
    assert!(blocks > 100, "audio ran throughout ({blocks} blocks)");
    assert!(
        worst < Duration::from_millis(HOLD_MS / 2),
        "a process call took {worst:?}: the audio thread waited for the control thread (which holds its lock {HOLD_MS} ms per edit)"
    );

    // The host's automation was never reverted by an edit.
    {
        let handle = live.instance.plugin_handle();
        let params: PluginParams = handle.get_extension().unwrap();
        let now = params.get_value(&handle, gain).unwrap();
        assert!((now - last_gain).abs() < 1e-6, "Bus 1 Gain reads {now}; the host last set {last_gain}");
    }
    live.instance.deactivate(stopped);

    // A fresh instance of the final session, with the same host values,
    // fed the same recorded input after a reset, plays the same samples.
    let mut fresh = load_with_session(&serde_json::to_string(&final_session).unwrap());
    let stopped = fresh.instance.activate(|_, _| (), config).unwrap();
    let mut processor = stopped.start_processing().unwrap();
    let values = [ParamValueEvent::new(0, gain, Pckn::match_all(), last_gain), ParamValueEvent::new(0, scene, Pckn::match_all(), scene_value(2.0))];
    for k in 0..(RATE as usize / FRAMES) {
        block(&mut processor, k * FRAMES, if k == 0 { &values } else { &[] });
    }
    processor.reset();
    let expected: Vec<[Vec<f32>; 2]> = (0..40).map(|k| block(&mut processor, (1_000_000 + k) * FRAMES, &[])).collect();
    fresh.instance.deactivate(processor.stop_processing());
    let peak = expected.iter().flat_map(|b| b[0].iter()).fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.01, "the comparison is not of silence ({peak})");
    for (k, (a, e)) in recorded.iter().zip(&expected).enumerate() {
        for ch in 0..2 {
            assert_eq!(a[ch], e[ch], "block {k} channel {ch}: the edited instance differs from a fresh one of the final session");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
