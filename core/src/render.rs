//! Offline rendering through the realtime processor: what `mam render` does, minus file I/O.
//!
//! [`Renderer`] streams: it takes input a chunk at a time and hands back the
//! latency-trimmed output of that chunk, so memory does not grow with the
//! length of a render. [`render`] runs it over audio held in memory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{AudioProcessor, Engine};
use crate::graph::compile::{CompileError, CompileInfo, CompileOptions, PortBinding};
use crate::graph::controls::{HostControl, HostControls};
use crate::mapping::ControllerInput;
use crate::meters::LoudnessReading;
use crate::session::Session;
use crate::timeline::Timeline;
use crate::transport::Transport;

/// Audio for one rack, `[channel][frame]` (1 or 2 channels), starting at the
/// rack's own time 0 (its `startOffsetFrames` is applied by [`render`]).
#[derive(Clone, Debug)]
pub struct RackAudio {
    pub rack_id: String,
    pub channels: Vec<Vec<f32>>,
}

#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Frames per process call (also the schedule's maximum block).
    pub block: usize,
    /// Timeline length in frames, tail included.
    pub frames: usize,
    /// Drop the first `latency` output frames (and run that much longer), so
    /// output frame n lines up with input frame n, like a DAW bounce.
    pub trim_latency: bool,
    /// Also capture each bus's post-fader output.
    pub stems: bool,
    /// Scene, morph and macro positions held for the whole render (what
    /// the plugin's parameters would be set to).
    pub controls: HostControls,
    /// A timeline played from the render's first engine frame (timeline t 0
    /// = frame 0, before any latency trim), on the renderer's transport.
    pub timeline: Option<Arc<Timeline>>,
}

/// Rendered audio, `[channel][frame]`.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub master: Vec<Vec<f32>>,
    /// `(bus id, audio)` in processing order, each aligned by its own output
    /// latency when trimming.
    pub stems: Vec<(String, Vec<Vec<f32>>)>,
    pub info: CompileInfo,
    pub loudness: LoudnessReading,
}

/// Output of one [`Renderer::process`] call, already trimmed: only frames
/// that belong to the output file, in order. Reused from call to call (the
/// renderer clears it), so a streaming render allocates once.
#[derive(Clone, Debug, Default)]
pub struct RenderChunk {
    /// `[channel][frame]`, the session's channel count.
    pub master: Vec<Vec<f32>>,
    /// `[bus][channel][frame]`, buses in processing order (empty without stems).
    pub stems: Vec<Vec<Vec<f32>>>,
}

impl RenderChunk {
    /// Frames of master output this chunk holds.
    pub fn frames(&self) -> usize {
        self.master.first().map_or(0, Vec::len)
    }
}

/// A streaming offline render: the realtime processor driven in process
/// calls of a fixed size, with the latency trimmed off every output stream
/// and the master's loudness measured as it goes.
///
/// The engine plays to a transport that rolls from frame 0 at the session's
/// `tempo` and `timeSignature` (bar 1 at frame 0), so quantized scene
/// recalls land where they would in a host playing from its start.
///
/// The timeline has [`Self::total_frames`] engine frames (the output length
/// plus the latency when trimming). Feed them in order, any number per
/// [`Self::process`] call; for output that is bit-identical to [`render`],
/// make every call a multiple of [`Self::step`] frames (except the last), so
/// the engine sees the same process calls.
pub struct Renderer {
    audio: AudioProcessor,
    loudness: LoudnessSide,
    info: CompileInfo,
    bus_ids: Vec<String>,
    channels: usize,
    /// Frames per process call.
    step: usize,
    /// Output length in frames.
    frames: usize,
    /// Engine frames to run: `frames` plus the latency when trimming.
    total: usize,
    /// Engine frames run so far.
    done: usize,
    /// Engine frames dropped from the start of the master.
    master_skip: usize,
    /// Engine frames dropped from the start of each stem (empty without stems).
    stem_skip: Vec<usize>,
    /// One process call of master output, `[channel][frame]`, `step` long.
    scratch: Vec<Vec<f32>>,
    /// One process call of every bus's output, `[bus][channel][frame]`,
    /// `step` long, buses in processing order (empty without stems). Filled
    /// slice by slice: the engine splits a call at control steps and scene
    /// starts, and a bus's own buffer holds only the last slice.
    bus_scratch: Vec<Vec<Vec<f32>>>,
    /// The transport the engine plays to: from frame 0 at the session's
    /// `tempo` and `timeSignature`, never stopping.
    sample_rate: f64,
    tempo: f64,
    time_signature: (u32, u32),
    /// MIDI messages played through the session's mappings, `(engine frame,
    /// bytes)` sorted by frame (empty: none).
    midi: Arc<[(u64, [u8; 3])]>,
    /// Index of the first message of `midi` not yet applied.
    midi_next: usize,
    /// The workers that run independent buses at the same time (see
    /// [`Self::set_threads`]); `None`: every bus on the calling thread.
    pool: Option<rayon::ThreadPool>,
}

