//! A minimal CLAP host around clack-host that loads the built bundle and
//! runs audio, parameter events, MIDI and state through it — including a
//! process path whose port arrays end on guard pages ([`run_guarded`]).

use std::sync::atomic::{AtomicBool, Ordering};

use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_extensions::latency::{HostLatency, HostLatencyImpl};
use clack_extensions::note_ports::{NoteDialect, NoteDialects};
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::utils::{BeatTime, SecondsTime};
use clack_host::prelude::*;

/// What the plugin asked of the host, from any thread.
#[derive(Default)]
pub struct Shared {
    pub restart_requested: AtomicBool,
    pub callback_requested: AtomicBool,
}

impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {
        self.restart_requested.store(true, Ordering::SeqCst);
    }
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

/// An embedding host's answers to the plugin's window requests: this test
/// host keeps the window at the size it gave.
impl HostGuiImpl for Shared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        Err(HostError::Message("this host does not resize"))
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {}
}

/// Main-thread host state: whether the plugin said its latency changed.
#[derive(Default)]
pub struct MainThread {
    pub latency_changed: AtomicBool,
}

impl MainThreadHandler<'_> for MainThread {}

impl HostLatencyImpl for MainThread {
    fn changed(&self) {
        self.latency_changed.store(true, Ordering::SeqCst);
    }
}

pub struct TestHost;
impl HostHandlers for TestHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = MainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostLatency>().register::<HostGui>();
    }
}

/// Runs the plugin's main-thread callback if it asked for one (as a host's
/// event loop would). Returns whether it ran.
pub fn pump_main_thread(loaded: &mut Loaded) -> bool {
    let asked = loaded.instance.access_shared_handler(|s| s.callback_requested.swap(false, Ordering::SeqCst));
    if asked {
        loaded.instance.call_on_main_thread_callback();
    }
    asked
}

pub const BLOCK: u32 = 512;
pub const RATE: f64 = 48_000.0;

/// Tests share one process and load the same library; CLAP entries are
/// initialised and torn down per load, which must not race, so every test
/// holds this lock while it uses the plugin.
pub static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Loaded {
    // Field order matters: the instance is destroyed before its entry, and
    // the lock is released last.
    pub instance: PluginInstance<TestHost>,
    _entry: PluginEntry,
    _serial: Option<std::sync::MutexGuard<'static, ()>>,
}

pub fn load() -> Loaded {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (instance, entry) = instantiate();
    Loaded { instance, _entry: entry, _serial: Some(serial) }
}

/// A second instance inside a test that already holds the lock through a
/// first one (or that takes it itself first).
pub fn load_unlocked() -> Loaded {
    let (instance, entry) = instantiate();
    Loaded { instance, _entry: entry, _serial: None }
}

/// An instance created while `MAM_SESSION` names a file holding `json`
/// (the caller holds [`SERIAL`], which also guards the environment).
pub fn load_with_session(json: &str) -> Loaded {
    let path = std::env::temp_dir().join(format!("mam-test-session-{}.json", std::process::id()));
    std::fs::write(&path, json).unwrap();
    let env = crate::env_lock();
    // SAFETY: tests that touch the environment hold ENV, so no other test
    // thread writes it meanwhile.
    unsafe { std::env::set_var("MAM_SESSION", &path) };
    let loaded = load_unlocked();
    unsafe { std::env::remove_var("MAM_SESSION") };
    drop(env);
    let _ = std::fs::remove_file(&path);
    loaded
}

pub fn instantiate() -> (PluginInstance<TestHost>, PluginEntry) {
    let path = crate::bundle("clap");
    assert!(path.exists(), "{} is missing: run `cargo xtask bundle mam_session --release` first", path.display());
    // SAFETY: loading our own bundle; its entry point follows the CLAP ABI.
    let entry = unsafe { PluginEntry::load(&path) }.expect("the bundle loads");
    let host = HostInfo::new("mam tests", "mam", "https://example.invalid", "1.0").unwrap();
    let factory = entry.get_plugin_factory().expect("a plugin factory");
    let descriptor = factory.plugin_descriptors().next().expect("one plugin");
    assert_eq!(descriptor.id().unwrap().to_bytes(), b"org.mam.session");
    assert_eq!(descriptor.name().unwrap().to_bytes(), b"MAM Session");
    let id = descriptor.id().unwrap().to_owned();
    let instance = PluginInstance::<TestHost>::new(|_| Shared::default(), |_| MainThread::default(), &entry, &id, &host).expect("instantiates");
    (instance, entry)
}

