//! The VST3 format layer at host level: every declared bus arrives and lands
//! where the session says; a host that leaves aux buses inactive, passes
//! fewer buses than declared (`numInputs`/`numOutputs`) or gives a bus no
//! channel memory gets silence for those inputs, nothing written to those
//! outputs and a correct main output — with the host's `AudioBusBuffers`
//! arrays, channel-pointer arrays and samples ending on guard pages, so any
//! access past them faults; every output bus the plugin writes has its
//! `silenceFlags` cleared; no `kLatencyChanged` restart at first
//! activation, but one when an activation arrives at another latency than
//! the host read before; notes pass through on their sample, and
//! controllers go in through `IMidiMapping` and come out as
//! `kLegacyMIDICCOutEvent`; parameters are grouped in `IUnitInfo` units.

use std::time::Duration;

use mam_tests::ports::*;
use mam_tests::vst3::*;
use vst3::Steinberg::Vst::Event_::EventTypes_;
use vst3::Steinberg::Vst::{
    kNoParentUnitId, kRootUnitId, BusDirections_, BusInfo_::BusFlags_, BusTypes_, IAudioProcessorTrait, IComponentTrait, IEditControllerTrait,
    IUnitInfo, IUnitInfoTrait, MediaTypes_, ParameterInfo, RestartFlags_, UnitInfo,
};
use vst3::Steinberg::kResultOk;

/// The plugin's built-in session (the bundle embeds the same file).
const DEFAULT_SESSION: &str = include_str!("../../plugin/src/default_session.json");

/// Frames per run: 8 blocks.
const FRAMES: usize = 8 * BLOCK;
const IN: i32 = BusDirections_::kInput as i32;
const OUT: i32 = BusDirections_::kOutput as i32;

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The three input signals, with only the buses in `fed` carrying theirs.
fn inputs_with(fed: &[usize], count: usize) -> Vec<[Vec<f32>; 2]> {
    (0..count).map(|p| if fed.contains(&p) { signal(p, FRAMES) } else { silent(FRAMES) }).collect()
}

#[test]
fn vst3_declares_three_stereo_inputs_nine_stereo_outputs_and_midi_buses() {
    let _serial = lock();
    let plugin = load();
    let audio = |direction| buses(&plugin, MediaTypes_::kAudio as i32, direction);
    let bus = |name: &str, main: bool| Bus {
        name: name.to_string(),
        channels: 2,
        bus_type: if main { BusTypes_::kMain } else { BusTypes_::kAux } as i32,
        flags: if main { BusFlags_::kDefaultActive as u32 } else { 0 },
    };
    let strip_default_active = |mut buses: Vec<Bus>| {
        // Whether an aux bus starts active is the plugin's choice; the main
        // buses must.
        for b in buses.iter_mut().filter(|b| b.bus_type == BusTypes_::kAux as i32) {
            b.flags &= !(BusFlags_::kDefaultActive as u32);
        }
        buses
    };
    assert_eq!(strip_default_active(audio(IN)), [bus("Input", true), bus("Sidechain 1", false), bus("Sidechain 2", false)]);
    let mut outputs = vec![bus("Output", true)];
    outputs.extend((1..=8).map(|n| bus(&format!("Bus {n}"), false)));
    assert_eq!(strip_default_active(audio(OUT)), outputs);
    let events = |direction| buses(&plugin, MediaTypes_::kEvent as i32, direction).into_iter().map(|b| b.name).collect::<Vec<_>>();
    assert_eq!(events(IN), ["MIDI In"]);
    assert_eq!(events(OUT), ["MIDI Out"]);
}

/// Each sidechain alone, in a session that binds only it: heard on the
/// master at its bus's gain when it carries the signal, exact silence when
/// the signal is on any other bus.
#[test]
fn vst3_each_sidechain_arrives_alone_at_its_session_level() {
    let _serial = lock();
    for (session, port, gain) in [(KEY1_ONLY, 1, 0.5), (KEY2_ONLY, 2, 0.25)] {
        let plugin = load_with_session(session);
        let layout = HostLayout::full(&plugin);
        for fed in 0..3 {
            let run = run_guarded(&plugin, &layout, &inputs_with(&[fed], 3), FRAMES, &[], &[]);
            let what = format!("session binding Sidechain {port}, signal on bus {fed}");
            if fed == port {
                assert_close(&run.outputs[0], &scaled(&signal(port, FRAMES), gain), TOLERANCE, &what);
            } else {
                assert_silent(&run.outputs[0], &what);
            }
        }
    }
}

