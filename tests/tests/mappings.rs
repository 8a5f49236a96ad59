//! Controller mappings through the built bundles (issue: controllers play
//! the mix): a CC at sample 200 moves its mapped bus gain from sample 200
//! with its smoothing, a pad recalls a scene, a momentary pad pushes and
//! pops, and the controller hears back what moved elsewhere but never its
//! own move — in CLAP (MIDI on the note port) and VST3 (CC through
//! `IMidiMapping`, notes on the event bus). Run against the
//! allocation-checking bundles too, so mapping and feedback never allocate.

use mam_tests::clap::{self, OutEvent};
use mam_tests::vst3;
use ::vst3::Steinberg::Vst::Event_::EventTypes_;
use ::vst3::Steinberg::Vst::Event;

/// Main input → bus "a" → master. CC 7 (channel 1) is a's fader from −60
/// to 0 dB with 20 ms smoothing; note 36 (channel 10) recalls scene 1 (a at
/// −6 dB); note 37 (channel 10) holds scene 1 while pressed.
const SESSION: &str = r#"{ "version": 1, "sampleRate": 48000, "channels": 2, "panLaw": "balance",
    "racks": [ { "id": "m", "input": "main" } ],
    "buses": [ { "id": "a", "route": "master" }, { "id": "master" } ],
    "routes": [ { "from": "m", "to": "a" } ],
    "scenes": [ { "name": "down", "values": { "a.gainDb": -6 } } ],
    "mappings": [
      { "input": { "type": "cc", "channel": 1, "cc": 7 }, "transform": { "min": -60, "max": 0, "smoothMs": 20 }, "target": { "path": "a.gainDb" } },
      { "input": { "type": "note", "channel": 10, "note": 36 }, "target": { "action": "scene", "scene": 1 } },
      { "input": { "type": "note", "channel": 10, "note": 37 }, "transform": { "mode": "momentary" }, "target": { "action": "push", "scene": 1 } } ] }"#;

const BLOCK: usize = 512;
/// The fader's smoothing (20 ms) plus the strip's 10 ms declick, in samples.
const SETTLE: usize = 960 + 480;

/// A constant stereo input (0.5, 0.25): the output over the input is the gain.
fn input(frames: usize) -> [Vec<f32>; 2] {
    [vec![0.5; frames], vec![0.25; frames]]
}

fn db(gain: f64) -> f64 {
    20.0 * gain.log10()
}

/// The gain the fader lands on for CC value `v`: −60 + 60·v/127 dB.
fn fader_db(v: u8) -> f64 {
    -60.0 + 60.0 * v as f64 / 127.0
}

fn clap_run(midi: &[(u32, [u8; 3])], frames: usize) -> clap::GuardedRun {
    let _serial = clap::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut loaded = clap::load_with_session(SESSION);
    clap::run_guarded(&mut loaded, &[input(frames)], 1, frames, midi)
}

fn midi_out(run: &clap::GuardedRun) -> Vec<(u32, [u8; 3])> {
    run.events
        .iter()
        .filter_map(|e| match *e {
            OutEvent::Midi(t, _, data) => Some((t, data)),
            OutEvent::ParamValue(..) | OutEvent::Other(..) => None,
        })
        .collect()
}

#[test]
fn clap_a_cc_at_sample_200_moves_the_mapped_fader_from_sample_200_with_its_smoothing() {
    let frames = 8 * BLOCK;
    let reference = clap_run(&[], frames);
    let moved = clap_run(&[(BLOCK as u32 + 200, [0xB0, 7, 64])], frames);
    let (r, m) = (&reference.outputs[0], &moved.outputs[0]);
    let first = (0..frames).find(|&i| r[0][i] != m[0][i]);
    assert_eq!(first, Some(BLOCK + 200), "the fader starts moving on the message's sample");
    // Smoothed: 32 samples in, the level has moved only part of the way.
    let early = db(m[0][BLOCK + 232] as f64 / 0.5);
    assert!(early > -3.0 && early < 0.0, "{early} dB 32 samples after the move: gliding, not jumping");
    // Settled: −60 + 60·64/127 = −29.76 dB on both channels.
    let at = BLOCK + 200 + SETTLE + 64;
    for (c, level) in [(0, 0.5), (1, 0.25)] {
        let got = db(m[c][at] as f64 / level);
        assert!((got - fader_db(64)).abs() < 1e-3, "channel {c}: {got} dB, expected {} dB", fader_db(64));
    }
}

