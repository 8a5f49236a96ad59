//! The CLAP format layer (clack-plugin): the entry, the factory with the one
//! plugin, the instance's two thread halves, and `process`.
//!
//! CLAP's thread model maps onto the instance split (docs/ARCHITECTURE.md
//! §7.1): [`ClapMain`] (main thread) owns the [`MamSession`]; [`ClapAudio`]
//! (audio thread) is created at `activate` around the [`MamAudio`] the
//! session compiles and dropped at `deactivate`; nothing else is shared
//! between them. The extensions live in `clap/`: ports ([`ports`]), parameters and the editor's gestures
//! ([`params`]), the GUI ([`gui`]), state, latency and remote controls
//! ([`host_state`]).
//!
//! Written to the CLAP 1.2 headers (clap-sys 0.5), not to what one host
//! tolerates: nothing outside the arrays a host passes is read or written,
//! the latency is reported as changed only from `activate` (whenever it
//! differs from the one the host last heard), and a restart is requested
//! only when a session change altered the latency while active.

mod gui;
mod host_state;
mod params;
mod ports;

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use clack_extensions::audio_ports::PluginAudioPorts;
use clack_extensions::audio_ports_config::{PluginAudioPortsConfig, PluginAudioPortsConfigInfo};
use clack_extensions::gui::{HostGui, PluginGui};
use clack_extensions::latency::{HostLatency, PluginLatency};
use clack_extensions::note_ports::PluginNotePorts;
use clack_extensions::params::{HostParams, PluginParams};
use clack_extensions::remote_controls::PluginRemoteControls;
use clack_extensions::state::{HostState, PluginState};
use clack_plugin::events::event_types::{MidiEvent as ClapMidiEvent, ParamValueEvent, TransportEvent, TransportFlags};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::prelude::*;
use clap_sys::audio_buffer::clap_audio_buffer;

use super::{no_alloc, Event, HostBuffers, Incoming, MidiEvent, ParamTable, Transport, NUM_STEMS};
use crate::{MamAudio, MamSession};
use gui::{GuiBridge, GuiWindow};
use params::GuiParamEvent;
use ports::PortConfig;

/// Input events one process call gathers before it runs the engine up to the
/// next event's sample and starts over (so any number of events applies, each
/// at its sample, without allocating).
const MAX_EVENTS_PER_RUN: usize = 4096;

/// The plugin type clack instantiates (it holds no data; the two halves do).
pub struct MamClap;

impl Plugin for MamClap {
    type AudioProcessor<'a> = ClapAudio<'a>;
    type Shared<'a> = ();
    type MainThread<'a> = ClapMain<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&()>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginAudioPortsConfig>()
            .register::<PluginAudioPortsConfigInfo>()
            .register::<PluginNotePorts>()
            .register::<PluginParams>()
            .register::<PluginState>()
            .register::<PluginLatency>()
            .register::<PluginGui>()
            .register::<PluginRemoteControls>();
    }
}

