//! The compiled, immutable-in-shape schedule the audio thread runs: racks, buses in order, feeds, inserts.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rayon::prelude::*;

use super::adopt::AdoptPlan;
use crate::audio_buf::{mix_into, sanitize, write_into, AudioBuf};
use crate::dsp::delay_line::DelayLine;
use crate::dsp::smoother::Smoother;
use crate::insert::Insert;
use crate::meters::{BusMeter, MeterState};
use crate::session::Tap;
use crate::source::GeneratorState;
use crate::telemetry::{BusTiming, CpuCounter, SliceTiming, Stamp, Telemetry};

/// Everything the audio thread needs to run one session. Built and sized on
/// the control side by [`super::compile::compile`]; the audio thread only
/// reads and writes the buffers inside, never resizing them.
pub struct Schedule {
    pub(crate) sample_rate: f32,
    pub(crate) max_block: usize,
    pub(crate) channels: usize,
    pub(crate) racks: Vec<RackNode>,
    /// In processing order; the master is last.
    pub(crate) buses: Vec<BusNode>,
    pub(crate) latency: usize,
    /// Tempo in BPM that tempo-synced inserts follow.
    pub(crate) tempo: f64,
    /// Solo-in-place resolution, indexed by file-order bus index.
    pub(crate) solo: super::solo::SoloGraph,
    /// `bus_order[i]`: file-order index of the bus processed i-th.
    pub(crate) bus_order: Vec<usize>,
    /// The buses grouped by dependency level, for running independent
    /// buses at once offline (see [`Schedule::run_buses_in_parallel`]).
    pub(crate) levels: BusLevels,
    /// Set by the offline renderer: process calls made on a rayon worker
    /// run the buses of one level in parallel on that worker's pool. Never
    /// set in the plugin, whose audio thread runs every bus itself.
    pub(crate) parallel: AtomicBool,
    /// Scenes, morphs, macros and ducker trims.
    pub(crate) controls: super::controls::Controls,
    /// The timeline's cues and playhead (empty without a timeline).
    pub(crate) timeline: crate::timeline::playback::Playback,
    /// Controller mappings and their state (docs/ARCHITECTURE.md §8.3).
    pub(crate) mappings: crate::mapping::runtime::MappingTable,
    /// Stem outputs, one per bus parameter slot that has a bus, by slot.
    pub(crate) stems: Vec<StemTap>,
    /// Counts the schedules an engine hands over (0 for the first), so an
    /// [`AdoptPlan`] can tell which schedule it was made against.
    pub(crate) generation: u64,
    /// How this schedule takes over from the one it replaces (empty for a
    /// first schedule); set by the engine before queueing.
    pub(crate) plan: AdoptPlan,
    /// A new loudness tap when this schedule's width differs from the one
    /// it replaces (the audio thread switches to it; see `Engine::load`).
    pub(crate) loudness: Option<crate::meters::LoudnessTap>,
    /// Set by the engine for a process call that times buses and inserts
    /// (a sampled one; see [`crate::telemetry`]), `None` otherwise.
    pub(crate) timing: Option<BusTiming>,
}

/// The buses of a schedule grouped by dependency level: level 0 reads only
/// sources; a bus of level k reads (through its feeds and its inserts' key
/// feeds) only buses of lower levels, at least one of level k − 1. The buses
/// of one level depend on none of each other and may run at the same time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BusLevels {
    /// Processing-order bus indices, level by level, each level in
    /// processing order.
    pub order: Vec<usize>,
    /// `order[ends[k - 1]..ends[k]]` (from 0 for k = 0): the buses of level k.
    pub ends: Vec<usize>,
    /// `level_of[i]`: the level of the bus processed i-th.
    pub level_of: Vec<usize>,
}

impl BusLevels {
    /// The buses of each level, level 0 first.
    pub fn levels(&self) -> impl Iterator<Item = &[usize]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(start, &end)| &self.order[start..end])
    }

    /// Most buses any level holds: how many can run at once.
    pub fn widest(&self) -> usize {
        self.levels().map(<[usize]>::len).max().unwrap_or(0)
    }
}

/// The post-fader output of the bus in one parameter slot, delayed to line
/// up with the main output (by the master latency minus the bus's own).
pub(crate) struct StemTap {
    /// Parameter slot, 1…16.
    pub slot: usize,
    /// Processing-order index of the bus.
    pub bus: usize,
    pub delay: DelayLine,
    /// Session width, `max_block` frames: the delayed stem before it is
    /// copied out.
    pub buf: AudioBuf,
}

/// Where a rack's audio comes from on the audio side.
pub(crate) enum SourceNode {
    /// Input port number `n` of the `inputs` passed to `process`.
    Port(usize),
    Generator(GeneratorState),
    Silent,
}

