//! `mam bench`: realtime factor, per-block times and CPU per bus and insert of a session at 64, 128 and 512 frames.

use std::path::Path;

use mam_core::engine::Engine;
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::reference::reference_session;
use mam_core::session::{RackKind, Session};
use mam_core::telemetry::CpuTotals;

use crate::{load_session, CliError};

/// Block sizes every bench measures.
pub const BLOCK_SIZES: [usize; 3] = [64, 128, 512];

/// Result for one block size.
pub struct BlockStats {
    pub block: usize,
    pub realtime_factor: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// Largest output sample, linear: proof the noise got through.
    pub output_peak: f32,
    /// The engine's telemetry over the measured blocks, buses in file order.
    pub buses: Vec<BusCpu>,
}

/// CPU of one bus and its inserts over a bench run, as the engine's
/// telemetry measured it: percent of one core at real time.
pub struct BusCpu {
    pub id: String,
    pub cpu_percent: f64,
    pub inserts: Vec<InsertCpu>,
}

pub struct InsertCpu {
    pub id: String,
    pub kind: String,
    pub cpu_percent: f64,
}

pub fn run(path: Option<&Path>, seconds: f64, json: bool) -> Result<(), CliError> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(CliError::Usage(format!("--seconds must be more than 0, got {seconds}")));
    }
    let (session, name) = match path {
        Some(p) => (load_session(p)?.session, p.display().to_string()),
        None => (reference_session(), "built-in reference session".to_string()),
    };
    let stats: Vec<BlockStats> =
        BLOCK_SIZES.iter().map(|&block| measure(&session, block, seconds)).collect::<Result<_, _>>()?;
    if json {
        let blocks: Vec<serde_json::Value> = stats
            .iter()
            .map(|s| {
                let buses: Vec<serde_json::Value> = s
                    .buses
                    .iter()
                    .map(|b| {
                        let inserts: Vec<serde_json::Value> = b.inserts.iter().map(|i| serde_json::json!({ "id": i.id, "type": i.kind, "cpuPercent": i.cpu_percent })).collect();
                        serde_json::json!({ "id": b.id, "cpuPercent": b.cpu_percent, "inserts": inserts })
                    })
                    .collect();
                serde_json::json!({ "block": s.block, "realtimeFactor": s.realtime_factor, "p50Us": s.p50_us, "p99Us": s.p99_us, "maxUs": s.max_us, "outputPeak": s.output_peak, "buses": buses })
            })
            .collect();
        println!("{}", serde_json::json!({ "session": name, "sampleRate": session.sample_rate, "seconds": seconds, "blocks": blocks }));
    } else {
        println!("{name}: {} sources, {} buses, {} Hz, {seconds} s per block size", session.racks.len(), session.buses.len(), session.sample_rate);
        println!("{:>6} {:>14} {:>10} {:>10} {:>10}", "block", "realtime x", "p50 µs", "p99 µs", "max µs");
        for s in &stats {
            println!("{:>6} {:>14.0} {:>10.2} {:>10.2} {:>10.2}", s.block, s.realtime_factor, s.p50_us, s.p99_us, s.max_us);
        }
        print_bus_table(&stats);
    }
    Ok(())
}

/// CPU % of one core per bus (inserts indented under it), one column per
/// block size.
fn print_bus_table(stats: &[BlockStats]) {
    let Some(first) = stats.first() else { return };
    print!("{:<24}", "CPU % of one core");
    for s in stats {
        print!(" {:>8}", s.block);
    }
    println!();
    for (b, bus) in first.buses.iter().enumerate() {
        print!("{:<24}", bus.id);
        for s in stats {
            print!(" {:>8.3}", s.buses[b].cpu_percent);
        }
        println!();
        for (i, insert) in bus.inserts.iter().enumerate() {
            print!("{:<24}", format!("  {} ({})", insert.id, insert.kind));
            for s in stats {
                print!(" {:>8.3}", s.buses[b].inserts[i].cpu_percent);
            }
            println!();
        }
    }
}

/// Renders `seconds` of `session` in blocks of `block` frames, timing each
/// process call. Every input and file source gets white noise, bound by id
/// as `mam render --in` binds files.
fn measure(session: &Session, block: usize, seconds: f64) -> Result<BlockStats, CliError> {
    measure_with(session, block, seconds, true)
}