impl DefaultPluginFactory for MamClap {
    fn get_descriptor() -> PluginDescriptor {
        PluginDescriptor::new(super::CLAP_ID, super::NAME)
            .with_vendor(super::VENDOR)
            .with_url(super::URL)
            .with_version(super::VERSION)
            .with_description(super::DESCRIPTION)
            .with_features([c"audio-effect", c"stereo", c"mixing"])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<(), PluginError> {
        Ok(())
    }

    /// `clap_plugin.init`: the session (its control thread, the first
    /// compile for the latency estimate) is made here, on the main thread,
    /// not in the factory's `create_plugin`, as CLAP asks.
    fn new_main_thread<'a>(host: HostMainThreadHandle<'a>, _shared: &'a ()) -> Result<ClapMain<'a>, PluginError> {
        Ok(ClapMain::new(host))
    }
}

clack_export_entry!(SinglePluginEntry<MamClap>);

/// The main-thread half: the session and everything hosts call on the main
/// thread. Host callbacks may re-enter the plugin (a host can call
/// `latency.get` from inside `latency.changed`), so no `RefCell` borrow is
/// held across a call into the host.
pub struct ClapMain<'a> {
    /// The editor window, if the host opened one. First field: dropped (its
    /// window thread joined) before anything it refers to.
    gui: RefCell<Option<GuiWindow>>,
    /// Set when the host destroyed the GUI from inside one of our calls into
    /// it (`gui.closed`), while the window was borrowed; done afterwards.
    gui_destroy_pending: Cell<bool>,
    /// Set while the editor window's messages are passed to the host (see
    /// `gui::on_main_thread`).
    window_callback_running: Cell<bool>,
    host: HostMainThreadHandle<'a>,
    session: RefCell<MamSession>,
    table: Arc<ParamTable>,
    host_params: Option<HostParams>,
    host_latency: Option<HostLatency>,
    host_gui: Option<HostGui>,
    host_state: Option<HostState>,
    /// The audio-ports configuration hosts selected (inactive only).
    config: Cell<PortConfig>,
    /// The latency the host last heard: the estimate until the first
    /// activation, then each activation's. Set only in `activate`, the one
    /// place CLAP lets the latency change (latency.h), so the next
    /// activation compares against what the host really knows.
    reported_latency: Cell<u32>,
    /// What `clap_plugin_latency.get` answers: [`Self::reported_latency`],
    /// except while inactive after a session change altered the latency
    /// while active (the host was asked to restart): then the new one, which
    /// the next activation will report. CLAP hosts read it only while
    /// (being) active; an inactive answer is a courtesy.
    latency: Cell<u32>,
    /// Whether the plugin was activated before: CLAP hosts read the latency
    /// only from activation on, so a first activation has nothing to change.
    activated_before: Cell<bool>,
    /// The editor's parameter gestures, read here while inactive; the audio
    /// half holds it while active.
    gui_events: RefCell<Option<rtrb::Consumer<GuiParamEvent>>>,
    /// The editor's way back into the plugin (its `GuiContext`).
    bridge: Arc<GuiBridge>,
    remote_pages: Vec<super::RemotePage>,
}

impl<'a> ClapMain<'a> {
    fn new(host: HostMainThreadHandle<'a>) -> Self {
        let session = MamSession::new();
        let latency = session.latency();
        let table = session.param_table().clone();
        let host_params: Option<HostParams> = host.get_extension();
        let (producer, consumer) = rtrb::RingBuffer::new(params::GUI_QUEUE_CAPACITY);
        // SAFETY: the bridge's copy of the host handle is used only by the
        // editor (its window thread) and this main thread; the editor and its
        // window are dropped, and their thread joined, before this instance
        // (see `ClapMain::gui` and `GuiBridge`), so never after the host
        // destroyed the instance.
        let static_host: HostSharedHandle<'static> = unsafe { host.shared().with_arbitrary_lifetime() };
        let bridge = Arc::new(GuiBridge::new(session.params().clone(), table.clone(), static_host, host_params, producer));
        Self {
            gui: RefCell::new(None),
            gui_destroy_pending: Cell::new(false),
            window_callback_running: Cell::new(false),
            host_latency: host.get_extension(),
            host_gui: host.get_extension(),
            host_state: host.get_extension(),
            host,
            session: RefCell::new(session),
            table,
            host_params,
            config: Cell::new(PortConfig::Plain),
            reported_latency: Cell::new(latency),
            latency: Cell::new(latency),
            activated_before: Cell::new(false),
            gui_events: RefCell::new(Some(consumer)),
            bridge,
            remote_pages: MamSession::remote_control_pages(),
        }
    }

    /// Tells the host every parameter value may have changed (after a state
    /// load). Main thread.
    fn rescan_values(&self) {
        if let Some(host_params) = &self.host_params {
            host_params.rescan(&self.host, clack_extensions::params::ParamRescanFlags::VALUES);
        }
    }
}

