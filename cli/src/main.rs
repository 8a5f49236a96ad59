//! `mam`: renders, validates, describes and benchmarks MAM Session files from the command line.

mod bench;
mod demo;
mod wav;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use mam_core::render::{render, RackAudio, RenderOptions};
use mam_core::graph::controls::HostControls;
use mam_core::session::{load_str, LoadSessionError, Loaded, RackKind, Session, MAX_MACROS};

#[derive(Parser)]
#[command(name = "mam", version, about = "MAM Session: render, validate, inspect and benchmark mixing sessions")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a session to a 32-bit float WAV file.
    Render {
        session: PathBuf,
        /// Feed a WAV file to a source: --in ID=FILE.wav (repeatable). The
        /// source may be a file source or an input source (standing in for
        /// the plugin's port), not a generator.
        #[arg(long = "in", value_name = "ID=FILE.wav")]
        inputs: Vec<String>,
        #[arg(long, value_name = "OUT.wav")]
        out: PathBuf,
        /// Also write one WAV per bus (post-fader) into this folder.
        #[arg(long, value_name = "DIR")]
        stems: Option<PathBuf>,
        /// Frames per process call.
        #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65536))]
        block: u32,
        /// Render at this rate instead of the session's sampleRate.
        #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(8000..=384000))]
        sample_rate: Option<u32>,
        /// Length in seconds (default: the longest input, or 10 s with none).
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
        /// Extra seconds after the end for reverb and delay tails.
        #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
        tail: f64,
        /// Keep the engine's latency at the start instead of trimming it.
        #[arg(long)]
        no_latency_trim: bool,
        /// Render with scene N recalled (0 = the session's own values).
        #[arg(long, value_name = "N", default_value_t = 0)]
        scene: usize,
        /// Hold macro N at a value from 0 to 1: --macro N=VALUE (repeatable).
        #[arg(long = "macro", value_name = "N=VALUE")]
        macros: Vec<String>,
    },
    /// Check a session: exit 0 with warnings if it loads, 1 with every error if not.
    Validate { session: PathBuf },
    /// Show processing order, routes and latency per bus.
    Info {
        session: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Render the built-in demo (generated music ducked by a generated voice) and report what the ducker did.
    Demo {
        #[arg(long, value_name = "OUT.wav", default_value = "demo.wav")]
        out: PathBuf,
        /// The ducker's algorithm: stft (2048-point FFT, 2048 samples of
        /// latency) or filterbank (zero latency).
        #[arg(long, value_enum, default_value_t = demo::Algorithm::Stft)]
        algorithm: demo::Algorithm,
    },
    /// Measure realtime factor and per-block times at 64, 128 and 512 frames.
    Bench {
        /// Session to measure (default: the built-in reference session).
        session: Option<PathBuf>,
        /// Seconds of audio to render per block size.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long)]
        json: bool,
    },
}

/// A failure the user can act on; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read session '{path}': {source}")]
    ReadSession { path: PathBuf, source: std::io::Error },
    #[error("session '{path}' is not valid:\n{source}")]
    InvalidSession { path: PathBuf, source: LoadSessionError },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Wav(#[from] wav::WavError),
    #[error("cannot compile session: {0}")]
    Compile(#[from] mam_core::graph::compile::CompileError),
    #[error("cannot write '{path}': {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Why an `--in ID=FILE.wav` binding was refused.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("--in '{binding}': expected ID=FILE.wav")]
    Syntax { binding: String },
    #[error("--in {id}=…: the session has no source '{id}' (sources: {known})")]
    UnknownSource { id: String, known: String },
    #[error("--in {id}=…: source '{id}' is a generator, which makes its own signal and takes no file; bind an input or file source instead (those in this session: {takers})")]
    Generator { id: String, takers: String },
    #[error("--in {id}=…: source '{id}' is bound twice")]
    Twice { id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render { session, inputs, out, stems, block, sample_rate, duration, tail, no_latency_trim, scene, macros } => {
            let controls = render_controls(scene, &macros);
            controls.and_then(|controls| {
                cmd_render(&session, &inputs, &out, stems.as_deref(), block as usize, sample_rate, duration, tail, !no_latency_trim, controls)
            })
        }
        Command::Validate { session } => return cmd_validate(&session),
        Command::Info { session, json } => cmd_info(&session, json),
        Command::Bench { session, seconds, json } => bench::run(session.as_deref(), seconds, json),
        Command::Demo { out, algorithm } => demo::run(&out, algorithm),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mam: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads and loads a session file, printing its warnings to stderr.
pub fn load_session(path: &Path) -> Result<Loaded, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadSession { path: path.into(), source })?;
    let loaded = load_str(&text).map_err(|source| CliError::InvalidSession { path: path.into(), source })?;
    Ok(loaded)
}

fn print_warnings(loaded: &Loaded) {
    for w in &loaded.warnings {
        eprintln!("mam: warning: {w}");
    }
}

fn cmd_validate(path: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mam: error: cannot read session '{}': {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    match load_str(&text) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("warning: {w}");
            }
            println!("{}: valid ({} sources, {} buses, {} warnings)", path.display(), loaded.session.racks.len(), loaded.session.buses.len(), loaded.warnings.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            for w in &e.warnings {
                println!("warning: {w}");
            }
            for err in &e.errors {
                println!("error: {err}");
            }
            println!("{}: invalid ({} errors)", path.display(), e.errors.len());
            ExitCode::FAILURE
        }
    }
}