pub(crate) struct RackNode {
    pub id: String,
    pub source: SourceNode,
    /// The rack gain (the session's, or a scene's), linear.
    pub level: f32,
    /// Whether solo-in-place leaves the source audible.
    pub audible: bool,
    /// Rack gain × solo state.
    pub gain: Smoother,
    /// Session width, `[channel][frame]`, `max_block` frames.
    pub out: AudioBuf,
    /// Level of the source after its gain (the editor shows whether a
    /// sidechain is arriving); racks and buses share one id namespace.
    pub meter: Arc<BusMeter>,
    pub meter_state: MeterState,
}

/// A tap a feed reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TapRef {
    Rack(usize),
    /// Bus by processing-order index, which is always lower than the reader's.
    Bus(usize, Tap),
}

/// One input of a summing point (bus input or insert key): a tap, delayed for
/// latency compensation, scaled by a smoothed gain.
pub(crate) struct Feed {
    pub src: TapRef,
    /// Identity for carrying state across recompiles: (source id, tap, kind).
    pub carry_key: (String, Tap, FeedKind),
    pub gain: Smoother,
    pub delay: DelayLine,
    /// Source width, `max_block` frames; used when delaying or ramping.
    pub scratch: AudioBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FeedKind {
    Route,
    Send,
    Key,
}

pub(crate) struct InsertSlot {
    pub id: String,
    pub kind: &'static str,
    pub insert: Box<dyn Insert>,
    /// Where the insert is heading: bypassed once `wet` has reached 0.
    pub bypass: bool,
    /// 1 = the insert's output, 0 = the dry path; ramps over 10 ms when a
    /// scene switches the bypass, so the switch is a crossfade, not a cut.
    pub wet: Smoother,
    /// Keeps timing when bypassed: delays by the insert's latency.
    pub bypass_delay: DelayLine,
    /// Bus width, `max_block` frames: the dry path while `wet` ramps; 0
    /// frames when nothing switches the bypass (`wet` then never ramps:
    /// only [`InsertSlot::set_bypass`] and a carried state start a ramp,
    /// and both need `bypass_target`).
    pub dry: AudioBuf,
    /// A scene switches the bypass and the insert has latency: the dry
    /// path's delay line is fed while the insert runs, so a crossfade to it
    /// plays the audio of now, not of the last bypass.
    pub track_dry: bool,
    /// The controlled value (target index) that switches the bypass, if a
    /// scene, macro or timeline names it.
    pub bypass_target: Option<usize>,
    /// Samples the crossfade back from a bypass waits while the reset
    /// insert refills its latency (its output is silence until then).
    pub warmup: usize,
    pub key: Option<(Feed, AudioBuf)>,
    /// Values in table order, applied to a carried-over running instance.
    pub params: Vec<f32>,
    /// Time in the key feed and `process`, in sampled calls.
    pub cpu: Arc<CpuCounter>,
}

pub(crate) struct BusNode {
    pub id: String,
    pub channels: usize,
    /// Where the bus is heading: silent once `fade` has reached 0.
    pub bypass: bool,
    /// 1 = playing, 0 = bypassed: scales every tap of the bus (`pre_fx`,
    /// `pre`, `post`) and ramps over 10 ms when the bypass switches.
    pub fade: Smoother,
    /// The controlled value (target index) that switches the bypass, if a
    /// scene, macro or timeline names it.
    pub bypass_target: Option<usize>,
    pub feeds: Vec<Feed>,
    /// Bus width, `max_block` frames: the summed input, then processed in
    /// place by the inserts; afterwards it is the `pre` tap.
    pub sum: AudioBuf,
    /// Bus width copy of the input before the inserts, only if a send reads it.
    pub pre_fx: Option<AudioBuf>,
    /// Session width, post-fader/pan: the `post` tap and what goes downstream.
    pub out: AudioBuf,
    pub inserts: Vec<InsertSlot>,
    /// Per output channel: fader × mute × solo × pan.
    pub out_gain: Vec<Smoother>,
    /// What `out_gain` is computed from: session values and host controls.
    pub strip: Strip,
    /// Host parameter slot (0 = the master), if the bus has one.
    pub slot: Option<usize>,
    pub meter: Arc<BusMeter>,
    pub meter_state: MeterState,
    /// Time in the whole bus (feeds, inserts, strip, meter), in sampled calls.
    pub cpu: Arc<CpuCounter>,
    /// Latency of this bus's output relative to the sources.
    pub out_latency: usize,
}

/// The inputs of a bus's output gains: the session's level, pan and mute
/// (the scene values) composed with the host's live controls — fader trim
/// multiplies the level (dB add) clamped at +24 dB, pan offsets add and clamp
/// to ±1, either mute mutes — and solo-in-place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Strip {
    pub level: f32,
    pub trim: f32,
    pub session_pan: f32,
    pub host_pan: f32,
    pub session_mute: bool,
    pub host_mute: bool,
    pub audible: bool,
    pub mono: bool,
    pub master: bool,
    pub law: crate::session::PanLaw,
    pub session_channels: usize,
}

