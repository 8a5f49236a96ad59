//! Helpers shared by the engine tests.

use mam_core::render::{render, RackAudio, RenderOptions};
use mam_core::session::{load_str, Session};

/// Loads a session that must be valid.
pub fn session(json: &str) -> Session {
    match load_str(json) {
        Ok(loaded) => loaded.session,
        Err(e) => panic!("test session invalid:\n{e}"),
    }
}

/// Stereo audio with the same signal on both channels.
pub fn both(signal: Vec<f32>) -> Vec<Vec<f32>> {
    vec![signal.clone(), signal]
}

pub fn impulse(frames: usize, at: usize) -> Vec<f32> {
    let mut v = vec![0.0; frames];
    v[at] = 1.0;
    v
}

pub fn dc(frames: usize, value: f32) -> Vec<f32> {
    vec![value; frames]
}

/// Renders `frames` frames untrimmed in blocks of `block`, inputs bound by rack id.
pub fn run(session: &Session, inputs: &[(&str, Vec<Vec<f32>>)], frames: usize, block: usize) -> Vec<Vec<f32>> {
    run_full(session, inputs, frames, block, false).0
}

/// Like [`run`], also returning the stems and the reported latency.
#[allow(clippy::type_complexity)]
pub fn run_full(
    session: &Session,
    inputs: &[(&str, Vec<Vec<f32>>)],
    frames: usize,
    block: usize,
    trim: bool,
) -> (Vec<Vec<f32>>, Vec<(String, Vec<Vec<f32>>)>, usize) {
    let inputs: Vec<RackAudio> = inputs.iter().map(|(id, ch)| RackAudio { rack_id: id.to_string(), channels: ch.clone() }).collect();
    let options = RenderOptions { block, frames, trim_latency: trim, stems: true, controls: Default::default(), timeline: None };
    let r = render(session, &inputs, &options, &mut |_, _| {}).expect("session compiles");
    (r.master, r.stems, r.info.latency)
}

pub fn stem<'a>(stems: &'a [(String, Vec<Vec<f32>>)], id: &str) -> &'a [Vec<f32>] {
    &stems.iter().find(|(s, _)| s == id).unwrap_or_else(|| panic!("no stem {id}")).1
}

/// Indices of samples whose magnitude exceeds `threshold`.
pub fn peaks(signal: &[f32], threshold: f32) -> Vec<usize> {
    signal.iter().enumerate().filter(|(_, s)| s.abs() > threshold).map(|(i, _)| i).collect()
}

/// Asserts two values agree within `tol`, naming what is compared.
#[track_caller]
pub fn close(got: f32, want: f32, tol: f32, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want} (±{tol})");
}

/// Mean band power (see `mam_core::analysis::band_power`).
pub fn band_power(signal: &[f32], sample_rate: f32, lo_hz: f32, hi_hz: f32) -> f64 {
    mam_core::analysis::band_power(signal, sample_rate, lo_hz, hi_hz).expect("signal longer than one analysis frame")
}

pub use mam_core::analysis::ratio_db;

/// Deterministic white noise in ±`amp`.
pub fn white(frames: usize, seed: u32, amp: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..frames)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ((x >> 8) as f32 / (1u32 << 23) as f32 - 1.0) * amp
        })
        .collect()
}

pub fn sine(frames: usize, hz: f32, amp: f32, sample_rate: f32) -> Vec<f32> {
    (0..frames).map(|i| amp * (std::f64::consts::TAU * hz as f64 * i as f64 / sample_rate as f64).sin() as f32).collect()
}