/// Runs `frames` frames through an activated instance: main input, the two
/// stereo keys (`side[0..2]` Sidechain 1, `side[2..4]` Sidechain 2),
/// parameter events; returns the stereo output.
pub fn run(loaded: &mut Loaded, main: &[Vec<f32>; 2], side: &[Vec<f32>; 4], events: &[ParamValueEvent]) -> [Vec<f32>; 2] {
    run_sliced(loaded, main, side, events, &mut |_| BLOCK as usize)
}

/// [`run`] with the host's block sizes chosen by `next_block(block_index)`
/// (at most `BLOCK`).
pub fn run_sliced(
    loaded: &mut Loaded,
    main: &[Vec<f32>; 2],
    side: &[Vec<f32>; 4],
    events: &[ParamValueEvent],
    next_block: &mut dyn FnMut(usize) -> usize,
) -> [Vec<f32>; 2] {
    run_with_transport(loaded, main, side, events, next_block, &mut |_| None)
}

/// [`run_sliced`] with the host's transport at each block's first frame
/// from `transport(frame)` (`None`: the host sends none).
pub fn run_with_transport(
    loaded: &mut Loaded,
    main: &[Vec<f32>; 2],
    side: &[Vec<f32>; 4],
    events: &[ParamValueEvent],
    next_block: &mut dyn FnMut(usize) -> usize,
    transport: &mut dyn FnMut(usize) -> Option<TransportEvent>,
) -> [Vec<f32>; 2] {
    run_with_transport_max(loaded, main, side, events, next_block, transport, BLOCK)
}

/// [`run_with_transport`], activated for blocks of up to `max_block`
/// frames (the host's blocks are at most that). The events reach the plugin
/// for every note, key and channel, whatever their own `pckn` says.
pub fn run_with_transport_max(
    loaded: &mut Loaded,
    main: &[Vec<f32>; 2],
    side: &[Vec<f32>; 4],
    events: &[ParamValueEvent],
    next_block: &mut dyn FnMut(usize) -> usize,
    transport: &mut dyn FnMut(usize) -> Option<TransportEvent>,
    max_block: u32,
) -> [Vec<f32>; 2] {
    let events: Vec<(usize, HostEvent)> = events.iter().map(|e| (e.header().time() as usize, HostEvent::Param(e.param_id().unwrap(), e.value()))).collect();
    run_timed(loaded, main, side, &events, Timing { max_block, next_block, transport, paced: false })
}

/// One input event of [`run_timed`], at an absolute host sample.
#[derive(Clone, Copy, Debug)]
pub enum HostEvent {
    /// A parameter's new value (`CLAP_EVENT_PARAM_VALUE` for every note,
    /// key and channel): (CLAP id, value).
    Param(ClapId, f64),
    /// A MIDI message on note port 0.
    Midi([u8; 3]),
}

/// How the host of [`run_timed`] times its process calls.
pub struct Timing<'a> {
    /// The largest block the instance is activated for.
    pub max_block: u32,
    /// The host's block sizes, `next_block(block_index)` (clamped to
    /// `1..=max_block`).
    pub next_block: &'a mut dyn FnMut(usize) -> usize,
    /// The host's transport at each block's first frame (`None`: the host
    /// sends none).
    pub transport: &'a mut dyn FnMut(usize) -> Option<TransportEvent>,
    /// Whether the host runs no faster than real time, as a DAW does while
    /// recording (the plugin's control thread then sees the blocks at the
    /// pace it would live).
    pub paced: bool,
}

