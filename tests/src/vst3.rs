//! A minimal VST3 host around the `vst3` crate's COM bindings that loads the
//! built bundle and runs audio, parameter changes, MIDI events and state
//! through it — including a process path whose bus arrays end on guard pages
//! ([`run_guarded`]).

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;
use std::sync::Mutex;

use vst3::Steinberg::Vst::{
    AudioBusBuffers, AudioBusBuffers__type0, BusDirections_, BusInfo, Event, IAudioProcessor, IAudioProcessorTrait, IComponent, IComponentHandler,
    IComponentHandlerTrait, IComponentTrait, IConnectionPoint, IConnectionPointTrait, IEditController, IEditControllerTrait, IEventList, IEventListTrait,
    IMidiMapping, IMidiMappingTrait, IParamValueQueue, IParamValueQueueTrait, IParameterChanges, IParameterChangesTrait, MediaTypes_, ParameterInfo,
    ProcessData, ProcessModes_, ProcessSetup, SpeakerArr, SymbolicSampleSizes_,
};
use vst3::Steinberg::Linux::{FileDescriptor, IEventHandler, IRunLoop, IRunLoopTrait, ITimerHandler, ITimerHandlerTrait, TimerInterval};
use vst3::Steinberg::Vst::{IHostApplication, IHostApplicationTrait, String128};
use vst3::Steinberg::{
    kNotImplemented, kResultFalse, kResultOk, tresult, IBStream, IBStreamTrait, IPluginBaseTrait, IPluginFactory, IPluginFactoryTrait, TUID,
};
use vst3::{Class, ComPtr, ComWrapper, Interface};

use crate::guard::{Guarded, GuardedStereo};

pub const RATE: f64 = 48_000.0;
pub const BLOCK: usize = 512;
const CLASS_ID: [u8; 16] = *b"MAMSessionPlugin";

/// VST3 tests share one process and one library; module entry and exit
/// must not race, so every test holds this lock while it uses the plugin.
pub static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Vst3 {
    // Drop order: COM objects, then the library.
    pub processor: ComPtr<IAudioProcessor>,
    pub controller: ComPtr<IEditController>,
    pub component: ComPtr<IComponent>,
    /// Whether the controller is an object of its own (created from the
    /// component's controller class id and connected to it), not the
    /// component itself.
    separate_controller: bool,
    /// What the instance was initialised with: host name and UI run loop.
    pub context: ComWrapper<HostContext>,
    _factory: ComPtr<IPluginFactory>,
    library: libloading::Library,
}

/// The host context every instance is initialised with: the host's name
/// and the UI run loop Linux hosts must offer (`IRunLoop`). The plugin's
/// timers fire when the test calls [`pump_ui`], on the test's thread, which
/// plays the host's UI thread.
pub struct HostContext {
    timers: Mutex<Vec<ComPtr<ITimerHandler>>>,
}

impl Class for HostContext {
    type Interfaces = (IHostApplication, IRunLoop);
}

impl IHostApplicationTrait for HostContext {
    unsafe fn getName(&self, name: *mut String128) -> tresult {
        if name.is_null() {
            return kResultFalse;
        }
        let mut text = [0u16; 128];
        for (slot, unit) in text.iter_mut().zip("mam tests".encode_utf16()) {
            *slot = unit;
        }
        // SAFETY: non-null pointer to the caller's String128.
        unsafe { *name = text };
        kResultOk
    }
    unsafe fn createInstance(&self, _cid: *mut TUID, _iid: *mut TUID, obj: *mut *mut c_void) -> tresult {
        if !obj.is_null() {
            // SAFETY: non-null out-pointer from the caller.
            unsafe { *obj = ptr::null_mut() };
        }
        kNotImplemented
    }
}

impl IRunLoopTrait for HostContext {
    unsafe fn registerEventHandler(&self, _handler: *mut IEventHandler, _fd: FileDescriptor) -> tresult {
        // No editor windows in these tests: file descriptors are never watched.
        kResultOk
    }
    unsafe fn unregisterEventHandler(&self, _handler: *mut IEventHandler) -> tresult {
        kResultOk
    }
    unsafe fn registerTimer(&self, handler: *mut ITimerHandler, _milliseconds: TimerInterval) -> tresult {
        // SAFETY: the plugin passes a valid handler; to_com_ptr takes a reference.
        match unsafe { vst3::ComRef::from_raw(handler) } {
            Some(handler) => {
                self.timers.lock().unwrap_or_else(|e| e.into_inner()).push(handler.to_com_ptr());
                kResultOk
            }
            None => kResultFalse,
        }
    }
    unsafe fn unregisterTimer(&self, handler: *mut ITimerHandler) -> tresult {
        self.timers.lock().unwrap_or_else(|e| e.into_inner()).retain(|t| t.as_ptr() != handler);
        kResultOk
    }
}

/// One turn of the host's UI run loop: every timer the plugin registered
/// fires once, on this thread.
pub fn pump_ui(plugin: &Vst3) {
    // Cloned out, so a timer that (un)registers timers does not deadlock.
    let timers: Vec<ComPtr<ITimerHandler>> = plugin.context.timers.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for timer in timers {
        // SAFETY: a live handler the plugin registered.
        unsafe { timer.onTimer() };
    }
}

