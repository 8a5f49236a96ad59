//! The COM object hosts create: component, audio processor and edit
//! controller at once (a single-component effect), plus MIDI mapping,
//! parameter units and process-context requirements. Each call is
//! translated to [`Instance`].

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use nice_plug::params::ParamFlags;
use vst3::Steinberg::Vst::{
    IAudioProcessor, IAudioProcessorTrait, IComponent, IComponentHandler, IComponentTrait, IEditController, IEditControllerTrait, IMidiMapping,
    IMidiMappingTrait, IProcessContextRequirements, IProcessContextRequirementsTrait, IProcessContextRequirements_::Flags_ as ContextFlags,
    IUnitInfo, IUnitInfoTrait, ParameterInfo, ParameterInfo_::ParameterFlags_, ProcessData, ProcessSetup, ProgramListID, ProgramListInfo,
    RestartFlags_, RoutingInfo, SpeakerArrangement, String128, SymbolicSampleSizes_, TChar, UnitID, UnitInfo, kInfiniteTail, kRootUnitId,
};
use vst3::Steinberg::{
    int16, kInvalidArgument, kNotImplemented, kResultFalse, kResultOk, kResultTrue, tresult, FIDString, FUnknown, IBStream, IPlugView,
    IPluginBaseTrait, TBool, TUID,
};
use vst3::{Class, ComPtr, ComRef};

use super::buses::{Buses, AUDIO, EVENT};
use super::instance::Instance;
use super::midi;
use super::strings::{copy_utf16, read_utf16};
use crate::format::ParamEntry;

pub(super) struct Component {
    instance: Arc<Instance>,
    /// The unit the host selected (IUnitInfo::selectUnit), for
    /// getSelectedUnit; the plugin itself has no use for it.
    selected_unit: AtomicI32,
}

impl Component {
    pub fn new(factory_context: Option<ComPtr<FUnknown>>) -> Self {
        Self { instance: Instance::new(factory_context), selected_unit: AtomicI32::new(kRootUnitId) }
    }

    fn entry(&self, id: u32) -> Option<&ParamEntry> {
        self.instance.table.by_hash(id)
    }
}

impl Class for Component {
    type Interfaces = (IComponent, IAudioProcessor, IEditController, IMidiMapping, IUnitInfo, IProcessContextRequirements);
}

/// `count` host values at `ptr`, or `None` for a null pointer with a count.
///
/// # Safety
/// `ptr` is null or points at `count` values.
unsafe fn host_slice<'a, T>(ptr: *const T, count: i32) -> Option<&'a [T]> {
    match usize::try_from(count).ok()? {
        0 => Some(&[]),
        // SAFETY: `count` values (caller).
        n if !ptr.is_null() => Some(unsafe { std::slice::from_raw_parts(ptr, n) }),
        _ => None,
    }
}

impl IPluginBaseTrait for Component {
    unsafe fn initialize(&self, context: *mut FUnknown) -> tresult {
        // SAFETY: the host's context, null or valid.
        unsafe { self.instance.initialize(context) }
    }

    unsafe fn terminate(&self) -> tresult {
        self.instance.terminate()
    }
}

impl IComponentTrait for Component {
    unsafe fn getControllerClassId(&self, _class_id: *mut TUID) -> tresult {
        // No separate controller class: this object is the controller.
        kNotImplemented
    }

    unsafe fn setIoMode(&self, _mode: i32) -> tresult {
        kResultOk
    }

    unsafe fn getBusCount(&self, media: i32, direction: i32) -> i32 {
        Buses::count(media, direction)
    }

    unsafe fn getBusInfo(&self, media: i32, direction: i32, index: i32, bus: *mut vst3::Steinberg::Vst::BusInfo) -> tresult {
        // SAFETY: null or the host's struct.
        match (self.instance.buses.info(media, direction, index), unsafe { bus.as_mut() }) {
            (Some(info), Some(bus)) => {
                *bus = info;
                kResultOk
            }
            _ => kInvalidArgument,
        }
    }

    /// The main input feeds the main output, and MIDI in goes to MIDI out.
    unsafe fn getRoutingInfo(&self, in_info: *mut RoutingInfo, out_info: *mut RoutingInfo) -> tresult {
        // SAFETY: null or the host's structs.
        let (Some(input), Some(output)) = (unsafe { in_info.as_ref() }, unsafe { out_info.as_mut() }) else { return kInvalidArgument };
        if input.busIndex != 0 || !(input.mediaType == AUDIO || input.mediaType == EVENT) {
            return kResultFalse;
        }
        *output = RoutingInfo { mediaType: input.mediaType, busIndex: 0, channel: input.channel };
        kResultOk
    }

