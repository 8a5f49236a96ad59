//! The CLAP format layer at host level: every declared port arrives and
//! lands where the session says, a host passing fewer ports than declared
//! gets silence for the missing inputs and a correct main output — with the
//! host's port arrays, channel-pointer arrays and samples ending on guard
//! pages, so any access past them faults — no restart request at first
//! activation, a latency change that asked for a restart reported at the
//! re-activation, and MIDI passed through on its sample.

use std::time::Duration;

use clack_extensions::note_ports::{NoteDialect, NoteDialects};
use mam_tests::clap::*;
use mam_tests::ports::*;

/// Frames per run: 8 blocks.
const FRAMES: usize = 8 * BLOCK as usize;

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The three input signals, with only the ports in `fed` carrying theirs.
fn inputs_with(fed: &[usize], count: usize) -> Vec<[Vec<f32>; 2]> {
    (0..count).map(|p| if fed.contains(&p) { signal(p, FRAMES) } else { silent(FRAMES) }).collect()
}

#[test]
fn clap_declares_both_port_configurations_and_midi_note_ports() {
    let _serial = lock();
    let mut loaded = load_unlocked();
    let configs = port_configs(&mut loaded);
    assert_eq!(configs.iter().map(|c| (c.2, c.3)).collect::<Vec<_>>(), [(3, 1), (3, 9)], "config 0: 3 in / 1 out; config 1: 3 in / 9 out ({configs:?})");
    let inputs = vec![("Input".to_string(), 2, true), ("Sidechain 1".to_string(), 2, false), ("Sidechain 2".to_string(), 2, false)];
    assert_eq!(audio_ports(&mut loaded, true), inputs, "config 0 inputs");
    assert_eq!(audio_ports(&mut loaded, false), [("Output".to_string(), 2, true)], "config 0 outputs");
    select_config(&mut loaded, 1);
    assert_eq!(audio_ports(&mut loaded, true), inputs, "config 1 keeps both sidechains");
    let mut outputs = vec![("Output".to_string(), 2, true)];
    outputs.extend((1..=8).map(|n| (format!("Bus {n}"), 2, false)));
    assert_eq!(audio_ports(&mut loaded, false), outputs, "config 1 outputs");
    for is_input in [true, false] {
        let ports = note_ports(&mut loaded, is_input);
        assert_eq!(ports.len(), 1, "one note {} port: {ports:?}", if is_input { "input" } else { "output" });
        let (_, supported, preferred) = &ports[0];
        assert!(supported.contains(NoteDialects::MIDI), "MIDI dialect supported: {supported:?}");
        assert_eq!(*preferred, Some(NoteDialect::Midi), "MIDI preferred");
    }
}

/// Each sidechain alone, in a session that binds only it: heard on the
/// master at its bus's gain when it carries the signal, exact silence when
/// the signal is on any other port.
#[test]
fn clap_each_sidechain_arrives_alone_at_its_session_level() {
    let _serial = lock();
    for (session, port, gain) in [(KEY1_ONLY, 1, 0.5), (KEY2_ONLY, 2, 0.25)] {
        let mut loaded = load_with_session(session);
        for fed in 0..3 {
            let run = run_guarded(&mut loaded, &inputs_with(&[fed], 3), 1, FRAMES, &[]);
            let what = format!("session binding Sidechain {port}, signal on port {fed}");
            if fed == port {
                assert_close(&run.outputs[0], &scaled(&signal(port, FRAMES), gain), TOLERANCE, &what);
            } else {
                assert_silent(&run.outputs[0], &what);
            }
        }
    }
}

