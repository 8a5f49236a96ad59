//! The insert library: compressor, EQ, filter, delay, reverb, chorus — each
//! against hand-computed or independently computed expectations.

use super::support::*;
use mam_core::audio_buf::AudioBuf;
use mam_core::engine::Engine;
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::insert::{registry, Insert, ParamKind};

const SR: f32 = 48_000.0;

/// A prepared insert of `kind` with `params` (by id) set, stereo, 48 kHz.
fn make(kind: &str, params: &[(&str, f32)]) -> Box<dyn Insert> {
    let ty = registry::lookup(kind).unwrap();
    let mut insert = (ty.create)();
    for (i, spec) in ty.params.iter().enumerate() {
        insert.set_param(i, spec.default_value());
    }
    for (id, value) in params {
        insert.set_param(ty.param_index(id).unwrap_or_else(|| panic!("{kind} has no {id}")), *value);
    }
    insert.prepare(SR, 4096, 2);
    insert
}

/// Runs `input` (same on both channels) through `insert` in 4096-frame blocks.
fn run_insert(insert: &mut dyn Insert, input: &[f32]) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::with_capacity(input.len()), Vec::with_capacity(input.len())];
    let mut buf = AudioBuf::new(2, 4096);
    for chunk in input.chunks(4096) {
        for ch in 0..2 {
            buf.channel_mut(ch)[..chunk.len()].copy_from_slice(chunk);
        }
        insert.process(&mut buf, None, chunk.len());
        for ch in 0..2 {
            out[ch].extend_from_slice(&buf.channel(ch)[..chunk.len()]);
        }
    }
    out
}

/// Amplitude of the `hz` component of `signal` (least squares over whole cycles).
fn amplitude(signal: &[f32], hz: f32) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for (i, &x) in signal.iter().enumerate() {
        let phase = std::f64::consts::TAU * hz as f64 * i as f64 / SR as f64;
        s += x as f64 * phase.sin();
        c += x as f64 * phase.cos();
    }
    2.0 * (s * s + c * c).sqrt() / signal.len() as f64
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

#[test]
fn compressor_static_curve_threshold_plus_12_at_4_to_1_comes_out_at_plus_3() {
    // Threshold −20 dBFS; a sine peaking at −8 dBFS (12 dB over), ratio 4,
    // hard knee, peak detector: 12 − 12·(1 − 1/4) = 3 dB over → −17 dBFS.
    let mut c = make("compressor", &[("thresholdDb", -20.0), ("ratio", 4.0), ("kneeDb", 0.0), ("attackMs", 1.0), ("releaseMs", 200.0)]);
    let input = sine(SR as usize * 2, 1000.0, 10f32.powf(-8.0 / 20.0), SR);
    let out = run_insert(c.as_mut(), &input);
    let tail = &out[0][SR as usize * 3 / 2..];
    let peak = tail.iter().fold(0.0f32, |a, s| a.max(s.abs()));
    let level = 20.0 * peak.log10();
    assert!((level - -17.0).abs() <= 0.25, "output peak {level:.2} dBFS, want −17 ± 0.25");
    // Below the threshold nothing happens.
    let mut quiet = make("compressor", &[("thresholdDb", -20.0), ("kneeDb", 0.0)]);
    let low = sine(SR as usize, 1000.0, 0.05, SR);
    assert_eq!(run_insert(quiet.as_mut(), &low)[0], low);
}

#[test]
fn compressor_static_curve_is_the_textbook_soft_knee() {
    use mam_core::dsp::compressor::Compressor;
    // Quadratic knee: at the threshold itself, (knee/2)²·slope/(2·knee) = slope·knee/8.
    assert!((Compressor::reduction_for(-20.0, -20.0, 4.0, 8.0) - 0.75).abs() < 1e-6);
    assert_eq!(Compressor::reduction_for(-30.0, -20.0, 4.0, 8.0), 0.0);
    assert!((Compressor::reduction_for(-10.0, -20.0, 4.0, 8.0) - 7.5).abs() < 1e-6);
    assert!((Compressor::reduction_for(-10.0, -20.0, 100.0, 0.0) - 10.0).abs() < 1e-6, "∞:1 limits");
}

