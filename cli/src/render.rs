//! `mam render`: sessions streamed from WAV inputs to WAV outputs in chunks,
//! several sessions at once on a pool of worker threads.
//!
//! One render is a pipeline of three stages around the engine: a reader
//! thread fills input chunks, the engine thread runs them, a writer thread
//! writes the output and stems, and the master's loudness is analysed on a
//! fourth thread. Buffers go round in a fixed set, so memory does not grow
//! with the length of the render; every stage sees the chunks in order, so
//! the output is the same with any number of threads. With more threads
//! than sessions, each session also runs its independent buses in parallel
//! on its share of the threads (bit-identical too).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mam_core::graph::controls::HostControls;
use mam_core::mapping::{Action, Target};
use mam_core::meters::LoudnessReading;
use mam_core::render::{RenderChunk, RenderOptions, Renderer, MIN_PARALLEL_BLOCK};
use mam_core::session::{RackKind, Session};
use mam_core::timeline::{self, Timeline};

use crate::midi_file::{MidiEvent, MidiFile};
use crate::wav::{WavError, WavSink, WavSource};
use crate::{load_session, print_warnings, BindError, CliError};

/// Engine frames per chunk, about: rounded down to a whole number of process
/// calls, so the engine sees the same calls as an in-memory render.
const CHUNK_FRAMES: usize = 65_536;

/// Input and output buffers in flight per render: one being filled, one
/// being processed, one queued between.
const BUFFERS: usize = 3;

/// What `mam render` was asked to do.
pub struct RenderRequest<'a> {
    pub sessions: &'a [PathBuf],
    pub bindings: &'a [String],
    /// The output file (one session only).
    pub out: Option<&'a Path>,
    /// One `<session stem>.wav` per session in this folder.
    pub out_dir: Option<&'a Path>,
    /// `None`: no stems; `Some(None)`: stems beside the outputs (with
    /// `out_dir` only); `Some(Some(dir))`: stems under `dir`.
    pub stems: Option<Option<&'a Path>>,
    pub block: usize,
    pub sample_rate: Option<u32>,
    pub duration: Option<f64>,
    pub tail: f64,
    pub trim_latency: bool,
    pub controls: HostControls,
    /// A timeline file to play from the first engine frame.
    pub timeline: Option<&'a Path>,
    /// A MIDI file to play through the mappings from the first engine frame.
    pub midi: Option<&'a Path>,
    /// Worker threads; 1 renders everything on this thread, one step after
    /// another. Sessions render side by side on them; with fewer sessions
    /// than threads, each runs its independent buses on its share.
    pub threads: usize,
}

/// One session ready to render: loaded, bound, its inputs open.
struct Job {
    session_path: PathBuf,
    session: Session,
    inputs: Vec<Input>,
    out: PathBuf,
    /// Folder for `<bus>.wav` stems.
    stems: Option<PathBuf>,
    options: RenderOptions,
    /// The `--midi` file's messages at this session's rate (empty without one).
    midi: Arc<[MidiEvent]>,
}

/// A WAV bound to a source.
struct Input {
    rack_id: String,
    path: PathBuf,
    /// Engine frame where the file's first frame plays (file sources only,
    /// see `Rack::bound_offset_frames`).
    offset: usize,
    source: WavSource,
}

/// What one render reports.
struct Summary {
    frames: usize,
    sample_rate: u32,
    latency: usize,
    /// Threads that ran the session's buses (1: one after another).
    bus_threads: usize,
    elapsed_s: f64,
    loudness: LoudnessReading,
}

