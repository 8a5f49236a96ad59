//! Calls the VST3 spec wants made on the host's UI thread, asked for on
//! other threads and made from there.
//!
//! The audio thread learns of a latency change (a session edit compiled by
//! the control thread) and the editor runs on a window thread of its own
//! (baseview on X11), but `IComponentHandler::restartComponent`,
//! `beginEdit`/`performEdit`/`endEdit`, `IComponentHandler2::setDirty` and
//! `IPlugFrame::resizeView` belong on the UI thread. So those threads only
//! leave a flag or a queued edit, and [`Instance::pump`] makes the calls on
//! the UI thread:
//! - from a timer on the host's `IRunLoop`, which Linux hosts must offer
//!   through the host context or the editor's frame. A run loop found only
//!   in a frame is kept, with its timer, until terminate: closing the editor
//!   must not strand a latency restart or the editor's last gesture;
//! - at the start of the UI-thread calls a host makes anyway (setActive,
//!   setState, getState, setComponentHandler, and get/setParamNormalized
//!   when there is no timer), so a host without any run loop still hears
//!   everything, only later. The pump runs before the call's own work, so
//!   nothing reaches the host from inside the work of that call (a restart
//!   asked for by setActive or setState goes out at the next pump).
//!
//! The editor's thread never calls the host and never waits for it: it
//! appends to a queue under a lock the pump holds only to take the queue.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use vst3::Steinberg::Linux::{IRunLoop, IRunLoopTrait, ITimerHandler, ITimerHandlerTrait};
use vst3::Steinberg::Vst::{IComponentHandler, IComponentHandler2, IComponentHandler2Trait, IComponentHandlerTrait};
use vst3::{Class, ComPtr, ComWrapper};

use super::instance::{lock, Instance};

/// How often the timer looks for work: a latency restart, an editor
/// gesture or a resize reaches the host within this many milliseconds.
const TIMER_MS: u64 = 30;

/// The string id of the parameter the editor flips after every session
/// edit (plugin/src/params.rs): the end of its gesture marks the project
/// dirty.
const SESSION_EDIT_ID: &str = "session_edit";

/// An editor gesture on a parameter (numeric id), for the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum GuiEdit {
    Begin(u32),
    Perform(u32, f64),
    End(u32),
}

pub(super) struct MainThread {
    handler: Mutex<Option<ComPtr<IComponentHandler>>>,
    /// `RestartFlags` asked for and not yet sent (any thread sets bits).
    pending_restart: AtomicI32,
    /// Editor gestures not yet sent, oldest first.
    gui_edits: Mutex<Vec<GuiEdit>>,
    timer: Mutex<Option<Timer>>,
    has_timer: AtomicBool,
    /// A pump is running: a host call it makes that comes back into the
    /// plugin does not pump again.
    pumping: AtomicBool,
}

/// A timer registered with a host run loop; unregistered when dropped.
struct Timer {
    run_loop: ComPtr<IRunLoop>,
    handler: ComWrapper<TimerHandler>,
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(handler) = self.handler.as_com_ref::<ITimerHandler>() {
            // SAFETY: the run loop we registered with, and the same handler.
            unsafe { self.run_loop.unregisterTimer(handler.as_ptr()) };
        }
    }
}

struct TimerHandler {
    instance: Weak<Instance>,
}

impl Class for TimerHandler {
    type Interfaces = (ITimerHandler,);
}

impl ITimerHandlerTrait for TimerHandler {
    unsafe fn onTimer(&self) {
        if let Some(instance) = self.instance.upgrade() {
            instance.pump();
        }
    }
}

impl MainThread {
    pub fn new() -> Self {
        Self {
            handler: Mutex::new(None),
            pending_restart: AtomicI32::new(0),
            gui_edits: Mutex::new(Vec::new()),
            timer: Mutex::new(None),
            has_timer: AtomicBool::new(false),
            pumping: AtomicBool::new(false),
        }
    }

    pub fn set_handler(&self, handler: Option<ComPtr<IComponentHandler>>) {
        // The old handler is released after the lock.
        let old = std::mem::replace(&mut *lock(&self.handler), handler);
        drop(old);
    }

    /// The host's handler, cloned so no lock is held while calling it (the
    /// host may call back into the plugin).
    pub fn handler(&self) -> Option<ComPtr<IComponentHandler>> {
        lock(&self.handler).clone()
    }

