//! The buses the plugin declares to VST3 hosts, and what the host made of
//! each: activation and speaker arrangement.
//!
//! Audio inputs: "Input" (main), "Sidechain 1", "Sidechain 2" (aux).
//! Audio outputs: "Output" (main), "Bus 1"…"Bus 8" (aux: stems of bus slots
//! 1–8). Events: "MIDI In" and "MIDI Out", 16 channels each. The spec lets
//! a plugin ask for buses to be active by default (`kDefaultActive`); the
//! mains and the event buses ask, the aux buses wait for the user, as the
//! spec advises for sidechains and as hosts expect of optional outputs.

use std::sync::atomic::{AtomicBool, Ordering};

use vst3::Steinberg::Vst::{BusDirections_, BusInfo, BusInfo_::BusFlags_, BusTypes_, MediaTypes_, SpeakerArr, SpeakerArrangement};

use super::strings::copy_utf16;
use crate::format::{MAIN_INPUT_NAME, MAIN_OUTPUT_NAME, MIDI_IN_NAME, MIDI_OUT_NAME, NUM_KEYS, NUM_STEMS, SIDECHAIN_NAMES, STEM_NAMES};

pub(super) const NUM_AUDIO_INPUTS: usize = 1 + NUM_KEYS;
pub(super) const NUM_AUDIO_OUTPUTS: usize = 1 + NUM_STEMS;
/// MIDI channels of each event bus.
const EVENT_CHANNELS: i32 = 16;

pub(super) const AUDIO: i32 = MediaTypes_::kAudio as i32;
pub(super) const EVENT: i32 = MediaTypes_::kEvent as i32;
pub(super) const INPUT: i32 = BusDirections_::kInput as i32;
pub(super) const OUTPUT: i32 = BusDirections_::kOutput as i32;

fn audio_input_name(index: usize) -> &'static str {
    if index == 0 {
        MAIN_INPUT_NAME
    } else {
        SIDECHAIN_NAMES[index - 1]
    }
}

fn audio_output_name(index: usize) -> &'static str {
    if index == 0 {
        MAIN_OUTPUT_NAME
    } else {
        STEM_NAMES[index - 1]
    }
}

/// The host's settings for every bus. Written on the UI thread while the
/// plugin is inactive (activateBus, setBusArrangements), read by the audio
/// thread; `setActive` orders the two, so relaxed atomics suffice.
pub(super) struct Buses {
    audio_in_active: [AtomicBool; NUM_AUDIO_INPUTS],
    audio_out_active: [AtomicBool; NUM_AUDIO_OUTPUTS],
    event_in_active: AtomicBool,
    event_out_active: AtomicBool,
    /// Inputs the host arranged mono: their one channel feeds both sides.
    /// Outputs are always stereo (a mono output would need a downmix the
    /// engine does not make, so setBusArrangements refuses it).
    audio_in_mono: [AtomicBool; NUM_AUDIO_INPUTS],
}

impl Buses {
    /// Every bus in the state it asks for: the mains and the event buses
    /// active, the aux buses inactive. The spec calls every bus inactive
    /// until the host activates it and `kDefaultActive` only a wish, but
    /// hosts that never call activateBus for a main bus still expect it to
    /// play, so the wish is taken as granted until the host says otherwise.
    pub fn new() -> Self {
        Self {
            audio_in_active: std::array::from_fn(|i| AtomicBool::new(i == 0)),
            audio_out_active: std::array::from_fn(|i| AtomicBool::new(i == 0)),
            event_in_active: AtomicBool::new(true),
            event_out_active: AtomicBool::new(true),
            audio_in_mono: std::array::from_fn(|_| AtomicBool::new(false)),
        }
    }

    pub fn count(media: i32, direction: i32) -> i32 {
        match (media, direction) {
            (AUDIO, INPUT) => NUM_AUDIO_INPUTS as i32,
            (AUDIO, OUTPUT) => NUM_AUDIO_OUTPUTS as i32,
            (EVENT, INPUT | OUTPUT) => 1,
            _ => 0,
        }
    }

    /// The bus's description, or `None` for a bus that does not exist.
    pub fn info(&self, media: i32, direction: i32, index: i32) -> Option<BusInfo> {
        let index = usize::try_from(index).ok()?;
        let (name, channels, main) = match (media, direction) {
            (AUDIO, INPUT) if index < NUM_AUDIO_INPUTS => (audio_input_name(index), self.input_channels(index), index == 0),
            (AUDIO, OUTPUT) if index < NUM_AUDIO_OUTPUTS => (audio_output_name(index), 2, index == 0),
            (EVENT, INPUT) if index == 0 => (MIDI_IN_NAME, EVENT_CHANNELS, true),
            (EVENT, OUTPUT) if index == 0 => (MIDI_OUT_NAME, EVENT_CHANNELS, true),
            _ => return None,
        };
        // SAFETY: BusInfo is plain data; all-zero is a valid value of it.
        let mut info: BusInfo = unsafe { std::mem::zeroed() };
        info.mediaType = media;
        info.direction = direction;
        info.channelCount = channels;
        copy_utf16(&mut info.name, name);
        info.busType = (if main { BusTypes_::kMain } else { BusTypes_::kAux }) as i32;
        info.flags = if main { BusFlags_::kDefaultActive as u32 } else { 0 };
        Some(info)
    }

