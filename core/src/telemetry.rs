//! CPU telemetry: time spent per process call, per bus and per insert, measured on the audio thread into atomics.
//!
//! What is measured, and how cheaply:
//!
//! - **The process call** ([`ProcessCpu::total`]): every
//!   `AudioProcessor::process` call from entry to exit — taking a new
//!   schedule, timeline cues and scene starts, controls, sources, every
//!   bus, stems and the loudness tap. Every call is timed (two clock
//!   reads), because an overrun must not slip between samples: each call is
//!   compared with its deadline (its frames at the sample rate), the worst
//!   is kept and calls over their deadline are counted as overruns.
//! - **Buses and inserts**: only in *sampled* calls, one every
//!   [`SAMPLE_INTERVAL_FRAMES`] frames on average (at random intervals), so
//!   the calls in between pay one branch per bus and insert. A bus's time is
//!   its whole processing (summing its feeds, its inserts, the strip and
//!   meter); an insert's is its key feed and its `process`. The bus reads
//!   are chained (one bus ends where the next starts), so in a sampled call
//!   the buses add up to the bus loop; what the process call spends outside
//!   it (sources, controls, swaps, output copy, stems, loudness) is the
//!   engine's own overhead, [`ProcessCpu::sampled`] minus the buses.
//!
//! Each figure is a [`CpuCounter`]: the nanoseconds measured and the audio
//! frames they covered (cumulative; [`CpuTotals::percent`] turns them into
//! the share of one core at real time), and a smoothed percentage the
//! editor shows (time constant [`SMOOTHING_MS`] of audio). Counters live in
//! a registry by bus id and by (bus id, insert id), as meters do, so a
//! reader's handle survives schedule swaps and an edit that keeps a bus
//! keeps its figures.
//!
//! The clock ([`Clock`]) is the CPU's invariant time-stamp counter on
//! x86_64 Linux when the kernel itself keeps time with it (about 10 ns a
//! read here, against 25 ns for `Instant::now`, which matters when a
//! 64-frame block takes the engine 1.3 µs), and `Instant` everywhere else.
//! Neither allocates. The first engine of a process calibrates the counter
//! against `Instant` over a 2 ms sleep.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use atomic_float::AtomicF32;

/// Buses and inserts are timed in one process call whenever this many
/// frames have passed since the last timed one, on average: about every
/// 128th call at 64 frames, every 16th at 512 (≈ 6 times a second at 48
/// kHz). The reference session reads the clock 26 times in a sampled call;
/// at half this interval that cost about 1 % of its 64-frame blocks, at
/// this one it is lost in the noise of the measurement (README, Speed).
///
/// Each interval is drawn at random from ½…1½ of this, because a fixed one
/// would meet periodic work always at the same phase: a 2048-point ducker
/// with a 512-sample hop, at 256-frame calls and a fixed 4096-frame
/// interval, does its FFTs in every sampled call or in none.
pub const SAMPLE_INTERVAL_FRAMES: u64 = 8192;
/// Time constant, in audio time, of the smoothed percentages.
pub const SMOOTHING_MS: f32 = 1_000.0;
/// The worst call is kept over windows of this much audio (the reading is
/// the worse of the last complete window and the running one).
pub const WORST_WINDOW_MS: f32 = 1_000.0;

/// A reading of a [`Clock`], in the clock's own ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(u64);

/// The monotonic clock the audio thread times with. Cheap to copy; make it
/// on the control side ([`Clock::new`] calibrates once per process).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    source: Source,
    /// Nanoseconds per tick (1 for `Instant`).
    ns_per_tick: f64,
    /// What `Instant` stamps count from.
    origin: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Tsc,
    Instant,
}

