//! Controller moves recorded into the timeline through the CLAP plugin:
//! while `timeline_record` is armed and the transport rolls, every mapped
//! move lands in the stored timeline as the event that replays it (`set`
//! with the mapping's smoothing, `scene` on the sample the quantized recall
//! started, `push`/`pop`, `macro`), and the take plays back from the state
//! with no MIDI bit for bit, at any block size. Not armed, nothing records.
//! A fast fader sweep in small host blocks loses no move, and a second
//! Record pass over a take plays exactly what its take will hold.
//!
//! Host: 120 BPM, 4/4, 48 kHz, rolling from sample 0 (a beat is 24 000
//! samples). The session: the main input through bus `bed` (a low-pass
//! filter) to the master. Mappings:
//!
//! ```text
//!   CC 7  ch 1   → bed.gainDb, −60 … 0 dB, smoothMs 50
//!   note 36 ch 10 → scene 1 "Quiet" (bed −12 dB, instant, quantize beat)
//!   CC 1  ch 1   → macro 1 "Sweep" (bed pan 0 … −0.6, filter 0 … −3000 Hz)
//!   note 37 ch 10 → momentary push of scene 2 "Dark" (filter 500 Hz, morph 200 ms, no quantize)
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mam_tests::clap::*;
use mam_tests::signals::{assert_same, first_difference, tones_over_noise};

const BEAT: usize = BEAT_AT_120_BPM;
const FRAMES: usize = 8 * BEAT;

const SESSION: &str = r#"{ "version": 1, "sampleRate": 48000, "tempo": 120, "timeSignature": [4, 4], "channels": 2,
  "racks": [ { "id": "m", "input": "main" } ],
  "buses": [ { "id": "bed", "route": "master", "inserts": [ { "id": "f", "type": "filter", "params": { "freqHz": 6000 } } ] },
             { "id": "master" } ],
  "routes": [ { "from": "m", "to": "bed" } ],
  "scenes": [ { "name": "Quiet", "transition": "instant", "quantize": "beat", "values": { "bed.gainDb": -12 } },
              { "name": "Dark", "transition": "morph", "morphMs": 200, "quantize": "none", "values": { "bed/f.freqHz": 500 } } ],
  "macros": [ { "name": "Sweep", "targets": [ { "path": "bed.pan", "min": 0, "max": -0.6 },
                                              { "path": "bed/f.freqHz", "min": 0, "max": -3000 } ] } ],
  "mappings": [
    { "input": { "type": "cc", "channel": 1, "cc": 7 }, "transform": { "min": -60, "max": 0, "smoothMs": 50 }, "target": { "path": "bed.gainDb" } },
    { "input": { "type": "note", "channel": 10, "note": 36 }, "target": { "action": "scene", "scene": 1 } },
    { "input": { "type": "cc", "channel": 1, "cc": 1 }, "target": { "macro": 1 } },
    { "input": { "type": "note", "channel": 10, "note": 37 }, "transform": { "mode": "momentary" }, "target": { "action": "push", "scene": 2 } } ] }"#;

/// The performance, MIDI at absolute host samples. Two fader moves share
/// one 512-frame block (150 016 … 150 528); CC 10 is unmapped and passes.
const PERFORMANCE: [(usize, [u8; 3]); 12] = [
    (10_000, [0xB0, 7, 100]),
    (20_000, [0xB0, 1, 64]),
    (30_000, [0x99, 36, 100]),
    (30_500, [0x89, 36, 0]),
    (60_000, [0xB0, 7, 80]),
    (80_000, [0x99, 37, 127]),
    (100_000, [0xB0, 1, 127]),
    (120_000, [0x89, 37, 0]),
    (150_100, [0xB0, 7, 90]),
    (150_400, [0xB0, 7, 95]),
    (160_000, [0xB0, 10, 33]),
    (170_000, [0xB0, 1, 0]),
];

/// Two tones over noise, so gain, pan and the filter all change the output.
fn input() -> [Vec<f32>; 2] {
    tones_over_noise(FRAMES, 11)
}

/// Runs the main input through an activated instance with the rolling
/// transport, `events` (sorted by sample) on their samples, in host blocks
/// of `block` frames; `paced` runs no faster than real time, as a DAW does
/// while recording.
fn perform(loaded: &mut Loaded, main: &[Vec<f32>; 2], events: &[(usize, HostEvent)], block: usize, paced: bool) -> [Vec<f32>; 2] {
    let timing = Timing { max_block: block as u32, next_block: &mut |_| block, transport: &mut rolling_at_120_bpm, paced };
    run_timed(loaded, main, &no_keys(main[0].len()), events, timing)
}

