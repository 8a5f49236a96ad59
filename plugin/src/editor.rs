//! The editor (nice-plug-egui): mixer strips with meters, routing, inserts, the ducker display, scenes, the timeline strip, controller mappings and learn, session files.
//!
//! Threads: everything here runs on the GUI thread. Meters and spectra are
//! read from the engine's atomics and seqlocks (through the engine's control
//! half, whose lock the control thread holds while it compiles an edit,
//! never the audio thread). Host parameters (faders, pans, mutes, solos, scene, morph,
//! macros) are moved through the `GuiContext` our format layer gives the
//! editor (`format/`), with begin/end gestures, so hosts record automation.
//! Session edits (routing, inserts, scenes, imports) are validated here, then
//! posted to the control thread (`control.rs`), which compiles them, queues
//! the schedule and persists the JSON: the same path as a host restoring a
//! project. Nothing of it runs inside the host's process call
//! (docs/ARCHITECTURE.md §4).

mod ducker_view;
mod mappings;
mod mixer;
mod panels;
pub mod timeline;

use std::sync::Arc;

use mam_core::session::{load_str, save, Session};
use crate::nice::*;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::{create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp};

use crate::control::ControlShared;

/// Default window size in logical pixels (the host's scale factor applies on top).
pub const WINDOW_WIDTH: u32 = 1200;
pub const WINDOW_HEIGHT: u32 = 760;

/// What the editor shares with the plugin: its parameters, the engine's
/// control half (meters, displays) and the control thread's reports.
pub type EditorShared = ControlShared;

pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(WINDOW_WIDTH as f32, WINDOW_HEIGHT as f32), 1.0)
}

pub fn create(shared: EditorShared, state: Arc<EguiEditorState>) -> Option<EguiEditor<MamEditor>> {
    let settings = EguiNiceSettings {
        title: "MAM Session".to_string(),
        resize_hint: ResizeHint { can_resize: true, can_resize_horizontally: true, can_resize_vertically: true, ..Default::default() },
        ..Default::default()
    };
    create_egui_editor(state, Default::default(), settings, MamEditor::new(shared))
}

/// How the status line's overrun hint starts.
const OVERRUN_HINT: &str = "audio overruns: ";

/// One message for the status line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Status {
    Info(String),
    Error(String),
}

/// The editor's own state.
pub struct MamEditor {
    pub(crate) shared: EditorShared,
    pub(crate) gui: Option<GuiContext>,
    /// The session as edited here (the state catches up once the control
    /// thread has applied it), re-read when the host restores a state or an
    /// edit is refused.
    pub(crate) session: Session,
    session_json: String,
    /// The host-restore count and control-thread refusal count last seen.
    seen_generation: u64,
    seen_refused: u64,
    /// Sequence number of the last edit this editor posted.
    last_posted_seq: u64,
    /// Earlier session JSON, newest last (Undo, Ctrl+Z).
    undo: Vec<String>,
    pub(crate) status: Option<Status>,
    /// Index into `session.buses` of the bus whose routing and inserts are shown.
    pub(crate) selected_bus: usize,
    /// Index of the insert whose parameters (or ducker display) are shown.
    pub(crate) selected_insert: Option<usize>,
    pub(crate) file_path: String,
    pub(crate) new_scene_name: String,
    /// Scene names being edited, by scene index.
    pub(crate) rename: Vec<String>,
    /// Latest loudness reading (the control thread analyses it).
    pub(crate) loudness: Option<mam_core::meters::LoudnessReading>,
    /// The timeline strip's fields.
    pub(crate) strip: timeline::Strip,
    /// The Mappings panel's fields (learn).
    pub(crate) mappings: mappings::MappingsPanel,
    /// Overruns of the last seconds, for the status line's hint.
    overruns: mam_core::telemetry::OverrunWatch,
    /// When this editor was made: the overrun watch's clock.
    opened: std::time::Instant,
}

impl MamEditor {
    pub fn new(shared: EditorShared) -> Self {
        let json = shared.params.session.json();
        let session = load_str(&json).map(|l| l.session).unwrap_or_else(|_| Session::empty());
        Self {
            rename: session.scenes.iter().map(|s| s.name.clone()).collect(),
            seen_generation: shared.params.session.generation(),
            seen_refused: shared.status.refused(),
            last_posted_seq: 0,
            shared,
            gui: None,
            session,
            session_json: json,
            undo: Vec::new(),
            status: None,
            selected_bus: 0,
            selected_insert: None,
            file_path: "session.json".to_string(),
            new_scene_name: String::new(),
            loudness: None,
            strip: Default::default(),
            mappings: Default::default(),
            overruns: Default::default(),
            opened: std::time::Instant::now(),
        }
    }

