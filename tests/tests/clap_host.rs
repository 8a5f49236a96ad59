//! The built CLAP bundle, loaded and driven through clack-host: ports,
//! parameters, latency, sidechain delivery and sample-placed automation.

use std::ffi::CStr;

use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use mam_tests::clap::*;

/// The plugin's built-in session (the bundle embeds the same file).
const DEFAULT_SESSION: &str = include_str!("../../plugin/src/default_session.json");

#[test]
fn ports_are_main_stereo_in_and_out_plus_a_stereo_sidechain() {
    let mut loaded = load();
    let handle = loaded.instance.plugin_handle();
    let ports: PluginAudioPorts = handle.get_extension().expect("audio-ports extension");
    let mut buffer = AudioPortInfoBuffer::new();
    let describe = |is_input: bool, buffer: &mut AudioPortInfoBuffer| {
        (0..ports.count(&handle, is_input))
            .map(|i| {
                let info = ports.get(&handle, i, is_input, buffer).unwrap();
                (String::from_utf8_lossy(info.name).into_owned(), info.channel_count)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        describe(true, &mut buffer),
        vec![("Input".to_string(), 2), ("Sidechain 1".to_string(), 2), ("Sidechain 2".to_string(), 2)]
    );
    assert_eq!(describe(false, &mut buffer), vec![("Output".to_string(), 2)]);
}

#[test]
fn parameter_ids_are_unique_and_stable_with_their_ranges() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut loaded = load_unlocked();
    // Ids: unique, and the same in a second instance (hosts key automation by them).
    let infos = |loaded: &mut Loaded| -> Vec<(ClapId, String, f64, f64)> {
        let handle = loaded.instance.plugin_handle();
        let params: PluginParams = handle.get_extension().unwrap();
        let mut buffer = ParamInfoBuffer::new();
        (0..params.count(&handle))
            .map(|i| params.get_info(&handle, i, &mut buffer).map(|p| (p.id, String::from_utf8_lossy(p.name).into_owned(), p.min_value, p.max_value)).unwrap())
            .collect()
    };
    let first = infos(&mut loaded);
    let mut ids: Vec<ClapId> = first.iter().map(|p| p.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), first.len(), "unique ids");
    assert_eq!(first, infos(&mut load_unlocked()), "a second instance has the same ids, names and ranges");
    let range = |name: &str| first.iter().find(|p| p.1 == name).map(|p| (p.2, p.3)).unwrap();
    assert_eq!(range("Scene"), (0.0, 16.0), "stepped: plain values are scene numbers");
    assert_eq!(range("Bus 4 Mute"), (0.0, 1.0));
}

#[test]
fn parameters_cover_sixteen_bus_slots_and_the_master_with_db_text() {
    let mut loaded = load();
    let handle = loaded.instance.plugin_handle();
    let params: PluginParams = handle.get_extension().expect("params extension");
    let mut buffer = ParamInfoBuffer::new();
    let mut names = Vec::new();
    let mut gain_id = None;
    for i in 0..params.count(&handle) {
        let info = params.get_info(&handle, i, &mut buffer).unwrap();
        let name = String::from_utf8_lossy(info.name).into_owned();
        if name == "Bus 1 Gain" {
            gain_id = Some((info.id, info.min_value, info.max_value, info.default_value));
        }
        names.push(name);
    }
    // 16 slots × 4 + master + 4 ducker slots × 2 + 5 scene controls + 8 macros + the editor's edit flag + timeline record.
    assert_eq!(names.len(), 1 + 16 * 4 + 8 + 5 + 8 + 1 + 1, "{names:?}");
    for n in 1..=16 {
        for what in ["Gain", "Pan", "Mute", "Solo"] {
            assert!(names.contains(&format!("Bus {n} {what}")), "missing Bus {n} {what}");
        }
    }
    let mut expected: Vec<String> = ["Scene", "Scene Morph A", "Scene Morph B", "Scene Morph"].map(String::from).to_vec();
    expected.extend((1..=8).map(|n| format!("Macro {n}")));
    expected.extend((1..=4).flat_map(|n| [format!("Ducker {n} Depth"), format!("Ducker {n} Mix")]));
    for name in expected {
        assert!(names.contains(&name), "missing {name}");
    }
    assert!(names.contains(&"Master Gain".to_string()));
    assert!(names.contains(&"Session Edit".to_string()), "the editor's edit flag");
    assert!(names.contains(&"Timeline Record".to_string()), "the timeline recorder's arm");
    let (id, min, max, default) = gain_id.unwrap();
    let mut text = [0u8; 64];
    let shown = params.value_to_text(&handle, id, default, &mut text).unwrap();
    let shown = CStr::from_bytes_until_nul(shown).map(|c| c.to_string_lossy().into_owned()).unwrap_or_else(|_| String::from_utf8_lossy(shown).into_owned());
    assert!(shown.starts_with("0.00"), "default gain shows as {shown:?}");
    let parsed = params.text_to_value(&handle, id, c"-6 dB").expect("text to value");
    assert!(parsed > min && parsed < default && default <= max, "-6 dB → {parsed} in {min}..{max}");
}