/// Largest composed bus gain, +24 dB.
const MAX_STRIP_GAIN: f32 = 15.848_932;

impl Strip {
    /// Output gain per channel.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn targets(&self) -> [f32; 2] {
        let gain = (self.level * self.trim).min(MAX_STRIP_GAIN);
        let on = if (self.session_mute || self.host_mute) || !self.audible { 0.0 } else { 1.0 };
        let pan = (self.session_pan + self.host_pan).clamp(-1.0, 1.0) as f64;
        let p = super::compile::pan_gains(self.law, pan, self.mono, self.master, self.session_channels);
        [gain * on * p[0] as f32, gain * on * p[1] as f32]
    }
}

/// A host control of a bus strip (the plugin's per-slot parameters).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StripControl {
    /// Fader trim in dB on top of the session's level (−144 or below = −∞).
    TrimDb(f32),
    /// Pan offset added to the session's pan.
    Pan(f32),
    Mute(bool),
    /// Solo-in-place (adds to the session's solos).
    Solo(bool),
}

impl InsertSlot {
    /// Switches the insert's bypass (a scene's): a 10 ms crossfade between
    /// the insert's output and the dry path (delayed by its latency). An
    /// insert coming back from a finished bypass starts from reset, its
    /// state being as old as the bypass, and runs for its latency while the
    /// dry path still plays, so the crossfade meets its output, not the
    /// silence it starts with.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set_bypass(&mut self, bypass: bool) {
        if bypass == self.bypass {
            return;
        }
        if !bypass && !self.wet.is_ramping() {
            self.insert.reset();
            self.warmup = self.bypass_delay.delay();
        } else {
            self.warmup = 0;
        }
        self.bypass = bypass;
        self.wet.set_target(if bypass { 0.0 } else { 1.0 });
    }
}

impl BusNode {
    /// Applies a host control and ramps to the new gains (10 ms).
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn control(&mut self, control: StripControl) {
        match control {
            StripControl::TrimDb(db) => self.strip.trim = if db <= -144.0 { 0.0 } else { 10f32.powf(db / 20.0) },
            StripControl::Pan(p) => self.strip.host_pan = p,
            StripControl::Mute(m) => self.strip.host_mute = m,
            StripControl::Solo(_) => {} // resolved across all buses by the schedule
        }
        self.retarget();
    }

    /// Ramps the output gains to what the strip now asks for.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn retarget(&mut self) {
        let targets = self.strip.targets();
        for (ch, g) in self.out_gain.iter_mut().enumerate() {
            g.set_target(targets[ch]);
        }
    }

    /// Switches the bus's bypass (a scene's): a 10 ms fade of every tap,
    /// after which the bus is silent; coming back from silence resets its
    /// inserts, as an un-bypassing edit does.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn set_bypass(&mut self, bypass: bool) {
        if bypass == self.bypass {
            return;
        }
        if !bypass && !self.fade.is_ramping() {
            for slot in &mut self.inserts {
                slot.insert.reset();
            }
        }
        self.bypass = bypass;
        self.fade.set_target(if bypass { 0.0 } else { 1.0 });
    }

    fn tap(&self, tap: Tap) -> &AudioBuf {
        match tap {
            Tap::Post => &self.out,
            Tap::Pre => &self.sum,
            Tap::PreFx => self.pre_fx.as_ref().unwrap_or(&self.sum),
        }
    }
}

/// The buses a bus's feeds read: those processed before it.
trait DoneBuses {
    fn tap(&self, bus: usize, tap: Tap) -> &AudioBuf;
}

/// Serial: the buses before the one running.
impl DoneBuses for [BusNode] {
    #[inline]
    fn tap(&self, bus: usize, tap: Tap) -> &AudioBuf {
        self[bus].tap(tap)
    }
}

/// Every bus of a schedule while one dependency level runs in parallel:
/// each worker writes the buses of that level it was given, and all read
/// the buses of lower levels.
#[derive(Clone, Copy)]
struct SharedBuses<'a> {
    ptr: *mut BusNode,
    len: usize,
    levels: &'a BusLevels,
    /// The level running.
    level: usize,
    _buses: PhantomData<&'a mut [BusNode]>,
}

// SAFETY: a `SharedBuses` hands out each bus of the running level to one
// worker only (`BusNode` is `Send`), and shares only the taps (`AudioBuf`s,
// plain `f32` buffers) of buses of lower levels, which no one writes until
// the level has finished.
unsafe impl Send for SharedBuses<'_> {}
unsafe impl Sync for SharedBuses<'_> {}

