//! The editor's timeline strip: record / play / overdub / loop / punch, scene pads, lanes with their event counts, markers, export and import.
//!
//! What records (docs/ARCHITECTURE.md §8.2): what reaches no host
//! automation. The pads here trigger, push and pop scenes through the
//! recorder's queue (the Scenes panel's recall and the Scene Hold slider
//! move host parameters, which the host records as automation itself); the
//! editor's session moves of inner values (levels, pans, mutes, solos,
//! bypass, sends, insert parameters) become `set` events
//! ([`super::MamEditor::apply`] asks [`crate::timeline::recordable_moves`]).
//! Faders, pans, mutes, solos and macros are host parameters: the host
//! records them.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mam_core::session::Quantize;
use mam_core::timeline::{load_str, save, Marker, Timeline};

use nice_plug::params::InternalParamMut;

use super::{MamEditor, Status};
use crate::control::ControlShared;
use crate::timeline::{is_recording, LaneQuantize, PadAction, PadRequest, ParamMode};

/// Environment variable (tests only): a JSON file with a recording script
/// ([`run_script`]) run against each activated instance.
pub const SCRIPT_ENV: &str = "MAM_TEST_TIMELINE_SCRIPT";

/// The strip's own fields.
pub struct Strip {
    /// Where Export writes and Import reads.
    pub path: String,
    punch_s: (f64, f64),
    /// Whether `punch_s` has been filled from the stored settings.
    punch_shown: bool,
    marker_label: String,
    /// Whether the editor's session view holds recorded moves the state
    /// does not (re-read from the state when recording ends).
    pub(crate) view_recorded: bool,
}

impl Default for Strip {
    fn default() -> Self {
        Self { path: "timeline.json".to_string(), punch_s: (0.0, 8.0), punch_shown: false, marker_label: String::new(), view_recorded: false }
    }
}

/// The record mode the host parameter holds: 0 off, 1 record, 2 overdub.
fn set_record(ed: &MamEditor, mode: i32) {
    let param = &ed.shared.params.timeline_record;
    match &ed.gui {
        Some(gui) => {
            let setter = gui.param_setter();
            setter.begin_set_parameter(param);
            setter.set_parameter(param, mode);
            setter.end_set_parameter(param);
        }
        None => {
            // SAFETY: the value is atomic; the format layer sets parameters
            // from any thread the same way (ParamEntry::set_normalized).
            unsafe { param._internal_set_normalized_value(mode.clamp(0, 2) as f32 / 2.0) };
        }
    }
}

/// Sends a pad action to the audio thread with its scene's quantize.
pub(crate) fn trigger(ed: &MamEditor, action: PadAction) -> bool {
    let quantize = match action {
        PadAction::Scene(n) | PadAction::Push(n) => {
            ed.session.scenes.get(n.wrapping_sub(1)).and_then(|s| s.quantize).unwrap_or(ed.session.scene_quantize)
        }
        PadAction::Pop => Quantize::None,
    };
    ed.shared.recorder.trigger(PadRequest { action, quantize })
}

/// Records an editor edit's value moves while the timeline records; returns
/// whether it did (the edit then stays out of the session).
pub(crate) fn record_moves(ed: &mut MamEditor, edited: &mam_core::session::Session) -> bool {
    if !is_recording(&ed.shared.params, &ed.shared.recorder.live) {
        return false;
    }
    let Some(moves) = crate::timeline::recordable_moves(&ed.session, edited) else { return false };
    if !ed.shared.recorder.record_sets(&ed.shared.params, &moves) {
        return false;
    }
    ed.strip.view_recorded = true;
    let names: Vec<&str> = moves.iter().map(|(p, _)| p.as_str()).collect();
    ed.status = Some(Status::Info(format!("recorded {}", names.join(", "))));
    true
}

/// Writes the timeline as timeline JSON (the format `mam render --timeline` reads).
pub(crate) fn export(ed: &mut MamEditor) {
    let path = ed.strip.path.trim().to_string();
    let text = save::to_string(&ed.shared.params.timeline.timeline());
    ed.status = Some(match std::fs::write(&path, text) {
        Ok(()) => Status::Info(format!("timeline exported to {path}")),
        Err(e) => Status::Error(format!("cannot write {path}: {e}")),
    });
}