/// ```text
///   music ─▶ [bed: compressor keyed by `key`] ─▶ master
///   key ───▶ [keybus, muted]
/// ```
#[test]
fn sidechain_key_ducks_the_program_only_while_present() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "music" }, { "id": "key" } ],
        "buses": [ { "id": "bed", "inserts": [ { "id": "comp", "type": "compressor", "sidechain": "key",
                     "params": { "threshold": -30, "ratio": 8, "kneeDb": 0, "attack": 1, "release": 20 } } ] },
                   { "id": "keybus", "mute": true } ],
        "routes": [ { "from": "music", "to": "bed" }, { "from": "key", "to": "keybus" } ] }"#,
    );
    let frames = SR as usize * 3;
    let music = sine(frames, 220.0, 0.3, SR);
    let key: Vec<f32> = sine(frames, 1000.0, 0.5, SR).iter().enumerate().map(|(i, &x)| if (SR as usize..2 * SR as usize).contains(&i) { x } else { 0.0 }).collect();
    let (_, stems, _) = run_full(&s, &[("music", both(music.clone())), ("key", both(key))], frames, 256, true);
    let bed = &stem(&stems, "bed")[0];
    let level = |from: f32, to: f32| amplitude(&bed[(from * SR) as usize..(to * SR) as usize], 220.0);
    let before = level(0.5, 0.9);
    let during = level(1.5, 1.9);
    let after = level(2.5, 2.9);
    assert!((db(before / 0.3)).abs() < 0.01, "no key, no reduction: {:.2} dB", db(before / 0.3));
    assert!(db(during / before) < -10.0, "key present: {:.2} dB", db(during / before));
    assert!((db(after / 0.3)).abs() < 0.05, "key gone, recovered: {:.2} dB", db(after / 0.3));
}

/// The cookbook magnitude, computed here from the formulas independently of
/// `mam_core::dsp::biquad`.
fn cookbook_db(shape: &str, f0: f64, gain_db: f64, q: f64, f: f64) -> f64 {
    let fs = SR as f64;
    let w0 = std::f64::consts::TAU * f0 / fs;
    let (sn, cs) = w0.sin_cos();
    let al = sn / (2.0 * q);
    let a = 10f64.powf(gain_db / 40.0);
    let sq = 2.0 * a.sqrt() * al;
    let (b, den) = match shape {
        "bell" => ([1.0 + al * a, -2.0 * cs, 1.0 - al * a], [1.0 + al / a, -2.0 * cs, 1.0 - al / a]),
        "low_shelf" => (
            [a * ((a + 1.0) - (a - 1.0) * cs + sq), 2.0 * a * ((a - 1.0) - (a + 1.0) * cs), a * ((a + 1.0) - (a - 1.0) * cs - sq)],
            [(a + 1.0) + (a - 1.0) * cs + sq, -2.0 * ((a - 1.0) + (a + 1.0) * cs), (a + 1.0) + (a - 1.0) * cs - sq],
        ),
        "high_shelf" => (
            [a * ((a + 1.0) + (a - 1.0) * cs + sq), -2.0 * a * ((a - 1.0) + (a + 1.0) * cs), a * ((a + 1.0) + (a - 1.0) * cs - sq)],
            [(a + 1.0) - (a - 1.0) * cs + sq, 2.0 * ((a - 1.0) - (a + 1.0) * cs), (a + 1.0) - (a - 1.0) * cs - sq],
        ),
        "low_pass" | "lowpass" => ([(1.0 - cs) / 2.0, 1.0 - cs, (1.0 - cs) / 2.0], [1.0 + al, -2.0 * cs, 1.0 - al]),
        "high_pass" | "highpass" => ([(1.0 + cs) / 2.0, -(1.0 + cs), (1.0 + cs) / 2.0], [1.0 + al, -2.0 * cs, 1.0 - al]),
        "notch" => ([1.0, -2.0 * cs, 1.0], [1.0 + al, -2.0 * cs, 1.0 - al]),
        "bandpass" => ([al, 0.0, -al], [1.0 + al, -2.0 * cs, 1.0 - al]),
        _ => unreachable!(),
    };
    let w = std::f64::consts::TAU * f / fs;
    let eval = |c: [f64; 3]| {
        let re = c[0] + c[1] * w.cos() + c[2] * (2.0 * w).cos();
        let im = -(c[1] * w.sin() + c[2] * (2.0 * w).sin());
        (re * re + im * im).sqrt()
    };
    db(eval(b) / eval(den))
}

/// Measured gain in dB of a steady sine at `f` through `insert`.
fn measured_db(kind: &str, params: &[(&str, f32)], f: f32) -> f64 {
    let mut insert = make(kind, params);
    let input = sine(SR as usize, f, 0.5, SR);
    let out = run_insert(insert.as_mut(), &input);
    // Skip the first half second of transient; the rest is 0.5 s (whole cycles for integer Hz).
    db(amplitude(&out[0][SR as usize / 2..], f) / 0.5)
}