impl SharedBuses<'_> {
    fn bus_ptr(&self, bus: usize) -> *mut BusNode {
        assert!(bus < self.len);
        // SAFETY: in bounds of the slice `ptr` was taken from, which the
        // `'a` borrow keeps alive and unmoved.
        unsafe { self.ptr.add(bus) }
    }
}

impl DoneBuses for SharedBuses<'_> {
    #[inline]
    fn tap(&self, bus: usize, tap: Tap) -> &AudioBuf {
        // Reads finished buses only: a feed's bus is of a lower level (the
        // compiler's levels say so; checked in debug builds).
        debug_assert!(self.levels.level_of[bus] < self.level, "a bus reads bus {bus} of its own or a later level");
        let bus = self.bus_ptr(bus);
        // SAFETY: no worker writes a bus of a lower level while this one
        // runs, and only the tap's buffer is borrowed, never the inserts.
        unsafe {
            match tap {
                Tap::Post => &*std::ptr::addr_of!((*bus).out),
                Tap::Pre => &*std::ptr::addr_of!((*bus).sum),
                Tap::PreFx => (*std::ptr::addr_of!((*bus).pre_fx)).as_ref().unwrap_or(&*std::ptr::addr_of!((*bus).sum)),
            }
        }
    }
}

/// Adds one feed into `dst` (which may have another channel count).
/// Runs on the audio thread: no allocation, no locks.
/// Mixes one feed into `dst`; with `first`, `dst` holds nothing yet and is
/// written rather than added to. Returns whether `dst` was written.
#[inline(always)]
fn pull<D: DoneBuses + ?Sized>(feed: &mut Feed, racks: &[RackNode], done: &D, dst: &mut AudioBuf, frames: usize, first: bool) -> bool {
    let src = match feed.src {
        TapRef::Rack(r) => &racks[r].out,
        TapRef::Bus(b, tap) => done.tap(b, tap),
    };
    let mix = |src: &AudioBuf, dst: &mut AudioBuf, g: f32| if first { write_into(src, dst, frames, g) } else { mix_into(src, dst, frames, g) };
    if feed.delay.delay() == 0 && !feed.gain.is_ramping() {
        let g = feed.gain.current();
        if g == 0.0 {
            return false;
        }
        mix(src, dst, g);
        return true;
    }
    if !feed.gain.is_ramping() && src.channels() == dst.channels() {
        // Straight from the delay's ring into the sum.
        feed.delay.mix_from(src, dst, frames, feed.gain.current(), first);
        return true;
    }
    // Delay into the preallocated scratch, ramp, then mix.
    feed.delay.process_from(src, &mut feed.scratch, frames);
    if feed.gain.is_ramping() {
        for i in 0..frames {
            let g = feed.gain.next();
            for ch in 0..feed.scratch.channels() {
                feed.scratch.channel_mut(ch)[i] *= g;
            }
        }
        mix(&feed.scratch, dst, 1.0);
    } else {
        mix(&feed.scratch, dst, feed.gain.current());
    }
    true
}

impl Schedule {
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    pub fn max_block(&self) -> usize {
        self.max_block
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Total latency from any input to the main output, in samples.
    pub fn latency(&self) -> usize {
        self.latency
    }

    /// Bus ids in processing order.
    pub fn bus_ids(&self) -> impl Iterator<Item = &str> {
        self.buses.iter().map(|b| b.id.as_str())
    }

    /// The post-fader output of each bus for the last processed block, with
    /// that bus's own output latency.
    pub fn bus_outputs(&self) -> impl Iterator<Item = (&str, &AudioBuf, usize)> {
        self.buses.iter().map(|b| (b.id.as_str(), &b.out, b.out_latency))
    }

    /// Points every bus and insert at `telemetry`'s counter for its id (so
    /// readers' handles survive recompiles, as meters do). Control side.
    pub fn share_telemetry(&mut self, telemetry: &Telemetry) {
        for bus in &mut self.buses {
            bus.cpu = telemetry.bus_counter(&bus.id);
            for slot in &mut bus.inserts {
                slot.cpu = telemetry.insert_counter(&bus.id, &slot.id);
            }
        }
    }

    /// The most frames the next [`Self::process`] call may take: `max_block`,
    /// or less while a scene transition needs its next control step.
    pub fn next_block_limit(&self) -> usize {
        self.max_block.min(self.controls.frames_to_next_step())
    }

    /// Processes one block of at most [`Self::next_block_limit`] frames,
    /// after bringing scene, morph and macro values up to date.
    ///
    /// `inputs[port][channel][frame]`: the ports that racks are bound to
    /// (missing ports or channels read as silence); `outputs[channel][frame]`
    /// receives the master bus (extra output channels are zeroed).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn process(&mut self, inputs: &[&[&[f32]]], outputs: &mut [&mut [f32]], frames: usize) {
        debug_assert!(frames <= self.next_block_limit());
        let frames = frames.min(self.max_block);
        self.update_controls();
        self.process_graph(inputs, outputs, frames);
        self.controls.advance(frames);
    }

