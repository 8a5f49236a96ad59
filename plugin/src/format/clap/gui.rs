//! The gui extension (an X11 window embedded in the host's) and the editor's
//! `GuiContext` ([`GuiBridge`]).
//!
//! The editor (nice-plug-egui on baseview) runs in its own window thread,
//! so the host's main thread only creates, parents, sizes, shows and
//! destroys it; the window thread asks for the main thread (through
//! `request_callback`) only to pass a resize or a close on to the host.
//!
//! Re-entrancy: while [`on_main_thread`] passes the window's resize on, the
//! host may call back into the gui extension (typically `set_size` from
//! inside `request_resize`). The window is only borrowed shared then, so
//! every call a host may make from there (sizes, scale, hints, show, hide,
//! re-parenting) needs no more than a shared borrow: what they change lives
//! in `Cell`s. Only `create`, `destroy` and the first `set_parent` take the
//! window exclusively, and none of them calls into the host meanwhile.

use std::cell::Cell;
use std::error::Error;
use std::ffi::c_ulong;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clack_extensions::gui::{AspectRatioStrategy, GuiApiType, GuiConfiguration, GuiResizeHints, GuiSize, HostGui, PluginGuiImpl, Window};
use clack_extensions::params::HostParams;
use clack_plugin::prelude::*;
use nice_plug::context::gui::GuiContextInner;
use nice_plug::context::PluginApi;
use nice_plug::editor::dpi::{NativeSize, Size};
use nice_plug::editor::{Editor, EditorHandle, HostCallbacks, HostMainThreadCaller, HostMethods, ParentWindowHandle, SpawnedEditor};
use nice_plug::params::internals::ParamPtr;
use nice_plug::params::Param;
use nice_plug::plugin::PluginState;

use super::params::{clap_value, GuiParamEvent};
use super::ClapMain;
use crate::editor::MamEditor;
use crate::format::ParamTable;
use crate::MamParams;

type MamEguiEditor = nice_plug_egui::EguiEditor<MamEditor>;
type MamSpawned = SpawnedEditor<<MamEguiEditor as Editor>::Handle>;

/// The one window API: X11, embedded (CLAP's `x11`, not floating). Other
/// platforms' APIs are not offered (the editor is built and tested on X11).
fn supported(config: &GuiConfiguration) -> bool {
    cfg!(all(target_family = "unix", not(target_os = "macos"))) && config.api_type == GuiApiType::X11 && !config.is_floating
}

/// An editor the host created, and its window once the host gave a parent.
pub struct GuiWindow {
    /// Declared first: dropped (window thread joined) before the editor.
    spawned: Option<MamSpawned>,
    editor: MamEguiEditor,
    /// The host's scale, given to the window as its fallback.
    scale: Cell<Option<f64>>,
    /// A size the host set before the window existed.
    pending_size: Cell<Option<GuiSize>>,
}

/// Returned if the window is taken exclusively. That happens only while the
/// plugin creates, destroys or first parents it, never across a call into
/// the host, so no host should meet it: it makes a misbehaving host's call
/// fail instead of panicking across the C ABI.
const BUSY: PluginError = PluginError::Message("the GUI is being created or destroyed");

