//! The effects RFC (RFC-018): its §9 usage examples load and play, and its
//! parameters mean what it says (`resonance` a Q factor, `drive` an amount
//! 0 … 1, `feedback` 0 … 1, `bypass` among the parameters).

use super::support::*;
use mam_core::insert::{note_beats, time_ms};
use mam_core::session::{load_str, ParamValue, Session};

const SR: f32 = 48_000.0;

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Amplitude of the `hz` component of `signal` (least squares over whole cycles).
fn amplitude(signal: &[f32], hz: f64) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for (i, &x) in signal.iter().enumerate() {
        let phase = std::f64::consts::TAU * hz * i as f64 / SR as f64;
        s += x as f64 * phase.sin();
        c += x as f64 * phase.cos();
    }
    2.0 * (s * s + c * c).sqrt() / signal.len() as f64
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

/// One bus `fx` fed by input `in`, with `inserts` (JSON) on it.
fn one_bus(inserts: &str) -> String {
    format!(
        r#"{{ "version": 1, "tempo": 120, "racks": [ {{ "id": "in" }} ],
        "buses": [ {{ "id": "fx", "inserts": [ {{ "id": "x", {inserts} }} ] }} ],
        "routes": [ {{ "from": "in", "to": "fx" }} ] }}"#
    )
}

/// A sine of `hz` at `amp` through `session` for 1.5 s; the gain of the last
/// second (whole cycles for integer Hz; the first half second lets a Q-5
/// resonance, whose time constant is 2Q/ω₀ ≈ 1.6 ms, settle), in dB.
fn gain_db(session: &Session, hz: f64, amp: f32) -> f64 {
    let frames = SR as usize * 3 / 2;
    let out = run(session, &[("in", both(sine(frames, hz as f32, amp, SR)))], frames, 512);
    db(amplitude(&out[0][SR as usize / 2..], hz) / amp as f64)
}

/// ```text
///   §9.1   melody ─┬─▶ master
///                  └─ 0.3 ─▶ [verb: reverb] ─▶ master
///
///   §9.2   drums ─▶ [drums_bus: compressor] ─┬─▶ master
///                                            └─ 0.1 ─▶ [room: reverb] ─▶ master
///          bass ──▶ [bass_bus: distortion ▶ filter] ─▶ master
///          lead ──▶ [lead_bus: delay 8n.] ─┬─▶ master
///                                      ├─ 0.4 ─▶ room
///                                      └─ 0.3 ─▶ [slapback: delay 16n] ─▶ master
/// ```
/// Written as session JSON with the RFC's own parameter names and values
/// (plus `mix: 1` on the send buses, the RFC's default for sends).
#[test]
fn the_rfc_usage_examples_load_without_warnings_and_play_through_every_bus() {
    for name in ["rfc_minimal.json", "rfc_complex.json"] {
        let loaded = load_str(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.warnings.is_empty(), "{name}: {:?}", loaded.warnings);
        let frames = SR as usize * 2;
        let (master, stems, _) = run_full(&loaded.session, &[], frames, 256, false);
        assert!(master.iter().flatten().all(|x| x.is_finite()), "{name}: non-finite output");
        let peak = master.iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(peak > 0.05 && peak < 4.0, "{name}: master peak {peak}");
        for bus in &loaded.session.buses {
            let level = stem(&stems, &bus.id).iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
            assert!(level > 1e-3, "{name}: bus '{}' is silent", bus.id);
        }
    }
}

/// §7 and §9.3: note values resolve as the RFC's table says (the RFC rounds
/// to whole ms: `"8n."` at 140 BPM is 321 ms, `"16n"` 107 ms).
#[test]
fn note_values_resolve_as_the_rfc_tables_say() {
    let ms = |note: &str, bpm: f64| time_ms(-(note_beats(note).unwrap() as f32), bpm);
    assert_eq!(ms("4n", 120.0), 500.0);
    assert_eq!(ms("8n", 120.0), 250.0);
    assert_eq!(ms("8n.", 120.0), 375.0);
    assert_eq!(ms("4t", 120.0).round(), 333.0);
    assert_eq!(ms("8n.", 140.0).round(), 321.0);
    assert_eq!(ms("16n", 140.0).round(), 107.0);
}