    /// Records the host's activation of a bus; `false` for a bus that does
    /// not exist.
    pub fn activate(&self, media: i32, direction: i32, index: i32, active: bool) -> bool {
        let Ok(index) = usize::try_from(index) else { return false };
        let flag = match (media, direction) {
            (AUDIO, INPUT) => self.audio_in_active.get(index),
            (AUDIO, OUTPUT) => self.audio_out_active.get(index),
            (EVENT, INPUT) if index == 0 => Some(&self.event_in_active),
            (EVENT, OUTPUT) if index == 0 => Some(&self.event_out_active),
            _ => None,
        };
        flag.map(|f| f.store(active, Ordering::Relaxed)).is_some()
    }

    pub fn audio_input_active(&self, index: usize) -> bool {
        self.audio_in_active[index].load(Ordering::Relaxed)
    }

    pub fn audio_output_active(&self, index: usize) -> bool {
        self.audio_out_active[index].load(Ordering::Relaxed)
    }

    pub fn event_input_active(&self) -> bool {
        self.event_in_active.load(Ordering::Relaxed)
    }

    pub fn event_output_active(&self) -> bool {
        self.event_out_active.load(Ordering::Relaxed)
    }

    fn input_channels(&self, index: usize) -> i32 {
        if self.audio_in_mono[index].load(Ordering::Relaxed) {
            1
        } else {
            2
        }
    }

    /// Takes the host's arrangements, bus by bus: stereo anywhere, mono on
    /// inputs. Returns whether every one was taken; a refused one keeps the
    /// bus's current arrangement (the spec's answer for arrangements a
    /// plugin cannot follow: adapt what it can, report `kResultFalse`).
    /// Fewer arrangements than buses leave the rest as they are.
    pub fn arrange(&self, inputs: &[SpeakerArrangement], outputs: &[SpeakerArrangement]) -> bool {
        let mut all_taken = inputs.len() <= NUM_AUDIO_INPUTS && outputs.len() <= NUM_AUDIO_OUTPUTS;
        for (mono, &arrangement) in self.audio_in_mono.iter().zip(inputs) {
            match arrangement {
                SpeakerArr::kStereo => mono.store(false, Ordering::Relaxed),
                SpeakerArr::kMono => mono.store(true, Ordering::Relaxed),
                _ => all_taken = false,
            }
        }
        all_taken && outputs.iter().take(NUM_AUDIO_OUTPUTS).all(|&a| a == SpeakerArr::kStereo)
    }

    /// The arrangement of a bus, or `None` for a bus that does not exist.
    pub fn arrangement(&self, direction: i32, index: i32) -> Option<SpeakerArrangement> {
        let index = usize::try_from(index).ok()?;
        match direction {
            INPUT if index < NUM_AUDIO_INPUTS => Some(if self.input_channels(index) == 1 { SpeakerArr::kMono } else { SpeakerArr::kStereo }),
            OUTPUT if index < NUM_AUDIO_OUTPUTS => Some(SpeakerArr::kStereo),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_inputs_are_taken_and_mono_outputs_refused_leaving_stereo() {
        let buses = Buses::new();
        assert!(buses.arrange(&[SpeakerArr::kMono, SpeakerArr::kStereo], &[SpeakerArr::kStereo]));
        assert_eq!(buses.arrangement(INPUT, 0), Some(SpeakerArr::kMono));
        assert_eq!(buses.info(AUDIO, INPUT, 0).map(|i| i.channelCount), Some(1), "getBusInfo agrees");
        assert!(!buses.arrange(&[SpeakerArr::kStereo], &[SpeakerArr::kMono]));
        assert_eq!(buses.arrangement(INPUT, 0), Some(SpeakerArr::kStereo), "the input part was taken");
        assert_eq!(buses.arrangement(OUTPUT, 0), Some(SpeakerArr::kStereo), "the output stays stereo");
        assert!(!buses.arrange(&[SpeakerArr::kStereo; 4], &[]), "more buses than declared");
        assert_eq!(buses.arrangement(OUTPUT, NUM_AUDIO_OUTPUTS as i32), None);
    }

    #[test]
    fn mains_start_active_and_aux_buses_inactive() {
        let buses = Buses::new();
        assert!(buses.audio_input_active(0) && buses.audio_output_active(0));
        assert!(!buses.audio_input_active(1) && !buses.audio_output_active(1));
        assert!(buses.activate(AUDIO, INPUT, 2, true));
        assert!(buses.audio_input_active(2));
        assert!(!buses.activate(AUDIO, OUTPUT, NUM_AUDIO_OUTPUTS as i32, true), "no such bus");
        assert!(!buses.activate(EVENT, INPUT, 1, true), "one event bus per direction");
    }
}
