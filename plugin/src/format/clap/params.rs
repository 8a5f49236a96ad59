//! The params extension: the parameter table as CLAP sees it, `flush`, and
//! the editor's gestures on their way to the host.
//!
//! Values keep nice-plug 0.4.2's CLAP mapping, which saved automation holds:
//! a continuous parameter is 0…1 (its normalized value), a stepped one
//! 0…steps (normalized × steps, so an integer is its step), with the ids
//! [`crate::format::param_hash`] gives.
//!
//! The editor moves a parameter on its own thread: the value is set at once
//! (the audio half reads it at its next block) and a begin/value/end event
//! goes into a lock-free queue for the host, which reads it in `process` or,
//! when not processing, in the `flush` the editor asks for.

use std::ffi::CStr;
use std::fmt::Write as _;

use clack_extensions::params::{ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams, PluginMainThreadParams};
use clack_plugin::events::event_types::{ParamGestureBeginEvent, ParamGestureEndEvent, ParamValueEvent};
use clack_plugin::events::EventFlags;
use clack_plugin::prelude::*;
use clack_plugin::utils::Cookie;

use super::{translate, ClapAudio, ClapMain};
use crate::format::{no_alloc, HostBuffers, Incoming, ParamEntry, Transport};

/// Editor gestures the queue holds between two host reads. The editor sends
/// at most one value per parameter per frame it draws, and hosts read at
/// least every block (or flush when asked), so it does not fill in use; if a
/// host neither processes nor flushes, further gestures are dropped (the
/// values themselves are set, and `get_value` reports them).
pub const GUI_QUEUE_CAPACITY: usize = 4096;

/// One editor gesture step, by numeric parameter id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GuiParamEvent {
    Begin(u32),
    /// The parameter's new CLAP value.
    Value(u32, f64),
    End(u32),
}

/// The CLAP range's top: steps for a stepped parameter, 1 for a continuous one.
pub fn clap_steps(entry: &ParamEntry) -> f64 {
    entry.step_count().unwrap_or(1) as f64
}

/// The parameter's current CLAP value.
pub fn clap_value(entry: &ParamEntry) -> f64 {
    f64::from(entry.normalized()) * clap_steps(entry)
}

/// Writes every queued editor gesture to `out`, stamped at sample 0 and
/// marked live (a user's hand). If the host's list takes no more, the rest
/// waits for the next call. No allocation.
pub fn write_gui_events(queue: &mut rtrb::Consumer<GuiParamEvent>, out: &mut OutputEvents) {
    while let Ok(&event) = queue.peek() {
        let pushed = match event {
            GuiParamEvent::Begin(hash) => push_live(out, ParamGestureBeginEvent::new(0, ClapId::new(hash))),
            GuiParamEvent::Value(hash, value) => push_live(out, ParamValueEvent::new(0, ClapId::new(hash), Pckn::match_all(), value)),
            GuiParamEvent::End(hash) => push_live(out, ParamGestureEndEvent::new(0, ClapId::new(hash))),
        };
        if !pushed {
            return;
        }
        let _ = queue.pop();
    }
}

fn push_live<E: clack_plugin::events::Event + AsRef<UnknownEvent>>(out: &mut OutputEvents, mut event: E) -> bool {
    event.header_mut().set_flags(EventFlags::IS_LIVE);
    out.try_push(event).is_ok()
}

impl PluginMainThreadParams for ClapMain<'_> {
    fn count(&self) -> u32 {
        self.table.entries().len() as u32
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        let Some(entry) = self.table.entries().get(param_index as usize) else { return };
        let flags = entry.flags();
        let mut clap_flags = ParamInfoFlags::empty();
        // nice-plug also declared every automatable parameter modulatable,
        // but CLAP modulation (`CLAP_EVENT_PARAM_MOD`) is not applied here;
        // without the flag hosts modulate through value events, which are.
        if entry.automatable() && !flags.contains(nice_plug::params::ParamFlags::HIDDEN) {
            clap_flags |= ParamInfoFlags::IS_AUTOMATABLE;
        }
        if flags.contains(nice_plug::params::ParamFlags::HIDDEN) {
            clap_flags |= ParamInfoFlags::IS_HIDDEN | ParamInfoFlags::IS_READONLY;
        }
        if flags.contains(nice_plug::params::ParamFlags::BYPASS) {
            clap_flags |= ParamInfoFlags::IS_BYPASS;
        }
        if entry.step_count().is_some() {
            clap_flags |= ParamInfoFlags::IS_STEPPED;
        }
        let steps = clap_steps(entry);
        info.set(&ParamInfo {
            id: ClapId::new(entry.hash),
            flags: clap_flags,
            cookie: Cookie::empty(),
            name: entry.name().as_bytes(),
            module: entry.group.as_bytes(),
            min_value: 0.0,
            max_value: steps,
            default_value: f64::from(entry.default_normalized()) * steps,
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        self.table.by_hash(param_id.get()).map(clap_value)
    }

    /// The text nice-plug showed: the value with its unit ("-6.00 dB").
    fn value_to_text(&self, param_id: ClapId, value: f64, writer: &mut ParamDisplayWriter) -> std::fmt::Result {
        let entry = self.table.by_hash(param_id.get()).ok_or(std::fmt::Error)?;
        write!(writer, "{}", entry.text((value / clap_steps(entry)) as f32))
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        let entry = self.table.by_hash(param_id.get())?;
        let normalized = entry.from_text(text.to_str().ok()?)?;
        Some(f64::from(normalized) * clap_steps(entry))
    }

    /// Inactive: the host's values are set directly (the next activation
    /// compiles with them); the editor's gestures go out.
    fn flush(&self, input: &InputEvents, output: &mut OutputEvents) {
        for event in input {
            if let Some((_, Incoming::Param { hash, normalized })) = translate(event, &self.table) {
                if let Some(entry) = self.table.by_hash(hash) {
                    entry.set_normalized(normalized);
                }
            }
        }
        if let Some(queue) = self.gui_events.borrow_mut().as_mut() {
            write_gui_events(queue, output);
        }
    }
}

/// Active (audio thread, never during `process`): the host's values apply
/// through the engine as a block of no frames; the editor's gestures go out.
/// Runs on the audio thread: no allocation, no locks.
impl PluginAudioProcessorParams for ClapAudio<'_> {
    fn flush(&mut self, input: &InputEvents, output: &mut OutputEvents) {
        self.events.clear();
        for event in input {
            let Some((_, incoming @ Incoming::Param { .. })) = translate(event, &self.table) else { continue };
            if self.events.len() == self.events.capacity() {
                self.apply_gathered();
            }
            // Within capacity (checked above): no allocation.
            self.events.push(incoming.at(0));
        }
        self.apply_gathered();
        self.write_gui_events(output);
    }
}

impl ClapAudio<'_> {
    /// Applies the gathered parameter events through the engine as a block of
    /// no frames, and empties the list. Runs on the audio thread.
    fn apply_gathered(&mut self) {
        let audio = &mut self.audio;
        let events = &self.events;
        // SAFETY: no buffers (every pointer null, no frames).
        no_alloc(|| unsafe { audio.process(&HostBuffers::empty(0), events, &Transport::default()) });
        self.events.clear();
    }
}
