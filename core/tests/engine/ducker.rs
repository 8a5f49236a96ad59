//! The spectral ducker (issue: selectivity, transparency, timing, mid/side,
//! latency, block-size invariance, key presence).

use super::support::*;
use mam_core::audio_buf::AudioBuf;
use mam_core::dsp::spectral_ducker::SpectralDucker;
use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::insert::Insert;
use mam_core::session::Session;

const SR: f32 = 48_000.0;

/// ```text
///   music ─▶ [bed: spectral_ducker keyed by `key`] ─▶ master
///   key ───▶ [keybus, muted] ─▶ master      (the key is heard nowhere)
/// ```
fn ducker_session(params: &str, keyed: bool) -> Session {
    let key = if keyed { r#", "sidechain": "key""# } else { "" };
    session(&format!(
        r#"{{ "version": 1, "racks": [ {{ "id": "music" }}, {{ "id": "key" }} ],
        "buses": [ {{ "id": "bed", "inserts": [ {{ "id": "duck", "type": "spectral_ducker", "params": {{ {params} }}{key} }} ] }},
                   {{ "id": "keybus", "mute": true }} ],
        "routes": [ {{ "from": "music", "to": "bed" }}, {{ "from": "key", "to": "keybus" }} ] }}"#
    ))
}

/// The bed stem, trimmed of the reported latency (so it lines up with the input).
fn bed(s: &Session, music: Vec<Vec<f32>>, key: Vec<Vec<f32>>, frames: usize, block: usize) -> Vec<Vec<f32>> {
    let (_, stems, _) = run_full(s, &[("music", music), ("key", key)], frames, block, true);
    stem(&stems, "bed").to_vec()
}

