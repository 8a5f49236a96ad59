//! Realtime factor of every insert alone, stereo, 48 kHz, 64-frame blocks:
//! `cargo run --release -p mam_core --example insert_cost`. Prints numbers;
//! asserts nothing (timings are not tests).

use std::time::Instant;

use mam_core::audio_buf::AudioBuf;
use mam_core::insert::registry::INSERT_TYPES;

const SR: f32 = 48_000.0;
const BLOCK: usize = 64;
const SECONDS: f64 = 10.0;

fn main() {
    // Honour MAM_SIMD=baseline (the engine does this itself; these inserts run bare).
    mam_core::simd::init();
    let mut program = AudioBuf::new(2, BLOCK);
    let mut key = AudioBuf::new(2, BLOCK);
    println!("each insert alone: stereo, {SR} Hz, {BLOCK}-frame blocks, {SECONDS} s of audio, default parameters");
    println!("{:<16} {:>14} {:>12}", "insert", "realtime x", "worst µs");
    for ty in INSERT_TYPES {
        let mut insert = (ty.create)();
        for (i, spec) in ty.params.iter().enumerate() {
            insert.set_param(i, spec.default_value());
        }
        insert.prepare(SR, BLOCK, 2);
        let blocks = (SECONDS * SR as f64) as usize / BLOCK;
        let mut worst = 0.0f64;
        let mut total = 0.0f64;
        for b in 0..blocks {
            for ch in 0..2 {
                for (i, s) in program.channel_mut(ch).iter_mut().enumerate() {
                    let t = (b * BLOCK + i) as f32 / SR;
                    *s = 0.5 * (t * 440.0 * std::f32::consts::TAU + ch as f32).sin();
                }
                for (i, s) in key.channel_mut(ch).iter_mut().enumerate() {
                    let t = (b * BLOCK + i) as f32 / SR;
                    *s = 0.3 * (t * 1000.0 * std::f32::consts::TAU).sin();
                }
            }
            let t = Instant::now();
            insert.process(&mut program, if ty.takes_key { Some(&key) } else { None }, BLOCK);
            let spent = t.elapsed().as_secs_f64();
            worst = worst.max(spent);
            total += spent;
        }
        println!("{:<16} {:>14.0} {:>12.1}", ty.name, SECONDS / total, worst * 1e6);
    }
}