impl<'a> PluginMainThread<'a, ()> for ClapMain<'a> {
    /// The host's answer to `request_callback`: the editor window's pending
    /// host calls (resize, closed), a state the editor asked to load, and a
    /// session edit the host must hear of as a dirty state.
    fn on_main_thread(&self) {
        gui::on_main_thread(self);
        if let Some(bytes) = self.bridge.take_pending_state() {
            let loaded = self.session.borrow().load_state(&bytes);
            match loaded {
                Ok(()) => self.rescan_values(),
                Err(e) => crate::log!("MAM Session: the editor's state was not loaded: {e}"),
            }
        }
        // The `session_edit` flip already tells hosts that watch parameter
        // changes; `clap_host_state.mark_dirty` [main-thread] tells the rest
        // that the session (saved in the state, not in a parameter) changed.
        if self.bridge.take_session_edited() {
            if let Some(host_state) = &self.host_state {
                host_state.mark_dirty(&self.host);
            }
        }
    }
}

/// The audio-thread half, alive from `activate` to `deactivate`.
pub struct ClapAudio<'a> {
    host: HostAudioProcessorHandle<'a>,
    audio: MamAudio,
    table: Arc<ParamTable>,
    /// One run's input events, sorted by time (capacity
    /// [`MAX_EVENTS_PER_RUN`], allocated at activation; never grown).
    events: Vec<Event>,
    /// The editor's parameter gestures, written to the host's output events.
    gui_events: Option<rtrb::Consumer<GuiParamEvent>>,
    sample_rate: f64,
    /// Stem outputs of the configuration active at activation (0 or 8).
    num_stems: usize,
    /// A latency a session change brought while active (the host was asked
    /// to restart for it). Only for `latency.get`'s answer while inactive:
    /// what the host is told is decided in the next `activate`.
    restart_latency: Option<u32>,
}

