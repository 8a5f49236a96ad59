//! What the master loudness analysis costs: 60 s of stereo noise at 48 kHz
//! fed in 4096-frame chunks to `ebur128` in several modes, to our
//! `TruePeak` (wide and baseline versions) and to the `LoudnessMeter` the
//! CLI runs (tap, ring, `ebur128` S|I|HISTOGRAM and `TruePeak`).
//! `cargo run --release -p mam_core --example loudness_cost [ROUNDS]`.
//! Prints the median of the rounds in ms; asserts nothing (timings are not tests).

use std::hint::black_box;
use std::time::Instant;

use ebur128::{EbuR128, Mode};
use mam_core::dsp::true_peak::TruePeak;
use mam_core::meters::loudness_meter;

const RATE: u32 = 48_000;
const SECONDS: usize = 60;
const CHUNK: usize = 4096;

/// Interleaved stereo noise in ±0.5 (xorshift, reproducible).
fn noise(frames: usize) -> Vec<f32> {
    let mut seed = 9u32;
    (0..frames * 2)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            0.5 * ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
        })
        .collect()
}

/// Median of `rounds` runs of `f`, in ms.
fn median_ms(rounds: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[rounds / 2]
}

fn ebur128(signal: &[f32], mode: Mode) -> f64 {
    let mut ebu = EbuR128::new(2, RATE, mode).expect("stereo at 48 kHz");
    for chunk in signal.chunks(CHUNK * 2) {
        ebu.add_frames_f32(chunk).expect("whole frames");
    }
    if mode.contains(Mode::TRUE_PEAK) {
        ebu.true_peak(0).unwrap().max(ebu.true_peak(1).unwrap())
    } else {
        ebu.loudness_global().unwrap_or(f64::NEG_INFINITY)
    }
}

fn true_peak(signal: &[f32]) -> f64 {
    let mut meter = TruePeak::new(2, RATE);
    for chunk in signal.chunks(CHUNK * 2) {
        meter.process_interleaved(chunk);
    }
    meter.peak()
}

/// The CLI's path: planar chunks pushed through the tap, drained per chunk.
fn loudness_meter_path(left: &[f32], right: &[f32]) -> f64 {
    let (mut meter, mut tap) = loudness_meter(2, RATE);
    for (l, r) in left.chunks(CHUNK).zip(right.chunks(CHUNK)) {
        tap.push(&[l, r], l.len());
        meter.drain();
    }
    meter.reading().true_peak
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let signal = noise(SECONDS * RATE as usize);
    let left: Vec<f32> = signal.iter().step_by(2).copied().collect();
    let right: Vec<f32> = signal.iter().skip(1).step_by(2).copied().collect();
    println!("{SECONDS} s stereo noise at {RATE} Hz in {CHUNK}-frame chunks, median of {rounds} (ms):");

    let modes = [
        ("ebur128 S|I|TRUE_PEAK|HISTOGRAM", Mode::S | Mode::I | Mode::TRUE_PEAK | Mode::HISTOGRAM),
        ("ebur128 S|I|HISTOGRAM", Mode::S | Mode::I | Mode::HISTOGRAM),
        ("ebur128 TRUE_PEAK only", Mode::TRUE_PEAK),
    ];
    for (name, mode) in modes {
        let ms = median_ms(rounds, || {
            black_box(ebur128(&signal, mode));
        });
        println!("  {name:<40} {ms:8.1}");
    }

    let wide_available = mam_core::simd::cpu_supports_wide();
    mam_core::simd::allow_wide(true);
    let tp_wide = median_ms(rounds, || {
        black_box(true_peak(&signal));
    });
    mam_core::simd::allow_wide(false);
    let tp_base = median_ms(rounds, || {
        black_box(true_peak(&signal));
    });
    mam_core::simd::allow_wide(true);
    let wide_note = if wide_available { "" } else { " (no AVX2+FMA here: baseline)" };
    println!("  {:<40} {tp_wide:8.1}{wide_note}", "TruePeak, wide");
    println!("  {:<40} {tp_base:8.1}", "TruePeak, baseline");
    let meter_ms = median_ms(rounds, || {
        black_box(loudness_meter_path(&left, &right));
    });
    println!("  {:<40} {meter_ms:8.1}", "LoudnessMeter (tap + S|I|H + TruePeak)");
    println!(
        "  true peak: ebur128 {:.9}, TruePeak {:.9}",
        ebur128(&signal, Mode::TRUE_PEAK),
        true_peak(&signal)
    );
}
