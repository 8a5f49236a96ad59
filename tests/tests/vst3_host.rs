//! The built VST3 bundle, loaded through the `vst3` crate's COM bindings:
//! buses, parameters and their text, sample-placed automation through
//! `IParameterChanges`, state, latency, and which inputs really arrive.

use mam_tests::vst3::*;
use vst3::Steinberg::Vst::{BusDirections_, IAudioProcessorTrait};

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn vst3_buses_latency_and_sidechain_delivery() {
    let _serial = lock();
    let plugin = load();
    // One sidechain in VST3 (nice-plug 0.4.2 drops the second; see plugin/src/lib.rs).
    let stereo = |name: &str| (name.to_string(), 2);
    assert_eq!(bus_names(&plugin, BusDirections_::kInput as i32), vec![stereo("Input"), stereo("Sidechain 1"), stereo("Sidechain 2")]);
    let mut outputs = vec![stereo("Output")];
    outputs.extend((1..=8).map(|n| stereo(&format!("Bus {n}"))));
    assert_eq!(bus_names(&plugin, BusDirections_::kOutput as i32), outputs);

    let frames = 16_384;
    let out = run(&plugin, &silence(frames), &silence(frames), &[]);
    assert!(out.iter().flatten().all(|&s| s == 0.0), "silence in, silence out");

    // SAFETY: valid processor, active state just left.
    let reported = unsafe { plugin.processor.getLatencySamples() } as usize;
    assert_eq!(reported, 2048 + 240);
    let mut impulse = silence(frames);
    impulse[0][100] = 0.25;
    impulse[1][100] = 0.25;
    let out = run(&plugin, &impulse, &silence(frames), &[]);
    let loudest = out[0].iter().enumerate().fold((0, 0.0f32), |m, (i, s)| if s.abs() > m.1 { (i, s.abs()) } else { m });
    assert_eq!(loudest.0, 100 + reported, "measured latency");

    // Sidechain 1 alone: audible through the default session's key bus.
    let tone: Vec<f32> = (0..frames).map(|i| 0.25 * (i as f32 * 0.05).sin()).collect();
    let out = run(&plugin, &silence(frames), &[tone.clone(), tone], &[]);
    let peak = out[0][4096..].iter().fold(0.0f32, |a, s| a.max(s.abs()));
    assert!(peak > 0.2, "Sidechain 1 arrives in VST3 (peak {peak})");
}

#[test]
fn vst3_parameters_have_stable_ids_ranges_and_text() {
    let _serial = lock();
    let plugin = load();
    let all = parameters(&plugin);
    // MIDI controllers reach a VST3 plugin as parameters (IMidiMapping), which
    // the VST3 documentation says must be exported like any other: 130 per
    // channel (128 CCs, channel pressure, pitch bend) in the top 2080 ids.
    let midi_base = (1u32 << 31) - 16 * 130;
    let (midi, params): (Vec<_>, Vec<_>) = all.into_iter().partition(|p| p.0 >= midi_base);
    assert_eq!(midi.len(), 16 * 130, "one parameter per channel and controller");
    assert_eq!(params.len(), 1 + 16 * 4 + 8 + 5 + 8 + 1 + 1, "bus slots, master, ducker slots, scene controls (with the hold), macros, the edit flag, timeline record");
    let mut ids: Vec<u32> = params.iter().map(|p| p.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), params.len(), "ids are unique");
    let again: Vec<_> = parameters(&load()).into_iter().filter(|p| p.0 < midi_base).collect();
    assert_eq!(params, again, "a second instance has the same ids, titles and defaults");

    let find = |title: &str| params.iter().find(|p| p.1 == title).unwrap_or_else(|| panic!("no {title}")).clone();
    let (gain, _, steps, default) = find("Bus 1 Gain");
    assert_eq!(steps, 0, "a continuous fader");
    assert!(value_to_text(&plugin, gain, default).starts_with("0.00"), "default shows 0.00 dB");
    let minus_6 = text_to_value(&plugin, gain, "-6 dB").expect("dB text parses");
    assert!(minus_6 > 0.0 && minus_6 < default);
    assert!(value_to_text(&plugin, gain, minus_6).starts_with("-6.00"), "{}", value_to_text(&plugin, gain, minus_6));
    assert_eq!(value_to_text(&plugin, gain, 0.0), "-inf", "the bottom of the fader is silence");
    let (scene, _, scene_steps, scene_default) = find("Scene");
    assert_eq!((scene_steps, scene_default), (16, 0.0), "Session + 16 scenes");
    assert_eq!(value_to_text(&plugin, scene, 0.0), "Session");
    let (_, _, mute_steps, _) = find("Bus 3 Mute");
    assert_eq!(mute_steps, 1, "a toggle");
    for n in 1..=8 {
        find(&format!("Macro {n}"));
    }
    for n in 1..=4 {
        find(&format!("Ducker {n} Depth"));
        find(&format!("Ducker {n} Mix"));
    }
    for title in ["Master Gain", "Scene Morph A", "Scene Morph B", "Scene Morph"] {
        find(title);
    }
}