    /// Asks for `restartComponent(flags)` from the UI thread. Any thread.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn request_restart(&self, flags: i32) {
        self.pending_restart.fetch_or(flags, Ordering::AcqRel);
    }

    /// An editor gesture (editor thread): queued for the next pump, never
    /// sent from here (the spec puts performEdit on the UI thread).
    pub fn gui_edit(&self, edit: GuiEdit) {
        lock(&self.gui_edits).push(edit);
    }

    /// Starts the pump's timer on `run_loop` unless one runs already. It
    /// runs until terminate, wherever the run loop came from.
    pub fn start_timer(&self, instance: &Arc<Instance>, run_loop: ComPtr<IRunLoop>) {
        let mut timer = lock(&self.timer);
        if timer.is_some() {
            return;
        }
        let handler = ComWrapper::new(TimerHandler { instance: Arc::downgrade(instance) });
        let Some(handler_ptr) = handler.as_com_ref::<ITimerHandler>() else { return };
        // SAFETY: a valid run loop; the handler lives in `Timer` until it
        // is unregistered.
        if unsafe { run_loop.registerTimer(handler_ptr.as_ptr(), TIMER_MS) } == vst3::Steinberg::kResultOk {
            *timer = Some(Timer { run_loop, handler });
            self.has_timer.store(true, Ordering::Release);
        }
    }

    pub fn stop_timer(&self) {
        self.has_timer.store(false, Ordering::Release);
        let old = lock(&self.timer).take();
        drop(old);
    }

    pub fn has_timer(&self) -> bool {
        self.has_timer.load(Ordering::Acquire)
    }
}

/// # Safety
/// `handler` is the host's valid component handler.
unsafe fn send_edit(handler: &ComPtr<IComponentHandler>, edit: GuiEdit) {
    // SAFETY: calls on a valid handler (caller).
    unsafe {
        match edit {
            GuiEdit::Begin(id) => handler.beginEdit(id),
            GuiEdit::Perform(id, value) => handler.performEdit(id, value),
            GuiEdit::End(id) => handler.endEdit(id),
        };
    }
}

impl Instance {
    /// Makes the calls other threads asked for. UI thread only.
    pub fn pump(&self) {
        if self.main.pumping.swap(true, Ordering::AcqRel) {
            return;
        }
        self.pump_editor();
        // Without a handler (none set yet, or terminated) there is no one to
        // tell yet: edits and restarts wait for setComponentHandler.
        if let Some(handler) = self.main.handler() {
            let edits = std::mem::take(&mut *lock(&self.main.gui_edits));
            let flags = self.main.pending_restart.swap(0, Ordering::AcqRel);
            let mut session_edited = false;
            for edit in edits {
                // SAFETY: the host's valid handler, on the UI thread.
                unsafe { send_edit(&handler, edit) };
                session_edited |= matches!(edit, GuiEdit::End(id) if self.table.by_hash(id).is_some_and(|e| e.id == SESSION_EDIT_ID));
            }
            if session_edited {
                // The flip of a hidden, non-automatable parameter is a weak
                // hint that the project changed; hosts that offer it get the
                // explicit one.
                if let Some(handler2) = handler.cast::<IComponentHandler2>() {
                    // SAFETY: as above.
                    unsafe { handler2.setDirty(1) };
                }
            }
            if flags != 0 {
                // SAFETY: as above.
                unsafe { handler.restartComponent(flags) };
            }
        }
        self.main.pumping.store(false, Ordering::Release);
    }

