//! CPU cost of one stereo spectral ducker with a stereo key, against the bare
//! FFTs it must do, and of the zero-latency `filterbank` algorithm at 40 and
//! 64 bands: `cargo run --release -p mam_core --example ducker_cost`.
//! Prints numbers; asserts nothing (timings are not tests).

use std::time::Instant;

use mam_core::audio_buf::AudioBuf;
use mam_core::dsp::spectral_ducker::SpectralDucker;
use mam_core::insert::{registry, Insert};
use realfft::RealFftPlanner;

const SR: f32 = 48_000.0;
const SECONDS: usize = 20;
const FFT: usize = 2048;
const HOP: usize = FFT / 4;

fn ducker() -> SpectralDucker {
    ducker_with(&[])
}

fn ducker_with(params: &[(&str, f32)]) -> SpectralDucker {
    let mut d = SpectralDucker::new();
    let ty = registry::lookup("spectral_ducker").unwrap();
    d.set_param(ty.param_index("thresholdDb").unwrap(), -60.0);
    for &(id, v) in params {
        d.set_param(ty.param_index(id).unwrap(), v);
    }
    d.prepare(SR, 4096, 2);
    d
}

/// Deterministic white noise in ±`amp`, both channels different.
fn noise(frames: usize, amp: f32, seed: u32) -> AudioBuf {
    let mut buf = AudioBuf::new(2, frames);
    let mut x = seed | 1;
    for ch in 0..2 {
        for s in buf.channel_mut(ch).iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *s = ((x >> 8) as f32 / (1u32 << 23) as f32 - 1.0) * amp;
        }
    }
    buf
}

/// Realtime factor of `d` over `SECONDS` of `program` keyed by `key`
/// (both one block long, repeated) in blocks of `block`.
fn realtime_factor(mut d: SpectralDucker, program: &AudioBuf, key: &AudioBuf, block: usize) -> f64 {
    let mut audio = program.clone();
    let blocks = SECONDS * SR as usize / block;
    let t = Instant::now();
    for _ in 0..blocks {
        audio.clone_from(program);
        d.process(&mut audio, Some(key), block);
    }
    SECONDS as f64 / t.elapsed().as_secs_f64()
}

/// As [`realtime_factor`], with `lowHz` moving every block (a morph or
/// automation sweeping it 20 → 200 Hz and back once a second).
fn realtime_factor_moving_low_hz(mut d: SpectralDucker, program: &AudioBuf, key: &AudioBuf, block: usize) -> f64 {
    let low_hz = registry::lookup("spectral_ducker").unwrap().param_index("lowHz").unwrap();
    let mut audio = program.clone();
    let blocks = SECONDS * SR as usize / block;
    let t = Instant::now();
    for b in 0..blocks {
        let phase = (b * block) as f32 / SR;
        d.set_param(low_hz, 110.0 - 90.0 * (std::f32::consts::TAU * phase).cos());
        audio.clone_from(program);
        d.process(&mut audio, Some(key), block);
    }
    SECONDS as f64 / t.elapsed().as_secs_f64()
}

fn signal(frames: usize, hz: f32) -> AudioBuf {
    let mut buf = AudioBuf::new(2, frames);
    for ch in 0..2 {
        for (i, s) in buf.channel_mut(ch).iter_mut().enumerate() {
            *s = 0.3 * (i as f32 * hz * std::f32::consts::TAU / SR + ch as f32).sin() + 0.01 * ((i * 7919 % 101) as f32 / 101.0 - 0.5);
        }
    }
    buf
}

/// Seconds to run `SECONDS` of audio through the ducker in blocks of `block`,
/// and the per-block times.
fn run_ducker(block: usize) -> (f64, Vec<f64>) {
    let mut d = ducker();
    let key = signal(block, 1000.0);
    let program = signal(block, 440.0);
    let mut audio = program.clone();
    let blocks = SECONDS * SR as usize / block;
    let mut times = Vec::with_capacity(blocks);
    let total = Instant::now();
    for _ in 0..blocks {
        audio.clone_from(&program);
        let t = Instant::now();
        d.process(&mut audio, Some(&key), block);
        times.push(t.elapsed().as_secs_f64());
    }
    (total.elapsed().as_secs_f64(), times)
}