/// Renders every session asked for; returns the first error (in session
/// order) after the others have finished.
pub fn run(request: &RenderRequest) -> Result<(), CliError> {
    let jobs = prepare(request)?;
    let threads = request.threads.max(1);
    let workers = threads.min(jobs.len());
    let pipelined = threads > 1;
    // Threads no session takes run buses; never more in all than asked for.
    // Each pipelined session also keeps a core busy with its loudness
    // analysis (about as costly as the engine), so that core is not given
    // to buses: on 2 cores one session renders its buses serially, which
    // measured faster than waking a second bus worker every block.
    let per_session = threads / jobs.len().max(1);
    let bus_threads = if pipelined { per_session.saturating_sub(1).max(1) } else { per_session };

    let progress = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix} [{bar:40}] {percent:>3}%").expect("valid template").progress_chars("=> ");
    let bars: Vec<ProgressBar> = jobs
        .iter()
        .map(|job| {
            let name = job.session_path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            progress.add(ProgressBar::new(0).with_style(style.clone()).with_prefix(name))
        })
        .collect();

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Job>>> = jobs.into_iter().map(|j| std::sync::Mutex::new(Some(j))).collect();
    let mut results: Vec<(usize, PathBuf, PathBuf, Result<Summary, CliError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(slot) = slots.get(k) else { break };
                        let job = slot.lock().expect("no worker panics holding a job").take().expect("each job is taken once");
                        let (session_path, out) = (job.session_path.clone(), job.out.clone());
                        let result = render_job(job, pipelined, bus_threads, &bars[k]);
                        bars[k].finish_and_clear();
                        done.push((k, session_path, out, result));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("render workers do not panic")).collect()
    });
    let wall_s = started.elapsed().as_secs_f64();
    results.sort_by_key(|(k, ..)| *k);

    let many = results.len() > 1;
    let mut audio_s = 0.0;
    let mut first_error = None;
    for (_, session_path, out, result) in results {
        match result {
            Ok(s) => {
                let seconds = s.frames as f64 / s.sample_rate as f64;
                audio_s += seconds;
                let source = if many { format!("{}: ", session_path.display()) } else { String::new() };
                eprintln!(
                    "{source}rendered {seconds:.3} s ({} frames, {} Hz) to {} in {:.3} s: {:.0}x realtime{}; latency {} samples ({}); integrated {:.2} LUFS, true peak {:.2} dBTP",
                    s.frames,
                    s.sample_rate,
                    out.display(),
                    s.elapsed_s,
                    seconds / s.elapsed_s.max(1e-9),
                    if s.bus_threads > 1 { format!(", buses on {} threads", s.bus_threads) } else { String::new() },
                    s.latency,
                    if request.trim_latency { "trimmed" } else { "kept" },
                    s.loudness.integrated_lufs,
                    20.0 * s.loudness.true_peak.max(1e-10).log10(),
                );
            }
            Err(e) => {
                if many {
                    eprintln!("mam: error: {}: {e}", session_path.display());
                }
                first_error.get_or_insert(e);
            }
        }
    }
    if many && first_error.is_none() {
        eprintln!(
            "rendered {audio_s:.3} s of audio from {} sessions in {wall_s:.3} s on {threads} thread(s): {:.0}x realtime overall",
            slots.len(),
            audio_s / wall_s.max(1e-9),
        );
    }
    match first_error {
        Some(_) if many => Err(CliError::Usage("not every session rendered (errors above)".into())),
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Loads every session, binds and opens its inputs and works out its
/// length, so a mistake in any of them stops the run before anything renders.
fn prepare(request: &RenderRequest) -> Result<Vec<Job>, CliError> {
    let many = request.sessions.len() > 1;
    match (request.out, request.out_dir) {
        (Some(_), Some(_)) => return Err(CliError::Usage("give --out or --out-dir, not both".into())),
        (None, None) => return Err(CliError::Usage("give --out OUT.wav (one session) or --out-dir DIR".into())),
        (Some(_), None) if many => return Err(CliError::Usage("several sessions render with --out-dir DIR, one file each".into())),
        (Some(_), None) if matches!(request.stems, Some(None)) => return Err(CliError::Usage("--stems needs a folder with --out: --stems DIR".into())),
        _ => {}
    }
    for d in [request.duration, Some(request.tail)].into_iter().flatten() {
        if !(d.is_finite() && d >= 0.0) {
            return Err(CliError::Usage(format!("durations must be 0 or more seconds, got {d}")));
        }
    }
    let mut sessions = Vec::new();
    for path in request.sessions {
        let loaded = load_session(path)?;
        print_warnings(&loaded);
        let mut session = loaded.session;
        if request.controls.scene > session.scenes.len() {
            let which = if many { format!("session '{}'", path.display()) } else { "the session".into() };
            return Err(CliError::Usage(format!("--scene {}: {which} has {} scenes", request.controls.scene, session.scenes.len())));
        }
        if let Some(sr) = request.sample_rate {
            session.sample_rate = sr;
        }
        sessions.push(session);
    }
    let timelines = load_timelines(request, &sessions)?;
    let midi = request.midi.map(MidiFile::read).transpose()?;
    if let Some(file) = &midi {
        warn_unplayable_actions(request, &sessions);
        if file.num_events() == 0 {
            eprintln!("mam: warning: MIDI file '{}' holds no channel messages", request.midi.expect("read above").display());
        }
    }
    let bound = bind(&sessions, request.bindings)?;
    if let Some(dir) = request.out_dir {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Write { path: dir.into(), source })?;
    }

    let mut jobs = Vec::new();
    let mut outs: Vec<PathBuf> = Vec::new();
    for (((path, session), files), timeline) in request.sessions.iter().zip(sessions).zip(bound).zip(timelines) {
        let (out, stems) = match (request.out, request.out_dir) {
            (Some(out), _) => (out.to_path_buf(), request.stems.map(|dir| dir.expect("checked above").to_path_buf())),
            (None, Some(dir)) => {
                let stem = path.file_stem().unwrap_or_default();
                (dir.join(stem).with_extension("wav"), request.stems.map(|base| base.unwrap_or(dir).join(stem)))
            }
            (None, None) => unreachable!("checked above"),
        };
        if outs.contains(&out) {
            return Err(CliError::Usage(format!("two sessions would both write '{}'; give them different file names", out.display())));
        }
        outs.push(out.clone());
        let inputs = open_inputs(&session, path, files)?;
        let sr = session.sample_rate as f64;
        let length = match request.duration {
            Some(seconds) => (seconds * sr).round() as usize,
            None if inputs.is_empty() => {
                eprintln!("mam: {}no input files; rendering 10 s (use --duration to choose)", if many { format!("{}: ", path.display()) } else { String::new() });
                (10.0 * sr) as usize
            }
            None => inputs.iter().map(|i| i.source.frames() + i.offset).max().unwrap_or(0),
        };
        let frames = length + (request.tail * sr).round() as usize;
        let options = RenderOptions { block: request.block, frames, trim_latency: request.trim_latency, stems: stems.is_some(), controls: request.controls, timeline };
        let midi: Arc<[MidiEvent]> = midi.as_ref().map_or_else(|| Arc::from([]), |file| file.at_rate(session.sample_rate).into());
        let late = midi.iter().filter(|&&(frame, _)| frame >= frames as u64).count();
        if late > 0 {
            eprintln!(
                "mam: warning: {}{late} of {} MIDI messages come at or after the render's end and play into nothing (use --duration)",
                if many { format!("{}: ", path.display()) } else { String::new() },
                midi.len()
            );
        }
        jobs.push(Job { session_path: path.clone(), session, inputs, out, stems, options, midi });
    }
    Ok(jobs)
}

