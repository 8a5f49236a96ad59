//! Our format layer (docs/ARCHITECTURE.md §7.1): what the CLAP and the VST3
//! wrappers share, so both offer the same ports, parameters, state and MIDI.
//!
//! The wrappers ([`clap`], [`vst3`]) translate one host API each into calls on
//! [`crate::MamSession`] (main thread) and [`crate::MamAudio`] (audio thread):
//! - ports: [`HostBuffers`] carries exactly what the host passed; anything the
//!   host left out, deactivated or gave no memory for is a null pointer, which
//!   reads as silence and is never written;
//! - parameters: [`ParamTable`], the nice-plug-core parameter model with the
//!   numeric ids hosts already hold in their projects (nice-plug's hash of the
//!   string id, kept so saved automation stays valid);
//! - events: [`Event`]s sorted by sample, applied at their sample;
//! - state: nice-plug's `PluginState` JSON, so states saved before our own
//!   layer load unchanged ([`save_state`], [`load_state`]).

#[cfg(feature = "clap")]
pub mod clap;
#[cfg(feature = "vst3")]
pub mod vst3;

use std::sync::Arc;

use nice_plug::params::internals::ParamPtr;
use nice_plug::params::{InternalParamMut, Param, ParamFlags, Params};
use nice_plug::plugin::{PluginState, ParamValue};

use crate::MamParams;

pub const NAME: &str = "MAM Session";
pub const VENDOR: &str = "MAM";
pub const URL: &str = "https://example.invalid/mam-session";
pub const EMAIL: &str = "mam@example.invalid";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const DESCRIPTION: &str = "A whole multi-bus mixing session with spectral ducking, in one plugin";
pub const CLAP_ID: &str = "org.mam.session";
/// The VST3 class id hosts saved projects with; never change it.
pub const VST3_CLASS_ID: [u8; 16] = *b"MAMSessionPlugin";

/// Stereo keys (aux inputs), in port order after the main input.
pub const NUM_KEYS: usize = 2;
pub const SIDECHAIN_NAMES: [&str; NUM_KEYS] = ["Sidechain 1", "Sidechain 2"];
/// Stereo stems (aux outputs after the main output): bus slots 1–8, post-fader.
pub const NUM_STEMS: usize = 8;
pub const STEM_NAMES: [&str; NUM_STEMS] = ["Bus 1", "Bus 2", "Bus 3", "Bus 4", "Bus 5", "Bus 6", "Bus 7", "Bus 8"];
pub const MAIN_INPUT_NAME: &str = "Input";
pub const MAIN_OUTPUT_NAME: &str = "Output";
pub const MIDI_IN_NAME: &str = "MIDI In";
pub const MIDI_OUT_NAME: &str = "MIDI Out";
/// MIDI events one block can carry out; more are dropped (counted in
/// [`crate::MamAudio::midi_dropped`]).
pub const MAX_MIDI_OUT: usize = 1024;

/// The host-facing numeric id of a parameter: the 31-bit polynomial string
/// hash (base 31, wrapping) nice-plug used, so ids in saved projects and
/// automation lanes stay the same. The top bit is cleared because VST3
/// reserves ids with it set for the host.
pub fn param_hash(id: &str) -> u32 {
    id.bytes().fold(0u32, |hash, byte| hash.wrapping_mul(31).wrapping_add(u32::from(byte))) & 0x7fff_ffff
}

/// One host-facing parameter.
pub struct ParamEntry {
    /// The stable string id (`bus1_gain`, `scene`, …).
    pub id: String,
    /// The numeric id hosts see ([`param_hash`]).
    pub hash: u32,
    /// Group path ("Bus 1", "Ducker 2", or empty).
    pub group: String,
    /// Points into the `MamParams` the table keeps alive.
    pub ptr: ParamPtr,
}