/// Nanoseconds per TSC tick when the TSC can be used, measured once.
static TSC_NS_PER_TICK: OnceLock<Option<f64>> = OnceLock::new();

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// The time-stamp counter where it is trustworthy, else `Instant`. The
    /// first call in a process calibrates the counter against `Instant`
    /// over 2 ms (a sleep). Control side only.
    pub fn new() -> Self {
        match *TSC_NS_PER_TICK.get_or_init(calibrate_tsc) {
            Some(ns_per_tick) => Self { source: Source::Tsc, ns_per_tick, origin: Instant::now() },
            None => Self::instant(),
        }
    }

    /// A clock on `Instant` alone (for comparing the two).
    pub fn instant() -> Self {
        Self { source: Source::Instant, ns_per_tick: 1.0, origin: Instant::now() }
    }

    /// Whether this clock reads the CPU's time-stamp counter.
    pub fn is_tsc(&self) -> bool {
        self.source == Source::Tsc
    }

    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn now(&self) -> Stamp {
        match self.source {
            Source::Tsc => Stamp(read_tsc()),
            Source::Instant => Stamp(self.origin.elapsed().as_nanos() as u64),
        }
    }

    /// Nanoseconds from `from` to `to` (0 if `to` is earlier).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn ns_between(&self, from: Stamp, to: Stamp) -> u64 {
        (to.0.saturating_sub(from.0) as f64 * self.ns_per_tick) as u64
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_tsc() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 CPU and only reads a counter.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn read_tsc() -> u64 {
    unreachable!("the TSC clock is only chosen on x86_64")
}

/// Nanoseconds per TSC tick, or `None` when the counter is not to be
/// trusted: only on x86_64 Linux, with an invariant TSC (constant rate
/// through power states) that the kernel chose as its own clock source (so
/// it is synchronised across cores).
fn calibrate_tsc() -> Option<f64> {
    if !tsc_is_trustworthy() {
        return None;
    }
    let (t0, c0) = (Instant::now(), read_tsc());
    std::thread::sleep(std::time::Duration::from_millis(2));
    let (t1, c1) = (Instant::now(), read_tsc());
    let ticks = c1.checked_sub(c0).filter(|&t| t > 0)?;
    Some((t1 - t0).as_nanos() as f64 / ticks as f64)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn tsc_is_trustworthy() -> bool {
    use std::arch::x86_64::__cpuid;
    // CPUID leaf 0x8000_0007, EDX bit 8: invariant TSC.
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86_64 CPU; leaf 0x8000_0007 is read
    // only after leaf 0x8000_0000 says it exists.
    let invariant = unsafe { __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0 };
    let kernel_uses_it = std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource").is_ok_and(|s| s.trim() == "tsc");
    invariant && kernel_uses_it
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn tsc_is_trustworthy() -> bool {
    false
}

/// CPU time measured for one bus, insert or the process call, with the
/// audio it covered. Written by the audio thread only (plain loads and
/// stores, no read-modify-write), read by anyone at any time.
#[derive(Debug, Default)]
pub struct CpuCounter {
    ns: AtomicU64,
    frames: AtomicU64,
    /// Smoothed share of one core at real time, in percent.
    percent: AtomicF32,
}

/// Cumulative figures of a [`CpuCounter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTotals {
    /// Nanoseconds measured.
    pub ns: u64,
    /// Audio frames those nanoseconds processed.
    pub frames: u64,
}

impl CpuTotals {
    /// The share of one core at real time, in percent: time measured over
    /// the real-time length of the audio it processed. 0 before any.
    pub fn percent(&self, sample_rate: f32) -> f64 {
        if self.frames == 0 {
            return 0.0;
        }
        let audio_ns = self.frames as f64 * 1e9 / sample_rate as f64;
        100.0 * self.ns as f64 / audio_ns
    }

    /// What was added since `earlier` (a reading of the same counter).
    pub fn since(&self, earlier: CpuTotals) -> CpuTotals {
        CpuTotals { ns: self.ns.saturating_sub(earlier.ns), frames: self.frames.saturating_sub(earlier.frames) }
    }
}

/// A copy of a counter's values at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuReading {
    /// Smoothed share of one core, percent (what the editor shows).
    pub percent: f32,
    pub totals: CpuTotals,
}