impl<'a> PluginAudioProcessor<'a, (), ClapMain<'a>> for ClapAudio<'a> {
    fn activate(host: HostAudioProcessorHandle<'a>, main: &ClapMain<'a>, _shared: &'a (), config: PluginAudioConfiguration) -> Result<Self, PluginError> {
        let max_block = (config.max_frames_count as usize).max(1);
        let audio = main.session.borrow_mut().activate(config.sample_rate, max_block).map_err(|e| PluginError::Error(e.into()))?;
        let latency = main.session.borrow().latency();
        // CLAP lets the latency change only inside activate, and the host
        // must hear of it here: whenever it differs from what the host last
        // heard (a restart for a session change, another sample rate), but
        // not at a first activation (no host could read the estimate before
        // it). Both cells are set first, and no borrow is held: the host may
        // call `latency.get` from `changed`.
        let first = !main.activated_before.replace(true);
        main.latency.set(latency);
        if main.reported_latency.replace(latency) != latency && !first {
            if let Some(host_latency) = &main.host_latency {
                host_latency.changed(&main.host);
            }
        }
        Ok(Self {
            host,
            audio,
            table: main.table.clone(),
            events: Vec::with_capacity(MAX_EVENTS_PER_RUN),
            gui_events: main.gui_events.borrow_mut().take(),
            sample_rate: config.sample_rate,
            num_stems: main.config.get().num_stems(),
            restart_latency: None,
        })
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn process(&mut self, process: Process, mut audio: Audio, events: Events) -> Result<ProcessStatus, PluginError> {
        let frames = audio.frames_count() as usize;
        let (inputs, outputs) = audio.raw_buffers();
        let buffers = self.host_buffers(inputs, outputs, frames);
        let transport = transport_of(process.transport, self.sample_rate);
        // The editor's gestures first: they are stamped at sample 0, and the
        // output list must be sorted by time.
        self.write_gui_events(events.output);
        self.events.clear();
        let mut start = 0;
        let mut last_time = 0;
        for event in events.input {
            let Some((time, incoming)) = translate(event, &self.table) else { continue };
            // CLAP hosts sort their lists; an event out of order (or past the
            // block) applies where the previous one did (or at the end).
            let time = (time as usize).clamp(last_time, frames);
            last_time = time;
            if self.events.len() == self.events.capacity() {
                self.run(&buffers, start, time, &transport, events.output);
                start = time;
            }
            // Within capacity (checked above): no allocation.
            self.events.push(incoming.at((time - start) as u32));
        }
        self.run(&buffers, start, frames, &transport, events.output);
        if let Some((hash, _, plain)) = self.audio.take_param_output() {
            // A value the plugin set itself (a mapped record action): the
            // host learns it, after everything else in the block.
            let event = ParamValueEvent::new(frames.saturating_sub(1) as u32, ClapId::new(hash), Pckn::match_all(), f64::from(plain));
            let _ = events.output.try_push(event);
        }
        if let Some(latency) = self.audio.take_latency_change() {
            // A session change (a state restored while active, an editor
            // edit) altered the latency: CLAP lets it change only across a
            // re-activation, so ask for one.
            self.restart_latency = Some(latency);
            self.host.request_restart();
        }
        Ok(ProcessStatus::Continue)
    }

    fn deactivate(self, main: &ClapMain<'a>) {
        // Only `get`'s inactive answer: `reported_latency` keeps what the
        // host heard, so the next activation reports the change.
        if let Some(latency) = self.restart_latency {
            main.latency.set(latency);
        }
        *main.gui_events.borrow_mut() = self.gui_events;
        drop(self.audio);
        main.session.borrow_mut().deactivate();
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn reset(&mut self) {
        self.audio.reset();
    }

    /// As before our own layer (nice-plug reset here too): a host wakes a
    /// plugin after a pause whose audio does not continue the last block, so
    /// tails and delay lines start clean. Runs on the audio thread.
    fn start_processing(&mut self) -> Result<(), PluginError> {
        self.audio.reset();
        Ok(())
    }
}

impl ClapAudio<'_> {
    /// Runs frames `[start, end)` of the host's block with the gathered
    /// events (times relative to `start`), writes the MIDI they produced to
    /// `out` and empties the event list. `end == start` applies the events
    /// only (the engine's parameter flush). Runs on the audio thread.
    fn run(&mut self, buffers: &HostBuffers, start: usize, end: usize, transport: &Transport, out: &mut OutputEvents) {
        let part = buffers.part(start, end - start);
        let transport = super::transport_at(transport, start, self.sample_rate);
        let audio = &mut self.audio;
        let events = &self.events;
        // SAFETY: `part`'s pointers come from the host's process call, valid
        // for `buffers.frames` samples from `start` on (see `host_buffers`).
        no_alloc(|| unsafe { audio.process(&part, events, &transport) });
        write_midi(self.audio.midi_out(), start as u32, out);
        self.events.clear();
    }

    /// The host's ports as channel pointers, per the active configuration:
    /// inputs main, Sidechain 1, Sidechain 2; outputs main, then the stems.
    /// Only ports the host passed (`index < count`), channels it passed
    /// (`channel < channel_count`) with 32-bit data are used; the rest stay
    /// null. Output channels past the two we declare are silenced. Runs on
    /// the audio thread.
    fn host_buffers(&self, inputs: &[clap_audio_buffer], outputs: &mut [clap_audio_buffer], frames: usize) -> HostBuffers {
        let mut buffers = HostBuffers::empty(frames);
        // SAFETY (all `channels` calls): the host's buffer structs, valid
        // for this call, each `data32` holding `channel_count` pointers to
        // `frames` samples.
        buffers.main_in = unsafe { channels(inputs.first()) }.map(|p| p.cast_const());
        for (key, port) in buffers.keys.iter_mut().zip(inputs.iter().skip(1)) {
            *key = unsafe { channels(Some(port)) }.map(|p| p.cast_const());
        }
        let num_outputs = outputs.len().min(1 + self.num_stems.min(NUM_STEMS));
        for (index, port) in outputs.iter_mut().take(num_outputs).enumerate() {
            let pointers = unsafe { channels(Some(port)) };
            // SAFETY: as above; writes stay inside this port's channels.
            unsafe { silence_extra_channels(port, frames) };
            // We write every sample, none constant.
            port.constant_mask = 0;
            match index {
                0 => buffers.main_out = pointers,
                k => buffers.stems[k - 1] = pointers,
            }
        }
        buffers
    }

    /// Writes the editor's queued gestures to the host (audio thread while
    /// processing or flushing). No allocation.
    fn write_gui_events(&mut self, out: &mut OutputEvents) {
        if let Some(queue) = &mut self.gui_events {
            params::write_gui_events(queue, out);
        }
    }
}

/// The 32-bit channel pointers of `port`: the first two channels the host
/// passed, null where it passed fewer, no port, or no 32-bit data.
///
/// # Safety
/// `port` must be a host buffer struct valid for this process call.
unsafe fn channels(port: Option<&clap_audio_buffer>) -> [*mut f32; 2] {
    let mut pointers = [std::ptr::null_mut(); 2];
    let Some(port) = port else { return pointers };
    if port.data32.is_null() {
        return pointers;
    }
    for (channel, pointer) in pointers.iter_mut().enumerate().take(port.channel_count as usize) {
        // SAFETY: `channel < channel_count`: inside the host's pointer array.
        *pointer = unsafe { *port.data32.add(channel) };
    }
    pointers
}

/// Zeroes output channels past the two the plugin writes, should a host pass
/// more than the port declares.
///
/// # Safety
/// As for [`channels`]; every non-null channel holds `frames` samples.
unsafe fn silence_extra_channels(port: &clap_audio_buffer, frames: usize) {
    if port.data32.is_null() {
        return;
    }
    for channel in 2..port.channel_count as usize {
        // SAFETY: `channel < channel_count`.
        let pointer = unsafe { *port.data32.add(channel) };
        if !pointer.is_null() {
            // SAFETY: the host's channel of `frames` samples.
            unsafe { std::slice::from_raw_parts_mut(pointer, frames) }.fill(0.0);
        }
    }
}

/// The host's event as ours, with its sample time: a value change of one of
/// our parameters (CLAP values are normalized × steps, as nice-plug mapped
/// them), MIDI 1.0 on note port 0, or a CLAP note on/off as MIDI. Anything
/// else is ignored.
fn translate(event: &UnknownEvent, table: &ParamTable) -> Option<(u32, Incoming)> {
    let time = event.header().time();
    let incoming = match event.as_core_event()? {
        CoreEventSpace::ParamValue(e) => {
            let entry = table.by_hash(e.param_id()?.get())?;
            let normalized = (e.value() / params::clap_steps(entry)) as f32;
            normalized.is_finite().then_some(Incoming::Param { hash: entry.hash, normalized })?
        }
        CoreEventSpace::Midi(e) if e.port_index() == 0 => Incoming::Midi(e.data()),
        CoreEventSpace::NoteOn(e) => {
            // CLAP's events.h: "A NOTE_ON with a velocity of 0 is valid and
            // should not be interpreted as a NOTE_OFF" — but MIDI 1.0 would
            // read velocity 0 as one, so a note on keeps at least 1 (the
            // saturating cast also turns NaN into 0, then 1). A MIDI
            // message 0x9n with velocity 0 (`CLAP_EVENT_MIDI` above) passes
            // unchanged: in MIDI it already is a note off.
            let velocity = ((e.velocity() * 127.0).round() as u8).clamp(1, 127);
            Incoming::Midi(note_message(0x90, e.pckn(), velocity)?)
        }
        CoreEventSpace::NoteOff(e) => {
            let velocity = ((e.velocity() * 127.0).round() as u8).min(127);
            Incoming::Midi(note_message(0x80, e.pckn(), velocity)?)
        }
        _ => return None,
    };
    Some((time, incoming))
}

/// A MIDI note message for a CLAP note event on note port 0 with a specific
/// channel (0–15) and key (0–127); wildcards have no MIDI form.
fn note_message(status: u8, pckn: Pckn, velocity: u8) -> Option<[u8; 3]> {
    use clack_plugin::events::Match;
    match (pckn.port_index, pckn.channel, pckn.key) {
        (Match::Specific(0), Match::Specific(channel @ 0..=15), Match::Specific(key @ 0..=127)) => Some([status | channel as u8, key as u8, velocity]),
        _ => None,
    }
}

/// Writes `midi` (times relative to `offset`) to the host as
/// `CLAP_EVENT_MIDI` on note port 0. A full host queue drops the rest.
fn write_midi(midi: &[MidiEvent], offset: u32, out: &mut OutputEvents) {
    for m in midi {
        if out.try_push(ClapMidiEvent::new(offset + m.time, 0, m.data)).is_err() {
            return;
        }
    }
}

/// The host's transport at the block's first sample.
fn transport_of(transport: Option<&TransportEvent>, sample_rate: f64) -> Transport {
    let Some(t) = transport else { return Transport::default() };
    let has = |flag: TransportFlags| t.flags.contains(flag);
    let beats = has(TransportFlags::HAS_BEATS_TIMELINE);
    Transport {
        playing: has(TransportFlags::IS_PLAYING),
        tempo: has(TransportFlags::HAS_TEMPO).then_some(t.tempo),
        position_samples: has(TransportFlags::HAS_SECONDS_TIMELINE).then(|| (t.song_pos_seconds.to_float() * sample_rate).round() as i64),
        position_beats: beats.then(|| t.song_pos_beats.to_float()),
        bar_start_beats: beats.then(|| t.bar_start.to_float()),
        time_signature: has(TransportFlags::HAS_TIME_SIGNATURE).then_some((u32::from(t.time_signature_numerator), u32::from(t.time_signature_denominator))),
        loop_beats: (beats && has(TransportFlags::IS_LOOP_ACTIVE)).then(|| (t.loop_start_beats.to_float(), t.loop_end_beats.to_float())),
    }
}

#[cfg(test)]
mod tests {
    //! The pure translations between CLAP and our format types; the
    //! instance as a whole is driven by the host tests in `tests/`.
    use super::*;
    use clack_plugin::events::event_types::{NoteOffEvent, NoteOnEvent, ParamValueEvent};
    use clack_plugin::events::io::EventBuffer;
    use clack_plugin::events::{Event as _, EventFlags, Match};