impl PluginGuiImpl for ClapMain<'_> {
    fn is_api_supported(&self, configuration: GuiConfiguration) -> bool {
        supported(&configuration)
    }

    fn get_preferred_api(&self) -> Option<GuiConfiguration<'_>> {
        let config = GuiConfiguration { api_type: GuiApiType::X11, is_floating: false };
        supported(&config).then_some(config)
    }

    fn create(&self, configuration: GuiConfiguration) -> Result<(), PluginError> {
        if !supported(&configuration) {
            return Err(PluginError::Message("only an embedded X11 window is supported"));
        }
        // Borrowed: we are inside our own call into the host, so a window exists.
        let mut gui = self.gui.try_borrow_mut().map_err(|_| PluginError::Message("the GUI was already created"))?;
        if gui.is_some() {
            return Err(PluginError::Message("the GUI was already created"));
        }
        let editor = self.session.borrow().editor().ok_or(PluginError::Message("the editor could not be created"))?;
        *gui = Some(GuiWindow { spawned: None, editor, scale: Cell::new(None), pending_size: Cell::new(None) });
        Ok(())
    }

    fn destroy(&self) {
        match self.gui.try_borrow_mut() {
            Ok(mut gui) => *gui = None,
            // Called from inside our own call into the host (`gui.closed`
            // while the window is borrowed): done when that call returns.
            Err(_) => self.gui_destroy_pending.set(true),
        }
    }

    fn set_scale(&self, scale: f64) -> Result<(), PluginError> {
        let gui = self.gui.try_borrow().map_err(|_| BUSY)?;
        let gui = gui.as_ref().ok_or(PluginError::Message("no GUI"))?;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(PluginError::Message("invalid scale"));
        }
        gui.scale.set(Some(scale));
        if let Some(spawned) = &gui.spawned {
            spawned.handle.set_fallback_scale_factor(scale, &spawned.window)?;
        }
        Ok(())
    }

    /// Physical pixels on X11, as CLAP asks.
    fn get_size(&self) -> Option<GuiSize> {
        let gui = self.gui.try_borrow().ok()?;
        let gui = gui.as_ref()?;
        let size = gui.editor.size();
        Some(GuiSize { width: size.width, height: size.height })
    }

    fn can_resize(&self) -> bool {
        self.gui.try_borrow().is_ok_and(|gui| gui.as_ref().is_some_and(|gui| gui.editor.resize_hint().can_resize))
    }

    fn get_resize_hints(&self) -> Option<GuiResizeHints> {
        let gui = self.gui.try_borrow().ok()?;
        let hint = gui.as_ref()?.editor.resize_hint();
        hint.can_resize.then_some(GuiResizeHints {
            can_resize_horizontally: hint.can_resize_horizontally,
            can_resize_vertically: hint.can_resize_vertically,
            strategy: if hint.preserve_aspect_ratio && hint.aspect_ratio_width > 0 && hint.aspect_ratio_height > 0 {
                AspectRatioStrategy::Preserve { width: hint.aspect_ratio_width, height: hint.aspect_ratio_height }
            } else {
                AspectRatioStrategy::Disregard
            },
        })
    }

    /// The nearest size the editor accepts (its resize hints' limits).
    fn adjust_size(&self, size: GuiSize) -> Option<GuiSize> {
        let gui = self.gui.try_borrow().ok()?;
        let gui = gui.as_ref()?;
        let wanted = NativeSize::new(size.width, size.height);
        let adjusted = match &gui.spawned {
            Some(spawned) => spawned.handle.adjust_size(wanted, &spawned.window)?,
            None => gui.editor.resize_hint().adjust_size(wanted, gui.editor.size(), gui.scale.get().unwrap_or(1.0)),
        };
        Some(GuiSize { width: adjusted.width, height: adjusted.height })
    }

    /// Also called by hosts from inside `request_resize` (see the module
    /// docs): a shared borrow, and the window resized at once (baseview's
    /// window thread does not wait for this thread meanwhile).
    fn set_size(&self, size: GuiSize) -> Result<(), PluginError> {
        let gui = self.gui.try_borrow().map_err(|_| BUSY)?;
        let gui = gui.as_ref().ok_or(PluginError::Message("no GUI"))?;
        if !gui.editor.resize_hint().can_resize {
            return Err(PluginError::Message("the editor is not resizable"));
        }
        match &gui.spawned {
            Some(spawned) => spawned.handle.set_size(NativeSize::new(size.width, size.height), &spawned.window)?,
            None => gui.pending_size.set(Some(size)),
        }
        Ok(())
    }

    /// Opens the editor inside `window` (re-parents it if already open).
    fn set_parent(&self, window: Window) -> Result<(), PluginError> {
        let parent: c_ulong = window.as_x11_handle().ok_or(PluginError::Message("not an X11 window"))?;
        let parent = ParentWindowHandle::XlibWindow(parent);
        // Re-parenting an open window needs only a shared borrow.
        {
            let gui = self.gui.try_borrow().map_err(|_| BUSY)?;
            let gui = gui.as_ref().ok_or(PluginError::Message("no GUI"))?;
            if let Some(spawned) = &gui.spawned {
                spawned.handle.set_parent(parent, &spawned.window)?;
                return Ok(());
            }
        }
        // No window yet, so no call of ours into the host is under way.
        let mut gui = self.gui.try_borrow_mut().map_err(|_| BUSY)?;
        let gui = gui.as_mut().ok_or(PluginError::Message("no GUI"))?;
        let context = nice_plug::context::gui::GuiContext::new(self.bridge.clone());
        let spawned = gui.editor.spawn(Some(parent), false, gui.scale.get(), context, self.host_methods()).map_err(|e| PluginError::Error(e.to_string().into()))?;
        if let Some(size) = gui.pending_size.take() {
            spawned.handle.set_size(NativeSize::new(size.width, size.height), &spawned.window)?;
        }
        gui.spawned = Some(spawned);
        Ok(())
    }

    /// Embedded windows only: there is no floating window to keep above.
    fn set_transient(&self, _window: Window) -> Result<(), PluginError> {
        Err(PluginError::Message("the GUI is embedded, not floating"))
    }

    fn show(&self) -> Result<(), PluginError> {
        let gui = self.gui.try_borrow().map_err(|_| BUSY)?;
        let spawned = gui.as_ref().and_then(|g| g.spawned.as_ref()).ok_or(PluginError::Message("the GUI has no parent window yet"))?;
        spawned.handle.show(&spawned.window)?;
        Ok(())
    }

    fn hide(&self) -> Result<(), PluginError> {
        let gui = self.gui.try_borrow().map_err(|_| BUSY)?;
        let spawned = gui.as_ref().and_then(|g| g.spawned.as_ref()).ok_or(PluginError::Message("the GUI has no parent window yet"))?;
        spawned.handle.hide(&spawned.window)?;
        Ok(())
    }
}