impl Drop for Vst3 {
    fn drop(&mut self) {
        // SAFETY: the plugin is inactive or active as set by the test; these
        // calls are valid in either state and end the component's life.
        unsafe {
            self.processor.setProcessing(0);
            self.component.setActive(0);
            if self.separate_controller {
                if let (Some(a), Some(b)) = (self.component.cast::<IConnectionPoint>(), self.controller.cast::<IConnectionPoint>()) {
                    a.disconnect(b.as_ptr());
                    b.disconnect(a.as_ptr());
                }
                self.controller.terminate();
            }
            self.component.terminate();
            // Timers still registered are the plugin's objects: released
            // before its module exits.
            self.context.timers.lock().unwrap_or_else(|e| e.into_inner()).clear();
            if let Ok(exit) = self.library.get::<unsafe extern "C" fn() -> bool>(b"ModuleExit") {
                exit();
            }
        }
    }
}

pub fn load() -> Vst3 {
    let bundle = crate::bundle("vst3");
    let arch = if cfg!(target_arch = "aarch64") { "aarch64-linux" } else { "x86_64-linux" };
    let so = bundle.join("Contents").join(arch).join("MAM Session.so");
    assert!(so.exists(), "{} is missing: run `cargo xtask bundle mam_session --release` first", so.display());
    // SAFETY: our own bundle; VST3 on Linux requires ModuleEntry before the
    // factory is used, with the library handle as argument.
    unsafe {
        let library = libloading::Library::new(&so).expect("loads");
        let entry: libloading::Symbol<unsafe extern "C" fn(*mut c_void) -> bool> = library.get(b"ModuleEntry").expect("ModuleEntry");
        assert!(entry(ptr::null_mut()), "ModuleEntry");
        let get_factory: libloading::Symbol<unsafe extern "C" fn() -> *mut IPluginFactory> = library.get(b"GetPluginFactory").expect("GetPluginFactory");
        let factory = ComPtr::from_raw(get_factory()).expect("a factory");
        let mut obj: *mut c_void = ptr::null_mut();
        // nice-plug declares the class id in the byte order Linux hosts pass.
        let result = factory.createInstance(CLASS_ID.as_ptr() as *const _, IComponent::IID.as_ptr() as *const _, &mut obj);
        assert_eq!(result, kResultOk, "createInstance");
        let component = ComPtr::from_raw(obj as *mut IComponent).expect("a component");
        let context = ComWrapper::new(HostContext { timers: Mutex::new(Vec::new()) });
        let host = context.to_com_ptr::<vst3::Steinberg::FUnknown>().expect("the context is an FUnknown");
        assert_eq!(component.initialize(host.as_ptr()), kResultOk, "initialize");
        let processor = component.cast::<IAudioProcessor>().expect("IAudioProcessor");
        // A single-component effect is its own edit controller; otherwise the
        // host creates the controller from the class id the component names
        // and connects the two, as hosts do.
        let (controller, separate_controller) = match component.cast::<IEditController>() {
            Some(controller) => (controller, false),
            None => {
                let mut cid: TUID = [0; 16];
                assert_eq!(component.getControllerClassId(&mut cid), kResultOk, "getControllerClassId");
                let mut obj: *mut c_void = ptr::null_mut();
                let result = factory.createInstance(cid.as_ptr(), IEditController::IID.as_ptr() as *const _, &mut obj);
                assert_eq!(result, kResultOk, "createInstance of the controller");
                let controller = ComPtr::from_raw(obj as *mut IEditController).expect("an edit controller");
                assert_eq!(controller.initialize(host.as_ptr()), kResultOk, "controller initialize");
                if let (Some(a), Some(b)) = (component.cast::<IConnectionPoint>(), controller.cast::<IConnectionPoint>()) {
                    a.connect(b.as_ptr());
                    b.connect(a.as_ptr());
                }
                (controller, true)
            }
        };
        let plugin = Vst3 { processor, controller, component, separate_controller, context, _factory: factory, library };
        if separate_controller {
            // The host hands the component's state to its controller.
            sync_controller(&plugin, &save_state(&plugin));
        }
        plugin
    }
}

/// An instance created while `MAM_SESSION` names a file holding `json`
/// (the caller holds [`SERIAL`], which also guards the environment).
pub fn load_with_session(json: &str) -> Vst3 {
    let path = std::env::temp_dir().join(format!("mam-vst3-session-{}.json", std::process::id()));
    std::fs::write(&path, json).unwrap();
    let env = crate::env_lock();
    // SAFETY: tests that touch the environment hold ENV, so no other test
    // thread writes it meanwhile.
    unsafe { std::env::set_var("MAM_SESSION", &path) };
    let plugin = load();
    unsafe { std::env::remove_var("MAM_SESSION") };
    drop(env);
    let _ = std::fs::remove_file(&path);
    plugin
}

