//! The plugin factory hosts get from `GetPluginFactory`: one class, MAM
//! Session, an "Audio Module Class" effect in "Fx|Tools".

use std::ffi::c_void;
use std::sync::Mutex;

use vst3::Steinberg::Vst::ComponentFlags_;
use vst3::Steinberg::{
    kInvalidArgument, kNoInterface, kResultOk, tresult, FIDString, FUnknown, IPluginFactory2Trait, IPluginFactory3, IPluginFactory3Trait,
    IPluginFactoryTrait, PClassInfo, PClassInfo2, PClassInfoW, PClassInfo_::ClassCardinality_, PFactoryInfo, PFactoryInfo_::FactoryFlags_, TUID,
};
use vst3::{Class, ComPtr, ComRef, ComWrapper};

use super::component::Component;
use super::instance::lock;
use super::strings::{copy_c, copy_utf16};
use crate::format::{EMAIL, NAME, URL, VENDOR, VERSION, VST3_CLASS_ID};

const CATEGORY: &str = "Audio Module Class";
const SUBCATEGORIES: &str = "Fx|Tools";
/// The SDK version the class was written against (the interfaces used are
/// all from 3.7 or older).
const SDK_VERSION: &str = "VST 3.7.14";

pub(super) struct Factory {
    /// IPluginFactory3::setHostContext's context, handed to each instance
    /// (a place to find the host's run loop).
    host_context: Mutex<Option<ComPtr<FUnknown>>>,
}

impl Factory {
    pub fn new() -> Self {
        Self { host_context: Mutex::new(None) }
    }
}

impl Class for Factory {
    type Interfaces = (IPluginFactory3,);
}

/// The class id as `TUID` bytes: the same 16 bytes on every platform, in
/// the order hosts saved projects with.
fn class_id() -> [std::ffi::c_char; 16] {
    VST3_CLASS_ID.map(|b| b as std::ffi::c_char)
}

impl IPluginFactoryTrait for Factory {
    unsafe fn getFactoryInfo(&self, info: *mut PFactoryInfo) -> tresult {
        // SAFETY: null or the host's struct.
        let Some(info) = (unsafe { info.as_mut() }) else { return kInvalidArgument };
        // SAFETY: plain data; all-zero is a valid value of it.
        let mut out: PFactoryInfo = unsafe { std::mem::zeroed() };
        copy_c(&mut out.vendor, VENDOR);
        copy_c(&mut out.url, URL);
        copy_c(&mut out.email, EMAIL);
        out.flags = FactoryFlags_::kUnicode as i32;
        *info = out;
        kResultOk
    }

    unsafe fn countClasses(&self) -> i32 {
        1
    }

    unsafe fn getClassInfo(&self, index: i32, info: *mut PClassInfo) -> tresult {
        // SAFETY: null or the host's struct.
        let (0, Some(info)) = (index, unsafe { info.as_mut() }) else { return kInvalidArgument };
        // SAFETY: plain data; all-zero is a valid value of it.
        let mut out: PClassInfo = unsafe { std::mem::zeroed() };
        out.cid = class_id();
        out.cardinality = ClassCardinality_::kManyInstances as i32;
        copy_c(&mut out.category, CATEGORY);
        copy_c(&mut out.name, NAME);
        *info = out;
        kResultOk
    }

    unsafe fn createInstance(&self, cid: FIDString, iid: FIDString, obj: *mut *mut c_void) -> tresult {
        if cid.is_null() || iid.is_null() || obj.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: a TUID is 16 bytes.
        let requested = unsafe { std::slice::from_raw_parts(cid as *const u8, 16) };
        // SAFETY: the host's out-pointer.
        unsafe { *obj = std::ptr::null_mut() };
        if requested != VST3_CLASS_ID {
            return kNoInterface;
        }
        let component = ComWrapper::new(Component::new(lock(&self.host_context).clone()));
        let Some(unknown) = component.to_com_ptr::<FUnknown>() else { return kNoInterface };
        // The host names the interface it wants; queryInterface answers it,
        // writes `obj` and adds the reference the host will release.
        // SAFETY: a valid object and vtable; `iid` is the host's 16-byte id.
        unsafe {
            let ptr = unknown.as_ptr();
            ((*(*ptr).vtbl).queryInterface)(ptr, iid as *const TUID, obj)
        }
    }
}

impl IPluginFactory2Trait for Factory {
    unsafe fn getClassInfo2(&self, index: i32, info: *mut PClassInfo2) -> tresult {
        // SAFETY: null or the host's struct.
        let (0, Some(info)) = (index, unsafe { info.as_mut() }) else { return kInvalidArgument };
        // SAFETY: plain data; all-zero is a valid value of it.
        let mut out: PClassInfo2 = unsafe { std::mem::zeroed() };
        out.cid = class_id();
        out.cardinality = ClassCardinality_::kManyInstances as i32;
        copy_c(&mut out.category, CATEGORY);
        copy_c(&mut out.name, NAME);
        out.classFlags = ComponentFlags_::kSimpleModeSupported as u32;
        copy_c(&mut out.subCategories, SUBCATEGORIES);
        copy_c(&mut out.vendor, VENDOR);
        copy_c(&mut out.version, VERSION);
        copy_c(&mut out.sdkVersion, SDK_VERSION);
        *info = out;
        kResultOk
    }
}

impl IPluginFactory3Trait for Factory {
    unsafe fn getClassInfoUnicode(&self, index: i32, info: *mut PClassInfoW) -> tresult {
        // SAFETY: null or the host's struct.
        let (0, Some(info)) = (index, unsafe { info.as_mut() }) else { return kInvalidArgument };
        // SAFETY: plain data; all-zero is a valid value of it.
        let mut out: PClassInfoW = unsafe { std::mem::zeroed() };
        out.cid = class_id();
        out.cardinality = ClassCardinality_::kManyInstances as i32;
        copy_c(&mut out.category, CATEGORY);
        copy_utf16(&mut out.name, NAME);
        out.classFlags = ComponentFlags_::kSimpleModeSupported as u32;
        copy_c(&mut out.subCategories, SUBCATEGORIES);
        copy_utf16(&mut out.vendor, VENDOR);
        copy_utf16(&mut out.version, VERSION);
        copy_utf16(&mut out.sdkVersion, SDK_VERSION);
        *info = out;
        kResultOk
    }

    unsafe fn setHostContext(&self, context: *mut FUnknown) -> tresult {
        // SAFETY: null or the host's object; we keep our own reference.
        let context = unsafe { ComRef::from_raw(context) }.map(|c| c.to_com_ptr());
        let old = std::mem::replace(&mut *lock(&self.host_context), context);
        drop(old);
        kResultOk
    }
}