/// Runs an activated instance over the whole of `main` (the keys in `side`
/// as in [`run`]) with `events` (sorted by sample) on their samples —
/// parameter values and MIDI — the blocks, transport and pace by `timing`;
/// returns the stereo output.
pub fn run_timed(loaded: &mut Loaded, main: &[Vec<f32>; 2], side: &[Vec<f32>; 4], events: &[(usize, HostEvent)], timing: Timing<'_>) -> [Vec<f32>; 2] {
    use clack_host::events::event_types::MidiEvent;
    let Timing { max_block, next_block, transport, paced } = timing;
    let config = PluginAudioConfiguration { sample_rate: RATE, min_frames_count: 1, max_frames_count: max_block };
    let stopped = loaded.instance.activate(|_, _| (), config).expect("activates");
    let mut processor = stopped.start_processing().expect("starts");
    let frames = main[0].len();
    let mut out = [vec![0.0f32; frames], vec![0.0f32; frames]];
    let started = std::time::Instant::now();
    let mut start = 0;
    let mut block_index = 0;
    while start < frames {
        let len = (frames - start).min(next_block(block_index).clamp(1, max_block as usize));
        block_index += 1;
        if paced {
            let due = std::time::Duration::from_secs_f64(start as f64 / RATE);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let mut main_block = [main[0][start..start + len].to_vec(), main[1][start..start + len].to_vec()];
        let mut side_block = [side[0][start..start + len].to_vec(), side[1][start..start + len].to_vec()];
        let mut side2_block = [side[2][start..start + len].to_vec(), side[3][start..start + len].to_vec()];
        let mut out_block = [vec![0.0f32; len], vec![0.0f32; len]];
        let mut in_events = EventBuffer::new();
        for &(at, event) in events.iter().filter(|(at, _)| (start..start + len).contains(at)) {
            let time = (at - start) as u32;
            match event {
                HostEvent::Param(id, value) => in_events.push(&ParamValueEvent::new(time, id, Pckn::match_all(), value)),
                HostEvent::Midi(data) => in_events.push(&MidiEvent::new(time, 0, data)),
            }
        }
        let block_transport = transport(start);
        process_block(&mut processor, [&mut main_block, &mut side_block, &mut side2_block], &mut out_block, &in_events.as_input(), block_transport.as_ref());
        for ch in 0..2 {
            out[ch][start..start + len].copy_from_slice(&out_block[ch]);
        }
        start += len;
    }
    let stopped = processor.stop_processing();
    loaded.instance.deactivate(stopped);
    out
}

/// One process call in the default layout: `inputs` on the main input,
/// Sidechain 1 and Sidechain 2, the main output into `out` (all
/// `[channel][frame]`, the block's length); the plugin's output events are
/// dropped.
pub fn process_block(
    processor: &mut StartedPluginAudioProcessor<TestHost>,
    inputs: [&mut [Vec<f32>; 2]; 3],
    out: &mut [Vec<f32>; 2],
    events: &InputEvents,
    transport: Option<&TransportEvent>,
) {
    let mut input_ports = AudioPorts::with_capacity(6, 3);
    let mut output_ports = AudioPorts::with_capacity(2, 1);
    let input_audio = input_ports.with_input_buffers(
        inputs.map(|port| AudioPortBuffer { latency: 0, channels: AudioPortBufferType::f32_input_only(port.iter_mut().map(variable)) }),
    );
    let mut output_audio = output_ports.with_output_buffers([AudioPortBuffer {
        latency: 0,
        channels: AudioPortBufferType::f32_output_only(out.iter_mut().map(|b| b.as_mut_slice())),
    }]);
    let mut output_events = EventBuffer::new();
    processor.process(&input_audio, &mut output_audio, events, &mut OutputEvents::from_buffer(&mut output_events), None, transport).expect("processes");
}

/// The plugin's state, as a host saves it into a project.
pub fn save_state(loaded: &mut Loaded) -> Vec<u8> {
    use clack_extensions::state::PluginState;
    let mut saved = Vec::new();
    let mut handle = loaded.instance.plugin_handle();
    let state: PluginState = handle.get_extension().expect("state extension");
    state.save(&mut handle, &mut saved).expect("saves");
    saved
}

/// Restores a state, as a host opening a project does.
pub fn load_state(loaded: &mut Loaded, bytes: &[u8]) {
    use clack_extensions::state::PluginState;
    let mut handle = loaded.instance.plugin_handle();
    let state: PluginState = handle.get_extension().expect("state extension");
    state.load(&mut handle, &mut std::io::Cursor::new(bytes)).expect("loads");
}

/// Selects the audio-ports configuration whose name contains `name_part`
/// (the instance must be inactive). Returns the configuration's name.
pub fn select_layout(loaded: &mut Loaded, name_part: &str) -> String {
    use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
    let handle = loaded.instance.plugin_handle();
    let configs: PluginAudioPortsConfig = handle.get_extension().expect("audio-ports-config extension");
    let mut buffer = AudioPortsConfigBuffer::new();
    let found = (0..configs.count(&handle))
        .filter_map(|i| configs.get(&handle, i, &mut buffer).map(|c| (c.id, String::from_utf8_lossy(c.name).into_owned())))
        .find(|(_, name)| name.contains(name_part));
    let (id, name) = found.unwrap_or_else(|| panic!("no layout named like {name_part:?}"));
    configs.select(&handle, id).expect("the plugin accepts the layout");
    name
}

/// Runs `frames` frames through an activated instance in the stem layout
/// (see [`select_layout`]): main input and keys as in [`run`]; returns the
/// main output and `num_stems` stereo stem outputs.
pub fn run_with_stems(loaded: &mut Loaded, main: &[Vec<f32>; 2], side: &[Vec<f32>; 4], num_stems: usize) -> ([Vec<f32>; 2], Vec<[Vec<f32>; 2]>) {
    let config = PluginAudioConfiguration { sample_rate: RATE, min_frames_count: 1, max_frames_count: BLOCK };
    let stopped = loaded.instance.activate(|_, _| (), config).expect("activates");
    let mut processor = stopped.start_processing().expect("starts");
    let frames = main[0].len();
    let mut out = [vec![0.0f32; frames], vec![0.0f32; frames]];
    let mut stems: Vec<[Vec<f32>; 2]> = (0..num_stems).map(|_| [vec![0.0f32; frames], vec![0.0f32; frames]]).collect();
    let mut inputs = AudioPorts::with_capacity(6, 3);
    let mut outputs = AudioPorts::with_capacity(2 * (1 + num_stems), 1 + num_stems);
    let mut start = 0;
    while start < frames {
        let len = (frames - start).min(BLOCK as usize);
        let mut main_block = [main[0][start..start + len].to_vec(), main[1][start..start + len].to_vec()];
        let mut side_block = [side[0][start..start + len].to_vec(), side[1][start..start + len].to_vec()];
        let mut side2_block = [side[2][start..start + len].to_vec(), side[3][start..start + len].to_vec()];
        // Stem buffers start with garbage, so a port left unwritten shows.
        let mut out_blocks: Vec<[Vec<f32>; 2]> = (0..1 + num_stems).map(|_| [vec![7.0f32; len], vec![7.0f32; len]]).collect();
        let input_audio = inputs.with_input_buffers([
            AudioPortBuffer { latency: 0, channels: AudioPortBufferType::f32_input_only(main_block.iter_mut().map(variable)) },
            AudioPortBuffer { latency: 0, channels: AudioPortBufferType::f32_input_only(side_block.iter_mut().map(variable)) },
            AudioPortBuffer { latency: 0, channels: AudioPortBufferType::f32_input_only(side2_block.iter_mut().map(variable)) },
        ]);
        let mut output_audio = outputs.with_output_buffers(out_blocks.iter_mut().map(|port| AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(port.iter_mut().map(|b| b.as_mut_slice())),
        }));
        let mut output_events_buffer = EventBuffer::new();
        let mut output_events = OutputEvents::from_buffer(&mut output_events_buffer);
        processor.process(&input_audio, &mut output_audio, &InputEvents::empty(), &mut output_events, None, None).expect("processes");
        for ch in 0..2 {
            out[ch][start..start + len].copy_from_slice(&out_blocks[0][ch]);
            for (k, stem) in stems.iter_mut().enumerate() {
                stem[ch][start..start + len].copy_from_slice(&out_blocks[1 + k][ch]);
            }
        }
        start += len;
    }
    let stopped = processor.stop_processing();
    loaded.instance.deactivate(stopped);
    (out, stems)
}