/// Where the master's loudness is analysed.
enum LoudnessSide {
    /// In the render loop, draining the ring when it is half full.
    Inline(Box<Engine>),
    /// On another thread ([`LoudnessWorker`]); the render waits for room in
    /// the ring rather than let the audio side drop frames.
    Beside { shared: Arc<LoudnessShared>, capacity: usize },
}

/// What the render loop and a [`LoudnessWorker`] share.
struct LoudnessShared {
    /// Frames analysed so far.
    drained: AtomicU64,
    /// Set when the render has pushed its last frame.
    finished: AtomicBool,
}

/// The loudness analysis of a [`Renderer`], moved off the render loop with
/// [`Renderer::loudness_beside`] to run on a thread of its own.
pub struct LoudnessWorker {
    engine: Box<Engine>,
    shared: Arc<LoudnessShared>,
}

/// Shortest process call, in frames, for which running buses in parallel
/// ([`Renderer::set_threads`]) pays: below it, waking the workers for every
/// level can cost more than the buses of a level take.
pub const MIN_PARALLEL_BLOCK: usize = 256;

/// Sets flush-to-zero and denormals-are-zero on a bus worker for its whole
/// life, as the engine does on its own thread for each process call: a bus
/// must compute the same bits on whichever thread it runs.
fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(deprecated)]
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        // SAFETY: sets FTZ (bit 15) and DAZ (bit 6) of MXCSR, valid on every
        // x86_64 CPU; only this worker thread's floating-point mode changes.
        #[allow(deprecated)]
        unsafe {
            _mm_setcsr(_mm_getcsr() | 0x8040)
        };
    }
}

/// How long a side waits before looking again: a render loop for room in the
/// loudness ring, a [`LoudnessWorker`] for frames to analyse.
const POLL: Duration = Duration::from_micros(100);

