//! The audio thread's side of the VST3 layer: a host's `ProcessData` turned
//! into [`HostBuffers`], time-ordered [`Event`]s and a [`Transport`] for
//! [`MamAudio::process`], and the plugin's MIDI back into the host's
//! output event list.
//!
//! Events are never dropped for want of room: the host's parameter queues
//! (each in time order, as the spec has hosts build them) and its note list
//! are merged in time order, and when a run's event list is full the engine
//! processes up to the next event's sample and starts a new run there, as
//! the CLAP layer does.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;

use vst3::ComRef;
use vst3::Steinberg::Vst::{
    AudioBusBuffers, Event as HostEvent, IEventList, IEventListTrait, IParamValueQueue, IParamValueQueueTrait, IParameterChanges,
    IParameterChangesTrait, ProcessContext, ProcessContext_::StatesAndFlags_, ProcessData, SymbolicSampleSizes_,
};
use vst3::Steinberg::{kInvalidArgument, kNotInitialized, kResultFalse, kResultOk, tresult};

use super::buses::{NUM_AUDIO_INPUTS, NUM_AUDIO_OUTPUTS};
use super::instance::Instance;
use super::midi;
use crate::format::{no_alloc, Event, HostBuffers, Incoming, MidiEvent, Transport, MAX_MIDI_OUT};
use crate::MamAudio;

/// Events one run gathers before the engine processes up to the next
/// event's sample and starts a new run. No more than the engine's MIDI
/// output holds, so a run's MIDI always fits it.
const MAX_EVENTS_PER_RUN: usize = MAX_MIDI_OUT;

/// Note events read from the host's list and put in time order at a time;
/// a longer list is read in batches of this many.
const NOTE_BATCH: usize = 1024;

/// What the audio thread owns while the plugin is active. Every buffer is
/// allocated here, at activation, to the most a block can need.
pub(super) struct AudioSide {
    pub audio: MamAudio,
    sample_rate: f64,
    /// The current run's events, times relative to its start; capacity
    /// [`MAX_EVENTS_PER_RUN`].
    events: Vec<Event>,
    /// One cursor per host parameter queue of a known parameter; capacity:
    /// one per parameter (the spec gives each parameter one queue).
    queues: Vec<QueueCursor>,
    /// The notes of event bus 0, a batch at a time.
    notes: NoteCursor,
    /// The merge: `(time, source)` of each source's next event, sources
    /// being the queues by index and then the notes, so equal times keep
    /// queue order and notes come last; capacity: queues + 1.
    heap: BinaryHeap<Reverse<(u32, u32)>>,
    /// Host queues beyond one per parameter, not read (never seen; kept
    /// as a count since the audio thread cannot log).
    skipped_queues: u64,
}

// The audio half is built on the UI thread and used on the audio thread;
// `AudioSlot` (instance.rs) hands it over on the strength of this.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<AudioSide>();
};

/// A host object pointer kept only for the process call that gave it: set
/// at the start of the call and cleared before it returns.
struct HostPtr<T>(*mut T);

// SAFETY: never dereferenced outside the process call that stored it (see
// `AudioSide::process_events`), so moving the empty holder between threads
// moves no access to host memory.
unsafe impl<T> Send for HostPtr<T> {}

/// What a queue's points become.
#[derive(Clone, Copy)]
enum Target {
    /// A plugin parameter: its table index and numeric id.
    Param { index: usize, hash: u32 },
    /// A MIDI controller parameter (midi.rs): its index among them, the
    /// channel and controller, and whether MIDI input is active.
    Controller { index: usize, channel: u8, number: u8, to_midi: bool },
}

/// One host parameter queue, read point by point.
struct QueueCursor {
    queue: HostPtr<IParamValueQueue>,
    target: Target,
    next_point: i32,
    num_points: i32,
    /// The point at the head: time (never before the previous one's) and value.
    head: (u32, f64),
}

impl QueueCursor {
    /// Moves the head to the next readable point; `false` at the end.
    /// Runs on the audio thread: no allocation, no locks.
    ///
    /// # Safety
    /// `queue` is the host's valid queue (within the process call).
    unsafe fn advance(&mut self, frames: usize) -> bool {
        // SAFETY: valid (caller).
        let Some(queue) = (unsafe { ComRef::from_raw(self.queue.0) }) else { return false };
        while self.next_point < self.num_points {
            let (mut offset, mut value) = (0i32, 0.0f64);
            // SAFETY: a valid queue; the out-pointers are locals.
            let read = unsafe { queue.getPoint(self.next_point, &mut offset, &mut value) } == kResultOk;
            self.next_point += 1;
            if read && value.is_finite() {
                // A point out of order applies where the previous one did.
                self.head = (clamp_time(offset, frames).max(self.head.0), value.clamp(0.0, 1.0));
                return true;
            }
        }
        false
    }
}