/// Seconds for the FFTs alone: per hop and channel, key and program forward
/// plus one inverse.
fn fft_floor() -> f64 {
    let mut planner = RealFftPlanner::<f32>::new();
    let forward = planner.plan_fft_forward(FFT);
    let inverse = planner.plan_fft_inverse(FFT);
    let mut frame = forward.make_input_vec();
    let mut spectrum = forward.make_output_vec();
    let mut scratch = forward.make_scratch_vec();
    let mut inv_scratch = inverse.make_scratch_vec();
    for (i, s) in frame.iter_mut().enumerate() {
        *s = (i as f32 * 0.1).sin();
    }
    let hops = SECONDS * SR as usize / HOP;
    let t = Instant::now();
    for _ in 0..hops {
        for _channel in 0..2 {
            forward.process_with_scratch(&mut frame, &mut spectrum, &mut scratch).unwrap();
            forward.process_with_scratch(&mut frame, &mut spectrum, &mut scratch).unwrap();
            spectrum[0].im = 0.0;
            spectrum[FFT / 2].im = 0.0;
            inverse.process_with_scratch(&mut spectrum, &mut frame, &mut inv_scratch).unwrap();
        }
    }
    t.elapsed().as_secs_f64()
}

/// Rounds of the ducker-against-floor measurement; each figure is the
/// fastest round, so a round the scheduler interrupted (a shared machine)
/// does not count.
const ROUNDS: usize = 5;

fn main() {
    let (mut floor, mut total) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        floor = floor.min(fft_floor());
        total = total.min(run_ducker(512).0);
    }
    let (_, mut times64) = run_ducker(64);
    times64.sort_by(f64::total_cmp);
    let audio = SECONDS as f64;
    println!("stereo spectral ducker, stereo key, {SR} Hz, fftSize {FFT}, overlap 4, {SECONDS} s of audio");
    println!("  fastest of {ROUNDS} rounds each:");
    println!("  ducker (512-frame blocks): {:.3} s → realtime factor {:.0} ({:.3} % of one core)", total, audio / total, 100.0 * total / audio);
    println!("  FFT floor (6 FFTs per hop): {:.3} s → realtime factor {:.0}", floor, audio / floor);
    println!("  ducker / floor: {:.2}×", total / floor);
    if mam_core::simd::wide() {
        // The ducker's own work at the baseline width (RustFFT picks its
        // own instructions either way), as with MAM_SIMD=baseline.
        mam_core::simd::allow_wide(false);
        let mut baseline = f64::INFINITY;
        for _ in 0..ROUNDS {
            baseline = baseline.min(run_ducker(512).0);
        }
        mam_core::simd::allow_wide(true);
        println!("  ducker / floor with the baseline (SSE2) ducker: {:.2}×", baseline / floor);
    }
    let pct = |p: f64| times64[((times64.len() - 1) as f64 * p) as usize] * 1e6;
    println!("  64-frame blocks: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs (budget at 48 kHz: {:.0} µs)", pct(0.5), pct(0.99), pct(1.0), 64.0 / SR as f64 * 1e6);
    if std::env::args().any(|a| a == "--stft-only") {
        // For profiling the STFT path alone.
        return;
    }

    // The key repeats one 64-frame block: a 1 kHz tone (a whole number of
    // periods would not matter; the bank sees a steady key either way) or
    // white noise at −10 dBFS, which keys every band (the worst case: every
    // bell runs). The program is the same sine-plus-noise either way.
    let block = 64;
    let program = signal(block, 440.0);
    let (tone, broadband) = (signal(block, 1000.0), noise(block, 0.3, 7));
    println!("realtime factor at {block}-frame blocks, stereo program, stereo key:");
    println!("  stft (fftSize {FFT}, latency {FFT}): {:.0}×", realtime_factor(ducker(), &program, &tone, block));
    for bands in [40.0, 64.0] {
        let fb = || ducker_with(&[("algorithm", 1.0), ("bands", bands)]);
        let (t, b) = (realtime_factor(fb(), &program, &tone, block), realtime_factor(fb(), &program, &broadband, block));
        println!("  filterbank, {bands} bands (latency 0): tone key {t:.0}×, broadband key (every band ducking) {b:.0}×");
        let m = realtime_factor_moving_low_hz(fb(), &program, &broadband, block);
        println!("    with lowHz moving every block (re-laid at most every 10 ms), broadband key: {m:.0}×");
    }
}
