//! Calls the VST3 spec wants made on the host's UI thread, asked for on
//! other threads and made from there.
//!
//! The audio thread learns of a latency change (a session edit compiled by
//! the control thread) and the editor runs on a window thread of its own
//! (baseview on X11), but `IComponentHandler::restartComponent`,
//! `beginEdit`/`performEdit`/`endEdit` and `IPlugFrame::resizeView` belong
//! on the UI thread. So those threads only leave a flag or a queued edit,
//! and [`Instance::pump`] makes the calls on the UI thread from a timer on
//! the host's `IRunLoop` — which Linux hosts must offer, through the host
//! context or the editor's frame. Without one (a host that breaks this),
//! the pump also runs at the start of the UI-thread calls hosts make often
//! (get/setParamNormalized), and editor gestures go to the host directly
//! from the editor's thread, as nice-plug did.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use vst3::Steinberg::Linux::{IRunLoop, IRunLoopTrait, ITimerHandler, ITimerHandlerTrait};
use vst3::Steinberg::Vst::{IComponentHandler, IComponentHandlerTrait};
use vst3::{Class, ComPtr, ComWrapper};

use super::instance::{lock, Instance};

/// How often the timer looks for work: a latency restart, an editor
/// gesture or a resize reaches the host within this many milliseconds.
const TIMER_MS: u64 = 30;

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
    /// Registered through the editor's frame (so it ends with the frame),
    /// not the host context.
    from_frame: bool,
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

    /// An editor gesture (editor thread): queued for the pump, or sent at
    /// once when there is no timer to send it.
    pub fn gui_edit(&self, edit: GuiEdit) {
        if self.has_timer.load(Ordering::Acquire) {
            lock(&self.gui_edits).push(edit);
        } else if let Some(handler) = self.handler() {
            // SAFETY: a valid handler; see the module docs for the thread.
            unsafe { send_edit(&handler, edit) };
        }
    }

    /// Starts the pump's timer on `run_loop` unless one runs already.
    /// `from_frame`: the run loop came from the editor's frame.
    pub fn start_timer(&self, instance: &Arc<Instance>, run_loop: ComPtr<IRunLoop>, from_frame: bool) {
        let mut timer = lock(&self.timer);
        if timer.is_some() {
            return;
        }
        let handler = ComWrapper::new(TimerHandler { instance: Arc::downgrade(instance) });
        let Some(handler_ptr) = handler.as_com_ref::<ITimerHandler>() else { return };
        // SAFETY: a valid run loop; the handler lives in `Timer` until it
        // is unregistered.
        if unsafe { run_loop.registerTimer(handler_ptr.as_ptr(), TIMER_MS) } == vst3::Steinberg::kResultOk {
            *timer = Some(Timer { run_loop, handler, from_frame });
            self.has_timer.store(true, Ordering::Release);
        }
    }

    pub fn stop_timer(&self) {
        self.has_timer.store(false, Ordering::Release);
        let old = lock(&self.timer).take();
        drop(old);
    }

    /// The editor's frame goes away: a timer registered through it stops
    /// (the host's run loop may belong to that frame).
    pub fn frame_gone(&self) {
        if lock(&self.timer).as_ref().is_some_and(|t| t.from_frame) {
            self.stop_timer();
        }
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
        let edits = std::mem::take(&mut *lock(&self.main.gui_edits));
        let flags = self.main.pending_restart.swap(0, Ordering::AcqRel);
        // Without a handler (none set yet, or terminated) there is no one to
        // tell: the edits and restarts are dropped; a host that sets its
        // handler later reads the latency when it activates.
        if let Some(handler) = self.main.handler() {
            for edit in edits {
                // SAFETY: the host's valid handler, on the UI thread.
                unsafe { send_edit(&handler, edit) };
            }
            if flags != 0 {
                // SAFETY: as above.
                unsafe { handler.restartComponent(flags) };
            }
        }
        self.main.pumping.store(false, Ordering::Release);
    }

    /// The fallback for hosts without a run loop: pump at a UI-thread call.
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
    use vst3::Steinberg::{kResultOk, tresult};

    /// A host's handler that writes down every call.
    struct Handler {
        calls: Mutex<Vec<String>>,
    }

    impl Class for Handler {
        type Interfaces = (IComponentHandler,);
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
    fn gestures_and_restarts_wait_for_the_ui_thread_when_there_is_a_run_loop() {
        let instance = Instance::new(None);
        let handler = ComWrapper::new(Handler { calls: Mutex::new(Vec::new()) });
        instance.main.set_handler(handler.to_com_ptr::<IComponentHandler>());
        // No run loop: a gesture goes straight to the host.
        instance.main.gui_edit(GuiEdit::Begin(7));
        assert_eq!(*lock(&handler.calls), ["begin 7"]);

        let run_loop = ComWrapper::new(RunLoop).to_com_ptr::<IRunLoop>().unwrap();
        instance.main.start_timer(&instance, run_loop, false);
        instance.main.gui_edit(GuiEdit::Perform(7, 0.25));
        instance.main.gui_edit(GuiEdit::End(7));
        instance.main.request_restart(RestartFlags_::kLatencyChanged);
        instance.main.request_restart(RestartFlags_::kParamValuesChanged);
        instance.pump_without_timer();
        assert_eq!(*lock(&handler.calls), ["begin 7"], "nothing leaves before the timer's pump");
        instance.pump();
        let both = RestartFlags_::kLatencyChanged | RestartFlags_::kParamValuesChanged;
        assert_eq!(*lock(&handler.calls), ["begin 7".to_string(), "perform 7 0.25".into(), "end 7".into(), format!("restart {both}")]);
        instance.pump();
        assert_eq!(lock(&handler.calls).len(), 4, "each request is sent once");
        instance.terminate();
    }
}