#[test]
fn eq_bands_match_the_cookbook_response_within_0_1_db() {
    let bands: [(&str, f32, f32, f32); 6] = [
        ("bell", 1000.0, 6.0, 1.0),
        ("low_shelf", 200.0, -6.0, 0.707),
        ("high_shelf", 4000.0, 4.0, 0.707),
        ("high_pass", 300.0, 0.0, 0.707),
        ("low_pass", 3000.0, 0.0, 1.2),
        ("notch", 1000.0, 0.0, 2.0),
    ];
    let types = match registry::lookup("eq").unwrap().params[0].kind {
        ParamKind::Choice { options, .. } => options,
        _ => unreachable!(),
    };
    for (shape, f0, gain, q) in bands {
        let type_index = types.iter().position(|t| *t == shape).unwrap() as f32;
        let params = [("b3Type", type_index), ("b3FreqHz", f0), ("b3GainDb", gain), ("b3Q", q)];
        for f in [50.0, 200.0, 700.0, 1000.0, 1500.0, 4000.0, 12_000.0] {
            let want = cookbook_db(shape, f0 as f64, gain as f64, q as f64, f as f64);
            if want < -60.0 {
                continue; // too deep to measure against a 0.5 amplitude sine meaningfully
            }
            let got = measured_db("eq", &params, f);
            assert!((got - want).abs() < 0.1, "{shape} at {f} Hz: measured {got:.3} dB, cookbook {want:.3} dB");
        }
    }
}

#[test]
fn eq_band_moves_without_zipper_steps() {
    // Sweep a bell from 200 Hz to 5 kHz on a steady 1 kHz sine: the output
    // envelope changes smoothly (no sample jumps far from its neighbours).
    let ty = registry::lookup("eq").unwrap();
    let mut eq = make("eq", &[("b1GainDb", 12.0), ("b1FreqHz", 200.0), ("b1Q", 2.0)]);
    let input = sine(SR as usize / 2, 1000.0, 0.5, SR);
    let mut buf = AudioBuf::new(2, 64);
    let mut out = Vec::new();
    for (n, chunk) in input.chunks(64).enumerate() {
        if n == 40 {
            eq.set_param(ty.param_index("b1FreqHz").unwrap(), 5000.0);
        }
        for ch in 0..2 {
            buf.channel_mut(ch)[..chunk.len()].copy_from_slice(chunk);
        }
        eq.process(&mut buf, None, chunk.len());
        out.extend_from_slice(&buf.channel(0)[..chunk.len()]);
    }
    // A 1 kHz sine at ≤ 2 amplitude changes by at most 2·2π·1000/48000 ≈ 0.26 per sample.
    let worst = out.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
    assert!(worst < 0.3, "largest step {worst}");
}

#[test]
fn filter_matches_the_bilinear_second_order_responses() {
    // The TPT state-variable filter has the same responses as the cookbook's
    // low/high/band pass and notch at the same Q (`resonance` is the Q).
    for (mode, name) in [(0.0, "lowpass"), (1.0, "highpass"), (2.0, "bandpass"), (3.0, "notch")] {
        for q in [0.5f32, std::f32::consts::FRAC_1_SQRT_2, 3.76] {
            let q64 = q as f64;
            for f in [200.0, 900.0, 1000.0, 1200.0, 5000.0] {
                let want = cookbook_db(name, 1000.0, 0.0, q64, f as f64);
                if want < -60.0 {
                    continue;
                }
                let got = measured_db("filter", &[("type", mode), ("freqHz", 1000.0), ("resonance", q)], f);
                assert!((got - want).abs() < 0.1, "{name} Q {q:.2} at {f} Hz: measured {got:.3}, want {want:.3}");
            }
        }
    }
}

fn delay_session(time: &str) -> mam_core::session::Session {
    session(&format!(
        r#"{{ "version": 1, "tempo": 120, "racks": [ {{ "id": "in" }} ],
        "buses": [ {{ "id": "fx", "inserts": [ {{ "id": "d", "type": "delay", "params": {{ "time": {time}, "feedback": 0, "mix": 1 }} }} ] }} ],
        "routes": [ {{ "from": "in", "to": "fx" }} ] }}"#
    ))
}