/// Config 1, every port passed: stem n is bus slot n (post-fader), the
/// master is the plain sum of the three buses, and the five empty slots
/// write silence.
#[test]
fn clap_stems_equal_their_buses_and_sum_to_the_master() {
    let _serial = lock();
    let mut loaded = load_with_session(THREE_PORTS_TO_STEMS);
    select_config(&mut loaded, 1);
    let run = run_guarded(&mut loaded, &inputs_with(&[0, 1, 2], 3), 9, FRAMES, &[]);
    assert_close(&run.outputs[0], &three_ports_mix(&[0, 1, 2], FRAMES), TOLERANCE, "master");
    for stem in 1..=8 {
        let what = format!("stem {stem}");
        match STEM_OF_PORT.iter().position(|&s| s == stem) {
            Some(port) => assert_close(&run.outputs[stem], &scaled(&signal(port, FRAMES), STEM_GAINS[port]), TOLERANCE, &what),
            None => assert_silent(&run.outputs[stem], &what),
        }
    }
    let stems_sum = sum(&run.outputs[1..], FRAMES);
    assert_close(&run.outputs[0], &stems_sum, TOLERANCE, "master vs the sum of the stems");
}

/// Hosts may pass fewer ports than the configuration declares (CLAP's
/// `audio_inputs_count` / `audio_outputs_count`): what is missing reads as
/// silence and is not written, and the main output is what the session
/// makes of the ports that were passed. Every host array ends on a guard
/// page, so a read or write of a port past the count faults.
#[test]
fn clap_a_host_passing_fewer_ports_gets_silence_for_the_missing_ones() {
    let _serial = lock();
    let mut loaded = load_with_session(THREE_PORTS_TO_STEMS);
    // Config 0: main only, then main + Sidechain 1, then no inputs at all.
    let run = run_guarded(&mut loaded, &inputs_with(&[0], 1), 1, FRAMES, &[]);
    assert_close(&run.outputs[0], &three_ports_mix(&[0], FRAMES), TOLERANCE, "main ports only");
    let run = run_guarded(&mut loaded, &inputs_with(&[0, 1], 2), 1, FRAMES, &[]);
    assert_close(&run.outputs[0], &three_ports_mix(&[0, 1], FRAMES), TOLERANCE, "main + Sidechain 1");
    let run = run_guarded(&mut loaded, &[], 1, FRAMES, &[]);
    assert_silent(&run.outputs[0], "no input ports");

    // Config 1 (stems) with all inputs: the host passes no stem outputs,
    // then the first four only.
    select_config(&mut loaded, 1);
    let full = three_ports_mix(&[0, 1, 2], FRAMES);
    let run = run_guarded(&mut loaded, &inputs_with(&[0, 1, 2], 3), 1, FRAMES, &[]);
    assert_close(&run.outputs[0], &full, TOLERANCE, "stem configuration, main output only");
    let run = run_guarded(&mut loaded, &inputs_with(&[0, 1, 2], 3), 5, FRAMES, &[]);
    assert_close(&run.outputs[0], &full, TOLERANCE, "stem configuration, stems 1-4 passed");
    assert_close(&run.outputs[1], &scaled(&signal(0, FRAMES), STEM_GAINS[0]), TOLERANCE, "stem 1 of 4 passed");
    assert_close(&run.outputs[4], &scaled(&signal(1, FRAMES), STEM_GAINS[1]), TOLERANCE, "stem 4 of 4 passed");
    for stem in [2, 3] {
        assert_silent(&run.outputs[stem], &format!("empty stem {stem} of 4 passed"));
    }
}