    // The block's work, compiled a second time for AVX2 where the CPU has
    // it (crate::simd); the kernels it calls are inlined into both.
    crate::widened!(Schedule: fn process_graph(&mut self, inputs: &[&[&[f32]]], outputs: &mut [&mut [f32]], frames: usize) => process_graph_body);

    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_graph_body(&mut self, inputs: &[&[&[f32]]], outputs: &mut [&mut [f32]], frames: usize) {

        for rack in &mut self.racks {
            match &mut rack.source {
                SourceNode::Port(port) => {
                    let channels = inputs.get(*port).copied().unwrap_or(&[]);
                    let width = rack.out.channels();
                    for ch in 0..width {
                        let out = &mut rack.out.channel_mut(ch)[..frames];
                        // Mono ports feed every channel (dual mono).
                        let src = channels.get(ch).or_else(|| if channels.len() == 1 { channels.first() } else { None });
                        match src {
                            Some(src) if src.len() >= frames => out.copy_from_slice(&src[..frames]),
                            _ => out.fill(0.0),
                        }
                        sanitize(out);
                    }
                    if channels.len() > width && width == 1 {
                        // Stereo port into a mono session: average.
                        let right = channels[1];
                        let out = &mut rack.out.channel_mut(0)[..frames];
                        for (o, r) in out.iter_mut().zip(right) {
                            let r = if r.is_finite() { *r } else { 0.0 };
                            *o = 0.5 * (*o + r);
                        }
                    }
                }
                SourceNode::Generator(g) => g.fill(&mut rack.out, frames),
                SourceNode::Silent => rack.out.clear(frames),
            }
            apply_gain(&mut rack.gain, &mut rack.out, frames);
            for ch in 0..rack.out.channels() {
                rack.meter_state.process(ch, &rack.out.channel(ch)[..frames], &rack.meter);
            }
        }

        // Only an offline render sets `parallel` (the plugin reads one
        // false flag here) and runs the call on a worker of its pool; a
        // timed call runs one bus after another, each timed in turn.
        if self.parallel.load(Ordering::Relaxed) && self.timing.is_none() && rayon::current_thread_index().is_some() {
            self.process_levels(frames);
        } else {
            // In a sampled call each bus is timed from where the one before
            // ended, so the buses add up to this loop.
            let timing = self.timing.map(|t| t.slice(frames));
            let mut mark = timing.map(|t| t.now()).unwrap_or_default();
            for i in 0..self.buses.len() {
                let (done, rest) = self.buses.split_at_mut(i);
                process_bus(&mut rest[0], &self.racks, done, frames, timing, &mut mark);
            }
        }

        let master = self.buses.last().expect("a schedule always has a master");
        for (ch, out) in outputs.iter_mut().enumerate() {
            let out = &mut out[..frames];
            // A mono session plays on both sides of a stereo output.
            let src = if master.out.channels() == 1 && ch < 2 { 0 } else { ch };
            if src < master.out.channels() {
                out.copy_from_slice(&master.out.channel(src)[..frames]);
            } else {
                out.fill(0.0);
            }
        }
    }

    /// Runs the buses level by level, the buses of one level at the same
    /// time on the current rayon pool (the caller's thread takes part). Each
    /// bus does exactly the arithmetic of the serial loop on the same
    /// inputs, so the output is bit-identical to it.
    /// Offline only: called on a rayon worker; allocates nothing itself.
    fn process_levels(&mut self, frames: usize) {
        let racks = &self.racks;
        let levels = &self.levels;
        let buses = SharedBuses { ptr: self.buses.as_mut_ptr(), len: self.buses.len(), levels, level: 0, _buses: PhantomData };
        for (level, ids) in levels.levels().enumerate() {
            let buses = SharedBuses { level, ..buses };
            let run = |&i: &usize| {
                // SAFETY: each index occurs once in `levels.order`, so no
                // other thread touches bus `i` during this level; its feeds
                // read only buses of lower levels, all finished (see
                // `SharedBuses::tap`).
                let bus = unsafe { &mut *buses.bus_ptr(i) };
                LevelTask { bus, racks, done: &buses, frames }.run();
            };
            match ids {
                [i] => run(i),
                _ => ids.par_iter().with_max_len(1).for_each(run),
            }
        }
    }