#[test]
fn delay_note_values_at_120_bpm_land_on_the_exact_sample() {
    for (time, samples) in [(r#""8n""#, 12_000usize), (r#""8n.""#, 18_000), (r#""4t""#, 16_000), (r#""16n""#, 6_000), ("100", 4_800)] {
        let out = run(&delay_session(time), &[("in", both(impulse(30_000, 100)))], 30_000, 512);
        assert_eq!(peaks(&out[0], 1e-6), vec![100 + samples], "time {time}");
        assert_eq!(out[0][100 + samples], 1.0);
    }
}

#[test]
fn delay_follows_a_host_tempo_change() {
    let (_engine, mut audio) = Engine::new(delay_session(r#""8n""#), CompileOptions { sample_rate: SR, max_block: 512, ports: vec![PortBinding::source("in")] }).unwrap();
    audio.set_tempo(60.0); // an eighth is now 500 ms
    let input = impulse(30_000, 0);
    let mut out = vec![vec![0.0f32; 30_000]; 2];
    {
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
        audio.process(&[&[&input, &input]], &mut outs, 30_000);
    }
    assert_eq!(peaks(&out[0], 1e-6), vec![24_000]);
}

#[test]
fn delay_feedback_repeats_decay_and_ping_pong_alternates() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "fx", "inserts": [ { "id": "d", "type": "delay", "params": { "time": 10, "feedback": 0.5, "mix": 1, "pingPong": true, "highCutHz": 20000 } } ] } ],
        "routes": [ { "from": "in", "to": "fx" } ] }"#,
    );
    let input = vec![impulse(3000, 0), vec![0.0; 3000]];
    let out = run(&s, &[("in", input)], 3000, 64);
    // Mono sum 0.5 into the left line: L at 480, R at 960, L at 1440 …, each
    // repeat ×0.5 (the feedback low-pass at 20 kHz trims a little).
    assert!((out[0][480] - 0.5).abs() < 1e-6 && out[1][480] == 0.0);
    assert!(out[1][960] > 0.2 && out[1][960] < 0.25 && out[0][960] == 0.0);
    assert!(out[0][1440] > 0.1 && out[0][1440] < 0.125);
}

/// RT60 from an impulse response by Schroeder backward integration, fitting
/// the −5 … −35 dB span (T30) and extrapolating to 60 dB.
fn rt60(ir: &[f32]) -> f64 {
    let mut edc: Vec<f64> = ir.iter().map(|&x| (x as f64).powi(2)).collect();
    for i in (0..edc.len() - 1).rev() {
        edc[i] += edc[i + 1];
    }
    let total = edc[0];
    let level = |i: usize| 10.0 * (edc[i] / total).log10();
    let t5 = (0..edc.len()).find(|&i| level(i) <= -5.0).unwrap();
    let t35 = (0..edc.len()).find(|&i| level(i) <= -35.0).unwrap();
    (t35 - t5) as f64 / SR as f64 * 60.0 / 30.0
}

#[test]
fn reverb_rt60_is_within_20_percent_of_decay_and_reset_leaves_silence() {
    for (decay, damping) in [(1.0f32, 0.0f32), (2.5, 0.0), (1.0, 0.3), (4.0, 0.3)] {
        let mut r = make("reverb", &[("decay", decay), ("damping", damping), ("mix", 1.0), ("preDelayMs", 0.0)]);
        let frames = (SR * decay * 2.0) as usize;
        let out = run_insert(r.as_mut(), &impulse(frames, 0));
        let ir: Vec<f32> = out[0].iter().zip(&out[1]).map(|(l, r)| l + r).collect();
        let measured = rt60(&ir);
        assert!((measured / decay as f64 - 1.0).abs() < 0.2, "decay {decay} s, damping {damping}: RT60 measured {measured:.2} s");
        r.reset();
        let silence = run_insert(r.as_mut(), &vec![0.0; 20_000]);
        assert!(silence.iter().flatten().all(|&s| s == 0.0), "output from silence after reset");
    }
}

#[test]
fn chorus_at_zero_depth_is_a_12_ms_delay_and_modulates_otherwise() {
    let mut still = make("chorus", &[("depthMs", 0.0), ("mix", 1.0), ("voices", 2.0)]);
    let out = run_insert(still.as_mut(), &impulse(2000, 10));
    assert_eq!(peaks(&out[0], 1e-6), vec![10 + 576]);
    assert_eq!(peaks(&out[1], 1e-6), vec![10 + 576]);
    // With depth, a steady sine comes out with a moving delay: its zero
    // crossings drift against the input's.
    let mut moving = make("chorus", &[("depthMs", 5.0), ("mix", 1.0), ("rateHz", 2.0)]);
    let input = sine(SR as usize, 440.0, 0.5, SR);
    let out = run_insert(moving.as_mut(), &input);
    let lag_at = |start: usize| {
        // Lag (in samples) that best aligns output with input around `start`.
        (0..1200).max_by(|&a, &b| {
            let corr = |lag: usize| (start..start + 2000).map(|i| out[0][i] as f64 * input[i - lag] as f64).sum::<f64>();
            corr(a).total_cmp(&corr(b))
        })
        .unwrap()
    };
    assert_ne!(lag_at(6000), lag_at(18_000), "the delay moves");
    assert_ne!(out[0][20_000..21_000], out[1][20_000..21_000], "left and right differ");
}

