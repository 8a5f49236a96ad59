//! Offline measurements used by `mam demo` and the tests (not realtime code).

use realfft::RealFftPlanner;

/// Mean power of `signal` between `lo_hz` and `hi_hz`, by Welch's method:
/// 8192-point Hann-windowed FFTs, half overlapped, averaged. The scale is
/// arbitrary but fixed, so ratios of these figures are band level changes.
/// Returns `None` if the signal is shorter than one 8192-sample frame.
pub fn band_power(signal: &[f32], sample_rate: f32, lo_hz: f32, hi_hz: f32) -> Option<f64> {
    const N: usize = 8192;
    if signal.len() < N {
        return None;
    }
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N);
    let window: Vec<f64> = (0..N).map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / N as f64).cos()).collect();
    let mut frame = vec![0.0f64; N];
    let mut spectrum = fft.make_output_vec();
    let mut total = vec![0.0f64; N / 2 + 1];
    let mut frames = 0;
    let mut start = 0;
    while start + N <= signal.len() {
        for ((f, &s), w) in frame.iter_mut().zip(&signal[start..start + N]).zip(&window) {
            *f = s as f64 * w;
        }
        fft.process(&mut frame, &mut spectrum).expect("buffers sized by the plan");
        for (t, c) in total.iter_mut().zip(&spectrum) {
            *t += c.norm_sqr();
        }
        frames += 1;
        start += N / 2;
    }
    let bin_hz = sample_rate / N as f32;
    let a = ((lo_hz / bin_hz).ceil() as usize).min(N / 2);
    let b = ((hi_hz / bin_hz).floor() as usize).clamp(a, N / 2);
    Some(total[a..=b].iter().sum::<f64>() / ((b - a + 1) * frames) as f64)
}

/// `10·log10(a / b)`: the level change from power `b` to power `a`.
pub fn ratio_db(a: f64, b: f64) -> f64 {
    10.0 * (a / b).log10()
}

/// Power spectrum of `signal` (Welch: 16384-point 4-term Blackman–Harris
/// windows, half overlapped, averaged), one value per bin of
/// `sample_rate / 16384` Hz. The window's side lobes sit below −92 dB, so
/// components 60 dB and more apart can be told apart a few bins away.
/// Returns an empty vector if the signal is shorter than one frame.
pub fn power_spectrum(signal: &[f32]) -> Vec<f64> {
    const N: usize = 16_384;
    if signal.len() < N {
        return Vec::new();
    }
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N);
    let window: Vec<f64> = (0..N)
        .map(|i| {
            let x = std::f64::consts::TAU * i as f64 / N as f64;
            0.35875 - 0.48829 * x.cos() + 0.14128 * (2.0 * x).cos() - 0.01168 * (3.0 * x).cos()
        })
        .collect();
    let mut frame = vec![0.0f64; N];
    let mut spectrum = fft.make_output_vec();
    let mut total = vec![0.0f64; N / 2 + 1];
    let mut start = 0;
    while start + N <= signal.len() {
        for ((f, &s), w) in frame.iter_mut().zip(&signal[start..start + N]).zip(&window) {
            *f = s as f64 * w;
        }
        fft.process(&mut frame, &mut spectrum).expect("buffers sized by the plan");
        for (t, c) in total.iter_mut().zip(&spectrum) {
            *t += c.norm_sqr();
        }
        start += N / 2;
    }
    total
}