/// The scene and macro positions `--scene` and `--macro N=VALUE` ask for.
fn render_controls(scene: usize, macros: &[String]) -> Result<HostControls, CliError> {
    let mut controls = HostControls { scene, ..Default::default() };
    for m in macros {
        let parsed = m.split_once('=').and_then(|(n, v)| Some((n.trim().parse::<usize>().ok()?, v.trim().parse::<f32>().ok()?)));
        match parsed {
            Some((n, v)) if (1..=MAX_MACROS).contains(&n) && (0.0..=1.0).contains(&v) => controls.macros[n - 1] = v,
            _ => return Err(CliError::Usage(format!("--macro {m}: expected N=VALUE with N in 1..{MAX_MACROS} and VALUE in 0..1"))),
        }
    }
    Ok(controls)
}

#[allow(clippy::too_many_arguments)]
fn cmd_render(
    session_path: &Path,
    bindings: &[String],
    out: &Path,
    stems_dir: Option<&Path>,
    block: usize,
    sample_rate: Option<u32>,
    duration: Option<f64>,
    tail: f64,
    trim_latency: bool,
    controls: HostControls,
) -> Result<(), CliError> {
    let loaded = load_session(session_path)?;
    print_warnings(&loaded);
    let mut session = loaded.session;
    if controls.scene > session.scenes.len() {
        return Err(CliError::Usage(format!("--scene {}: the session has {} scenes", controls.scene, session.scenes.len())));
    }
    if let Some(sr) = sample_rate {
        session.sample_rate = sr;
    }
    let inputs = gather_inputs(&session, session_path, bindings)?;
    for d in [duration, Some(tail)].into_iter().flatten() {
        if !(d.is_finite() && d >= 0.0) {
            return Err(CliError::Usage(format!("durations must be 0 or more seconds, got {d}")));
        }
    }
    let sr = session.sample_rate as f64;
    let length = match duration {
        Some(seconds) => (seconds * sr).round() as usize,
        None if inputs.is_empty() => {
            eprintln!("mam: no input files; rendering 10 s (use --duration to choose)");
            (10.0 * sr) as usize
        }
        None => inputs
            .iter()
            .map(|i| i.channels[0].len() + session.rack(&i.rack_id).map_or(0, |r| r.bound_offset_frames() as usize))
            .max()
            .unwrap_or(0),
    };
    let frames = length + (tail * sr).round() as usize;

    let bar = indicatif::ProgressBar::with_draw_target(Some(frames as u64), indicatif::ProgressDrawTarget::stderr());
    let started = Instant::now();
    let options = RenderOptions { block, frames, trim_latency, stems: stems_dir.is_some(), controls };
    let rendered = render(&session, &inputs, &options, &mut |done, _| bar.set_position(done as u64))?;
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    for w in &rendered.info.warnings {
        eprintln!("mam: warning: {w}");
    }
    wav::write_f32(out, &rendered.master, session.sample_rate)?;
    if let Some(dir) = stems_dir {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Write { path: dir.into(), source })?;
        for (id, audio) in &rendered.stems {
            wav::write_f32(&dir.join(format!("{id}.wav")), audio, session.sample_rate)?;
        }
    }
    let seconds = frames as f64 / sr;
    let latency = rendered.info.latency;
    let loud = rendered.loudness;
    eprintln!(
        "rendered {seconds:.3} s ({frames} frames, {} Hz) to {} in {elapsed:.3} s: {:.0}x realtime; latency {latency} samples ({}); integrated {:.2} LUFS, true peak {:.2} dBTP",
        session.sample_rate,
        out.display(),
        seconds / elapsed.max(1e-9),
        if trim_latency { "trimmed" } else { "kept" },
        loud.integrated_lufs,
        20.0 * loud.true_peak.max(1e-10).log10(),
    );
    Ok(())
}