#[test]
fn aliases_from_the_effects_rfc_load() {
    let s = session(
        r#"{ "version": 1, "buses": [ { "id": "a", "inserts": [
            { "id": "c", "type": "compressor", "params": { "threshold": -12, "makeupGain": 3, "attack": 5, "release": 50 } },
            { "id": "r", "type": "reverb", "params": { "preDelay": 20 } },
            { "id": "f", "type": "filter", "params": { "frequency": 500 } } ] } ] }"#,
    );
    let inserts = &s.bus("a").unwrap().inserts;
    let get = |i: usize, id: &str| inserts[i].params.get(id).cloned();
    use mam_core::session::ParamValue::Number;
    assert_eq!(get(0, "thresholdDb"), Some(Number(-12.0)));
    assert_eq!(get(0, "makeupDb"), Some(Number(3.0)));
    assert_eq!(get(0, "attackMs"), Some(Number(5.0)));
    assert_eq!(get(0, "releaseMs"), Some(Number(50.0)));
    assert_eq!(get(1, "preDelayMs"), Some(Number(20.0)));
    assert_eq!(get(2, "freqHz"), Some(Number(500.0)));
    assert!(mam_core::session::load_str(r#"{ "version": 1, "buses": [ { "id": "a", "inserts": [ { "type": "delay", "params": { "time": "5n" } } ] } ] }"#).is_err());
}

const SHAPES: [&str; 4] = ["soft", "hard", "fuzz", "tube"];

#[test]
fn distortion_thd_rises_with_drive_for_every_shape() {
    for (index, shape) in SHAPES.iter().enumerate() {
        let mut last = -1.0f64;
        for drive in [0.0f32, 1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0, 4.0 / 6.0, 5.0 / 6.0, 1.0] {
            let mut d = make("distortion", &[("type", index as f32), ("drive", drive), ("tone", 1.0)]);
            let out = run_insert(d.as_mut(), &sine(SR as usize, 1000.0, 1.0, SR));
            let tail = &out[0][SR as usize / 2..];
            let fundamental = amplitude(tail, 1000.0);
            let harmonics: f64 = (2..=20).map(|k| amplitude(tail, 1000.0 * k as f32).powi(2)).sum();
            let thd = harmonics.sqrt() / fundamental;
            assert!(thd > last, "{shape}: THD {thd:.4} at drive {drive} did not rise above {last:.4}");
            last = thd;
        }
        assert!(last > 0.1, "{shape}: high drive gives plenty of harmonics ({last:.3})");
    }
}

#[test]
fn distortion_aliasing_stays_60_db_below_the_fundamental_at_5_khz() {
    use mam_core::analysis::power_spectrum;
    let bin_hz = SR as f64 / 16_384.0;
    for (index, shape) in SHAPES.iter().enumerate() {
        let mut d = make("distortion", &[("type", index as f32), ("drive", 1.0), ("tone", 1.0)]);
        let out = run_insert(d.as_mut(), &sine(SR as usize * 2, 5000.0, 1.0, SR));
        let spectrum = power_spectrum(&out[0][SR as usize / 2..]);
        let near = |k: usize, f: f64| (k as f64 * bin_hz - f).abs() < 6.0 * bin_hz;
        let fundamental = spectrum.iter().enumerate().filter(|(k, _)| near(*k, 5000.0)).map(|(_, p)| *p).fold(0.0, f64::max);
        // Everything that is not a harmonic of 5 kHz (or DC) is aliasing.
        let worst = spectrum
            .iter()
            .enumerate()
            .filter(|(k, _)| *k as f64 * bin_hz > 30.0 && !(1..=4).any(|h| near(*k, 5000.0 * h as f64)))
            .map(|(k, p)| (k, 10.0 * (p / fundamental).log10()))
            .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
        assert!(worst.1 < -60.0, "{shape}: alias at {:.0} Hz is {:.1} dB below the fundamental", worst.0 as f64 * bin_hz, -worst.1);
    }
}

#[test]
fn distortion_reports_its_measured_latency() {
    // Nearly linear (tiny signal, no drive): the impulse response peaks at the latency.
    let mut d = make("distortion", &[("drive", 0.0), ("tone", 1.0)]);
    let out = run_insert(d.as_mut(), &impulse(1000, 100).iter().map(|x| x * 0.01).collect::<Vec<_>>());
    let loudest = out[0].iter().enumerate().fold((0, 0.0f32), |m, (i, s)| if s.abs() > m.1 { (i, s.abs()) } else { m });
    assert_eq!(loudest.0, 100 + d.latency());
    assert_eq!(d.latency(), mam_core::dsp::distortion::LATENCY);
}

fn all_inserts_session() -> mam_core::session::Session {
    session(&std::fs::read_to_string(format!("{}/../examples/all_inserts.json", env!("CARGO_MANIFEST_DIR"))).unwrap())
}

#[test]
fn the_all_inserts_example_uses_every_insert_type() {
    let s = all_inserts_session();
    for ty in registry::INSERT_TYPES {
        assert!(s.buses.iter().flat_map(|b| &b.inserts).any(|i| i.kind == ty.name), "examples/all_inserts.json lacks {}", ty.name);
    }
}

#[test]
fn every_insert_is_bit_identical_at_block_sizes_1_64_and_4096() {
    let s = all_inserts_session();
    let frames = 30_000;
    let reference = run(&s, &[], frames, 4096);
    assert!(reference[0].iter().any(|x| x.abs() > 0.01));
    for block in [1, 64] {
        let out = run(&s, &[], frames, block);
        for ch in 0..2 {
            let first = out[ch].iter().zip(&reference[ch]).position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(first, None, "block {block}, channel {ch}");
        }
    }
}

#[test]
fn every_insert_alone_turns_nan_and_inf_input_into_finite_output() {
    // Each insert type alone on a bus fed garbage: the engine scrubs inputs
    // and bus outputs, and the insert's own state must not stick at NaN.
    for ty in registry::INSERT_TYPES {
        let s = session(&format!(
            r#"{{ "version": 1, "racks": [ {{ "id": "in" }} ], "buses": [ {{ "id": "a", "inserts": [ {{ "id": "x", "type": "{}"{} }} ] }} ],
            "routes": [ {{ "from": "in", "to": "a" }} ] }}"#,
            ty.name,
            if ty.takes_key { r#", "sidechain": "in""# } else { "" }
        ));
        let frames = 20_000;
        let signal: Vec<f32> = (0..frames)
            .map(|i| match i % 7 {
                0 if i < 10_000 => f32::NAN,
                1 if i < 10_000 => f32::INFINITY,
                2 if i < 10_000 => -f32::INFINITY,
                _ => 0.5 * (i as f32 * 0.03).sin(),
            })
            .collect();
        let out = run(&s, &[("in", both(signal))], frames, 256);
        assert!(out.iter().flatten().all(|x| x.is_finite()), "{}: non-finite output", ty.name);
        assert!(out[0][15_000..].iter().any(|x| x.abs() > 1e-3), "{}: silent after the garbage stopped", ty.name);
    }
}