impl CpuCounter {
    /// Adds one measurement: `ns` spent on `frames` frames, whose real-time
    /// length is 100 / `percent_per_ns` ns; the smoothed percentage moves by
    /// `weight` (0…1) towards this measurement's.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub(crate) fn add(&self, ns: u64, frames: usize, percent_per_ns: f32, weight: f32) {
        self.add_measured(ns, frames, ns as f32 * percent_per_ns, weight);
    }

    /// [`Self::add`] with the measurement's percentage worked out.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    fn add_measured(&self, ns: u64, frames: usize, now: f32, weight: f32) {
        // One writer: a load and a store, not a locked read-modify-write.
        self.ns.store(self.ns.load(Ordering::Relaxed) + ns, Ordering::Relaxed);
        self.frames.store(self.frames.load(Ordering::Relaxed) + frames as u64, Ordering::Relaxed);
        let old = self.percent.load(Ordering::Relaxed);
        self.percent.store(old + weight * (now - old), Ordering::Relaxed);
    }

    pub fn totals(&self) -> CpuTotals {
        CpuTotals { ns: self.ns.load(Ordering::Relaxed), frames: self.frames.load(Ordering::Relaxed) }
    }

    pub fn read(&self) -> CpuReading {
        CpuReading { percent: self.percent.load(Ordering::Relaxed), totals: self.totals() }
    }
}

/// Figures of the whole process call (a "call" is one `process` call, or
/// one host block its caller brackets with `AudioProcessor::begin_block` /
/// `end_block`).
#[derive(Debug, Default)]
pub struct ProcessCpu {
    /// Every process call, whole.
    pub total: CpuCounter,
    /// The sampled calls (those that timed buses), whole: what the buses'
    /// sum is part of.
    pub sampled: CpuCounter,
    calls: AtomicU64,
    overruns: AtomicU64,
    /// The worst call of the last window or the running one: its time and
    /// its deadline, in ns (two stores: a reader may pair one call's time
    /// with another's deadline for one frame of display).
    worst_ns: AtomicU64,
    worst_deadline_ns: AtomicU64,
}

/// A copy of the process call's figures at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessReading {
    pub total: CpuReading,
    pub sampled: CpuReading,
    /// Process calls measured.
    pub calls: u64,
    /// Calls that took longer than their real-time length.
    pub overruns: u64,
    /// The worst call of the last one or two [`WORST_WINDOW_MS`] windows,
    /// and its deadline.
    pub worst_ns: u64,
    pub worst_deadline_ns: u64,
}

impl ProcessReading {
    /// The worst call's time as a share of its deadline (1 = an overrun's edge).
    pub fn worst_ratio(&self) -> f64 {
        if self.worst_deadline_ns == 0 {
            return 0.0;
        }
        self.worst_ns as f64 / self.worst_deadline_ns as f64
    }
}

