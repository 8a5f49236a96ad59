//! Timeline numbers: the plugin state's size and load time for a timeline of 100 000 events, and the CPU cost of playing a timeline per block.
//!
//! `cargo run --release -p mam_session --example timeline_bench`. Prints,
//! asserts nothing (the proof is tests/tests/timeline_plugin.rs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mam_core::engine::Engine;
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::session::{load_str, ParamValue};
use mam_core::timeline::{save, Action, Event, Lane, Timeline};
use mam_core::transport::Transport;
use mam_session::timeline::{decode, encode, Settings};

const RATE: u32 = 48_000;
const BLOCK: usize = 512;
const EVENTS: usize = 100_000;

const SESSION: &str = r#"{ "version": 1, "sampleRate": 48000, "tempo": 120, "channels": 2,
  "racks": [ { "id": "m", "input": "main" } ],
  "buses": [ { "id": "bed", "route": "master", "inserts": [
                 { "id": "f", "type": "filter", "params": { "freqHz": 6000 } },
                 { "id": "u", "type": "utility" } ] },
             { "id": "vox", "route": "master" },
             { "id": "master" } ],
  "routes": [ { "from": "m", "to": "bed" }, { "from": "m", "to": "vox" } ],
  "scenes": [ { "name": "Quiet", "transition": "instant", "values": { "bed.gainDb": -12 } },
              { "name": "Dark", "transition": "morph", "morphMs": 200, "values": { "bed/f.freqHz": 500 } } ] }"#;

/// `EVENTS` events, one every `spacing` samples, spread over four
/// parameter lanes and a scenes lane (one event in ten a scene recall).
fn timeline(spacing: u64) -> Timeline {
    let mut timeline = Timeline::empty(RATE);
    let ids = ["bed.pan", "bed/u.width", "bed/f.freqHz", "vox.gainDb", "scenes"];
    timeline.lanes = ids.iter().map(|id| Lane { id: id.to_string(), events: Vec::new() }).collect();
    for k in 0..EVENTS {
        let t = k as u64 * spacing;
        let x = ((k * 7919) % 1000) as f64 / 1000.0;
        let (lane, action) = if k % 10 == 9 {
            (4, Action::Scene { scene: 1 + (k / 10) % 2, policy: None })
        } else {
            let lane = k % 4;
            let value = match lane {
                0 => 2.0 * x - 1.0,
                1 => 2.0 * x,
                2 => 200.0 + 8000.0 * x,
                _ => -24.0 * x,
            };
            (lane, Action::Set { path: ids[lane].to_string(), value: ParamValue::Number(value), ramp_ms: (k % 3 == 0).then_some(20.0) })
        };
        timeline.lanes[lane].events.push(Event { t, action });
    }
    timeline
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<R>(n: usize, mut f: impl FnMut() -> R) -> Duration {
    median((0..n).map(|_| {
        let start = Instant::now();
        std::hint::black_box(f());
        start.elapsed()
    }).collect())
}

fn options() -> CompileOptions {
    CompileOptions { sample_rate: RATE as f32, max_block: BLOCK, ports: ["main", "sidechain1", "sidechain2"].iter().map(|p| PortBinding::host_port(*p)).collect() }
}

/// Mean wall time per block over `blocks` blocks of noise, the transport
/// rolling from sample 0.
fn per_block(timeline: Option<Arc<Timeline>>, blocks: usize) -> Duration {
    let session = load_str(SESSION).unwrap().session;
    let (_engine, mut audio) = Engine::with_timeline(session, options(), timeline).unwrap();
    let input: Vec<f32> = (0..BLOCK).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.4).collect();
    let (mut left, mut right) = (vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]);
    let start = Instant::now();
    for b in 0..blocks {
        audio.set_transport(&Transport::rolling((b * BLOCK) as u64, RATE as f64, 120.0, (4, 4)));
        let inputs: [&[f32]; 2] = [&input, &input];
        let mut out: [&mut [f32]; 2] = [&mut left, &mut right];
        audio.process(&[&inputs, &[], &[]], &mut out, BLOCK);
    }
    start.elapsed() / blocks as u32
}

fn main() {
    // One event every 10 ms: 100 000 events span about 17 minutes.
    let tl = timeline(480);
    let settings = Settings::default();
    let text = encode(&tl, &settings);
    let json = save::to_string(&tl);
    println!("timeline: {} events in {} lanes, one every 10 ms", tl.num_events(), tl.lanes.len());
    println!("plugin state field: {} bytes ({:.1} bytes/event); the timeline JSON export: {} bytes ({:.1} bytes/event)", text.len(), text.len() as f64 / EVENTS as f64, json.len(), json.len() as f64 / EVENTS as f64);
    let half = encode(&Timeline { lanes: tl.lanes.iter().map(|l| Lane { id: l.id.clone(), events: l.events[..l.events.len() / 2].to_vec() }).collect(), ..tl.clone() }, &settings);
    println!("  50 000 events: {} bytes (linear growth: {:.2}x for 2x the events)", half.len(), text.len() as f64 / half.len() as f64);
    // The state as the host stores it: the field's text inside the state JSON.
    let field = serde_json::to_string(&text).unwrap();
    println!("  as stored in the plugin state (a JSON string): {} bytes", field.len());
    println!("encode (save state):      {:>8.2} ms", time(9, || encode(&tl, &settings)).as_secs_f64() * 1e3);
    println!("decode (restore state):   {:>8.2} ms", time(9, || decode(&text).unwrap()).as_secs_f64() * 1e3);
    println!("  of which parsing the state string: {:>5.2} ms", time(9, || serde_json::from_str::<String>(&field).unwrap()).as_secs_f64() * 1e3);
    let session = load_str(SESSION).unwrap().session;
    let shared = Arc::new(tl.clone());
    println!(
        "compile with the session (control thread, Engine::with_timeline, cues sorted): {:>8.2} ms (without timeline {:.2} ms)",
        time(5, || Engine::with_timeline(session.clone(), options(), Some(shared.clone())).unwrap()).as_secs_f64() * 1e3,
        time(5, || Engine::new(session.clone(), options()).unwrap()).as_secs_f64() * 1e3
    );
    println!("core timeline JSON load (mam render --timeline, checked against the session): {:>8.2} ms", time(5, || mam_core::timeline::load_str(&json, &session).unwrap()).as_secs_f64() * 1e3);

    // Playback: 60 s of 512-frame blocks, with and without the timeline; a
    // dense timeline (one event every 64 samples, several cues per block)
    // shows the per-cue cost.
    let blocks = 60 * RATE as usize / BLOCK;
    for _ in 0..2 {
        // warm up
        per_block(None, blocks / 10);
    }
    let none = per_block(None, blocks);
    let sparse = per_block(Some(shared.clone()), blocks);
    let dense = per_block(Some(Arc::new(timeline(64))), blocks);
    let budget = Duration::from_secs_f64(BLOCK as f64 / RATE as f64);
    println!("playback, 512-frame blocks at 48 kHz (budget {:.2} ms), 2 buses + filter + utility:", budget.as_secs_f64() * 1e3);
    println!("  no timeline:                 {:>7.2} µs/block", none.as_secs_f64() * 1e6);
    println!("  1 event / 10 ms (~1 per block): {:>7.2} µs/block (+{:.2} µs)", sparse.as_secs_f64() * 1e6, (sparse.as_secs_f64() - none.as_secs_f64()) * 1e6);
    println!("  1 event / 64 samples (8 per block): {:>7.2} µs/block (+{:.2} µs)", dense.as_secs_f64() * 1e6, (dense.as_secs_f64() - none.as_secs_f64()) * 1e6);
}