fn sync_controller(plugin: &Vst3, bytes: &[u8]) {
    let stream = MemStream::new(bytes.to_vec());
    let ptr = stream.to_com_ptr::<IBStream>().unwrap();
    // SAFETY: valid controller and stream.
    assert_eq!(unsafe { plugin.controller.setComponentState(ptr.as_ptr()) }, kResultOk, "setComponentState");
}

pub fn bus_names(plugin: &Vst3, direction: i32) -> Vec<(String, i32)> {
    buses(plugin, MediaTypes_::kAudio as i32, direction).into_iter().map(|b| (b.name, b.channels)).collect()
}

/// One bus as `getBusInfo` describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Bus {
    pub name: String,
    pub channels: i32,
    /// `BusTypes_::kMain` (0) or `kAux` (1).
    pub bus_type: i32,
    /// `BusInfo_::BusFlags_` bits (`kDefaultActive` = 1).
    pub flags: u32,
}

/// The buses of `media` (`MediaTypes_`) in `direction` (`BusDirections_`).
pub fn buses(plugin: &Vst3, media: i32, direction: i32) -> Vec<Bus> {
    // SAFETY: valid component; BusInfo is plain data the call fills in.
    unsafe {
        (0..plugin.component.getBusCount(media, direction))
            .map(|i| {
                let mut info: BusInfo = std::mem::zeroed();
                assert_eq!(plugin.component.getBusInfo(media, direction, i, &mut info), kResultOk);
                Bus { name: utf16(&info.name), channels: info.channelCount, bus_type: info.busType, flags: info.flags }
            })
            .collect()
    }
}

fn audio_bus_count(plugin: &Vst3, direction: i32) -> usize {
    // SAFETY: valid component.
    unsafe { plugin.component.getBusCount(MediaTypes_::kAudio as i32, direction) }.max(0) as usize
}

/// The parameter the plugin maps MIDI controller `controller` (a CC number,
/// or `ControllerNumbers_::kPitchBend` / `kAfterTouch`) on `channel` of event
/// bus 0 to, through `IMidiMapping`.
pub fn midi_controller_param(plugin: &Vst3, channel: i16, controller: i16) -> Option<u32> {
    let mapping = plugin.controller.cast::<IMidiMapping>()?;
    let mut id = 0u32;
    // SAFETY: valid IMidiMapping; `id` is a live out-pointer.
    let result = unsafe { mapping.getMidiControllerAssignment(0, channel, controller, &mut id) };
    (result == kResultOk).then_some(id)
}

/// A host's `IComponentHandler` that records every `restartComponent`
/// request and accepts edits.
pub struct RestartLog {
    flags: Mutex<Vec<i32>>,
}