    unsafe fn activateBus(&self, media: i32, direction: i32, index: i32, state: TBool) -> tresult {
        if self.instance.buses.activate(media, direction, index, state != 0) {
            kResultOk
        } else {
            kInvalidArgument
        }
    }

    unsafe fn setActive(&self, state: TBool) -> tresult {
        self.instance.pump();
        self.instance.set_active(state != 0)
    }

    unsafe fn setState(&self, state: *mut IBStream) -> tresult {
        self.instance.pump();
        // SAFETY: the host's stream, null or valid.
        let result = unsafe { self.instance.load_state(state) };
        if result == kResultOk {
            // The host re-reads the parameter values when told; told from
            // the next pump, not from inside its own setState call.
            self.instance.main.request_restart(RestartFlags_::kParamValuesChanged);
        }
        result
    }

    unsafe fn getState(&self, state: *mut IBStream) -> tresult {
        self.instance.pump();
        // SAFETY: the host's stream, null or valid.
        unsafe { self.instance.save_state(state) }
    }
}

impl IAudioProcessorTrait for Component {
    unsafe fn setBusArrangements(&self, inputs: *mut SpeakerArrangement, num_ins: i32, outputs: *mut SpeakerArrangement, num_outs: i32) -> tresult {
        // SAFETY: arrays of the counts given (the host's).
        let (Some(inputs), Some(outputs)) = (unsafe { host_slice(inputs, num_ins) }, unsafe { host_slice(outputs, num_outs) }) else {
            return kInvalidArgument;
        };
        // Only while inactive (the spec's "Setup Done" at the latest).
        if self.instance.is_active() {
            return kResultFalse;
        }
        if self.instance.buses.arrange(inputs, outputs) {
            kResultTrue
        } else {
            kResultFalse
        }
    }

    unsafe fn getBusArrangement(&self, direction: i32, index: i32, arrangement: *mut SpeakerArrangement) -> tresult {
        // SAFETY: null or the host's value.
        match (self.instance.buses.arrangement(direction, index), unsafe { arrangement.as_mut() }) {
            (Some(a), Some(out)) => {
                *out = a;
                kResultOk
            }
            _ => kInvalidArgument,
        }
    }

    unsafe fn canProcessSampleSize(&self, size: i32) -> tresult {
        if size == SymbolicSampleSizes_::kSample32 as i32 {
            kResultTrue
        } else {
            kResultFalse
        }
    }

    unsafe fn getLatencySamples(&self) -> u32 {
        self.instance.report_latency()
    }

    unsafe fn setupProcessing(&self, setup: *mut ProcessSetup) -> tresult {
        // SAFETY: null or the host's struct.
        let Some(setup) = (unsafe { setup.as_ref() }) else { return kInvalidArgument };
        if setup.symbolicSampleSize != SymbolicSampleSizes_::kSample32 as i32 {
            return kResultFalse;
        }
        if !(setup.sampleRate.is_finite() && setup.sampleRate > 0.0) || setup.maxSamplesPerBlock <= 0 {
            return kInvalidArgument;
        }
        self.instance.setup_processing(setup.sampleRate, setup.maxSamplesPerBlock as usize);
        kResultOk
    }

    /// May come on the audio thread: only a flag and a reset of the audio
    /// half (tails and delay lines), which neither allocates nor locks.
    unsafe fn setProcessing(&self, state: TBool) -> tresult {
        let on = state != 0;
        if on && !self.instance.processing.load(Ordering::Acquire) {
            self.instance.reset_audio();
        }
        self.instance.processing.store(on, Ordering::Release);
        kResultOk
    }

    unsafe fn process(&self, data: *mut ProcessData) -> tresult {
        // SAFETY: the host's process data, valid for this call.
        match unsafe { data.as_ref() } {
            Some(data) => unsafe { self.instance.process(data) },
            None => kInvalidArgument,
        }
    }

    /// Infinite: what follows the input depends on the session (reverb and
    /// delay inserts, edited at any time without a restart), and the
    /// sidechains and meters keep the session alive while the main input
    /// is silent, so a host must not stop processing.
    unsafe fn getTailSamples(&self) -> u32 {
        kInfiniteTail
    }
}