/// The host's note list of this block, in time order, a batch at a time.
struct NoteCursor {
    list: HostPtr<IEventList>,
    num_events: i32,
    next_index: i32,
    /// `(time, host index, message)`, sorted; capacity [`NOTE_BATCH`].
    batch: Vec<(u32, i32, [u8; 3])>,
    next_in_batch: usize,
    /// Time of the last note handed out: a later batch's earlier note (a
    /// host list out of order) applies there.
    last_time: u32,
}

impl NoteCursor {
    fn new() -> Self {
        Self {
            list: HostPtr(std::ptr::null_mut()),
            num_events: 0,
            next_index: 0,
            batch: Vec::with_capacity(NOTE_BATCH),
            next_in_batch: 0,
            last_time: 0,
        }
    }

    /// The next note: time and message.
    fn head(&self) -> Option<(u32, [u8; 3])> {
        self.batch.get(self.next_in_batch).map(|&(time, _, data)| (time.max(self.last_time), data))
    }

    /// Reads the next batch of note events (event bus 0) from the host's
    /// list and orders it by time, host order within a time (the index
    /// makes the keys distinct, so the unstable sort, which does not
    /// allocate, keeps it). Runs on the audio thread: no allocation, no locks.
    ///
    /// # Safety
    /// `list` is null or the host's valid list (within the process call).
    unsafe fn refill(&mut self, frames: usize) {
        self.batch.clear();
        self.next_in_batch = 0;
        // SAFETY: null or valid (caller).
        let Some(list) = (unsafe { ComRef::from_raw(self.list.0) }) else { return };
        while self.next_index < self.num_events && self.batch.len() < NOTE_BATCH {
            let index = self.next_index;
            self.next_index += 1;
            // SAFETY: Event is plain data; all-zero is a valid value of it.
            let mut event: HostEvent = unsafe { std::mem::zeroed() };
            // SAFETY: a valid list; `event` is a local it fills in.
            if unsafe { list.getEvent(index, &mut event) } != kResultOk || event.busIndex != 0 {
                continue;
            }
            if let Some(data) = midi::from_host(&event) {
                // Within capacity (the loop's bound): no allocation.
                self.batch.push((clamp_time(event.sampleOffset, frames), index, data));
            }
        }
        if !self.batch.is_sorted_by_key(|&(time, index, _)| (time, index)) {
            self.batch.sort_unstable_by_key(|&(time, index, _)| (time, index));
        }
    }

    /// Hands out the head; reads the next batch after the last of one.
    ///
    /// # Safety
    /// As for [`Self::refill`].
    unsafe fn advance(&mut self, frames: usize) {
        if let Some((time, _)) = self.head() {
            self.last_time = time;
        }
        self.next_in_batch += 1;
        if self.next_in_batch >= self.batch.len() {
            // SAFETY: the caller's contract.
            unsafe { self.refill(frames) };
        }
    }
}

impl AudioSide {
    /// `num_params`: every parameter id a host may send a queue for.
    pub fn new(audio: MamAudio, sample_rate: f64, num_params: usize) -> Self {
        Self {
            audio,
            sample_rate,
            events: Vec::with_capacity(MAX_EVENTS_PER_RUN),
            queues: Vec::with_capacity(num_params),
            notes: NoteCursor::new(),
            heap: BinaryHeap::with_capacity(num_params + 1),
            skipped_queues: 0,
        }
    }