impl RestartLog {
    /// Every `restartComponent` flag set asked for so far, in order.
    pub fn requests(&self) -> Vec<i32> {
        self.flags.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Class for RestartLog {
    type Interfaces = (IComponentHandler,);
}

impl IComponentHandlerTrait for RestartLog {
    unsafe fn beginEdit(&self, _id: u32) -> tresult {
        kResultOk
    }
    unsafe fn performEdit(&self, _id: u32, _value: f64) -> tresult {
        kResultOk
    }
    unsafe fn endEdit(&self, _id: u32) -> tresult {
        kResultOk
    }
    unsafe fn restartComponent(&self, flags: i32) -> tresult {
        self.flags.lock().unwrap_or_else(|e| e.into_inner()).push(flags);
        kResultOk
    }
}

/// Installs a [`RestartLog`] as the controller's component handler (as a
/// host does right after loading).
pub fn watch_restarts(plugin: &Vst3) -> ComWrapper<RestartLog> {
    let log = ComWrapper::new(RestartLog { flags: Mutex::new(Vec::new()) });
    let handler = log.to_com_ptr::<IComponentHandler>().unwrap();
    // SAFETY: valid controller; the plugin keeps its own reference.
    assert_eq!(unsafe { plugin.controller.setComponentHandler(handler.as_ptr()) }, kResultOk, "setComponentHandler");
    log
}

/// A block's events: the host's input list (read by the plugin) or the
/// output list the plugin adds to.
pub struct EventList {
    events: RefCell<Vec<Event>>,
}

impl EventList {
    pub fn new(events: Vec<Event>) -> ComWrapper<EventList> {
        ComWrapper::new(EventList { events: RefCell::new(events) })
    }
    pub fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }
}

impl Class for EventList {
    type Interfaces = (IEventList,);
}

impl IEventListTrait for EventList {
    unsafe fn getEventCount(&self) -> i32 {
        self.events.borrow().len() as i32
    }
    unsafe fn getEvent(&self, index: i32, e: *mut Event) -> tresult {
        match self.events.borrow().get(index as usize) {
            Some(event) if !e.is_null() => {
                // SAFETY: non-null out-pointer from the caller.
                unsafe { *e = *event };
                kResultOk
            }
            _ => kResultFalse,
        }
    }
    unsafe fn addEvent(&self, e: *mut Event) -> tresult {
        if e.is_null() {
            return kResultFalse;
        }
        // SAFETY: non-null pointer to an event the caller owns.
        self.events.borrow_mut().push(unsafe { *e });
        kResultOk
    }
}

fn utf16(text: &[u16]) -> String {
    let len = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    String::from_utf16_lossy(&text[..len])
}

/// Every parameter: (id, title, step count, default normalized value).
pub fn parameters(plugin: &Vst3) -> Vec<(u32, String, i32, f64)> {
    // SAFETY: valid controller; ParameterInfo is plain data the call fills in.
    unsafe {
        (0..plugin.controller.getParameterCount())
            .map(|i| {
                let mut info: ParameterInfo = std::mem::zeroed();
                assert_eq!(plugin.controller.getParameterInfo(i, &mut info), kResultOk);
                (info.id, utf16(&info.title), info.stepCount, info.defaultNormalizedValue)
            })
            .collect()
    }
}

pub fn param_id(plugin: &Vst3, title: &str) -> u32 {
    parameters(plugin).into_iter().find(|p| p.1 == title).unwrap_or_else(|| panic!("no parameter {title}")).0
}

/// The plugin's text for a normalized value.
pub fn value_to_text(plugin: &Vst3, id: u32, normalized: f64) -> String {
    let mut text = [0u16; 128];
    // SAFETY: valid controller; the buffer is a String128.
    assert_eq!(unsafe { plugin.controller.getParamStringByValue(id, normalized, &mut text) }, kResultOk);
    utf16(&text)
}

/// The normalized value the plugin reads from `text`.
pub fn text_to_value(plugin: &Vst3, id: u32, text: &str) -> Option<f64> {
    let mut wide: Vec<u16> = text.encode_utf16().chain([0]).collect();
    let mut value = 0.0;
    // SAFETY: valid controller; `wide` is a NUL-terminated UTF-16 string.
    let result = unsafe { plugin.controller.getParamValueByString(id, wide.as_mut_ptr(), &mut value) };
    (result == kResultOk).then_some(value)
}

/// One parameter's automation points within a block.
pub struct ParamQueue {
    id: u32,
    points: Vec<(i32, f64)>,
}

impl Class for ParamQueue {
    type Interfaces = (IParamValueQueue,);
}

impl IParamValueQueueTrait for ParamQueue {
    unsafe fn getParameterId(&self) -> u32 {
        self.id
    }
    unsafe fn getPointCount(&self) -> i32 {
        self.points.len() as i32
    }
    unsafe fn getPoint(&self, index: i32, offset: *mut i32, value: *mut f64) -> tresult {
        match self.points.get(index as usize) {
            Some(&(o, v)) => {
                // SAFETY: the caller passes valid out-pointers.
                unsafe {
                    *offset = o;
                    *value = v;
                }
                kResultOk
            }
            None => kResultFalse,
        }
    }
    unsafe fn addPoint(&self, _offset: i32, _value: f64, _index: *mut i32) -> tresult {
        kResultFalse
    }
}

/// The parameter changes of one block.
pub struct ParamChanges {
    queues: Vec<ComWrapper<ParamQueue>>,
}

impl Class for ParamChanges {
    type Interfaces = (IParameterChanges,);
}

impl IParameterChangesTrait for ParamChanges {
    unsafe fn getParameterCount(&self) -> i32 {
        self.queues.len() as i32
    }
    unsafe fn getParameterData(&self, index: i32) -> *mut IParamValueQueue {
        self.queues.get(index as usize).and_then(|q| q.as_com_ref::<IParamValueQueue>()).map_or(ptr::null_mut(), |r| r.as_ptr())
    }
    unsafe fn addParameterData(&self, _id: *const u32, _index: *mut i32) -> *mut IParamValueQueue {
        ptr::null_mut()
    }
}

/// A parameter change for [`run`]: (absolute frame, parameter id, normalized value).
pub type Change = (usize, u32, f64);

/// A growable in-memory `IBStream` for component state.
pub struct MemStream {
    data: RefCell<(Vec<u8>, usize)>,
}

impl MemStream {
    pub fn new(bytes: Vec<u8>) -> ComWrapper<MemStream> {
        ComWrapper::new(MemStream { data: RefCell::new((bytes, 0)) })
    }
    pub fn bytes(&self) -> Vec<u8> {
        self.data.borrow().0.clone()
    }
}

impl Class for MemStream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for MemStream {
    unsafe fn read(&self, buffer: *mut c_void, num_bytes: i32, read: *mut i32) -> tresult {
        let mut data = self.data.borrow_mut();
        let (bytes, pos) = &mut *data;
        let n = (num_bytes.max(0) as usize).min(bytes.len() - *pos);
        // SAFETY: the caller's buffer holds `num_bytes` bytes; n ≤ num_bytes.
        unsafe { ptr::copy_nonoverlapping(bytes[*pos..].as_ptr(), buffer as *mut u8, n) };
        *pos += n;
        if !read.is_null() {
            // SAFETY: non-null out-pointer from the caller.
            unsafe { *read = n as i32 };
        }
        kResultOk
    }
    unsafe fn write(&self, buffer: *mut c_void, num_bytes: i32, written: *mut i32) -> tresult {
        let mut data = self.data.borrow_mut();
        let (bytes, pos) = &mut *data;
        let n = num_bytes.max(0) as usize;
        // SAFETY: the caller's buffer holds `num_bytes` readable bytes.
        let src = unsafe { std::slice::from_raw_parts(buffer as *const u8, n) };
        if bytes.len() < *pos + n {
            bytes.resize(*pos + n, 0);
        }
        bytes[*pos..*pos + n].copy_from_slice(src);
        *pos += n;
        if !written.is_null() {
            // SAFETY: non-null out-pointer from the caller.
            unsafe { *written = n as i32 };
        }
        kResultOk
    }
    unsafe fn seek(&self, offset: i64, mode: i32, result: *mut i64) -> tresult {
        let mut data = self.data.borrow_mut();
        let (bytes, pos) = &mut *data;
        let base = match mode {
            0 => 0,
            1 => *pos as i64,
            2 => bytes.len() as i64,
            _ => return kResultFalse,
        };
        *pos = (base + offset).clamp(0, bytes.len() as i64) as usize;
        if !result.is_null() {
            // SAFETY: non-null out-pointer from the caller.
            unsafe { *result = *pos as i64 };
        }
        kResultOk
    }
    unsafe fn tell(&self, result: *mut i64) -> tresult {
        if !result.is_null() {
            // SAFETY: non-null out-pointer from the caller.
            unsafe { *result = self.data.borrow().1 as i64 };
        }
        kResultOk
    }
}

/// The component state as bytes.
pub fn save_state(plugin: &Vst3) -> Vec<u8> {
    let stream = MemStream::new(Vec::new());
    let ptr = stream.to_com_ptr::<IBStream>().unwrap();
    // SAFETY: valid component and stream.
    assert_eq!(unsafe { plugin.component.getState(ptr.as_ptr()) }, kResultOk, "getState");
    stream.bytes()
}

pub fn load_state(plugin: &Vst3, bytes: &[u8]) {
    let stream = MemStream::new(bytes.to_vec());
    let ptr = stream.to_com_ptr::<IBStream>().unwrap();
    // SAFETY: valid component and stream.
    assert_eq!(unsafe { plugin.component.setState(ptr.as_ptr()) }, kResultOk, "setState");
    if plugin.separate_controller {
        sync_controller(plugin, bytes);
    }
}

/// Activates with every audio bus in a stereo arrangement and every
/// sidechain bus enabled, and runs the main input and Sidechain 1 through in
/// `BLOCK`-frame blocks (any further input bus gets silence, any further
/// output bus a scratch buffer).
pub fn run(plugin: &Vst3, main: &[Vec<f32>; 2], side: &[Vec<f32>; 2], changes: &[Change]) -> [Vec<f32>; 2] {
    run_sliced(plugin, main, side, changes, &mut |_| BLOCK)
}

/// The parameter changes of one block: `changes` at absolute frames within
/// `start..start + len`, made relative (points of one parameter in order).
fn block_changes(changes: &[Change], start: usize, len: usize) -> ComWrapper<ParamChanges> {
    let mut queues: Vec<ParamQueue> = Vec::new();
    for &(at, id, value) in changes.iter().filter(|(at, _, _)| (start..start + len).contains(at)) {
        let point = ((at - start) as i32, value);
        match queues.iter_mut().find(|q| q.id == id) {
            Some(queue) => queue.points.push(point),
            None => queues.push(ParamQueue { id, points: vec![point] }),
        }
    }
    ComWrapper::new(ParamChanges { queues: queues.into_iter().map(ComWrapper::new).collect() })
}

/// Every audio bus stereo; returns the input and output bus counts.
///
/// # Safety
/// `plugin` is inactive.
unsafe fn arrange_stereo(plugin: &Vst3) -> (usize, usize) {
    let (num_in, num_out) = (audio_bus_count(plugin, BusDirections_::kInput as i32), audio_bus_count(plugin, BusDirections_::kOutput as i32));
    let mut inputs = vec![SpeakerArr::kStereo; num_in];
    let mut outputs = vec![SpeakerArr::kStereo; num_out];
    // SAFETY: arrays of exactly the plugin's bus counts.
    let result = unsafe { plugin.processor.setBusArrangements(inputs.as_mut_ptr(), num_in as i32, outputs.as_mut_ptr(), num_out as i32) };
    assert_eq!(result, kResultOk, "stereo on all {num_in} input and {num_out} output buses");
    (num_in, num_out)
}

/// [`activate`], then setProcessing(true).
///
/// # Safety
/// `plugin` is inactive with its buses arranged.
unsafe fn start(plugin: &Vst3) {
    // SAFETY: the caller's precondition.
    unsafe {
        activate(plugin);
        plugin.processor.setProcessing(1);
    }
}

/// setupProcessing (`RATE`, `BLOCK`, 32-bit, realtime), setActive(true).
///
/// # Safety
/// `plugin` is inactive with its buses arranged.
pub unsafe fn activate(plugin: &Vst3) {
    let mut setup = ProcessSetup {
        processMode: ProcessModes_::kRealtime as i32,
        symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
        maxSamplesPerBlock: BLOCK as i32,
        sampleRate: RATE,
    };
    // SAFETY: the caller's precondition; `setup` outlives the call.
    unsafe {
        assert_eq!(plugin.processor.setupProcessing(&mut setup), kResultOk, "setupProcessing");
        assert_eq!(plugin.component.setActive(1), kResultOk, "setActive");
    }
}

/// setProcessing(false), setActive(false).
///
/// # Safety
/// `plugin` was started with [`start`].
unsafe fn stop(plugin: &Vst3) {
    // SAFETY: the caller's precondition.
    unsafe {
        plugin.processor.setProcessing(0);
        plugin.component.setActive(0);
    }
}

/// [`run`] with the host's block sizes chosen by `next_block(block_index)`.
pub fn run_sliced(plugin: &Vst3, main: &[Vec<f32>; 2], side: &[Vec<f32>; 2], changes: &[Change], next_block: &mut dyn FnMut(usize) -> usize) -> [Vec<f32>; 2] {
    // SAFETY: the call sequence follows the VST3 processing life cycle; all
    // buffers and COM objects outlive the process calls that point at them.
    unsafe {
        let (num_in, num_out) = arrange_stereo(plugin);
        for bus in 1..num_in {
            assert_eq!(plugin.component.activateBus(MediaTypes_::kAudio as i32, BusDirections_::kInput as i32, bus as i32, 1), kResultOk, "sidechain bus {bus}");
        }
        start(plugin);
        let frames = main[0].len();
        let mut out = [vec![0.0f32; frames], vec![0.0f32; frames]];
        let mut start = 0;
        let mut block_index = 0;
        while start < frames {
            let len = (frames - start).min(next_block(block_index).clamp(1, BLOCK));
            block_index += 1;
            // `[bus][channel][frame]`: main, Sidechain 1, then silence.
            let mut in_blocks: Vec<[Vec<f32>; 2]> = (0..num_in)
                .map(|bus| match bus {
                    0 => [main[0][start..start + len].to_vec(), main[1][start..start + len].to_vec()],
                    1 => [side[0][start..start + len].to_vec(), side[1][start..start + len].to_vec()],
                    _ => [vec![0.0; len], vec![0.0; len]],
                })
                .collect();
            let mut out_blocks: Vec<[Vec<f32>; 2]> = (0..num_out).map(|_| [vec![0.0f32; len], vec![0.0f32; len]]).collect();
            let mut in_ptrs: Vec<[*mut f32; 2]> = in_blocks.iter_mut().map(|[l, r]| [l.as_mut_ptr(), r.as_mut_ptr()]).collect();
            let mut out_ptrs: Vec<[*mut f32; 2]> = out_blocks.iter_mut().map(|[l, r]| [l.as_mut_ptr(), r.as_mut_ptr()]).collect();
            let bus = |ptrs: &mut [*mut f32; 2]| AudioBusBuffers {
                numChannels: 2,
                silenceFlags: 0,
                __field0: AudioBusBuffers__type0 { channelBuffers32: ptrs.as_mut_ptr() },
            };
            let mut in_buses: Vec<AudioBusBuffers> = in_ptrs.iter_mut().map(bus).collect();
            let mut out_buses: Vec<AudioBusBuffers> = out_ptrs.iter_mut().map(bus).collect();
            let param_changes = block_changes(changes, start, len);
            let param_ptr = param_changes.to_com_ptr::<IParameterChanges>().unwrap();
            let mut data = ProcessData {
                processMode: ProcessModes_::kRealtime as i32,
                symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
                numSamples: len as i32,
                numInputs: num_in as i32,
                numOutputs: num_out as i32,
                inputs: in_buses.as_mut_ptr(),
                outputs: out_buses.as_mut_ptr(),
                inputParameterChanges: param_ptr.as_ptr(),
                outputParameterChanges: ptr::null_mut(),
                inputEvents: ptr::null_mut(),
                outputEvents: ptr::null_mut(),
                processContext: ptr::null_mut(),
            };
            assert_eq!(plugin.processor.process(&mut data), kResultOk, "process");
            for ch in 0..2 {
                out[ch][start..start + len].copy_from_slice(&out_blocks[0][ch]);
            }
            start += len;
        }
        stop(plugin);
        out
    }
}

/// How the host presents one audio bus in `ProcessData`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pass {
    /// `numChannels` 2 and two channels of samples.
    Stereo,
    /// `numChannels` 2, `channelBuffers32` null.
    NullArray,
    /// `numChannels` 2, `channelBuffers32` pointing at two null pointers.
    NullChannels,
}