impl Renderer {
    /// Compiles `session` with the racks `port_ids` bound to input ports, in
    /// that order (a file rack, or an `input` rack standing in for the host's
    /// port), and applies the held controls.
    ///
    /// # Errors
    /// If the session does not compile, or a port names a generator or an
    /// unknown rack.
    pub fn new(session: &Session, port_ids: &[&str], options: &RenderOptions) -> Result<Self, CompileError> {
        let block = options.block.max(1);
        let compile_options = CompileOptions {
            sample_rate: session.sample_rate as f32,
            max_block: block,
            ports: port_ids.iter().map(|&id| PortBinding::source(id)).collect(),
        };
        let (mut engine, mut audio) = Engine::with_timeline(session.clone(), compile_options, options.timeline.clone())?;
        // No one reads CPU figures of an offline render: no clock reads.
        audio.set_telemetry(false);
        // The loudness ring must take a whole process call: a longer one is split.
        let step = block.min(engine.loudness_mut().capacity_frames() / 2).max(1);
        let c = &options.controls;
        let mut controls = vec![HostControl::MorphA(c.morph_a), HostControl::MorphB(c.morph_b), HostControl::Morph(c.morph), HostControl::Scene(c.scene)];
        controls.extend(c.macros.iter().enumerate().map(|(i, &x)| HostControl::Macro(i, x)));
        controls.extend(c.ducker_depth_db.iter().enumerate().map(|(i, &x)| HostControl::DuckerDepthDb(i, x)));
        controls.extend(c.ducker_mix.iter().enumerate().map(|(i, &x)| HostControl::DuckerMix(i, x)));
        for control in controls {
            audio.set_control(control);
        }
        let info = engine.info().clone();
        let latency = if options.trim_latency { info.latency } else { 0 };
        let stem_skip = if options.stems {
            info.buses.iter().map(|b| if options.trim_latency { b.output_latency } else { 0 }).collect()
        } else {
            Vec::new()
        };
        let channels = session.channels;
        let info_buses = info.buses.len();
        Ok(Self {
            audio,
            loudness: LoudnessSide::Inline(Box::new(engine)),
            bus_ids: info.buses.iter().map(|b| b.id.clone()).collect(),
            info,
            channels,
            step,
            frames: options.frames,
            total: options.frames + latency,
            done: 0,
            master_skip: latency,
            stem_skip,
            scratch: vec![vec![0.0; step]; channels],
            bus_scratch: if options.stems { vec![vec![vec![0.0; step]; channels]; info_buses] } else { Vec::new() },
            sample_rate: session.sample_rate as f64,
            tempo: session.tempo,
            time_signature: session.time_signature,
            midi: Arc::new([]),
            midi_next: 0,
            pool: None,
        })
    }