#[test]
fn reset_clears_every_tail_so_silence_in_gives_exact_silence_out() {
    for ty in registry::INSERT_TYPES {
        let mut insert = make(ty.name, &[]);
        // Excite every insert with loud noise (and a key for keyed ones).
        let mut buf = AudioBuf::new(2, 4096);
        let key = {
            let mut k = AudioBuf::new(2, 4096);
            for ch in 0..2 {
                k.channel_mut(ch).copy_from_slice(&white(4096, 30 + ch as u32, 0.5));
            }
            k
        };
        for round in 0..8 {
            for ch in 0..2 {
                buf.channel_mut(ch).copy_from_slice(&white(4096, round * 2 + ch as u32 + 1, 0.9));
            }
            insert.process(&mut buf, ty.takes_key.then_some(&key), 4096);
        }
        insert.reset();
        let silent_key = AudioBuf::new(2, 4096);
        for _ in 0..4 {
            buf.clear(4096);
            insert.process(&mut buf, ty.takes_key.then_some(&silent_key), 4096);
            assert!((0..2).all(|ch| buf.channel(ch).iter().all(|&s| s == 0.0)), "{}: output after reset", ty.name);
        }
    }
}

#[test]
fn compressor_lookahead_is_its_reported_latency() {
    let mut c = make("compressor", &[("lookaheadMs", 5.0), ("thresholdDb", -20.0)]);
    assert_eq!(c.latency(), 240);
    let out = run_insert(c.as_mut(), &impulse(1000, 10).iter().map(|x| x * 0.01).collect::<Vec<_>>());
    assert_eq!(peaks(&out[0], 1e-6), vec![250]);
}