    /// Opens this block's event sources: a cursor per queue of a known
    /// parameter, and the note list (`notes`: null when MIDI input is
    /// inactive). Runs on the audio thread: no allocation, no locks.
    ///
    /// # Safety
    /// `changes` and `notes` are null or the host's valid objects for this
    /// process call; [`Self::close_sources`] runs before the call returns.
    unsafe fn open_sources(&mut self, instance: &Instance, changes: *mut IParameterChanges, notes: *mut IEventList, frames: usize) {
        self.heap.clear();
        self.queues.clear();
        let midi_in = !notes.is_null();
        // SAFETY: null or valid (caller).
        if let Some(changes) = unsafe { ComRef::from_raw(changes) } {
            // SAFETY: calls on the host's valid object.
            for queue_index in 0..unsafe { changes.getParameterCount() } {
                // SAFETY: as above; null or a valid queue.
                let queue = unsafe { changes.getParameterData(queue_index) };
                let Some(queue_ref) = (unsafe { ComRef::from_raw(queue) }) else { continue };
                // SAFETY: a valid queue.
                let id = unsafe { queue_ref.getParameterId() };
                let target = match (instance.table.index_of(id), midi::param_controller(id)) {
                    (Some(index), _) => Target::Param { index, hash: id },
                    (None, Some((channel, number))) => {
                        Target::Controller { index: (id - midi::CONTROLLER_PARAMS_START) as usize, channel, number, to_midi: midi_in }
                    }
                    // No such parameter: nothing to apply.
                    (None, None) => continue,
                };
                if self.queues.len() == self.queues.capacity() {
                    self.skipped_queues += 1;
                    continue;
                }
                // SAFETY: a valid queue.
                let num_points = unsafe { queue_ref.getPointCount() };
                let mut cursor = QueueCursor { queue: HostPtr(queue), target, next_point: 0, num_points, head: (0, 0.0) };
                // SAFETY: a valid queue.
                if unsafe { cursor.advance(frames) } {
                    // Within capacity (checked above, and the heap holds one
                    // more than the queues): no allocation.
                    self.heap.push(Reverse((cursor.head.0, self.queues.len() as u32)));
                    self.queues.push(cursor);
                }
            }
        }
        self.notes.list = HostPtr(notes);
        self.notes.last_time = 0;
        self.notes.next_index = 0;
        // SAFETY: null or valid (caller).
        self.notes.num_events = unsafe { ComRef::from_raw(notes) }.map_or(0, |list| unsafe { list.getEventCount() });
        // SAFETY: as above.
        unsafe { self.notes.refill(frames) };
        if let Some((time, _)) = self.notes.head() {
            self.heap.push(Reverse((time, self.queues.len() as u32)));
        }
    }

    /// Forgets the host's objects (the end of the process call).
    fn close_sources(&mut self) {
        self.queues.clear();
        self.heap.clear();
        self.notes.list = HostPtr(std::ptr::null_mut());
        self.notes.batch.clear();
        self.notes.num_events = 0;
    }

    /// The next event in time order, with its time in the block; `Some((time,
    /// None))` for a controller change while MIDI input is inactive (its
    /// value is kept, nothing is played). Writes the controller's view of
    /// every value it hands out. Runs on the audio thread: no allocation,
    /// no locks.
    ///
    /// # Safety
    /// Between [`Self::open_sources`] and [`Self::close_sources`].
    unsafe fn next_event(&mut self, instance: &Instance, frames: usize) -> Option<(u32, Option<Incoming>)> {
        let Reverse((time, source)) = self.heap.pop()?;
        let source = source as usize;
        let incoming = match self.queues.get_mut(source) {
            Some(cursor) => {
                let value = cursor.head.1;
                let incoming = match cursor.target {
                    Target::Param { index, hash } => {
                        instance.set_shadow(index, value);
                        Some(Incoming::Param { hash, normalized: value as f32 })
                    }
                    Target::Controller { index, channel, number, to_midi } => {
                        instance.controller_values[index].store((value as f32).to_bits(), Ordering::Relaxed);
                        to_midi.then(|| Incoming::Midi(midi::controller_message(channel, number, value)))
                    }
                };
                // SAFETY: the caller's contract.
                if unsafe { cursor.advance(frames) } {
                    // Within capacity: this source's entry was just popped.
                    self.heap.push(Reverse((cursor.head.0, source as u32)));
                }
                incoming
            }
            None => {
                let (_, data) = self.notes.head()?;
                // SAFETY: the caller's contract.
                unsafe { self.notes.advance(frames) };
                if let Some((next, _)) = self.notes.head() {
                    self.heap.push(Reverse((next, source as u32)));
                }
                Some(Incoming::Midi(data))
            }
        };
        Some((time, incoming))
    }