    /// Runs the buses that do not depend on each other (those of one
    /// dependency level) at the same time on a pool of `threads` workers,
    /// made here once for the whole render; the thread calling
    /// [`Self::process`] waits for them. The output is bit-identical to a
    /// render on one thread: each bus does the same arithmetic on the same
    /// inputs, only independent buses overlap.
    ///
    /// Worth it for process calls ([`Self::step`]) of at least
    /// [`MIN_PARALLEL_BLOCK`] frames; in shorter ones, handing each level to
    /// the workers can cost more than it saves.
    ///
    /// Returns how many threads will run buses: at most as many as the
    /// widest level has buses, and 1 (no pool) when `threads` is 1, when no
    /// two buses are independent, or when the system cannot start a thread.
    pub fn set_threads(&mut self, threads: usize) -> usize {
        let width = self.audio.schedule().parallel_width();
        self.pool = None;
        let threads = threads.min(width);
        let pool = if threads > 1 {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("mam-bus-{i}"))
                .start_handler(|_| flush_denormals())
                .build()
                .ok()
        } else {
            None
        };
        self.audio.schedule().run_buses_in_parallel(pool.is_some());
        self.pool = pool;
        if self.pool.is_some() { threads } else { 1 }
    }

    /// Plays `midi` — raw MIDI messages at engine frames (frame 0 = the
    /// render's first engine frame, before any latency trim), sorted by
    /// frame — through the session's controller mappings, each applied from
    /// its frame on ([`AudioProcessor::controller`]). Messages before
    /// [`Self::done_frames`] are skipped.
    ///
    /// The renderer sets its transport once per process call of
    /// [`Self::step`] frames and applies messages between the slices it
    /// splits the call into at their frames, as a plugin applies the events
    /// of a host block: the output is what the plugin plays receiving the
    /// same messages at the same samples in blocks of that size.
    pub fn set_midi(&mut self, midi: Arc<[(u64, [u8; 3])]>) {
        let done = self.done as u64;
        self.midi_next = midi.partition_point(|&(frame, _)| frame < done);
        self.midi = midi;
    }

    /// Applies a host control (a scene recall, push or pop, a macro, …) at
    /// engine frame [`Self::done_frames`], as a host would between two
    /// blocks: a quantized scene recall waits for its boundary on the
    /// renderer's transport.
    pub fn set_control(&mut self, control: HostControl) {
        self.audio.set_control(control);
    }

    /// The processor the render drives, for what [`Self::set_control`] does
    /// not cover (a recall with another transition, say).
    pub fn audio_mut(&mut self) -> &mut AudioProcessor {
        &mut self.audio
    }

    pub fn info(&self) -> &CompileInfo {
        &self.info
    }

    /// Frames per process call; feed multiples of it for a render
    /// bit-identical to [`render`].
    pub fn step(&self) -> usize {
        self.step
    }

    /// Engine frames the render runs: the output length plus the trimmed latency.
    pub fn total_frames(&self) -> usize {
        self.total
    }

    /// Engine frames run so far.
    pub fn done_frames(&self) -> usize {
        self.done
    }

    /// Bus ids in processing order: the stems of every [`RenderChunk`], if any.
    pub fn bus_ids(&self) -> &[String] {
        &self.bus_ids
    }

    /// Output channels of the master and of every stem.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Moves the loudness analysis to a [`LoudnessWorker`], to be run on
    /// another thread while this renders; [`Self::finish`] then returns no
    /// reading (the worker does). Call before the first [`Self::process`].
    ///
    /// # Panics
    /// If called twice.
    pub fn loudness_beside(&mut self) -> LoudnessWorker {
        let LoudnessSide::Inline(engine) = &mut self.loudness else {
            panic!("the loudness analysis already runs beside the render");
        };
        let capacity = engine.loudness_mut().capacity_frames();
        let shared = Arc::new(LoudnessShared { drained: AtomicU64::new(0), finished: AtomicBool::new(false) });
        let beside = LoudnessSide::Beside { shared: shared.clone(), capacity };
        let LoudnessSide::Inline(engine) = std::mem::replace(&mut self.loudness, beside) else {
            unreachable!("matched Inline above");
        };
        LoudnessWorker { engine, shared }
    }

    /// Runs the next `len` engine frames (at most those left) and puts the
    /// output frames they yield into `out` (cleared first): master and stems
    /// with their latency dropped, the last call padding any stream still
    /// short of the output length with silence.
    ///
    /// `inputs[port][channel][frame]`, at least `len` frames each: the ports'
    /// audio at engine frames `done_frames()..done_frames() + len`, start
    /// offsets already applied.
    pub fn process(&mut self, inputs: &[&[&[f32]]], len: usize, out: &mut RenderChunk) {
        match self.pool.take() {
            // On a worker, so that the engine's process calls run their
            // buses on the pool (the worker takes part).
            Some(pool) => {
                pool.install(|| self.process_here(inputs, len, out));
                self.pool = Some(pool);
            }
            None => self.process_here(inputs, len, out),
        }
    }

    /// [`Self::process`] on the calling thread.
    fn process_here(&mut self, inputs: &[&[&[f32]]], len: usize, out: &mut RenderChunk) {
        let len = len.min(self.total - self.done);
        out.master.resize_with(self.channels, Vec::new);
        out.stems.resize_with(self.stem_skip.len(), Vec::new);
        for ch in &mut out.master {
            ch.clear();
        }
        for stem in &mut out.stems {
            stem.resize_with(self.channels, Vec::new);
            for ch in stem.iter_mut() {
                ch.clear();
            }
        }
        let mut at = 0;
        while at < len {
            let n = self.step.min(len - at);
            self.wait_for_loudness_room(n);
            self.audio.set_transport(&Transport::rolling(self.done as u64, self.sample_rate, self.tempo, self.time_signature));
            // The call is split at MIDI messages (the transport stays the
            // call's, as a plugin's stays the host block's).
            let mut from = 0;
            while from < n {
                // Everything due at or before this frame applies first.
                let now = (self.done + from) as u64;
                while let Some(&(_, data)) = self.midi.get(self.midi_next).filter(|&&(frame, _)| frame <= now) {
                    self.audio.controller(ControllerInput::Midi(data));
                    self.midi_next += 1;
                }
                let until = self.midi.get(self.midi_next).map_or(n, |&(frame, _)| ((frame - self.done as u64) as usize).min(n));
                let m = until - from;
                let port_slices: Vec<Vec<&[f32]>> =
                    inputs.iter().map(|p| p.iter().map(|c| &c[at + from..at + from + m]).collect()).collect();
                let port_refs: Vec<&[&[f32]]> = port_slices.iter().map(Vec::as_slice).collect();
                let mut outs: Vec<&mut [f32]> = self.scratch.iter_mut().map(|c| &mut c[from..from + m]).collect();
                let bus_scratch = &mut self.bus_scratch;
                self.audio.process_observed(&port_refs, &mut outs, m, &mut |schedule, slice| {
                    let to = from + slice.start..from + slice.end;
                    for (bus, (_, buf, _)) in bus_scratch.iter_mut().zip(schedule.bus_outputs()) {
                        for (ch, dst) in bus.iter_mut().enumerate() {
                            dst[to.clone()].copy_from_slice(&buf.channel(ch)[..slice.len()]);
                        }
                    }
                });
                from = until;
            }
            let kept = self.kept(self.master_skip, n);
            for (dst, src) in out.master.iter_mut().zip(&self.scratch) {
                dst.extend_from_slice(&src[kept.clone()]);
            }
            for ((stem, &skip), bus) in out.stems.iter_mut().zip(&self.stem_skip).zip(&self.bus_scratch) {
                let kept = self.kept(skip, n);
                for (dst, src) in stem.iter_mut().zip(bus) {
                    dst.extend_from_slice(&src[kept.clone()]);
                }
            }
            if let LoudnessSide::Inline(engine) = &mut self.loudness {
                // Drain only when the ring is half full: analysis costs per
                // frame either way, but fewer, larger drains cost less
                // overhead, and no short-term reading is computed until the end.
                let loudness = engine.loudness_mut();
                if loudness.queued_frames() + self.step > loudness.capacity_frames() / 2 {
                    loudness.drain();
                }
            }
            self.done += n;
            at += n;
        }
        if self.done == self.total {
            // Only a stream that skips more than the master could end short.
            let (master_skip, total, frames) = (self.master_skip, self.total, self.frames);
            let short = |skip: usize| frames.saturating_sub(total.saturating_sub(skip));
            for ch in &mut out.master {
                ch.resize(ch.len() + short(master_skip), 0.0);
            }
            for (stem, &skip) in out.stems.iter_mut().zip(&self.stem_skip) {
                for ch in stem.iter_mut() {
                    ch.resize(ch.len() + short(skip), 0.0);
                }
            }
        }
    }

    /// The part of the next `n` engine frames that a stream dropping its
    /// first `skip` frames keeps: from `skip`, and no further than the
    /// output length.
    fn kept(&self, skip: usize, n: usize) -> std::ops::Range<usize> {
        let start = skip.saturating_sub(self.done).min(n);
        let end = (skip + self.frames).saturating_sub(self.done).min(n).max(start);
        start..end
    }

    /// With the analysis beside the render, waits until the loudness ring
    /// has room for `n` more frames, so the audio side never drops any.
    fn wait_for_loudness_room(&self, n: usize) {
        if let LoudnessSide::Beside { shared, capacity } = &self.loudness {
            // A worker that is gone (dropped, or panicked) drains nothing:
            // then the audio side drops frames rather than this wait forever.
            while self.done + n > shared.drained.load(Ordering::Acquire) as usize + capacity && Arc::strong_count(shared) > 1 {
                std::thread::park_timeout(POLL);
            }
        }
    }

    /// Ends the render: the loudness reading of every frame run, or `None`
    /// if the analysis runs beside ([`LoudnessWorker::run`] returns it).
    pub fn finish(self) -> Option<LoudnessReading> {
        match self.loudness {
            LoudnessSide::Inline(mut engine) => {
                let loudness = engine.update_loudness();
                debug_assert_eq!(loudness.dropped_frames, 0, "the render drains before the ring fills");
                Some(loudness)
            }
            LoudnessSide::Beside { shared, .. } => {
                shared.finished.store(true, Ordering::Release);
                None
            }
        }
    }
}

