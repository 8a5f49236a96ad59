//! The editor (nice-plug-egui): mixer strips with meters, routing, inserts, the ducker display, scenes, session files.
//!
//! Threads: everything here runs on the GUI thread. Meters and spectra are
//! read from the engine's atomics and seqlocks; the engine's control half is
//! locked only by this thread and the background reload task, never by the
//! audio thread. Host parameters (faders, pans, mutes, solos, scene, morph,
//! macros) are moved through nice-plug's `ParamSetter` with begin/end
//! gestures, so hosts record automation. Session edits (routing, inserts,
//! scenes, imports) are validated here, then applied as a new plugin state
//! through `GuiContext::set_state`: the same path as a host restoring a
//! project, so the audio thread picks the compiled session up between blocks
//! and a session with errors never replaces the running one.

mod ducker_view;
mod mixer;
mod panels;

use std::sync::{Arc, Mutex};

use mam_core::engine::Engine;
use mam_core::session::{load_str, save, Session};
use nice_plug::prelude::*;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::{create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp};

use crate::MamParams;

/// Default window size in logical pixels (the host's scale factor applies on top).
pub const WINDOW_WIDTH: u32 = 1200;
pub const WINDOW_HEIGHT: u32 = 760;

/// What the editor shares with the plugin.
#[derive(Clone)]
pub struct EditorShared {
    pub params: Arc<MamParams>,
    /// The engine's control half (`None` while the plugin is inactive).
    pub engine: Arc<Mutex<Option<Engine>>>,
}

pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(WINDOW_WIDTH as f32, WINDOW_HEIGHT as f32), 1.0)
}

pub fn create(shared: EditorShared, state: Arc<EguiEditorState>) -> Option<EguiEditor<MamEditor>> {
    let settings = EguiNiceSettings {
        title: "MAM Session".to_string(),
        resize_hint: ResizeHint { can_resize: true, ..Default::default() },
        ..Default::default()
    };
    create_egui_editor(state, Default::default(), settings, MamEditor::new(shared))
}

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
    /// The session as the state holds it, re-read when the state changes.
    pub(crate) session: Session,
    session_json: String,
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
    /// Latest loudness reading (updated while the window is open).
    pub(crate) loudness: Option<mam_core::meters::LoudnessReading>,
}

impl MamEditor {
    pub fn new(shared: EditorShared) -> Self {
        let json = shared.params.session.json();
        let session = load_str(&json).map(|l| l.session).unwrap_or_else(|_| Session::empty());
        Self {
            rename: session.scenes.iter().map(|s| s.name.clone()).collect(),
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
        }
    }

    /// Re-reads the session if the state changed underneath (a host restore,
    /// or an edit applied last frame).
    fn refresh(&mut self) {
        let json = self.shared.params.session.json();
        if json != self.session_json {
            if let Ok(loaded) = load_str(&json) {
                self.session = loaded.session;
                self.rename = self.session.scenes.iter().map(|s| s.name.clone()).collect();
                self.selected_bus = self.selected_bus.min(self.session.buses.len().saturating_sub(1));
            }
            self.session_json = json;
        }
    }

    /// Validates `edited` and applies it as the plugin's session (pushing the
    /// current one on the undo stack). A session with errors is refused with
    /// the reason in the status line and changes nothing.
    pub(crate) fn apply(&mut self, edited: Session, what: &str) {
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
                self.set_state_json(json);
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
            self.set_state_json(previous);
            self.status = Some(Status::Info("undone".into()));
        }
    }

    /// Hands the session JSON to the plugin as a state restore.
    fn set_state_json(&mut self, json: String) {
        match &self.gui {
            Some(gui) => {
                let mut state = gui.get_state();
                state.fields.insert("session".to_string(), serde_json::to_string(&json).expect("a string serialises"));
                gui.set_state(state);
                // A parameter change is what tells hosts the project changed.
                let setter = gui.param_setter();
                let edit = &self.shared.params.session_edit;
                setter.begin_set_parameter(edit);
                setter.set_parameter(edit, !edit.value());
                setter.end_set_parameter(edit);
            }
            // No host context (cannot happen in a host): keep the state in step.
            None => self.shared.params.session.replace_quietly(json),
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

impl NiceEguiApp for MamEditor {
    fn build(&mut self, egui_ctx: egui::Context, gui: GuiContext, _frame: &mut nice_plug_egui::Frame) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        egui_ctx.set_visuals(egui::Visuals::dark());
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        self.refresh();
        if let Some(engine) = self.shared.engine.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            self.loudness = Some(engine.update_loudness());
        }
        if ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z)) {
            self.undo();
        }
        panels::top_bar(self, ui);
        egui::Panel::right("scenes").resizable(true).default_size(260.0).show(ui, |ui| panels::scenes(self, ui));
        egui::Panel::bottom("detail").resizable(true).default_size(330.0).show(ui, |ui| panels::detail(self, ui));
        egui::CentralPanel::default().show(ui, |ui| mixer::strips(self, ui));
        // Meters move: redraw at display rate while open.
        ui.ctx().request_repaint_after(std::time::Duration::from_millis(33));
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn editor() -> MamEditor {
        let params = Arc::new(MamParams::new(crate::DEFAULT_SESSION_JSON.to_string()));
        MamEditor::new(EditorShared { params, engine: Arc::new(Mutex::new(None)) })
    }

    #[test]
    fn an_edit_that_makes_a_cycle_is_refused_with_the_reason_and_changes_nothing() {
        let mut ed = editor();
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
        let mut ed = editor();
        let before = ed.shared.params.session.json();
        let mut edited = ed.session.clone();
        edited.buses[0].bypass = true;
        ed.apply(edited, "bypass");
        let after = ed.shared.params.session.json();
        assert_ne!(after, before);
        assert!(load_str(&after).unwrap().session.buses[0].bypass);
        ed.undo();
        assert_eq!(ed.shared.params.session.json(), before);
        assert!(!ed.session.buses[0].bypass);
    }

    #[test]
    fn importing_a_bad_file_lists_its_errors_and_keeps_the_session() {
        let mut ed = editor();
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