/// Reads timeline JSON, checked against the session; errors are listed with
/// their JSON paths and the running timeline is untouched.
pub(crate) fn import(ed: &mut MamEditor) {
    let path = ed.strip.path.trim().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            ed.status = Some(Status::Error(format!("cannot read {path}: {e}")));
            return;
        }
    };
    match load_str(&text, &ed.session) {
        Ok(loaded) => {
            let (events, warnings) = (loaded.timeline.num_events(), loaded.warnings.len());
            ed.shared.params.timeline.replace(loaded.timeline);
            ed.status = Some(Status::Info(format!("timeline imported from {path}: {events} events ({warnings} warnings)")));
        }
        Err(e) => {
            let errors: Vec<String> = e.errors.iter().map(|d| format!("{}: {}", d.path, d.message)).collect();
            ed.status = Some(Status::Error(format!("{path} not imported, the running timeline is untouched: {}", errors.join("; "))));
        }
    }
}

fn seconds(t: i64, rate: u32) -> String {
    format!("{:.3} s", t as f64 / rate.max(1) as f64)
}

/// The strip (a bottom panel).
pub(crate) fn strip(ed: &mut MamEditor, ui: &mut egui::Ui) {
    let params = ed.shared.params.clone();
    let live = ed.shared.recorder.live.clone();
    let rate = live.sample_rate.load(Ordering::Relaxed);
    let mode = params.timeline_record.value();
    let recording = is_recording(&params, &live);
    if !recording && ed.strip.view_recorded && !ed.shared.recorder.in_pass() {
        // Recorded moves live in the timeline, not in the session.
        ed.strip.view_recorded = false;
        ed.resync_session();
    }
    let mut settings = params.timeline.settings();
    if let (Some((a, b)), false) = (settings.punch, ed.strip.punch_shown) {
        // A restored punch range shows in the fields.
        ed.strip.punch_s = (a as f64 / rate.max(1) as f64, b as f64 / rate.max(1) as f64);
    }
    ed.strip.punch_shown = true;
    let timeline = params.timeline.timeline();
    ui.horizontal_wrapped(|ui| {
        ui.strong("Timeline");
        for (value, name, tip) in [(0, "Off", "not recording"), (1, "Record", "record; the scenes lane is replaced where it records"), (2, "Overdub", "record; layered over what the scenes lane holds")] {
            if ui.selectable_label(mode == value, name).on_hover_text(tip).clicked() {
                set_record(ed, value);
            }
        }
        if recording {
            ui.colored_label(egui::Color32::from_rgb(230, 60, 60), "● REC");
        }
        ui.checkbox(&mut settings.play, "Play").on_hover_text("play the timeline with the host's transport; off, it is kept but not played, and editor moves are session edits, not recorded");
        egui::ComboBox::from_id_salt("param mode").selected_text(settings.param_mode.name()).width(70.0).show_ui(ui, |ui| {
            for m in ParamMode::ALL {
                ui.selectable_value(&mut settings.param_mode, m, m.name());
            }
        });
        ui.checkbox(&mut settings.loop_passes, "Loop").on_hover_text("keep recording through the host's loop, a pass per lap");
        let mut punch = settings.punch.is_some();
        ui.checkbox(&mut punch, "Punch");
        ui.add(egui::DragValue::new(&mut ed.strip.punch_s.0).speed(0.1).range(0.0..=86_400.0).suffix(" s in"));
        ui.add(egui::DragValue::new(&mut ed.strip.punch_s.1).speed(0.1).range(0.0..=86_400.0).suffix(" s out"));
        settings.punch = punch.then_some(((ed.strip.punch_s.0 * rate as f64) as u64, (ed.strip.punch_s.1 * rate as f64) as u64));
        ui.label(match live.position() {
            Some(p) => seconds(p, rate),
            None => "no position".to_string(),
        });
        let dropped = live.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            ui.colored_label(egui::Color32::from_rgb(230, 170, 60), format!("{dropped} lost"));
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("Pads");
        let mut pad = None;
        for (i, scene) in ed.session.scenes.iter().enumerate() {
            if ui.button(format!("{} {}", i + 1, scene.name)).on_hover_text("recall (recorded)").clicked() {
                pad = Some(PadAction::Scene(i + 1));
            }
            if ui.small_button("hold").on_hover_text("push (recorded)").clicked() {
                pad = Some(PadAction::Push(i + 1));
            }
        }
        if ui.button("Session").clicked() {
            pad = Some(PadAction::Scene(0));
        }
        if ui.button("Pop").on_hover_text("back from the held scene (recorded)").clicked() {
            pad = Some(PadAction::Pop);
        }
        if let Some(action) = pad {
            if !trigger(ed, action) {
                ed.status = Some(Status::Error("the plugin is not running; the pad did nothing".into()));
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("Lanes ({} events):", timeline.num_events()));
        for lane in &timeline.lanes {
            ui.label(format!("{} {}", lane.id, lane.events.len()));
            let mut q = settings.lane_quantize.iter().position(|q| q.lane == lane.id);
            let mut chosen = q.map_or(Quantize::None, |i| settings.lane_quantize[i].quantize);
            egui::ComboBox::from_id_salt(("lane q", &lane.id)).selected_text(chosen.name()).width(50.0).show_ui(ui, |ui| {
                for k in Quantize::ALL {
                    ui.selectable_value(&mut chosen, k, k.name());
                }
            });
            match (q, chosen) {
                (Some(i), Quantize::None) => {
                    settings.lane_quantize.remove(i);
                    q = None;
                }
                (Some(i), k) => settings.lane_quantize[i].quantize = k,
                (None, Quantize::None) => {}
                (None, k) => {
                    settings.lane_quantize.push(LaneQuantize { lane: lane.id.clone(), quantize: k, window_ms: 50.0 });
                    q = Some(settings.lane_quantize.len() - 1);
                }
            }
            if let Some(i) = q {
                ui.add(egui::DragValue::new(&mut settings.lane_quantize[i].window_ms).range(0.0..=2000.0).suffix(" ms"));
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("Markers:");
        for m in &timeline.markers {
            ui.label(format!("{} {}", seconds(m.t as i64, timeline.sample_rate), m.label));
        }
        ui.add(egui::TextEdit::singleline(&mut ed.strip.marker_label).hint_text("label").desired_width(90.0));
        if ui.button("Add at playhead").clicked() {
            let t = live.position().unwrap_or(0).max(0) as u64;
            let mut edited = (*timeline).clone();
            if edited.num_events() == 0 && edited.markers.is_empty() {
                edited.sample_rate = rate;
            }
            let t = Timeline { sample_rate: rate, ..Timeline::empty(rate) }.sample_at(t, edited.sample_rate);
            edited.markers.push(Marker { t, label: ed.strip.marker_label.trim().to_string() });
            params.timeline.replace(edited);
        }
        if ui.button("Clear").on_hover_text("remove every lane and marker").clicked() {
            params.timeline.replace(Timeline::empty(rate));
        }
    });
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut ed.strip.path).desired_width(260.0));
        if ui.button("Export").on_hover_text("timeline JSON, as mam render --timeline reads it").clicked() {
            export(ed);
        }
        if ui.button("Import").on_hover_text("timeline JSON, checked against the session").clicked() {
            import(ed);
        }
    });
    params.timeline.set_settings(settings);
}

