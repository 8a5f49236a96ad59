//! A controller performance renders offline bit for bit: the same MIDI
//! messages as a .mid file through `mam render --midi` give the output of
//! the CLAP plugin receiving them on its note port at the same samples.

use std::path::Path;
use std::process::Command;

use mam_tests::clap::*;

use mam_tests::wav;

/// Every kind of mapping the renderer and the plugin must play alike:
///
/// ```text
///   music (main) ─▶ [bed: compressor] ─▶ [master: limiter]
///                      └─ send −12 dB ─▶ [verb: reverb] ─▶ [master]
/// ```
/// - CC 7 → bed level (−30 … +6 dB, 20 ms smoothing); CC 16 → bed pan (a
///   two's-complement encoder); pitch bend → macro 1 (verb level, exp
///   curve); channel pressure → the reverb's mix;
/// - note 36 (ch 10) → scene 1 (a 50 ms morph), note 37 → push scene 2
///   while held (momentary), note 38 → verb mute (toggle).
///
/// Scenes have no quantize: the harness's host sends no transport, the
/// renderer plays a rolling one, and both start an unquantized recall on
/// its sample.
const SESSION: &str = r#"{ "version": 1, "sampleRate": 48000, "channels": 2,
  "racks": [ { "id": "music", "input": "main" } ],
  "buses": [
    { "id": "bed", "inserts": [ { "id": "comp", "type": "compressor", "params": { "thresholdDb": -24, "ratio": 3 } } ],
      "sends": [ { "to": "verb", "levelDb": -12 } ] },
    { "id": "verb", "inserts": [ { "id": "room", "type": "reverb" } ] },
    { "id": "master", "inserts": [ { "id": "lim", "type": "limiter", "params": { "ceilingDb": -1 } } ] } ],
  "routes": [ { "from": "music", "to": "bed" } ],
  "scenes": [ { "name": "Low", "transition": "morph", "morphMs": 50, "values": { "bed.gainDb": -9, "verb.gainDb": -3 } },
              { "name": "Wide", "transition": "instant", "values": { "bed.pan": 0.6 } } ],
  "macros": [ { "name": "Space", "targets": [ { "path": "verb.gainDb", "min": -12, "max": 0 } ] } ],
  "mappings": [
    { "input": { "type": "cc", "channel": 1, "cc": 7 }, "transform": { "min": -30, "max": 6, "smoothMs": 20 }, "target": { "path": "bed.gainDb" } },
    { "input": { "type": "cc", "channel": 1, "cc": 16 }, "transform": { "mode": "relative", "encoding": "twos" }, "target": { "path": "bed.pan" } },
    { "input": { "type": "pitchbend", "channel": 1 }, "transform": { "curve": "exp" }, "target": { "macro": 1 } },
    { "input": { "type": "pressure", "channel": 1 }, "target": { "path": "verb/room.mix" } },
    { "input": { "type": "note", "channel": 10, "note": 36 }, "target": { "action": "scene", "scene": 1 } },
    { "input": { "type": "note", "channel": 10, "note": 37 }, "transform": { "mode": "momentary" }, "target": { "action": "push", "scene": 2 } },
    { "input": { "type": "note", "channel": 10, "note": 38 }, "target": { "action": "mute", "bus": "verb" } } ] }"#;

const FRAMES: usize = 96_000;

