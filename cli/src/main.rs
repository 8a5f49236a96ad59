//! `mam`: renders, validates, describes and benchmarks MAM Session files from the command line.

mod bench;
mod demo;
mod midi_file;
mod render;
mod wav;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mam_core::graph::controls::HostControls;
use mam_core::session::{load_str, LoadSessionError, Loaded, MAX_MACROS};
use mam_core::timeline::LoadTimelineError;

#[derive(Parser)]
#[command(name = "mam", version, about = "MAM Session: render, validate, inspect and benchmark mixing sessions")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the render variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Render one or several sessions to 32-bit float WAV files.
    Render {
        /// Session files; several render at once with --out-dir.
        #[arg(required = true, value_name = "SESSION.json")]
        sessions: Vec<PathBuf>,
        /// Feed a WAV file to a source: --in ID=FILE.wav (repeatable). The
        /// source may be a file source or an input source (standing in for
        /// the plugin's port), not a generator. With several sessions it
        /// binds in every session that has a source ID.
        #[arg(long = "in", value_name = "ID=FILE.wav")]
        inputs: Vec<String>,
        /// The output file (one session).
        #[arg(long, value_name = "OUT.wav")]
        out: Option<PathBuf>,
        /// Write DIR/<session file stem>.wav for every session.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Also write one WAV per bus (post-fader): into DIR with --out;
        /// with --out-dir into DIR/<session stem>/, DIR defaulting to the
        /// --out-dir (give it after the session files when bare).
        #[arg(long, value_name = "DIR", num_args = 0..=1)]
        stems: Option<Option<PathBuf>>,
        /// Worker threads (default: every core). 1 renders one session after
        /// another on one thread; more render sessions side by side and
        /// overlap reading, rendering, writing and loudness analysis; with
        /// fewer sessions than threads, each also runs its independent buses
        /// in parallel on its share (less one core for its loudness).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
        threads: Option<u32>,
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
        /// Play a timeline (scene, push/pop, macro and parameter events) from
        /// the render's first sample: timeline t 0 is output sample 0. It is
        /// checked against every session first; with any error nothing renders.
        #[arg(long, value_name = "FILE.json")]
        timeline: Option<PathBuf>,
        /// Play a Standard MIDI File (format 0 or 1, tempo map honoured)
        /// through the session's controller mappings, as a controller
        /// would: MIDI time 0 is output sample 0. With several sessions it
        /// plays into each.
        #[arg(long, value_name = "FILE.mid")]
        midi: Option<PathBuf>,
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
    #[error("cannot read timeline '{path}': {source}")]
    ReadTimeline { path: PathBuf, source: std::io::Error },
    /// `for_session` names the session it was checked against when several render.
    #[error("timeline '{path}' is not valid{for_session}; nothing was rendered:\n{source}")]
    InvalidTimeline { path: PathBuf, for_session: String, source: LoadTimelineError },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Wav(#[from] wav::WavError),
    #[error(transparent)]
    Midi(#[from] midi_file::MidiFileError),
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
        Command::Render { sessions, inputs, out, out_dir, stems, threads, block, sample_rate, duration, tail, no_latency_trim, scene, macros, timeline, midi } => {
            render_controls(scene, &macros).and_then(|controls| {
                render::run(&render::RenderRequest {
                    sessions: &sessions,
                    bindings: &inputs,
                    out: out.as_deref(),
                    out_dir: out_dir.as_deref(),
                    stems: stems.as_ref().map(Option::as_deref),
                    block: block as usize,
                    sample_rate,
                    duration,
                    tail,
                    trim_latency: !no_latency_trim,
                    controls,
                    timeline: timeline.as_deref(),
                    midi: midi.as_deref(),
                    threads: threads.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), |n| n as usize),
                })
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

pub fn print_warnings(loaded: &Loaded) {
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