/// `resonance` is the Q factor. Textbook second-order responses (the RBJ
/// cookbook's, which the bilinear transform with pre-warping makes exact at
/// the cutoff): low and high pass have |H(fc)| = Q, so Q 5 is
/// 20·log10 5 = +13.98 dB; the band pass (0 dB peak form) has 0 dB at the
/// centre and −3.01 dB at fc·(√(1 + 1/4Q²) ± 1/2Q) = 905 and 1105 Hz; the
/// notch is −∞ at the centre.
///
/// Tolerance 0.05 dB: the amplitude fit over whole cycles is exact to far
/// better than that, the transient is gone after half a second, and the
/// 50 Hz reference is corrected by its own textbook gain (+0.021 dB); what
/// remains is f32 rounding.
#[test]
fn filter_resonance_q5_peaks_by_the_textbook_amount_at_the_cutoff() {
    let q = 5.0f64;
    let filter = |kind: &str| session(&one_bus(&format!(r#""type": "filter", "params": {{ "type": "{kind}", "frequency": 1000, "resonance": {q} }}"#)));
    let lowpass = filter("lowpass");
    let at_fc = gain_db(&lowpass, 1000.0, 0.05);
    let below = gain_db(&lowpass, 50.0, 0.05);
    // Analog low pass at f/fc = 0.05: 1/√((1 − 0.05²)² + (0.05/Q)²).
    let x = 0.05f64;
    let below_textbook = db(1.0 / ((1.0 - x * x).powi(2) + (x / q).powi(2)).sqrt());
    let peak = at_fc - below;
    assert!((peak - (db(q) - below_textbook)).abs() < 0.05, "low pass: fc is {peak:.3} dB above 50 Hz, want {:.3}", db(q) - below_textbook);
    assert!((at_fc - db(q)).abs() < 0.05, "low pass at fc: {at_fc:.3} dB, want {:.3}", db(q));
    let hp = gain_db(&filter("highpass"), 1000.0, 0.05);
    assert!((hp - db(q)).abs() < 0.05, "high pass at fc: {hp:.3} dB, want {:.3}", db(q));
    let bandpass = filter("bandpass");
    let centre = gain_db(&bandpass, 1000.0, 0.5);
    assert!(centre.abs() < 0.05, "band pass centre: {centre:.3} dB");
    for edge in [905.0, 1105.0] {
        let g = gain_db(&bandpass, edge, 0.5);
        assert!((g + 3.01).abs() < 0.1, "band pass at {edge} Hz: {g:.3} dB, want −3.01");
    }
    let notch = gain_db(&filter("notch"), 1000.0, 0.5);
    assert!(notch < -40.0, "notch centre: {notch:.1} dB");
    // The old 0…1 scale refused this; Q outside 0.1 … 20 is refused now.
    assert!(load_str(&one_bus(r#""type": "filter", "params": { "resonance": 25 }"#)).is_err());
}

/// Total harmonic distortion (2nd … 10th) of a 1 kHz sine at −6 dBFS.
fn thd(session: &Session) -> f64 {
    let frames = SR as usize;
    let out = run(session, &[("in", both(sine(frames, 1000.0, 0.5, SR)))], frames, 512);
    let tail = &out[0][SR as usize / 2..];
    let harmonics: f64 = (2..=10).map(|k| amplitude(tail, 1000.0 * k as f64).powi(2)).sum();
    harmonics.sqrt() / amplitude(tail, 1000.0)
}

/// `drive` is the RFC's amount 0 … 1 (36 dB at 1, linear in dB), so 0.3 is
/// 10.8 dB into the shaper: a −6 dBFS sine is well into saturation (THD
/// about 16 %). Under the old meaning (0.3 dB) the soft curve only bent it
/// (about 3 %); that control is now `driveDb`.
#[test]
fn distortion_drive_0_3_is_driven_and_drive_db_is_the_same_control_in_db() {
    let dist = |params: &str| session(&one_bus(&format!(r#""type": "distortion", "params": {{ "type": "soft", "tone": 1, {params} }}"#)));
    let driven = thd(&dist(r#""drive": 0.3"#));
    let old_meaning = thd(&dist(r#""driveDb": 0.3"#));
    assert!(driven > 0.1, "drive 0.3: THD {:.1} %", driven * 100.0);
    assert!(driven > 4.0 * old_meaning, "drive 0.3: THD {:.2} %, 0.3 dB: {:.3} %", driven * 100.0, old_meaning * 100.0);
    // driveDb 10.8 is drive 0.3, sample for sample.
    let frames = 4096;
    let input = both(sine(frames, 1000.0, 0.5, SR));
    let a = run(&dist(r#""drive": 0.3"#), &[("in", input.clone())], frames, 512);
    let b = run(&dist(r#""driveDb": 10.8"#), &[("in", input)], frames, 512);
    assert_eq!(a, b);
    // Both at once is an error; driveDb is range-checked in dB.
    let both_given = load_str(&one_bus(r#""type": "distortion", "params": { "drive": 0.3, "driveDb": 6 }"#)).unwrap_err();
    assert!(both_given.to_string().contains("are the same parameter"), "{both_given}");
    let too_much = load_str(&one_bus(r#""type": "distortion", "params": { "driveDb": 40 }"#)).unwrap_err();
    assert!(too_much.to_string().contains("0..36 dB"), "{too_much}");
}

/// A session saved before the effects RFC gave `drive` in dB: a value above
/// the 0–1 amount but within 0–36 can only mean that, so it loads as
/// `driveDb` with a warning naming the path (and plays the same).
#[test]
fn a_pre_rfc_drive_in_db_loads_as_drive_db_with_a_warning() {
    let legacy = load_str(&one_bus(r#""type": "distortion", "params": { "type": "soft", "drive": 12 }"#)).unwrap();
    let warning = legacy.warnings.iter().find(|w| w.path.ends_with("params.drive")).expect("a warning at the parameter's path");
    assert!(warning.message.contains("driveDb 12 dB"), "{}", warning.message);
    let as_db = session(&one_bus(r#""type": "distortion", "params": { "type": "soft", "driveDb": 12 }"#));
    let frames = 4096;
    let input = both(sine(frames, 1000.0, 0.5, SR));
    assert_eq!(run(&legacy.session, &[("in", input.clone())], frames, 512), run(&as_db, &[("in", input)], frames, 512));
    // Above 36 it is neither: an error.
    assert!(load_str(&one_bus(r#""type": "distortion", "params": { "drive": 40 }"#)).is_err());
}

/// Feedback 1 (the RFC's top) loads clamped to what the delay sustains,
/// with a warning naming the JSON path, and the render stays bounded: each
/// repeat of a burst is at most 0.98 of the last (the feedback high cut has
/// unity gain at DC and less above), so nothing exceeds the burst's peak and
/// the tail dies away.
#[test]
fn delay_feedback_1_loads_with_a_warning_naming_the_path_and_stays_bounded() {
    let json = r#"{ "version": 1, "racks": [ { "id": "in" } ],
        "buses": [ { "id": "dry" },
                   { "id": "fx", "inserts": [ { "id": "d", "type": "delay", "params": { "time": 50, "feedback": 1.0, "mix": 1 } } ] } ],
        "routes": [ { "from": "in", "to": "fx" } ],
        "scenes": [ { "name": "Max", "values": { "fx/d.feedback": 1.0 } } ] }"#;
    let loaded = load_str(json).unwrap();
    let warning = loaded.warnings.iter().find(|w| w.path == "buses[1].inserts[0].params.feedback").unwrap_or_else(|| panic!("{:?}", loaded.warnings));
    assert!(warning.message.contains("clamped to 0.98"), "{warning}");
    assert!(loaded.warnings.iter().any(|w| w.path.starts_with("scenes[0].values") && w.message.contains("plays as 0.98")), "{:?}", loaded.warnings);
    assert_eq!(loaded.session.bus("fx").unwrap().inserts[0].params.get("feedback"), Some(&ParamValue::Number(0.98)));

    let frames = SR as usize * 8;
    let burst: Vec<f32> = sine(frames, 440.0, 0.5, SR).iter().enumerate().map(|(i, &x)| if i < 2400 { x } else { 0.0 }).collect();
    let out = run(&loaded.session, &[("in", both(burst))], frames, 256);
    assert!(out.iter().flatten().all(|x| x.is_finite()));
    let peak = |from: usize, to: usize| out[0][from..to].iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak(0, frames) <= 0.5 + 1e-6, "louder than the burst: {}", peak(0, frames));
    assert!(peak(frames - 48_000, frames) < 0.5 * peak(0, 48_000), "the tail dies away");
}

/// `bypass` and `mix` are the RFC's base parameters of every effect; both
/// load from `params` for the RFC's effect types we build.
#[test]
fn bypass_and_mix_load_from_params_for_every_rfc_effect() {
    for kind in ["delay", "reverb", "distortion", "filter", "compressor", "chorus"] {
        let loaded = load_str(&one_bus(&format!(r#""type": "{kind}", "params": {{ "mix": 0.5, "bypass": true }}"#))).unwrap();
        assert!(loaded.warnings.is_empty(), "{kind}: {:?}", loaded.warnings);
        let insert = &loaded.session.bus("fx").unwrap().inserts[0];
        assert!(insert.bypass, "{kind}: params.bypass");
        assert_eq!(insert.params.get("mix"), Some(&ParamValue::Number(0.5)), "{kind}");
    }
}