/// A host's bus setup for [`run_guarded`].
#[derive(Clone, Debug)]
pub struct HostLayout {
    /// `activateBus` state of every audio input bus, in the plugin's order.
    pub active_inputs: Vec<bool>,
    /// `activateBus` state of every audio output bus.
    pub active_outputs: Vec<bool>,
    /// The input buses `process` gets: `numInputs` is the length.
    pub inputs: Vec<Pass>,
    /// The output buses `process` gets: `numOutputs` is the length.
    pub outputs: Vec<Pass>,
}

impl HostLayout {
    /// Every bus active and passed with stereo buffers.
    pub fn full(plugin: &Vst3) -> HostLayout {
        let (num_in, num_out) = (audio_bus_count(plugin, BusDirections_::kInput as i32), audio_bus_count(plugin, BusDirections_::kOutput as i32));
        HostLayout { active_inputs: vec![true; num_in], active_outputs: vec![true; num_out], inputs: vec![Pass::Stereo; num_in], outputs: vec![Pass::Stereo; num_out] }
    }
}

/// What [`run_guarded`] heard.
pub struct Vst3Run {
    /// Every output bus the host passed, `[bus][channel][frame]`; frames the
    /// plugin did not write (and buses passed without buffers) keep
    /// [`UNWRITTEN`].
    pub outputs: Vec<[Vec<f32>; 2]>,
    /// The plugin's output events, `sampleOffset` made absolute.
    pub events: Vec<Event>,
    /// Every passed output bus's `silenceFlags` after each call,
    /// `[block][bus]`; [`UNWRITTEN_FLAGS`] where the plugin left them.
    pub silence_flags: Vec<Vec<u64>>,
}