#[test]
fn ducks_only_around_the_key_frequency() {
    // White noise program, 1 kHz key at −12 dBFS, depth 12, threshold −60.
    let frames = SR as usize * 3;
    let s = ducker_session(r#""depthDb": 12, "thresholdDb": -60"#, true);
    let music = vec![white(frames, 1, 0.5), white(frames, 2, 0.5)];
    let key = both(sine(frames, 1000.0, 10f32.powf(-12.0 / 20.0), SR));
    let out = bed(&s, music.clone(), key, frames, 512);
    // Steady state: skip the first second.
    let steady = SR as usize..frames;
    let third = 2f32.powf(1.0 / 6.0);
    for ch in 0..2 {
        let change = |lo: f32, hi: f32| {
            ratio_db(band_power(&out[ch][steady.clone()], SR, lo, hi), band_power(&music[ch][steady.clone()], SR, lo, hi))
        };
        let at_key = change(950.0, 1050.0);
        let low = change(250.0 / third, 250.0 * third);
        let high = change(4000.0 / third, 4000.0 * third);
        assert!(at_key <= -10.0, "channel {ch}: 950–1050 Hz changed by {at_key:.2} dB, wanted ≤ −10");
        assert!(low.abs() < 1.5, "channel {ch}: 250 Hz third-octave changed by {low:.2} dB");
        assert!(high.abs() < 1.5, "channel {ch}: 4 kHz third-octave changed by {high:.2} dB");
    }
}

/// Energy of `a − b` relative to `b`, in dB.
fn error_db(a: &[f32], b: &[f32]) -> f64 {
    let err: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let sig: f64 = b.iter().map(|&y| (y as f64).powi(2)).sum();
    10.0 * (err / sig).log10()
}

#[test]
fn with_no_key_or_a_silent_key_it_is_a_pure_delay() {
    let frames = 30_000;
    let music = vec![white(frames, 3, 0.7), sine(frames, 330.0, 0.5, SR)];
    for (keyed, what) in [(false, "no key"), (true, "silent key")] {
        for fft in [512, 2048, 4096] {
            let overlap = if fft == 2048 { 4 } else { 8 };
            let s = ducker_session(&format!(r#""thresholdDb": -80, "fftSize": {fft}, "overlap": {overlap}"#), keyed);
            let out = bed(&s, music.clone(), both(dc(frames, 0.0)), frames, 256);
            for ch in 0..2 {
                // Trimmed output lines up with the input; skip the first window
                // (the STFT is filling) and compare the rest.
                let e = error_db(&out[ch][fft..], &music[ch][fft..]);
                assert!(e < -100.0, "{what}, fftSize {fft}, channel {ch}: reconstruction error {e:.1} dB");
            }
        }
    }
}

fn engine(s: Session, block: usize) -> (Engine, AudioProcessor) {
    Engine::new(s, CompileOptions { sample_rate: SR, max_block: block, ports: vec![PortBinding::source("music"), PortBinding::source("key")] }).unwrap()
}

/// Runs the session hop by hop and returns the largest reduction (dB) the
/// ducker published after each hop, plus the key-present flag.
fn reduction_per_hop(s: Session, music: &[f32], key: &[f32], hop: usize) -> Vec<(f32, bool)> {
    let (engine, mut audio) = engine(s, hop);
    let display = engine.display("bed", "duck").expect("the ducker publishes a display");
    let mut out = vec![vec![0.0f32; hop]; 2];
    let mut seen = Vec::new();
    for start in (0..music.len() - hop).step_by(hop) {
        let m = &music[start..start + hop];
        let k = &key[start..start + hop];
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
        audio.process(&[&[m, m], &[k, k]], &mut outs, hop);
        let snap = display.read().expect("no writer is running now");
        seen.push((snap.reduction_db.iter().fold(0.0f32, |a, &b| a.max(b)), snap.key_present));
    }
    seen
}

#[test]
fn attack_and_release_take_their_set_times() {
    let hop = 512; // fftSize 2048, overlap 4
    let hop_ms = hop as f32 * 1000.0 / SR;
    for (attack_ms, release_ms) in [(50.0f32, 200.0f32), (20.0, 500.0)] {
        let s = ducker_session(&format!(r#""depthDb": 12, "thresholdDb": -60, "attackMs": {attack_ms}, "releaseMs": {release_ms}"#), true);
        let frames = SR as usize * 3;
        let music = white(frames, 9, 0.3);
        let (on, off) = (SR as usize / 2, SR as usize * 3 / 2);
        let key: Vec<f32> = sine(frames, 1000.0, 0.25, SR).iter().enumerate().map(|(i, &x)| if (on..off).contains(&i) { x } else { 0.0 }).collect();
        let trace = reduction_per_hop(s, &music, &key, hop);
        let depth = trace.iter().map(|t| t.0).fold(0.0, f32::max);
        assert!((depth - 12.0).abs() < 0.01, "settles at the full depth, got {depth}");
        // Attack: from the first hop that sees the key to 90 % of the depth.
        let start = trace.iter().position(|t| t.0 > 0.0).unwrap();
        let reached = trace.iter().position(|t| t.0 >= 0.9 * depth).unwrap();
        let attack = (reached - start + 1) as f32 * hop_ms;
        assert!((attack - attack_ms).abs() <= hop_ms, "attack {attack_ms} ms took {attack:.1} ms");
        // Release: from the first hop the reduction falls to where 90 % has been recovered.
        let held = trace.iter().rposition(|t| t.0 >= 0.999 * depth).unwrap();
        let recovered = held + trace[held..].iter().position(|t| t.0 <= 0.1 * depth).unwrap();
        let release = (recovered - held) as f32 * hop_ms;
        assert!((release - release_ms).abs() <= hop_ms, "release {release_ms} ms took {release:.1} ms");
        // The key flag follows the key (with the window's length of smear).
        assert!(!trace[0].1 && trace[on / hop + 2].1 && !trace[trace.len() - 1].1, "key-present flag");
    }
}

#[test]
fn a_silent_key_reads_as_absent_and_reduces_nothing() {
    let s = ducker_session(r#""thresholdDb": -80"#, true);
    let frames = 20_000;
    let trace = reduction_per_hop(s, &white(frames, 4, 0.5), &vec![0.0; frames], 512);
    assert!(trace.iter().all(|&(r, present)| r == 0.0 && !present));
}

#[test]
fn mid_side_mode_ducks_only_the_side_when_the_key_is_only_in_the_side() {
    let frames = SR as usize * 3;
    let s = ducker_session(r#""depthDb": 12, "thresholdDb": -60, "mode": "mid_side", "stereoLink": 1"#, true);
    let music = vec![white(frames, 5, 0.5), white(frames, 6, 0.5)];
    let side_key = sine(frames, 1000.0, 0.25, SR);
    let key = vec![side_key.clone(), side_key.iter().map(|x| -x).collect()];
    let out = bed(&s, music.clone(), key, frames, 333);
    let mid = |a: &[Vec<f32>]| a[0].iter().zip(&a[1]).map(|(l, r)| 0.5 * (l + r)).collect::<Vec<f32>>();
    let side = |a: &[Vec<f32>]| a[0].iter().zip(&a[1]).map(|(l, r)| 0.5 * (l - r)).collect::<Vec<f32>>();
    let steady = SR as usize..frames;
    let change = |o: Vec<f32>, i: Vec<f32>| {
        ratio_db(band_power(&o[steady.clone()], SR, 950.0, 1050.0), band_power(&i[steady.clone()], SR, 950.0, 1050.0))
    };
    let side_change = change(side(&out), side(&music));
    let mid_change = change(mid(&out), mid(&music));
    assert!(side_change <= -10.0, "side at 1 kHz changed by {side_change:.2} dB");
    assert!(mid_change.abs() < 0.5, "mid at 1 kHz changed by {mid_change:.2} dB");
}

/// ```text
///   music ─▶ [bed: ducker] ─▶ master
///   music ─▶ [dry] ─────────▶ master
/// ```
#[test]
fn reported_latency_is_measured_latency_and_a_parallel_dry_path_lines_up() {
    for fft in [512usize, 1024, 2048, 4096] {
        let s = session(&format!(
            r#"{{ "version": 1, "racks": [ {{ "id": "music" }} ],
            "buses": [ {{ "id": "bed", "inserts": [ {{ "id": "duck", "type": "spectral_ducker", "params": {{ "fftSize": {fft} }} }} ] }},
                       {{ "id": "dry" }} ],
            "routes": [ {{ "from": "music", "to": "bed" }}, {{ "from": "music", "to": "dry" }} ] }}"#
        ));
        let frames = 3 * fft + 1000;
        let (out, stems, latency) = run_full(&s, &[("music", both(impulse(frames, 100)))], frames, 64, false);
        assert_eq!(latency, fft, "reported latency");
        // The ducker's own output: its biggest sample is the impulse, fft samples late.
        let bed = &stem(&stems, "bed")[0];
        let loudest = bed.iter().enumerate().fold((0, 0.0f32), |m, (i, s)| if s.abs() > m.1 { (i, s.abs()) } else { m });
        assert_eq!(loudest.0, 100 + fft, "measured latency");
        close(loudest.1, 1.0, 1e-5, "impulse height");
        // Dry path and ducked path meet on the same sample.
        let master_peak = out[0].iter().enumerate().fold((0, 0.0f32), |m, (i, s)| if s.abs() > m.1 { (i, s.abs()) } else { m });
        assert_eq!(master_peak.0, 100 + fft);
        close(master_peak.1, 2.0, 1e-5, "both paths add");
    }
}

#[test]
fn ducker_output_is_bit_identical_across_block_sizes() {
    let frames = 20_000;
    let s = ducker_session(r#""depthDb": 18, "thresholdDb": -50, "overlap": 8, "fftSize": 1024, "mix": 0.7, "timingTilt": 0.5"#, true);
    let music = vec![white(frames, 7, 0.5), sine(frames, 700.0, 0.3, SR)];
    let key: Vec<f32> = sine(frames, 800.0, 0.3, SR).iter().enumerate().map(|(i, &x)| if (i / 4000) % 2 == 1 { x } else { 0.0 }).collect();
    let reference = bed(&s, music.clone(), both(key.clone()), frames, 4096);
    assert!(reference[0].iter().any(|x| x.abs() > 0.01));
    for block in [1, 64, 511] {
        assert!(bed(&s, music.clone(), both(key.clone()), frames, block) == reference, "block {block} differs");
    }
}

#[test]
fn works_on_a_mono_bus_too() {
    let frames = SR as usize * 2;
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "music" }, { "id": "key" } ],
        "buses": [ { "id": "bed", "channels": 1, "inserts": [ { "id": "duck", "type": "spectral_ducker", "sidechain": "key",
                     "params": { "depthDb": 12, "thresholdDb": -60, "stereoLink": 1 } } ] },
                   { "id": "keybus", "mute": true } ],
        "routes": [ { "from": "music", "to": "bed" }, { "from": "key", "to": "keybus" } ] }"#,
    );
    let music = white(frames, 8, 0.5);
    let out = bed(&s, vec![music.clone()], vec![sine(frames, 1000.0, 0.25, SR)], frames, 256);
    // The mono bus pans to both sides at −3 dB; compare the left side.
    let left: Vec<f32> = out[0].iter().map(|x| x * std::f32::consts::SQRT_2).collect();
    let steady = SR as usize..frames;
    let at_key = ratio_db(band_power(&left[steady.clone()], SR, 950.0, 1050.0), band_power(&music[steady.clone()], SR, 950.0, 1050.0));
    let away = ratio_db(band_power(&left[steady.clone()], SR, 3000.0, 5000.0), band_power(&music[steady], SR, 3000.0, 5000.0));
    assert!(at_key <= -10.0, "mono bus at 1 kHz: {at_key:.2} dB");
    assert!(away.abs() < 0.5, "mono bus at 4 kHz: {away:.2} dB");
}

/// Parameter index of the ducker's `id`.
fn ducker_param(id: &str) -> usize {
    mam_core::insert::registry::lookup("spectral_ducker").unwrap().param_index(id).unwrap()
}

/// Runs `ducker` over `music`/`key` (stereo, same signal both sides) from
/// frame `start` in 64-frame blocks, applying each `(frame, param, value)`
/// of `changes` before the block that starts at that frame.
fn run_ducker(ducker: &mut SpectralDucker, music: &[f32], key: &[f32], start: usize, frames: usize, changes: &[(usize, &str, f32)]) -> Vec<f32> {
    let block = 64;
    let mut out = Vec::with_capacity(frames * 2);
    for at in (start..start + frames).step_by(block) {
        for &(_, id, value) in changes.iter().filter(|c| c.0 == at) {
            ducker.set_param(ducker_param(id), value);
        }
        let (mut audio, mut k) = (AudioBuf::new(2, block), AudioBuf::new(2, block));
        for ch in 0..2 {
            audio.channel_mut(ch).copy_from_slice(&music[at..at + block]);
            k.channel_mut(ch).copy_from_slice(&key[at..at + block]);
        }
        ducker.process(&mut audio, Some(&k), block);
        out.extend_from_slice(audio.channel(0));
        out.extend_from_slice(audio.channel(1));
    }
    out
}

/// Runs `changes` through a running ducker (hop 512 frames, 64-frame
/// blocks) for two seconds, then `reset`, which clears only the running
/// state (rings and envelopes), so from there the output depends on
/// parameters and tables alone; a fresh ducker given the final values in
/// `prepare` must then give exactly the same next second. Tolerance: none,
/// the same float operations run on both paths.
fn assert_changes_end_like_a_fresh_ducker(changes: &[(usize, &str, f32)]) {
    assert!(changes.iter().all(|c| c.0 % 64 == 0), "changes land on block starts");
    let (before, after) = (96_000, 48_000);
    let frames = before + after;
    let music = white(frames, 21, 0.4);
    // A 300 Hz + 2 kHz key, on for 0.5 s of every second (so both attack
    // and release tables are used), and on through the compared second.
    let (low, high) = (sine(frames, 300.0, 0.3, SR), sine(frames, 2000.0, 0.2, SR));
    let key: Vec<f32> = (0..frames).map(|i| if i >= before || (i / 24_000) % 2 == 0 { low[i] + high[i] } else { 0.0 }).collect();

    let ty = mam_core::insert::registry::lookup("spectral_ducker").unwrap();
    let mut final_values: Vec<f32> = ty.params.iter().map(|p| p.default_value()).collect();
    for &(_, id, value) in changes {
        final_values[ducker_param(id)] = value;
    }
    let mut running = SpectralDucker::new();
    running.prepare(SR, 64, 2);
    run_ducker(&mut running, &music, &key, 0, before, changes);
    running.reset();
    let mut fresh = SpectralDucker::new();
    for (i, &v) in final_values.iter().enumerate() {
        fresh.set_param(i, v);
    }
    fresh.prepare(SR, 64, 2);
    let got = run_ducker(&mut running, &music, &key, before, after, &[]);
    let want = run_ducker(&mut fresh, &music, &key, before, after, &[]);
    assert!(want.iter().any(|&s| s != 0.0));
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!("sample {i} (block-interleaved): {} after changes vs {} fresh", got[i], want[i]);
    }
}

/// The ducker's cheap parameter path (scalars stored at once, each stale
/// per-bin table rebuilt once at the next hop) ends exactly where the full
/// path (every value set, then `prepare`) starts. The script changes every
/// parameter but the latency ones at least twice, several inside one hop
/// (hop = 512 frames); its last changes come after the last hop (95 744),
/// so they are still pending when the comparison starts. Two endings,
/// because a table rebuilt for one change hides another change's missing
/// rebuild: one ends with the times after the tilt, the other with the
/// tilt alone after the times.
#[test]
fn parameters_changed_while_running_give_what_a_fresh_ducker_gives() {
    let body = [
        (0, "depthDb", 18.0),
        (64, "attackMs", 40.0),
        (64, "releaseMs", 400.0),
        (128, "timingTilt", 0.7),
        (128, "attackMs", 3.0),
        (512, "smoothing", 0.9),
        (704, "thresholdDb", -55.0),
        (704, "ratio", 8.0),
        (1024, "lowHz", 200.0),
        (1088, "highHz", 6000.0),
        (1536, "stereoLink", 0.9),
        (1536, "mix", 0.7),
        (2048, "mode", 1.0),
        (3008, "timingTilt", -0.4),
        (3008, "releaseMs", 90.0),
        (3072, "smoothing", 0.2),
        (20_032, "mode", 0.0),
        (30_016, "ratio", 3.0),
        (30_016, "thresholdDb", -48.0),
        (30_080, "lowHz", 90.0),
        (30_080, "highHz", 9000.0),
        (30_144, "stereoLink", 0.3),
    ];
    let times_last = [(60_032, "timingTilt", 0.25), (95_808, "attackMs", 12.0), (95_872, "releaseMs", 220.0), (95_872, "smoothing", 0.6), (95_936, "depthDb", 9.0), (95_936, "mix", 0.85)];
    let tilt_last = [(60_032, "attackMs", 12.0), (60_096, "releaseMs", 220.0), (95_808, "timingTilt", 0.25), (95_936, "ratio", 5.0)];
    for ending in [&times_last[..], &tilt_last[..]] {
        let changes: Vec<(usize, &str, f32)> = body.iter().chain(ending).copied().collect();
        assert_changes_end_like_a_fresh_ducker(&changes);
    }
}
