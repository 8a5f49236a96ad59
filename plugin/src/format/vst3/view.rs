//! The editor in a VST3 host: an `IPlugView` embedding nice-plug-egui's
//! window in the host's X11 window, and the GUI context the editor moves
//! host parameters through.

use std::error::Error;
use std::ffi::{c_ulong, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, Weak};

use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::context::PluginApi;
use nice_plug::editor::dpi::{NativeSize, Size};
use nice_plug::editor::{Editor, EditorHandle, HostCallbacks, HostMainThreadCaller, HostMethods, ParentWindowHandle, SpawnedEditor};
use nice_plug::params::internals::ParamPtr;
use nice_plug::plugin::PluginState;
use nice_plug_egui::EguiEditor;
use vst3::Steinberg::Linux::IRunLoop;
use vst3::Steinberg::Vst::RestartFlags_;
use vst3::Steinberg::{
    char16, int16, kInvalidArgument, kPlatformTypeX11EmbedWindowID, kResultFalse, kResultOk, tresult, FIDString, IPlugFrame, IPlugFrameTrait, IPlugView,
    IPlugViewContentScaleSupport, IPlugViewContentScaleSupportTrait, IPlugViewTrait, TBool, ViewRect,
};
use vst3::{Class, ComPtr, ComRef, ComWrapper};

use super::instance::{lock, Instance};
use super::main_thread::GuiEdit;
use crate::editor::MamEditor;
use crate::log;

type Model = EguiEditor<MamEditor>;
type Window = SpawnedEditor<<Model as Editor>::Handle>;

/// A value used only on the host's UI thread.
struct UiThreadOnly<T>(T);

// SAFETY: the editor window is created in `attached`, used in onSize,
// checkSizeConstraint, setContentScaleFactor and the pump, and dropped in
// `removed` or when its view or instance goes — all calls the spec makes on
// the UI thread. The mutex around it only orders those calls.
unsafe impl<T> Send for UiThreadOnly<T> {}

/// The view the window is attached to, for `IPlugFrame::resizeView`. Not a
/// reference count (the view owns the instance, not the other way round);
/// cleared when the view detaches or goes.
struct ViewPtr(*mut IPlugView);

// SAFETY: only read on the UI thread (the pump), like the window.
unsafe impl Send for ViewPtr {}

struct Slot {
    /// nice-plug-egui's editor model, made with the first view and kept: it
    /// holds the window size the next view opens at.
    model: Option<Model>,
    window: Option<UiThreadOnly<Window>>,
    frame: Option<ComPtr<IPlugFrame>>,
    /// The view that set `frame`.
    frame_owner: ViewPtr,
    view: ViewPtr,
    /// The host's content scale (setContentScaleFactor), for windows opened later.
    scale: Option<f32>,
    /// The size the host last gave the view (onSize), or the window's size
    /// when it opened: what a resize the host refuses goes back to.
    host_size: Option<NativeSize<u32>>,
}

/// The instance's editor: at most one window open at a time.
pub(super) struct EditorState {
    slot: Mutex<Slot>,
    /// The editor's window thread asked for a UI-thread callback (baseview
    /// relays the window's requests to the host, a resize for one, so).
    callback_requested: AtomicBool,
    /// A size the editor asked the host for: sent from the pump with the
    /// slot unlocked, since the host answers with onSize.
    pending_resize: Mutex<Option<NativeSize<u32>>>,
}

impl EditorState {
    pub fn new() -> Self {
        Self {
            slot: Mutex::new(Slot {
                model: None,
                window: None,
                frame: None,
                frame_owner: ViewPtr(std::ptr::null_mut()),
                view: ViewPtr(std::ptr::null_mut()),
                scale: None,
                host_size: None,
            }),
            callback_requested: AtomicBool::new(false),
            pending_resize: Mutex::new(None),
        }
    }
}