// SAFETY (every `unsafe` block on `ptr` below): the pointer targets a field of
// the `Arc<MamParams>` held by the `ParamTable` that owns this entry, so it
// lives as long as the entry; parameter values are atomics.
impl ParamEntry {
    pub fn name(&self) -> &str {
        unsafe { self.ptr.name() }
    }
    pub fn unit(&self) -> &'static str {
        unsafe { self.ptr.unit() }
    }
    pub fn default_normalized(&self) -> f32 {
        unsafe { self.ptr.default_normalized_value() }
    }
    /// Steps for discrete parameters (`Some(1)` for a switch), `None` when continuous.
    pub fn step_count(&self) -> Option<usize> {
        unsafe { self.ptr.step_count() }
    }
    pub fn normalized(&self) -> f32 {
        unsafe { self.ptr.unmodulated_normalized_value() }
    }
    /// The value's text with its unit ("-6.00 dB", "3: Chorus").
    pub fn text(&self, normalized: f32) -> String {
        unsafe { self.ptr.normalized_value_to_string(normalized.clamp(0.0, 1.0), true) }
    }
    pub fn from_text(&self, text: &str) -> Option<f32> {
        unsafe { self.ptr.string_to_normalized_value(text) }
    }
    /// Plain value (dB, pan, scene number) of a normalized one.
    pub fn plain(&self, normalized: f32) -> f32 {
        unsafe { self.ptr.preview_plain(normalized.clamp(0.0, 1.0)) }
    }
    pub fn normalized_of(&self, plain: f32) -> f32 {
        unsafe { self.ptr.preview_normalized(plain) }
    }
    pub fn flags(&self) -> ParamFlags {
        unsafe { self.ptr.flags() }
    }
    pub fn automatable(&self) -> bool {
        !self.flags().contains(ParamFlags::NON_AUTOMATABLE)
    }
    pub fn hidden(&self) -> bool {
        self.flags().intersects(ParamFlags::HIDDEN | ParamFlags::HIDE_IN_GENERIC_UI)
    }
    /// Sets the value (any thread: atomics). Returns whether it changed.
    pub fn set_normalized(&self, normalized: f32) -> bool {
        if !normalized.is_finite() {
            return false;
        }
        let normalized = normalized.clamp(0.0, 1.0);
        unsafe {
            match self.ptr {
                ParamPtr::FloatParam(p) => (*p)._internal_set_normalized_value(normalized),
                ParamPtr::IntParam(p) => (*p)._internal_set_normalized_value(normalized),
                ParamPtr::BoolParam(p) => (*p)._internal_set_normalized_value(normalized),
                ParamPtr::EnumParam(p) => (*p)._internal_set_normalized_value(normalized),
            }
        }
    }
}

/// Every host-facing parameter, in the order hosts list them, with a lookup
/// by numeric id.
pub struct ParamTable {
    entries: Vec<ParamEntry>,
    /// `(hash, index)` sorted by hash.
    by_hash: Vec<(u32, usize)>,
    /// Keeps every `ParamEntry::ptr` valid.
    _params: Arc<MamParams>,
}

impl ParamTable {
    pub fn new(params: Arc<MamParams>) -> Self {
        let entries: Vec<ParamEntry> =
            params.param_map().into_iter().map(|(id, ptr, group)| ParamEntry { hash: param_hash(&id), id, group, ptr }).collect();
        let mut by_hash: Vec<(u32, usize)> = entries.iter().enumerate().map(|(i, e)| (e.hash, i)).collect();
        by_hash.sort_unstable();
        debug_assert!(by_hash.windows(2).all(|w| w[0].0 != w[1].0), "two parameter ids hash alike");
        Self { entries, by_hash, _params: params }
    }
    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }
    pub fn index_of(&self, hash: u32) -> Option<usize> {
        self.by_hash.binary_search_by_key(&hash, |&(h, _)| h).ok().map(|i| self.by_hash[i].1)
    }
    pub fn by_hash(&self, hash: u32) -> Option<&ParamEntry> {
        self.index_of(hash).map(|i| &self.entries[i])
    }
    pub fn by_id(&self, id: &str) -> Option<&ParamEntry> {
        self.by_hash(param_hash(id)).filter(|e| e.id == id)
    }
}

/// A short MIDI 1.0 message (status byte first) at a sample of the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MidiEvent {
    pub time: u32,
    pub data: [u8; 3],
}