    /// Runs frames `[start, end)` of the host's block with the gathered
    /// events (times relative to `start`), writes the MIDI they produced to
    /// `out` and empties the event list. `end == start` applies the events
    /// only (a parameter flush). Runs on the audio thread: no allocation,
    /// no locks.
    ///
    /// # Safety
    /// `buffers` as `Instance::host_buffers` made them for this call;
    /// `out` null or the host's valid output list.
    unsafe fn run(&mut self, buffers: &HostBuffers, start: usize, end: usize, transport: &Transport, out: *mut IEventList) {
        let part = buffers.part(start, end - start);
        let transport = crate::format::transport_at(transport, start, self.sample_rate);
        let audio = &mut self.audio;
        let events = &self.events;
        // SAFETY: `part`'s pointers are the host's, valid for
        // `buffers.frames` samples from `start` on; no output overlaps
        // another (host_buffers).
        no_alloc(|| unsafe { audio.process(&part, events, &transport) });
        // SAFETY: null or valid (caller).
        unsafe { write_midi(self.audio.midi_out(), out, start, buffers.frames) };
        self.events.clear();
    }
}

/// A host sample offset as a time within a block of `frames` frames.
/// Points outside the block (hosts should not send them) are moved to its
/// nearest end.
fn clamp_time(offset: i32, frames: usize) -> u32 {
    offset.clamp(0, frames.saturating_sub(1) as i32) as u32
}

impl Instance {
    /// One `IAudioProcessor::process` call. A block of zero frames (a
    /// parameter flush) applies the parameter changes and processes no
    /// audio. Runs on the audio thread: no allocation, no locks.
    ///
    /// # Safety
    /// `data` is the host's process data for this call, valid as the spec
    /// describes it (arrays as long as their counts say, channel pointers
    /// valid for `numSamples` samples or null).
    pub unsafe fn process(&self, data: &ProcessData) -> tresult {
        if data.symbolicSampleSize != SymbolicSampleSizes_::kSample32 as i32 {
            return kInvalidArgument;
        }
        // Only contended when a host (de)activates during a process call,
        // which the spec forbids: skip the block rather than wait.
        let Some(mut slot) = self.audio.try_lock() else { return kResultFalse };
        let Some(side) = slot.as_mut() else { return kNotInitialized };
        let frames = data.numSamples.max(0) as usize;
        // SAFETY: the host's bus arrays, valid for this call.
        let buffers = unsafe { self.host_buffers(data, frames) };
        // SAFETY: as above.
        unsafe { write_silence_flags(data, &buffers) };
        // SAFETY: the host's context, null or valid for this call.
        let transport = unsafe { transport(data.processContext) };
        let notes = if self.buses.event_input_active() { data.inputEvents } else { std::ptr::null_mut() };
        let out = if self.buses.event_output_active() { data.outputEvents } else { std::ptr::null_mut() };
        // SAFETY: the host's objects, valid for this call; closed below.
        unsafe { side.open_sources(self, data.inputParameterChanges, notes, frames) };
        side.events.clear();
        let mut start = 0;
        // SAFETY: between open_sources and close_sources.
        while let Some((time, incoming)) = unsafe { side.next_event(self, frames) } {
            let Some(incoming) = incoming else { continue };
            // The merge hands out times in order, so `time >= start`.
            let time = (time as usize).max(start);
            if side.events.len() == side.events.capacity() {
                // SAFETY: the buffers and list of this call.
                unsafe { side.run(&buffers, start, time, &transport, out) };
                start = time;
            }
            // Within capacity (checked above): no allocation.
            side.events.push(incoming.at((time - start) as u32));
        }
        // SAFETY: as above.
        unsafe { side.run(&buffers, start, frames, &transport, out) };
        side.close_sources();
        if let Some((hash, normalized, _)) = side.audio.take_param_output() {
            // A value the plugin set itself (a mapped record action): the
            // host (and through it the controller side) learns it.
            // SAFETY: null or the host's valid object for this call.
            if let Some(changes) = unsafe { ComRef::from_raw(data.outputParameterChanges) } {
                let mut index = 0;
                // SAFETY: calls on the host's valid object; the queue is null or valid.
                let queue = unsafe { changes.addParameterData(&hash, &mut index) };
                if let Some(queue) = unsafe { ComRef::from_raw(queue) } {
                    let mut point = 0;
                    // SAFETY: a valid queue.
                    unsafe { queue.addPoint(frames.saturating_sub(1) as i32, f64::from(normalized), &mut point) };
                }
            }
        }
        if let Some(latency) = side.audio.take_latency_change() {
            self.latency.store(latency, Ordering::Relaxed);
            // The spec wants restartComponent on the UI thread: flagged
            // here, sent from there (see main_thread.rs).
            self.announce_latency_change();
        }
        kResultOk
    }