/// An audio thread running an activated instance, as a host's would, until
/// stopped.
pub struct AudioThread {
    stop: std::sync::Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(StoppedPluginAudioProcessor<TestHost>, Vec<f32>)>,
}

impl AudioThread {
    /// Activates `loaded` and processes `BLOCK`-frame blocks on a new
    /// thread, a 2 ms pause between them; `signal(frame)` gives the main
    /// input and Sidechain 1 samples (both stereo channels alike).
    pub fn start(loaded: &mut Loaded, signal: Box<dyn Fn(usize) -> (f32, f32) + Send>) -> AudioThread {
        let config = PluginAudioConfiguration { sample_rate: RATE, min_frames_count: 1, max_frames_count: BLOCK };
        let stopped = loaded.instance.activate(|_, _| (), config).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut processor = stopped.start_processing().unwrap();
            let n = BLOCK as usize;
            let mut heard = Vec::new();
            let mut t = 0;
            while !flag.load(Ordering::SeqCst) {
                let (music, key): (Vec<f32>, Vec<f32>) = (t..t + n).map(&signal).unzip();
                t += n;
                let mut main = [music.clone(), music];
                let mut key1 = [key.clone(), key];
                let mut key2 = [vec![0.0f32; n], vec![0.0f32; n]];
                let mut out = [vec![0.0f32; n], vec![0.0f32; n]];
                process_block(&mut processor, [&mut main, &mut key1, &mut key2], &mut out, &InputEvents::empty(), None);
                heard.push(out[0][n - 1]);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            (processor.stop_processing(), heard)
        });
        AudioThread { stop, thread }
    }

    /// Stops and deactivates; returns the last left output sample of every block.
    pub fn stop(self, loaded: &mut Loaded) -> Vec<f32> {
        self.stop.store(true, Ordering::SeqCst);
        let (stopped, heard) = self.thread.join().unwrap();
        loaded.instance.deactivate(stopped);
        heard
    }
}