/// [`measure`], with the engine's telemetry on or off.
fn measure_with(session: &Session, block: usize, seconds: f64, telemetry: bool) -> Result<BlockStats, CliError> {
    let ports: Vec<PortBinding> =
        session.racks.iter().filter(|r| !matches!(r.kind, RackKind::Generator(_))).map(|r| PortBinding::source(&r.id)).collect();
    let options = CompileOptions { sample_rate: session.sample_rate as f32, max_block: block, ports: ports.clone() };
    let (mut engine, mut audio) = Engine::new(session.clone(), options)?;
    audio.set_telemetry(telemetry);
    let telemetry = engine.telemetry();
    let counters = |telemetry: &mam_core::telemetry::Telemetry| -> Vec<(CpuTotals, Vec<CpuTotals>)> {
        session
            .buses
            .iter()
            .map(|b| {
                let totals = |r: Option<mam_core::telemetry::CpuReading>| r.map(|r| r.totals).unwrap_or_default();
                (totals(telemetry.bus(&b.id)), b.inserts.iter().map(|i| totals(telemetry.insert(&b.id, &i.id))).collect())
            })
            .collect()
    };
    let mut before = Vec::new();
    let channels = session.channels;
    let mut seed = 0x1234_5678u32;
    let noise: Vec<Vec<f32>> = (0..channels)
        .map(|_| {
            (0..block)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed as f32 / u32::MAX as f32 - 0.5) * 0.5
                })
                .collect()
        })
        .collect();
    let port_channels: Vec<&[f32]> = noise.iter().map(|c| c.as_slice()).collect();
    let inputs: Vec<&[&[f32]]> = ports.iter().map(|_| port_channels.as_slice()).collect();
    let mut out = vec![vec![0.0f32; block]; channels];

    // The engine's own clock (the CPU's time-stamp counter where the kernel
    // keeps time with it, ≈ 10 ns a read, else `Instant`, ≈ 25 ns): a
    // 64-frame block takes about 1.3 µs, so the timer's cost shows.
    let clock = mam_core::telemetry::Clock::new();
    let blocks = ((seconds * session.sample_rate as f64) / block as f64).ceil() as usize;
    let mut times = Vec::with_capacity(blocks);
    let mut output_peak = 0.0f32;
    // Warm caches and branch predictors with one second first.
    let warmup = (session.sample_rate as usize / block).max(1);
    for i in 0..warmup + blocks {
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
        let start = clock.now();
        audio.process(&inputs, &mut outs, block);
        let elapsed = clock.ns_between(start, clock.now()) as f64 * 1e-9;
        if i + 1 == warmup {
            before = counters(&telemetry);
        }
        if i >= warmup {
            times.push(elapsed);
        }
        output_peak = out.iter().flatten().fold(output_peak, |m, s| m.max(s.abs()));
    }
    engine.collect_garbage();
    // Only what the measured blocks added (the warm-up is left out).
    let sample_rate = telemetry.sample_rate();
    let buses = session
        .buses
        .iter()
        .zip(counters(&telemetry).iter().zip(&before))
        .map(|(bus, ((after, inserts_after), (before, inserts_before)))| BusCpu {
            id: bus.id.clone(),
            cpu_percent: after.since(*before).percent(sample_rate),
            inserts: bus
                .inserts
                .iter()
                .zip(inserts_after.iter().zip(inserts_before))
                .map(|(insert, (a, b))| InsertCpu { id: insert.id.clone(), kind: insert.kind.clone(), cpu_percent: a.since(*b).percent(sample_rate) })
                .collect(),
        })
        .collect();
    let total: f64 = times.iter().sum();
    let audio_seconds = (blocks * block) as f64 / session.sample_rate as f64;
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize] * 1e6;
    Ok(BlockStats { block, realtime_factor: audio_seconds / total, p50_us: pct(0.5), p99_us: pct(0.99), max_us: pct(1.0), output_peak, buses })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_and_file_source_gets_noise() {
        // One source per kind that takes audio; each alone on its own bus
        // run, so each must be heard by itself.
        for rack in [r#"{ "id": "a", "input": "main" }"#, r#"{ "id": "b", "input": "sidechain1" }"#, r#"{ "id": "c", "path": "c.wav" }"#, r#"{ "id": "d" }"#] {
            let json = format!(r#"{{ "version": 1, "racks": [ {rack} ] }}"#);
            let session = mam_core::session::load_str(&json).unwrap().session;
            let stats = measure(&session, 64, 0.01).unwrap();
            assert!(stats.output_peak > 0.05, "{rack}: output peak {}", stats.output_peak);
        }
    }

    /// The telemetry's cost: the reference session's realtime factor at 64
    /// and 512 frames with telemetry off and on, alternating in one
    /// process, median of the rounds (`MAM_ROUNDS`, default 9, of 60 s of
    /// audio). Prints; asserts nothing (a timing). Run with
    /// `cargo test -p mam_cli --release --bin mam telemetry_overhead -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn telemetry_overhead() {
        let session = reference_session();
        let rounds = std::env::var("MAM_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(9);
        for block in [64, 512] {
            let (mut off, mut on) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                off.push(measure_with(&session, block, 60.0, false).unwrap().realtime_factor);
                on.push(measure_with(&session, block, 60.0, true).unwrap().realtime_factor);
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let (off_m, on_m) = (median(&mut off), median(&mut on));
            println!("{block} frames, {rounds} rounds: realtime factor off {off_m:.0}, on {on_m:.0}: overhead {:.2} %", 100.0 * (off_m / on_m - 1.0));
            println!("off {off:.0?}\non  {on:.0?}");
        }
    }
}