/// One engine's telemetry: the process call's figures and the bus and
/// insert counters by id. Shared by the control side (registry, readers)
/// and the audio thread (through [`ProcessTimer`] and the schedule's
/// handles).
#[derive(Debug)]
pub struct Telemetry {
    sample_rate: f32,
    clock: Clock,
    process: ProcessCpu,
    /// Counters by bus id and by (bus id, insert id), kept across
    /// recompiles so handles survive swaps. Locked only to look an entry up
    /// or add one, never on the audio thread.
    buses: Mutex<HashMap<String, Arc<CpuCounter>>>,
    inserts: Mutex<HashMap<(String, String), Arc<CpuCounter>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Telemetry {
    /// Telemetry for an engine running at `sample_rate`, timing with
    /// [`Clock::new`]. Control side.
    pub fn new(sample_rate: f32) -> Self {
        Self::with_clock(sample_rate, Clock::new())
    }

    pub fn with_clock(sample_rate: f32, clock: Clock) -> Self {
        Self { sample_rate, clock, process: ProcessCpu::default(), buses: Default::default(), inserts: Default::default() }
    }

    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The process call's figures.
    pub fn process(&self) -> ProcessReading {
        let p = &self.process;
        ProcessReading {
            total: p.total.read(),
            sampled: p.sampled.read(),
            calls: p.calls.load(Ordering::Relaxed),
            overruns: p.overruns.load(Ordering::Relaxed),
            worst_ns: p.worst_ns.load(Ordering::Relaxed),
            worst_deadline_ns: p.worst_deadline_ns.load(Ordering::Relaxed),
        }
    }

    /// A bus's figures, or `None` for a bus never compiled with this engine.
    pub fn bus(&self, bus_id: &str) -> Option<CpuReading> {
        lock(&self.buses).get(bus_id).map(|c| c.read())
    }

    /// An insert's figures, or `None` for an insert never compiled.
    pub fn insert(&self, bus_id: &str, insert_id: &str) -> Option<CpuReading> {
        lock(&self.inserts).get(&(bus_id.to_string(), insert_id.to_string())).map(|c| c.read())
    }

    /// The counter of bus `bus_id`, made on first use. Control side.
    pub(crate) fn bus_counter(&self, bus_id: &str) -> Arc<CpuCounter> {
        lock(&self.buses).entry(bus_id.to_string()).or_default().clone()
    }

    /// The counter of an insert, made on first use. Control side.
    pub(crate) fn insert_counter(&self, bus_id: &str, insert_id: &str) -> Arc<CpuCounter> {
        lock(&self.inserts).entry((bus_id.to_string(), insert_id.to_string())).or_default().clone()
    }

    /// The audio thread's timer, writing into this telemetry.
    pub fn timer(self: &Arc<Self>) -> ProcessTimer {
        let sample_rate = self.sample_rate.max(1.0);
        let tau_frames = SMOOTHING_MS * 0.001 * sample_rate;
        ProcessTimer {
            telemetry: self.clone(),
            clock: self.clock,
            enabled: true,
            ns_per_frame: 1e9 / sample_rate as f64,
            per_frame_weight: 1.0 / tau_frames.max(1.0),
            since_sample: 0,
            next_sample: 0,
            rng: 0x9E37_79B9,
            window_frames: (WORST_WINDOW_MS * 0.001 * sample_rate) as u64,
            window_left: 0,
            window_worst: (0.0, 0, 0),
            published_worst: 0.0,
            cached_frames: 0,
            deadline_ns: 0,
            percent_per_ns: 0.0,
            total_weight: 0.0,
        }
    }
}

/// Where a process call started, and whether it times buses.
#[derive(Clone, Copy, Debug)]
pub struct CallStart {
    at: Stamp,
    sampled: bool,
}

/// What a sampled call hands the schedule to time its buses and inserts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BusTiming {
    pub clock: Clock,
    pub ns_per_frame: f64,
    /// Smoothing step of this sample (the audio since the last one over the
    /// time constant).
    pub weight: f32,
    /// Frames of the whole call (or host block) the slices belong to: a
    /// slice moves the smoothed figures by its share of `weight`.
    pub call_frames: usize,
}

/// [`BusTiming`] for one slice of `frames` frames.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SliceTiming {
    clock: Clock,
    frames: usize,
    percent_per_ns: f32,
    weight: f32,
}

impl BusTiming {
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub(crate) fn slice(&self, frames: usize) -> SliceTiming {
        let percent_per_ns = (100.0 / (frames.max(1) as f64 * self.ns_per_frame)) as f32;
        // A block split at events is timed in parts: a part of a share s of
        // the block keeps (1 − w)^s of the old figure, so parts that all
        // measure the same move it exactly as one whole block would.
        let share = (frames as f32 / self.call_frames.max(1) as f32).min(1.0);
        let weight = 1.0 - (1.0 - self.weight).powf(share);
        SliceTiming { clock: self.clock, frames, percent_per_ns, weight }
    }
}

impl SliceTiming {
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub(crate) fn now(&self) -> Stamp {
        self.clock.now()
    }

    /// Adds the time since `*mark` to `counter` and moves `*mark` to now.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub(crate) fn lap(&self, mark: &mut Stamp, counter: &CpuCounter) {
        let now = self.clock.now();
        self.add(counter, self.clock.ns_between(*mark, now));
        *mark = now;
    }

    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub(crate) fn add(&self, counter: &CpuCounter, ns: u64) {
        counter.add(ns, self.frames, self.percent_per_ns, self.weight);
    }
}