/// Scenes and macros may move every parameter except an insert type's
/// `latency_params` while it runs; check that no other parameter, at any end
/// of its range, changes the latency a freshly prepared instance reports.
#[test]
fn only_the_declared_latency_parameters_change_latency() {
    use mam_core::insert::registry::INSERT_TYPES;
    use mam_core::insert::ParamKind;
    for ty in INSERT_TYPES {
        let latency_with = |index: Option<(usize, f32)>| {
            let mut insert = (ty.create)();
            for (i, spec) in ty.params.iter().enumerate() {
                insert.set_param(i, spec.default_value());
            }
            if let Some((i, v)) = index {
                insert.set_param(i, v);
            }
            insert.prepare(48_000.0, 256, 2);
            insert.latency()
        };
        let base = latency_with(None);
        let mut declared_matter = false;
        for (i, spec) in ty.params.iter().enumerate() {
            let extremes: Vec<f32> = match spec.kind {
                ParamKind::Float { min, max, .. } => vec![min as f32, max as f32],
                ParamKind::Bool { .. } => vec![0.0, 1.0],
                ParamKind::Choice { options, .. } => (0..options.len()).map(|o| o as f32).collect(),
                ParamKind::Discrete { values, .. } => values.iter().map(|&v| v as f32).collect(),
                ParamKind::Time { min_ms, max_ms, .. } => vec![min_ms as f32, max_ms as f32, -4.0],
            };
            let changes = extremes.iter().any(|&v| latency_with(Some((i, v))) != base);
            if ty.latency_params.contains(&spec.id) {
                declared_matter |= changes;
            } else {
                assert!(!changes, "{}.{} changes the latency but is not in latency_params", ty.name, spec.id);
            }
        }
        assert_eq!(declared_matter, !ty.latency_params.is_empty(), "{}: declared latency params must really change it", ty.name);
    }
}

/// Runs `input` (same on both channels) through `insert` in 32-sample blocks
/// (a scene morph's control step), calling `change(insert, frame)` before
/// each block; returns the left channel.
fn run_with_changes(insert: &mut dyn Insert, input: &[f32], mut change: impl FnMut(&mut dyn Insert, usize)) -> Vec<f32> {
    let mut buf = AudioBuf::new(2, 32);
    let mut out = Vec::with_capacity(input.len());
    for (n, chunk) in input.chunks(32).enumerate() {
        change(insert, n * 32);
        for ch in 0..2 {
            buf.channel_mut(ch)[..chunk.len()].copy_from_slice(chunk);
        }
        insert.process(&mut buf, None, chunk.len());
        out.extend_from_slice(&buf.channel(0)[..chunk.len()]);
    }
    out
}

fn largest_step(signal: &[f32]) -> f32 {
    signal.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max)
}

fn longest_zero_run(signal: &[f32]) -> usize {
    signal.split(|&x| x != 0.0).map(<[f32]>::len).max().unwrap_or(0)
}

/// A delay's time jumps, follows a note value and a tempo change, and is
/// morphed in 32-sample steps, all while a sine plays.
///
/// Bound on the output step: a gliding tap reads at most 1 + 1/16 samples of
/// input per sample, and linear interpolation is never steeper than the
/// samples it joins, so gliding adds at most 1/16 to the input's own largest
/// step; a crossfade `(1 − w)·a + w·b` with w rising by 1/960 per sample adds
/// at most |b − a|/960 ≤ 2·amplitude/960. The old delay jumped its read
/// position: a step of up to twice the amplitude (0.7 here at the first jump).
#[test]
fn delay_time_changes_while_playing_without_gaps_or_steps() {
    let ty = registry::lookup("delay").unwrap();
    let time = ty.param_index("time").unwrap();
    let mut d = make("delay", &[("time", 100.0), ("feedback", 0.0), ("mix", 1.0), ("highCutHz", 20_000.0)]);
    let amp = 0.5f32;
    let input = sine(SR as usize * 4, 200.0, amp, SR);
    let out = run_with_changes(d.as_mut(), &input, |d, frame| match frame {
        48_000 => d.set_param(time, 161.3),
        72_000 => d.set_param(time, -0.5), // an eighth note at 120 BPM: 250 ms
        96_000 => d.set_tempo(100.0),      // the eighth becomes 300 ms
        // A slow morph (glides: 0.96 samples per 32), then a fast one
        // (faster than the glide: crossfades as it goes).
        f if (120_000..144_000).contains(&f) => d.set_param(time, 300.0 - (f - 120_000) as f32 / 32.0 * 0.02),
        f if (144_000..168_000).contains(&f) => d.set_param(time, 285.0 - (f - 144_000) as f32 / 32.0 * 0.1),
        168_000 => d.set_param(time, 210.0),
        _ => {}
    });
    let after_first_echo = &out[4800..];
    let zeros = longest_zero_run(after_first_echo);
    // The smallest change above is a glide step of 0.02 ms (~1 sample).
    assert!(zeros <= 1, "a gap of {zeros} exact zeros");
    let bound = largest_step(&input) * (1.0 + 1.0 / 16.0) + 2.0 * amp / 960.0 + 1e-6;
    let worst = largest_step(after_first_echo);
    assert!(worst <= bound, "largest step {worst:.5} above the bound {bound:.5}");
    // Settled, the echo is the input exactly 210 ms (10 080 samples) late.
    for i in 180_000..181_000 {
        assert_eq!(out[i], input[i - 10_080], "sample {i}");
    }
}