/// Processes DC `level` on the main input on an [`AudioThread`] while this
/// thread loads `state` after about 200 ms and then serves the plugin's
/// main-thread callbacks for about 300 ms, like a host's event loop.
/// Returns the last left output sample of every block.
pub fn load_state_while_processing(live: &mut Loaded, state: &[u8], level: f32) -> Vec<f32> {
    use clack_extensions::state::PluginState;
    let audio = AudioThread::start(live, Box::new(move |_| (level, 0.0)));
    std::thread::sleep(std::time::Duration::from_millis(200));
    {
        let mut handle = live.instance.plugin_handle();
        let plugin_state: PluginState = handle.get_extension().unwrap();
        plugin_state.load(&mut handle, &mut std::io::Cursor::new(state)).expect("loads while processing");
    }
    for _ in 0..150 {
        pump_main_thread(live);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    audio.stop(live)
}

/// The CLAP id of the parameter named `name` (its display name, e.g. "Bus 1 Gain").
pub fn param_id(loaded: &mut Loaded, name: &str) -> ClapId {
    use clack_extensions::params::{ParamInfoBuffer, PluginParams};
    let handle = loaded.instance.plugin_handle();
    let params: PluginParams = handle.get_extension().expect("params extension");
    let mut buffer = ParamInfoBuffer::new();
    (0..params.count(&handle))
        .map(|i| params.get_info(&handle, i, &mut buffer).map(|p| (p.id, String::from_utf8_lossy(p.name).into_owned())).unwrap())
        .find(|(_, n)| n == name)
        .unwrap_or_else(|| panic!("no parameter named {name}"))
        .0
}

/// The audio ports of the active configuration: (name, channels, is main).
pub fn audio_ports(loaded: &mut Loaded, is_input: bool) -> Vec<(String, u32, bool)> {
    use clack_extensions::audio_ports::{AudioPortFlags, AudioPortInfoBuffer, PluginAudioPorts};
    let handle = loaded.instance.plugin_handle();
    let ports: PluginAudioPorts = handle.get_extension().expect("audio-ports extension");
    let mut buffer = AudioPortInfoBuffer::new();
    (0..ports.count(&handle, is_input))
        .map(|i| {
            let info = ports.get(&handle, i, is_input, &mut buffer).expect("port info");
            (String::from_utf8_lossy(info.name).into_owned(), info.channel_count, info.flags.contains(AudioPortFlags::IS_MAIN))
        })
        .collect()
}

/// The audio-ports configurations: (id, name, input ports, output ports).
pub fn port_configs(loaded: &mut Loaded) -> Vec<(ClapId, String, u32, u32)> {
    use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
    let handle = loaded.instance.plugin_handle();
    let configs: PluginAudioPortsConfig = handle.get_extension().expect("audio-ports-config extension");
    let mut buffer = AudioPortsConfigBuffer::new();
    (0..configs.count(&handle))
        .map(|i| {
            let c = configs.get(&handle, i, &mut buffer).expect("config info");
            (c.id, String::from_utf8_lossy(c.name).into_owned(), c.input_port_count, c.output_port_count)
        })
        .collect()
}

/// Selects the audio-ports configuration at `index` of the plugin's list
/// (the instance must be inactive).
pub fn select_config(loaded: &mut Loaded, index: usize) {
    use clack_extensions::audio_ports_config::PluginAudioPortsConfig;
    let id = port_configs(loaded)[index].0;
    let handle = loaded.instance.plugin_handle();
    let configs: PluginAudioPortsConfig = handle.get_extension().unwrap();
    configs.select(&handle, id).expect("the plugin accepts the configuration");
}

/// The note ports: (name, supported dialects, preferred dialect).
pub fn note_ports(loaded: &mut Loaded, is_input: bool) -> Vec<(String, NoteDialects, Option<NoteDialect>)> {
    use clack_extensions::note_ports::{NotePortInfoBuffer, PluginNotePorts};
    let handle = loaded.instance.plugin_handle();
    let Some(ports) = handle.get_extension::<PluginNotePorts>() else { return Vec::new() };
    let mut buffer = NotePortInfoBuffer::new();
    (0..ports.count(&handle, is_input))
        .map(|i| {
            let info = ports.get(&handle, i, is_input, &mut buffer).expect("note port info");
            (String::from_utf8_lossy(info.name).into_owned(), info.supported_dialects, info.preferred_dialect)
        })
        .collect()
}

/// An event the plugin wrote to its output queue, its time made absolute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OutEvent {
    /// `CLAP_EVENT_MIDI`: (frame, port index, bytes).
    Midi(u32, u16, [u8; 3]),
    /// `CLAP_EVENT_PARAM_VALUE`: (frame, parameter id, plain value).
    ParamValue(u32, u32, f64),
    /// Any other event: (frame, event space id or `None` for core, type id).
    Other(u32, Option<u16>, u16),
}