impl LoudnessWorker {
    /// Analyses the master as the render queues it, until the render has
    /// finished (or was dropped) and everything queued is analysed; returns
    /// the reading.
    pub fn run(mut self) -> LoudnessReading {
        loop {
            // Read the flag before draining: frames pushed before it was set
            // are then in the ring for this drain or the next.
            let finished = self.shared.finished.load(Ordering::Acquire) || Arc::strong_count(&self.shared) == 1;
            let drained = self.engine.loudness_mut().drain();
            self.shared.drained.fetch_add(drained as u64, Ordering::Release);
            if drained == 0 {
                if finished {
                    break;
                }
                std::thread::park_timeout(POLL);
            }
        }
        let loudness = self.engine.update_loudness();
        debug_assert_eq!(loudness.dropped_frames, 0, "the render waits for room in the ring");
        loudness
    }
}

/// Renders `session` with `inputs` bound to racks by id: a file rack, or an
/// `input` rack standing in for the host's port. `progress(done, total)` is
/// called after every block.
///
/// Loudness is analysed as the render goes, without dropping a frame, and
/// read once at the end.
///
/// # Errors
/// If the session does not compile, or an input names a generator or an
/// unknown rack.
pub fn render(
    session: &Session,
    inputs: &[RackAudio],
    options: &RenderOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Rendered, CompileError> {
    render_with_threads(session, inputs, options, 1, progress)
}

/// [`render`], with independent buses running at the same time on up to
/// `threads` threads ([`Renderer::set_threads`]): the same output, bit for bit.
///
/// # Errors
/// As [`render`].
pub fn render_with_threads(
    session: &Session,
    inputs: &[RackAudio],
    options: &RenderOptions,
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Rendered, CompileError> {
    let port_ids: Vec<&str> = inputs.iter().map(|i| i.rack_id.as_str()).collect();
    let mut renderer = Renderer::new(session, &port_ids, options)?;
    renderer.set_threads(threads);
    let total = renderer.total_frames();
    let step = renderer.step();

    // Place each input at its source's start offset (file sources only, see
    // `Rack::bound_offset_frames`), padded to the full run.
    let ports: Vec<Vec<Vec<f32>>> = inputs
        .iter()
        .map(|input| {
            let offset = session.rack(&input.rack_id).map_or(0, |r| r.bound_offset_frames() as usize);
            input
                .channels
                .iter()
                .map(|ch| {
                    let mut padded = vec![0.0; total];
                    let end = (offset + ch.len()).min(padded.len());
                    if offset < end {
                        padded[offset..end].copy_from_slice(&ch[..end - offset]);
                    }
                    padded
                })
                .collect()
        })
        .collect();

    let channels = session.channels;
    let mut master = vec![Vec::with_capacity(options.frames); channels];
    let mut stems: Vec<(String, Vec<Vec<f32>>)> = if options.stems {
        renderer.bus_ids().iter().map(|id| (id.clone(), vec![Vec::with_capacity(options.frames); channels])).collect()
    } else {
        Vec::new()
    };
    let mut chunk = RenderChunk::default();
    let mut start = 0;
    while start < total {
        let len = step.min(total - start);
        let port_slices: Vec<Vec<&[f32]>> = ports.iter().map(|p| p.iter().map(|c| &c[start..start + len]).collect()).collect();
        let port_refs: Vec<&[&[f32]]> = port_slices.iter().map(Vec::as_slice).collect();
        renderer.process(&port_refs, len, &mut chunk);
        for (dst, src) in master.iter_mut().zip(&chunk.master) {
            dst.extend_from_slice(src);
        }
        for ((_, dst), src) in stems.iter_mut().zip(&chunk.stems) {
            for (d, s) in dst.iter_mut().zip(src) {
                d.extend_from_slice(s);
            }
        }
        start += len;
        progress(start, total);
    }
    let info = renderer.info().clone();
    let loudness = renderer.finish().expect("the loudness is analysed inline");
    Ok(Rendered { master, stems, info, loudness })
}