/// The `--timeline` file checked against each session (at the rate it
/// renders at), one per session; all `None` without one. Every error of
/// every session is an error of the run, so nothing renders.
fn load_timelines(request: &RenderRequest, sessions: &[Session]) -> Result<Vec<Option<Arc<Timeline>>>, CliError> {
    let Some(path) = request.timeline else { return Ok(vec![None; sessions.len()]) };
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadTimeline { path: path.into(), source })?;
    let many = sessions.len() > 1;
    let mut timelines = Vec::new();
    for (session, session_path) in sessions.iter().zip(request.sessions) {
        let for_session = if many { format!(" for session '{}'", session_path.display()) } else { String::new() };
        let loaded = timeline::load_str(&text, session).map_err(|source| CliError::InvalidTimeline { path: path.into(), for_session: for_session.clone(), source })?;
        for w in &loaded.warnings {
            eprintln!("mam: warning: timeline '{}'{for_session}: {w}", path.display());
        }
        timelines.push(Some(Arc::new(loaded.timeline)));
    }
    Ok(timelines)
}

/// Warns once per session that maps a `record` or `play` action: offline
/// there is no recorder and no playback switch, so they do nothing.
fn warn_unplayable_actions(request: &RenderRequest, sessions: &[Session]) {
    let many = sessions.len() > 1;
    for (session, path) in sessions.iter().zip(request.sessions) {
        let at: Vec<String> = session
            .mappings
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m.target, Target::Action(Action::Record | Action::Play)))
            .map(|(i, m)| format!("mappings[{i}] ({})", match &m.target {
                Target::Action(a) => a.name(),
                _ => unreachable!("filtered above"),
            }))
            .collect();
        if !at.is_empty() {
            let which = if many { format!("session '{}'", path.display()) } else { "the session".into() };
            eprintln!("mam: warning: {which} maps the timeline's record/play, ignored offline: {}", at.join(", "));
        }
    }
}