    /// Lets process calls made on a rayon worker run the buses of one
    /// dependency level in parallel on that worker's pool (the offline
    /// renderer's; see [`crate::render::Renderer::set_threads`]). Output is
    /// bit-identical either way. Calls made elsewhere (the plugin's audio
    /// thread), and timed calls, stay serial.
    pub fn run_buses_in_parallel(&self, on: bool) {
        self.parallel.store(on, Ordering::Relaxed);
    }

    /// Most buses that can run at the same time (the widest dependency level).
    pub fn parallel_width(&self) -> usize {
        self.levels.widest()
    }

    pub fn tempo(&self) -> f64 {
        self.tempo
    }

    /// Writes the stems of the block just processed: `stems[k][channel][frame]`
    /// receives the bus in parameter slot k + 1, post-fader and aligned with
    /// the main output; slots without a bus get silence. Call after
    /// [`Self::process`] with the same `frames`.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn write_stems(&mut self, stems: &mut [&mut [&mut [f32]]], frames: usize) {
        for (k, stem) in stems.iter_mut().enumerate() {
            let tap = self.stems.iter_mut().find(|t| t.slot == k + 1);
            let Some(tap) = tap else {
                stem.iter_mut().for_each(|ch| ch[..frames].fill(0.0));
                continue;
            };
            tap.delay.process_from(&self.buses[tap.bus].out, &mut tap.buf, frames);
            for (ch, out) in stem.iter_mut().enumerate() {
                let src = tap.buf.channel(ch.min(tap.buf.channels() - 1));
                out[..frames].copy_from_slice(&src[..frames]);
            }
        }
    }

    /// Passes a new tempo to every insert (tempo-synced delays follow it).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_tempo(&mut self, bpm: f64) {
        if bpm == self.tempo || !(bpm.is_finite() && bpm > 0.0) {
            return;
        }
        self.tempo = bpm;
        for bus in &mut self.buses {
            for slot in &mut bus.inserts {
                slot.insert.set_tempo(bpm);
            }
        }
    }

    /// Applies a host control to the bus in parameter slot `slot` (0 = the
    /// master); slots without a bus are ignored.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn control(&mut self, slot: usize, control: StripControl) {
        let Some(pos) = self.buses.iter().position(|b| b.slot == Some(slot)) else { return };
        if let StripControl::Solo(on) = control {
            let b = self.bus_order[pos];
            if self.solo.host_solo(b) != on {
                self.solo.set_host_solo(b, on);
                self.resolve_solo();
            }
        } else {
            self.buses[pos].control(control);
        }
    }

    /// Re-resolves solo-in-place and ramps every affected gain.
    /// Runs on the audio thread: no allocation, no locks.
    pub(crate) fn resolve_solo(&mut self) {
        let (buses, racks, order) = (&mut self.buses, &mut self.racks, &self.bus_order);
        self.solo.resolve(
            &mut |b, audible| {
                if let Some(bus) = order.iter().position(|&x| x == b).map(|pos| &mut buses[pos]) {
                    if bus.strip.audible != audible {
                        bus.strip.audible = audible;
                        bus.retarget();
                    }
                }
            },
            &mut |r, audible| {
                let rack = &mut racks[r];
                rack.audible = audible;
                rack.gain.set_target(if audible { rack.level } else { 0.0 });
            },
        );
    }

    /// Jumps every gain ramp to its target (used before the first block, so
    /// a fresh instance starts at its scene instead of ramping to it).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn settle(&mut self) {
        self.update_controls();
        for rack in &mut self.racks {
            rack.gain.settle();
        }
        for bus in &mut self.buses {
            for g in &mut bus.out_gain {
                g.settle();
            }
            bus.fade.settle();
            for slot in &mut bus.inserts {
                slot.wet.settle();
                slot.warmup = 0;
            }
            for feed in &mut bus.feeds {
                feed.gain.settle();
            }
        }
    }

    /// Clears every delay line, insert and envelope.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn reset(&mut self) {
        for bus in &mut self.buses {
            for feed in &mut bus.feeds {
                feed.delay.reset();
            }
            for slot in &mut bus.inserts {
                slot.insert.reset();
                slot.bypass_delay.reset();
                if let Some((feed, _)) = &mut slot.key {
                    feed.delay.reset();
                }
            }
        }
        for stem in &mut self.stems {
            stem.delay.reset();
        }
    }

    /// Takes over the running state of `old` (the schedule this one
    /// replaces) by the indices of this schedule's [`AdoptPlan`], worked out
    /// on the control side, so that an edit does not click or cut tails:
    /// - inserts with the same bus, id and type keep running; only the
    ///   parameters whose value differs from the running instance's are set
    ///   (each costs only what it changes); an un-bypassed bus resets them;
    /// - gains ramp from where the old schedule stood;
    /// - latency-compensation delay lines keep their contents, also when
    ///   their length changes (see [`DelayLine::take_over`]);
    /// - generators keep their clocks; meters keep their envelopes.
    ///
    /// A plan made against another schedule than `old` adopts nothing (the
    /// engine queues schedules in order, so this does not happen).
    /// After the call `old` holds the fresh instances this schedule brought,
    /// to be dropped on the control side.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn adopt(&mut self, old: &mut Schedule) {
        // Take this schedule's plan and leave `old`'s (empty unless its own
        // adoption was skipped) in its place, so whatever `old.plan` held is
        // freed with this schedule on the control side, never here.
        let plan = std::mem::replace(&mut self.plan, std::mem::take(&mut old.plan));
        if plan.from != Some(old.generation) {
            old.plan = plan;
            return;
        }
        for &(n, o) in &plan.racks {
            let (rack, prev) = (&mut self.racks[n], &old.racks[o]);
            rack.gain.continue_from(&prev.gain);
            rack.meter_state = prev.meter_state.clone();
            if let (SourceNode::Generator(g), SourceNode::Generator(p)) = (&mut rack.source, &prev.source) {
                g.continue_from(p);
            }
        }
        for &(n, o) in &plan.stems {
            self.stems[n].delay.take_over(&mut old.stems[o].delay);
        }
        let tempo_changed = old.tempo != self.tempo;
        for bp in &plan.buses {
            let (bus, prev) = (&mut self.buses[bp.new], &mut old.buses[bp.old]);
            for (g, p) in bus.out_gain.iter_mut().zip(&prev.out_gain) {
                g.continue_from(p);
            }
            // A bypass that scenes switch keeps its running state (the new
            // controls then switch it only if it is to change); one they do
            // not switch is the session's, at once, as the edit says.
            if let Some(t) = bus.bypass_target {
                bus.bypass = prev.bypass;
                bus.fade = prev.fade.clone();
                self.controls.learn_applied(t, prev.bypass as u8 as f32);
            }
            bus.meter_state = prev.meter_state.clone();
            for &(n, o) in &bp.feeds {
                carry_feed(&mut bus.feeds[n], &mut prev.feeds[o]);
            }
            let unbypassed = prev.bypass && !bus.bypass;
            for ip in &bp.inserts {
                let (slot, p) = (&mut bus.inserts[ip.new], &mut prev.inserts[ip.old]);
                std::mem::swap(&mut slot.insert, &mut p.insert);
                if tempo_changed {
                    slot.insert.set_tempo(self.tempo);
                }
                // `p.params` holds the values the running instance has (scene
                // and macro moves included); set only what differs. A value
                // that scenes, macros or host trims control keeps its running
                // value, and the new controls learn it as applied: their first
                // evaluation then sets it only if it is to change.
                for (index, (&value, &running)) in slot.params.iter().zip(&p.params).enumerate() {
                    if value.to_bits() != running.to_bits() && !ip.controlled.iter().any(|&(param, _)| param == index) {
                        slot.insert.set_param(index, value);
                    }
                }
                for &(param, target) in &ip.controlled {
                    slot.params[param] = p.params[param];
                    self.controls.learn_applied(target, p.params[param]);
                }
                if unbypassed {
                    slot.insert.reset();
                }
                slot.bypass_delay.take_over(&mut p.bypass_delay);
                if let Some(t) = slot.bypass_target {
                    slot.bypass = p.bypass;
                    slot.wet = p.wet.clone();
                    slot.warmup = p.warmup;
                    self.controls.learn_applied(t, p.bypass as u8 as f32);
                }
                if ip.key {
                    if let (Some((feed, _)), Some((pfeed, _))) = (&mut slot.key, &mut p.key) {
                        carry_feed(feed, pfeed);
                    }
                }
            }
        }
        // Hand the plan's vectors back with `old`, to be freed off this thread.
        old.plan = plan;
    }
}