impl Instance {
    /// IEditController::createView("editor"): a new view, or null when the
    /// plugin has no editor.
    pub fn create_view(self: &Arc<Self>) -> *mut IPlugView {
        let needs_model = lock(&self.editor.slot).model.is_none();
        if needs_model {
            let model = lock(&self.session).editor();
            let mut slot = lock(&self.editor.slot);
            if slot.model.is_none() {
                slot.model = model;
            }
        }
        if lock(&self.editor.slot).model.is_none() {
            return std::ptr::null_mut();
        }
        let view = ComWrapper::new(View { instance: self.clone(), this: AtomicPtr::new(std::ptr::null_mut()) });
        let Some(ptr) = view.to_com_ptr::<IPlugView>() else { return std::ptr::null_mut() };
        let ptr = ptr.into_raw();
        view.this.store(ptr, Ordering::Release);
        // The host owns the reference `into_raw` gave up; `view` drops its own.
        ptr
    }

    /// The window the editor asked for a UI-thread callback and any resize
    /// it then asked for. UI thread (the pump).
    ///
    /// The spec has the host resize the view (onSize) in answer to
    /// `IPlugFrame::resizeView`, but baseview has already resized its window
    /// when the editor asks (a drag of the editor's resize corner). So when
    /// the host refuses, or has no frame to ask, the window goes back to
    /// the size the host last gave it, and the view stays what the host
    /// thinks it is.
    pub(super) fn pump_editor(&self) {
        if self.editor.callback_requested.swap(false, Ordering::AcqRel) {
            let slot = lock(&self.editor.slot);
            if let Some(UiThreadOnly(window)) = &slot.window {
                window.handle.host_main_thread_callback(&window.window);
            }
        }
        let Some(size) = lock(&self.editor.pending_resize).take() else { return };
        let (frame, view) = {
            let slot = lock(&self.editor.slot);
            (slot.frame.clone(), slot.view.0)
        };
        if view.is_null() {
            return;
        }
        let accepted = frame.is_some_and(|frame| {
            let mut rect = ViewRect { left: 0, top: 0, right: size.width as i32, bottom: size.height as i32 };
            // SAFETY: the host's frame and our attached view; the host
            // answers with onSize, which locks the slot (unlocked here).
            unsafe { frame.resizeView(view, &mut rect) == kResultOk }
        });
        if !accepted {
            log!("MAM Session (VST3): the host did not resize the editor to {}×{}; back to its size", size.width, size.height);
            let slot = lock(&self.editor.slot);
            if let (Some(UiThreadOnly(window)), Some(previous)) = (&slot.window, slot.host_size) {
                if let Err(e) = window.handle.set_size(previous, &window.window) {
                    log!("MAM Session (VST3): cannot size the editor back to {}×{}: {e}", previous.width, previous.height);
                }
            }
        }
    }

    /// Closes an open editor window (terminate).
    pub(super) fn close_editor(&self) {
        let window = {
            let mut slot = lock(&self.editor.slot);
            slot.view = ViewPtr(std::ptr::null_mut());
            slot.frame_owner = ViewPtr(std::ptr::null_mut());
            slot.frame = None;
            slot.window.take()
        };
        // Closing joins the window's thread, which may call the GUI context:
        // no lock held.
        drop(window);
    }
}

pub(super) struct View {
    instance: Arc<Instance>,
    /// This view's own `IPlugView` pointer (no reference count).
    this: AtomicPtr<IPlugView>,
}

impl Class for View {
    type Interfaces = (IPlugView, IPlugViewContentScaleSupport);
}

impl Drop for View {
    fn drop(&mut self) {
        let this = self.this.load(Ordering::Acquire);
        let (window, frame) = {
            let mut slot = lock(&self.instance.editor.slot);
            // A host that releases the view without `removed` still closes the window.
            let window = if slot.view.0 == this {
                slot.view = ViewPtr(std::ptr::null_mut());
                slot.window.take()
            } else {
                None
            };
            let frame = if slot.frame_owner.0 == this {
                slot.frame_owner = ViewPtr(std::ptr::null_mut());
                slot.frame.take()
            } else {
                None
            };
            (window, frame)
        };
        drop(window);
        // A run loop found in the frame keeps its timer (main_thread.rs).
        drop(frame);
    }
}

