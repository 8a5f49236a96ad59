//! The audio thread's side of the VST3 layer: a host's `ProcessData` turned
//! into [`HostBuffers`], sorted [`Event`]s and a [`Transport`] for
//! [`MamAudio::process`], and the plugin's MIDI back into the host's
//! output event list.

use std::sync::atomic::Ordering;

use vst3::ComRef;
use vst3::Steinberg::Vst::{
    AudioBusBuffers, Event as HostEvent, IEventList, IEventListTrait, IParamValueQueueTrait, IParameterChanges, IParameterChangesTrait, ProcessContext,
    ProcessContext_::StatesAndFlags_, ProcessData, RestartFlags_, SymbolicSampleSizes_,
};
use vst3::Steinberg::{kInvalidArgument, kNotInitialized, kResultFalse, kResultOk, tresult};

use super::buses::{NUM_AUDIO_INPUTS, NUM_AUDIO_OUTPUTS};
use super::instance::Instance;
use super::midi;
use crate::format::{no_alloc, Event, HostBuffers, MidiEvent, Transport};
use crate::MamAudio;

/// Input events (parameter points and notes) one block can carry; more are
/// dropped, never allocated for. Far above what hosts send per block.
const MAX_EVENTS: usize = 4096;

/// What the audio thread owns while the plugin is active.
pub(super) struct AudioSide {
    pub audio: MamAudio,
    /// The block's events, sorted by time; capacity [`MAX_EVENTS`].
    events: Vec<Event>,
    /// Events dropped because a block carried more than [`MAX_EVENTS`].
    dropped: u64,
}

impl AudioSide {
    pub fn new(audio: MamAudio) -> Self {
        Self { audio, events: Vec::with_capacity(MAX_EVENTS), dropped: 0 }
    }

    /// Adds an event after every event at or before its time, so the list
    /// stays sorted and events at the same time keep the order they came in.
    /// Runs on the audio thread: no allocation, no locks.
    fn push(&mut self, event: Event) {
        if self.events.len() == self.events.capacity() {
            self.dropped += 1;
            return;
        }
        let at = self.events.partition_point(|e| e.time() <= event.time());
        // Within capacity: `insert` only moves the tail.
        self.events.insert(at, event);
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
        side.events.clear();
        // SAFETY: the host's pointers, valid for this call (caller).
        unsafe {
            self.read_parameter_changes(side, data.inputParameterChanges, frames);
            if self.buses.event_input_active() {
                read_note_events(side, data.inputEvents, frames);
            }
        }
        // SAFETY: the host's bus arrays, valid for this call.
        let buffers = unsafe { self.host_buffers(data, frames) };
        // SAFETY: the host's context, null or valid for this call.
        let transport = unsafe { transport(data.processContext) };
        let AudioSide { audio, events, .. } = &mut **side;
        // SAFETY: every pointer in `buffers` is the host's, valid for
        // `frames` samples; no output repeats another (host_buffers).
        no_alloc(|| unsafe { audio.process(&buffers, events, &transport) });
        if self.buses.event_output_active() {
            // SAFETY: the host's output list, valid for this call.
            unsafe { write_midi(audio.midi_out(), data.outputEvents, frames) };
        }
        if let Some(latency) = audio.take_latency_change() {
            self.latency.store(latency, Ordering::Relaxed);
            // The spec wants restartComponent on the UI thread: flagged
            // here, sent from there (see main_thread.rs).
            self.main.request_restart(RestartFlags_::kLatencyChanged);
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

    /// Every point of every parameter queue: plugin parameters as
    /// parameter events, controller parameters (see midi.rs) as MIDI.
    /// Runs on the audio thread: no allocation, no locks.
    ///
    /// # Safety
    /// `changes` is null or the host's valid parameter changes.
    unsafe fn read_parameter_changes(&self, side: &mut AudioSide, changes: *mut IParameterChanges, frames: usize) {
        // SAFETY: null or valid (caller).
        let Some(changes) = (unsafe { ComRef::from_raw(changes) }) else { return };
        // SAFETY: calls on the host's valid objects; out-pointers are locals.
        unsafe {
            for queue_index in 0..changes.getParameterCount() {
                let Some(queue) = ComRef::from_raw(changes.getParameterData(queue_index)) else { continue };
                let id = queue.getParameterId();
                let controller = midi::param_controller(id);
                for point in 0..queue.getPointCount() {
                    let (mut offset, mut value) = (0i32, 0.0f64);
                    if queue.getPoint(point, &mut offset, &mut value) != kResultOk || !value.is_finite() {
                        continue;
                    }
                    let time = clamp_time(offset, frames);
                    match controller {
                        Some((channel, number)) => {
                            self.controller_values[(id - midi::CONTROLLER_PARAMS_START) as usize].store((value as f32).to_bits(), Ordering::Relaxed);
                            if self.buses.event_input_active() {
                                side.push(Event::Midi(MidiEvent { time, data: midi::controller_message(channel, number, value) }));
                            }
                        }
                        None => side.push(Event::Param { time, hash: id, normalized: value as f32 }),
                    }
                }
            }
        }
    }

    /// The host's audio buses as [`HostBuffers`]: a bus the host did not
    /// pass (an index past `numInputs`/`numOutputs`), left inactive, or gave
    /// no channel memory for is null. A mono input feeds both sides; an
    /// output is written only with two channels (the main output's first
    /// channel alone still gets the left side).
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
                stem if port.iter().all(|p| !p.is_null()) => buffers.stems[stem - 1] = port,
                _ => {}
            }
        }
        drop_aliased_outputs(&mut buffers);
        buffers
    }
}