/// Runs one bus for `frames` frames: sums its feeds (from `racks` and the
/// buses in `done`, all already run for this block), runs its inserts and
/// its strip. With `timing`, adds the time since `*mark` to the bus's
/// counter and moves `*mark` on.
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
fn process_bus<D: DoneBuses + ?Sized>(bus: &mut BusNode, racks: &[RackNode], done: &D, frames: usize, timing: Option<SliceTiming>, mark: &mut Stamp) {
    if bus.bypass && !bus.fade.is_ramping() {
        bus.sum.clear(frames);
        bus.out.clear(frames);
        if let Some(p) = &mut bus.pre_fx {
            p.clear(frames);
        }
        bus.meter_state.silence(&bus.meter);
        if let Some(t) = &timing {
            for slot in &bus.inserts {
                t.add(&slot.cpu, 0);
            }
            t.lap(mark, &bus.cpu);
        }
        return;
    }
    // The first feed that carries anything writes the sum; the rest add.
    let mut written = false;
    for feed in &mut bus.feeds {
        written |= pull(feed, racks, done, &mut bus.sum, frames, !written);
    }
    if !written {
        bus.sum.clear(frames);
    }
    if let Some(pre_fx) = &mut bus.pre_fx {
        for ch in 0..bus.channels {
            pre_fx.channel_mut(ch)[..frames].copy_from_slice(&bus.sum.channel(ch)[..frames]);
        }
    }
    for slot in &mut bus.inserts {
        let fading = slot.wet.is_ramping();
        if slot.bypass && !fading {
            slot.bypass_delay.process(&mut bus.sum, frames);
            if let Some(t) = &timing {
                t.add(&slot.cpu, 0);
            }
            continue;
        }
        if fading || slot.track_dry {
            for ch in 0..bus.channels {
                slot.dry.channel_mut(ch)[..frames].copy_from_slice(&bus.sum.channel(ch)[..frames]);
            }
            slot.bypass_delay.process(&mut slot.dry, frames);
        }
        let mut insert_mark = timing.map(|t| t.now()).unwrap_or_default();
        let key = match &mut slot.key {
            Some((feed, buf)) => {
                if !pull(feed, racks, done, buf, frames, true) {
                    buf.clear(frames);
                }
                Some(&*buf)
            }
            None => None,
        };
        slot.insert.process(&mut bus.sum, key, frames);
        if let Some(t) = &timing {
            t.lap(&mut insert_mark, &slot.cpu);
        }
        if fading {
            // dry + wet·(insert − dry), per frame on every channel;
            // the wet ramp waits out a warm-up (at 0).
            for i in 0..frames {
                let g = if slot.warmup > 0 {
                    slot.warmup -= 1;
                    slot.wet.current()
                } else {
                    slot.wet.next()
                };
                for ch in 0..bus.channels {
                    let d = slot.dry.channel(ch)[i];
                    let w = &mut bus.sum.channel_mut(ch)[i];
                    *w = d + g * (*w - d);
                }
            }
        }
    }
    for ch in 0..bus.channels {
        sanitize(&mut bus.sum.channel_mut(ch)[..frames]);
    }
    if bus.fade.is_ramping() || bus.fade.current() != 1.0 {
        // A bypass switching: the pre-fx copy takes the same ramp as the sum.
        if let Some(pre_fx) = &mut bus.pre_fx {
            apply_gain(&mut bus.fade.clone(), pre_fx, frames);
        }
        apply_gain(&mut bus.fade, &mut bus.sum, frames);
    }
    // Fader, mute, solo and pan as one per-channel gain.
    let out_channels = bus.out.channels();
    for ch in 0..out_channels {
        let src_ch = if bus.channels == 1 { 0 } else { ch };
        let (src, out) = (bus.sum.channel(src_ch), bus.out.channel_mut(ch));
        // The sum is sanitized; a gain that keeps it finite needs no
        // second pass, but a fader above 0 dB can push a huge finite
        // sample to ±Inf.
        let finite = bus.out_gain[ch].keeps_finite();
        bus.out_gain[ch].apply_from(&src[..frames], &mut out[..frames]);
        if !finite {
            sanitize(&mut out[..frames]);
        }
        bus.meter_state.process(ch, &out[..frames], &bus.meter);
    }
    if let Some(t) = &timing {
        t.lap(mark, &bus.cpu);
    }
}

