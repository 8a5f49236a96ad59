//! The built VST3 bundle, loaded through the `vst3` crate's COM bindings:
//! buses, latency, and which inputs really arrive.

use std::ffi::c_void;
use std::ptr;

use vst3::Steinberg::Vst::{
    BusDirections_, BusInfo, IAudioProcessor, IAudioProcessorTrait, IComponent, IComponentTrait, MediaTypes_, ProcessData,
    ProcessModes_, ProcessSetup, SpeakerArr, SymbolicSampleSizes_, AudioBusBuffers, AudioBusBuffers__type0,
};
use vst3::Steinberg::{kResultOk, IPluginBaseTrait, IPluginFactory, IPluginFactoryTrait};
use vst3::{ComPtr, Interface};

const RATE: f64 = 48_000.0;
const BLOCK: usize = 512;
const CLASS_ID: [u8; 16] = *b"MAMSessionPlugin";

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Vst3 {
    // Drop order: COM objects, then the library.
    processor: ComPtr<IAudioProcessor>,
    component: ComPtr<IComponent>,
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

fn load() -> Vst3 {
    let bundle = mam_tests::bundle("vst3");
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
        let cid = vst3_uid(CLASS_ID);
        let result = factory.createInstance(cid.as_ptr() as *const _, IComponent::IID.as_ptr() as *const _, &mut obj);
        assert_eq!(result, kResultOk, "createInstance");
        let component = ComPtr::from_raw(obj as *mut IComponent).expect("a component");
        assert_eq!(component.initialize(ptr::null_mut()), kResultOk, "initialize");
        let processor = component.cast::<IAudioProcessor>().expect("IAudioProcessor");
        Vst3 { processor, component, _factory: factory, library }
    }
}

/// nice-plug stores class ids in the platform's COM byte order; on Linux the
/// factory expects the ids as declared.
fn vst3_uid(id: [u8; 16]) -> [u8; 16] {
    id
}

fn bus_names(plugin: &Vst3, direction: i32) -> Vec<(String, i32)> {
    // SAFETY: valid component; BusInfo is plain data the call fills in.
    unsafe {
        (0..plugin.component.getBusCount(MediaTypes_::kAudio as i32, direction))
            .map(|i| {
                let mut info: BusInfo = std::mem::zeroed();
                assert_eq!(plugin.component.getBusInfo(MediaTypes_::kAudio as i32, direction, i, &mut info), kResultOk);
                let len = info.name.iter().position(|&c| c == 0).unwrap_or(info.name.len());
                (String::from_utf16_lossy(&info.name[..len]), info.channelCount)
            })
            .collect()
    }
}

/// Activates with the sidechain bus enabled and runs main input and
/// Sidechain 1 through in `BLOCK`-frame blocks.
fn run(plugin: &Vst3, main: &[Vec<f32>; 2], side: &[Vec<f32>; 2]) -> [Vec<f32>; 2] {
    // SAFETY: the call sequence follows the VST3 processing life cycle; all
    // buffers outlive the process calls that point at them.
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
        while start < frames {
            let len = (frames - start).min(BLOCK);
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
            let mut data = ProcessData {
                processMode: ProcessModes_::kRealtime as i32,
                symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
                numSamples: len as i32,
                numInputs: 2,
                numOutputs: 1,
                inputs: in_buses.as_mut_ptr(),
                outputs: out_buses.as_mut_ptr(),
                inputParameterChanges: ptr::null_mut(),
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

fn silence(frames: usize) -> [Vec<f32>; 2] {
    [vec![0.0; frames], vec![0.0; frames]]
}

fn no_keys(frames: usize) -> [Vec<f32>; 2] {
    silence(frames)
}

#[test]
fn vst3_buses_latency_and_sidechain_delivery() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let plugin = load();
    // One sidechain in VST3 (nice-plug 0.4.2 drops the second; see plugin/src/lib.rs).
    assert_eq!(bus_names(&plugin, BusDirections_::kInput as i32), vec![("Input".to_string(), 2), ("Sidechain 1".to_string(), 2)]);
    assert_eq!(bus_names(&plugin, BusDirections_::kOutput as i32), vec![("Output".to_string(), 2)]);

    let frames = 16_384;
    let out = run(&plugin, &silence(frames), &no_keys(frames));
    assert!(out.iter().flatten().all(|&s| s == 0.0), "silence in, silence out");

    // SAFETY: valid processor, active state just left.
    let reported = unsafe { plugin.processor.getLatencySamples() } as usize;
    assert_eq!(reported, 2048 + 240);
    let mut impulse = silence(frames);
    impulse[0][100] = 0.25;
    impulse[1][100] = 0.25;
    let out = run(&plugin, &impulse, &no_keys(frames));
    let loudest = out[0].iter().enumerate().fold((0, 0.0f32), |m, (i, s)| if s.abs() > m.1 { (i, s.abs()) } else { m });
    assert_eq!(loudest.0, 100 + reported, "measured latency");

    // Sidechain 1 alone: audible through the default session's key bus.
    let tone: Vec<f32> = (0..frames).map(|i| 0.25 * (i as f32 * 0.05).sin()).collect();
    let out = run(&plugin, &silence(frames), &[tone.clone(), tone]);
    let peak = out[0][4096..].iter().fold(0.0f32, |a, s| a.max(s.abs()));
    assert!(peak > 0.2, "Sidechain 1 arrives in VST3 (peak {peak})");
}
