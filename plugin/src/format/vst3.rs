//! The VST3 format layer (docs/ARCHITECTURE.md §7.1), on the `vst3` crate's
//! COM bindings, written to the VST3 interface documentation.
//!
//! - [`factory`]: the module's one class, MAM Session ("Fx|Tools");
//! - [`component`]: the object hosts create, component, processor and edit
//!   controller at once, each call translated to [`instance::Instance`];
//! - [`buses`]: main in/out, Sidechain 1–2, stems Bus 1–8, MIDI in/out;
//! - [`process`]: the audio thread's translation of `ProcessData`;
//! - [`midi`]: notes, and MIDI controllers as hidden parameters;
//! - [`units`]: parameter groups as IUnitInfo units;
//! - [`main_thread`]: host calls the spec wants on the UI thread;
//! - [`view`]: the editor in the host's window.
//!
//! Only Linux's module entry points are exported (the editor embeds in X11);
//! the rest builds on any platform.

// The bindings' enum constants are `c_uint` on Linux and `c_int` on
// Windows: the casts that look redundant here are not everywhere.
#![allow(clippy::unnecessary_cast)]

mod buses;
mod component;
mod factory;
mod instance;
mod main_thread;
mod midi;
mod process;
mod strings;
mod units;
mod view;

use std::ffi::c_void;

use vst3::ComWrapper;
use vst3::Steinberg::IPluginFactory;

/// The module's factory. Each call makes a new one; the host releases it.
#[no_mangle]
pub extern "system" fn GetPluginFactory() -> *mut IPluginFactory {
    ComWrapper::new(factory::Factory::new()).to_com_ptr::<IPluginFactory>().map_or(std::ptr::null_mut(), |f| f.into_raw())
}

/// Linux hosts call this once after loading the module, before anything
/// else; there is nothing to set up.
#[cfg(target_os = "linux")]
#[no_mangle]
pub extern "C" fn ModuleEntry(_library: *mut c_void) -> bool {
    true
}

/// Linux hosts call this once before unloading the module. Every instance
/// joins its own threads when the host releases it, so nothing is left.
#[cfg(target_os = "linux")]
#[no_mangle]
pub extern "C" fn ModuleExit() -> bool {
    true
}
