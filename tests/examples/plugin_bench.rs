//! Plugin numbers through both formats' host harnesses: bundle sizes,
//! load-to-first-block time, realtime factor of the default session at 64
//! and 512 frames. Prints numbers; asserts nothing.
//! `cargo xtask bundle mam_session --release && cargo run --release -p mam_tests --example plugin_bench`
//! (`MAM_BUNDLE_DIR` picks other bundles, e.g. an older build to compare).

use std::time::Instant;

use mam_tests::{clap, vst3};

fn size(path: &std::path::Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path).unwrap().map(|e| size(&e.unwrap().path())).sum()
    } else {
        path.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

const SECONDS: f64 = 10.0;

/// Music on the main input, a gated tone on Sidechain 1 (the default session ducks with it).
fn signals() -> ([Vec<f32>; 2], [Vec<f32>; 2]) {
    let total = (SECONDS * clap::RATE) as usize;
    let music: [Vec<f32>; 2] = [0, 1].map(|c| (0..total).map(|i| 0.3 * ((i * (5 + c)) as f32 * 0.011).sin()).collect());
    let key: Vec<f32> = (0..total).map(|i| if (i / 24_000) % 2 == 0 { 0.3 * (i as f32 * 0.06).sin() } else { 0.0 }).collect();
    (music, [key.clone(), key])
}

fn main() {
    for ext in ["clap", "vst3"] {
        let path = mam_tests::bundle(ext);
        println!("bundle {}: {:.2} MB", path.display(), size(&path) as f64 / 1e6);
    }
    let (music, key) = signals();
    let repeats = 3;

    let started = Instant::now();
    let mut loaded = clap::load();
    let _ = clap::run(&mut loaded, &clap::silence(64), &clap::no_keys(64), &[]);
    println!("CLAP: load + instantiate + activate + first 64-frame block: {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    let mut keys = clap::no_keys(music[0].len());
    keys[0] = key[0].clone();
    keys[1] = key[1].clone();
    for block in [64usize, 512] {
        let best = (0..repeats)
            .map(|_| {
                let t = Instant::now();
                let _ = clap::run_sliced(&mut loaded, &music, &keys, &[], &mut |_| block);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!("CLAP: default session, {block}-frame blocks: realtime factor {:.0} (best of {repeats})", SECONDS / best);
    }

    let started = Instant::now();
    let plugin = vst3::load();
    let _ = vst3::run_sliced(&plugin, &vst3::silence(64), &vst3::silence(64), &[], &mut |_| 64);
    println!("VST3: load + instantiate + activate + first 64-frame block: {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    for block in [64usize, 512] {
        let best = (0..repeats)
            .map(|_| {
                let t = Instant::now();
                let _ = vst3::run_sliced(&plugin, &music, &key, &[], &mut |_| block);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!("VST3: default session, {block}-frame blocks: realtime factor {:.0} (best of {repeats})", SECONDS / best);
    }
}
