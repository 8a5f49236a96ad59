//! The Mappings panel: every controller mapping of the session (editable, removable) and learn — arm a target, move a control, the first input that moves is bound (docs/ARCHITECTURE.md §8.3).
//!
//! Learn reads what the audio thread and the OSC server saw last (the
//! input monitor's count and last MIDI input, the OSC server's count and
//! last address), polled once per frame while a target is armed. A learned
//! mapping, and every edit of the list, is a session edit: it goes through
//! [`MamEditor::apply`] like a routing change (validated, refused with the
//! reason, posted to the control thread, undoable).

use std::time::Duration;

use egui::{self, Color32};
use mam_core::insert::registry;
use mam_core::mapping::save::{describe_input, describe_target};
use mam_core::mapping::{Action, Curve, Encoding, Input, Mapping, Mode, Seen, Target, Transform, MAX_SMOOTH_MS};
use mam_core::session::{path, Session};

use super::{MamEditor, Status};

/// The range a learned level (a bus or source `gainDb`, a send) gets, in
/// dB: the controller's travel over the usable part of the −144 … +24 dB a
/// level path allows, so the middle of a fader is not −60 dB.
pub const LEARN_FLOOR_DB: f64 = -60.0;
pub const LEARN_TOP_DB: f64 = 6.0;

/// How often the editor looks for a moved control while a target is armed.
const LEARN_POLL: Duration = Duration::from_millis(16);

/// Learn as a pure state machine: which target is armed, and the input
/// counts at arming, so that only an input that moves after arming binds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Learn {
    armed: Option<Target>,
    /// The input monitor's count when armed (MIDI inputs seen so far).
    midi_since: u64,
    /// The OSC server's message count when armed.
    osc_since: u64,
}

impl Learn {
    /// Arms `target`; `counts` are the MIDI and OSC counts as they stand
    /// (what was seen before does not bind).
    pub fn arm(&mut self, target: Target, counts: (u64, u64)) {
        self.armed = Some(target);
        (self.midi_since, self.osc_since) = counts;
    }

    pub fn cancel(&mut self) {
        self.armed = None;
    }

    pub fn armed(&self) -> Option<&Target> {
        self.armed.as_ref()
    }

    /// Looks at the latest MIDI input (`InputMonitor::last`) and OSC
    /// address (`OscShared::last_seen`). If either count passed its value
    /// at arming, the armed target is bound to that input — MIDI first when
    /// both moved since the last look — with [`default_transform`], and learn
    /// disarms: a later input binds nothing.
    pub fn observe(&mut self, midi: (u64, Option<Seen>), osc: (u64, Option<String>)) -> Option<Mapping> {
        self.armed.as_ref()?;
        let mut input = None;
        if midi.0 > self.midi_since {
            self.midi_since = midi.0;
            input = midi.1.and_then(Seen::input);
        }
        if input.is_none() && osc.0 > self.osc_since {
            self.osc_since = osc.0;
            input = osc.1.map(|address| Input::Osc { address });
        }
        let input = input?;
        let target = self.armed.take()?;
        Some(Mapping { transform: default_transform(&input, &target), input, target })
    }
}

/// Whether `path` is a level in dB (a bus's or source's `gainDb`, a send);
/// insert parameters (`bus/insert.param`) are not.
fn is_level(path: &str) -> bool {
    !path.contains('/') && (path.ends_with(".gainDb") || path.contains(".send."))
}

/// The transform a learned mapping starts with: a level spans
/// [`LEARN_FLOOR_DB`] … [`LEARN_TOP_DB`]; a pad (note) on a mute, solo or
/// bypass toggles it; everything else takes the target's own range and
/// default mode (a press recalls, pushes or pops a scene).
pub fn default_transform(input: &Input, target: &Target) -> Transform {
    let mut t = Transform::default();
    let pad = matches!(input, Input::Note { .. });
    match target {
        Target::Path(p) if is_level(p) => (t.min, t.max) = (Some(LEARN_FLOOR_DB), Some(LEARN_TOP_DB)),
        Target::Path(p) if pad && [".mute", ".solo", ".bypass"].iter().any(|s| p.ends_with(s)) => t.mode = Some(Mode::Toggle),
        Target::Action(Action::Mute(_) | Action::Solo(_)) if pad => t.mode = Some(Mode::Toggle),
        _ => {}
    }
    t
}