    /// Clears the audio half's delay lines and tails (setProcessing(true),
    /// which hosts may call from the audio thread). Runs on the audio
    /// thread: no allocation, no locks.
    pub fn reset_audio(&self) {
        if let Some(mut slot) = self.audio.try_lock() {
            if let Some(side) = slot.as_mut() {
                side.audio.reset();
            }
        }
    }

    /// The host's audio buses as [`HostBuffers`]: a bus the host did not
    /// pass (an index past `numInputs`/`numOutputs`), left inactive, or gave
    /// no channel memory for is null. A mono input feeds both sides; the
    /// main output's first channel alone still gets the left side, a stem
    /// given one channel gets silence there (the engine's rule).
    ///
    /// # Safety
    /// `data`'s bus arrays are as long as its counts say.
    unsafe fn host_buffers(&self, data: &ProcessData, frames: usize) -> HostBuffers {
        let mut buffers = HostBuffers::empty(frames);
        if frames == 0 {
            return buffers;
        }
        // SAFETY: arrays of `numInputs`/`numOutputs` buses (caller).
        let inputs = unsafe { bus_slice(data.inputs, data.numInputs, NUM_AUDIO_INPUTS) };
        let outputs = unsafe { bus_slice(data.outputs, data.numOutputs, NUM_AUDIO_OUTPUTS) };
        for (index, bus) in inputs.iter().enumerate().filter(|(i, _)| self.buses.audio_input_active(*i)) {
            // SAFETY: the host's channel array for this bus.
            let [left, right] = unsafe { channels(bus) };
            // Mono: the one channel is both sides.
            let port: [*const f32; 2] = [left, if bus.numChannels == 1 { left } else { right }];
            match index {
                0 => buffers.main_in = port,
                key => buffers.keys[key - 1] = port,
            }
        }
        for (index, bus) in outputs.iter().enumerate().filter(|(i, _)| self.buses.audio_output_active(*i)) {
            // SAFETY: the host's channel array for this bus.
            let port = unsafe { channels(bus) };
            match index {
                0 => buffers.main_out = port,
                stem => buffers.stems[stem - 1] = port,
            }
        }
        drop_aliased_outputs(&mut buffers);
        buffers
    }
}

/// Output channels whose memory the host passed twice, wholly or in part
/// (some hosts hand one scratch buffer to every output they do not use),
/// would give the engine two writers of one memory. The main output keeps
/// its channels (a right channel overlapping the left is dropped: the
/// engine writes it to a spare); a stem overlapping itself or any channel
/// before it is not written at all. (The engine drops overlapping channels
/// one by one too; after this it finds none, so the silence flags below
/// stay exact.)
fn drop_aliased_outputs(buffers: &mut HostBuffers) {
    let bytes = buffers.frames.max(1) * std::mem::size_of::<f32>();
    let overlaps = |a: *mut f32, b: *mut f32| {
        let (a, b) = (a as usize, b as usize);
        !(a == 0 || b == 0) && a < b.saturating_add(bytes) && b < a.saturating_add(bytes)
    };
    let null = std::ptr::null_mut();
    if overlaps(buffers.main_out[0], buffers.main_out[1]) {
        buffers.main_out[1] = null;
    }
    for stem in 0..buffers.stems.len() {
        let [left, right] = buffers.stems[stem];
        let mut earlier = buffers.main_out.iter().chain(buffers.stems[..stem].iter().flatten());
        if overlaps(left, right) || earlier.any(|&p| overlaps(p, left) || overlaps(p, right)) {
            buffers.stems[stem] = [null; 2];
        }
    }
}

/// Tells the host which output buses hold silence (`silenceFlags`: a set
/// bit means every sample of that channel is 0), for each bus the plugin
/// writes this call: none for the main output and full stems, every
/// channel for a stem the host gave one channel (which the engine
/// silences). Buses not written keep what the host put there.
///
/// # Safety
/// `data.outputs` holds `numOutputs` buses; `buffers` came from them.
unsafe fn write_silence_flags(data: &ProcessData, buffers: &HostBuffers) {
    if data.outputs.is_null() || buffers.frames == 0 {
        return;
    }
    let count = (data.numOutputs.max(0) as usize).min(NUM_AUDIO_OUTPUTS);
    for index in 0..count {
        let port = if index == 0 { buffers.main_out } else { buffers.stems[index - 1] };
        let written = port.iter().filter(|p| !p.is_null()).count();
        // SAFETY: `index < numOutputs` (caller); no reference to the bus
        // array is alive (host_buffers' slices ended with it).
        let bus = unsafe { &mut *data.outputs.add(index) };
        bus.silenceFlags = match (index, written) {
            (_, 0) => continue,
            (0, _) | (_, 2) => 0,
            _ => match bus.numChannels.clamp(0, 64) {
                64 => u64::MAX,
                n => (1u64 << n) - 1,
            },
        };
    }
}