/// One bus of a dependency level on a pool worker (offline only). A task
/// runs outside the widened block, so it is an entry point of its own.
struct LevelTask<'a, 'b> {
    bus: &'a mut BusNode,
    racks: &'a [RackNode],
    done: &'a SharedBuses<'b>,
    frames: usize,
}

impl LevelTask<'_, '_> {
    crate::widened!(LevelTask<'_, '_>: fn run(&mut self) => run_bus);

    #[inline(always)]
    fn run_bus(&mut self) {
        process_bus(self.bus, self.racks, self.done, self.frames, None, &mut Stamp::default());
    }
}

/// Runs on the audio thread: no allocation, no locks.
fn carry_feed(feed: &mut Feed, prev: &mut Feed) {
    feed.gain.continue_from(&prev.gain);
    feed.delay.take_over(&mut prev.delay);
}

/// Multiplies every channel by one smoothed gain, advancing once per frame.
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
fn apply_gain(gain: &mut Smoother, buf: &mut AudioBuf, frames: usize) {
    if !gain.is_ramping() {
        let g = gain.current();
        if g != 1.0 {
            for ch in 0..buf.channels() {
                for s in &mut buf.channel_mut(ch)[..frames] {
                    *s *= g;
                }
            }
        }
        return;
    }
    for i in 0..frames {
        let g = gain.next();
        for ch in 0..buf.channels() {
            buf.channel_mut(ch)[i] *= g;
        }
    }
}