#[test]
fn latency_is_reported_and_measured_equal() {
    let mut loaded = load();
    // Activate once so the plugin has compiled its session, then ask.
    let frames = 8192;
    let mut impulse = silence(frames);
    impulse[0][100] = 0.25;
    impulse[1][100] = 0.25;
    let out = run(&mut loaded, &impulse, &no_keys(frames), &[]);
    let handle = loaded.instance.plugin_handle();
    let latency: PluginLatency = handle.get_extension().expect("latency extension");
    let reported = latency.get(&handle) as usize;
    assert_eq!(reported, 2048 + 240, "default session: ducker 2048 + master limiter 240");
    let loudest = out[0].iter().enumerate().fold((0, 0.0f32), |m, (i, s)| if s.abs() > m.1 { (i, s.abs()) } else { m });
    assert_eq!(loudest.0, 100 + reported, "measured latency");
}

#[test]
fn silence_in_gives_silence_out_and_the_sidechain_really_arrives() {
    let mut loaded = load();
    let frames = 16_384;
    let out = run(&mut loaded, &silence(frames), &no_keys(frames), &[]);
    assert!(out.iter().flatten().all(|&s| s == 0.0), "silence in, silence out");
    // Signal on one sidechain only: the default session routes Sidechain 1
    // to the "key" bus and Sidechain 2 to "key2", both on to the master, so
    // each must be audible by itself.
    let tone: Vec<f32> = (0..frames).map(|i| 0.25 * (i as f32 * 0.05).sin()).collect();
    for key in 0..2 {
        let mut keys = no_keys(frames);
        keys[2 * key] = tone.clone();
        keys[2 * key + 1] = tone.clone();
        let out = run(&mut loaded, &silence(frames), &keys, &[]);
        let peak = out[0][4096..].iter().fold(0.0f32, |a, s| a.max(s.abs()));
        assert!(peak > 0.2, "Sidechain {} reaches the output (peak {peak})", key + 1);
    }
}

#[test]
fn gain_automation_at_sample_100_lands_on_sample_100() {
    let mut loaded = load();
    let id = param_id(&mut loaded, "Bus 1 Gain");
    let handle = loaded.instance.plugin_handle();
    let params: PluginParams = handle.get_extension().unwrap();
    let minus_6 = params.text_to_value(&handle, id, c"-6.0206").unwrap();
    // Constant input on the main port (bus slot 1 is the "music" bus); the
    // trim event sits at sample 100 of the fifth block.
    let frames = BLOCK as usize * 8;
    let main = [vec![0.25f32; frames], vec![0.25f32; frames]];
    let at = BLOCK as usize * 4 + 100;
    let event = ParamValueEvent::new(at as u32, id, Pckn::match_all(), minus_6);
    let out = run(&mut loaded, &main, &no_keys(frames), &[event]);
    // The fader sits after the ducker; only the master limiter (240) delays it.
    let seen = at + 240;
    let before = out[0][seen - 1];
    assert!((before - 0.25).abs() < 1e-4, "unchanged just before: {before}");
    assert!(out[0][seen] < before - 1e-5, "ramp starts on the event's sample: {} vs {before}", out[0][seen]);
    let settled = out[0][seen + 600];
    assert!((settled - 0.125).abs() < 1e-3, "−6 dB after the ramp: {settled}");
}