/// What [`run_guarded`] heard.
pub struct GuardedRun {
    /// Every output port the host passed, `[port][channel][frame]`; frames
    /// the plugin did not write keep [`UNWRITTEN`].
    pub outputs: Vec<[Vec<f32>; 2]>,
    pub events: Vec<OutEvent>,
}

/// What the host puts in output buffers before each call, so a port the
/// plugin leaves unwritten shows.
pub const UNWRITTEN: f32 = 7.0;

/// One host process call's audio ports, laid out so any access past what
/// the host passed faults: the `clap_audio_buffer` arrays, each port's
/// channel-pointer array and each channel's samples all end on guard pages.
struct GuardedPorts {
    inputs: crate::guard::Guarded<clap_sys::audio_buffer::clap_audio_buffer>,
    outputs: crate::guard::Guarded<clap_sys::audio_buffer::clap_audio_buffer>,
    in_data: Vec<crate::guard::GuardedStereo>,
    out_data: Vec<crate::guard::GuardedStereo>,
}

impl GuardedPorts {
    fn new(num_inputs: usize, num_outputs: usize, frames: usize) -> Self {
        use crate::guard::{Guarded, GuardedStereo};
        use clap_sys::audio_buffer::clap_audio_buffer;
        let in_data: Vec<GuardedStereo> = (0..num_inputs).map(|_| GuardedStereo::new(frames, 0.0)).collect();
        let out_data: Vec<GuardedStereo> = (0..num_outputs).map(|_| GuardedStereo::new(frames, UNWRITTEN)).collect();
        let port = |data: &GuardedStereo| clap_audio_buffer {
            data32: data.pointers.as_ptr(),
            data64: std::ptr::null_mut(),
            channel_count: 2,
            latency: 0,
            constant_mask: 0,
        };
        let inputs = Guarded::new(&in_data.iter().map(port).collect::<Vec<_>>());
        let outputs = Guarded::new(&out_data.iter().map(port).collect::<Vec<_>>());
        GuardedPorts { inputs, outputs, in_data, out_data }
    }
}