    fn table() -> Arc<ParamTable> {
        let params = Arc::new(crate::MamParams::new(crate::DEFAULT_SESSION_JSON.to_string()));
        Arc::new(ParamTable::new(params))
    }

    #[test]
    fn a_value_event_is_normalized_by_the_parameters_steps() {
        let table = table();
        // "scene" is stepped 0…16: CLAP value 4 is normalized 4/16.
        let scene = table.by_id("scene").expect("scene");
        assert_eq!(scene.step_count(), Some(16));
        let event = ParamValueEvent::new(37, ClapId::new(scene.hash), Pckn::match_all(), 4.0);
        let Some((37, Incoming::Param { hash, normalized })) = translate(event.as_unknown(), &table) else { panic!("not translated") };
        assert_eq!((hash, normalized), (scene.hash, 0.25));
        // A continuous parameter's CLAP value is its normalized value.
        let gain = table.by_id("bus1_gain").expect("bus1_gain");
        let event = ParamValueEvent::new(0, ClapId::new(gain.hash), Pckn::match_all(), 0.5);
        assert!(matches!(translate(event.as_unknown(), &table), Some((0, Incoming::Param { normalized: 0.5, .. }))));
        // Unknown ids and non-finite values are ignored.
        let unknown = ParamValueEvent::new(0, ClapId::new(12345), Pckn::match_all(), 0.5);
        assert!(translate(unknown.as_unknown(), &table).is_none());
        let nan = ParamValueEvent::new(0, ClapId::new(gain.hash), Pckn::match_all(), f64::NAN);
        assert!(translate(nan.as_unknown(), &table).is_none());
    }