    /// Notes the engine's overrun count at `now_s` seconds and puts a hint
    /// in the status line while overruns repeat (more than 3 in about the
    /// last 10 s); the hint goes once they stop, other messages stay.
    pub(crate) fn watch_overruns(&mut self, now_s: f64, overruns: u64) {
        use mam_core::telemetry::OverrunWatch;
        let recent = self.overruns.update(now_s, overruns);
        let showing = matches!(&self.status, Some(Status::Error(text)) if text.starts_with(OVERRUN_HINT));
        if OverrunWatch::repeating(recent) {
            self.status = Some(Status::Error(format!("{OVERRUN_HINT}{recent} in the last 10 s — the session is too heavy for this buffer size")));
        } else if showing {
            self.status = None;
        }
    }

    /// Re-reads the session from the state (after recorded moves, which the
    /// timeline holds and the session does not).
    pub(crate) fn resync_session(&mut self) {
        let json = self.shared.params.session.json();
        if let Ok(loaded) = load_str(&json) {
            self.session = loaded.session;
            self.rename = self.session.scenes.iter().map(|s| s.name.clone()).collect();
            self.selected_bus = self.selected_bus.min(self.session.buses.len().saturating_sub(1));
            self.session_json = json;
        }
    }

    /// Re-reads the session if the state changed underneath: after a host
    /// restore, or when the control thread refused this editor's newest edit
    /// (then the state holds the running session and the status line says
    /// why; a refusal of an older edit waits for the newer one instead).
    fn refresh(&mut self) {
        let (generation, refused) = (self.shared.params.session.generation(), self.shared.status.refused());
        if generation == self.seen_generation && refused == self.seen_refused {
            return;
        }
        let mut resync = generation != self.seen_generation;
        if refused != self.seen_refused {
            self.status = Some(Status::Error(format!("edit not applied: {}", self.shared.status.last_error())));
            resync |= self.shared.status.last_refused_seq() >= self.last_posted_seq;
        }
        (self.seen_generation, self.seen_refused) = (generation, refused);
        let json = self.shared.params.session.json();
        if resync && json != self.session_json {
            // A restore with errors is set back by the control thread; only
            // a session that loads is taken.
            if let Ok(loaded) = load_str(&json) {
                self.session = loaded.session;
                self.rename = self.session.scenes.iter().map(|s| s.name.clone()).collect();
                self.selected_bus = self.selected_bus.min(self.session.buses.len().saturating_sub(1));
                self.session_json = json;
            }
        }
    }

    /// Validates `edited` and applies it as the plugin's session (pushing the
    /// current one on the undo stack). A session with errors is refused with
    /// the reason in the status line and changes nothing.
    ///
    /// While the timeline records, an edit that only moves values a timeline
    /// can play (levels, pans, mutes, solos, bypass, sends, insert
    /// parameters; see `timeline::recordable_moves`) is
    /// recorded as `set` events instead and stays out of the session
    /// (docs/ARCHITECTURE.md §8.2).
    pub(crate) fn apply(&mut self, edited: Session, what: &str) {
        if timeline::record_moves(self, &edited) {
            self.session = edited;
            return;
        }
        let json = save::to_string(&edited);
        match load_str(&json) {
            Ok(_) => {
                if json == self.session_json {
                    return;
                }
                let previous = std::mem::replace(&mut self.session_json, json.clone());
                self.undo.push(previous);
                self.session = edited;
                self.rename = self.session.scenes.iter().map(|s| s.name.clone()).collect();
                self.post_session(json);
                self.status = Some(Status::Info(format!("{what} — Ctrl+Z undoes")));
            }
            Err(e) => {
                let reasons: Vec<String> = e.errors.iter().map(|d| d.message.clone()).collect();
                self.status = Some(Status::Error(format!("{what} refused: {}", reasons.join("; "))));
            }
        }
    }

    pub(crate) fn undo(&mut self) {
        let Some(previous) = self.undo.pop() else {
            self.status = Some(Status::Info("nothing to undo".into()));
            return;
        };
        if let Ok(loaded) = load_str(&previous) {
            self.session = loaded.session;
            self.rename = self.session.scenes.iter().map(|s| s.name.clone()).collect();
            self.session_json = previous.clone();
            self.post_session(previous);
            self.status = Some(Status::Info("undone".into()));
        }
    }