/// Runs `frames` frames (in `BLOCK`-frame calls) through an activated
/// instance as a host that passes only the first `inputs.len()` input
/// ports (each stereo, `[port][channel][frame]`) and the first
/// `num_outputs` output ports, with every host array ending on a guard page
/// (see [`crate::guard`]). `midi_in` are MIDI events at absolute frames for
/// note port 0. Returns every output port and the plugin's output events.
pub fn run_guarded(loaded: &mut Loaded, inputs: &[[Vec<f32>; 2]], num_outputs: usize, frames: usize, midi_in: &[(u32, [u8; 3])]) -> GuardedRun {
    use clack_host::events::event_types::MidiEvent;
    let config = PluginAudioConfiguration { sample_rate: RATE, min_frames_count: 1, max_frames_count: BLOCK };
    let stopped = loaded.instance.activate(|_, _| (), config).expect("activates");
    let mut processor = stopped.start_processing().expect("starts");
    let mut outputs: Vec<[Vec<f32>; 2]> = (0..num_outputs).map(|_| [vec![0.0; frames], vec![0.0; frames]]).collect();
    let mut events = Vec::new();
    let mut ports: Option<(usize, GuardedPorts)> = None;
    let mut start = 0;
    while start < frames {
        let len = (frames - start).min(BLOCK as usize);
        // A fresh layout whenever the block length changes, so the samples
        // always end on the guard page.
        if ports.as_ref().is_none_or(|(l, _)| *l != len) {
            ports = Some((len, GuardedPorts::new(inputs.len(), num_outputs, len)));
        }
        let block = &mut ports.as_mut().unwrap().1;
        for (port, data) in inputs.iter().zip(&mut block.in_data) {
            for ch in 0..2 {
                data.channels[ch].as_mut_slice().copy_from_slice(&port[ch][start..start + len]);
            }
        }
        for data in &mut block.out_data {
            for ch in 0..2 {
                data.channels[ch].as_mut_slice().fill(UNWRITTEN);
            }
        }
        let mut in_events = EventBuffer::new();
        for &(at, bytes) in midi_in.iter().filter(|(at, _)| (start..start + len).contains(&(*at as usize))) {
            in_events.push(&MidiEvent::new(at - start as u32, 0, bytes));
        }
        let mut out_events = EventBuffer::new();
        // SAFETY: every port's channel pointers point at `len` live samples
        // owned by `block`, which outlives the call.
        let input_audio = unsafe { InputAudioBuffers::from_raw_buffers(block.inputs.as_slice(), len as u32) };
        // SAFETY: as above; `outputs` is borrowed mutably for the call only.
        let mut output_audio = unsafe { OutputAudioBuffers::from_raw_buffers(block.outputs.as_mut_slice(), len as u32) };
        processor
            .process(&input_audio, &mut output_audio, &in_events.as_input(), &mut OutputEvents::from_buffer(&mut out_events), None, None)
            .expect("processes");
        for (out, data) in outputs.iter_mut().zip(&block.out_data) {
            for ch in 0..2 {
                out[ch][start..start + len].copy_from_slice(data.channels[ch].as_slice());
            }
        }
        for event in out_events.iter() {
            let time = event.header().time() + start as u32;
            let param = event.as_event::<ParamValueEvent>().and_then(|p| p.param_id().map(|id| (id, p.value())));
            events.push(match (event.as_event::<MidiEvent>(), param) {
                (Some(midi), _) => OutEvent::Midi(time, midi.port_index(), midi.data()),
                (None, Some((id, value))) => OutEvent::ParamValue(time, id.into(), value),
                (None, None) => OutEvent::Other(time, event.header().space_id().map(|s| s.id()), event.header().type_id()),
            });
        }
        start += len;
    }
    let stopped = processor.stop_processing();
    loaded.instance.deactivate(stopped);
    GuardedRun { outputs, events }
}

