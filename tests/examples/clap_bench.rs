//! Plugin numbers through the CLAP host: bundle sizes, instantiate-to-first-
//! block time, realtime factor of the default session at 64 and 512 frames.
//! `cargo xtask bundle mam_session --release && cargo run --release -p mam_tests --example clap_bench`.
//! Prints numbers; asserts nothing.

use std::time::Instant;

use mam_tests::clap::*;

fn size(path: &std::path::Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path).unwrap().map(|e| size(&e.unwrap().path())).sum()
    } else {
        path.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

fn main() {
    for ext in ["clap", "vst3"] {
        let path = mam_tests::bundle(ext);
        println!("bundle {}: {:.2} MB", path.display(), size(&path) as f64 / 1e6);
    }
    let started = Instant::now();
    let mut loaded = load();
    let frames = 64;
    let first = run(&mut loaded, &silence(frames), &no_keys(frames), &[]);
    println!("load + instantiate + activate + first 64-frame block: {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    drop(first);

    let seconds = 10.0;
    let total = (seconds * RATE) as usize;
    let music: [Vec<f32>; 2] = [0, 1].map(|c| (0..total).map(|i| 0.3 * ((i * (5 + c)) as f32 * 0.011).sin()).collect());
    let mut keys = no_keys(total);
    keys[0] = (0..total).map(|i| if (i / 24_000) % 2 == 0 { 0.3 * (i as f32 * 0.06).sin() } else { 0.0 }).collect();
    keys[1] = keys[0].clone();
    for block in [64usize, 512] {
        let t = Instant::now();
        let _ = run_sliced(&mut loaded, &music, &keys, &[], &mut |_| block);
        let elapsed = t.elapsed().as_secs_f64();
        println!("default session, {block}-frame blocks: realtime factor {:.0} ({:.2} % of one core; includes activation and the host's buffer copies)", seconds / elapsed, 100.0 * elapsed / seconds);
    }
}
