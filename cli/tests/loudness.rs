//! The loudness `mam render` prints agrees with an independent ITU-R BS.1770-4 / EBU R128 measurement of the file it wrote.
//!
//! The reference here shares no code with the CLI's path (the `ebur128`
//! crate behind `LoudnessMeter`): K-weighting biquads with the standard's
//! 48 kHz coefficients, 400 ms blocks every 100 ms, the −70 LUFS absolute
//! and −10 LU relative gates, and true peak by 4× oversampling through a
//! Kaiser-windowed sinc designed below.

use std::path::Path;
use std::process::Command;

/// A 32-bit float WAV as `[channel][frame]`.
fn read_wav(path: &Path) -> (u32, Vec<Vec<f32>>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let samples: Vec<f32> = r.samples::<f32>().map(Result::unwrap).collect();
    let ch = spec.channels as usize;
    (spec.sample_rate, (0..ch).map(|c| samples.iter().skip(c).step_by(ch).copied().collect()).collect())
}

/// A direct-form-I biquad, `a0` = 1.
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    fn run(&self, x: &[f32]) -> Vec<f64> {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        x.iter()
            .map(|&x0| {
                let x0 = x0 as f64;
                let y0 = self.b[0] * x0 + self.b[1] * x1 + self.b[2] * x2 - self.a[0] * y1 - self.a[1] * y2;
                (x2, x1, y2, y1) = (x1, x0, y1, y0);
                y0
            })
            .collect()
    }
}

/// BS.1770-4 table 1 and 2: the pre-filter (high shelf, +4 dB above ~1.5 kHz)
/// and the RLB high-pass, for 48 kHz.
const PRE_FILTER: Biquad = Biquad { b: [1.535_124_859_586_97, -2.691_696_189_406_38, 1.198_392_810_852_85], a: [-1.690_659_293_182_41, 0.732_480_774_215_85] };
const RLB: Biquad = Biquad { b: [1.0, -2.0, 1.0], a: [-1.990_047_454_833_98, 0.990_072_250_366_21] };

/// Integrated loudness in LUFS of stereo (or mono) 48 kHz audio, both
/// channels weighted 1.
fn integrated_lufs(audio: &[Vec<f32>]) -> f64 {
    gated_lufs(audio).1
}

/// `(loudness with the absolute gate only, integrated loudness)` in LUFS.
fn gated_lufs(audio: &[Vec<f32>]) -> (f64, f64) {
    const BLOCK: usize = 19_200; // 400 ms
    const HOP: usize = 4_800; // 100 ms: 75 % overlap
    let weighted: Vec<Vec<f64>> = audio.iter().map(|ch| RLB.run(&PRE_FILTER.run(ch).iter().map(|&s| s as f32).collect::<Vec<_>>())).collect();
    let frames = weighted[0].len();
    // Mean square of each block, summed over channels (z in BS.1770).
    let blocks: Vec<f64> = (0..)
        .map(|j| j * HOP)
        .take_while(|start| start + BLOCK <= frames)
        .map(|start| weighted.iter().map(|ch| ch[start..start + BLOCK].iter().map(|s| s * s).sum::<f64>() / BLOCK as f64).sum())
        .collect();
    let loudness = |z: f64| -0.691 + 10.0 * z.log10();
    let mean_over = |gate: f64| {
        let kept: Vec<f64> = blocks.iter().copied().filter(|&z| loudness(z) > gate).collect();
        kept.iter().sum::<f64>() / kept.len() as f64
    };
    let absolute_only = loudness(mean_over(-70.0));
    (absolute_only, loudness(mean_over(absolute_only - 10.0)))
}

/// Zeroth-order modified Bessel function of the first kind, by its series.
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term) = (1.0, 1.0);
    for k in 1..50 {
        term *= (x / 2.0) / k as f64;
        sum += term * term;
    }
    sum
}