/// The performance, `(sample, message)` in order: messages inside blocks,
/// on block edges (512, 4096), two on one sample, on neighbouring ticks
/// (9000/9001, 47 998/48 000), a move mid-smoothing, a
/// pad held across blocks, and unmapped messages (a program change, CC 1)
/// that must change nothing.
const PERFORMANCE: &[(u32, [u8; 3])] = &[
    (0, [0xb0, 7, 100]),
    (200, [0xb0, 7, 40]),
    (512, [0xb0, 16, 3]),
    (777, [0xe0, 0x00, 0x30]),
    (777, [0xd0, 90, 0]),
    (1500, [0xb0, 7, 110]),
    (1800, [0xb0, 16, 125]),
    (4096, [0x99, 36, 100]),
    (4300, [0x89, 36, 0]),
    (9000, [0xc0, 5, 0]),
    (9001, [0xb0, 1, 64]),
    (12_345, [0x99, 37, 127]),
    (20_000, [0xe0, 0x7f, 0x7f]),
    (30_000, [0x89, 37, 64]),
    (33_334, [0x99, 38, 90]),
    (40_000, [0x99, 38, 0]),
    (47_998, [0xb0, 7, 0]),
    (48_000, [0xb0, 7, 127]),
    (60_000, [0x99, 38, 10]),
    (71_112, [0xd0, 3, 0]),
    (80_000, [0xb0, 16, 64]),
];

/// Ticks per quarter of the file, and its tempo map: 10 000 µs a quarter
/// (480 ticks = 10 ms = 480 samples: a tick is a sample) up to tick
/// [`SLOW_FROM`], then 20 000 µs (a tick is two samples).
const TICKS_PER_QUARTER: u16 = 480;
const SLOW_FROM: u32 = 24_000;

/// The tick a sample falls on under that tempo map (every sample past
/// [`SLOW_FROM`] in the performance is an even distance from it).
fn tick_of(sample: u32) -> u32 {
    if sample <= SLOW_FROM {
        sample
    } else {
        assert_eq!((sample - SLOW_FROM) % 2, 0, "sample {sample} is no whole tick");
        SLOW_FROM + (sample - SLOW_FROM) / 2
    }
}

/// A format 0 Standard MIDI File of `messages`, written byte by byte.
fn smf(messages: &[(u32, [u8; 3])]) -> Vec<u8> {
    fn varlen(mut x: u32, out: &mut Vec<u8>) {
        let mut bytes = vec![(x & 0x7f) as u8];
        x >>= 7;
        while x > 0 {
            bytes.push((x & 0x7f) as u8 | 0x80);
            x >>= 7;
        }
        out.extend(bytes.iter().rev());
    }
    let tempo = |us: u32| [0xff, 0x51, 0x03, (us >> 16) as u8, (us >> 8) as u8, us as u8];
    let mut track = Vec::new();
    let mut events: Vec<(u32, Vec<u8>)> = vec![(0, tempo(10_000).to_vec()), (SLOW_FROM, tempo(20_000).to_vec())];
    for &(sample, data) in messages {
        // Program change and channel pressure carry one data byte.
        let len = if matches!(data[0] & 0xf0, 0xc0 | 0xd0) { 2 } else { 3 };
        events.push((tick_of(sample), data[..len].to_vec()));
    }
    // Stable: the tempo change sorts before a message on its tick.
    events.sort_by_key(|(tick, _)| *tick);
    let mut at = 0;
    for (tick, bytes) in events {
        varlen(tick - at, &mut track);
        at = tick;
        track.extend(bytes);
    }
    track.extend([0x00, 0xff, 0x2f, 0x00]);
    let mut file = b"MThd".to_vec();
    file.extend(6u32.to_be_bytes());
    file.extend(0u16.to_be_bytes()); // format 0
    file.extend(1u16.to_be_bytes()); // one track
    file.extend(TICKS_PER_QUARTER.to_be_bytes());
    file.extend(b"MTrk");
    file.extend((track.len() as u32).to_be_bytes());
    file.extend(track);
    file
}

/// Music: two detuned tones over a slow tremolo, different in each channel.
fn music() -> [Vec<f32>; 2] {
    [0, 1].map(|c| {
        (0..FRAMES)
            .map(|i| {
                let t = i as f32 / RATE as f32;
                let tremolo = 0.6 + 0.4 * (std::f32::consts::TAU * 3.0 * t).sin();
                // Phases off zero, so the first sample already sounds.
                tremolo * (0.3 * (std::f32::consts::TAU * (220.0 + 3.0 * c as f32) * t + 0.7).sin() + 0.1 * (std::f32::consts::TAU * 1320.0 * t + 0.2).sin())
            })
            .collect()
    })
}