    #[test]
    fn clap_notes_on_port_0_become_midi_notes() {
        let table = table();
        let on = NoteOnEvent::new(5, Pckn::new(0u16, 2u16, 60u16, Match::All), 1.0);
        assert!(matches!(translate(on.as_unknown(), &table), Some((5, Incoming::Midi([0x92, 60, 127])))));
        // A CLAP note on of velocity 0 (or NaN) stays a note on (events.h);
        // MIDI would read velocity 0 as a note off.
        for velocity in [0.0, 0.001, f64::NAN, -1.0] {
            let silent = NoteOnEvent::new(0, Pckn::new(0u16, 0u16, 60u16, Match::All), velocity);
            assert!(matches!(translate(silent.as_unknown(), &table), Some((0, Incoming::Midi([0x90, 60, 1])))), "velocity {velocity}");
        }
        let loud = NoteOnEvent::new(0, Pckn::new(0u16, 0u16, 60u16, Match::All), 2.0);
        assert!(matches!(translate(loud.as_unknown(), &table), Some((0, Incoming::Midi([0x90, 60, 127])))));
        // A MIDI note on of velocity 0 is MIDI's note off and passes as is.
        let midi_off = ClapMidiEvent::new(3, 0, [0x91, 60, 0]);
        assert!(matches!(translate(midi_off.as_unknown(), &table), Some((3, Incoming::Midi([0x91, 60, 0])))));
        let off = NoteOffEvent::new(9, Pckn::new(0u16, 15u16, 127u16, Match::All), 0.5);
        assert!(matches!(translate(off.as_unknown(), &table), Some((9, Incoming::Midi([0x8F, 127, 64])))));
        // Wildcards and other note ports have no MIDI form.
        assert_eq!(note_message(0x90, Pckn::new(0u16, Match::All, 60u16, Match::All), 100), None);
        assert_eq!(note_message(0x90, Pckn::new(1u16, 0u16, 60u16, Match::All), 100), None);
        assert_eq!(note_message(0x90, Pckn::new(0u16, 16u16, 60u16, Match::All), 100), None);
    }

