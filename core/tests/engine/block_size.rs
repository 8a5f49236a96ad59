//! Output does not depend on how the host slices blocks (docs/ARCHITECTURE.md §4).

use super::support::*;
use mam_core::reference::reference_session;

#[test]
fn reference_session_is_bit_identical_at_block_sizes_1_64_511_and_4096() {
    let s = reference_session();
    let frames = 12_000;
    let reference = run(&s, &[], frames, 4096);
    assert!(reference[0].iter().any(|&x| x.abs() > 0.01), "the session makes sound");
    for block in [1, 64, 511] {
        let out = run(&s, &[], frames, block);
        for ch in 0..2 {
            let first_diff = out[ch].iter().zip(&reference[ch]).position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(first_diff, None, "block {block}, channel {ch} differs from block 4096");
        }
    }
}

#[test]
fn limiter_under_heavy_reduction_is_bit_identical_across_block_sizes() {
    // Bursts well over the ceiling, then quiet passages where the limiter's
    // idle shortcut takes over: both paths must agree sample for sample.
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a", "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 2, "ceilingDb": -12, "releaseMs": 5 } } ] } ],
        "routes": [ { "from": "in", "to": "a" } ] }"#,
    );
    let frames = 20_000;
    let signal: Vec<f32> = (0..frames)
        .map(|i| {
            let amp = if (i / 3000) % 2 == 0 { 2.0 } else { 0.05 };
            amp * (i as f32 * 0.021).sin()
        })
        .collect();
    let input = vec![signal.clone(), signal.iter().map(|s| -0.7 * s).collect()];
    let reference = run(&s, &[("in", input.clone())], frames, 4096);
    let ceiling = 10f32.powf(-12.0 / 20.0);
    assert!(reference.iter().flatten().all(|s| s.abs() <= ceiling), "never over the ceiling");
    for block in [1, 64, 511] {
        let out = run(&s, &[("in", input.clone())], frames, block);
        assert!(out == reference, "block {block} differs from block 4096");
    }
}