/// The files each session reads, by source id: `--in` bindings first (to
/// file sources, or to input sources in place of the plugin's ports), then
/// sources with a `path` (relative to the session file).
///
/// With several sessions, `--in ID=FILE` binds in every session that has a
/// source `ID`; naming a source no session has is an error.
fn bind(sessions: &[Session], bindings: &[String]) -> Result<Vec<Vec<(String, PathBuf)>>, CliError> {
    let mut files: Vec<Vec<(String, PathBuf)>> = vec![Vec::new(); sessions.len()];
    for binding in bindings {
        let Some((id, file)) = binding.split_once('=') else {
            return Err(BindError::Syntax { binding: binding.clone() }.into());
        };
        let ids = |keep: fn(&RackKind) -> bool| {
            let mut ids: Vec<&str> = sessions.iter().flat_map(|s| s.racks.iter().filter(|r| keep(&r.kind)).map(|r| r.id.as_str())).collect();
            // Several sessions may share ids; list each once, in first-seen order.
            let mut seen = std::collections::HashSet::new();
            ids.retain(|id| seen.insert(*id));
            ids.join(", ")
        };
        let mut taken = false;
        for (session, files) in sessions.iter().zip(&mut files) {
            match session.rack(id).map(|r| &r.kind) {
                None => continue,
                Some(RackKind::Generator(_)) => {
                    return Err(BindError::Generator { id: id.into(), takers: ids(|k| !matches!(k, RackKind::Generator(_))) }.into())
                }
                Some(_) => {}
            }
            if files.iter().any(|(bound, _)| bound == id) {
                return Err(BindError::Twice { id: id.into() }.into());
            }
            files.push((id.to_string(), PathBuf::from(file)));
            taken = true;
        }
        if !taken {
            return Err(BindError::UnknownSource { id: id.into(), known: ids(|_| true) }.into());
        }
    }
    Ok(files)
}

/// Opens the bound files and every `path` source not bound with `--in`.
fn open_inputs(session: &Session, session_path: &Path, mut files: Vec<(String, PathBuf)>) -> Result<Vec<Input>, CliError> {
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
            let source = WavSource::open(&path, session.sample_rate, &rack_id)?;
            let offset = session.rack(&rack_id).map_or(0, |r| r.bound_offset_frames() as usize);
            Ok(Input { rack_id, path, offset, source })
        })
        .collect()
}

/// Input audio for one chunk of engine frames: `[port][channel][frame]`.
type InputChunk = Vec<Vec<Vec<f32>>>;

/// The reading side of a render: fills chunks of engine frames from the
/// inputs, each file placed at its offset and silent around it.
struct Reader {
    inputs: Vec<Input>,
    /// Engine frames handed out so far.
    at: usize,
    total: usize,
    chunk: usize,
}

