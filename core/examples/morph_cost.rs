//! Per-block cost of a two-ducker session while a scene morph moves every ducker parameter, against the same session held still: `cargo run --release -p mam_core --example morph_cost [SECONDS] [ROUNDS]`.
//!
//! The session is `examples/two_duckers.json`: two stereo spectral duckers,
//! each keyed by its own generator, whose two scenes differ in every ducker
//! parameter but the latency ones (`fftSize`, `overlap`). While morphing,
//! scenes 1 and 2 are recalled in turn more often than their 2000 ms morph
//! lasts, so a morph is always running, and the host's `duck1/2_depth` and
//! `duck1/2_mix` controls move every block as automation would. Each round
//! measures both conditions at 64 frames; the summary is the median over
//! rounds (this machine is shared, single runs are noisy). Prints numbers;
//! asserts nothing (timings are not tests).

use std::time::Instant;

use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::CompileOptions;
use mam_core::graph::controls::HostControl;
use mam_core::session::load_str;

const SESSION: &str = include_str!("../../examples/two_duckers.json");
const BLOCK: usize = 64;
/// Recall the other scene after this many blocks (1.33 s at 48 kHz), before
/// the 2000 ms morph ends.
const RECALL_EVERY_BLOCKS: usize = 1000;

/// Worst, p99 and p50 block time in µs.
#[derive(Clone, Copy)]
struct Stats {
    worst_us: f64,
    p99_us: f64,
    p50_us: f64,
}

fn stats(mut times: Vec<f64>) -> Stats {
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize] * 1e6;
    Stats { worst_us: pct(1.0), p99_us: pct(0.99), p50_us: pct(0.5) }
}

fn engine() -> (Engine, AudioProcessor) {
    let session = load_str(SESSION).expect("examples/two_duckers.json loads").session;
    let options = CompileOptions { sample_rate: session.sample_rate as f32, max_block: BLOCK, ports: Vec::new() };
    Engine::new(session, options).expect("examples/two_duckers.json compiles")
}

/// Times `blocks` blocks of 64 frames after one second of warm-up; with
/// `morph`, keeps a scene morph running and moves the host ducker controls.
fn measure(blocks: usize, morph: bool) -> Stats {
    let (mut engine, mut audio) = engine();
    let mut out = [vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]];
    let warmup = 48_000 / BLOCK;
    let mut times = Vec::with_capacity(blocks);
    let mut scene = 1;
    for i in 0..warmup + blocks {
        if morph && i >= warmup {
            let b = i - warmup;
            if b % RECALL_EVERY_BLOCKS == 0 {
                audio.set_control(HostControl::Scene(scene));
                scene = 3 - scene;
            }
            // Slow automation: ±3 dB of depth trim and 0.7…1 of mix scale.
            let phase = b as f32 * 0.01;
            for slot in 0..2 {
                audio.set_control(HostControl::DuckerDepthDb(slot, 3.0 * (phase + slot as f32).sin()));
                audio.set_control(HostControl::DuckerMix(slot, 0.85 + 0.15 * (phase + slot as f32).cos()));
            }
        }
        let [l, r] = &mut out;
        let start = Instant::now();
        audio.process(&[], &mut [l.as_mut_slice(), r.as_mut_slice()], BLOCK);
        let elapsed = start.elapsed().as_secs_f64();
        if i >= warmup {
            times.push(elapsed);
        }
    }
    engine.collect_garbage();
    stats(times)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let blocks = (seconds * 48_000.0 / BLOCK as f64) as usize;
    println!("examples/two_duckers.json, {BLOCK}-frame blocks, {seconds} s per condition, {rounds} rounds (budget {:.0} µs per block)", BLOCK as f64 / 48_000.0 * 1e6);
    println!("{:>6} {:>8} {:>10} {:>10} {:>10}", "round", "state", "worst µs", "p99 µs", "p50 µs");
    let mut still = Vec::new();
    let mut moving = Vec::new();
    for round in 1..=rounds {
        for (morph, name, into) in [(false, "still", &mut still), (true, "morph", &mut moving)] {
            let s = measure(blocks, morph);
            println!("{round:>6} {name:>8} {:>10.1} {:>10.1} {:>10.1}", s.worst_us, s.p99_us, s.p50_us);
            into.push(s);
        }
    }
    let med = |v: &[Stats], f: fn(&Stats) -> f64| median(v.iter().map(f).collect());
    println!("median over rounds:");
    println!("{:>15} {:>10} {:>10} {:>10}", "", "worst µs", "p99 µs", "p50 µs");
    let fields: [fn(&Stats) -> f64; 3] = [|s| s.worst_us, |s| s.p99_us, |s| s.p50_us];
    let row = |v: &[Stats]| fields.map(|f| med(v, f));
    let (a, b) = (row(&still), row(&moving));
    println!("{:>15} {:>10.1} {:>10.1} {:>10.1}", "still", a[0], a[1], a[2]);
    println!("{:>15} {:>10.1} {:>10.1} {:>10.1}", "morph", b[0], b[1], b[2]);
    println!("{:>15} {:>9.2}× {:>9.2}× {:>9.2}×", "morph / still", b[0] / a[0], b[1] / a[1], b[2] / a[2]);
}