/// Output channels the host passed twice (some hosts hand one scratch
/// buffer to every output they do not use) would give the engine two
/// writers of one memory. The main output keeps its channels (a right
/// channel equal to the left is dropped: the engine writes it to a spare);
/// a stem repeating any channel before it is not written.
fn drop_aliased_outputs(buffers: &mut HostBuffers) {
    let null = std::ptr::null_mut();
    if buffers.main_out[1] == buffers.main_out[0] {
        buffers.main_out[1] = null;
    }
    for stem in 0..buffers.stems.len() {
        let [left, right] = buffers.stems[stem];
        let mut earlier = buffers.main_out.iter().chain(buffers.stems[..stem].iter().flatten()).filter(|p| !p.is_null());
        if left == right || earlier.any(|&p| p == left || p == right) {
            buffers.stems[stem] = [null; 2];
        }
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

/// Note events of event bus 0 as MIDI. Runs on the audio thread: no
/// allocation, no locks.
///
/// # Safety
/// `list` is null or the host's valid event list.
unsafe fn read_note_events(side: &mut AudioSide, list: *mut IEventList, frames: usize) {
    // SAFETY: null or valid (caller).
    let Some(list) = (unsafe { ComRef::from_raw(list) }) else { return };
    // SAFETY: calls on the host's valid list; `event` is a local it fills in.
    unsafe {
        for index in 0..list.getEventCount() {
            let mut event: HostEvent = std::mem::zeroed();
            if list.getEvent(index, &mut event) != kResultOk || event.busIndex != 0 {
                continue;
            }
            if let Some(data) = midi::from_host(&event) {
                side.push(Event::Midi(MidiEvent { time: clamp_time(event.sampleOffset, frames), data }));
            }
        }
    }
}

/// The plugin's MIDI of this block into the host's output list (event bus
/// 0). A full host list drops the rest. Runs on the audio thread: no
/// allocation, no locks.
///
/// # Safety
/// `list` is null or the host's valid event list.
unsafe fn write_midi(midi: &[MidiEvent], list: *mut IEventList, frames: usize) {
    // SAFETY: null or valid (caller).
    let Some(list) = (unsafe { ComRef::from_raw(list) }) else { return };
    for message in midi {
        if let Some(mut event) = midi::to_host(message.data, clamp_time(message.time as i32, frames) as i32) {
            // SAFETY: a valid list; `event` outlives the call (hosts copy it).
            if unsafe { list.addEvent(&mut event) } != kResultOk {
                break;
            }
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

    fn param(time: u32, hash: u32) -> Event {
        Event::Param { time, hash, normalized: 0.0 }
    }

    #[test]
    fn events_stay_sorted_and_equal_times_keep_their_order_within_capacity() {
        let mut session = crate::MamSession::new();
        let mut side = AudioSide::new(session.activate(48_000.0, 64).expect("the default session compiles"));
        for event in [param(5, 1), param(2, 2), param(5, 3), param(0, 4), param(2, 5)] {
            side.push(event);
        }
        let order: Vec<u32> = side.events.iter().map(|e| match e {
            Event::Param { hash, .. } => *hash,
            Event::Midi(_) => 0,
        }).collect();
        assert_eq!(order, [4, 2, 5, 1, 3]);
        side.events.resize(MAX_EVENTS, param(9, 9));
        side.push(param(0, 10));
        assert_eq!((side.events.len(), side.dropped), (MAX_EVENTS, 1), "a full list drops instead of growing");
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
    }

    #[test]
    fn clamped_times_stay_in_the_block() {
        assert_eq!(clamp_time(-3, 64), 0);
        assert_eq!(clamp_time(10, 64), 10);
        assert_eq!(clamp_time(64, 64), 63);
        assert_eq!(clamp_time(5, 0), 0, "a parameter flush has no frames");
    }
}