/// The audio thread's side of the process call's figures: times every
/// call, decides which calls time buses, keeps the worst-call window.
pub struct ProcessTimer {
    telemetry: Arc<Telemetry>,
    clock: Clock,
    enabled: bool,
    ns_per_frame: f64,
    /// Smoothing step per frame of audio.
    per_frame_weight: f32,
    /// Frames since the last sampled call, and until the next (the first
    /// call is sampled).
    since_sample: u64,
    next_sample: u64,
    /// Xorshift state drawing the intervals (a fixed seed: runs repeat).
    rng: u32,
    window_frames: u64,
    window_left: u64,
    /// The worst call of the running window and the one published:
    /// (percent of its deadline, time, deadline in ns).
    window_worst: (f32, u64, u64),
    published_worst: f32,
    /// The last call's length and what follows from it (calls are usually
    /// all the same length, so this divides once).
    cached_frames: usize,
    deadline_ns: u64,
    percent_per_ns: f32,
    total_weight: f32,
}

impl ProcessTimer {
    /// Turns measuring on or off (off: no clock is read, figures stand still).
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Starts timing a process call (`None` while disabled).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn begin(&self) -> Option<CallStart> {
        if !self.enabled {
            return None;
        }
        Some(CallStart { at: self.clock.now(), sampled: self.since_sample >= self.next_sample })
    }