/// # Safety
/// `kind` is null or a NUL-terminated string.
unsafe fn is_x11(kind: FIDString) -> bool {
    // SAFETY: both NUL-terminated (caller; the constant).
    !kind.is_null() && unsafe { CStr::from_ptr(kind) == CStr::from_ptr(kPlatformTypeX11EmbedWindowID) }
}

impl IPlugViewTrait for View {
    unsafe fn isPlatformTypeSupported(&self, kind: FIDString) -> tresult {
        // SAFETY: the host's string.
        if cfg!(target_os = "linux") && unsafe { is_x11(kind) } {
            kResultOk
        } else {
            kResultFalse
        }
    }

    unsafe fn attached(&self, parent: *mut c_void, kind: FIDString) -> tresult {
        // SAFETY: the host's string.
        if parent.is_null() || !unsafe { is_x11(kind) } {
            return kInvalidArgument;
        }
        let instance = &self.instance;
        let mut slot = lock(&instance.editor.slot);
        if slot.window.is_some() {
            return kResultFalse;
        }
        let Some(model) = slot.model.as_ref() else { return kResultFalse };
        let weak = Arc::downgrade(instance);
        let context = GuiContext::new(Arc::new(GuiBridge { instance: weak.clone() }));
        let host = HostMethods { callbacks: Box::new(WindowRequests { instance: weak.clone() }), main_thread_caller: Box::new(CallbackRequest { instance: weak }) };
        // An X11 window id travels in the pointer.
        let parent = ParentWindowHandle::XlibWindow(parent as usize as c_ulong);
        let opened_at = model.size();
        match model.spawn(Some(parent), false, slot.scale.map(f64::from), context, Some(host)) {
            Ok(window) => {
                if let Err(e) = window.handle.show(&window.window) {
                    log!("MAM Session (VST3): cannot show the editor: {e}");
                }
                slot.window = Some(UiThreadOnly(window));
                slot.view = ViewPtr(self.this.load(Ordering::Acquire));
                slot.host_size = Some(opened_at);
                kResultOk
            }
            Err(e) => {
                log!("MAM Session (VST3): cannot open the editor: {e}");
                kResultFalse
            }
        }
    }

    /// Closes the window if it is this view's: a host may keep a second
    /// view whose window never opened (attached refused it) and remove that.
    unsafe fn removed(&self) -> tresult {
        let this = self.this.load(Ordering::Acquire);
        let window = {
            let mut slot = lock(&self.instance.editor.slot);
            if slot.view.0 != this {
                return kResultOk;
            }
            slot.view = ViewPtr(std::ptr::null_mut());
            slot.host_size = None;
            slot.window.take()
        };
        *lock(&self.instance.editor.pending_resize) = None;
        // Closing joins the window's thread: no lock held.
        drop(window);
        kResultOk
    }

    unsafe fn onWheel(&self, _distance: f32) -> tresult {
        // The window gets its own X11 input.
        kResultFalse
    }

    unsafe fn onKeyDown(&self, _key: char16, _key_code: int16, _modifiers: int16) -> tresult {
        kResultFalse
    }

    unsafe fn onKeyUp(&self, _key: char16, _key_code: int16, _modifiers: int16) -> tresult {
        kResultFalse
    }

    unsafe fn getSize(&self, size: *mut ViewRect) -> tresult {
        let slot = lock(&self.instance.editor.slot);
        // SAFETY: null or the host's rect.
        let (Some(model), Some(size)) = (slot.model.as_ref(), unsafe { size.as_mut() }) else { return kInvalidArgument };
        let current = model.size();
        *size = ViewRect { left: 0, top: 0, right: current.width as i32, bottom: current.height as i32 };
        kResultOk
    }

