//! NaN, infinities and denormals on any input never reach an output or a meter.

use mam_core::engine::Engine;
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::reference::reference_session;
use mam_core::session::RackKind;

#[test]
fn non_finite_input_never_reaches_outputs_or_meters() {
    let mut session = reference_session();
    session.racks[0].kind = RackKind::Input("main".into());
    session.racks[3].kind = RackKind::Input("side".into());
    let options = CompileOptions { sample_rate: 48_000.0, max_block: 128, ports: vec![PortBinding::host_port("main"), PortBinding::host_port("side")] };
    let (mut engine, mut audio) = Engine::new(session.clone(), options).unwrap();
    let poison = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, -f32::NAN, f32::MAX];
    let bad: Vec<f32> = (0..128).map(|i| if i % 3 == 0 { poison[i / 3 % poison.len()] } else { 0.5 }).collect();
    let good: Vec<f32> = (0..128).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
    let mut out = vec![vec![0.0f32; 128]; 2];
    for block in 0..200 {
        let main = if block < 100 { &bad } else { &good };
        let port_main: [&[f32]; 2] = [main, &good];
        let port_side: [&[f32]; 1] = [main];
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
        audio.process(&[&port_main, &port_side], &mut outs, 128);
        for ch in &out {
            assert!(ch.iter().all(|s| s.is_finite()), "block {block}: non-finite output");
        }
        for bus in &session.buses {
            let m = engine.meter(&bus.id).unwrap();
            for v in m.peak.iter().chain(&m.peak_hold).chain(&m.rms) {
                assert!(v.is_finite(), "block {block}: meter of {} reads {v}", bus.id);
            }
        }
    }
    let loud = engine.update_loudness();
    assert!(loud.true_peak.is_finite());
    // After the poison stops, the mix is audible again (nothing stuck at 0 or NaN).
    assert!(out[0].iter().any(|s| s.abs() > 0.01));
}

/// The strip skips its second sanitizing pass for gains that keep a
/// sanitized sum finite (exactly 1, or below 0.99); every other gain —
/// above 0 dB, or ramping up to unity — is checked: the largest finite
/// input through faders of +6, 0, −6 dB and a trim ramping −12 → 0 dB (on
/// the master, so it multiplies the sum of all three) never comes out
/// infinite.
#[test]
fn the_largest_finite_sample_through_any_fader_or_ramp_stays_finite() {
    use mam_core::graph::schedule::StripControl;
    let json = r#"{ "version": 1, "sampleRate": 48000, "channels": 2,
        "racks": [ { "id": "m", "input": "main" } ],
        "buses": [ { "id": "up", "gainDb": 6, "route": "master" }, { "id": "unity", "route": "master" },
                   { "id": "down", "gainDb": -6, "route": "master" }, { "id": "master" } ],
        "routes": [ { "from": "m", "to": "up" }, { "from": "m", "to": "unity" }, { "from": "m", "to": "down" } ] }"#;
    let session = mam_core::session::load_str(json).unwrap().session;
    let options = CompileOptions { sample_rate: 48_000.0, max_block: 64, ports: vec![PortBinding::host_port("main")] };
    let (engine, mut audio) = Engine::new(session, options).unwrap();
    audio.set_strip(0, StripControl::TrimDb(-12.0));
    let huge = vec![f32::MAX; 64];
    let mut out = vec![vec![0.0f32; 64]; 2];
    for block in 0..40 {
        if block == 5 {
            audio.set_strip(0, StripControl::TrimDb(0.0));
        }
        let port: [&[f32]; 2] = [&huge, &huge];
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
        audio.process(&[&port], &mut outs, 64);
        for ch in &out {
            assert!(ch.iter().all(|s| s.is_finite()), "block {block}: non-finite output");
        }
        for id in ["up", "unity", "down", "master"] {
            let m = engine.meter(id).unwrap();
            assert!(m.peak.iter().all(|p| p.is_finite()), "block {block}: meter of {id}");
        }
    }
}