#[test]
fn clap_a_pad_recalls_its_scene_and_the_controller_hears_what_moved_but_not_its_own_move() {
    let frames = 8 * BLOCK;
    let cc_at = BLOCK as u32 + 200;
    let pad_at = 2 * BLOCK as u32 + 100;
    let run = clap_run(&[(cc_at, [0xB0, 7, 64]), (pad_at, [0x99, 36, 100])], frames);
    let out = midi_out(&run);
    let last = BLOCK as u32 - 1;
    // First block: the controller learns the state: fader at 0 dB = CC 127,
    // both pads dark (scene 1 not current).
    let first: Vec<_> = out.iter().filter(|(t, _)| *t <= last).copied().collect();
    assert_eq!(first, [(last, [0xB0, 7, 127]), (last, [0x89, 36, 0]), (last, [0x89, 37, 0])]);
    // The controller's own move comes back as nothing, and is not passed through.
    assert!(out.iter().all(|(t, _)| !(BLOCK as u32..2 * BLOCK as u32).contains(t)), "no echo: {out:?}");
    // The pad's recall: its LED lights at the end of the block it landed in,
    // and the fader follows the scene to −6 dB: (−6 + 60)/60·127 = 114.3 → 114.
    assert!(out.contains(&(3 * BLOCK as u32 - 1, [0x99, 36, 127])), "{out:?}");
    let last_cc = out.iter().rev().find(|(_, d)| d[0] == 0xB0 && d[1] == 7).map(|(_, d)| d[2]);
    assert_eq!(last_cc, Some(114));
    // And the mix is at −6 dB.
    let got = db(run.outputs[0][0][frames - 1] as f64 / 0.5);
    assert!((got + 6.0).abs() < 1e-3, "{got} dB");
}

#[test]
fn clap_a_momentary_pad_pushes_while_held_and_pops_back_exactly() {
    let frames = 12 * BLOCK;
    let (press, release) = (1000u32, 3000u32);
    let run = clap_run(&[(press, [0x99, 37, 127]), (release, [0x89, 37, 0])], frames);
    let out = &run.outputs[0];
    let held = db(out[0][2900] as f64 / 0.5);
    assert!((held + 6.0).abs() < 1e-3, "held: {held} dB");
    // Popped back to exactly the mix before the push, bit for bit, once the
    // pop's 10 ms transition and the strip's 10 ms ramp have run (960 samples).
    let reference = clap_run(&[], frames);
    let after = release as usize + 960;
    for c in 0..2 {
        assert_eq!(out[c][after..], reference.outputs[0][c][after..], "channel {c} back to the prior mix exactly");
        assert_ne!(out[c][..after], reference.outputs[0][c][..after], "the push did move it");
    }
    let leds = midi_out(&run);
    assert!(leds.contains(&(1023, [0x99, 37, 127])), "the held pad lights: {leds:?}");
    assert!(leds.contains(&(3071, [0x89, 37, 0])), "and goes dark on release: {leds:?}");
}

/// The VST3 test session, `frames` of the constant input, CC 7 at `cc`
/// through the parameter `IMidiMapping` names, notes on event bus 0.
fn vst3_run(cc: Option<(usize, u8)>, notes: &[Event], frames: usize) -> vst3::Vst3Run {
    let _serial = vst3::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let plugin = vst3::load_with_session(SESSION);
    let layout = vst3::HostLayout::full(&plugin);
    let mut inputs = vec![input(frames)];
    inputs.resize_with(layout.inputs.len(), || [vec![0.0; frames], vec![0.0; frames]]);
    let changes: Vec<vst3::Change> = match cc {
        Some((at, value)) => {
            let param = vst3::midi_controller_param(&plugin, 0, 7).expect("IMidiMapping maps CC 7 on channel 1");
            vec![(at, param, value as f64 / 127.0)]
        }
        None => Vec::new(),
    };
    vst3::run_guarded(&plugin, &layout, &inputs, frames, &changes, notes)
}