/// One input event of a block. A block's events are sorted by time (events
/// at the same time keep the host's order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// A parameter (by numeric id) moves to a normalized value at `time`.
    Param { time: u32, hash: u32, normalized: f32 },
    Midi(MidiEvent),
}

impl Event {
    pub fn time(&self) -> u32 {
        match self {
            Event::Param { time, .. } => *time,
            Event::Midi(m) => m.time,
        }
    }
}

/// An input event before its time is made relative to the part of a block
/// it falls in (formats gather a block's events, then run it in parts).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Incoming {
    Param { hash: u32, normalized: f32 },
    Midi([u8; 3]),
}

impl Incoming {
    pub fn at(self, time: u32) -> Event {
        match self {
            Incoming::Param { hash, normalized } => Event::Param { time, hash, normalized },
            Incoming::Midi(data) => Event::Midi(MidiEvent { time, data }),
        }
    }
}

/// The host's audio for one process call, as raw channel pointers of
/// `frames` samples each. Null is a port or channel the host did not pass,
/// left inactive, or gave no memory for: it reads as silence and is not
/// written. Inputs may alias outputs (hosts process in place):
/// [`crate::MamAudio::process`] copies every input before writing.
#[derive(Clone, Copy, Debug)]
pub struct HostBuffers {
    pub frames: usize,
    pub main_in: [*const f32; 2],
    pub keys: [[*const f32; 2]; NUM_KEYS],
    pub main_out: [*mut f32; 2],
    pub stems: [[*mut f32; 2]; NUM_STEMS],
}

impl HostBuffers {
    /// No ports at all (every pointer null).
    pub fn empty(frames: usize) -> Self {
        Self {
            frames,
            main_in: [std::ptr::null(); 2],
            keys: [[std::ptr::null(); 2]; NUM_KEYS],
            main_out: [std::ptr::null_mut(); 2],
            stems: [[std::ptr::null_mut(); 2]; NUM_STEMS],
        }
    }
}

impl HostBuffers {
    /// These buffers from frame `start` on, `frames` long (null stays null),
    /// for a part of a block a format processes on its own.
    pub fn part(&self, start: usize, frames: usize) -> HostBuffers {
        // `wrapping_add`: no dereference here; a non-null pointer is the
        // host's channel of `self.frames >= start + frames` samples.
        let at = |p: *const f32| if p.is_null() { p } else { p.wrapping_add(start) };
        let at_mut = |p: *mut f32| if p.is_null() { p } else { p.wrapping_add(start) };
        HostBuffers {
            frames,
            main_in: self.main_in.map(at),
            keys: self.keys.map(|k| k.map(at)),
            main_out: self.main_out.map(at_mut),
            stems: self.stems.map(|s| s.map(at_mut)),
        }
    }
}

/// `transport` moved on by `offset` samples, for a part of a block that
/// starts inside it (positions advance at the block's tempo).
pub fn transport_at(transport: &Transport, offset: usize, sample_rate: f64) -> Transport {
    if offset == 0 {
        return *transport;
    }
    let mut moved = *transport;
    moved.position_samples = transport.position_samples.map(|p| p + offset as i64);
    if let Some(bpm) = transport.tempo {
        moved.position_beats = transport.position_beats.map(|b| b + offset as f64 / sample_rate * bpm / 60.0);
    }
    moved
}

/// The host's transport for one block, as far as the host tells it: the
/// engine's own type, filled by each format from its host's process context
/// (the engine places quantized scene recalls with it, docs/ARCHITECTURE.md §8).
pub use mam_core::transport::Transport;

/// A CLAP remote-control page: eight parameter slots (numeric ids).
#[derive(Clone, Debug, PartialEq)]
pub struct RemotePage {
    pub section: &'static str,
    pub name: String,
    pub params: [Option<u32>; 8],
}