    /// How the schedule times its buses in the call `start` began, if it is
    /// a sampled one; the call (or host block) has `call_frames` frames.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub(crate) fn bus_timing(&self, start: Option<CallStart>, call_frames: usize) -> Option<BusTiming> {
        match start {
            Some(s) if s.sampled => Some(BusTiming { clock: self.clock, ns_per_frame: self.ns_per_frame, weight: self.sample_weight(), call_frames }),
            _ => None,
        }
    }

    fn sample_weight(&self) -> f32 {
        (self.since_sample as f32 * self.per_frame_weight).min(1.0)
    }

    /// Ends the call `start` began, which processed `frames` frames.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn end(&mut self, start: Option<CallStart>, frames: usize) {
        let Some(start) = start else { return };
        let ns = self.clock.ns_between(start.at, self.clock.now());
        self.record_call(ns, frames, start.sampled);
    }

    /// The accounting of one process call of `frames` frames that took
    /// `ns`: the total and (if `sampled`) the sampled counters, the call
    /// count, an overrun when it took longer than `frames` at the sample
    /// rate, and the worst call. [`Self::end`] calls it with the measured
    /// time; tests call it with made-up ones.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn record_call(&mut self, ns: u64, frames: usize, sampled: bool) {
        if frames == 0 {
            return;
        }
        if frames != self.cached_frames {
            let deadline_ns = frames as f64 * self.ns_per_frame;
            self.cached_frames = frames;
            self.deadline_ns = deadline_ns as u64;
            self.percent_per_ns = (100.0 / deadline_ns) as f32;
            self.total_weight = (frames as f32 * self.per_frame_weight).min(1.0);
        }
        let deadline_ns = self.deadline_ns;
        let percent = ns as f32 * self.percent_per_ns;
        let p = &self.telemetry.process;
        p.total.add_measured(ns, frames, percent, self.total_weight);
        if sampled {
            p.sampled.add_measured(ns, frames, percent, self.sample_weight());
            self.since_sample = 0;
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 17;
            self.rng ^= self.rng << 5;
            self.next_sample = SAMPLE_INTERVAL_FRAMES / 2 + self.rng as u64 % SAMPLE_INTERVAL_FRAMES;
        }
        self.since_sample += frames as u64;
        p.calls.store(p.calls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if ns > deadline_ns {
            p.overruns.store(p.overruns.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        // The worst call shown: the last finished window's, or the running
        // window's as soon as it is worse.
        if self.window_left == 0 {
            self.publish_worst(self.window_worst);
            self.window_worst = (0.0, 0, 0);
            self.window_left = self.window_frames.max(1);
        }
        if percent > self.window_worst.0 {
            self.window_worst = (percent, ns, deadline_ns);
            if percent > self.published_worst {
                self.publish_worst(self.window_worst);
            }
        }
        self.window_left = self.window_left.saturating_sub(frames as u64);
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn publish_worst(&mut self, (percent, ns, deadline_ns): (f32, u64, u64)) {
        let p = &self.telemetry.process;
        p.worst_ns.store(ns, Ordering::Relaxed);
        p.worst_deadline_ns.store(deadline_ns, Ordering::Relaxed);
        self.published_worst = percent;
    }
}

/// Counts the overruns of about the last [`OverrunWatch::WINDOW_S`]
/// seconds from the running total, for the editor's hint that the session
/// is too heavy for the buffer size. Control side: the editor feeds it
/// every frame.
#[derive(Clone, Debug, Default)]
pub struct OverrunWatch {
    /// (seconds, overrun total), one entry a second at most, oldest first.
    history: std::collections::VecDeque<(f64, u64)>,
}

impl OverrunWatch {
    /// How far back overruns are counted.
    pub const WINDOW_S: f64 = 10.0;
    /// More than this many overruns in the window is "repeating".
    pub const REPEATING: u64 = 3;

    /// Notes the overrun total at `now_s` (seconds on any steady clock) and
    /// returns the overruns since the oldest note of the last
    /// [`Self::WINDOW_S`] seconds (notes are a second apart, so that is the
    /// last 9 to 10 seconds).
    pub fn update(&mut self, now_s: f64, overruns: u64) -> u64 {
        if self.history.back().is_some_and(|&(_, total)| overruns < total) {
            // A new engine (a re-activation) counts from 0 again.
            self.history.clear();
        }
        if self.history.back().is_none_or(|&(t, _)| now_s - t >= 1.0) {
            self.history.push_back((now_s, overruns));
        }
        // The newest note is at most a second old, so one always stays.
        while self.history.front().is_some_and(|&(t, _)| now_s - t > Self::WINDOW_S) {
            self.history.pop_front();
        }
        overruns - self.history.front().map_or(overruns, |&(_, total)| total)
    }

    /// Whether `recent` overruns (from [`Self::update`]) are "repeating":
    /// more than [`Self::REPEATING`].
    pub fn repeating(recent: u64) -> bool {
        recent > Self::REPEATING
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smoothed percentage a fresh counter shows after one sampled
    /// 64-frame block timed in parts of `parts` frames, every frame costing
    /// the same (so every part measures the same percentage, 50 %).
    fn smoothed_after(parts: &[usize]) -> f32 {
        let ns_per_frame = 1e9 / 48_000.0;
        let timing = BusTiming { clock: Clock::instant(), ns_per_frame, weight: 0.5, call_frames: 64 };
        let counter = CpuCounter::default();
        for &frames in parts {
            let ns = (0.5 * frames as f64 * ns_per_frame) as u64;
            timing.slice(frames).add(&counter, ns);
        }
        counter.read().percent
    }

    #[test]
    fn a_block_timed_in_parts_moves_the_smoothed_figure_about_as_one_whole_block() {
        // Whole: one step of weight ½ from 0 towards 50 % = 25 %.
        let whole = smoothed_after(&[64]);
        assert!((whole - 25.0).abs() < 0.01, "{whole}");
        // In parts of 1, 7 and 56 frames, a part keeping (½)^(n/64) of the
        // old figure: together ½, so the same 25 % (up to rounding).
        // Weighing each part as a whole block (three steps of ½) would read
        // 43.75 %; weighing each by its plain share of ½, 23.62 %.
        let split = smoothed_after(&[1, 7, 56]);
        assert!((split - whole).abs() < 0.01, "{split} vs {whole}");
        // Sixty-four 1-frame parts: the same.
        let finest = smoothed_after(&[1; 64]);
        assert!((finest - whole).abs() < 0.01, "{finest} vs {whole}");
    }
}
