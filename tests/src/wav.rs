//! 32-bit float WAV files for the tests that compare `mam render` with the
//! plugin: the inputs they write for it and the renders they read back.
//!
//! Not a module of the harness library: hound is a dev-dependency of this
//! package, so each test that needs it includes this file by path
//! (`#[path = "../src/wav.rs"] mod wav;`).

use std::path::Path;

/// Writes `channels` (`[channel][frame]`, all as long as the first) as a
/// 32-bit float WAV at the harness's rate.
pub fn write(path: &Path, channels: &[impl AsRef<[f32]>]) {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: crate::clap::RATE as u32,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..channels[0].as_ref().len() {
        for c in channels {
            w.write_sample(c.as_ref()[i]).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// A 32-bit float WAV's samples, `[channel][frame]`.
pub fn read(path: &Path) -> Vec<Vec<f32>> {
    let mut r = hound::WavReader::open(path).unwrap();
    let channels = r.spec().channels as usize;
    let samples: Vec<f32> = r.samples::<f32>().map(Result::unwrap).collect();
    (0..channels).map(|c| samples.iter().skip(c).step_by(channels).copied().collect()).collect()
}