/// A timeline event as the state stores it (`t`, then what it does).
#[derive(Clone, Debug, PartialEq)]
enum Stored {
    Set { t: u64, path: String, value: f64, ramp_ms: Option<f64> },
    Scene { t: u64, scene: u64 },
    Push { t: u64, scene: u64 },
    Pop { t: u64 },
    Macro { t: u64, number: u64, value: f64 },
}

/// The timeline in a saved CLAP state, lane id → events, read from the
/// persisted field's chunk text by the grammar of docs/ARCHITECTURE.md §8.2
/// (`dt,kind,…` per event, `;` between events, paths by index).
fn stored_timeline(state: &[u8]) -> BTreeMap<String, Vec<Stored>> {
    // nice-plug's CLAP state: a little-endian u64 length, then JSON; a
    // persisted field holds its value serialised as JSON.
    let root: serde_json::Value = serde_json::from_slice(&state[8..]).unwrap();
    let field = root["fields"]["timeline"].as_str().expect("the timeline is a persisted field");
    let text: String = serde_json::from_str(field).unwrap_or_else(|_| field.to_string());
    let timeline: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(timeline["format"], "mam-timeline-chunks", "{timeline}");
    assert_eq!(timeline["sampleRate"], 48_000, "{timeline}");
    let paths: Vec<String> = timeline["paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    let mut lanes = BTreeMap::new();
    for lane in timeline["lanes"].as_array().unwrap() {
        let mut events = Vec::new();
        for chunk in lane["chunks"].as_array().unwrap() {
            let mut t = chunk["t"].as_u64().unwrap();
            for event in chunk["e"].as_str().unwrap().split(';') {
                let f: Vec<&str> = event.split(',').collect();
                t += f[0].parse::<u64>().unwrap();
                let number = |i: usize| f[i].parse::<f64>().unwrap_or_else(|_| panic!("{event}: field {i} is not a number"));
                events.push(match f[1] {
                    "s" => Stored::Set { t, path: paths[number(2) as usize].clone(), value: number(3), ramp_ms: f.get(4).map(|_| number(4)) },
                    "c" => Stored::Scene { t, scene: number(2) as u64 },
                    "u" => Stored::Push { t, scene: number(2) as u64 },
                    "o" => Stored::Pop { t },
                    "m" => Stored::Macro { t, number: number(2) as u64, value: number(3) },
                    other => panic!("unexpected event kind {other} in {event}"),
                });
            }
        }
        assert_eq!(events.len() as u64, lane["events"].as_u64().unwrap(), "{lane}");
        lanes.insert(lane["id"].as_str().unwrap().to_string(), events);
    }
    lanes
}

/// The gain CC 7 value `v` sets: −60 + 60·v/127 dB.
fn fader_db(v: u8) -> f64 {
    -60.0 + 60.0 * v as f64 / 127.0
}

/// What [`PERFORMANCE`] must leave in the timeline, worked out by hand:
/// fader moves on their samples with the mapping's 50 ms; the scene pad
/// pressed at 30 000 starts on the next beat, 48 000; the momentary pad
/// pushes on its press and pops on its release (scene 2 is not quantized);
/// macro 1 at v/127. Note offs of the scene pad and the unmapped CC 10
/// record nothing.
fn expected() -> BTreeMap<String, Vec<Stored>> {
    let set = |t: u64, v: u8| Stored::Set { t, path: "bed.gainDb".into(), value: fader_db(v), ramp_ms: Some(50.0) };
    let mac = |t: u64, v: u8| Stored::Macro { t, number: 1, value: v as f64 / 127.0 };
    BTreeMap::from([
        ("bed.gainDb".to_string(), vec![set(10_000, 100), set(60_000, 80), set(150_100, 90), set(150_400, 95)]),
        ("macros".to_string(), vec![mac(20_000, 64), mac(100_000, 127), mac(170_000, 0)]),
        ("scenes".to_string(), vec![Stored::Scene { t: 2 * BEAT as u64, scene: 1 }, Stored::Push { t: 80_000, scene: 2 }, Stored::Pop { t: 120_000 }]),
    ])
}

/// Whether two stored events are the same up to the audio thread's f32
/// arithmetic: a fader value −60 + 60·x (x = v/127 rounded to f32) is off
/// by a few ulps of 60 (≈ 1e-5 dB), a macro value v/127 by one f32 ulp
/// (≈ 6e-8): 1e-4 dB and 1e-6 are far below a different CC step (0.47 dB,
/// 0.008).
fn same(got: &Stored, want: &Stored) -> bool {
    match (got, want) {
        (Stored::Set { t, path, value, ramp_ms }, Stored::Set { t: t2, path: p2, value: v2, ramp_ms: r2 }) => {
            t == t2 && path == p2 && ramp_ms == r2 && (value - v2).abs() < 1e-4
        }
        (Stored::Macro { t, number, value }, Stored::Macro { t: t2, number: n2, value: v2 }) => t == t2 && number == n2 && (value - v2).abs() < 1e-6,
        _ => got == want,
    }
}

fn assert_timeline(got: &BTreeMap<String, Vec<Stored>>, want: &BTreeMap<String, Vec<Stored>>) {
    let ok = got.keys().eq(want.keys()) && got.iter().all(|(lane, events)| events.len() == want[lane].len() && events.iter().zip(&want[lane]).all(|(g, w)| same(g, w)));
    assert!(ok, "stored timeline\n{got:#?}\nexpected\n{want:#?}");
}

/// Plays `midi` live in 512-frame blocks at real time with
/// `timeline_record` at `mode` from the first sample (back to Off on the
/// last, so the state does not arm the next instance), on an instance
/// restored from `state` when given (so it plays that take while
/// recording). Returns the output and the state once the control thread
/// has ended the pass (see [`state_after_pass`]).
fn record(state: Option<&[u8]>, mode: f64, midi: &[(usize, [u8; 3])], settle: Duration, ended: impl Fn(usize) -> bool) -> ([Vec<f32>; 2], Vec<u8>) {
    let mut rec = load_with_session(SESSION);
    if let Some(state) = state {
        load_state(&mut rec, state);
    }
    let arm = param_id(&mut rec, "Timeline Record");
    let mut events: Vec<(usize, HostEvent)> = vec![(0, HostEvent::Param(arm, mode))];
    events.extend(midi.iter().map(|&(at, data)| (at, HostEvent::Midi(data))));
    events.push((FRAMES - 1, HostEvent::Param(arm, 0.0)));
    let out = perform(&mut rec, &input(), &events, BLOCK as usize, true);
    (out, state_after_pass(&mut rec, settle, ended))
}

/// The state saved once `ended(number of stored events)` holds, polled
/// every 20 ms, or after `settle` if it never does: a pass ends on the
/// control thread's next tick (50 ms) after the transport stopped
/// (deactivation).
fn state_after_pass(rec: &mut Loaded, settle: Duration, ended: impl Fn(usize) -> bool) -> Vec<u8> {
    let start = Instant::now();
    let mut state = save_state(rec);
    while start.elapsed() < settle && !ended(stored_timeline(&state).values().map(Vec::len).sum()) {
        std::thread::sleep(Duration::from_millis(20));
        state = save_state(rec);
    }
    state
}

#[test]
fn mapped_moves_recorded_while_armed_are_the_expected_events_and_play_back_bit_for_bit_at_any_block_size() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = expected();
    let num_events = want.values().map(Vec::len).sum();
    let (recorded, state) = record(None, 1.0, &PERFORMANCE, Duration::from_secs(10), |n| n >= num_events);

    // 1. The stored timeline holds exactly the performance's events.
    assert_timeline(&stored_timeline(&state), &want);

    // The performance changes the sound (so the equality below can fail).
    let main = input();
    let mut dry = load_with_session(SESSION);
    let untouched = perform(&mut dry, &main, &[], BLOCK as usize, false);
    drop(dry);
    assert!(first_difference(&untouched, &recorded).is_some(), "the performance changes the output");

    // 2. A fresh instance from the state, the same audio and transport, no
    // MIDI: the live performance, bit for bit.
    let mut play = load_with_session(SESSION);
    load_state(&mut play, &state);
    let played = perform(&mut play, &main, &[], BLOCK as usize, false);
    assert_same("played back from the state", &played, &recorded);
    for block in [64usize, 511, 4096] {
        let out = run_with_transport_max(&mut play, &main, &no_keys(FRAMES), &[], &mut |_| block, &mut rolling_at_120_bpm, block as u32);
        assert_same(&format!("played back in blocks of {block}"), &out, &recorded);
    }
    let out = run_with_transport_max(&mut play, &main, &no_keys(FRAMES), &[], &mut random_blocks(5, 1024), &mut rolling_at_120_bpm, 1024);
    assert_same("played back in random blocks", &out, &recorded);
}