/// Every bus active and passed: stem n is bus slot n (post-fader), the
/// master is the plain sum of the three buses, the five empty slots write
/// silence.
#[test]
fn vst3_stems_equal_their_buses_and_sum_to_the_master() {
    let _serial = lock();
    let plugin = load_with_session(THREE_PORTS_TO_STEMS);
    let run = run_guarded(&plugin, &HostLayout::full(&plugin), &inputs_with(&[0, 1, 2], 3), FRAMES, &[], &[]);
    assert_close(&run.outputs[0], &three_ports_mix(&[0, 1, 2], FRAMES), TOLERANCE, "master");
    for stem in 1..=8 {
        let what = format!("stem {stem}");
        match STEM_OF_PORT.iter().position(|&s| s == stem) {
            Some(port) => assert_close(&run.outputs[stem], &scaled(&signal(port, FRAMES), STEM_GAINS[port]), TOLERANCE, &what),
            None => assert_silent(&run.outputs[stem], &what),
        }
    }
    assert_close(&run.outputs[0], &sum(&run.outputs[1..], FRAMES), TOLERANCE, "master vs the sum of the stems");
}

/// Inactive aux buses, buses the host does not pass and buses without
/// channel memory: their inputs read as silence, their outputs are not
/// written, the main output is what the session makes of the rest.
#[test]
fn vst3_inactive_missing_or_memoryless_buses_are_silence_and_left_alone() {
    let _serial = lock();
    let plugin = load_with_session(THREE_PORTS_TO_STEMS);
    let full = HostLayout::full(&plugin);
    let aux_inactive = HostLayout { active_inputs: vec![true, false, false], active_outputs: [true].into_iter().chain([false; 8]).collect(), ..full.clone() };
    let main_only = three_ports_mix(&[0], FRAMES);
    let everything = three_ports_mix(&[0, 1, 2], FRAMES);

    // Aux buses inactive and only the main buses passed (numInputs = 1,
    // numOutputs = 1).
    let layout = HostLayout { inputs: vec![Pass::Stereo], outputs: vec![Pass::Stereo], ..aux_inactive.clone() };
    let run = run_guarded(&plugin, &layout, &inputs_with(&[0], 1), FRAMES, &[], &[]);
    assert_close(&run.outputs[0], &main_only, TOLERANCE, "aux inactive, numInputs = numOutputs = 1");

    // Aux buses inactive but passed with buffers (as some hosts do), the
    // sidechains carrying signal: inactive means silent and untouched.
    let run = run_guarded(&plugin, &aux_inactive, &inputs_with(&[0, 1, 2], 3), FRAMES, &[], &[]);
    assert_close(&run.outputs[0], &main_only, TOLERANCE, "inactive sidechains with signal in their buffers");
    for stem in 1..=8 {
        assert!(run.outputs[stem].iter().flatten().all(|&s| s == UNWRITTEN), "inactive stem {stem} was written");
    }

    // Everything active, but the host passes only the main input and
    // Sidechain 1 (numInputs = 2) and the main output (numOutputs = 1).
    let layout = HostLayout { inputs: vec![Pass::Stereo; 2], outputs: vec![Pass::Stereo], ..full.clone() };
    let run = run_guarded(&plugin, &layout, &inputs_with(&[0, 1], 2), FRAMES, &[], &[]);
    assert_close(&run.outputs[0], &three_ports_mix(&[0, 1], FRAMES), TOLERANCE, "numInputs = 2, numOutputs = 1, all active");

    // Stem buses active and passed, but with no channel memory: a null
    // channel array, or null channel pointers.
    for pass in [Pass::NullArray, Pass::NullChannels] {
        let layout = HostLayout { outputs: [Pass::Stereo].into_iter().chain([pass; 8]).collect(), ..full.clone() };
        let run = run_guarded(&plugin, &layout, &inputs_with(&[0, 1, 2], 3), FRAMES, &[], &[]);
        assert_close(&run.outputs[0], &everything, TOLERANCE, &format!("stems active, passed as {pass:?}"));
    }
    // Stem buses active, sidechain buses inactive, a null array on one
    // sidechain and the signal on it never heard.
    let layout = HostLayout { active_inputs: vec![true, true, false], inputs: vec![Pass::Stereo, Pass::NullArray, Pass::Stereo], ..full.clone() };
    let run = run_guarded(&plugin, &layout, &inputs_with(&[0, 1, 2], 3), FRAMES, &[], &[]);
    assert_close(&run.outputs[0], &main_only, TOLERANCE, "Sidechain 1 without memory, Sidechain 2 inactive");
}