impl IEditControllerTrait for Component {
    /// The state came through IComponent::setState (same object).
    unsafe fn setComponentState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    /// The controller keeps no state of its own.
    unsafe fn setState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    /// The plugin's parameters, then the hidden MIDI controller
    /// parameters (see midi.rs).
    unsafe fn getParameterCount(&self) -> i32 {
        (self.instance.table.entries().len() + midi::NUM_CONTROLLER_PARAMS as usize) as i32
    }

    unsafe fn getParameterInfo(&self, index: i32, info: *mut ParameterInfo) -> tresult {
        // SAFETY: null or the host's struct.
        let (Ok(index), Some(info)) = (usize::try_from(index), unsafe { info.as_mut() }) else { return kInvalidArgument };
        // SAFETY: ParameterInfo is plain data; all-zero is a valid value of it.
        let mut out: ParameterInfo = unsafe { std::mem::zeroed() };
        let entries = self.instance.table.entries();
        match entries.get(index) {
            Some(entry) => {
                out.id = entry.hash;
                out.unitId = self.instance.units.of_entry(index);
                copy_utf16(&mut out.title, entry.name());
                copy_utf16(&mut out.shortTitle, entry.name());
                copy_utf16(&mut out.units, entry.unit());
                out.stepCount = entry.step_count().unwrap_or(0) as i32;
                out.defaultNormalizedValue = f64::from(entry.default_normalized());
                // As nice-plug flagged them: hidden parameters are read-only
                // for hosts (VST3 has no "hidden but automatable").
                let flags = entry.flags();
                out.flags = if flags.contains(ParamFlags::HIDDEN) {
                    ParameterFlags_::kIsReadOnly | ParameterFlags_::kIsHidden
                } else if entry.automatable() {
                    ParameterFlags_::kCanAutomate
                } else {
                    ParameterFlags_::kNoFlags
                };
                if flags.contains(ParamFlags::BYPASS) {
                    out.flags |= ParameterFlags_::kIsBypass;
                }
            }
            None => {
                let Some(id) = u32::try_from(index - entries.len()).ok().filter(|&i| i < midi::NUM_CONTROLLER_PARAMS) else { return kInvalidArgument };
                let id = midi::CONTROLLER_PARAMS_START + id;
                let Some((channel, controller)) = midi::param_controller(id) else { return kInvalidArgument };
                out.id = id;
                out.unitId = self.instance.units.midi();
                let title = midi::controller_title(channel, controller);
                copy_utf16(&mut out.title, &title);
                copy_utf16(&mut out.shortTitle, &title);
                out.defaultNormalizedValue = midi::controller_default(controller);
                // Hosts write them only through the MIDI mapping.
                out.flags = ParameterFlags_::kIsReadOnly | ParameterFlags_::kIsHidden;
            }
        }
        *info = out;
        kResultOk
    }

    unsafe fn getParamStringByValue(&self, id: u32, normalized: f64, string: *mut String128) -> tresult {
        // SAFETY: null or the host's String128.
        let Some(string) = (unsafe { string.as_mut() }) else { return kInvalidArgument };
        let text = match (self.entry(id), midi::param_controller(id)) {
            // Without the unit: VST3 shows `ParameterInfo::units` beside it.
            // SAFETY: the entry's pointer lives as long as the table.
            (Some(entry), _) => unsafe { entry.ptr.normalized_value_to_string(normalized.clamp(0.0, 1.0) as f32, false) },
            (None, Some(_)) => format!("{:.0}", normalized.clamp(0.0, 1.0) * 127.0),
            (None, None) => return kInvalidArgument,
        };
        copy_utf16(string, &text);
        kResultOk
    }

    unsafe fn getParamValueByString(&self, id: u32, string: *mut TChar, normalized: *mut f64) -> tresult {
        // SAFETY: the host's NUL-terminated string and out-pointer.
        let (Some(text), Some(out)) = (unsafe { read_utf16(string) }, unsafe { normalized.as_mut() }) else { return kInvalidArgument };
        let Some(entry) = self.entry(id) else { return kInvalidArgument };
        match entry.from_text(&text) {
            Some(value) => {
                *out = f64::from(value);
                kResultOk
            }
            None => kResultFalse,
        }
    }

    unsafe fn normalizedParamToPlain(&self, id: u32, normalized: f64) -> f64 {
        self.entry(id).map_or(normalized, |e| f64::from(e.plain(normalized as f32)))
    }