/// The first `min(count, declared)` buses of a host bus array.
///
/// # Safety
/// `buses` is null or points at `count` buses.
unsafe fn bus_slice<'a>(buses: *const AudioBusBuffers, count: i32, declared: usize) -> &'a [AudioBusBuffers] {
    let count = (count.max(0) as usize).min(declared);
    if buses.is_null() || count == 0 {
        return &[];
    }
    // SAFETY: at least `count` buses (caller).
    unsafe { std::slice::from_raw_parts(buses, count) }
}

/// A bus's first two channel pointers (null where the host passed none).
///
/// # Safety
/// The bus's channel array is null or holds `numChannels` pointers.
unsafe fn channels(bus: &AudioBusBuffers) -> [*mut f32; 2] {
    // SAFETY: the union member for 32-bit samples, the only size we accept.
    let array = unsafe { bus.__field0.channelBuffers32 };
    let count = bus.numChannels.max(0) as usize;
    let mut port = [std::ptr::null_mut(); 2];
    if !array.is_null() {
        for (c, slot) in port.iter_mut().enumerate().take(count) {
            // SAFETY: `c < numChannels` (caller).
            *slot = unsafe { *array.add(c) };
        }
    }
    port
}

/// The MIDI of a run starting at frame `start` into the host's output list
/// (event bus 0), at block times. An event the host refuses (a full list)
/// is lost, but the rest are still offered, so a note-off after a refused
/// controller still gets its chance. Runs on the audio thread: no
/// allocation, no locks.
///
/// # Safety
/// `list` is null or the host's valid event list.
unsafe fn write_midi(midi: &[MidiEvent], list: *mut IEventList, start: usize, frames: usize) {
    // SAFETY: null or valid (caller).
    let Some(list) = (unsafe { ComRef::from_raw(list) }) else { return };
    for message in midi {
        let time = clamp_time((start + message.time as usize).min(i32::MAX as usize) as i32, frames);
        if let Some(mut event) = midi::to_host(message.data, time as i32) {
            // SAFETY: a valid list; `event` outlives the call (hosts copy it).
            unsafe { list.addEvent(&mut event) };
        }
    }
}