impl Reader {
    /// Fills `buf` with the next chunk; returns its length (0 at the end).
    fn fill(&mut self, buf: &mut InputChunk) -> Result<usize, CliError> {
        let n = self.chunk.min(self.total - self.at);
        buf.resize_with(self.inputs.len(), Vec::new);
        for (input, port) in self.inputs.iter_mut().zip(buf.iter_mut()) {
            port.resize_with(input.source.channels(), Vec::new);
            for ch in port.iter_mut() {
                ch.clear();
                ch.resize(n, 0.0);
            }
            // The file plays over engine frames offset..offset + file frames;
            // chunks come in order, so the file is read straight through.
            let from = input.offset.max(self.at);
            let to = (input.offset + input.source.frames()).min(self.at + n);
            if from < to {
                let mut slices: Vec<&mut [f32]> = port.iter_mut().map(|c| &mut c[from - self.at..to - self.at]).collect();
                input.source.read(&mut slices).map_err(|e| WavError::Read { id: input.rack_id.clone(), path: input.path.clone(), source: e.into() })?;
            }
        }
        self.at += n;
        Ok(n)
    }
}

/// The writing side of a render: the output file and one per stem.
struct Writer {
    master: WavSink,
    stems: Vec<WavSink>,
}

impl Writer {
    fn create(job: &Job, bus_ids: &[String], channels: usize) -> Result<Self, CliError> {
        let rate = job.session.sample_rate;
        let master = WavSink::create(&job.out, channels, rate)?;
        let mut stems = Vec::new();
        if let Some(dir) = &job.stems {
            std::fs::create_dir_all(dir).map_err(|source| CliError::Write { path: dir.clone(), source })?;
            for id in bus_ids {
                stems.push(WavSink::create(&dir.join(format!("{id}.wav")), channels, rate)?);
            }
        }
        Ok(Self { master, stems })
    }