#[test]
fn the_same_performance_not_armed_records_nothing_and_sounds_the_same() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Not armed: the state after ten control ticks holds no event.
    let (live, state) = record(None, 0.0, &PERFORMANCE, Duration::from_millis(500), |n| n >= 1);
    let stored = stored_timeline(&state);
    assert!(stored.is_empty(), "nothing recorded: {stored:#?}");
    // Armed: what is heard while recording is the same performance.
    let num_events: usize = expected().values().map(Vec::len).sum();
    let (recorded, _) = record(None, 1.0, &PERFORMANCE, Duration::from_secs(10), |n| n >= num_events);
    assert_same("recording does not change what is heard", &recorded, &live);
}

/// A fader swept by hand sends a CC every few milliseconds; a live rig runs
/// small host blocks. Here: CC 7 every 192 samples (250 a second, each in
/// its own 64-frame block) for most of a second, recorded at real time.
#[test]
fn a_fast_fader_sweep_in_small_host_blocks_records_every_move_and_plays_back_bit_for_bit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let frames = 2 * BEAT;
    let main = input().map(|c| c[..frames].to_vec());
    let sweep: Vec<(usize, u8)> = (0..230).map(|k| (2_000 + 192 * k, (k % 128) as u8)).collect();
    let mut rec = load_with_session(SESSION);
    let arm = param_id(&mut rec, "Timeline Record");
    let mut events: Vec<(usize, HostEvent)> = vec![(0, HostEvent::Param(arm, 1.0))];
    events.extend(sweep.iter().map(|&(at, v)| (at, HostEvent::Midi([0xB0, 7, v]))));
    events.push((frames - 1, HostEvent::Param(arm, 0.0)));
    let recorded = perform(&mut rec, &main, &events, 64, true);
    let want: Vec<Stored> = sweep.iter().map(|&(t, v)| Stored::Set { t: t as u64, path: "bed.gainDb".into(), value: fader_db(v), ramp_ms: Some(50.0) }).collect();
    let state = state_after_pass(&mut rec, Duration::from_secs(10), |n| n >= want.len());
    drop(rec);
    let stored = stored_timeline(&state);
    let got = stored.get("bed.gainDb").cloned().unwrap_or_default();
    assert_eq!(got.len(), want.len(), "every move recorded ({} of {})", got.len(), want.len());
    assert_timeline(&stored, &BTreeMap::from([("bed.gainDb".to_string(), want)]));
    let mut play = load_with_session(SESSION);
    load_state(&mut play, &state);
    let played = perform(&mut play, &main, &[], 64, false);
    assert_same("the sweep played back from the state", &played, &recorded);
}