#[test]
fn random_block_sizes_give_the_same_output_as_full_blocks() {
    let mut loaded = load();
    let frames = 20_000;
    let main: [Vec<f32>; 2] = [0, 1].map(|c| (0..frames).map(|i| 0.3 * ((i * (7 + c)) as f32 * 0.013).sin()).collect());
    let side: [Vec<f32>; 4] = [0, 1, 2, 3].map(|c| (0..frames).map(|i| if (i / 3000) % 2 == c % 2 { 0.3 * (i as f32 * 0.13).sin() } else { 0.0 }).collect());
    let whole = run(&mut loaded, &main, &side, &[]);
    let mut seed = 12345u32;
    let random = run_sliced(&mut loaded, &main, &side, &[], &mut |_| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        1 + (seed % BLOCK) as usize
    });
    assert!(whole[0].iter().any(|s| s.abs() > 0.01));
    assert!(whole == random, "random host block sizes changed the output");
}

#[test]
fn nan_and_inf_input_give_finite_output() {
    let mut loaded = load();
    let frames = 8192;
    let poison: Vec<f32> = (0..frames).map(|i| [f32::NAN, f32::INFINITY, -f32::INFINITY, 0.5][i % 4]).collect();
    let out = run(&mut loaded, &[poison.clone(), poison.clone()], &[poison.clone(), poison.clone(), poison.clone(), poison], &[]);
    assert!(out.iter().flatten().all(|s| s.is_finite()));
}



#[test]
fn state_saved_and_loaded_into_a_new_instance_reproduces_the_output_exactly() {
    use clack_extensions::state::PluginState;
    let frames = 12_000;
    let main: [Vec<f32>; 2] = [0, 1].map(|c| (0..frames).map(|i| 0.4 * ((i * (3 + c)) as f32 * 0.011).sin()).collect());
    let side: [Vec<f32>; 4] = [0, 1, 2, 3].map(|c| (0..frames).map(|i| 0.3 * ((i * (c + 1)) as f32 * 0.09).sin()).collect());

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Instance A: the host moves bus 1's fader to −6 dB, then saves.
    let mut a = load_unlocked();
    let id = param_id(&mut a, "Bus 1 Gain");
    let minus_6 = {
        let handle = a.instance.plugin_handle();
        let params: PluginParams = handle.get_extension().unwrap();
        params.text_to_value(&handle, id, c"-6").unwrap()
    };
    run(&mut a, &main, &side, &[ParamValueEvent::new(0, id, Pckn::match_all(), minus_6)]);
    let after_a = run(&mut a, &main, &side, &[]);
    let mut saved = Vec::new();
    {
        let mut handle = a.instance.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        state.save(&mut handle, &mut saved).expect("saves");
    }
    // Saving twice gives the same bytes.
    let mut again = Vec::new();
    {
        let mut handle = a.instance.plugin_handle();
        let state: PluginState = handle.get_extension().unwrap();
        state.save(&mut handle, &mut again).unwrap();
    }
    assert_eq!(saved, again, "state is deterministic");
    drop(a.instance);

    // Instance B: fresh, loads the state, plays the same input.
    let mut b = load_unlocked();
    let fresh = run(&mut b, &main, &side, &[]);
    {
        let mut handle = b.instance.plugin_handle();
        let state: PluginState = handle.get_extension().unwrap();
        state.load(&mut handle, &mut std::io::Cursor::new(&saved)).expect("loads");
    }
    let after_b = run(&mut b, &main, &side, &[]);
    assert!(after_a == after_b, "restored instance sounds different");
    assert!(fresh != after_b, "the state carried the fader move");
}

#[test]
fn solo_parameter_solos_in_place() {
    let mut loaded = load();
    let solo_key = param_id(&mut loaded, "Bus 2 Solo"); // slot 2 is the "key" bus
    let frames = BLOCK as usize * 8;
    let main = [vec![0.25f32; frames], vec![0.25f32; frames]];
    let mut keys = no_keys(frames);
    let tone: Vec<f32> = (0..frames).map(|i| 0.2 * (i as f32 * 0.05).sin()).collect();
    keys[0] = tone.clone();
    keys[1] = tone;
    let solo = ParamValueEvent::new(0, solo_key, Pckn::match_all(), 1.0);
    let soloed = run(&mut loaded, &main, &keys, &[solo]);
    // The music bus (main input) falls silent; the key bus stays: after the
    // latency, the output swings around zero instead of sitting near +0.25.
    let tail = &soloed[0][frames - 2048..];
    let mean = tail.iter().sum::<f32>() / tail.len() as f32;
    assert!(mean.abs() < 0.02, "music bus still audible under solo (mean {mean})");
    assert!(tail.iter().any(|s| s.abs() > 0.1), "the soloed key bus is audible");
}

