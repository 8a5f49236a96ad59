//! A session made for the plugin renders the same offline: `mam render --in` with WAV files equals the CLAP plugin fed those files on its ports, bit for bit.

use std::path::Path;
use std::process::Command;

use mam_tests::clap::*;

use mam_tests::wav;

/// Two sources share the main input (the plugin gives both the same port;
/// the CLI binds the same file to each), the voice on Sidechain 1 keys a
/// compressor and the spectral ducker on the bed, drums on Sidechain 2.
///
/// ```text
///   music  (main) ───────▶ [bed: compressor ◀ voice, ducker ◀ voice] ─▶ [master: limiter]
///   shimmer (main) ──────▶ [verb: reverb] ─────────────────────────────▶ [master]
///   voice (sidechain1) ──▶ [vox] ──────────────────────────────────────▶ [master]
///   drums (sidechain2) ──▶ [kit] ──────────────────────────────────────▶ [master]
/// ```
const SESSION: &str = r#"{ "version": 1, "sampleRate": 48000, "channels": 2,
  "racks": [ { "id": "music", "input": "main" }, { "id": "shimmer", "input": "main", "gainDb": -12 },
             { "id": "voice", "input": "sidechain1" }, { "id": "drums", "input": "sidechain2", "gainDb": -3 } ],
  "buses": [
    { "id": "bed", "inserts": [
        { "id": "comp", "type": "compressor", "sidechain": "voice", "params": { "thresholdDb": -30, "ratio": 4 } },
        { "id": "duck", "type": "spectral_ducker", "sidechain": "voice", "params": { "depthDb": 12, "thresholdDb": -50 } } ] },
    { "id": "verb", "inserts": [ { "id": "room", "type": "reverb" } ] },
    { "id": "vox" }, { "id": "kit", "pan": 0.3 },
    { "id": "master", "inserts": [ { "id": "lim", "type": "limiter", "params": { "ceilingDb": -1 } } ] } ],
  "routes": [ { "from": "music", "to": "bed" }, { "from": "shimmer", "to": "verb" },
              { "from": "voice", "to": "vox" }, { "from": "drums", "to": "kit" } ] }"#;

/// xorshift32 white noise in [-amp, amp).
fn noise(frames: usize, amp: f32, mut seed: u32) -> Vec<f32> {
    (0..frames)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            amp * ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
        })
        .collect()
}

#[test]
fn mam_render_of_a_plugin_session_equals_the_clap_plugin_fed_the_same_files() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let frames = 96_000;
    let t = |i: usize| i as f32 / RATE as f32;
    // Music: a chord over noise, different in each channel.
    let music: [Vec<f32>; 2] = [0, 1].map(|c| {
        let hiss = noise(frames, 0.05, 11 + c);
        (0..frames).map(|i| 0.2 * (std::f32::consts::TAU * 220.0 * (1.0 + 0.01 * c as f32) * t(i)).sin() + 0.15 * (std::f32::consts::TAU * 330.0 * t(i)).sin() + hiss[i]).collect()
    });
    // Voice: a buzzy 180 Hz tone that sounds for 0.4 s and rests for 0.3 s.
    let voice: Vec<f32> = (0..frames)
        .map(|i| if (i / 4_800) % 7 < 4 { (1..8).map(|h| 0.08 / h as f32 * (std::f32::consts::TAU * 180.0 * h as f32 * t(i)).sin()).sum() } else { 0.0 })
        .collect();
    // Drums: decaying noise hits four times a second.
    let hits = noise(frames, 0.8, 99);
    let drums: Vec<f32> = (0..frames).map(|i| hits[i] * (-((i % 12_000) as f32) / 600.0).exp()).collect();

    let dir = std::env::temp_dir().join(format!("mam-cli-vs-clap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (main_wav, side1_wav, side2_wav) = (dir.join("main.wav"), dir.join("side1.wav"), dir.join("side2.wav"));
    wav::write(&main_wav, &[&music[0], &music[1]]);
    wav::write(&side1_wav, &[&voice, &voice]);
    wav::write(&side2_wav, &[&drums, &drums]);
    let session = dir.join("session.json");
    std::fs::write(&session, SESSION).unwrap();

    let out = dir.join("cli.wav");
    let bind = |id: &str, wav: &Path| format!("{id}={}", wav.display());
    let r = Command::new(mam_tests::mam_binary())
        .arg("render")
        .arg(&session)
        .args(["--in", &bind("music", &main_wav), "--in", &bind("shimmer", &main_wav)])
        .args(["--in", &bind("voice", &side1_wav), "--in", &bind("drums", &side2_wav)])
        .args(["--no-latency-trim", "--block", "512", "--out"])
        .arg(&out)
        .output()
        .expect("mam runs");
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "every source is fed: {stderr}");
    let cli = wav::read(&out);

    let mut plugin = load_with_session(SESSION);
    let host = run_sliced(&mut plugin, &music, &[voice.clone(), voice, drums.clone(), drums], &[], &mut random_blocks(2024, BLOCK));

    assert_eq!(cli.len(), 2);
    assert_eq!(cli[0].len(), frames, "untrimmed: as long as the inputs");
    let rms = (cli[0].iter().map(|s| s * s).sum::<f32>() / frames as f32).sqrt();
    assert!(rms > 0.05, "the render is not silent (rms {rms})");
    for ch in 0..2 {
        if let Some(i) = (0..frames).find(|&i| cli[ch][i].to_bits() != host[ch][i].to_bits()) {
            panic!("channel {ch} first differs at frame {i}: mam render {} vs CLAP {}", cli[ch][i], host[ch][i]);
        }
    }
}