    unsafe fn plainParamToNormalized(&self, id: u32, plain: f64) -> f64 {
        self.entry(id).map_or(plain, |e| f64::from(e.normalized_of(plain as f32)))
    }

    /// The controller's view (see `Instance::shadow`): the last value the
    /// host, the editor, a state or the automation gave the parameter, even
    /// before the processor reaches it.
    unsafe fn getParamNormalized(&self, id: u32) -> f64 {
        self.instance.pump_without_timer();
        if let Some(index) = self.instance.table.index_of(id) {
            return self.instance.shadow(index);
        }
        match midi::param_controller(id) {
            Some(_) => f64::from(f32::from_bits(self.instance.controller_values[(id - midi::CONTROLLER_PARAMS_START) as usize].load(Ordering::Relaxed))),
            None => 0.0,
        }
    }

    /// Hosts mirror every value they send the processor here, for the
    /// controller's display: it goes to the controller's view, which
    /// getParamNormalized reads at once. Processor and controller share the
    /// parameters themselves, so while processing those are left to
    /// process, which applies the host's `IParameterChanges` at their
    /// sample (setting them here too would apply the value early, out of
    /// order with the automation); while not processing it applies now.
    unsafe fn setParamNormalized(&self, id: u32, value: f64) -> tresult {
        self.instance.pump_without_timer();
        if !value.is_finite() {
            return kInvalidArgument;
        }
        let processing = self.instance.processing.load(Ordering::Acquire);
        if let Some(index) = self.instance.table.index_of(id) {
            self.instance.set_shadow(index, value);
            if !processing {
                self.instance.table.entries()[index].set_normalized(value as f32);
            }
            return kResultOk;
        }
        match midi::param_controller(id) {
            Some(_) => {
                self.instance.controller_values[(id - midi::CONTROLLER_PARAMS_START) as usize].store((value as f32).to_bits(), Ordering::Relaxed);
                kResultOk
            }
            None => kInvalidArgument,
        }
    }

    unsafe fn setComponentHandler(&self, handler: *mut IComponentHandler) -> tresult {
        // SAFETY: null or the host's handler; we keep our own reference.
        let handler = unsafe { ComRef::from_raw(handler) }.map(|h| h.to_com_ptr());
        self.instance.main.set_handler(handler);
        // What waited for a handler goes to the new one.
        self.instance.pump();
        kResultOk
    }

    unsafe fn createView(&self, name: FIDString) -> *mut IPlugView {
        // SAFETY: null or the host's NUL-terminated string.
        let is_editor = !name.is_null() && unsafe { std::ffi::CStr::from_ptr(name) }.to_bytes() == b"editor";
        if is_editor {
            self.instance.create_view()
        } else {
            std::ptr::null_mut()
        }
    }
}

impl IMidiMappingTrait for Component {
    /// Every controller of event bus 0 maps to its own hidden parameter,
    /// turned back into MIDI in process (see midi.rs).
    unsafe fn getMidiControllerAssignment(&self, bus: i32, channel: i16, controller: i16, id: *mut u32) -> tresult {
        // SAFETY: null or the host's out-pointer.
        let Some(out) = (unsafe { id.as_mut() }) else { return kInvalidArgument };
        match midi::controller_param(channel, controller).filter(|_| bus == 0) {
            Some(param) => {
                *out = param;
                kResultTrue
            }
            None => kResultFalse,
        }
    }
}

/// Units group the parameter list (see units.rs); no program lists.
impl IUnitInfoTrait for Component {
    unsafe fn getUnitCount(&self) -> i32 {
        self.instance.units.count() as i32
    }

    unsafe fn getUnitInfo(&self, index: i32, info: *mut UnitInfo) -> tresult {
        // SAFETY: null or the host's struct.
        let (Ok(index), Some(out)) = (usize::try_from(index), unsafe { info.as_mut() }) else { return kInvalidArgument };
        match self.instance.units.info(index) {
            Some(unit) => {
                *out = unit;
                kResultOk
            }
            None => kInvalidArgument,
        }
    }

    unsafe fn getProgramListCount(&self) -> i32 {
        0
    }

    unsafe fn getProgramListInfo(&self, _index: i32, _info: *mut ProgramListInfo) -> tresult {
        kInvalidArgument
    }

    unsafe fn getProgramName(&self, _list: ProgramListID, _program: i32, _name: *mut String128) -> tresult {
        kInvalidArgument
    }