/// Every target learn can arm in `session`, in the picker's order: each
/// bus's level, pan, sends and insert parameters (those scenes may move);
/// source levels and sends; mute and solo of each bus but the master;
/// scene recalls and pushes, pop, next and previous; the session's macros;
/// the timeline's record and play.
pub fn targets(session: &Session) -> Vec<Target> {
    let mut out = Vec::new();
    let mut add = |p: String| {
        if path::resolve(session, &p).is_ok() {
            out.push(Target::Path(p));
        }
    };
    for bus in &session.buses {
        add(format!("{}.gainDb", bus.id));
        add(format!("{}.pan", bus.id));
        for send in &bus.sends {
            add(format!("{}.send.{}", bus.id, send.to));
        }
        for insert in &bus.inserts {
            add(format!("{}/{}.bypass", bus.id, insert.id));
            for spec in registry::lookup(&insert.kind).map_or(&[][..], |ty| ty.params) {
                add(format!("{}/{}.{}", bus.id, insert.id, spec.id));
            }
        }
    }
    for rack in &session.racks {
        add(format!("{}.gainDb", rack.id));
        for send in &rack.sends {
            add(format!("{}.send.{}", rack.id, send.to));
        }
    }
    // Two sends to one bus share a path; list it once.
    out.dedup();
    for bus in session.buses.iter().filter(|b| !b.is_master()) {
        out.push(Target::Action(Action::Mute(bus.id.clone())));
        out.push(Target::Action(Action::Solo(bus.id.clone())));
    }
    out.extend((0..=session.scenes.len()).map(|n| Target::Action(Action::Scene(n))));
    out.extend((1..=session.scenes.len()).map(|n| Target::Action(Action::Push(n))));
    if !session.scenes.is_empty() {
        out.extend([Target::Action(Action::Pop), Target::Action(Action::SceneNext), Target::Action(Action::ScenePrev)]);
    }
    out.extend((1..=session.macros.len().min(mam_core::session::MAX_MACROS)).map(Target::Macro));
    out.extend([Target::Action(Action::Record), Target::Action(Action::Play)]);
    out
}

/// The range a mapping's `min` / `max` may take (the target's units), or
/// `None` for actions (they trigger; a range means nothing).
fn target_range(session: &Session, target: &Target) -> Option<(f64, f64)> {
    match target {
        Target::Path(p) => path::resolve(session, p).ok().map(|r| (r.min, r.max)),
        Target::Macro(_) => Some((0.0, 1.0)),
        Target::Action(_) => None,
    }
}

/// The modes the loader accepts for `input` on `target` (relative only
/// from a 7-bit CC to a value; no on and off for scene recalls and pop).
fn modes(input: &Input, target: &Target) -> Vec<Option<Mode>> {
    let mut out = vec![None, Some(Mode::Absolute)];
    if matches!(input, Input::Cc { lsb: None, .. }) && !matches!(target, Target::Action(_)) {
        out.extend([Some(Mode::Relative(Encoding::TwosComplement)), Some(Mode::Relative(Encoding::Offset64))]);
    }
    if !matches!(target, Target::Action(Action::Scene(_) | Action::SceneNext | Action::ScenePrev | Action::Pop)) {
        out.extend([Some(Mode::Toggle), Some(Mode::Momentary)]);
    }
    out
}

fn mode_name(mode: Option<Mode>, target: &Target) -> String {
    match mode {
        None => {
            let toggles = matches!(target, Target::Action(Action::Mute(_) | Action::Solo(_) | Action::Record | Action::Play));
            format!("default ({})", if toggles { "toggle" } else { "absolute" })
        }
        Some(Mode::Absolute) => "absolute".into(),
        Some(Mode::Relative(e)) => format!("relative {}", e.name()),
        Some(Mode::Toggle) => "toggle".into(),
        Some(Mode::Momentary) => "momentary".into(),
    }
}

fn curve_name(curve: Curve) -> String {
    match curve {
        Curve::Linear => "linear".into(),
        Curve::Exp => "exp".into(),
        Curve::Log => "log".into(),
        Curve::Power(k) => format!("power {k}"),
    }
}

/// The panel's own fields.
#[derive(Default)]
pub struct MappingsPanel {
    /// Whether the detail area shows the mappings (else the bus detail).
    pub(crate) shown: bool,
    pub(crate) learn: Learn,
    /// The target the picker holds.
    pick: Option<Target>,
    /// A row's transform while it is being edited: (mapping index, the
    /// transform the edit started from, as edited). A drag or a typed
    /// number lands in the session once, when released; a draft whose row
    /// changed underneath (undo, a host restore) is dropped.
    draft: Option<(usize, Transform, Transform)>,
}

/// Arms learn for `target` and shows the panel.
pub(crate) fn arm(ed: &mut MamEditor, target: Target) {
    let counts = (ed.shared.monitor.last().0, ed.shared.osc.last_seen().0);
    ed.status = Some(Status::Info(format!("learn {}: move a control (MIDI or OSC); Esc cancels", describe_target(&target))));
    ed.mappings.learn.arm(target, counts);
    ed.mappings.shown = true;
}

