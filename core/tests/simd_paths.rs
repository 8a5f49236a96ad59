//! The widened (AVX2 + FMA) and baseline versions of the engine's hot code
//! render the same samples bit for bit (core/src/simd.rs says why they
//! must). Its own test binary: it switches a process-wide setting, which
//! must not race other tests.

#[path = "engine/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use mam_core::reference::{demo_session, reference_session};
use mam_core::render::{render, RackAudio, RenderOptions, Rendered};
use mam_core::session::{RackKind, Session};
use mam_core::simd;
use support::*;

fn example(name: &str) -> Session {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    session(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// Noise, different per rack, on every port rack of `session`.
fn port_noise(session: &Session, frames: usize) -> Vec<RackAudio> {
    session
        .racks
        .iter()
        .filter(|r| matches!(r.kind, RackKind::Input(_)))
        .enumerate()
        .map(|(k, r)| RackAudio { rack_id: r.id.clone(), channels: vec![white(frames, 2 * k as u32 + 1, 0.5), white(frames, 2 * k as u32 + 2, 0.5)] })
        .collect()
}

fn render_with(wide: bool, session: &Session, inputs: &[RackAudio], block: usize, frames: usize) -> Rendered {
    simd::allow_wide(wide);
    let options = RenderOptions { block, frames, trim_latency: true, stems: true, controls: Default::default(), timeline: None };
    render(session, inputs, &options, &mut |_, _| {}).expect("session compiles")
}

fn same_bits(a: &[Vec<f32>], b: &[Vec<f32>], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: channels");
    for (ch, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.len(), y.len(), "{what}: length of channel {ch}");
        if let Some(i) = x.iter().zip(y).position(|(p, q)| p.to_bits() != q.to_bits()) {
            panic!("{what}: channel {ch} differs first at frame {i}: wide {} vs baseline {}", x[i], y[i]);
        }
    }
}

#[test]
fn widened_and_baseline_engines_render_the_same_bits() {
    if !simd::cpu_supports_wide() {
        eprintln!("this CPU has no AVX2 + FMA: only the baseline exists here, nothing to compare");
        return;
    }
    let frames = 30_000;
    let mut sessions = vec![("reference", reference_session()), ("demo", demo_session())];
    for name in ["all_inserts.json", "two_duckers.json", "ducker_only.json", "live.json", "rfc_complex.json"] {
        sessions.push((name, example(name)));
    }
    for (name, s) in &sessions {
        let inputs = port_noise(s, frames);
        for block in [64, 333, 512] {
            let wide = render_with(true, s, &inputs, block, frames);
            let base = render_with(false, s, &inputs, block, frames);
            let what = format!("{name} at {block}-frame blocks");
            // Not a silent pass: the master carries signal.
            assert!(wide.master[0].iter().any(|x| x.abs() > 1e-3), "{what}: master silent");
            same_bits(&wide.master, &base.master, &format!("{what}, master"));
            assert_eq!(wide.stems.len(), base.stems.len());
            for ((id, w), (_, b)) in wide.stems.iter().zip(&base.stems) {
                same_bits(w, b, &format!("{what}, stem {id}"));
            }
            assert_eq!(wide.loudness.true_peak.to_bits(), base.loudness.true_peak.to_bits(), "{what}: true peak");
            assert_eq!(wide.loudness.integrated_lufs.to_bits(), base.loudness.integrated_lufs.to_bits(), "{what}: loudness");
        }
    }
    simd::allow_wide(true);
}