#[test]
fn remote_control_pages_group_faders_pans_mutes_solos_and_master() {
    use clack_extensions::remote_controls::{PluginRemoteControls, RemoteControlsPageBuffer};
    let mut loaded = load();
    let names: Vec<(ClapId, String)> = {
        let handle = loaded.instance.plugin_handle();
        let params: PluginParams = handle.get_extension().unwrap();
        let mut buffer = ParamInfoBuffer::new();
        (0..params.count(&handle))
            .map(|i| params.get_info(&handle, i, &mut buffer).map(|p| (p.id, String::from_utf8_lossy(p.name).into_owned())).unwrap())
            .collect()
    };
    let name_of = |id: ClapId| names.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone()).unwrap();
    let handle = loaded.instance.plugin_handle();
    let pages: PluginRemoteControls = handle.get_extension().expect("remote-controls extension");
    let mut buffer = RemoteControlsPageBuffer::new();
    let mut seen = Vec::new();
    for i in 0..pages.count(&handle) {
        let page = pages.get(&handle, i, &mut buffer).unwrap();
        let params: Vec<String> = page.param_ids.iter().flatten().map(|&id| name_of(id)).collect();
        seen.push((String::from_utf8_lossy(page.page_name).into_owned(), params));
    }
    let titles: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["Faders 1-8", "Faders 9-16", "Pans 1-8", "Mutes 1-8", "Solos 1-8", "Master", "Scenes", "Macros", "Duckers"]);
    assert_eq!(seen[0].1, (1..=8).map(|n| format!("Bus {n} Gain")).collect::<Vec<_>>());
    assert_eq!(seen[1].1[7], "Bus 16 Gain");
    assert_eq!(seen[5].1, vec!["Master Gain".to_string()]);
    assert_eq!(seen[6].1, ["Scene", "Scene Morph A", "Scene Morph B", "Scene Morph", "Scene Hold"]);
    assert_eq!(seen[7].1, (1..=8).map(|n| format!("Macro {n}")).collect::<Vec<_>>());
    assert_eq!(seen[8].1[0..2], ["Ducker 1 Depth".to_string(), "Ducker 1 Mix".to_string()]);
}

/// ```text
///   main ─▶ [a: 0 dB] ─▶ master      (no inserts: no latency)
/// ```
/// Scene 1 "Quiet" (a −12 dB, instant), scene 2 "Gone" (a muted);
/// macro 1 moves a.gainDb by 0 … −12 dB.
const SCENE_SESSION: &str = r#"{ "version": 1,
  "racks": [ { "id": "in", "input": "main" } ],
  "buses": [ { "id": "a" } ],
  "routes": [ { "from": "in", "to": "a" } ],
  "scenes": [ { "name": "Quiet", "values": { "a.gainDb": -12 } },
              { "name": "Gone", "transition": "morph", "morphMs": 100, "values": { "a.mute": true } } ],
  "macros": [ { "name": "Down", "targets": [ { "path": "a.gainDb", "min": 0, "max": -12 } ] } ] }"#;

fn text_of(loaded: &mut Loaded, id: ClapId, value: f64) -> String {
    let handle = loaded.instance.plugin_handle();
    let params: PluginParams = handle.get_extension().unwrap();
    let mut text = [0u8; 64];
    let shown = params.value_to_text(&handle, id, value, &mut text).unwrap();
    CStr::from_bytes_until_nul(shown).map(|c| c.to_string_lossy().into_owned()).unwrap_or_else(|_| String::from_utf8_lossy(shown).into_owned())
}