pub(crate) fn cancel(ed: &mut MamEditor) {
    if let Some(target) = ed.mappings.learn.armed() {
        ed.status = Some(Status::Info(format!("learn {} cancelled", describe_target(target))));
    }
    ed.mappings.learn.cancel();
}

/// One look for a moved control while armed; a bound mapping is appended
/// to the session's `mappings` and applied. Returns whether learn was armed.
pub(crate) fn learn_step(ed: &mut MamEditor) -> bool {
    if ed.mappings.learn.armed().is_none() {
        return false;
    }
    if let Some(mapping) = ed.mappings.learn.observe(ed.shared.monitor.last(), ed.shared.osc.last_seen()) {
        bind(ed, mapping);
    }
    true
}

fn bind(ed: &mut MamEditor, mapping: Mapping) {
    let what = format!("learned {} → {}", describe_input(&mapping.input), describe_target(&mapping.target));
    if ed.session.mappings.iter().any(|m| m.input == mapping.input && m.target == mapping.target) {
        ed.status = Some(Status::Info(format!("{what}: already mapped")));
        return;
    }
    let mut edited = ed.session.clone();
    edited.mappings.push(mapping);
    ed.apply(edited, &what);
}

/// Removes mapping `i` (a session edit).
pub(crate) fn remove(ed: &mut MamEditor, i: usize) {
    let mut edited = ed.session.clone();
    let removed = edited.mappings.remove(i);
    ed.mappings.draft = None;
    ed.apply(edited, &format!("mapping {} → {} removed", describe_input(&removed.input), describe_target(&removed.target)));
}

/// Sets mapping `i`'s transform (a session edit; refused with the reason
/// when the loader refuses it).
pub(crate) fn set_transform(ed: &mut MamEditor, i: usize, transform: Transform) {
    let mut edited = ed.session.clone();
    edited.mappings[i].transform = transform;
    let what = format!("mapping {} → {} changed", describe_input(&edited.mappings[i].input), describe_target(&edited.mappings[i].target));
    ed.mappings.draft = None;
    ed.apply(edited, &what);
}

/// Each frame, before the panels: while armed, Esc cancels, and otherwise
/// the latest inputs are looked at; the editor redraws soon to look again.
pub(crate) fn poll(ed: &mut MamEditor, ui: &mut egui::Ui) {
    if ed.mappings.learn.armed().is_none() {
        return;
    }
    if ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape)) {
        cancel(ed);
        return;
    }
    if learn_step(ed) {
        ui.ctx().request_repaint_after(LEARN_POLL);
    }
}

/// A "Learn MIDI/OSC" context menu on `response` (a fader, pad or scene
/// button elsewhere in the editor): each entry arms its target.
pub(crate) fn learn_menu(ed: &mut MamEditor, response: &egui::Response, entries: &[(&str, Target)]) {
    response.context_menu(|ui| {
        for (label, target) in entries {
            if ui.button(*label).clicked() {
                arm(ed, target.clone());
                ui.close();
            }
        }
    });
}

/// The detail area's tabs: the selected bus's routing and inserts, or the mappings.
pub(crate) fn tabs(ed: &mut MamEditor, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        if ui.selectable_label(!ed.mappings.shown, "Bus detail").clicked() {
            ed.mappings.shown = false;
        }
        if ui.selectable_label(ed.mappings.shown, format!("Mappings ({})", ed.session.mappings.len())).on_hover_text("MIDI and OSC controller mappings, learn").clicked() {
            ed.mappings.shown = true;
        }
        if let Some(target) = ed.mappings.learn.armed() {
            ui.colored_label(Color32::from_rgb(230, 170, 60), format!("learning {}: move a control", describe_target(target)));
        }
    });
    ui.separator();
}