    unsafe fn onSize(&self, new_size: *mut ViewRect) -> tresult {
        // SAFETY: null or the host's rect.
        let Some(rect) = (unsafe { new_size.as_ref() }) else { return kInvalidArgument };
        let (width, height) = (rect.right - rect.left, rect.bottom - rect.top);
        if width <= 0 || height <= 0 {
            return kInvalidArgument;
        }
        let mut slot = lock(&self.instance.editor.slot);
        let size = NativeSize::new(width as u32, height as u32);
        match &slot.window {
            Some(UiThreadOnly(window)) => match window.handle.set_size(size, &window.window) {
                Ok(()) => {
                    slot.host_size = Some(size);
                    kResultOk
                }
                Err(e) => {
                    log!("MAM Session (VST3): cannot resize the editor to {width}×{height}: {e}");
                    kResultFalse
                }
            },
            // Not attached: nothing to resize yet.
            None => kResultOk,
        }
    }

    unsafe fn onFocus(&self, _state: TBool) -> tresult {
        kResultOk
    }

    unsafe fn setFrame(&self, frame: *mut IPlugFrame) -> tresult {
        // SAFETY: null or the host's frame.
        let frame = unsafe { ComRef::from_raw(frame) }.map(|f| f.to_com_ptr());
        // Linux hosts offer their run loop here too. Its timer stays when
        // the frame goes (main_thread.rs), until terminate.
        if let Some(run_loop) = frame.as_ref().and_then(|f| f.cast::<IRunLoop>()).filter(|_| self.instance.is_initialized()) {
            self.instance.main.start_timer(&self.instance, run_loop);
        }
        let old = {
            let mut slot = lock(&self.instance.editor.slot);
            slot.frame_owner = ViewPtr(self.this.load(Ordering::Acquire));
            std::mem::replace(&mut slot.frame, frame)
        };
        drop(old);
        kResultOk
    }

    /// Resizable only if the editor's hint lets some axis change: a hint
    /// with `can_resize` but neither axis (nor an aspect ratio) keeps the
    /// size in checkSizeConstraint, and hosts should not offer a handle that
    /// does nothing.
    unsafe fn canResize(&self) -> tresult {
        let slot = lock(&self.instance.editor.slot);
        let resizable = slot.model.as_ref().map(|m| m.resize_hint()).is_some_and(|h| {
            h.can_resize && (h.can_resize_horizontally || h.can_resize_vertically || h.preserve_aspect_ratio)
        });
        if resizable {
            kResultOk
        } else {
            kResultFalse
        }
    }

    unsafe fn checkSizeConstraint(&self, rect: *mut ViewRect) -> tresult {
        // SAFETY: null or the host's rect.
        let Some(rect) = (unsafe { rect.as_mut() }) else { return kInvalidArgument };
        let (width, height) = (rect.right - rect.left, rect.bottom - rect.top);
        if width <= 0 || height <= 0 {
            return kResultFalse;
        }
        let slot = lock(&self.instance.editor.slot);
        if let Some(UiThreadOnly(window)) = &slot.window {
            if let Some(fitted) = window.handle.adjust_size(NativeSize::new(width as u32, height as u32), &window.window) {
                rect.right = rect.left + fitted.width as i32;
                rect.bottom = rect.top + fitted.height as i32;
            }
        }
        kResultOk
    }
}

impl IPlugViewContentScaleSupportTrait for View {
    unsafe fn setContentScaleFactor(&self, factor: f32) -> tresult {
        if !(factor.is_finite() && factor > 0.0) {
            return kInvalidArgument;
        }
        let mut slot = lock(&self.instance.editor.slot);
        slot.scale = Some(factor);
        if let Some(UiThreadOnly(window)) = &slot.window {
            if let Err(e) = window.handle.set_fallback_scale_factor(f64::from(factor), &window.window) {
                log!("MAM Session (VST3): cannot scale the editor by {factor}: {e}");
            }
        }
        kResultOk
    }
}