    #[test]
    fn editor_gestures_go_out_in_order_as_live_events() {
        let (mut producer, mut consumer) = rtrb::RingBuffer::new(8);
        for event in [GuiParamEvent::Begin(7), GuiParamEvent::Value(7, 0.25), GuiParamEvent::End(7)] {
            producer.push(event).unwrap();
        }
        let mut buffer = EventBuffer::new();
        params::write_gui_events(&mut consumer, &mut buffer.as_output());
        assert!(consumer.is_empty());
        let events: Vec<_> = buffer.iter().collect();
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| e.header().time() == 0 && e.header().flags().contains(EventFlags::IS_LIVE)));
        assert!(matches!(events[0].as_core_event(), Some(CoreEventSpace::ParamGestureBegin(_))));
        let Some(CoreEventSpace::ParamValue(value)) = events[1].as_core_event() else { panic!("a value event") };
        assert_eq!((value.param_id(), value.value()), (Some(ClapId::new(7)), 0.25));
        assert!(matches!(events[2].as_core_event(), Some(CoreEventSpace::ParamGestureEnd(_))));
    }

    #[test]
    fn a_run_inside_the_block_moves_pointers_and_transport_but_keeps_nulls() {
        let mut samples = [0.0f32; 8];
        let mut buffers = HostBuffers::empty(8);
        buffers.main_out[0] = samples.as_mut_ptr();
        let part = buffers.part(3, 5);
        assert_eq!(part.frames, 5);
        assert_eq!(part.main_out[0], samples[3..].as_mut_ptr());
        assert!(part.main_out[1].is_null() && part.main_in.iter().all(|p| p.is_null()));
        let transport = Transport { tempo: Some(120.0), position_samples: Some(1000), position_beats: Some(2.0), ..Default::default() };
        // 48 000 samples at 48 kHz and 120 BPM are one second, two beats.
        let moved = crate::format::transport_at(&transport, 48_000, 48_000.0);
        assert_eq!((moved.position_samples, moved.position_beats), (Some(49_000), Some(4.0)));
    }
}