/// Reads every WAV a render needs: `--in` bindings first (to file sources,
/// or to input sources in place of the plugin's ports), then sources with a
/// `path` (relative to the session file).
fn gather_inputs(session: &Session, session_path: &Path, bindings: &[String]) -> Result<Vec<RackAudio>, CliError> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for binding in bindings {
        let Some((id, file)) = binding.split_once('=') else {
            return Err(BindError::Syntax { binding: binding.clone() }.into());
        };
        let ids = |keep: fn(&RackKind) -> bool| session.racks.iter().filter(|r| keep(&r.kind)).map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ");
        match session.rack(id).map(|r| &r.kind) {
            None => return Err(BindError::UnknownSource { id: id.into(), known: ids(|_| true) }.into()),
            Some(RackKind::Generator(_)) => {
                return Err(BindError::Generator { id: id.into(), takers: ids(|k| !matches!(k, RackKind::Generator(_))) }.into())
            }
            Some(_) => {}
        }
        if files.iter().any(|(bound, _)| bound == id) {
            return Err(BindError::Twice { id: id.into() }.into());
        }
        files.push((id.to_string(), PathBuf::from(file)));
    }
    let base = session_path.parent().unwrap_or(Path::new("."));
    for rack in &session.racks {
        if let RackKind::File(path) = &rack.kind {
            if !files.iter().any(|(id, _)| id == &rack.id) {
                files.push((rack.id.clone(), base.join(path)));
            }
        }
    }
    files
        .into_iter()
        .map(|(rack_id, path)| {
            let channels = wav::read(&path, session.sample_rate, &rack_id)?;
            Ok(RackAudio { rack_id, channels })
        })
        .collect()
}

fn cmd_info(path: &Path, json: bool) -> Result<(), CliError> {
    let loaded = load_session(path)?;
    let session = &loaded.session;
    let options = mam_core::graph::compile::CompileOptions { sample_rate: session.sample_rate as f32, max_block: 512, ports: Vec::new() };
    let compiled = mam_core::graph::compile::compile(session, &options, &mut |_| Default::default())?;
    let info = &compiled.info;
    if json {
        let buses: Vec<serde_json::Value> = info
            .buses
            .iter()
            .map(|b| {
                let bus = session.bus(&b.id).expect("compiled buses come from the session");
                serde_json::json!({
                    "id": b.id, "order": b.order, "latencySamples": b.output_latency,
                    "inputLatencySamples": b.input_latency, "chainLatencySamples": b.chain_latency,
                    "route": bus.route, "inserts": bus.inserts.iter().map(|i| &i.id).collect::<Vec<_>>(),
                })
            })
            .collect();
        let routes: Vec<serde_json::Value> =
            session.routes.iter().map(|r| serde_json::json!({ "from": r.from, "to": r.to, "gain": r.gain.linear() })).collect();
        let out = serde_json::json!({
            "sampleRate": session.sample_rate, "channels": session.channels,
            "latencySamples": info.latency, "buses": buses, "routes": routes,
            "warnings": loaded.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON value"));
        return Ok(());
    }
    print_warnings(&loaded);
    println!("{}: {} Hz, {} channel(s), {} sources, {} buses", path.display(), session.sample_rate, session.channels, session.racks.len(), session.buses.len());
    println!("latency: {} samples ({:.2} ms)", info.latency, info.latency as f64 * 1000.0 / session.sample_rate as f64);
    println!("\nprocessing order (latency in samples: input alignment + inserts = output):");
    for b in &info.buses {
        let bus = session.bus(&b.id).expect("compiled buses come from the session");
        let dest = bus.route.as_deref().unwrap_or("(main output)");
        let inserts: Vec<String> = bus.inserts.iter().map(|i| format!("{}:{}", i.id, i.kind)).collect();
        println!(
            "  {:>2}. {:<12} {:>5} + {:>5} = {:>5}  → {dest}{}",
            b.order + 1,
            b.id,
            b.input_latency,
            b.chain_latency,
            b.output_latency,
            if inserts.is_empty() { String::new() } else { format!("  [{}]", inserts.join(", ")) }
        );
        for s in &bus.sends {
            println!("        send → {} ({:.1} dB, {})", s.to, s.level.db(), s.tap.name());
        }
    }
    println!("\nroutes:");
    for r in &session.routes {
        println!("  {} → {} ({:.1} dB)", r.from, r.to, r.gain.db());
    }
    Ok(())
}