/// A second Record pass over a take (parameter mode touch, the default):
/// the fader moved at 40 000 records over its lane from there to 1 s after
/// (88 000), so the first take's move at 60 000 goes — and must not play
/// during the pass either, or the pass heard a move its take does not
/// hold. The pass also pushes scene 2 (a 200 ms morph) just before the
/// move, so the engine takes the new take in the middle of a transition.
#[test]
fn a_second_record_pass_plays_what_it_records_over_no_more_and_plays_back_bit_for_bit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let set = |t: u64, v: u8| Stored::Set { t, path: "bed.gainDb".into(), value: fader_db(v), ramp_ms: Some(50.0) };
    let first = [(10_000, [0xB0, 7, 100]), (60_000, [0xB0, 7, 80]), (150_000, [0xB0, 7, 110])];
    let (_, take1) = record(None, 1.0, &first, Duration::from_secs(10), |n| n == 3);
    assert_timeline(&stored_timeline(&take1), &BTreeMap::from([("bed.gainDb".to_string(), vec![set(10_000, 100), set(60_000, 80), set(150_000, 110)])]));

    let second = [(38_000, [0x99, 37, 127]), (40_000, [0xB0, 7, 20]), (70_000, [0x89, 37, 0])];
    let (heard, take2) = record(Some(&take1), 1.0, &second, Duration::from_secs(10), |n| n == 5);
    assert_timeline(
        &stored_timeline(&take2),
        &BTreeMap::from([
            ("bed.gainDb".to_string(), vec![set(10_000, 100), set(40_000, 20), set(150_000, 110)]),
            ("scenes".to_string(), vec![Stored::Push { t: 38_000, scene: 2 }, Stored::Pop { t: 70_000 }]),
        ]),
    );
    let main = input();
    let mut play = load_with_session(SESSION);
    load_state(&mut play, &take2);
    let played = perform(&mut play, &main, &[], BLOCK as usize, false);
    assert_same("the second take played back from the state", &played, &heard);
}