/// `(frame, controller, value)` of every CC the plugin sent.
fn vst3_ccs(run: &vst3::Vst3Run) -> Vec<(i32, i16, i8)> {
    run.events
        .iter()
        .filter(|e| e.r#type as u32 == EventTypes_::kLegacyMIDICCOutEvent as u32)
        // SAFETY: the event's type names the union member.
        .map(|e| unsafe { (e.sampleOffset, e.__field0.midiCCOut.controlNumber as i16, e.__field0.midiCCOut.value) })
        .collect()
}

#[test]
fn vst3_a_cc_through_imidimapping_moves_the_fader_from_its_sample_and_is_not_echoed() {
    let frames = 8 * BLOCK;
    let reference = vst3_run(None, &[], frames);
    let moved = vst3_run(Some((BLOCK + 200, 64)), &[], frames);
    let (r, m) = (&reference.outputs[0], &moved.outputs[0]);
    assert_eq!((0..frames).find(|&i| r[0][i] != m[0][i]), Some(BLOCK + 200));
    let got = db(m[0][BLOCK + 200 + SETTLE + 64] as f64 / 0.5);
    assert!((got - fader_db(64)).abs() < 1e-3, "{got} dB");
    // Only the first block's state goes out: the move itself is not sent back.
    assert_eq!(vst3_ccs(&moved), [(BLOCK as i32 - 1, 7, 127)]);
}

#[test]
fn vst3_a_pad_recalls_its_scene_and_the_fader_follows_on_the_controller() {
    let frames = 8 * BLOCK;
    let pad = vst3::note_on(2 * BLOCK as i32 + 100, 9, 36, 100.0 / 127.0);
    let run = vst3_run(None, &[pad], frames);
    let ccs = vst3_ccs(&run);
    assert_eq!(ccs.first(), Some(&(BLOCK as i32 - 1, 7, 127)));
    assert_eq!(ccs.last().map(|c| c.2), Some(114), "the fader follows the recall to −6 dB: {ccs:?}");
    let got = db(run.outputs[0][0][frames - 1] as f64 / 0.5);
    assert!((got + 6.0).abs() < 1e-3, "{got} dB");
}

/// A pad mapped to `record` arms the timeline recorder inside the plugin
/// and tells the host: a `CLAP_EVENT_PARAM_VALUE` for `timeline_record`
/// (plain 1 = Record) at the end of the block it was pressed in, then 0
/// (Off) at the end of the block of the second press — so a host never
/// sends its stale value back and disarms the recorder mid-take.
#[test]
fn clap_a_record_pad_arms_the_recorder_and_tells_the_host() {
    let session = SESSION.replace(
        r#""target": { "action": "push", "scene": 1 } } ]"#,
        r#""target": { "action": "push", "scene": 1 } },
      { "input": { "type": "note", "channel": 10, "note": 40 }, "target": { "action": "record" } } ]"#,
    );
    assert_ne!(session, SESSION, "the record pad is in the session");
    let _serial = clap::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut loaded = clap::load_with_session(&session);
    let record = clap::param_id(&mut loaded, "Timeline Record");
    let frames = 4 * BLOCK;
    let run = clap::run_guarded(&mut loaded, &[input(frames)], 1, frames, &[(100, [0x99, 40, 100]), (300, [0x89, 40, 0]), (1100, [0x99, 40, 100]), (1300, [0x89, 40, 0])]);
    let params: Vec<(u32, u32, f64)> = run.events.iter().filter_map(|e| if let OutEvent::ParamValue(t, id, v) = *e { Some((t, id, v)) } else { None }).collect();
    let id: u32 = record.into();
    assert_eq!(params, [(BLOCK as u32 - 1, id, 1.0), (3 * BLOCK as u32 - 1, id, 0.0)]);
}