#[test]
fn vst3_gain_automation_at_sample_100_lands_on_sample_100() {
    let _serial = lock();
    let plugin = load();
    let gain = param_id(&plugin, "Bus 1 Gain");
    let minus_6 = text_to_value(&plugin, gain, "-6.0206").unwrap();
    let frames = BLOCK * 8;
    let main = [vec![0.25f32; frames], vec![0.25f32; frames]];
    let at = BLOCK * 4 + 100;
    let out = run(&plugin, &main, &silence(frames), &[(at, gain, minus_6)]);
    // The fader sits after the ducker; only the master limiter (240) delays it.
    let seen = at + 240;
    let before = out[0][seen - 1];
    assert!((before - 0.25).abs() < 1e-4, "unchanged just before: {before}");
    assert!(out[0][seen] < before - 1e-5, "ramp starts on the point's sample: {} vs {before}", out[0][seen]);
    let settled = out[0][seen + 600];
    assert!((settled - 0.125).abs() < 1e-3, "−6 dB after the 10 ms ramp: {settled}");
}

#[test]
fn vst3_state_saved_and_loaded_into_a_new_instance_reproduces_the_output() {
    let _serial = lock();
    let frames = 12_000;
    let main: [Vec<f32>; 2] = [0, 1].map(|c| (0..frames).map(|i| 0.4 * ((i * (3 + c)) as f32 * 0.011).sin()).collect());
    let side: [Vec<f32>; 2] = [0, 1].map(|c| (0..frames).map(|i| 0.3 * ((i * (c + 1)) as f32 * 0.09).sin()).collect());
    let a = load();
    let gain = param_id(&a, "Bus 2 Gain");
    let minus_10 = text_to_value(&a, gain, "-10").unwrap();
    run(&a, &main, &side, &[(0, gain, minus_10)]);
    let after_a = run(&a, &main, &side, &[]);
    let saved = save_state(&a);
    assert_eq!(saved, save_state(&a), "state is deterministic");
    drop(a);

    let b = load();
    let fresh = run(&b, &main, &side, &[]);
    load_state(&b, &saved);
    let after_b = run(&b, &main, &side, &[]);
    assert!(after_a == after_b, "the restored instance sounds different");
    assert!(fresh != after_b, "the state carried the fader move");
}

#[test]
fn vst3_random_block_sizes_match_full_blocks_and_nan_gives_finite_output() {
    let _serial = lock();
    let plugin = load();
    let frames = 20_000;
    let main: [Vec<f32>; 2] = [0, 1].map(|c| (0..frames).map(|i| 0.3 * ((i * (7 + c)) as f32 * 0.013).sin()).collect());
    let side: [Vec<f32>; 2] = [0, 1].map(|_| (0..frames).map(|i| if (i / 3000) % 2 == 0 { 0.3 * (i as f32 * 0.13).sin() } else { 0.0 }).collect());
    let whole = run(&plugin, &main, &side, &[]);
    let mut seed = 987u32;
    let random = run_sliced(&plugin, &main, &side, &[], &mut |_| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        1 + (seed % BLOCK as u32) as usize
    });
    assert!(whole[0].iter().any(|s| s.abs() > 0.01));
    assert!(whole == random, "random host block sizes changed the output");

    let poison: Vec<f32> = (0..8192).map(|i| [f32::NAN, f32::INFINITY, -f32::INFINITY, 0.5][i % 4]).collect();
    let out = run(&plugin, &[poison.clone(), poison.clone()], &[poison.clone(), poison], &[]);
    assert!(out.iter().flatten().all(|s| s.is_finite()));
}

/// A mono session (`"channels": 1`) in a stereo host plays on both outputs.
const MONO_SESSION: &str = r#"{ "version": 1, "channels": 1,
  "racks": [ { "id": "in", "input": "main" } ],
  "buses": [ { "id": "music", "route": "master" }, { "id": "master" } ],
  "routes": [ { "from": "in", "to": "music" } ] }"#;

#[test]
fn vst3_mono_session_plays_on_both_outputs() {
    let _serial = lock();
    let path = std::env::temp_dir().join(format!("mam-vst3-mono-{}.json", std::process::id()));
    std::fs::write(&path, MONO_SESSION).unwrap();
    let env = mam_tests::env_lock();
    // SAFETY: tests that touch the environment hold ENV.
    unsafe { std::env::set_var("MAM_SESSION", &path) };
    let plugin = load();
    unsafe { std::env::remove_var("MAM_SESSION") };
    drop(env);
    let _ = std::fs::remove_file(&path);
    let frames = 4096;
    // Left and right differ; the mono session averages them.
    let main: [Vec<f32>; 2] = [0, 1].map(|c| (0..frames).map(|i| 0.2 * ((i * (c + 1)) as f32 * 0.01).sin()).collect());
    let out = run(&plugin, &main, &silence(frames), &[]);
    assert_eq!(out[0], out[1], "left == right");
    let expected: Vec<f32> = (0..frames).map(|i| 0.5 * (main[0][i] + main[1][i])).collect();
    let peak = out[0].iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak > 0.1, "not silent ({peak})");
    for (i, (o, e)) in out[0].iter().zip(&expected).enumerate() {
        assert!((o - e).abs() < 1e-6, "sample {i}: {o} vs the average of the input {e}");
    }
}