/// Largest magnitude of the band-limited signal through `audio`'s samples,
/// estimated at 4× the rate, over all channels; linear.
fn true_peak(audio: &[Vec<f32>]) -> f64 {
    const FACTOR: usize = 4;
    // Taps on each side, at the input rate: long enough that the passband
    // error is far below the 0.1 dB the test allows.
    const SIDE: isize = 32;
    const BETA: f64 = 10.0;
    let half = SIDE * FACTOR as isize;
    // h[n] = sinc(n / 4) · Kaiser(n): cutoff at the input's Nyquist, and
    // zero at every multiple of 4 but 0, so phase 0 returns the sample itself.
    let h = |n: isize| {
        let t = n as f64 / FACTOR as f64;
        let sinc = if n == 0 { 1.0 } else { (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t) };
        let r = n as f64 / half as f64;
        sinc * bessel_i0(BETA * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(BETA)
    };
    // Phase p in 1..4 interpolates at i + p/4 from x[i - k], k in -SIDE..SIDE.
    let phases: Vec<Vec<f64>> = (1..FACTOR as isize).map(|p| (-SIDE..=SIDE).map(|k| h(k * FACTOR as isize + p)).collect()).collect();
    let mut peak = 0.0f64;
    for ch in audio {
        let n = ch.len() as isize;
        for i in 0..n {
            peak = peak.max((ch[i as usize] as f64).abs());
            for taps in &phases {
                let mut y = 0.0;
                for (j, k) in (-SIDE..=SIDE).enumerate() {
                    let at = i - k;
                    if (0..n).contains(&at) {
                        y += taps[j] * ch[at as usize] as f64;
                    }
                }
                peak = peak.max(y.abs());
            }
        }
    }
    peak
}

/// A figure from the render summary, e.g. `figure(line, "LUFS")`.
fn figure(summary: &str, unit: &str) -> f64 {
    let before = summary.split(unit).next().unwrap_or_else(|| panic!("no {unit} in {summary}"));
    before.split_whitespace().last().unwrap().parse().unwrap_or_else(|_| panic!("no number before {unit} in {summary}"))
}

/// A sung line that starts and stops over a held bass and a quiet bed of
/// noise, with clicks: loud and quiet stretches, so both gates act and the
/// limiter shapes the peaks.
const DYNAMIC_SESSION: &str = r#"{ "version": 1, "sampleRate": 48000,
  "racks": [
    { "id": "voice", "generator": { "type": "voice", "hz": 196, "amp": 0.4, "onS": 1.3, "offS": 2.1 } },
    { "id": "bass", "generator": { "type": "sine", "hz": 55, "amp": 0.05 } },
    { "id": "bed", "generator": { "type": "noise", "amp": 0.003, "seed": 5 } },
    { "id": "click", "generator": { "type": "pulse", "hz": 3, "amp": 0.6 }, "startOffsetFrames": 7000 } ],
  "buses": [
    { "id": "lead", "inserts": [ { "id": "air", "type": "eq" } ] },
    { "id": "master", "inserts": [ { "id": "lim", "type": "limiter", "params": { "ceilingDb": -1, "releaseMs": 80 } } ] } ],
  "routes": [ { "from": "voice", "to": "lead" }, { "from": "bass", "to": "master" },
              { "from": "bed", "to": "master" }, { "from": "click", "to": "master" } ] }"#;

#[test]
fn printed_integrated_loudness_and_true_peak_match_an_independent_bs1770_measurement() {
    let dir = std::env::temp_dir().join(format!("mam-loudness-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let session = dir.join("dynamic.json");
    std::fs::write(&session, DYNAMIC_SESSION).unwrap();
    let out = dir.join("out.wav");
    // 12 s: the CLI drains its loudness ring (2.7 s at 48 kHz) several times.
    let r = Command::new(env!("CARGO_BIN_EXE_mam"))
        .args(["render", session.to_str().unwrap(), "--out", out.to_str().unwrap(), "--duration", "12", "--block", "1000"])
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&r.stderr).into_owned();
    assert!(r.status.success(), "{summary}");
    let (printed_lufs, printed_dbtp) = (figure(&summary, "LUFS"), figure(&summary, "dBTP"));

    let (rate, audio) = read_wav(&out);
    assert_eq!(rate, 48_000, "the reference filters are the standard's 48 kHz coefficients");
    let (absolute_only, lufs) = gated_lufs(&audio);
    let dbtp = 20.0 * true_peak(&audio).log10();
    println!("mam: {printed_lufs:.2} LUFS, {printed_dbtp:.2} dBTP; reference: {lufs:.3} LUFS ({absolute_only:.3} with the absolute gate only), {dbtp:.3} dBTP");
    // Real dynamics: the relative gate drops the quiet stretches, so the
    // comparison covers it.
    assert!(lufs - absolute_only > 0.5, "the relative gate acts: {absolute_only} → {lufs}");
    assert!(dbtp > -1.5, "the limiter works near its −1 dBFS ceiling: {dbtp}");
    // The summary prints two decimals (±0.005); the rest is the difference
    // between two correct implementations, which BS.1770 bounds well inside
    // 0.1 LU for the loudness, and the oversampling filters' passband
    // ripple bounds inside 0.1 dB for the true peak.
    assert!((printed_lufs - lufs).abs() <= 0.1, "integrated: mam {printed_lufs} vs reference {lufs}");
    assert!((printed_dbtp - dbtp).abs() <= 0.1, "true peak: mam {printed_dbtp} vs reference {dbtp}");
}

/// The reference itself, against the standard's own calibration: a 1 kHz
/// sine at −20 dBFS in both channels reads −20 LUFS (BS.1770 puts a 0 dBFS
/// 1 kHz sine in one channel at −3.01 LUFS), and a sine at a quarter of the
/// rate sampled off its crests (at ±45°) has a true peak 3 dB above its
/// largest sample.
#[test]
fn the_reference_meter_reads_the_calibration_signals() {
    let sine: Vec<f32> = (0..48_000 * 5).map(|i| 0.1 * (std::f64::consts::TAU * 1000.0 * i as f64 / 48_000.0).sin() as f32).collect();
    let lufs = integrated_lufs(&[sine.clone(), sine]);
    assert!((lufs + 20.0).abs() < 0.02, "{lufs}");
    // Faded in and out over 10 ms, so the cut ends do not ring.
    let fade = |i: usize| (i.min(4799 - i) as f64 / 480.0).min(1.0);
    let quarter: Vec<f32> =
        (0..4800).map(|i| (fade(i) * (std::f64::consts::FRAC_PI_2 * i as f64 + std::f64::consts::FRAC_PI_4).sin()) as f32).collect();
    let sample_peak = quarter.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!((sample_peak - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-3, "samples sit at ±45°: {sample_peak}");
    let tp = true_peak(&[quarter]);
    assert!((tp - 1.0).abs() < 0.01, "{tp}");
}