/// What the host puts in output buffers before each call, so a bus the
/// plugin leaves unwritten shows.
pub const UNWRITTEN: f32 = 7.0;

/// What the host puts in every output bus's `silenceFlags` before each
/// call, so flags the plugin leaves alone show (it claims 64 silent
/// channels, which no stereo bus of the plugin's can mean).
pub const UNWRITTEN_FLAGS: u64 = u64::MAX;

/// One process call's audio buses, laid out so any access past what the
/// host passed faults: the `AudioBusBuffers` arrays, each bus's
/// channel-pointer array and each channel's samples end on guard pages.
struct GuardedBuses {
    inputs: Guarded<AudioBusBuffers>,
    outputs: Guarded<AudioBusBuffers>,
    /// Per passed bus: its samples (`Pass::Stereo`) or its null pointer pair.
    in_data: Vec<(Option<GuardedStereo>, Option<Guarded<*mut f32>>)>,
    out_data: Vec<(Option<GuardedStereo>, Option<Guarded<*mut f32>>)>,
}

impl GuardedBuses {
    fn new(layout: &HostLayout, frames: usize) -> GuardedBuses {
        let data = |pass: &Pass, fill: f32| match pass {
            Pass::Stereo => (Some(GuardedStereo::new(frames, fill)), None),
            Pass::NullArray => (None, None),
            Pass::NullChannels => (None, Some(Guarded::new(&[ptr::null_mut::<f32>(); 2]))),
        };
        let in_data: Vec<_> = layout.inputs.iter().map(|p| data(p, 0.0)).collect();
        let out_data: Vec<_> = layout.outputs.iter().map(|p| data(p, UNWRITTEN)).collect();
        let bus = |(stereo, nulls): &(Option<GuardedStereo>, Option<Guarded<*mut f32>>)| AudioBusBuffers {
            numChannels: 2,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 {
                channelBuffers32: match (stereo, nulls) {
                    (Some(s), _) => s.pointers.as_ptr(),
                    (None, Some(n)) => n.as_ptr(),
                    (None, None) => ptr::null_mut(),
                },
            },
        };
        let inputs = Guarded::new(&in_data.iter().map(bus).collect::<Vec<_>>());
        let outputs = Guarded::new(&out_data.iter().map(bus).collect::<Vec<_>>());
        GuardedBuses { inputs, outputs, in_data, out_data }
    }
}

