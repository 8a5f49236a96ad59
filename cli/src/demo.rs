//! `mam demo`: renders the built-in demo session so a new user hears the spectral ducker.

use std::path::Path;
use std::time::Instant;

use mam_core::analysis::{band_power, ratio_db};
use mam_core::insert::registry;
use mam_core::reference::demo_session_with;
use mam_core::render::{render, RenderOptions, Rendered};
use mam_core::session::{ParamValue, RackKind, Session};

use crate::{wav, CliError};

const SECONDS: f64 = 10.0;

/// The bands the demo reports, with what lives in them.
const BANDS: [(&str, f32, f32); 3] = [
    ("voice band 400–1500 Hz (pad tones at 540 and 1080 Hz)", 400.0, 1500.0),
    ("bass 60–150 Hz (pad tone at 110 Hz)", 60.0, 150.0),
    ("air 5–12 kHz (noise)", 5000.0, 12_000.0),
];

/// The ducker's algorithm, as its `algorithm` parameter names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// Short-time Fourier transform: fine frequency resolution, latency of its FFT size.
    Stft,
    /// Minimum-phase filter bank: zero latency, one gain per band.
    Filterbank,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Stft => "stft",
            Algorithm::Filterbank => "filterbank",
        }
    }
}

pub fn run(out: &Path, algorithm: Algorithm) -> Result<(), CliError> {
    let session = demo_session_with(algorithm.name()).map_err(|e| CliError::Usage(format!("--algorithm {}: the demo session does not load: {e}", algorithm.name())))?;
    let sr = session.sample_rate as f32;
    let frames = (SECONDS * sr as f64) as usize;
    let options = RenderOptions { block: 512, frames, trim_latency: true, stems: true, controls: Default::default(), timeline: None };
    let started = Instant::now();
    let ducked = render(&session, &[], &options, &mut |_, _| {})?;
    let mut bypassed_session = session.clone();
    set_ducker_bypass(&mut bypassed_session);
    let reference = render(&bypassed_session, &[], &options, &mut |_, _| {})?;
    let elapsed = started.elapsed().as_secs_f64();
    wav::write_f32(out, &ducked.master, session.sample_rate)?;

    let (on_s, off_s, start_s) = voice_timing(&session);
    println!("MAM Session demo: {SECONDS} s at {} Hz, rendered twice (ducker on and bypassed) in {elapsed:.2} s", session.sample_rate);
    println!("  sources: three pad tones (110, 540, 1080 Hz), a 2 Hz kick, noise \"air\" → bus \"music\"");
    println!("           a voice-like key (180 Hz, vowel formants) sounding {on_s} s on / {off_s} s off from {start_s} s → bus \"vocal\"");
    let ducker_latency = ducked.info.buses.iter().find(|b| b.id == "music").map_or(0, |b| b.chain_latency);
    println!("  music:   spectral_ducker keyed by the vocal bus: depth 12 dB, threshold −55 dB, ratio 4, attack 15 ms, release 250 ms");
    println!("           algorithm {}; ducker latency {ducker_latency} samples ({:.1} ms)", describe(&session, algorithm), ducker_latency as f32 * 1000.0 / sr);
    println!("  master:  limiter, ceiling −1 dBFS; total latency {} samples ({:.1} ms), trimmed", ducked.info.latency, ducked.info.latency as f32 * 1000.0 / sr);
    println!();
    // While the voice sings (skipping 100 ms of attack) and while it rests
    // (skipping 500 ms of release), compare the music bus with the ducker
    // against the same bus with the ducker bypassed.
    let singing = windows(start_s + 0.1, start_s + on_s, on_s + off_s, SECONDS, sr);
    let resting = windows(start_s + on_s + 0.5, start_s + on_s + off_s, on_s + off_s, SECONDS, sr);
    println!("  music bus level change caused by the ducker:      while the voice sings   while it rests");
    for (name, lo, hi) in BANDS {
        let change = |ranges: &[(usize, usize)]| {
            let a = gather(&ducked, ranges);
            let b = gather(&reference, ranges);
            match (band_power(&a, sr, lo, hi), band_power(&b, sr, lo, hi)) {
                (Some(a), Some(b)) => format!("{:+6.1} dB", ratio_db(a, b)),
                _ => "   n/a".to_string(),
            }
        };
        println!("    {name:<52} {:>10}   {:>14}", change(&singing), change(&resting));
    }
    println!();
    let loud = ducked.loudness;
    println!(
        "wrote {} ({SECONDS} s, integrated {:.1} LUFS, true peak {:.1} dBTP). Listen for the pads dipping only where the voice sings.",
        out.display(),
        loud.integrated_lufs,
        20.0 * loud.true_peak.max(1e-10).log10()
    );
    Ok(())
}

/// The algorithm with what sets its resolution: the FFT size or the number of bands.
fn describe(session: &Session, algorithm: Algorithm) -> String {
    let (param, unit) = match algorithm {
        Algorithm::Stft => ("fftSize", "-point FFT"),
        Algorithm::Filterbank => ("bands", " bands"),
    };
    let ducker = session.buses.iter().flat_map(|b| &b.inserts).find(|i| i.kind == "spectral_ducker");
    let set = ducker.and_then(|d| match d.params.get(param) {
        Some(ParamValue::Number(x)) => Some(*x as f32),
        _ => None,
    });
    let default = || {
        let ty = registry::lookup("spectral_ducker")?;
        Some(ty.params[ty.param_index(param)?].default_value())
    };
    match set.or_else(default) {
        Some(n) => format!("{} ({n}{unit})", algorithm.name()),
        None => algorithm.name().to_string(),
    }
}

fn set_ducker_bypass(session: &mut Session) {
    for bus in &mut session.buses {
        for insert in &mut bus.inserts {
            if insert.kind == "spectral_ducker" {
                insert.bypass = true;
            }
        }
    }
}

/// (on seconds, off seconds, first onset seconds) of the demo's voice.
fn voice_timing(session: &Session) -> (f64, f64, f64) {
    let voice = session.rack("voice").expect("the demo has a voice");
    match voice.kind {
        RackKind::Generator(mam_core::session::Generator::Voice { on_s, off_s, .. }) => {
            (on_s, off_s, voice.start_offset_frames as f64 / session.sample_rate as f64)
        }
        _ => unreachable!("the demo voice is a voice generator"),
    }
}

/// Sample ranges `[from, to)` seconds, repeating every `period` until `end`.
fn windows(from: f64, to: f64, period: f64, end: f64, sr: f32) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut k = 0.0;
    while to + k <= end {
        out.push((((from + k) * sr as f64) as usize, ((to + k) * sr as f64) as usize));
        k += period;
    }
    out
}

/// The music stem's samples (both channels, one after the other) in `ranges`.
fn gather(rendered: &Rendered, ranges: &[(usize, usize)]) -> Vec<f32> {
    let music = &rendered.stems.iter().find(|(id, _)| id == "music").expect("the demo has a music bus").1;
    music.iter().flat_map(|ch| ranges.iter().flat_map(move |&(a, b)| ch[a..b].iter().copied())).collect()
}