/// Reverb `size` and `preDelayMs` jump and are morphed while a sine plays.
/// A click is broadband; a 200 Hz sine (and the reverb's response to it) is
/// not, so the third difference y[n] − 3y[n−1] + 3y[n−2] − y[n−3] finds
/// clicks: for a sine of amplitude A it is (2π·200/48000)³·A ≈ 2e−5·A, a
/// crossfade's kinks add about |b − a|/960 ≈ 2e−3·A, while a read position
/// that jumps (the old reverb resized its rings) gives about A.
#[test]
fn reverb_size_and_pre_delay_changes_do_not_click() {
    let ty = registry::lookup("reverb").unwrap();
    let (size, pre) = (ty.param_index("size").unwrap(), ty.param_index("preDelayMs").unwrap());
    let input = sine(SR as usize * 3, 200.0, 0.5, SR);
    let mut r = make("reverb", &[("decay", 2.0), ("mix", 1.0), ("damping", 0.0)]);
    let out = run_with_changes(r.as_mut(), &input, |r, frame| match frame {
        48_000 => r.set_param(size, 0.9),
        72_000 => r.set_param(pre, 120.0),
        f if (96_000..120_000).contains(&f) => {
            let x = (f - 96_000) as f32 / 24_000.0;
            r.set_param(size, 0.9 - 0.6 * x);
            r.set_param(pre, 120.0 - 100.0 * x);
        }
        _ => {}
    });
    let third = |s: &[f32]| s.windows(4).map(|w| (w[3] - 3.0 * w[2] + 3.0 * w[1] - w[0]).abs()).fold(0.0f32, f32::max);
    let level = out[24_000..].iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let steady = third(&out[24_000..48_000]);
    let moving = third(&out[48_000..]);
    assert!(level > 0.05, "the reverb plays ({level})");
    assert!(moving < 0.01 * level, "third difference {moving:.2e} while moving (steady {steady:.2e}, level {level:.3})");
}

/// The same through a session: half a second in, scene "Far" morphs the
/// delay from 100 ms to 300 ms over one second while a sine plays (the
/// engine calls `set_param` every 32 samples, faster than the tap glides, so
/// it glides and crossfades as it goes). Same step bound as above, and no
/// zeros at all once the first echo is out (the line is full by then).
#[test]
fn a_scene_morph_moves_a_delay_time_without_gaps_or_steps() {
    use mam_core::graph::controls::HostControl;
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "fx", "inserts": [ { "id": "d", "type": "delay", "params": { "time": 100, "feedback": 0, "mix": 1, "highCutHz": 20000 } } ] } ],
        "routes": [ { "from": "in", "to": "fx" } ],
        "scenes": [ { "name": "Far", "transition": "morph", "morphMs": 1000, "values": { "fx/d.time": 300 } } ] }"#,
    );
    let (_engine, mut audio) = Engine::new(s, CompileOptions { sample_rate: SR, max_block: 256, ports: vec![PortBinding::source("in")] }).unwrap();
    let frames = SR as usize * 2;
    let amp = 0.5f32;
    let input = sine(frames, 200.0, amp, SR);
    let mut out = vec![0.0f32; frames];
    let mut right = vec![0.0f32; 256];
    for (n, chunk) in input.chunks(256).enumerate() {
        if n * 256 == 24_064 {
            audio.set_control(HostControl::Scene(1));
        }
        let len = chunk.len();
        audio.process(&[&[chunk, chunk]], &mut [&mut out[n * 256..n * 256 + len], &mut right[..len]], len);
    }
    let after_first_echo = &out[4801..];
    let zeros = longest_zero_run(after_first_echo);
    assert!(zeros <= 1, "a gap of {zeros} exact zeros");
    let bound = largest_step(&input) * (1.0 + 1.0 / 16.0) + 2.0 * amp / 960.0 + 1e-6;
    let worst = largest_step(after_first_echo);
    assert!(worst <= bound, "largest step {worst:.5} above the bound {bound:.5}");
    for i in 80_000..81_000 {
        assert_eq!(out[i], input[i - 14_400], "settled at 300 ms, sample {i}");
    }
}