    /// Posts the session JSON to the control thread, which compiles it,
    /// queues it for the audio thread and persists it; a newer edit posted
    /// before it is taken replaces it (edits coalesce to the newest).
    fn post_session(&mut self, json: String) {
        self.last_posted_seq = self.shared.params.session.post_edit(json);
        if let Some(gui) = &self.gui {
            // A parameter change is what tells hosts the project changed.
            let setter = gui.param_setter();
            let edit = &self.shared.params.session_edit;
            setter.begin_set_parameter(edit);
            setter.set_parameter(edit, !edit.value());
            setter.end_set_parameter(edit);
        }
    }

    /// Imports a session file; errors are listed and the running session stays.
    pub(crate) fn import(&mut self) {
        let path = self.file_path.trim().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.status = Some(Status::Error(format!("cannot read {path}: {e}")));
                return;
            }
        };
        match load_str(&text) {
            Ok(loaded) => {
                let warnings = loaded.warnings.len();
                self.apply(loaded.session, &format!("imported {path} ({warnings} warnings)"));
            }
            Err(e) => {
                let errors: Vec<String> = e.errors.iter().map(|d| format!("{}: {}", d.path, d.message)).collect();
                self.status = Some(Status::Error(format!("{path} not imported, the running session is untouched: {}", errors.join("; "))));
            }
        }
    }

    pub(crate) fn export(&mut self) {
        let path = self.file_path.trim().to_string();
        self.status = Some(match std::fs::write(&path, &self.session_json) {
            Ok(()) => Status::Info(format!("exported to {path}")),
            Err(e) => Status::Error(format!("cannot write {path}: {e}")),
        });
    }
}

/// Environment variable (tests only): a JSON file holding an array of
/// sessions. When set, each activated instance runs them through a headless
/// editor ([`run_edit_script`]), so a host-level test can drive hundreds of
/// editor edits while audio runs.
pub const EDIT_SCRIPT_ENV: &str = "MAM_TEST_EDIT_SCRIPT";

/// Applies every session of the script at `path` through
/// [`MamEditor::apply`] — the editor's own edit path, without a window —
/// one after the other, each once the control thread has handled the one
/// before, then writes `<path>.done` with the number applied and refused.
pub fn run_edit_script(shared: EditorShared, path: &str) {
    let sessions: Vec<serde_json::Value> = match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string())) {
        Ok(s) => s,
        Err(e) => {
            crate::log!("MAM Session: cannot read the edit script {path}: {e}");
            return;
        }
    };
    let mut ed = MamEditor::new(shared);
    let mut applied = 0;
    for session in sessions {
        let Ok(loaded) = load_str(&session.to_string()) else { continue };
        let before = ed.shared.status.handled();
        let json_before = ed.session_json.clone();
        ed.apply(loaded.session, "script edit");
        if ed.session_json != json_before && crate::control::wait_handled(&ed.shared.status, before + 1, std::time::Duration::from_secs(10)) {
            applied += 1;
        }
    }
    let report = format!("{{\"applied\": {applied}, \"refused\": {}}}", ed.shared.status.refused());
    let _ = std::fs::write(format!("{path}.done"), report);
}