/// The panel: learn (target picker, arm / cancel, the last input seen), the
/// OSC server setting, and one editable row per mapping.
pub(crate) fn panel(ed: &mut MamEditor, ui: &mut egui::Ui) {
    learn_bar(ed, ui);
    osc_settings(ed, ui);
    ui.separator();
    if ed.session.mappings.is_empty() {
        ui.label(egui::RichText::new("No mappings. Pick a target and press Learn, or right-click a fader, a mute or solo, a scene or a macro.").weak());
        return;
    }
    let mut commit = None;
    let mut removed = None;
    egui::ScrollArea::vertical().id_salt("mappings").show(ui, |ui| {
        egui::Grid::new("mapping list").num_columns(10).striped(true).show(ui, |ui| {
            for head in ["input", "target", "mode", "min", "max", "curve", "deadzone", "smooth", "invert", ""] {
                ui.label(egui::RichText::new(head).small().weak());
            }
            ui.end_row();
            for i in 0..ed.session.mappings.len() {
                let (done, transform, remove) = row(ed, ui, i);
                if remove {
                    removed = Some(i);
                } else if done && transform != ed.session.mappings[i].transform {
                    commit = Some((i, transform));
                } else if transform != ed.session.mappings[i].transform {
                    ed.mappings.draft = Some((i, ed.session.mappings[i].transform.clone(), transform));
                }
                ui.end_row();
            }
        });
    });
    if let Some(i) = removed {
        remove(ed, i);
    } else if let Some((i, transform)) = commit {
        set_transform(ed, i, transform);
    }
}

/// Whether an edit of a number field is finished: released, left, or a
/// click or step that was no drag.
fn settled(r: &egui::Response) -> bool {
    r.drag_stopped() || r.lost_focus() || (r.changed() && !r.dragged() && !r.has_focus())
}

/// One mapping's row. Returns (the edit is finished, the transform as
/// edited, remove was pressed).
fn row(ed: &mut MamEditor, ui: &mut egui::Ui, i: usize) -> (bool, Transform, bool) {
    let m = &ed.session.mappings[i];
    let mut t = match &ed.mappings.draft {
        Some((j, base, t)) if *j == i && *base == m.transform => t.clone(),
        _ => m.transform.clone(),
    };
    let mut done = false;
    ui.label(describe_input(&m.input));
    ui.label(describe_target(&m.target));
    let mut mode = t.mode;
    egui::ComboBox::from_id_salt(("mapping mode", i)).selected_text(mode_name(mode, &m.target)).width(120.0).show_ui(ui, |ui| {
        for option in modes(&m.input, &m.target) {
            ui.selectable_value(&mut mode, option, mode_name(option, &m.target));
        }
    });
    if mode != t.mode {
        t.mode = mode;
        done = true;
    }
    match target_range(&ed.session, &m.target) {
        Some((lo, hi)) => {
            let speed = (hi - lo) / 300.0;
            for (value, default) in [(&mut t.min, lo), (&mut t.max, hi)] {
                let mut x = value.unwrap_or(default);
                let r = ui.add(egui::DragValue::new(&mut x).range(lo..=hi).speed(speed).max_decimals(2));
                if r.changed() {
                    *value = Some(x);
                }
                done |= settled(&r);
            }
            let mut curve = t.curve;
            egui::ComboBox::from_id_salt(("mapping curve", i)).selected_text(curve_name(curve)).width(70.0).show_ui(ui, |ui| {
                for option in [Curve::Linear, Curve::Exp, Curve::Log] {
                    ui.selectable_value(&mut curve, option, curve_name(option));
                }
            });
            if curve != t.curve {
                t.curve = curve;
                done = true;
            }
            let r = ui.add(egui::DragValue::new(&mut t.deadzone).range(0.0..=0.45).speed(0.002).max_decimals(3));
            done |= settled(&r);
        }
        None => {
            for _ in 0..4 {
                ui.label(egui::RichText::new("—").weak());
            }
        }
    }
    let r = ui.add(egui::DragValue::new(&mut t.smooth_ms).range(0.0..=MAX_SMOOTH_MS).speed(0.5).max_decimals(1).suffix(" ms"));
    done |= settled(&r);
    done |= ui.checkbox(&mut t.invert, "").changed();
    let remove = ui.small_button("x").on_hover_text("remove this mapping").clicked();
    (done, t, remove)
}

fn learn_bar(ed: &mut MamEditor, ui: &mut egui::Ui) {
    let all = targets(&ed.session);
    if ed.mappings.pick.as_ref().is_none_or(|p| !all.contains(p)) {
        ed.mappings.pick = all.first().cloned();
    }
    ui.horizontal(|ui| {
        ui.label("learn");
        let shown = ed.mappings.pick.as_ref().map(describe_target).unwrap_or_default();
        egui::ComboBox::from_id_salt("learn target").selected_text(shown).width(200.0).height(400.0).show_ui(ui, |ui| {
            for target in &all {
                ui.selectable_value(&mut ed.mappings.pick, Some(target.clone()), describe_target(target));
            }
        });
        match ed.mappings.learn.armed().cloned() {
            Some(target) => {
                ui.colored_label(Color32::from_rgb(230, 170, 60), format!("move a control for {}", describe_target(&target)));
                if ui.button("Cancel").on_hover_text("Esc").clicked() {
                    cancel(ed);
                }
            }
            None => {
                if let Some(target) = ed.mappings.pick.clone() {
                    if ui.button("Learn").on_hover_text("then move a fader, knob or pad on the controller (or send OSC)").clicked() {
                        arm(ed, target);
                    }
                }
            }
        }
        ui.separator();
        let midi = ed.shared.monitor.last().1.and_then(Seen::input).map(|i| describe_input(&i));
        let osc = ed.shared.osc.last_seen().1;
        ui.label(egui::RichText::new(format!("last MIDI: {}   last OSC: {}", midi.as_deref().unwrap_or("none"), osc.as_deref().unwrap_or("none"))).small().weak());
    });
}

