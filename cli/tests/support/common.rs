//! Helpers the `mam` end-to-end tests share: running the binary, scratch folders, WAV files, noise.
//!
//! Included with `#[path]` by each test file (a folder under `tests/` is not
//! a test target of its own).

#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn mam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mam")).args(args).output().expect("mam runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Path of a session in the repository's `examples/`.
pub fn example(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch folder for one test (the process id keeps test binaries apart).
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mam-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A float WAV's format and samples, `[channel][frame]`.
pub fn read_wav(path: &Path) -> (hound::WavSpec, Vec<Vec<f32>>) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let samples: Vec<f32> = r.samples::<f32>().map(Result::unwrap).collect();
    let ch = spec.channels as usize;
    (spec, (0..ch).map(|c| samples.iter().skip(c).step_by(ch).copied().collect()).collect())
}

/// Writes `channels` (`[channel][frame]`) as a 32-bit float WAV.
pub fn write_wav(path: &Path, rate: u32, channels: &[Vec<f32>]) {
    let spec = hound::WavSpec { channels: channels.len() as u16, sample_rate: rate, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..channels[0].len() {
        for c in channels {
            w.write_sample(c[i]).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// Deterministic xorshift32 white noise in [-amp, amp).
pub fn noise(frames: usize, amp: f32, mut seed: u32) -> Vec<f32> {
    (0..frames)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            amp * ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
        })
        .collect()
}