/// Runs a recording script (tests): `{ "record": 1 | 2, "punch": [in, out],
/// "paramMode": "write" | "touch" | "latch", "loopPasses": bool, "steps": [
/// { "at": sample, "scene" | "push": n } | { "at": sample, "pop": true } |
/// { "at": sample, "session": { … } } ], "export": "file.json" }` (a step may
/// name its `pass`, the lap of a host loop). Arms the
/// recorder, performs each step through the editor's own paths (pads, and
/// `MamEditor::apply` for a session) once the playhead has passed `at`,
/// then waits for the transport to stop, disarms, waits for the pass to be
/// merged, exports the timeline and writes `<script>.done`.
pub fn run_script(shared: ControlShared, path: &str) {
    let script: serde_json::Value = match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string())) {
        Ok(s) => s,
        Err(e) => {
            crate::log!("MAM Session: cannot read the timeline script {path}: {e}");
            return;
        }
    };
    let mut ed = MamEditor::new(shared);
    let mut settings = ed.shared.params.timeline.settings();
    if let Some(punch) = script["punch"].as_array() {
        settings.punch = Some((punch[0].as_u64().unwrap_or(0), punch[1].as_u64().unwrap_or(u64::MAX)));
    }
    if let Some(mode) = script["paramMode"].as_str() {
        settings.param_mode = ParamMode::ALL.into_iter().find(|m| m.name() == mode).unwrap_or(settings.param_mode);
    }
    if let Some(on) = script["loopPasses"].as_bool() {
        settings.loop_passes = on;
    }
    ed.shared.params.timeline.set_settings(settings);
    set_record(&ed, script["record"].as_i64().unwrap_or(1) as i32);
    let live = ed.shared.recorder.live.clone();
    let wait_for = |ok: &dyn Fn() -> bool, limit: Duration| {
        let start = std::time::Instant::now();
        while !ok() && start.elapsed() < limit {
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    let (mut pads, mut moves) = (0, 0);
    for step in script["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let at = step["at"].as_i64().unwrap_or(0);
        // `pass`: the lap of a host loop (the first pass is 1).
        let pass = step["pass"].as_u64().unwrap_or(0);
        wait_for(&|| live.pass.load(Ordering::Acquire) >= pass && live.position().is_some_and(|p| p >= at), Duration::from_secs(60));
        if let Some(n) = step["scene"].as_u64() {
            pads += usize::from(trigger(&ed, PadAction::Scene(n as usize)));
        } else if let Some(n) = step["push"].as_u64() {
            pads += usize::from(trigger(&ed, PadAction::Push(n as usize)));
        } else if step["pop"].as_bool() == Some(true) {
            pads += usize::from(trigger(&ed, PadAction::Pop));
        } else if let Some(session) = step.get("session") {
            if let Ok(loaded) = mam_core::session::load_str(&session.to_string()) {
                ed.status = None;
                ed.apply(loaded.session, "script move");
                moves += usize::from(matches!(&ed.status, Some(Status::Info(s)) if s.starts_with("recorded")));
            }
        }
    }
    wait_for(&|| !live.playing.load(Ordering::Acquire), Duration::from_secs(120));
    set_record(&ed, 0);
    wait_for(&|| !ed.shared.recorder.in_pass(), Duration::from_secs(10));
    // The merged timeline reaches the state before the export reads it.
    std::thread::sleep(Duration::from_millis(120));
    if let Some(out) = script["export"].as_str() {
        ed.strip.path = out.to_string();
        export(&mut ed);
    }
    let timeline = ed.shared.params.timeline.timeline();
    let report = serde_json::json!({ "pads": pads, "moves": moves, "events": timeline.num_events(), "dropped": live.dropped.load(Ordering::Relaxed) });
    let _ = std::fs::write(format!("{path}.done"), report.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::editor::tests::editor;

    #[test]
    fn an_import_with_errors_lists_them_with_json_paths_and_keeps_the_timeline_and_export_round_trips() {
        let (mut ed, _control) = editor();
        let dir = std::env::temp_dir();
        let path = dir.join(format!("mam-strip-import-{}.json", std::process::id()));
        let good = r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "scenes", "events": [ { "t": 10, "type": "pop" } ] } ], "markers": [ { "t": 0, "label": "Intro" } ] }"#;
        std::fs::write(&path, good).unwrap();
        ed.strip.path = path.display().to_string();
        import(&mut ed);
        assert!(matches!(&ed.status, Some(Status::Info(s)) if s.contains("1 events")), "{:?}", ed.status);
        let imported = ed.shared.params.timeline.timeline();
        assert_eq!(imported.markers[0].label, "Intro");

        let bad = r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "x", "events": [
            { "t": 5, "type": "set", "path": "nowhere.gainDb", "value": 0 }, { "t": 1, "type": "scene", "scene": 99 } ] } ] }"#;
        std::fs::write(&path, bad).unwrap();
        import(&mut ed);
        match &ed.status {
            Some(Status::Error(text)) => {
                assert!(text.contains("lanes[0].events[0].path") && text.contains("lanes[0].events[1]") && text.contains("untouched"), "{text}");
            }
            other => panic!("expected the errors, got {other:?}"),
        }
        assert_eq!(ed.shared.params.timeline.timeline(), imported, "the running timeline is untouched");

        let out = dir.join(format!("mam-strip-export-{}.json", std::process::id()));
        ed.strip.path = out.display().to_string();
        export(&mut ed);
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(load_str(&text, &ed.session).unwrap().timeline, *imported);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&out);
    }
}