/// The host's transport, as far as its flags say the fields are valid.
///
/// # Safety
/// `context` is null or valid.
unsafe fn transport(context: *const ProcessContext) -> Transport {
    // SAFETY: null or valid (caller).
    let Some(c) = (unsafe { context.as_ref() }) else { return Transport::default() };
    let has = |flag: u32| c.state & flag != 0;
    Transport {
        playing: has(StatesAndFlags_::kPlaying),
        tempo: has(StatesAndFlags_::kTempoValid).then_some(c.tempo),
        // Project time in samples is always valid.
        position_samples: Some(c.projectTimeSamples),
        position_beats: has(StatesAndFlags_::kProjectTimeMusicValid).then_some(c.projectTimeMusic),
        bar_start_beats: has(StatesAndFlags_::kBarPositionValid).then_some(c.barPositionMusic),
        time_signature: (has(StatesAndFlags_::kTimeSigValid) && c.timeSigNumerator > 0 && c.timeSigDenominator > 0)
            .then_some((c.timeSigNumerator as u32, c.timeSigDenominator as u32)),
        loop_beats: (has(StatesAndFlags_::kCycleActive) && has(StatesAndFlags_::kCycleValid)).then_some((c.cycleStartMusic, c.cycleEndMusic)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use vst3::Steinberg::Vst::{Event_::EventTypes_, NoteOnEvent};
    use vst3::{Class, ComWrapper};

    /// A host's parameter queue.
    struct Queue {
        id: u32,
        points: Vec<(i32, f64)>,
    }

    impl Class for Queue {
        type Interfaces = (IParamValueQueue,);
    }

    impl IParamValueQueueTrait for Queue {
        unsafe fn getParameterId(&self) -> u32 {
            self.id
        }
        unsafe fn getPointCount(&self) -> i32 {
            self.points.len() as i32
        }
        unsafe fn getPoint(&self, index: i32, offset: *mut i32, value: *mut f64) -> tresult {
            let Some(&(o, v)) = self.points.get(index as usize) else { return kResultFalse };
            // SAFETY: the plugin's out-pointers.
            unsafe { (*offset, *value) = (o, v) };
            kResultOk
        }
        unsafe fn addPoint(&self, _offset: i32, _value: f64, _index: *mut i32) -> tresult {
            kResultFalse
        }
    }

    /// A host's parameter changes.
    struct Changes {
        queues: Vec<ComWrapper<Queue>>,
    }

    impl Class for Changes {
        type Interfaces = (IParameterChanges,);
    }

    impl IParameterChangesTrait for Changes {
        unsafe fn getParameterCount(&self) -> i32 {
            self.queues.len() as i32
        }
        unsafe fn getParameterData(&self, index: i32) -> *mut IParamValueQueue {
            self.queues[index as usize].as_com_ref::<IParamValueQueue>().unwrap().as_ptr()
        }
        unsafe fn addParameterData(&self, _id: *const u32, _index: *mut i32) -> *mut IParamValueQueue {
            std::ptr::null_mut()
        }
    }

    /// A host's event list, in or out.
    struct List {
        events: RefCell<Vec<HostEvent>>,
    }

    impl Class for List {
        type Interfaces = (IEventList,);
    }

    impl IEventListTrait for List {
        unsafe fn getEventCount(&self) -> i32 {
            self.events.borrow().len() as i32
        }
        unsafe fn getEvent(&self, index: i32, event: *mut HostEvent) -> tresult {
            let Some(e) = self.events.borrow().get(index as usize).copied() else { return kResultFalse };
            // SAFETY: the plugin's out-pointer.
            unsafe { *event = e };
            kResultOk
        }
        unsafe fn addEvent(&self, event: *mut HostEvent) -> tresult {
            // SAFETY: the plugin's event.
            self.events.borrow_mut().push(unsafe { *event });
            kResultOk
        }
    }

    fn note_on(offset: i32, pitch: i16) -> HostEvent {
        // SAFETY: plain data; all-zero is a valid value of it.
        let mut event: HostEvent = unsafe { std::mem::zeroed() };
        event.sampleOffset = offset;
        event.r#type = EventTypes_::kNoteOnEvent as u16;
        event.__field0.noteOn = NoteOnEvent { channel: 0, pitch, tuning: 0.0, velocity: 0.5, length: 0, noteId: -1 };
        event
    }

    fn changes(queues: Vec<(u32, Vec<(i32, f64)>)>) -> ComWrapper<Changes> {
        ComWrapper::new(Changes { queues: queues.into_iter().map(|(id, points)| ComWrapper::new(Queue { id, points })).collect() })
    }

    fn list(events: Vec<HostEvent>) -> ComWrapper<List> {
        ComWrapper::new(List { events: RefCell::new(events) })
    }

    /// An initialised, active instance (no host context, no buses passed).
    fn active_instance() -> std::sync::Arc<Instance> {
        let instance = Instance::new(None);
        // SAFETY: a null context.
        assert_eq!(unsafe { instance.initialize(std::ptr::null_mut()) }, kResultOk);
        instance.setup_processing(48_000.0, 512);
        assert_eq!(instance.set_active(true), kResultOk);
        instance
    }

    #[test]
    fn queues_and_notes_merge_in_time_order_ties_in_queue_order_then_notes() {
        let instance = active_instance();
        let table = &instance.table;
        let (a, b) = (table.by_id("bus1_gain").unwrap().hash, table.by_id("bus2_gain").unwrap().hash);
        // Queue a has a point out of order: it applies where the one before did.
        let changes = changes(vec![(a, vec![(5, 0.1), (2, 0.2), (9, 0.3)]), (b, vec![(0, 0.4), (5, 0.5)]), (12345, vec![(1, 1.0)])]);
        // The notes out of order: sorted.
        let notes = list(vec![note_on(7, 70), note_on(3, 30), note_on(5, 50)]);
        let mut slot = instance.audio.try_lock().unwrap();
        let side = slot.as_mut().unwrap();
        let mut order = Vec::new();
        // SAFETY: the objects outlive the sources, closed at the end.
        unsafe {
            side.open_sources(&instance, changes.to_com_ptr::<IParameterChanges>().unwrap().as_ptr(), notes.to_com_ptr::<IEventList>().unwrap().as_ptr(), 64);
            while let Some((time, incoming)) = side.next_event(&instance, 64) {
                order.push(match incoming.unwrap() {
                    Incoming::Param { hash, normalized } => format!("{time} {} {normalized}", if hash == a { "a" } else { "b" }),
                    Incoming::Midi(data) => format!("{time} note {}", data[1]),
                });
            }
        }
        side.close_sources();
        assert_eq!(order, ["0 b 0.4", "3 note 30", "5 a 0.1", "5 a 0.2", "5 b 0.5", "5 note 50", "7 note 70", "9 a 0.3"]);
        drop(slot);
        let index = table.index_of(a).unwrap();
        assert_eq!(instance.shadow(index), 0.3, "the controller's view follows the automation");
        assert_eq!(instance.terminate(), kResultOk);
    }

    #[test]
    fn a_block_with_more_events_than_a_run_holds_plays_every_one_in_order() {
        let instance = active_instance();
        // 3000 notes on 512 frames: three runs' worth and then some, none lost.
        let count = 3000;
        let notes = list((0..count).map(|i| note_on((i * 512 / count) as i32, (i % 128) as i16)).collect());
        let out = list(Vec::new());
        // SAFETY: plain data; all-zero is a valid value of it (no buses).
        let mut data: ProcessData = unsafe { std::mem::zeroed() };
        data.symbolicSampleSize = SymbolicSampleSizes_::kSample32 as i32;
        data.numSamples = 512;
        data.inputEvents = notes.to_com_ptr::<IEventList>().unwrap().as_ptr();
        data.outputEvents = out.to_com_ptr::<IEventList>().unwrap().as_ptr();
        // SAFETY: every pointer in `data` is null or valid for the call.
        assert_eq!(unsafe { instance.process(&data) }, kResultOk);
        let got: Vec<(i32, i16)> = out.events.borrow().iter().map(|e| (e.sampleOffset, unsafe { e.__field0.noteOn.pitch })).collect();
        let sent: Vec<(i32, i16)> = notes.events.borrow().iter().map(|e| (e.sampleOffset, unsafe { e.__field0.noteOn.pitch })).collect();
        assert_eq!(got, sent);
        assert_eq!(instance.terminate(), kResultOk);
    }

    #[test]
    fn outputs_passed_twice_are_written_once() {
        let mut memory = [[0.0f32; 4]; 6];
        let [a, b, c, d, e, f] = memory.each_mut().map(|m| m.as_mut_ptr());
        let mut buffers = HostBuffers::empty(4);
        buffers.main_out = [a, a];
        buffers.stems[0] = [b, c];
        buffers.stems[1] = [d, b];
        buffers.stems[2] = [e, e];
        buffers.stems[3] = [f, a];
        buffers.stems[4] = [d, f];
        drop_aliased_outputs(&mut buffers);
        let null = std::ptr::null_mut();
        assert_eq!(buffers.main_out, [a, null], "the main right channel goes to the engine's spare");
        assert_eq!(buffers.stems[0], [b, c]);
        for stem in 1..4 {
            assert_eq!(buffers.stems[stem], [null; 2], "stem {stem} repeats a channel");
        }
        assert_eq!(buffers.stems[4], [d, f], "repeats only a dropped stem's channel");

        // Memory shared in part: channels 2 samples apart in one array of
        // 4-frame channels overlap; 4 apart they do not.
        let mut shared = [0.0f32; 16];
        let base = shared.as_mut_ptr();
        let mut buffers = HostBuffers::empty(4);
        buffers.main_out = [base, base.wrapping_add(4)];
        buffers.stems[0] = [base.wrapping_add(8), base.wrapping_add(10)];
        buffers.stems[1] = [base.wrapping_add(12), null];
        buffers.stems[2] = [base.wrapping_add(6), null];
        drop_aliased_outputs(&mut buffers);
        assert_eq!(buffers.main_out, [base, base.wrapping_add(4)], "adjacent channels are distinct");
        assert_eq!(buffers.stems[0], [null; 2], "left and right overlap");
        assert_eq!(buffers.stems[1], [base.wrapping_add(12), null], "one channel stays one channel");
        assert_eq!(buffers.stems[2], [null; 2], "overlaps the main right channel");
    }

    #[test]
    fn clamped_times_stay_in_the_block() {
        assert_eq!(clamp_time(-3, 64), 0);
        assert_eq!(clamp_time(10, 64), 10);
        assert_eq!(clamp_time(64, 64), 63);
        assert_eq!(clamp_time(5, 0), 0, "a parameter flush has no frames");
    }
}