impl ClapMain<'_> {
    /// What the editor window may ask of the host: a resize (the editor's
    /// own resize handle), a close, and the main thread to pass them on.
    fn host_methods(&self) -> Option<HostMethods> {
        // SAFETY: these are owned by the editor window, which is dropped
        // (its thread joined) before this instance (`ClapMain::gui`).
        let host: HostSharedHandle<'static> = unsafe { self.host.shared().with_arbitrary_lifetime() };
        Some(HostMethods {
            callbacks: Box::new(WindowCallbacks { host, host_gui: self.host_gui }),
            main_thread_caller: Box::new(MainThreadCaller { host }),
        })
    }
}

/// The host's main-thread callback for the editor window: it passes on the
/// window's resize or close (which call into the host, which may call back:
/// the window is only borrowed shared meanwhile, see the module docs).
pub fn on_main_thread(main: &ClapMain) {
    // A host calling `on_main_thread` again from inside the window's call
    // into it would re-enter baseview's callback handler (a `RefCell`
    // there): skipped, the outer call goes on with the window's messages.
    if !main.window_callback_running.replace(true) {
        if let Ok(gui) = main.gui.try_borrow() {
            if let Some(spawned) = gui.as_ref().and_then(|g| g.spawned.as_ref()) {
                spawned.handle.host_main_thread_callback(&spawned.window);
            }
        }
        main.window_callback_running.set(false);
    }
    if main.gui_destroy_pending.get() {
        // Not if a host re-entered `on_main_thread` from inside the call
        // above (the outer call then destroys it).
        if let Ok(mut gui) = main.gui.try_borrow_mut() {
            main.gui_destroy_pending.set(false);
            *gui = None;
        }
    }
}

/// Runs on the main thread (from [`on_main_thread`]).
struct WindowCallbacks {
    host: HostSharedHandle<'static>,
    host_gui: Option<HostGui>,
}

#[derive(Debug)]
struct ResizeRefused;

impl std::fmt::Display for ResizeRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the host refused the editor's size")
    }
}

impl Error for ResizeRefused {}

impl HostCallbacks for WindowCallbacks {
    fn request_resize(&mut self, new_size: Size, scale_factor: f64) -> Result<(), Box<dyn Error>> {
        let size = NativeSize::<u32>::from_size(new_size, scale_factor);
        match &self.host_gui {
            Some(host_gui) if host_gui.request_resize(&self.host, size.width, size.height).is_ok() => Ok(()),
            _ => Err(Box::new(ResizeRefused)),
        }
    }

    /// The window is gone for a reason of its own: the host must destroy the GUI.
    fn destroyed(&mut self) {
        if let Some(host_gui) = &self.host_gui {
            host_gui.closed(&self.host, true);
        }
    }
}

/// Runs on the window thread: asks the host for a main-thread callback.
struct MainThreadCaller {
    host: HostSharedHandle<'static>,
}

impl HostMainThreadCaller for MainThreadCaller {
    fn call_main_thread(&mut self) {
        self.host.request_callback();
    }
}