/// Every output bus the plugin writes leaves the call with `silenceFlags`
/// 0: a set bit tells the host that channel is all zeros, and a host may
/// skip such a bus (the host here puts all ones in before each call, as
/// stale flags). The buses it does not write — inactive (Bus 8), or passed
/// without channel memory (Bus 7) — keep what the host put there.
#[test]
fn vst3_written_output_buses_have_their_silence_flags_cleared() {
    let _serial = lock();
    let plugin = load_with_session(THREE_PORTS_TO_STEMS);
    let mut layout = HostLayout::full(&plugin);
    layout.outputs[7] = Pass::NullArray;
    layout.active_outputs[8] = false;
    let run = run_guarded(&plugin, &layout, &inputs_with(&[0, 1, 2], 3), FRAMES, &[], &[]);
    assert_eq!(run.silence_flags.len(), FRAMES / BLOCK);
    for (block, flags) in run.silence_flags.iter().enumerate() {
        let mut expected = vec![0u64; 9];
        expected[7] = UNWRITTEN_FLAGS;
        expected[8] = UNWRITTEN_FLAGS;
        assert_eq!(*flags, expected, "silenceFlags of Output, Bus 1..8 after block {block}");
    }
    assert!(run.outputs[8].iter().flatten().all(|&s| s == UNWRITTEN), "the inactive Bus 8 was written");
}

/// Restart flags asking the host to re-read the latency.
fn latency_restarts(log: &RestartLog) -> Vec<i32> {
    log.requests().into_iter().filter(|f| f & RestartFlags_::kLatencyChanged as i32 != 0).collect()
}