#[test]
fn a_scene_change_at_sample_100_starts_its_transition_there() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut loaded = load_with_session(SCENE_SESSION);
    let scene = param_id(&mut loaded, "Scene");
    let frames = BLOCK as usize * 6;
    let main = [vec![0.5f32; frames], vec![0.5f32; frames]];
    // Activate once so the scene names are published, then read the text.
    run(&mut loaded, &silence(512), &no_keys(512), &[]);
    assert_eq!(text_of(&mut loaded, scene, 0.0), "Session");
    assert_eq!(text_of(&mut loaded, scene, 1.0), "1: Quiet");
    let handle = loaded.instance.plugin_handle();
    let params: PluginParams = handle.get_extension().unwrap();
    assert_eq!(params.text_to_value(&handle, scene, c"2: Gone"), Some(2.0));
    let at = BLOCK as usize + 100;
    let out = run(&mut loaded, &main, &no_keys(frames), &[ParamValueEvent::new(at as u32, scene, Pckn::match_all(), 1.0)]);
    assert_eq!(out[0][at - 1], 0.5, "the session's 0 dB until the event");
    assert!(out[0][at] < 0.5, "the declick ramp starts on the event's sample");
    // 10 ms of scene ramp + 10 ms of fader ramp = 960 samples.
    let quiet = 0.5 * 10f32.powf(-12.0 / 20.0);
    assert!((out[0][at + 960] - quiet).abs() < 1e-6, "−12 dB after the ramps: {}", out[0][at + 960]);
}

#[test]
fn macro_and_morph_parameters_move_the_mix() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut loaded = load_with_session(SCENE_SESSION);
    let macro1 = param_id(&mut loaded, "Macro 1");
    let (morph_b, morph) = (param_id(&mut loaded, "Scene Morph B"), param_id(&mut loaded, "Scene Morph"));
    let frames = BLOCK as usize * 4;
    let main = [vec![0.5f32; frames], vec![0.5f32; frames]];
    let out = run(&mut loaded, &main, &no_keys(frames), &[ParamValueEvent::new(0, macro1, Pckn::match_all(), 0.5)]);
    // Set before the first sample: no ramp. −12 dB · 0.5 = −6 dB.
    let half = 0.5 * 10f32.powf(-6.0 / 20.0);
    assert!((out[0][0] - half).abs() < 1e-6 && (out[0][frames - 1] - half).abs() < 1e-6, "macro 50 % → −6 dB: {}", out[0][0]);
    // Morph from the current scene (0 dB, macro −6 dB) towards scene 1
    // (−12 dB): at 50 % the scene value is −6 dB, plus the macro −6 dB.
    let events = [
        ParamValueEvent::new(0, morph_b, Pckn::match_all(), 1.0),
        ParamValueEvent::new(0, morph, Pckn::match_all(), 0.5),
    ];
    let out = run(&mut loaded, &main, &no_keys(frames), &events);
    let want = 0.5 * 10f32.powf(-12.0 / 20.0);
    assert!((out[0][frames - 1] - want).abs() < 1e-6, "morph 50 % + macro: {}", out[0][frames - 1]);
}

#[test]
fn ducker_slot_parameters_reach_the_default_sessions_ducker() {
    let mut loaded = load();
    let (depth, mix) = (param_id(&mut loaded, "Ducker 1 Depth"), param_id(&mut loaded, "Ducker 1 Mix"));
    let minus_3 = {
        let handle = loaded.instance.plugin_handle();
        let params: PluginParams = handle.get_extension().unwrap();
        params.text_to_value(&handle, depth, c"-3 dB").unwrap()
    };
    assert_eq!(text_of(&mut loaded, depth, minus_3), "-3.0 dB");
    let frames = 24_000;
    let noise = |seed: u32| -> Vec<f32> {
        let mut x = seed | 1;
        (0..frames).map(|_| { x ^= x << 13; x ^= x >> 17; x ^= x << 5; (x as f32 / u32::MAX as f32 - 0.5) * 0.3 }).collect()
    };
    let main = [noise(1), noise(2)];
    let mut keys = no_keys(frames);
    keys[0] = noise(3);
    keys[1] = noise(4);
    let ducked = run(&mut loaded, &main, &keys, &[]);
    let dry = run(&mut loaded, &main, &keys, &[ParamValueEvent::new(0, mix, Pckn::match_all(), 0.0)]);
    // Normalized 0 is the bottom of the trim range, −36 dB: depth 9 − 36 → 0.
    let flat = run(&mut loaded, &main, &keys, &[ParamValueEvent::new(0, depth, Pckn::match_all(), 0.0)]);
    let power = |x: &[f32]| x[8000..].iter().map(|s| (s * s) as f64).sum::<f64>();
    assert!(power(&ducked[0]) < power(&dry[0]) * 0.9, "the default ducker ducks under a key");
    // Mix 0 and a depth trimmed to 0 dB are both transparent.
    let worst = dry[0][8000..].iter().zip(&flat[0][8000..]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "mix 0 and depth 0 agree within {worst}");
}