/// The editor's `GuiContext`: parameter gestures to the host, the state,
/// restart. Called on the editor's window thread.
pub struct GuiBridge {
    params: Arc<MamParams>,
    table: Arc<ParamTable>,
    host: HostSharedHandle<'static>,
    host_params: Option<HostParams>,
    /// The gestures' queue; the lock is only ever taken by editor threads
    /// (the reading end needs none).
    queue: Mutex<rtrb::Producer<GuiParamEvent>>,
    /// A state the editor asked to load, for the main thread.
    pending_state: Mutex<Option<Vec<u8>>>,
    /// The editor ended a gesture on `session_edit` (a session edit): the
    /// main thread tells the host its state is dirty.
    session_edited: AtomicBool,
}

impl GuiBridge {
    pub fn new(params: Arc<MamParams>, table: Arc<ParamTable>, host: HostSharedHandle<'static>, host_params: Option<HostParams>, queue: rtrb::Producer<GuiParamEvent>) -> Self {
        Self { params, table, host, host_params, queue: Mutex::new(queue), pending_state: Mutex::new(None), session_edited: AtomicBool::new(false) }
    }

    /// Whether the editor edited the session since the last call. Main thread.
    pub fn take_session_edited(&self) -> bool {
        self.session_edited.swap(false, Ordering::AcqRel)
    }

    /// The state the editor asked to load, if any. Main thread.
    pub fn take_pending_state(&self) -> Option<Vec<u8>> {
        self.pending_state.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn hash_of(&self, param: ParamPtr) -> Option<u32> {
        self.table.entries().iter().find(|e| e.ptr == param).map(|e| e.hash)
    }

    /// Queues `event` for the host and asks it to read the queue (it does in
    /// `process`, or in a `flush` when not processing).
    fn send(&self, event: GuiParamEvent) {
        // Full (a host that neither processes nor flushes): dropped, see
        // `GUI_QUEUE_CAPACITY`.
        let _ = self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(event);
        if let Some(host_params) = &self.host_params {
            host_params.request_flush(&self.host);
        }
    }
}

impl GuiContextInner for GuiBridge {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }

    unsafe fn raw_begin_set_parameter(&self, param: ParamPtr) {
        if let Some(hash) = self.hash_of(param) {
            self.send(GuiParamEvent::Begin(hash));
        }
    }

    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        let Some(entry) = self.table.entries().iter().find(|e| e.ptr == param) else { return };
        entry.set_normalized(normalized);
        self.send(GuiParamEvent::Value(entry.hash, clap_value(entry)));
    }

    unsafe fn raw_end_set_parameter(&self, param: ParamPtr) {
        if let Some(hash) = self.hash_of(param) {
            self.send(GuiParamEvent::End(hash));
        }
        // `clap_host_state.mark_dirty` is [main-thread]; this is the
        // editor's window thread, so the main thread calls it (in
        // `on_main_thread`).
        if is_session_edit(&self.params, param) {
            self.session_edited.store(true, Ordering::Release);
            self.host.request_callback();
        }
    }

    fn get_state(&self) -> PluginState {
        serde_json::from_slice(&crate::format::save_state(&self.params, &self.table)).expect("our own state parses")
    }

    /// Loaded on the main thread (never inside `process`), which then tells
    /// the host the values changed.
    fn set_state(&self, state: PluginState) {
        match serde_json::to_vec(&state) {
            Ok(bytes) => {
                *self.pending_state.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
                self.host.request_callback();
            }
            Err(e) => crate::log!("MAM Session: the editor's state does not serialize: {e}"),
        }
    }

    fn request_restart(&self) {
        self.host.request_restart();
    }
}

/// Whether `param` is `session_edit`, the parameter the editor flips after
/// every session edit (see `MamParams::session_edit`).
fn is_session_edit(params: &MamParams, param: ParamPtr) -> bool {
    param == params.session_edit.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_session_edit_parameter_marks_the_state_dirty() {
        let params = Arc::new(MamParams::new(crate::DEFAULT_SESSION_JSON.to_string()));
        let table = ParamTable::new(params.clone());
        let edit = table.by_id("session_edit").expect("session_edit");
        assert!(is_session_edit(&params, edit.ptr));
        let others = table.entries().iter().filter(|e| e.id != "session_edit");
        assert!(others.clone().count() > 80);
        assert!(others.map(|e| e.ptr).all(|ptr| !is_session_edit(&params, ptr)));
    }
}
