//! Latency compensation (docs/ARCHITECTURE.md §3 PDC): every path reaches the output on the same sample.

use super::support::*;

const N: usize = 4096;

//   in ─▶ [a: limiter 5 ms] ─▶ master
//   in ─▶ [b] ───────────────▶ master
#[test]
fn limiter_on_one_of_two_parallel_paths_gives_one_impulse_at_the_reported_latency() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a", "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 5 } } ] },
                   { "id": "b" } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b" } ] }"#,
    );
    let input = both(impulse(N, 100).iter().map(|s| s * 0.25).collect());
    let (out, _, latency) = run_full(&s, &[("in", input.clone())], N, 64, false);
    assert_eq!(latency, 240, "5 ms at 48 kHz");
    for ch in 0..2 {
        assert_eq!(peaks(&out[ch], 1e-9), vec![100 + 240], "channel {ch}: a single impulse, not doubled or smeared");
        assert_eq!(out[ch][340], 0.5, "both paths add on the same sample");
    }
    // Trimmed like a DAW bounce, the impulse sits where it was in the input.
    let (trimmed, _, _) = run_full(&s, &[("in", input)], N, 64, true);
    assert_eq!(peaks(&trimmed[0], 1e-9), vec![100]);
    assert_eq!(trimmed[0].len(), N);
}

/// ```text
///   in ─▶ [a: lim 5 ms] ─▶ [grp: lim 2 ms] ─▶ [master: lim 1 ms] ─▶ out
///   in ─▶ [b] ────────────▶ [grp]
///          [a] ─pre_fx send─▶ [fx] ─▶ master
///   in ─────────────────────────────▶ master (direct)
/// ```
#[test]
fn nested_groups_sends_and_direct_routes_all_line_up() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [
          { "id": "a", "route": "grp", "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 5 } } ],
            "sends": [ { "to": "fx", "tap": "pre_fx" } ] },
          { "id": "b", "route": "grp" },
          { "id": "grp", "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 2 } } ] },
          { "id": "fx" },
          { "id": "master", "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 1 } } ] } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "b" }, { "from": "in", "to": "master" } ] }"#,
    );
    let input = both(impulse(N, 10).iter().map(|s| s * 0.1).collect());
    let (out, stems, latency) = run_full(&s, &[("in", input)], N, 100, false);
    // grp waits for a (240) then adds 96; master adds 48.
    assert_eq!(latency, 240 + 96 + 48);
    assert_eq!(peaks(&out[0], 1e-9), vec![10 + latency], "one impulse through all four paths");
    close(out[0][10 + latency], 0.4, 1e-6, "four paths of 0.1");
    // The pre-FX send taps a before its limiter: fx's own output is early.
    assert_eq!(peaks(&stem(&stems, "fx")[0], 1e-9), vec![10]);
    assert_eq!(peaks(&stem(&stems, "grp")[0], 1e-9), vec![10 + 240 + 96]);
}

//   in ─▶ [a: utility (bypassed), limiter 5 ms (bypassed), limiter 3 ms (bypassed)] ─▶ master
#[test]
fn null_test_all_bypassed_output_is_the_input_delayed_by_the_latency() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a", "inserts": [
            { "id": "u", "type": "utility", "bypass": true, "params": { "gainDb": -20 } },
            { "id": "l1", "type": "limiter", "bypass": true, "params": { "lookaheadMs": 5, "ceilingDb": -30 } },
            { "id": "l2", "type": "limiter", "bypass": true, "params": { "lookaheadMs": 3, "ceilingDb": -30 } } ] } ],
        "routes": [ { "from": "in", "to": "a" } ] }"#,
    );
    let mut seed = 1u32;
    let noise: Vec<f32> = (0..N)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        })
        .collect();
    let (out, _, latency) = run_full(&s, &[("in", vec![noise.clone(), noise.clone()])], N, 77, false);
    assert_eq!(latency, 240 + 144);
    assert!(out[0][..latency].iter().all(|&s| s == 0.0));
    assert_eq!(&out[0][latency..], &noise[..N - latency], "bit-exact delayed copy");
}

//   in ─▶ [a: limiter 5 ms] ─▶ master, in ─▶ master
#[test]
fn limiting_path_and_dry_path_stay_aligned_under_gain_reduction() {
    // A loud impulse: the limiter path is reduced but lands on the same sample.
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "a", "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 5, "ceilingDb": -6 } } ] } ],
        "routes": [ { "from": "in", "to": "a" }, { "from": "in", "to": "master" } ] }"#,
    );
    let (out, stems, latency) = run_full(&s, &[("in", both(impulse(N, 500)))], N, 64, false);
    let a = &stem(&stems, "a")[0];
    assert!(a.iter().all(|s| s.abs() <= 0.501_187_3), "limiter path never exceeds −6 dBFS");
    let loudest = out[0].iter().enumerate().fold((0, 0.0f32), |m, (i, s)| if s.abs() > m.1 { (i, s.abs()) } else { m });
    assert_eq!(loudest.0, 500 + latency, "the dry impulse arrives with the limited one");
}