    /// The fallback for hosts without a run loop, at UI-thread calls hosts
    /// make often (get/setParamNormalized): pump only when no timer does.
    pub fn pump_without_timer(&self) {
        if !self.main.has_timer() {
            self.pump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vst3::Steinberg::Linux::{FileDescriptor, IEventHandler, TimerInterval};
    use vst3::Steinberg::Vst::RestartFlags_;
    use vst3::Steinberg::{kResultOk, tresult, FIDString, TBool};

    /// A host's handler that writes down every call.
    struct Handler {
        calls: Mutex<Vec<String>>,
    }

    impl Class for Handler {
        type Interfaces = (IComponentHandler, IComponentHandler2);
    }

    impl IComponentHandlerTrait for Handler {
        unsafe fn beginEdit(&self, id: u32) -> tresult {
            lock(&self.calls).push(format!("begin {id}"));
            kResultOk
        }
        unsafe fn performEdit(&self, id: u32, value: f64) -> tresult {
            lock(&self.calls).push(format!("perform {id} {value}"));
            kResultOk
        }
        unsafe fn endEdit(&self, id: u32) -> tresult {
            lock(&self.calls).push(format!("end {id}"));
            kResultOk
        }
        unsafe fn restartComponent(&self, flags: i32) -> tresult {
            lock(&self.calls).push(format!("restart {flags}"));
            kResultOk
        }
    }

    impl IComponentHandler2Trait for Handler {
        unsafe fn setDirty(&self, state: TBool) -> tresult {
            lock(&self.calls).push(format!("dirty {state}"));
            kResultOk
        }
        unsafe fn requestOpenEditor(&self, _name: FIDString) -> tresult {
            kResultOk
        }
        unsafe fn startGroupEdit(&self) -> tresult {
            kResultOk
        }
        unsafe fn finishGroupEdit(&self) -> tresult {
            kResultOk
        }
    }

    /// A run loop whose timers only fire when the test pumps.
    struct RunLoop;

    impl Class for RunLoop {
        type Interfaces = (IRunLoop,);
    }

    impl IRunLoopTrait for RunLoop {
        unsafe fn registerEventHandler(&self, _handler: *mut IEventHandler, _fd: FileDescriptor) -> tresult {
            kResultOk
        }
        unsafe fn unregisterEventHandler(&self, _handler: *mut IEventHandler) -> tresult {
            kResultOk
        }
        unsafe fn registerTimer(&self, _handler: *mut ITimerHandler, _ms: TimerInterval) -> tresult {
            kResultOk
        }
        unsafe fn unregisterTimer(&self, _handler: *mut ITimerHandler) -> tresult {
            kResultOk
        }
    }

    #[test]
    fn gestures_and_restarts_reach_the_host_only_from_the_ui_threads_pump() {
        let instance = Instance::new(None);
        // SAFETY: a null context (no run loop).
        assert_eq!(unsafe { instance.initialize(std::ptr::null_mut()) }, kResultOk);
        let handler = ComWrapper::new(Handler { calls: Mutex::new(Vec::new()) });
        // Asked for before the host set its handler: kept, not dropped.
        instance.main.gui_edit(GuiEdit::Begin(7));
        instance.pump();
        instance.main.set_handler(handler.to_com_ptr::<IComponentHandler>());
        assert!(lock(&handler.calls).is_empty(), "the editor's thread never calls the host");
        // No run loop: the UI-thread calls hosts make often pump.
        instance.pump_without_timer();
        assert_eq!(*lock(&handler.calls), ["begin 7"]);

        let run_loop = ComWrapper::new(RunLoop).to_com_ptr::<IRunLoop>().unwrap();
        instance.main.start_timer(&instance, run_loop);
        instance.main.gui_edit(GuiEdit::Perform(7, 0.25));
        instance.main.gui_edit(GuiEdit::End(7));
        instance.main.request_restart(RestartFlags_::kLatencyChanged);
        instance.main.request_restart(RestartFlags_::kParamValuesChanged);
        instance.pump_without_timer();
        assert_eq!(*lock(&handler.calls), ["begin 7"], "with a timer, nothing leaves before its pump");
        instance.pump();
        let both = RestartFlags_::kLatencyChanged | RestartFlags_::kParamValuesChanged;
        assert_eq!(*lock(&handler.calls), ["begin 7".to_string(), "perform 7 0.25".into(), "end 7".into(), format!("restart {both}")]);
        instance.pump();
        assert_eq!(lock(&handler.calls).len(), 4, "each request is sent once");
        assert_eq!(instance.terminate(), kResultOk);
    }

    #[test]
    fn the_end_of_a_session_edit_gesture_marks_the_project_dirty() {
        let instance = Instance::new(None);
        // SAFETY: a null context (no run loop).
        assert_eq!(unsafe { instance.initialize(std::ptr::null_mut()) }, kResultOk);
        let handler = ComWrapper::new(Handler { calls: Mutex::new(Vec::new()) });
        instance.main.set_handler(handler.to_com_ptr::<IComponentHandler>());
        let edit = instance.table.by_id(SESSION_EDIT_ID).expect("the session_edit parameter").hash;
        let gain = instance.table.by_id("bus1_gain").expect("bus1_gain").hash;
        for id in [gain, edit] {
            instance.main.gui_edit(GuiEdit::Begin(id));
            instance.main.gui_edit(GuiEdit::Perform(id, 1.0));
            instance.main.gui_edit(GuiEdit::End(id));
        }
        instance.pump();
        let calls = lock(&handler.calls).clone();
        assert_eq!(calls.iter().filter(|c| c.starts_with("dirty")).count(), 1, "{calls:?}");
        assert_eq!(calls.last().map(String::as_str), Some("dirty 1"), "after the session edit's endEdit: {calls:?}");
        assert_eq!(calls[calls.len() - 2], format!("end {edit}"));
        assert_eq!(instance.terminate(), kResultOk);
    }
}