impl NiceEguiApp for MamEditor {
    fn build(&mut self, egui_ctx: egui::Context, gui: GuiContext, _frame: &mut nice_plug_egui::Frame) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        egui_ctx.set_visuals(egui::Visuals::dark());
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        self.refresh();
        self.loudness = self.shared.status.loudness();
        // An inactive plugin has no engine: no overruns (a hint goes).
        let overruns = self.shared.engine.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, |e| e.telemetry().process().overruns);
        self.watch_overruns(self.opened.elapsed().as_secs_f64(), overruns);
        if ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z)) {
            self.undo();
        }
        mappings::poll(self, ui);
        panels::top_bar(self, ui);
        egui::Panel::right("scenes").resizable(true).default_size(260.0).show(ui, |ui| panels::scenes(self, ui));
        egui::Panel::bottom("timeline").resizable(false).show(ui, |ui| timeline::strip(self, ui));
        egui::Panel::bottom("detail").resizable(true).default_size(330.0).show(ui, |ui| {
            mappings::tabs(self, ui);
            if self.mappings.shown {
                mappings::panel(self, ui);
            } else {
                panels::detail(self, ui);
            }
        });
        egui::CentralPanel::default().show(ui, |ui| mixer::strips(self, ui));
        // Meters move: redraw at display rate while open.
        ui.ctx().request_repaint_after(std::time::Duration::from_millis(33));
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use crate::control::{wait_handled, ControlThread};
    use std::time::Duration;

    /// An editor with a running control thread (no engine: the plugin is inactive).
    pub(crate) fn editor() -> (MamEditor, ControlThread) {
        let params = Arc::new(crate::MamParams::new(crate::DEFAULT_SESSION_JSON.to_string()));
        let control = ControlThread::spawn(ControlShared {
            params,
            engine: Default::default(),
            last_good: Arc::new(std::sync::Mutex::new(crate::DEFAULT_SESSION_JSON.to_string())),
            status: Default::default(),
            recorder: Default::default(),
            monitor: Default::default(),
            osc: Default::default(),
        });
        (MamEditor::new(control.shared().clone()), control)
    }

    #[test]
    fn an_edit_that_makes_a_cycle_is_refused_with_the_reason_and_changes_nothing() {
        let (mut ed, _control) = editor();
        let before = ed.shared.params.session.json();
        let mut edited = ed.session.clone();
        // music → key, and key → music.
        let key = edited.buses.iter().position(|b| b.id == "key").unwrap();
        let music = edited.buses.iter().position(|b| b.id == "music").unwrap();
        edited.buses[music].route = Some("key".into());
        edited.buses[key].route = Some("music".into());
        ed.apply(edited, "route");
        match &ed.status {
            Some(Status::Error(text)) => assert!(text.contains("routing cycle") && text.contains("music"), "{text}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(ed.shared.params.session.json(), before, "the running session is untouched");
    }

    #[test]
    fn edits_apply_to_the_state_and_undo_restores_the_previous_session() {
        let (mut ed, _control) = editor();
        let before = ed.shared.params.session.json();
        let mut edited = ed.session.clone();
        edited.buses[0].bypass = true;
        ed.apply(edited, "bypass");
        assert!(wait_handled(&ed.shared.status, 1, Duration::from_secs(10)), "the control thread applies the edit");
        let after = ed.shared.params.session.json();
        assert_ne!(after, before);
        assert!(load_str(&after).unwrap().session.buses[0].bypass);
        ed.undo();
        assert!(wait_handled(&ed.shared.status, 2, Duration::from_secs(10)));
        assert_eq!(ed.shared.params.session.json(), before);
        assert!(!ed.session.buses[0].bypass);
    }

    #[test]
    fn repeating_overruns_put_a_hint_in_the_status_line_until_they_stop() {
        let (mut ed, _control) = editor();
        ed.status = Some(Status::Info("bypass — Ctrl+Z undoes".into()));
        ed.watch_overruns(0.0, 0);
        ed.watch_overruns(1.0, 3);
        assert_eq!(ed.status, Some(Status::Info("bypass — Ctrl+Z undoes".into())), "three overruns are not yet repeating");
        ed.watch_overruns(2.0, 5);
        match &ed.status {
            Some(Status::Error(text)) => assert_eq!(text, "audio overruns: 5 in the last 10 s — the session is too heavy for this buffer size"),
            other => panic!("expected the hint, got {other:?}"),
        }
        // Quiet for more than 10 s: the hint goes.
        ed.watch_overruns(8.0, 5);
        assert!(ed.status.is_some(), "still within 10 s of them");
        ed.watch_overruns(13.5, 5);
        assert_eq!(ed.status, None);
        // A new engine (re-activation, or none while inactive) counts from 0.
        ed.watch_overruns(14.0, 9);
        assert!(ed.status.is_some(), "9 since 13.5 s");
        ed.watch_overruns(14.5, 0);
        assert_eq!(ed.status, None, "the count fell: another engine");
        // Another message is not cleared by a quiet watch.
        ed.status = Some(Status::Error("edit not applied: x".into()));
        ed.watch_overruns(15.0, 0);
        assert_eq!(ed.status, Some(Status::Error("edit not applied: x".into())));
    }

    #[test]
    fn importing_a_bad_file_lists_its_errors_and_keeps_the_session() {
        let (mut ed, _control) = editor();
        let before = ed.shared.params.session.json();
        let path = std::env::temp_dir().join(format!("mam-editor-import-{}.json", std::process::id()));
        std::fs::write(&path, r#"{ "version": 1, "buses": [ { "id": "a", "route": "nowhere" } ] }"#).unwrap();
        ed.file_path = path.display().to_string();
        ed.import();
        let _ = std::fs::remove_file(&path);
        match &ed.status {
            Some(Status::Error(text)) => assert!(text.contains("buses[0].route") && text.contains("untouched"), "{text}"),
            other => panic!("expected an error, got {other:?}"),
        }
        assert_eq!(ed.shared.params.session.json(), before);
        // Export then import round-trips.
        let out = std::env::temp_dir().join(format!("mam-editor-export-{}.json", std::process::id()));
        ed.file_path = out.display().to_string();
        ed.export();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), before);
        let _ = std::fs::remove_file(&out);
    }
}