/// Lets the plugin's deferred main-thread work run, as a host's event loop
/// would: a restart request may come from a callback or another thread.
fn settle(loaded: &mut Loaded) {
    for _ in 0..10 {
        pump_main_thread(loaded);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// CLAP: a plugin asks for a restart only when something changed while it
/// was active, and reports a latency change only then; its first
/// activation changes nothing the host has not yet read.
#[test]
fn clap_first_activation_requests_no_restart() {
    let _serial = lock();
    // A fresh instance of the default session (latency 2288 at 48 kHz).
    let mut loaded = load_unlocked();
    settle(&mut loaded);
    run_guarded(&mut loaded, &inputs_with(&[0, 1, 2], 3), 1, FRAMES, &[]);
    settle(&mut loaded);
    assert_eq!(restart_flags(&mut loaded), (false, false), "(request_restart, latency.changed) after the first activation");

    // A project reload: the state is loaded before the first activation.
    let saved = {
        use clack_extensions::state::PluginState;
        let mut handle = loaded.instance.plugin_handle();
        let state: PluginState = handle.get_extension().unwrap();
        let mut bytes = Vec::new();
        state.save(&mut handle, &mut bytes).expect("saves");
        bytes
    };
    let mut reloaded = load_unlocked();
    {
        use clack_extensions::state::PluginState;
        let mut handle = reloaded.instance.plugin_handle();
        let state: PluginState = handle.get_extension().unwrap();
        state.load(&mut handle, &mut std::io::Cursor::new(&saved)).expect("loads");
    }
    settle(&mut reloaded);
    run_guarded(&mut reloaded, &inputs_with(&[0, 1, 2], 3), 1, FRAMES, &[]);
    settle(&mut reloaded);
    assert_eq!(restart_flags(&mut reloaded), (false, false), "(request_restart, latency.changed) after a state load and the first activation");
}

/// A restart for a latency change is honoured: a state whose session has
/// another latency, restored while processing, makes the plugin ask for a
/// restart (not report the latency: CLAP lets it change only inside
/// `activate`); the re-activation then calls `latency.changed` and `get`
/// answers the new latency. A later activation with the same latency
/// reports nothing.
#[test]
fn clap_a_restart_for_a_latency_change_reports_it_at_reactivation() {
    use clack_extensions::latency::PluginLatency;
    use clack_extensions::state::PluginState;
    use clack_host::prelude::PluginAudioConfiguration;
    use std::sync::atomic::Ordering;
    let _serial = lock();
    // The default session with a 1024-point ducker: latency 1024 + 240
    // instead of 2048 + 240.
    let default = include_str!("../../plugin/src/default_session.json");
    let other = default.replace(r#""depthDb": 9,"#, r#""depthDb": 9, "fftSize": 1024,"#);
    assert_ne!(other, default);
    let mut saved = Vec::new();
    {
        let mut donor = load_with_session(&other);
        let mut handle = donor.instance.plugin_handle();
        let state: PluginState = handle.get_extension().unwrap();
        state.save(&mut handle, &mut saved).unwrap();
    }

    let mut live = load_unlocked();
    load_state_while_processing(&mut live, &saved, 0.25);
    settle(&mut live);
    assert_eq!(restart_flags(&mut live), (true, false), "(request_restart, latency.changed) after the restore while active");

    // The host restarts the plugin: deactivated above, activated again.
    let config = PluginAudioConfiguration { sample_rate: RATE, min_frames_count: 1, max_frames_count: BLOCK };
    let latency_of = |loaded: &mut Loaded| {
        let handle = loaded.instance.plugin_handle();
        let latency: PluginLatency = handle.get_extension().expect("latency extension");
        latency.get(&handle)
    };
    let stopped = live.instance.activate(|_, _| (), config).expect("activates");
    assert!(restart_flags(&mut live).1, "latency.changed is called from the re-activation");
    assert_eq!(latency_of(&mut live), 1024 + 240, "the new latency while active");
    live.instance.deactivate(stopped);

    // Once reported, the same latency is not reported again.
    live.instance.access_handler(|m| m.latency_changed.store(false, Ordering::SeqCst));
    let stopped = live.instance.activate(|_, _| (), config).expect("activates");
    assert_eq!(latency_of(&mut live), 1024 + 240);
    live.instance.deactivate(stopped);
    assert!(!restart_flags(&mut live).1, "an unchanged latency is not reported");
}

/// A note-on and a controller change at sample 200 of a 512-frame block
/// come out of the note output port unchanged, on sample 200.
#[test]
fn clap_midi_passes_through_on_its_sample() {
    let _serial = lock();
    let mut loaded = load_unlocked();
    let note_on = [0x90, 60, 100];
    let cc = [0xB0, 7, 64];
    let run = run_guarded(&mut loaded, &inputs_with(&[], 3), 1, BLOCK as usize, &[(200, note_on), (200, cc)]);
    assert_eq!(run.events, [OutEvent::Midi(200, 0, note_on), OutEvent::Midi(200, 0, cc)]);
}