/// A state restored while the plugin processes (nice-plug does not
/// re-activate for it): the new session takes over within a few blocks, its
/// new latency is reported and the host is asked to restart.
#[test]
fn a_state_restored_while_processing_takes_over_and_re_reports_latency() {
    use clack_extensions::state::PluginState;
    use std::sync::atomic::Ordering;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The state to restore: the default session with the music bus at
    // −12 dB and a 1024-point ducker (latency 1024 + 240 instead of 2288).
    let other = DEFAULT_SESSION
        .replace(r#"{ "id": "music", "route": "master","#, r#"{ "id": "music", "route": "master", "gainDb": -12,"#)
        .replace(r#""depthDb": 9,"#, r#""depthDb": 9, "fftSize": 1024,"#);
    assert_ne!(other, DEFAULT_SESSION);
    let mut saved = Vec::new();
    {
        let mut donor = load_with_session(&other);
        let mut handle = donor.instance.plugin_handle();
        let state: PluginState = handle.get_extension().unwrap();
        state.save(&mut handle, &mut saved).unwrap();
    }

    let mut live = load_unlocked();
    let heard = load_state_while_processing(&mut live, &saved, 0.25);
    let restart = live.instance.access_shared_handler(|s| s.restart_requested.load(Ordering::SeqCst));
    let handle = live.instance.plugin_handle();
    let latency: PluginLatency = handle.get_extension().unwrap();
    assert_eq!(latency.get(&handle), 1024 + 240, "the restored session's latency is reported");
    assert!(restart, "the host was asked to restart for the latency change");
    // Before the restore the music bus passes 0.25; after it, −12 dB.
    assert!(heard.len() > 20, "the audio thread ran ({} blocks)", heard.len());
    assert!((heard[10] - 0.25).abs() < 1e-4, "before: {}", heard[10]);
    let quiet = 0.25 * 10f32.powf(-12.0 / 20.0);
    let last = *heard.last().unwrap();
    assert!((last - quiet).abs() < 1e-4, "after: {last}, want {quiet}");
}

/// The second layout: eight stereo stems, one per bus slot, post-fader and
/// aligned with the main output. In the default session slot 1 is "music"
/// (main input through the ducker), 2 "key", 3 "key2"; the master limiter
/// (idle at these levels, an exact 240-sample delay) follows.
#[test]
fn the_stem_layout_delivers_each_bus_slot_aligned_with_the_mix() {
    let mut loaded = load();
    let name = select_layout(&mut loaded, "stems");
    assert_eq!(name, "Stereo + 2 sidechains + 8 bus stems");
    {
        let handle = loaded.instance.plugin_handle();
        let ports: PluginAudioPorts = handle.get_extension().unwrap();
        let mut buffer = AudioPortInfoBuffer::new();
        let outputs: Vec<(String, u32)> = (0..ports.count(&handle, false))
            .map(|i| {
                let info = ports.get(&handle, i, false, &mut buffer).unwrap();
                (String::from_utf8_lossy(info.name).into_owned(), info.channel_count)
            })
            .collect();
        let mut want = vec![("Output".to_string(), 2)];
        want.extend((1..=8).map(|n| (format!("Bus {n}"), 2)));
        assert_eq!(outputs, want);
        assert_eq!(ports.count(&handle, true), 3, "both sidechains stay");
    }
    let frames = 12_000;
    let main: [Vec<f32>; 2] = [0, 1].map(|c| (0..frames).map(|i| 0.3 * ((i * (5 + c)) as f32 * 0.01).sin()).collect());
    let mut keys = no_keys(frames);
    let tone: Vec<f32> = (0..frames).map(|i| if i > 6000 { 0.2 * (i as f32 * 0.07).sin() } else { 0.0 }).collect();
    keys[2] = tone.clone();
    keys[3] = tone;
    let (out, stems) = run_with_stems(&mut loaded, &main, &keys, 8);
    // Music stem plus key2 stem is the mix, sample for sample.
    let worst = (0..frames).map(|i| (stems[0][0][i] + stems[2][0][i] - out[0][i]).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "stems sum to the mix (worst error {worst})");
    assert!(stems[0][0][4000].abs() > 0.01, "the music stem carries the main input");
    assert!(stems[2][0][..6000 + 2288].iter().all(|&s| s == 0.0) && stems[2][0][9000..].iter().any(|s| s.abs() > 0.1), "Sidechain 2 on the key2 stem, aligned");
    assert!(stems[1].iter().flatten().all(|&s| s == 0.0), "Sidechain 1 silent: key stem silent");
    for stem in &stems[3..] {
        assert!(stem.iter().flatten().all(|&s| s == 0.0), "slots without a bus write silence");
    }
}

/// A state whose session has errors never replaces the running session —
/// neither while processing nor at the next activation — and the state is
/// set back to the session that runs.
#[test]
fn a_state_with_a_broken_session_leaves_the_running_one_in_place() {
    use clack_extensions::state::PluginState;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let save = |loaded: &mut Loaded| {
        let mut handle = loaded.instance.plugin_handle();
        let state: PluginState = handle.get_extension().unwrap();
        let mut bytes = Vec::new();
        state.save(&mut handle, &mut bytes).unwrap();
        bytes
    };
    let load = |loaded: &mut Loaded, bytes: &[u8]| {
        let mut handle = loaded.instance.plugin_handle();
        let state: PluginState = handle.get_extension().unwrap();
        state.load(&mut handle, &mut std::io::Cursor::new(bytes)).expect("the state itself is well-formed");
    };
    // SCENE_SESSION passes the main input at unity with no latency.
    let mut live = load_with_session(SCENE_SESSION);
    let good = save(&mut live);
    // The same state with a session that names an unknown bus. (nice-plug's
    // CLAP state is a little-endian u64 length, then JSON.)
    let mut broken: serde_json::Value = serde_json::from_slice(&good[8..]).unwrap();
    // A persisted field holds its value serialised as JSON: here a string.
    let field = broken["fields"]["session"].as_str().expect("the session is a persisted field").to_string();
    let session: String = serde_json::from_str(&field).unwrap();
    let bad_session = session.replace(r#""to": "a""#, r#""to": "nowhere""#);
    assert_ne!(bad_session, session);
    broken["fields"]["session"] = serde_json::Value::String(serde_json::to_string(&bad_session).unwrap());
    let json = serde_json::to_vec(&broken).unwrap();
    let broken = [&(json.len() as u64).to_le_bytes()[..], &json].concat();

    let heard = load_state_while_processing(&mut live, &broken, 0.25);
    assert!(heard.len() > 20);
    assert!(heard.iter().skip(2).all(|&s| s == 0.25), "the running session kept playing unchanged");
    assert_eq!(save(&mut live), good, "the state was set back to the running session");

    // Loaded while inactive: the next activation keeps the previous session too.
    load(&mut live, &broken);
    let out = run(&mut live, &[vec![0.25; 2048], vec![0.25; 2048]], &no_keys(2048), &[]);
    assert_eq!(out[0][0], 0.25, "no latency, unity: still SCENE_SESSION, not the default");
    assert_eq!(save(&mut live), good);
}

/// A mono session (`"channels": 1`) in a stereo host plays on both outputs.
#[test]
fn mono_session_plays_on_both_outputs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let session = r#"{ "version": 1, "channels": 1,
      "racks": [ { "id": "in", "input": "main" } ],
      "buses": [ { "id": "music", "route": "master" }, { "id": "master" } ],
      "routes": [ { "from": "in", "to": "music" } ] }"#;
    let mut loaded = load_with_session(session);
    let frames = 4096;
    // Left and right differ; the mono session averages them.
    let main: [Vec<f32>; 2] = [0, 1].map(|c| (0..frames).map(|i| 0.2 * ((i * (c + 1)) as f32 * 0.01).sin()).collect());
    let out = run(&mut loaded, &main, &no_keys(frames), &[]);
    assert_eq!(out[0], out[1], "left == right");
    let peak = out[0].iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak > 0.1, "not silent ({peak})");
    for i in 0..frames {
        let e = 0.5 * (main[0][i] + main[1][i]);
        assert!((out[0][i] - e).abs() < 1e-6, "sample {i}: {} vs the average of the input {e}", out[0][i]);
    }
}