/// The plugin state as bytes: nice-plug's `PluginState` JSON (plain values
/// by string id, plus persisted fields), the format every saved project
/// holds.
pub fn save_state(params: &MamParams, table: &ParamTable) -> Vec<u8> {
    let values = table
        .entries()
        .iter()
        .map(|e| {
            // SAFETY: see `ParamEntry`.
            let value = unsafe {
                match e.ptr {
                    ParamPtr::FloatParam(p) => ParamValue::F32((*p).unmodulated_plain_value()),
                    ParamPtr::IntParam(p) => ParamValue::I32((*p).unmodulated_plain_value()),
                    ParamPtr::BoolParam(p) => ParamValue::Bool((*p).unmodulated_plain_value()),
                    ParamPtr::EnumParam(p) => ParamValue::I32((*p).unmodulated_plain_value()),
                }
            };
            (e.id.clone(), value)
        })
        .collect();
    let state = PluginState { version: VERSION.to_string(), params: values, fields: params.serialize_fields() };
    serde_json::to_vec(&state).expect("a plugin state always serializes")
}

/// Restores [`save_state`]'s bytes: parameter values now, the session
/// through the control thread (its field's `set` posts it; the running
/// session stays until the new one compiled). Unknown parameter ids are
/// ignored (a newer plugin's state); bytes that are not a state are an error
/// and change nothing.
pub fn load_state(params: &MamParams, table: &ParamTable, bytes: &[u8]) -> Result<(), String> {
    let state: PluginState = serde_json::from_slice(bytes).map_err(|e| format!("the plugin state is not readable: {e}"))?;
    for (id, value) in &state.params {
        let Some(entry) = table.by_id(id) else { continue };
        let normalized = match (entry.ptr, value) {
            (_, ParamValue::F32(v)) => entry.normalized_of(*v),
            (_, ParamValue::I32(v)) => entry.normalized_of(*v as f32),
            (_, ParamValue::Bool(v)) => f32::from(u8::from(*v)),
            (_, ParamValue::String(_)) => continue,
        };
        entry.set_normalized(normalized);
    }
    params.deserialize_fields(&state.fields);
    Ok(())
}

/// Runs `f` (the engine's process) under the allocation guard: in debug
/// builds with the `assert_process_allocs` feature any allocation or free
/// inside aborts with a message; otherwise it just runs `f`.
#[inline]
pub fn no_alloc<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(debug_assertions, feature = "assert_process_allocs"))]
    {
        nice_assert_no_alloc::assert_no_alloc(f)
    }
    #[cfg(not(all(debug_assertions, feature = "assert_process_allocs")))]
    {
        f()
    }
}

#[cfg(all(debug_assertions, feature = "assert_process_allocs"))]
#[global_allocator]
static ALLOCATOR: nice_assert_no_alloc::AllocDisabler = nice_assert_no_alloc::AllocDisabler;

/// Non-realtime diagnostics (never from the audio thread): stderr, which
/// hosts keep in their logs.
#[macro_export]
macro_rules! log {
    ($($args:tt)*) => { eprintln!($($args)*) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_the_ids_hosts_saved() {
        // Worked by hand: "a" = 97; "ab" = 97·31 + 98 = 3105.
        assert_eq!(param_hash("a"), 97);
        assert_eq!(param_hash("ab"), 3105);
        assert_eq!(param_hash(""), 0);
        // The top bit is always clear.
        assert_eq!(param_hash("a_rather_long_parameter_id_that_overflows") & 0x8000_0000, 0);
    }

    #[test]
    fn state_round_trips_and_bad_bytes_change_nothing() {
        let params = Arc::new(MamParams::new(crate::DEFAULT_SESSION_JSON.to_string()));
        let table = ParamTable::new(params.clone());
        let gain = table.by_id("bus2_gain").expect("bus2_gain exists");
        gain.set_normalized(gain.normalized_of(-6.0));
        let bytes = save_state(&params, &table);
        gain.set_normalized(gain.normalized_of(3.0));
        assert!(load_state(&params, &table, b"not json").is_err());
        assert!((gain.plain(gain.normalized()) - 3.0).abs() < 0.01);
        load_state(&params, &table, &bytes).expect("own state loads");
        assert!((gain.plain(gain.normalized()) + 6.0).abs() < 0.01);
    }
}