/// Lets the plugin's UI-thread work run, as a host's run loop would: the
/// spec wants `restartComponent` on the UI thread, so the plugin sends it
/// from a run-loop timer.
fn settle(plugin: &Vst3) {
    for _ in 0..10 {
        pump_ui(plugin);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A host installs its component handler, activates and processes: no
/// `restartComponent` with `kLatencyChanged`, since the latency the host
/// reads after activation is already the right one. (The next test shows
/// this host does receive one when the latency does change.)
#[test]
fn vst3_first_activation_requests_no_latency_restart() {
    let _serial = lock();
    // A fresh instance of the default session (latency 2288 at 48 kHz).
    let plugin = load();
    let log = watch_restarts(&plugin);
    let layout = HostLayout::full(&plugin);
    run_guarded_with(&plugin, &layout, &inputs_with(&[0, 1, 2], layout.inputs.len()), FRAMES, &[], &[], &mut |_| pump_ui(&plugin));
    settle(&plugin);
    assert_eq!(latency_restarts(&log), Vec::<i32>::new(), "restartComponent flags after the first activation: {:?}", log.requests());
    // SAFETY: valid processor.
    assert_eq!(unsafe { plugin.processor.getLatencySamples() }, 2048 + 240, "ducker + limiter");

    // A project reload: the state is loaded before the first activation.
    let saved = save_state(&plugin);
    drop(plugin);
    let reloaded = load();
    let log = watch_restarts(&reloaded);
    load_state(&reloaded, &saved);
    settle(&reloaded);
    run_guarded_with(&reloaded, &layout, &inputs_with(&[0, 1, 2], layout.inputs.len()), FRAMES, &[], &[], &mut |_| pump_ui(&reloaded));
    settle(&reloaded);
    assert_eq!(latency_restarts(&log), Vec::<i32>::new(), "after a state load and the first activation: {:?}", log.requests());
}

/// The counterpart: a state restored while the plugin processes changes
/// the latency (a 1024-point ducker: 1024 + 240 instead of 2288), and the
/// host is asked to restart for it, through its run loop.
#[test]
fn vst3_a_latency_change_while_active_requests_a_restart() {
    let _serial = lock();
    let other = DEFAULT_SESSION.replace(r#""depthDb": 9,"#, r#""depthDb": 9, "fftSize": 1024,"#);
    assert_ne!(other, DEFAULT_SESSION);
    let state = save_state(&load_with_session(&other));
    let plugin = load();
    let log = watch_restarts(&plugin);
    let layout = HostLayout::full(&plugin);
    // 100 blocks, 5 ms apart, the UI thread's loop turning between them;
    // the state arrives after the third (the control thread compiles it
    // meanwhile — milliseconds, with half a second of slack for a loaded
    // machine — and the audio thread takes it between blocks).
    let frames = 100 * BLOCK;
    let inputs: Vec<[Vec<f32>; 2]> = (0..layout.inputs.len()).map(|p| if p == 0 { signal(0, frames) } else { silent(frames) }).collect();
    run_guarded_with(&plugin, &layout, &inputs, frames, &[], &[], &mut |block| {
        if block == 2 {
            load_state(&plugin, &state);
        }
        std::thread::sleep(Duration::from_millis(5));
        pump_ui(&plugin);
    });
    settle(&plugin);
    assert!(!latency_restarts(&log).is_empty(), "kLatencyChanged asked for; restartComponent calls: {:?}", log.requests());
    // SAFETY: valid processor.
    assert_eq!(unsafe { plugin.processor.getLatencySamples() }, 1024 + 240, "the restored session's latency");
}

/// A host that read the latency before activating (the spec allows it) and
/// then restores, still inactive, a state whose session has another
/// latency (a 1024-point ducker: 1024 + 240 instead of 2288) must hear of
/// it: the activation asks for `kLatencyChanged`, through the run loop,
/// before any process call. The control: the same host without the state
/// hears nothing.
#[test]
fn vst3_an_activation_at_another_latency_than_the_host_read_requests_a_restart() {
    let _serial = lock();
    let other = DEFAULT_SESSION.replace(r#""depthDb": 9,"#, r#""depthDb": 9, "fftSize": 1024,"#);
    assert_ne!(other, DEFAULT_SESSION);
    let state = save_state(&load_with_session(&other));
    for restore in [false, true] {
        let plugin = load();
        let log = watch_restarts(&plugin);
        // SAFETY: valid processor.
        assert_eq!(unsafe { plugin.processor.getLatencySamples() }, 2048 + 240, "the estimate before activation");
        if restore {
            load_state(&plugin, &state);
        }
        settle(&plugin);
        assert_eq!(latency_restarts(&log), Vec::<i32>::new(), "nothing before activation (restore: {restore})");
        // Activation alone, no process call: only the activation can have
        // found the change.
        // SAFETY: valid component and processor, inactive.
        unsafe { activate(&plugin) };
        settle(&plugin);
        // SAFETY: valid processor.
        let latency = unsafe { plugin.processor.getLatencySamples() };
        // SAFETY: valid component, active.
        assert_eq!(unsafe { plugin.component.setActive(0) }, kResultOk);
        if restore {
            assert_eq!(latency, 1024 + 240, "the restored session's latency");
            assert!(!latency_restarts(&log).is_empty(), "kLatencyChanged asked for; restartComponent calls: {:?}", log.requests());
        } else {
            assert_eq!(latency, 2048 + 240);
            assert_eq!(latency_restarts(&log), Vec::<i32>::new(), "restartComponent calls: {:?}", log.requests());
        }
    }
}

/// A note-on at sample 200 of a 512-frame block leaves as a note-on at
/// sample 200 with the same channel, pitch and velocity; controller 7 moved
/// to 64 at sample 200 through the parameter `IMidiMapping` names leaves as
/// a `kLegacyMIDICCOutEvent` at sample 200.
#[test]
fn vst3_notes_and_controllers_pass_through_on_their_sample() {
    let _serial = lock();
    let plugin = load();
    let volume = midi_controller_param(&plugin, 0, 7).expect("IMidiMapping maps CC 7 on channel 1");
    let layout = HostLayout::full(&plugin);
    let run = run_guarded(&plugin, &layout, &inputs_with(&[], layout.inputs.len()), BLOCK, &[(200, volume, 64.0 / 127.0)], &[note_on(200, 0, 60, 100.0 / 127.0)]);
    let mut described: Vec<String> = run
        .events
        .iter()
        .map(|e| {
            // SAFETY: each arm reads the union member its type names.
            let body = unsafe {
                match e.r#type as u32 {
                    t if t == EventTypes_::kNoteOnEvent as u32 => {
                        let n = e.__field0.noteOn;
                        format!("note-on ch {} pitch {} velocity {}", n.channel, n.pitch, (n.velocity * 127.0).round())
                    }
                    t if t == EventTypes_::kLegacyMIDICCOutEvent as u32 => {
                        let c = e.__field0.midiCCOut;
                        format!("cc {} ch {} value {} value2 {}", c.controlNumber, c.channel, c.value, c.value2)
                    }
                    t => format!("event type {t}"),
                }
            };
            format!("bus {} @{}: {body}", e.busIndex, e.sampleOffset)
        })
        .collect();
    // The two come from different host queues; their order on one sample is free.
    described.sort();
    assert_eq!(described, ["bus 0 @200: cc 7 ch 0 value 64 value2 0", "bus 0 @200: note-on ch 0 pitch 60 velocity 100"]);
}

/// The unit (`ParameterInfo::unitId`) of the parameter titled `title`.
fn unit_of(plugin: &Vst3, title: &str) -> i32 {
    // SAFETY: valid controller; ParameterInfo is plain data the call fills in.
    unsafe {
        (0..plugin.controller.getParameterCount())
            .map(|i| {
                let mut info: ParameterInfo = std::mem::zeroed();
                assert_eq!(plugin.controller.getParameterInfo(i, &mut info), kResultOk);
                info
            })
            .find(|info| utf16(&info.title) == title)
            .unwrap_or_else(|| panic!("no parameter {title}"))
            .unitId
    }
}

fn utf16(text: &[u16]) -> String {
    let len = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    String::from_utf16_lossy(&text[..len])
}

/// The parameter list is grouped as the parameters' groups are: a root
/// unit, then one unit per bus slot and per ducker slot (and one for the
/// hidden MIDI controller parameters), each a child of the root with a
/// distinct id; "Bus 3 Gain" sits in "Bus 3", "Ducker 2 Mix" in "Ducker 2",
/// "Master Gain" in the root.
#[test]
fn vst3_parameters_are_grouped_in_one_unit_per_bus_and_ducker_slot() {
    let _serial = lock();
    let plugin = load();
    let units = plugin.controller.cast::<IUnitInfo>().expect("IUnitInfo");
    // SAFETY: valid IUnitInfo; UnitInfo is plain data the call fills in.
    let listed: Vec<(i32, i32, String)> = unsafe {
        (0..units.getUnitCount())
            .map(|i| {
                let mut info: UnitInfo = std::mem::zeroed();
                assert_eq!(units.getUnitInfo(i, &mut info), kResultOk, "getUnitInfo({i})");
                (info.id, info.parentUnitId, utf16(&info.name))
            })
            .collect()
    };
    let mut expected = vec![(kRootUnitId, kNoParentUnitId, "Root".to_string())];
    let children = (1..=16).map(|n| format!("Bus {n}")).chain((1..=4).map(|n| format!("Ducker {n}"))).chain(["MIDI CC".to_string()]);
    expected.extend(children.enumerate().map(|(i, name)| (i as i32 + 1, kRootUnitId, name)));
    assert_eq!(listed, expected);
    let id_of = |name: &str| listed.iter().find(|u| u.2 == name).unwrap().0;
    assert_eq!(unit_of(&plugin, "Bus 3 Gain"), id_of("Bus 3"));
    assert_eq!(unit_of(&plugin, "Bus 16 Solo"), id_of("Bus 16"));
    assert_eq!(unit_of(&plugin, "Ducker 2 Mix"), id_of("Ducker 2"));
    assert_eq!(unit_of(&plugin, "Master Gain"), kRootUnitId);
    assert_eq!(unit_of(&plugin, "MIDI Ch. 1 CC 7"), id_of("MIDI CC"));
}