/// The window's requests to the host, made by baseview on the UI thread
/// (inside `host_main_thread_callback`, so with the slot locked: a resize
/// is only noted here and sent right after by the pump).
struct WindowRequests {
    instance: Weak<Instance>,
}

impl HostCallbacks for WindowRequests {
    fn request_resize(&mut self, new_size: Size, scale_factor: f64) -> Result<(), Box<dyn Error>> {
        let instance = self.instance.upgrade().ok_or("the plugin is gone")?;
        *lock(&instance.editor.pending_resize) = Some(NativeSize::from_size(new_size, scale_factor));
        Ok(())
    }

    fn destroyed(&mut self) {
        // The host owns the parent window and closes the view itself.
    }
}

/// The window thread's "call me on the UI thread": a flag the pump reads.
struct CallbackRequest {
    instance: Weak<Instance>,
}

impl HostMainThreadCaller for CallbackRequest {
    fn call_main_thread(&mut self) {
        if let Some(instance) = self.instance.upgrade() {
            instance.editor.callback_requested.store(true, Ordering::Release);
        }
    }
}

/// The editor's link to the host (nice-plug's `GuiContext`), called on the
/// editor's window thread.
struct GuiBridge {
    instance: Weak<Instance>,
}

impl GuiBridge {
    /// The parameter's numeric id and the instance, for a gesture.
    fn gesture(&self, param: ParamPtr, edit: impl FnOnce(u32) -> GuiEdit) {
        let Some(instance) = self.instance.upgrade() else { return };
        if let Some(entry) = instance.table.entries().iter().find(|e| e.ptr == param) {
            instance.main.gui_edit(edit(entry.hash));
        }
    }
}

impl GuiContextInner for GuiBridge {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Vst3
    }

    unsafe fn raw_begin_set_parameter(&self, param: ParamPtr) {
        self.gesture(param, GuiEdit::Begin);
    }

    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        let Some(instance) = self.instance.upgrade() else { return };
        if let Some((index, entry)) = instance.table.entries().iter().enumerate().find(|(_, e)| e.ptr == param) {
            // The editor sees its own move at once, and so does the host's
            // getParamNormalized; the host's performEdit brings the same
            // value to process at the block it chooses.
            entry.set_normalized(normalized);
            instance.set_shadow(index, f64::from(normalized));
            instance.main.gui_edit(GuiEdit::Perform(entry.hash, f64::from(normalized)));
        }
    }

    unsafe fn raw_end_set_parameter(&self, param: ParamPtr) {
        self.gesture(param, GuiEdit::End);
    }

    fn get_state(&self) -> PluginState {
        let instance = self.instance.upgrade().expect("the editor outlives no plugin");
        let bytes = lock(&instance.session).save_state();
        serde_json::from_slice(&bytes).expect("the plugin's own state parses")
    }

    /// Loaded like a host's state (parameters now, the session through the
    /// control thread), never inside process; then the host re-reads the
    /// parameter values.
    fn set_state(&self, state: PluginState) {
        let Some(instance) = self.instance.upgrade() else { return };
        let loaded = serde_json::to_vec(&state).map_err(|e| e.to_string()).and_then(|bytes| lock(&instance.session).load_state(&bytes));
        match loaded {
            Ok(()) => {
                instance.refresh_shadow();
                instance.main.request_restart(RestartFlags_::kParamValuesChanged);
            }
            Err(e) => log!("MAM Session (VST3): the editor's state did not load: {e}"),
        }
    }

    /// What makes VST3 hosts deactivate and reactivate the plugin.
    fn request_restart(&self) {
        if let Some(instance) = self.instance.upgrade() {
            instance.main.request_restart(RestartFlags_::kLatencyChanged);
        }
    }
}