/// Whether the plugin asked the host to restart it, and whether it told
/// the host its latency changed (from any thread, since loading).
pub fn restart_flags(loaded: &mut Loaded) -> (bool, bool) {
    let restart = loaded.instance.access_shared_handler(|s| s.restart_requested.load(Ordering::SeqCst));
    let latency = loaded.instance.access_handler(|m| m.latency_changed.load(Ordering::SeqCst));
    (restart, latency)
}

/// A writable input channel (one function, so both ports have one type).
pub fn variable(buffer: &mut Vec<f32>) -> InputChannel<'_, f32> {
    InputChannel::variable(buffer.as_mut_slice())
}

pub fn silence(frames: usize) -> [Vec<f32>; 2] {
    [vec![0.0; frames], vec![0.0; frames]]
}

pub fn no_keys(frames: usize) -> [Vec<f32>; 4] {
    [0, 1, 2, 3].map(|_| vec![0.0; frames])
}


/// A host's transport event at `frame` (seconds timeline) with the song at
/// `beats` (beats timeline), in 4/4, no loop.
pub fn transport_event(frame: usize, playing: bool, tempo: f64, beats: f64) -> TransportEvent {
    let mut flags = TransportFlags::HAS_TEMPO | TransportFlags::HAS_BEATS_TIMELINE | TransportFlags::HAS_SECONDS_TIMELINE | TransportFlags::HAS_TIME_SIGNATURE;
    if playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(beats),
        song_pos_seconds: SecondsTime::from_float(frame as f64 / RATE),
        tempo,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_float(0.0),
        loop_end_beats: BeatTime::from_float(0.0),
        loop_start_seconds: SecondsTime::from_float(0.0),
        loop_end_seconds: SecondsTime::from_float(0.0),
        bar_start: BeatTime::from_float((beats / 4.0).floor() * 4.0),
        bar_number: (beats / 4.0).floor() as i32,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}

/// Samples in a beat at 120 BPM and [`RATE`].
pub const BEAT_AT_120_BPM: usize = 24_000;

/// The host's transport at `frame`, rolling from sample 0 at 120 BPM in 4/4.
pub fn rolling_at_120_bpm(frame: usize) -> Option<TransportEvent> {
    Some(transport_event(frame, true, 120.0, frame as f64 / BEAT_AT_120_BPM as f64))
}

/// A host's block sizes at random, for `next_block`: 1 to `max` frames, from
/// an xorshift32 generator started at `seed` (non-zero).
pub fn random_blocks(seed: u32, max: u32) -> impl FnMut(usize) -> usize {
    let mut seed = seed;
    move |_| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        1 + (seed % max) as usize
    }
}
