//! A minimal VST3 host around the `vst3` crate's COM bindings that loads the
//! built bundle and runs audio, parameter changes and state through it.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;

use vst3::Steinberg::Vst::{
    AudioBusBuffers, AudioBusBuffers__type0, BusDirections_, BusInfo, IAudioProcessor, IAudioProcessorTrait, IComponent, IComponentTrait,
    IEditController, IEditControllerTrait, IParamValueQueue, IParamValueQueueTrait, IParameterChanges, IParameterChangesTrait, MediaTypes_,
    ParameterInfo, ProcessData, ProcessModes_, ProcessSetup, SpeakerArr, SymbolicSampleSizes_,
};
use vst3::Steinberg::{kResultFalse, kResultOk, tresult, IBStream, IBStreamTrait, IPluginBaseTrait, IPluginFactory, IPluginFactoryTrait};
use vst3::{Class, ComPtr, ComWrapper, Interface};

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
    _factory: ComPtr<IPluginFactory>,
    library: libloading::Library,
}

impl Drop for Vst3 {
    fn drop(&mut self) {
        // SAFETY: the plugin is inactive or active as set by the test; these
        // calls are valid in either state and end the component's life.
        unsafe {
            self.processor.setProcessing(0);
            self.component.setActive(0);
            self.component.terminate();
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
        assert_eq!(component.initialize(ptr::null_mut()), kResultOk, "initialize");
        let processor = component.cast::<IAudioProcessor>().expect("IAudioProcessor");
        // nice-plug's component is its own edit controller (single-component effect).
        let controller = component.cast::<IEditController>().expect("IEditController");
        Vst3 { processor, controller, component, _factory: factory, library }
    }
}

pub fn bus_names(plugin: &Vst3, direction: i32) -> Vec<(String, i32)> {
    // SAFETY: valid component; BusInfo is plain data the call fills in.
    unsafe {
        (0..plugin.component.getBusCount(MediaTypes_::kAudio as i32, direction))
            .map(|i| {
                let mut info: BusInfo = std::mem::zeroed();
                assert_eq!(plugin.component.getBusInfo(MediaTypes_::kAudio as i32, direction, i, &mut info), kResultOk);
                (utf16(&info.name), info.channelCount)
            })
            .collect()
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
}

/// Activates with the sidechain bus enabled and runs main input and
/// Sidechain 1 through in `BLOCK`-frame blocks.
pub fn run(plugin: &Vst3, main: &[Vec<f32>; 2], side: &[Vec<f32>; 2], changes: &[Change]) -> [Vec<f32>; 2] {
    run_sliced(plugin, main, side, changes, &mut |_| BLOCK)
}

/// [`run`] with the host's block sizes chosen by `next_block(block_index)`.
pub fn run_sliced(plugin: &Vst3, main: &[Vec<f32>; 2], side: &[Vec<f32>; 2], changes: &[Change], next_block: &mut dyn FnMut(usize) -> usize) -> [Vec<f32>; 2] {
    // SAFETY: the call sequence follows the VST3 processing life cycle; all
    // buffers and COM objects outlive the process calls that point at them.
    unsafe {
        let mut inputs = [SpeakerArr::kStereo, SpeakerArr::kStereo];
        let mut outputs = [SpeakerArr::kStereo];
        assert_eq!(plugin.processor.setBusArrangements(inputs.as_mut_ptr(), 2, outputs.as_mut_ptr(), 1), kResultOk, "bus arrangement");
        assert_eq!(plugin.component.activateBus(MediaTypes_::kAudio as i32, BusDirections_::kInput as i32, 1, 1), kResultOk, "sidechain bus");
        let mut setup = ProcessSetup {
            processMode: ProcessModes_::kRealtime as i32,
            symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
            maxSamplesPerBlock: BLOCK as i32,
            sampleRate: RATE,
        };
        assert_eq!(plugin.processor.setupProcessing(&mut setup), kResultOk);
        assert_eq!(plugin.component.setActive(1), kResultOk);
        plugin.processor.setProcessing(1);
        let frames = main[0].len();
        let mut out = [vec![0.0f32; frames], vec![0.0f32; frames]];
        let mut start = 0;
        let mut block_index = 0;
        while start < frames {
            let len = (frames - start).min(next_block(block_index).clamp(1, BLOCK));
            block_index += 1;
            let mut main_block = [main[0][start..start + len].to_vec(), main[1][start..start + len].to_vec()];
            let mut side_block: Vec<Vec<f32>> = side.iter().map(|c| c[start..start + len].to_vec()).collect();
            let mut out_block = [vec![0.0f32; len], vec![0.0f32; len]];
            let mut main_ptrs = [main_block[0].as_mut_ptr(), main_block[1].as_mut_ptr()];
            let mut side_ptrs: Vec<*mut f32> = side_block.iter_mut().map(|c| c.as_mut_ptr()).collect();
            let mut out_ptrs = [out_block[0].as_mut_ptr(), out_block[1].as_mut_ptr()];
            let bus = |ptrs: &mut [*mut f32]| AudioBusBuffers {
                numChannels: ptrs.len() as i32,
                silenceFlags: 0,
                __field0: AudioBusBuffers__type0 { channelBuffers32: ptrs.as_mut_ptr() },
            };
            let mut in_buses = [bus(&mut main_ptrs), bus(&mut side_ptrs)];
            let mut out_buses = [bus(&mut out_ptrs)];
            let mut queues: Vec<ComWrapper<ParamQueue>> = Vec::new();
            for &(at, id, value) in changes.iter().filter(|(at, _, _)| (start..start + len).contains(at)) {
                let point = ((at - start) as i32, value);
                match queues.iter().position(|q| q.id == id) {
                    Some(_) => panic!("one change per parameter and block in these tests"),
                    None => queues.push(ComWrapper::new(ParamQueue { id, points: vec![point] })),
                }
            }
            let param_changes = ComWrapper::new(ParamChanges { queues });
            let param_ptr = param_changes.to_com_ptr::<IParameterChanges>().unwrap();
            let mut data = ProcessData {
                processMode: ProcessModes_::kRealtime as i32,
                symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
                numSamples: len as i32,
                numInputs: 2,
                numOutputs: 1,
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
                out[ch][start..start + len].copy_from_slice(&out_block[ch]);
            }
            start += len;
        }
        plugin.processor.setProcessing(0);
        plugin.component.setActive(0);
        out
    }
}

pub fn silence(frames: usize) -> [Vec<f32>; 2] {
    [vec![0.0; frames], vec![0.0; frames]]
}