/// The session's OSC server setting (`osc`: enabled, port on 127.0.0.1).
fn osc_settings(ed: &mut MamEditor, ui: &mut egui::Ui) {
    let mut osc = ed.session.osc;
    let mut done = false;
    ui.horizontal(|ui| {
        done |= ui.checkbox(&mut osc.enabled, "OSC server").on_hover_text("listens on 127.0.0.1 (UDP)").changed();
        ui.label("port");
        let r = ui.add(egui::DragValue::new(&mut osc.port).range(1024..=65535).speed(1.0));
        done |= settled(&r);
        ui.label(egui::RichText::new(osc_line(&ed.shared.osc.status(), &ed.shared.osc.stats())).small().weak());
    });
    if done && osc != ed.session.osc {
        let mut edited = ed.session.clone();
        edited.osc = osc;
        let what = if osc.enabled { format!("OSC on port {}", osc.port) } else { "OSC off".to_string() };
        ed.apply(edited, &what);
    }
}

/// What the OSC server is doing, in one line: listening or why not, and
/// what it received, applied and dropped.
fn osc_line(status: &crate::osc::OscStatus, stats: &crate::osc::OscStats) -> String {
    use crate::osc::OscStatus;
    let state = match status {
        OscStatus::Off => return "off".to_string(),
        OscStatus::Listening(port) => format!("listening on 127.0.0.1:{port}"),
        OscStatus::Failed { port, error } => return format!("cannot listen on {port}: {error}"),
    };
    let dropped = stats.malformed + stats.oversized + stats.no_numeric + stats.queue_full;
    format!("{state} · {} packets, {} applied, {dropped} dropped, {} sent back", stats.received, stats.queued, stats.feedback_sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::wait_handled;
    use crate::editor::tests::editor;
    use mam_core::session::load_str;

    #[test]
    fn the_osc_line_says_where_it_listens_and_what_it_dropped() {
        use crate::osc::{OscStats, OscStatus};
        let stats = OscStats { received: 10, queued: 6, malformed: 1, oversized: 1, no_numeric: 1, queue_full: 1, feedback_sent: 3, feedback_full: 0 };
        assert_eq!(osc_line(&OscStatus::Listening(9000), &stats), "listening on 127.0.0.1:9000 · 10 packets, 6 applied, 4 dropped, 3 sent back");
        assert_eq!(osc_line(&OscStatus::Off, &stats), "off");
        let failed = OscStatus::Failed { port: 9000, error: "Address already in use".into() };
        assert_eq!(osc_line(&failed, &stats), "cannot listen on 9000: Address already in use");
    }

    const CC7: Seen = Seen { kind: 1, channel: 1, number: 7 };
    const NOTE36: Seen = Seen { kind: 2, channel: 10, number: 36 };

    fn gain(bus: &str) -> Target {
        Target::Path(format!("{bus}.gainDb"))
    }

    #[test]
    fn learn_binds_the_first_input_that_moves_after_arming() {
        let mut learn = Learn::default();
        // Unarmed: inputs bind nothing.
        assert_eq!(learn.observe((3, Some(CC7)), (0, None)), None);
        // CC 7 was seen three times before arming.
        learn.arm(gain("music"), (3, 0));
        assert_eq!(learn.observe((3, Some(CC7)), (0, None)), None, "an input seen before arming does not bind");
        assert_eq!(learn.armed(), Some(&gain("music")));
        // The note moves next: it binds, not the CC seen before.
        let bound = learn.observe((4, Some(NOTE36)), (0, None)).expect("the first input after arming binds");
        assert_eq!(bound.input, Input::Note { channel: 10, note: 36, gate: false });
        assert_eq!(bound.target, gain("music"));
        assert_eq!(learn.armed(), None);
        // A second input after binding does not rebind.
        assert_eq!(learn.observe((5, Some(CC7)), (0, None)), None);
    }

    #[test]
    fn learn_binds_an_osc_address_and_midi_first_when_both_moved() {
        let mut learn = Learn::default();
        learn.arm(Target::Macro(1), (0, 9));
        assert_eq!(learn.observe((0, None), (9, Some("/old".into()))), None, "the address seen before arming does not bind");
        let bound = learn.observe((0, None), (10, Some("/mam/fader/1".into()))).unwrap();
        assert_eq!(bound, Mapping { input: Input::Osc { address: "/mam/fader/1".into() }, transform: Transform::default(), target: Target::Macro(1) });
        learn.arm(Target::Macro(2), (0, 10));
        let bound = learn.observe((1, Some(CC7)), (11, Some("/x".into()))).unwrap();
        assert_eq!(bound.input, Input::Cc { channel: 1, cc: 7, lsb: None });
        learn.cancel();
        learn.arm(Target::Macro(2), (1, 11));
        learn.cancel();
        assert_eq!(learn.observe((2, Some(CC7)), (12, Some("/x".into()))), None, "a cancelled learn binds nothing");
    }

    #[test]
    fn default_transforms_fit_the_target() {
        let cc = Input::Cc { channel: 1, cc: 7, lsb: None };
        let pad = Input::Note { channel: 10, note: 36, gate: false };
        let fader = default_transform(&cc, &gain("music"));
        assert_eq!((fader.min, fader.max, fader.mode), (Some(-60.0), Some(6.0), None));
        let send = default_transform(&cc, &Target::Path("bed.send.verb".into()));
        assert_eq!((send.min, send.max), (Some(-60.0), Some(6.0)));
        // An insert's gain is in the insert's own range.
        let eq = default_transform(&cc, &Target::Path("bed/tilt.b1GainDb".into()));
        assert_eq!((eq.min, eq.max), (None, None));
        assert_eq!(default_transform(&pad, &Target::Action(Action::Mute("music".into()))).mode, Some(Mode::Toggle));
        assert_eq!(default_transform(&pad, &Target::Path("music/duck.bypass".into())).mode, Some(Mode::Toggle));
        // A scene pad triggers on a press (the default mode).
        assert_eq!(default_transform(&pad, &Target::Action(Action::Scene(2))), Transform::default());
    }

    /// Every target the picker offers, learned from a CC, a note or an OSC
    /// address with its default transform, is a mapping the loader takes.
    #[test]
    fn every_offered_target_learns_a_mapping_that_loads() {
        let session = load_str(include_str!("../../../examples/scenes.json")).unwrap().session;
        let offered = targets(&session);
        // bed: level, pan, send, the eq's bypass and parameters; scenes 0…2,
        // pushes 1…2; the macro.
        for expected in [gain("bed"), Target::Path("bed.send.verb".into()), Target::Path("bed/tilt.b1GainDb".into()), Target::Path("tone.gainDb".into())] {
            assert!(offered.contains(&expected), "{expected:?} offered");
        }
        for n in 0..=2 {
            assert!(offered.contains(&Target::Action(Action::Scene(n))));
        }
        assert!(offered.contains(&Target::Action(Action::Push(2))) && !offered.contains(&Target::Action(Action::Push(3))));
        assert!(offered.contains(&Target::Macro(1)) && !offered.contains(&Target::Macro(2)));
        assert!(!offered.contains(&Target::Action(Action::Mute("master".into()))), "the master has no mute pad");
        let inputs = [Input::Cc { channel: 1, cc: 7, lsb: None }, Input::Note { channel: 10, note: 36, gate: false }, Input::Osc { address: "/mam/1".into() }];
        for target in &offered {
            for input in &inputs {
                let mut edited = session.clone();
                edited.mappings = vec![Mapping { transform: default_transform(input, target), input: input.clone(), target: target.clone() }];
                let json = mam_core::session::save::to_string(&edited);
                let loaded = load_str(&json).unwrap_or_else(|e| panic!("{target:?} from {input:?}: {:?}", e.errors));
                assert_eq!(loaded.session.mappings, edited.mappings);
            }
        }
    }

    #[test]
    fn a_learned_mapping_lands_in_the_session_the_editor_posts() {
        let (mut ed, _control) = editor();
        // A CC moved before arming.
        ed.shared.monitor.saw(Seen { kind: 1, channel: 1, number: 1 });
        arm(&mut ed, gain("music"));
        assert!(learn_step(&mut ed), "armed");
        assert!(ed.session.mappings.is_empty(), "the CC moved before arming binds nothing");
        ed.shared.monitor.saw(CC7);
        assert!(learn_step(&mut ed));
        assert!(!learn_step(&mut ed), "disarmed once bound");
        // A CC after binding changes nothing.
        ed.shared.monitor.saw(Seen { kind: 1, channel: 2, number: 9 });
        learn_step(&mut ed);
        assert_eq!(ed.session.mappings.len(), 1, "one mapping learned");
        assert!(wait_handled(&ed.shared.status, 1, Duration::from_secs(10)), "the control thread takes the edit");
        let posted = load_str(&ed.shared.params.session.json()).expect("the posted session loads").session;
        let expected = Mapping {
            input: Input::Cc { channel: 1, cc: 7, lsb: None },
            transform: Transform { min: Some(-60.0), max: Some(6.0), ..Transform::default() },
            target: gain("music"),
        };
        assert_eq!(posted.mappings, vec![expected]);
        assert_eq!(ed.shared.status.refused(), 0);
    }

    fn with_mappings(ed: &mut MamEditor, mappings: Vec<Mapping>) {
        let mut edited = ed.session.clone();
        edited.mappings = mappings;
        let handled = ed.shared.status.handled();
        ed.apply(edited, "mappings");
        assert!(wait_handled(&ed.shared.status, handled + 1, Duration::from_secs(10)));
    }

    fn cc(n: u8, target: Target) -> Mapping {
        Mapping { input: Input::Cc { channel: 1, cc: n, lsb: None }, transform: Transform::default(), target }
    }

    #[test]
    fn removing_a_mapping_removes_exactly_it() {
        let (mut ed, _control) = editor();
        let three = vec![cc(1, gain("music")), cc(2, gain("key")), cc(3, Target::Path("music.pan".into()))];
        with_mappings(&mut ed, three.clone());
        remove(&mut ed, 1);
        assert!(wait_handled(&ed.shared.status, 2, Duration::from_secs(10)));
        let posted = load_str(&ed.shared.params.session.json()).unwrap().session;
        assert_eq!(posted.mappings, vec![three[0].clone(), three[2].clone()]);
        assert_eq!(ed.session.mappings, posted.mappings);
    }

    #[test]
    fn a_transform_edit_lands_and_one_outside_the_range_is_refused_with_the_reason() {
        let (mut ed, _control) = editor();
        with_mappings(&mut ed, vec![cc(1, gain("music"))]);
        let edited = Transform { min: Some(-30.0), max: Some(0.0), smooth_ms: 50.0, invert: true, mode: Some(Mode::Relative(Encoding::Offset64)), ..Transform::default() };
        set_transform(&mut ed, 0, edited.clone());
        assert!(wait_handled(&ed.shared.status, 2, Duration::from_secs(10)));
        assert_eq!(load_str(&ed.shared.params.session.json()).unwrap().session.mappings[0].transform, edited);
        let before = ed.shared.params.session.json();
        // A level path goes to +24 dB at most.
        set_transform(&mut ed, 0, Transform { max: Some(30.0), ..edited.clone() });
        match &ed.status {
            Some(Status::Error(text)) => assert!(text.contains("outside") && text.contains("music.gainDb"), "{text}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(ed.shared.params.session.json(), before, "the running session is untouched");
        assert_eq!(ed.session.mappings[0].transform, edited);
    }

    #[test]
    fn learning_an_input_already_bound_to_the_target_adds_no_duplicate() {
        let (mut ed, _control) = editor();
        with_mappings(&mut ed, vec![cc(7, gain("music"))]);
        arm(&mut ed, gain("music"));
        ed.shared.monitor.saw(CC7);
        learn_step(&mut ed);
        assert_eq!(ed.session.mappings.len(), 1);
        assert!(matches!(&ed.status, Some(Status::Info(t)) if t.contains("already mapped")));
    }

    /// Runs one frame of the Mappings panel (as the editor draws it: poll,
    /// tabs, panel) headless in `ctx`, with `events`; returns the texts
    /// drawn, each with its centre.
    fn frame(ctx: &egui::Context, ed: &mut MamEditor, events: Vec<egui::Event>) -> Vec<(String, egui::Pos2)> {
        let input = egui::RawInput { events, screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1200.0, 400.0))), ..Default::default() };
        let mut output = ctx.run_ui(input, |ui| {
            poll(ed, ui);
            tabs(ed, ui);
            if ed.mappings.shown {
                panel(ed, ui);
            }
        });
        // No painter takes the font atlas here.
        output.textures_delta.clear();
        output
            .shapes
            .iter()
            .filter_map(|s| match &s.shape {
                egui::Shape::Text(t) => Some((t.galley.text().to_string(), t.pos + t.galley.rect.center().to_vec2())),
                _ => None,
            })
            .collect()
    }

    fn drawn(texts: &[(String, egui::Pos2)], text: &str) -> bool {
        texts.iter().any(|(t, _)| t == text)
    }

    #[test]
    fn the_panel_lists_each_mapping_and_esc_cancels_learn() {
        let (mut ed, _control) = editor();
        with_mappings(&mut ed, vec![cc(7, gain("music")), Mapping { input: Input::Osc { address: "/mam/mute".into() }, transform: Transform::default(), target: Target::Action(Action::Mute("key".into())) }]);
        arm(&mut ed, gain("key"));
        let ctx = egui::Context::default();
        let texts = frame(&ctx, &mut ed, Vec::new());
        for expected in ["Mappings (2)", "CC 7 ch 1", "music.gainDb", "/mam/mute", "Mute key", "default (toggle)", "learning key.gainDb: move a control"] {
            assert!(drawn(&texts, expected), "'{expected}' drawn in {texts:?}");
        }
        let esc = egui::Event::Key { key: egui::Key::Escape, physical_key: None, pressed: true, repeat: false, modifiers: egui::Modifiers::NONE };
        let texts = frame(&ctx, &mut ed, vec![esc]);
        assert_eq!(ed.mappings.learn.armed(), None, "Esc disarms");
        assert!(!texts.iter().any(|(t, _)| t.starts_with("learning")));
    }

    #[test]
    fn clicking_a_rows_remove_button_removes_that_mapping() {
        let (mut ed, _control) = editor();
        let three = vec![cc(1, gain("music")), cc(2, gain("key")), cc(3, gain("key2"))];
        with_mappings(&mut ed, three.clone());
        ed.mappings.shown = true;
        let ctx = egui::Context::default();
        // Two frames for the grid to settle its column widths.
        frame(&ctx, &mut ed, Vec::new());
        let texts = frame(&ctx, &mut ed, Vec::new());
        // The remove buttons ("x"), top to bottom; the second row's.
        let mut buttons: Vec<egui::Pos2> = texts.iter().filter(|(t, _)| t == "x").map(|(_, p)| *p).collect();
        buttons.sort_by(|a, b| a.y.total_cmp(&b.y));
        assert_eq!(buttons.len(), 3, "one remove button per row");
        let at = buttons[1];
        let button = |pressed| egui::Event::PointerButton { pos: at, button: egui::PointerButton::Primary, pressed, modifiers: egui::Modifiers::NONE };
        frame(&ctx, &mut ed, vec![egui::Event::PointerMoved(at), button(true)]);
        frame(&ctx, &mut ed, vec![button(false)]);
        assert!(wait_handled(&ed.shared.status, 2, Duration::from_secs(10)), "the removal is posted");
        let posted = load_str(&ed.shared.params.session.json()).unwrap().session;
        assert_eq!(posted.mappings, vec![three[0].clone(), three[2].clone()]);
    }

    #[test]
    fn a_drag_on_a_number_lands_once_when_released() {
        let (mut ed, _control) = editor();
        with_mappings(&mut ed, vec![cc(1, gain("music"))]);
        ed.mappings.shown = true;
        let ctx = egui::Context::default();
        frame(&ctx, &mut ed, Vec::new());
        let texts = frame(&ctx, &mut ed, Vec::new());
        // The smoothing field shows the default 10 ms ("10.0" and its suffix).
        let at = texts.iter().find(|(t, _)| t == "10.0").map(|(_, p)| *p).unwrap_or_else(|| panic!("smoothing drawn in {texts:?}"));
        let undo_before = ed.undo.len();
        let button = |pos, pressed| egui::Event::PointerButton { pos, button: egui::PointerButton::Primary, pressed, modifiers: egui::Modifiers::NONE };
        frame(&ctx, &mut ed, vec![egui::Event::PointerMoved(at), button(at, true)]);
        for dx in [10.0, 20.0, 30.0, 40.0] {
            frame(&ctx, &mut ed, vec![egui::Event::PointerMoved(at + egui::vec2(dx, 0.0))]);
            assert_eq!(ed.undo.len(), undo_before, "nothing posted while dragging");
        }
        let shown = ed.mappings.draft.as_ref().map(|(_, _, t)| t.smooth_ms).expect("a draft while dragging");
        frame(&ctx, &mut ed, vec![button(at + egui::vec2(40.0, 0.0), false)]);
        assert_eq!(ed.undo.len(), undo_before + 1, "one edit on release");
        assert!(wait_handled(&ed.shared.status, 2, Duration::from_secs(10)));
        let posted = load_str(&ed.shared.params.session.json()).unwrap().session.mappings[0].transform.smooth_ms;
        println!("dragged 40 points: shown {shown} ms, posted {posted} ms");
        assert_eq!(posted, shown, "what was shown while dragging lands");
        // 40 points at 0.5 ms per point.
        assert_eq!(posted, 10.0 + 40.0 * 0.5);
    }
}
