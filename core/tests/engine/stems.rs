//! Stem outputs (the plugin's second layout): each bus slot's post-fader
//! output, aligned with the main output so stems sum to the mix.

use super::support::*;
use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::{CompileOptions, PortBinding};

/// ```text
///   in ─▶ [a: limiter 5 ms (240), −6 dB, slot 1] ─▶ master
///   in ─▶ [b: 0 dB, slot 2] ─────────────────────▶ master
/// ```
/// The master adds nothing, so the mix is exactly a + b, and b is delayed by
/// 240 samples inside the master's input to line up with a.
fn session_ab() -> mam_core::session::Session {
    session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a", "gainDb": -6.020599913279624, "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 5, "ceilingDb": 0 } } ] },
                   { "id": "b" } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b" } ] }"#,
    )
}

fn run_stems(audio: &mut AudioProcessor, input: &[f32], block: usize, num_stems: usize) -> (Vec<f32>, Vec<[Vec<f32>; 2]>) {
    let frames = input.len();
    let mut main = Vec::new();
    let mut stems: Vec<[Vec<f32>; 2]> = (0..num_stems).map(|_| [Vec::new(), Vec::new()]).collect();
    let mut start = 0;
    while start < frames {
        let n = block.min(frames - start);
        let chunk = &input[start..start + n];
        let (mut l, mut r) = (vec![0.0; n], vec![0.0; n]);
        let mut stem_bufs: Vec<[Vec<f32>; 2]> = (0..num_stems).map(|_| [vec![9.0; n], vec![9.0; n]]).collect();
        {
            let mut channel_refs: Vec<Vec<&mut [f32]>> = stem_bufs.iter_mut().map(|s| s.iter_mut().map(|c| c.as_mut_slice()).collect()).collect();
            let mut stem_refs: Vec<&mut [&mut [f32]]> = channel_refs.iter_mut().map(|c| c.as_mut_slice()).collect();
            audio.process_with_stems(&[&[chunk, chunk]], &mut [&mut l, &mut r], &mut stem_refs, n);
        }
        main.extend(l);
        for (all, part) in stems.iter_mut().zip(stem_bufs) {
            all[0].extend(&part[0]);
            all[1].extend(&part[1]);
        }
        start += n;
    }
    (main, stems)
}

#[test]
fn stems_line_up_with_the_main_output_and_sum_to_it() {
    let (_e, mut audio) = Engine::new(session_ab(), CompileOptions { sample_rate: 48_000.0, max_block: 256, ports: vec![PortBinding::source("in")] }).unwrap();
    let input = impulse(4096, 100);
    let (main, stems) = run_stems(&mut audio, &input, 256, 3);
    assert_eq!(peaks(&main, 1e-6), vec![340], "the mix: one impulse at 100 + 240");
    assert_eq!(peaks(&stems[0][0], 1e-6), vec![340], "slot 1 (a) at the mix's sample");
    assert_eq!(peaks(&stems[1][0], 1e-6), vec![340], "slot 2 (b) delayed to match");
    close(stems[0][0][340], 0.5, 1e-6, "a is post-fader (−6 dB)");
    close(stems[1][1][340], 1.0, 1e-6, "b at unity");
    for i in 0..4096 {
        close(stems[0][0][i] + stems[1][0][i], main[i], 1e-6, "stems sum to the mix");
    }
    assert!(stems[2].iter().flatten().all(|&s| s == 0.0), "slot 3 has no bus: silence, not left-over data");
}

#[test]
fn stems_do_not_depend_on_the_block_size() {
    let input = white(10_000, 7, 0.5);
    let reference = {
        let (_e, mut audio) = Engine::new(session_ab(), CompileOptions { sample_rate: 48_000.0, max_block: 4096, ports: vec![PortBinding::source("in")] }).unwrap();
        run_stems(&mut audio, &input, 4096, 2)
    };
    for block in [1, 63, 512] {
        let (_e, mut audio) = Engine::new(session_ab(), CompileOptions { sample_rate: 48_000.0, max_block: 4096, ports: vec![PortBinding::source("in")] }).unwrap();
        let got = run_stems(&mut audio, &input, block, 2);
        assert!(got == reference, "block {block}");
    }
}
