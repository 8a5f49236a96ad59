//! The built CLAP bundle, loaded and driven through clack-host: ports,
//! parameters, latency, sidechain delivery and sample-placed automation.

use std::ffi::CStr;

use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use mam_tests::clap::*;

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
    assert_eq!(names.len(), 1 + 16 * 4, "{names:?}");
    for n in 1..=16 {
        for what in ["Gain", "Pan", "Mute", "Solo"] {
            assert!(names.contains(&format!("Bus {n} {what}")), "missing Bus {n} {what}");
        }
    }
    assert!(names.contains(&"Master Gain".to_string()));
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
    let handle = loaded.instance.plugin_handle();
    let params: PluginParams = handle.get_extension().unwrap();
    let mut buffer = ParamInfoBuffer::new();
    let _ = &mut buffer;
    let id = gain_param_id_from(&handle, &params);
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

fn gain_param_id_from(handle: &PluginMainThreadHandle, params: &PluginParams) -> ClapId {
    let mut buffer = ParamInfoBuffer::new();
    (0..params.count(handle))
        .map(|i| params.get_info(handle, i, &mut buffer).map(|p| (p.id, String::from_utf8_lossy(p.name).into_owned())).unwrap())
        .find(|(_, n)| n == "Bus 1 Gain")
        .unwrap()
        .0
}

fn gain_param_id(loaded: &mut Loaded, name: &str) -> ClapId {
    let handle = loaded.instance.plugin_handle();
    let params: PluginParams = handle.get_extension().unwrap();
    let mut buffer = ParamInfoBuffer::new();
    (0..params.count(&handle))
        .map(|i| params.get_info(&handle, i, &mut buffer).map(|p| (p.id, String::from_utf8_lossy(p.name).into_owned())).unwrap())
        .find(|(_, n)| n == name)
        .unwrap_or_else(|| panic!("no parameter {name}"))
        .0
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
    let id = gain_param_id(&mut a, "Bus 1 Gain");
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
    let solo_key = gain_param_id(&mut loaded, "Bus 2 Solo"); // slot 2 is the "key" bus
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
    assert_eq!(titles, ["Faders 1-8", "Faders 9-16", "Pans 1-8", "Mutes 1-8", "Solos 1-8", "Master"]);
    assert_eq!(seen[0].1, (1..=8).map(|n| format!("Bus {n} Gain")).collect::<Vec<_>>());
    assert_eq!(seen[1].1[7], "Bus 16 Gain");
    assert_eq!(seen[5].1, vec!["Master Gain".to_string()]);
}