/// Runs `frames` frames (in `BLOCK`-frame calls) through the plugin as a
/// host with bus setup `layout`, every host array ending on a guard page
/// (see [`crate::guard`]). `inputs` holds a stereo signal per passed input
/// bus (`[bus][channel][frame]`, ignored for buses passed without buffers),
/// `changes` are parameter changes and `events` input events (event bus 0),
/// both at absolute frames. Activates and deactivates around the run.
pub fn run_guarded(plugin: &Vst3, layout: &HostLayout, inputs: &[[Vec<f32>; 2]], frames: usize, changes: &[Change], events: &[Event]) -> Vst3Run {
    run_guarded_with(plugin, layout, inputs, frames, changes, events, &mut |_| {})
}

/// [`run_guarded`] that calls `between(block_index)` after every process
/// call, while the plugin is active (host main-thread work during playback).
pub fn run_guarded_with(
    plugin: &Vst3,
    layout: &HostLayout,
    inputs: &[[Vec<f32>; 2]],
    frames: usize,
    changes: &[Change],
    events: &[Event],
    between: &mut dyn FnMut(usize),
) -> Vst3Run {
    assert_eq!(inputs.len(), layout.inputs.len(), "one signal per passed input bus");
    let mut outputs: Vec<[Vec<f32>; 2]> = layout.outputs.iter().map(|_| [vec![0.0; frames], vec![0.0; frames]]).collect();
    let mut events_out = Vec::new();
    let mut silence_flags = Vec::new();
    // SAFETY: the call sequence follows the VST3 processing life cycle; all
    // buffers and COM objects outlive the process calls that point at them.
    unsafe {
        arrange_stereo(plugin);
        for (direction, active) in [(BusDirections_::kInput, &layout.active_inputs), (BusDirections_::kOutput, &layout.active_outputs)] {
            for (bus, &on) in active.iter().enumerate() {
                let result = plugin.component.activateBus(MediaTypes_::kAudio as i32, direction as i32, bus as i32, on as u8);
                assert_eq!(result, kResultOk, "activateBus(audio, {direction}, {bus}, {on})");
            }
            for bus in 0..plugin.component.getBusCount(MediaTypes_::kEvent as i32, direction as i32) {
                assert_eq!(plugin.component.activateBus(MediaTypes_::kEvent as i32, direction as i32, bus, 1), kResultOk, "activateBus(event, {direction}, {bus})");
            }
        }
        start(plugin);
        let mut buses: Option<(usize, GuardedBuses)> = None;
        let mut at = 0;
        let mut block_index = 0;
        while at < frames {
            let len = (frames - at).min(BLOCK);
            // A fresh layout whenever the block length changes, so the
            // samples always end on the guard page.
            if buses.as_ref().is_none_or(|(l, _)| *l != len) {
                buses = Some((len, GuardedBuses::new(layout, len)));
            }
            let block = &mut buses.as_mut().unwrap().1;
            for (signal, (stereo, _)) in inputs.iter().zip(&mut block.in_data) {
                if let Some(stereo) = stereo {
                    for ch in 0..2 {
                        stereo.channels[ch].as_mut_slice().copy_from_slice(&signal[ch][at..at + len]);
                    }
                }
            }
            for stereo in block.out_data.iter_mut().filter_map(|(s, _)| s.as_mut()) {
                for ch in 0..2 {
                    stereo.channels[ch].as_mut_slice().fill(UNWRITTEN);
                }
            }
            for bus in block.outputs.as_mut_slice() {
                bus.silenceFlags = UNWRITTEN_FLAGS;
            }
            let param_changes = block_changes(changes, at, len);
            let param_ptr = param_changes.to_com_ptr::<IParameterChanges>().unwrap();
            let block_events: Vec<Event> = events
                .iter()
                .filter(|e| (at..at + len).contains(&(e.sampleOffset as usize)))
                .map(|e| Event { sampleOffset: e.sampleOffset - at as i32, ..*e })
                .collect();
            let in_list = EventList::new(block_events);
            let in_ptr = in_list.to_com_ptr::<IEventList>().unwrap();
            let out_list = EventList::new(Vec::new());
            let out_ptr = out_list.to_com_ptr::<IEventList>().unwrap();
            let mut data = ProcessData {
                processMode: ProcessModes_::kRealtime as i32,
                symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
                numSamples: len as i32,
                numInputs: layout.inputs.len() as i32,
                numOutputs: layout.outputs.len() as i32,
                inputs: block.inputs.as_ptr(),
                outputs: block.outputs.as_ptr(),
                inputParameterChanges: param_ptr.as_ptr(),
                outputParameterChanges: ptr::null_mut(),
                inputEvents: in_ptr.as_ptr(),
                outputEvents: out_ptr.as_ptr(),
                processContext: ptr::null_mut(),
            };
            assert_eq!(plugin.processor.process(&mut data), kResultOk, "process");
            silence_flags.push(block.outputs.as_slice().iter().map(|bus| bus.silenceFlags).collect());
            for (out, (stereo, _)) in outputs.iter_mut().zip(&block.out_data) {
                for ch in 0..2 {
                    match stereo {
                        Some(s) => out[ch][at..at + len].copy_from_slice(s.channels[ch].as_slice()),
                        None => out[ch][at..at + len].fill(UNWRITTEN),
                    }
                }
            }
            events_out.extend(out_list.events().into_iter().map(|e| Event { sampleOffset: e.sampleOffset + at as i32, ..e }));
            at += len;
            between(block_index);
            block_index += 1;
        }
        stop(plugin);
    }
    Vst3Run { outputs, events: events_out, silence_flags }
}

/// A note-on on event bus 0 at absolute frame `at`.
pub fn note_on(at: i32, channel: i16, pitch: i16, velocity: f32) -> Event {
    use vst3::Steinberg::Vst::{Event_::EventTypes_, NoteOnEvent};
    // SAFETY: Event is plain data; all-zero is a valid value of it.
    let mut event: Event = unsafe { std::mem::zeroed() };
    event.sampleOffset = at;
    event.r#type = EventTypes_::kNoteOnEvent as u16;
    event.__field0.noteOn = NoteOnEvent { channel, pitch, tuning: 0.0, velocity, length: 0, noteId: -1 };
    event
}

pub fn silence(frames: usize) -> [Vec<f32>; 2] {
    [vec![0.0; frames], vec![0.0; frames]]
}