/// The first `(channel, frame)` where `a` and `b` differ in any bit, from `from` on.
fn first_difference(a: &[Vec<f32>], b: &[Vec<f32>], from: usize) -> Option<(usize, usize)> {
    (from..a[0].len().min(b[0].len())).find_map(|i| (0..2).find(|&c| a[c][i].to_bits() != b[c][i].to_bits()).map(|c| (c, i)))
}

#[test]
fn a_midi_file_through_mam_render_equals_the_clap_plugin_receiving_the_same_events() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let main = music();
    let dir = std::env::temp_dir().join(format!("mam-midi-render-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (session, main_wav, mid) = (dir.join("session.json"), dir.join("main.wav"), dir.join("performance.mid"));
    std::fs::write(&session, SESSION).unwrap();
    wav::write(&main_wav, &main);
    std::fs::write(&mid, smf(PERFORMANCE)).unwrap();

    // The plugin: 512-frame blocks, the messages on note port 0 at their
    // samples, the main input only.
    let mut plugin = load_with_session(SESSION);
    let host = run_guarded(&mut plugin, std::slice::from_ref(&main), 1, FRAMES, PERFORMANCE).outputs.swap_remove(0);
    let unmoved = run_guarded(&mut plugin, std::slice::from_ref(&main), 1, FRAMES, &[]).outputs.swap_remove(0);

    // `mam render` in process calls of the same size, untrimmed (the
    // plugin's output carries its latency too).
    let render = |out: &Path, extra: &[&str]| {
        let r = Command::new(mam_tests::mam_binary())
            .arg("render")
            .arg(&session)
            .args(["--in", &format!("music={}", main_wav.display()), "--midi", mid.to_str().unwrap(), "--block", "512", "--out"])
            .arg(out)
            .args(extra)
            .output()
            .expect("mam runs");
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.success(), "{stderr}");
        assert!(!stderr.contains("warning"), "{stderr}");
        wav::read(out)
    };
    let cli = render(&dir.join("untrimmed.wav"), &["--no-latency-trim"]);

    assert_eq!(cli[0].len(), FRAMES);
    if let Some((c, i)) = first_difference(&cli, &host, 0) {
        panic!("channel {c} first differs at frame {i}: mam render {} vs CLAP {}", cli[c][i], host[c][i]);
    }
    // The performance moved the mix, from the first output sample its
    // first message can reach: CC 7 = 100 at sample 0 takes bed from 0 dB
    // towards −30 + 36·100/127 = −1.65 dB from that sample, heard through
    // the limiter's lookahead (the music is under its ceiling, so the
    // limiter only delays).
    let latency = session_latency(&session);
    assert!(latency > 0, "the limiter's lookahead makes the trim below mean something");
    assert_eq!(first_difference(&host, &unmoved, 0).map(|(_, i)| i), Some(latency), "the first changed sample is the event's plus the latency");

    // Trimmed (the default), the render is the plugin's output less its
    // latency: engine frame 0 is still MIDI time 0.
    let trimmed = render(&dir.join("trimmed.wav"), &[]);
    let host_aligned: Vec<Vec<f32>> = host.iter().map(|c| c[latency..].to_vec()).collect();
    if let Some((c, i)) = first_difference(&trimmed, &host_aligned, 0) {
        panic!("trimmed: channel {c} first differs at frame {i}: mam render {} vs CLAP {}", trimmed[c][i], host_aligned[c][i]);
    }
}

/// The session's latency as `mam info --json` reports it.
fn session_latency(session: &Path) -> usize {
    let r = Command::new(mam_tests::mam_binary()).arg("info").arg(session).arg("--json").output().expect("mam runs");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let info: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    info["latencySamples"].as_u64().expect("latencySamples") as usize
}