    unsafe fn getProgramInfo(&self, _list: ProgramListID, _program: i32, _attribute: vst3::Steinberg::Vst::CString, _value: *mut String128) -> tresult {
        kInvalidArgument
    }

    unsafe fn hasProgramPitchNames(&self, _list: ProgramListID, _program: i32) -> tresult {
        kResultFalse
    }

    unsafe fn getProgramPitchName(&self, _list: ProgramListID, _program: i32, _pitch: int16, _name: *mut String128) -> tresult {
        kResultFalse
    }

    unsafe fn getSelectedUnit(&self) -> UnitID {
        self.selected_unit.load(Ordering::Relaxed)
    }

    unsafe fn selectUnit(&self, id: UnitID) -> tresult {
        if !self.instance.units.exists(id) {
            return kInvalidArgument;
        }
        self.selected_unit.store(id, Ordering::Relaxed);
        kResultTrue
    }

    /// No unit belongs to a bus.
    unsafe fn getUnitByBus(&self, _media: i32, _direction: i32, _bus: i32, _channel: i32, _unit: *mut UnitID) -> tresult {
        kResultFalse
    }

    unsafe fn setUnitProgramData(&self, _list_or_unit: i32, _program: i32, _data: *mut IBStream) -> tresult {
        kNotImplemented
    }
}

impl IProcessContextRequirementsTrait for Component {
    /// What [`crate::format::Transport`] carries.
    unsafe fn getProcessContextRequirements(&self) -> u32 {
        ContextFlags::kNeedTempo
            | ContextFlags::kNeedTransportState
            | ContextFlags::kNeedProjectTimeMusic
            | ContextFlags::kNeedBarPositionMusic
            | ContextFlags::kNeedTimeSignature
            | ContextFlags::kNeedCycleMusic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_life_cycle_refuses_what_the_sdk_does_and_accepts_what_its_validator_needs() {
        let component = Component::new(None);
        let null = std::ptr::null_mut();
        // SAFETY: a null context (no run loop); no streams or buffers.
        unsafe {
            assert_eq!(component.setActive(1), kResultFalse, "before initialize");
            assert_eq!(component.initialize(null), kResultOk);
            assert_eq!(component.initialize(null), kResultFalse, "a second initialize");
            assert_eq!(component.setActive(0), kResultOk, "deactivating while inactive (the validator's teardown does)");
            assert_eq!(component.setActive(1), kResultOk, "activating without setupProcessing");
            assert_eq!(component.setActive(0), kResultOk);
            assert_eq!(component.terminate(), kResultOk);
            assert_eq!(component.terminate(), kResultFalse, "a second terminate");
            assert_eq!(component.setActive(1), kResultFalse, "after terminate");
            assert_eq!(component.initialize(null), kResultOk, "again after terminate");
            assert_eq!(component.setActive(1), kResultOk);
            assert_eq!(component.terminate(), kResultOk, "terminate deactivates a host's forgotten activation");
            assert!(!component.instance.is_active());
        }
    }

    #[test]
    fn the_controller_shows_the_hosts_value_at_once_and_the_processor_takes_it_from_process() {
        let component = Component::new(None);
        let entry = component.instance.table.by_id("bus1_gain").expect("bus1_gain");
        let (id, before) = (entry.hash, entry.normalized());
        // SAFETY: a null context; valid values only.
        unsafe {
            assert_eq!(component.initialize(std::ptr::null_mut()), kResultOk);
            assert_eq!(component.setActive(1), kResultOk);
            assert_eq!(component.setProcessing(1), kResultOk);
            assert_eq!(component.setParamNormalized(id, 0.25), kResultOk);
            assert_eq!(component.getParamNormalized(id), 0.25, "the controller's view");
            assert_eq!(entry.normalized(), before, "the processor's value waits for the host's IParameterChanges");
            assert_eq!(component.setProcessing(0), kResultOk);
            assert_eq!(component.setParamNormalized(id, 0.5), kResultOk);
            assert_eq!(component.getParamNormalized(id), 0.5);
            // The parameter rounds through its plain value (dB): 1e-4 is
            // far below one step of any host's fader and far above that.
            assert!((entry.normalized() - 0.5).abs() < 1e-4, "not processing: the processor's value too ({})", entry.normalized());
            assert_eq!(component.terminate(), kResultOk);
        }
    }
}