    fn write(&mut self, chunk: &RenderChunk) -> Result<(), CliError> {
        self.master.write(&chunk.master)?;
        for (sink, audio) in self.stems.iter_mut().zip(&chunk.stems) {
            sink.write(audio)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), CliError> {
        self.master.finish()?;
        for sink in self.stems {
            sink.finish()?;
        }
        Ok(())
    }
}

/// Renders one session, on this thread alone or as a pipeline, its
/// independent buses on up to `bus_threads` threads.
fn render_job(job: Job, pipelined: bool, bus_threads: usize, bar: &ProgressBar) -> Result<Summary, CliError> {
    let port_ids: Vec<&str> = job.inputs.iter().map(|i| i.rack_id.as_str()).collect();
    let mut renderer = Renderer::new(&job.session, &port_ids, &job.options)?;
    let bus_threads = if bus_threads > 1 && renderer.step() >= MIN_PARALLEL_BLOCK { renderer.set_threads(bus_threads) } else { 1 };
    for w in &renderer.info().warnings {
        eprintln!("mam: warning: {w}");
    }
    renderer.set_midi(job.midi.clone());
    let writer = Writer::create(&job, renderer.bus_ids(), renderer.channels())?;
    let total = renderer.total_frames();
    let step = renderer.step();
    let chunk = step * (CHUNK_FRAMES / step).max(1);
    bar.set_length(total as u64);
    let latency = renderer.info().latency;
    let (frames, sample_rate) = (job.options.frames, job.session.sample_rate);
    let reader = Reader { inputs: job.inputs, at: 0, total, chunk };

    let started = Instant::now();
    let loudness = if pipelined { render_pipelined(renderer, reader, writer, bar)? } else { render_serial(renderer, reader, writer, bar)? };
    let elapsed_s = started.elapsed().as_secs_f64();
    Ok(Summary { frames, sample_rate, latency, bus_threads, elapsed_s, loudness })
}

/// Reads, renders and writes one chunk after another on this thread.
fn render_serial(mut renderer: Renderer, mut reader: Reader, mut writer: Writer, bar: &ProgressBar) -> Result<LoudnessReading, CliError> {
    let mut input = InputChunk::new();
    let mut output = RenderChunk::default();
    loop {
        let n = reader.fill(&mut input)?;
        if n == 0 {
            break;
        }
        let slices = port_slices(&input);
        renderer.process(&port_refs(&slices), n, &mut output);
        writer.write(&output)?;
        bar.set_position(renderer.done_frames() as u64);
    }
    writer.finish()?;
    Ok(renderer.finish().expect("the loudness is analysed inline"))
}

/// The same render with reading, writing and loudness analysis each on a
/// thread of its own, chunks passed along bounded by a fixed set of buffers.
fn render_pipelined(mut renderer: Renderer, mut reader: Reader, mut writer: Writer, bar: &ProgressBar) -> Result<LoudnessReading, CliError> {
    let loudness_worker = renderer.loudness_beside();
    // Full buffers go forward, empty ones come back; BUFFERS of each exist.
    let (full_in_tx, full_in_rx) = mpsc::channel::<Result<(InputChunk, usize), CliError>>();
    let (free_in_tx, free_in_rx) = mpsc::channel::<InputChunk>();
    let (full_out_tx, full_out_rx) = mpsc::channel::<RenderChunk>();
    let (free_out_tx, free_out_rx) = mpsc::channel::<RenderChunk>();
    for _ in 0..BUFFERS {
        free_in_tx.send(InputChunk::new()).expect("receiver alive");
        free_out_tx.send(RenderChunk::default()).expect("receiver alive");
    }
    std::thread::scope(|scope| {
        let named = |name: &str| std::thread::Builder::new().name(format!("mam-{name}"));
        let spawn_failed = "the system can start a thread";
        let loudness = named("loudness").spawn_scoped(scope, move || loudness_worker.run()).expect(spawn_failed);
        named("reader").spawn_scoped(scope, move || {
            // Ends when the engine side hangs up (done, or failed).
            while let Ok(mut buf) = free_in_rx.recv() {
                match reader.fill(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if full_in_tx.send(Ok((buf, n))).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = full_in_tx.send(Err(e));
                        break;
                    }
                }
            }
        })
        .expect(spawn_failed);
        let written = named("writer").spawn_scoped(scope, move || -> Result<(), CliError> {
            while let Ok(chunk) = full_out_rx.recv() {
                writer.write(&chunk)?;
                // The engine side may have finished already; the buffer is then dropped.
                let _ = free_out_tx.send(chunk);
            }
            writer.finish()
        })
        .expect(spawn_failed);

        let rendered = (|| -> Result<(), CliError> {
            // The reader hangs up after the last chunk.
            while let Ok(input) = full_in_rx.recv() {
                let (input, n) = input?;
                let Ok(mut output) = free_out_rx.recv() else { break };
                let slices = port_slices(&input);
                renderer.process(&port_refs(&slices), n, &mut output);
                drop(slices);
                let _ = free_in_tx.send(input);
                if full_out_tx.send(output).is_err() {
                    break;
                }
                bar.set_position(renderer.done_frames() as u64);
            }
            Ok(())
        })();
        let complete = renderer.done_frames() == renderer.total_frames();
        let _ = renderer.finish();
        // Hang up, so the reader and writer stop.
        drop((full_in_rx, free_in_tx, full_out_tx, free_out_rx));
        let written = written.join().expect("the writer does not panic");
        let loudness = loudness.join().expect("the loudness analysis does not panic");
        rendered?;
        written?;
        debug_assert!(complete, "a render that failed returned its error above");
        Ok(loudness)
    })
}

/// `[port][channel][frame]` borrowed channel by channel…
fn port_slices(input: &InputChunk) -> Vec<Vec<&[f32]>> {
    input.iter().map(|port| port.iter().map(Vec::as_slice).collect()).collect()
}

/// …and port by port, as the engine takes it.
fn port_refs<'a>(slices: &'a [Vec<&'a [f32]>]) -> Vec<&'a [&'a [f32]]> {
    slices.iter().map(Vec::as_slice).collect()
}
