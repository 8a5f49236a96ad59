//! What controller mappings cost on the audio thread: the reference session
//! with eight CC mappings (bus faders, pans and an insert parameter), run at
//! 64-frame blocks with no controller, with 1000 mapped CC messages per
//! second (spread evenly, each at its own sample, the block split there as
//! the plugin does) and with the feedback pass every block; and the latency
//! from a CC message to the first output sample it changes.
//! `cargo run --release -p mam_core --example mapping_cost [SECONDS] [ROUNDS]`.
//! Prints numbers; asserts nothing (timings are not tests).

use std::time::Instant;

use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::CompileOptions;
use mam_core::mapping::ControllerInput;
use mam_core::reference::REFERENCE_SESSION_JSON;
use mam_core::session::load_str;

const BLOCK: usize = 64;
const RATE: usize = 48_000;
/// Mapped CC messages per second.
const RATE_CC: usize = 1000;

/// The reference session with eight mappings on CC 1…8, channel 1.
fn session_json() -> String {
    let targets = ["drums.gainDb", "bass.gainDb", "keys.gainDb", "vox.gainDb", "band.gainDb", "drums.pan", "keys.pan", "bass/trim.width"];
    let mappings: Vec<String> = targets
        .iter()
        .enumerate()
        .map(|(i, path)| format!(r#"{{ "input": {{ "type": "cc", "channel": 1, "cc": {} }}, "transform": {{ "smoothMs": 20 }}, "target": {{ "path": "{path}" }} }}"#, i + 1))
        .collect();
    let mut json: serde_json::Value = serde_json::from_str(REFERENCE_SESSION_JSON).expect("reference JSON");
    json["mappings"] = serde_json::from_str(&format!("[{}]", mappings.join(","))).expect("mappings JSON");
    json.to_string()
}

fn engine(block: usize) -> (Engine, AudioProcessor) {
    let session = load_str(&session_json()).expect("the bench session loads").session;
    let options = CompileOptions { sample_rate: RATE as f32, max_block: block, ports: Vec::new() };
    Engine::new(session, options).expect("the bench session compiles")
}

/// Seconds to render `seconds` of audio; with `cc`, 1000 mapped messages a
/// second (CC 1…8 in turn, values sweeping), each applied at its sample.
fn run(seconds: usize, cc: bool) -> f64 {
    let (_engine, mut audio) = engine(BLOCK);
    let mut out = [vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]];
    let frames = seconds * RATE;
    let every = RATE / RATE_CC;
    let mut sent = 0usize;
    let start = Instant::now();
    let mut at = 0;
    while at < frames {
        let mut done = 0;
        while done < BLOCK {
            let next = if cc { (at + done).div_ceil(every) * every } else { usize::MAX };
            if next == at + done {
                let data = [0xB0, 1 + (sent % 8) as u8, (sent % 128) as u8];
                audio.controller(ControllerInput::Midi(data));
                sent += 1;
            }
            let len = (BLOCK - done).min(next.saturating_sub(at + done).max(1));
            let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[done..done + len]).collect();
            audio.process(&[], &mut outs, len);
            done += len;
        }
        if cc {
            audio.feedback(&mut |f| {
                std::hint::black_box(f);
            });
        }
        at += BLOCK;
    }
    std::hint::black_box(&out);
    start.elapsed().as_secs_f64()
}

/// Frames from a CC message to the first output frame it changes, and the
/// session's reported latency.
fn latency() -> (Option<usize>, usize) {
    let render = |cc_at: Option<usize>| {
        let (_engine, mut audio) = engine(BLOCK);
        let mut left = Vec::new();
        let mut out = [vec![0.0f32; 1], vec![0.0f32; 1]];
        for i in 0..4096 {
            if cc_at == Some(i) {
                audio.controller(ControllerInput::Midi([0xB0, 5, 0]));
            }
            let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[..]).collect();
            audio.process(&[], &mut outs, 1);
            left.push(out[0][0]);
        }
        left
    };
    let (still, moved) = (render(None), render(Some(1000)));
    let reported = engine(BLOCK).1.latency();
    ((0..still.len()).find(|&i| still[i] != moved[i]).map(|i| i - 1000), reported)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let seconds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let rounds: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let (mut plain, mut mapped) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        plain.push(run(seconds, false));
        mapped.push(run(seconds, true));
    }
    let (p, m) = (median(plain), median(mapped));
    let audio = seconds as f64;
    println!("reference session + 8 CC mappings, {BLOCK}-frame blocks, {seconds} s of audio, median of {rounds} rounds");
    println!("  no controller:           {:8.1} ms  (realtime ×{:.0})", p * 1e3, audio / p);
    println!("  1000 mapped CC/s + feedback every block: {:8.1} ms  (realtime ×{:.0})", m * 1e3, audio / m);
    let extra = (m - p) / audio;
    println!(
        "  cost: {:.3} % of one core per 1000 CC/s, {:.2} µs per message (its block split and the 32-sample control steps of its 20 ms ramp included)",
        extra * 100.0,
        (m - p) / (audio * RATE_CC as f64) * 1e6
    );
    match latency() {
        (Some(l), reported) => println!("  latency CC → first changed output sample: {l} samples (the session's reported latency: {reported})"),
        (None, _) => println!("  latency: the CC changed nothing"),
    }
}
