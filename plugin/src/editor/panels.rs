//! The top bar (files, undo, status), the scenes panel, and the detail panel (routing, inserts and their parameters).

use mam_core::graph::controls::Armed;
use mam_core::insert::registry::{self, INSERT_TYPES};
use mam_core::insert::ParamKind;
use mam_core::mapping::{Action, Target};
use mam_core::session::capture::{capture_scene, HostStrip};
use mam_core::session::{InsertDesc, Level, ParamValue, RackKind, Scene, Send, Sidechain, Tap, Transition, MAX_SCENES};
use egui::{self, Color32};
use nice_plug_egui::widgets::ParamSlider;

use super::{ducker_view, mappings, mixer::fmt_db, MamEditor, Status};
use crate::params::MIN_TRIM_DB;

pub(crate) fn top_bar(ed: &mut MamEditor, ui: &mut egui::Ui) {
    egui::Panel::top("files").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.heading("MAM Session");
            ui.separator();
            ui.label("file");
            ui.add(egui::TextEdit::singleline(&mut ed.file_path).desired_width(220.0));
            if ui.button("Import").on_hover_text("load a session JSON; errors leave the running session untouched").clicked() {
                ed.import();
            }
            if ui.button("Export").on_hover_text("write the current session JSON").clicked() {
                ed.export();
            }
            ui.separator();
            if ui.button("Undo").on_hover_text("Ctrl+Z").clicked() {
                ed.undo();
            }
            let latency = ed.shared.engine.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|e| e.info().latency);
            if let Some(latency) = latency {
                ui.separator();
                ui.label(format!("latency {latency} samples"));
            }
        });
        match &ed.status {
            Some(Status::Info(text)) => {
                ui.label(text);
            }
            Some(Status::Error(text)) => {
                ui.colored_label(Color32::from_rgb(255, 110, 90), text);
            }
            None => {
                ui.label(egui::RichText::new("Drag a fader or use the arrow keys; click a bus name for its routing and inserts.").weak());
            }
        }
    });
}

pub(crate) fn scenes(ed: &mut MamEditor, ui: &mut egui::Ui) {
    ui.heading("Scenes");
    let params = ed.shared.params.clone();
    let Some(gui) = ed.gui.clone() else { return };
    let setter = gui.param_setter();
    let current = params.scene.value().max(0) as usize;
    // What the audio thread reports (atomics): a recall waiting for its
    // beat or bar, and how many held scenes are stacked.
    let status = ed.shared.engine.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|e| e.scene_status());
    let armed = status.as_ref().and_then(|s| s.armed());
    let mut recall = None;
    let mut delete = None;
    let mut renamed = None;
    egui::Grid::new("scene list").num_columns(3).striped(true).show(ui, |ui| {
        let session_button = ui.selectable_label(current == 0, "Session");
        if session_button.clicked() {
            recall = Some(0);
        }
        mappings::learn_menu(ed, &session_button, &[("Learn MIDI/OSC: recall", Target::Action(Action::Scene(0)))]);
        ui.label(egui::RichText::new("the file's own values").weak());
        ui.end_row();
        for i in 0..ed.session.scenes.len() {
            let waiting = matches!(armed, Some(Armed::Scene(n)) | Some(Armed::Push(n)) if n == i + 1);
            let label = if waiting { format!("{} armed", i + 1) } else { format!("{}", i + 1) };
            let button = ui.selectable_label(current == i + 1, label).on_hover_text("recall (on the scene's beat or bar while the host plays)");
            if button.clicked() {
                recall = Some(i + 1);
            }
            mappings::learn_menu(
                ed,
                &button,
                &[("Learn MIDI/OSC: recall", Target::Action(Action::Scene(i + 1))), ("Learn MIDI/OSC: push (hold)", Target::Action(Action::Push(i + 1)))],
            );
            if i < ed.rename.len() {
                let response = ui.add(egui::TextEdit::singleline(&mut ed.rename[i]).desired_width(120.0));
                if response.lost_focus() && ed.rename[i] != ed.session.scenes[i].name {
                    renamed = Some(i);
                }
            }
            if ui.small_button("x").on_hover_text("delete").clicked() {
                delete = Some(i);
            }
            ui.end_row();
        }
    });
    match (armed, status.as_ref().map_or(0, |s| s.stack_depth())) {
        (Some(Armed::Pop), _) => {
            ui.label(egui::RichText::new("armed: back from the held scene").color(Color32::from_rgb(230, 170, 60)));
        }
        (Some(Armed::Scene(n) | Armed::Push(n)), _) => {
            ui.label(egui::RichText::new(format!("armed: scene {n}, starts on its boundary")).color(Color32::from_rgb(230, 170, 60)));
        }
        (None, depth) if depth > 0 => {
            ui.label(egui::RichText::new(format!("holding {depth} scene(s); Scene Hold back to None returns")).weak());
        }
        _ => {}
    }
    if let Some(n) = recall {
        setter.begin_set_parameter(&params.scene);
        setter.set_parameter(&params.scene, n as i32);
        setter.end_set_parameter(&params.scene);
    }
    if let Some(i) = renamed {
        let mut edited = ed.session.clone();
        edited.scenes[i].name = ed.rename[i].trim().to_string();
        ed.apply(edited, "scene renamed");
    }
    if let Some(i) = delete {
        let mut edited = ed.session.clone();
        let name = edited.scenes.remove(i).name;
        ed.apply(edited, &format!("scene '{name}' deleted"));
    }
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut ed.new_scene_name).hint_text("new scene").desired_width(120.0));
        let room = ed.session.scenes.len() < MAX_SCENES;
        if ui.add_enabled(room, egui::Button::new("Store")).on_hover_text("store the whole mix as it plays: levels (fader trims folded in), pans, mutes, solos, bypasses, sends, source gains and insert parameters").clicked() {
            store_scene(ed);
        }
    });
    ui.separator();
    ui.label("Morph");
    ui.add(ParamSlider::for_param(&params.scene_morph_a, &setter).with_width(150.0));
    ui.add(ParamSlider::for_param(&params.scene_morph_b, &setter).with_width(150.0));
    ui.add(ParamSlider::for_param(&params.scene_morph, &setter).with_width(150.0));
    ui.label("Hold").on_hover_text("a held scene; back to None returns to the mix before it");
    ui.add(ParamSlider::for_param(&params.scene_hold, &setter).with_width(150.0));
    if !ed.session.macros.is_empty() {
        ui.separator();
        ui.label("Macros");
        let mut learn = None;
        for (i, m) in ed.session.macros.iter().enumerate().take(mam_core::session::MAX_MACROS) {
            ui.horizontal(|ui| {
                ui.label(&m.name);
                let slider = ui.add(ParamSlider::for_param(params.macro_param(i + 1), &setter).with_width(110.0));
                slider.context_menu(|ui| {
                    if ui.button("Learn MIDI/OSC").clicked() {
                        learn = Some(i + 1);
                        ui.close();
                    }
                });
            });
        }
        if let Some(n) = learn {
            mappings::arm(ed, Target::Macro(n));
        }
    }
}

/// Captures the mix as a new scene: every scene-addressable value
/// ([`mam_core::session::capture::capture_scene`]) — the recalled scene's
/// values (the held one during a hold) or the session's, with the host's
/// fader trims and pan offsets added and its mutes and solos folded in.
fn store_scene(ed: &mut MamEditor) {
    let params = ed.shared.params.clone();
    let slots = mam_core::session::slots::assign(&ed.session);
    // The engine knows the scene playing (a held scene included); before it
    // runs, the host's scene parameter says.
    let playing = ed.shared.engine.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|e| e.scene_status().current());
    let current = playing.unwrap_or(params.scene.value().max(0) as usize);
    let recalled = current.checked_sub(1).and_then(|i| ed.session.scenes.get(i));
    let trim_db = |db: f32| if db <= MIN_TRIM_DB { -144.0 } else { db as f64 };
    let host: Vec<HostStrip> = ed
        .session
        .buses
        .iter()
        .enumerate()
        .map(|(b, bus)| match if bus.is_master() { Some(0) } else { slots[b] } {
            Some(0) => HostStrip { trim_db: trim_db(params.master_gain.value()), ..HostStrip::default() },
            Some(n) => {
                let slot = params.slot(n);
                HostStrip { trim_db: trim_db(slot.gain.value()), pan: slot.pan.value() as f64, mute: slot.mute.value(), solo: slot.solo.value() }
            }
            None => HostStrip::default(),
        })
        .collect();
    let values = capture_scene(&ed.session, recalled, &host);
    let name = if ed.new_scene_name.trim().is_empty() { format!("Scene {}", ed.session.scenes.len() + 1) } else { ed.new_scene_name.trim().to_string() };
    let mut edited = ed.session.clone();
    edited.scenes.push(Scene { name: name.clone(), transition: Transition::Instant, quantize: None, values });
    ed.new_scene_name.clear();
    ed.apply(edited, &format!("scene '{name}' stored"));
}

/// Routing, sends and inserts of the selected bus, and the selected
/// insert's parameters (or the ducker display).
pub(crate) fn detail(ed: &mut MamEditor, ui: &mut egui::Ui) {
    let b = ed.selected_bus.min(ed.session.buses.len() - 1);
    let num_inserts = ed.session.buses[b].inserts.len();
    if ed.selected_insert.is_none_or(|i| i >= num_inserts) {
        ed.selected_insert = (num_inserts > 0).then_some(0);
    }
    ui.columns(3, |cols| {
        egui::ScrollArea::vertical().id_salt("routing").show(&mut cols[0], |ui| {
            routing(ed, ui, b);
            ui.separator();
            inserts(ed, ui, b);
        });
        if let Some(i) = ed.selected_insert {
            insert_params(ed, &mut cols[1], b, i);
            insert_display(ed, &mut cols[2], b, i);
        }
    });
}

fn routing(ed: &mut MamEditor, ui: &mut egui::Ui, b: usize) {
    let bus = ed.session.buses[b].clone();
    ui.label(egui::RichText::new(format!("Routing — {}", bus.id)).strong());
    // Inputs: sources routed here (with the host port they come from) and buses routed here.
    let mut inputs = Vec::new();
    let engine = ed.shared.engine.clone();
    for route in ed.session.routes.iter().filter(|r| r.to == bus.id) {
        let port = ed.session.rack(&route.from).map(|r| match &r.kind {
            RackKind::Input(p) => port_label(p),
            RackKind::Generator(_) => "generator".to_string(),
            RackKind::File(_) => "file (CLI only)".to_string(),
            RackKind::Unbound => "unbound".to_string(),
        });
        // Whether signal is arriving: the source's own meter (above −80 dBFS).
        let level = engine.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(|e| e.meter(&route.from)).map(|m| m.peak_hold[0].max(m.peak_hold[1]));
        let arriving = match level {
            Some(p) if p > 1e-4 => "signal",
            Some(_) => "silent",
            None => "inactive",
        };
        inputs.push(format!("{} (from {}, {arriving})", route.from, port.unwrap_or_default()));
    }
    for other in ed.session.buses.iter().filter(|o| o.route.as_deref() == Some(bus.id.as_str())) {
        inputs.push(format!("bus {}", other.id));
    }
    ui.label(format!("inputs: {}", if inputs.is_empty() { "none".to_string() } else { inputs.join(", ") }));
    let others: Vec<String> = ed.session.buses.iter().filter(|o| o.id != bus.id).map(|o| o.id.clone()).collect();
    if !bus.is_master() {
        let mut route = bus.route.clone().unwrap_or_default();
        egui::ComboBox::from_label("routes to").selected_text(&route).show_ui(ui, |ui| {
            for id in &others {
                ui.selectable_value(&mut route, id.clone(), id);
            }
        });
        if Some(&route) != bus.route.as_ref() {
            let mut edited = ed.session.clone();
            edited.buses[b].route = Some(route.clone());
            ed.apply(edited, &format!("{} now routes to {route}", bus.id));
        }
    }
    let mut edit: Option<(usize, Option<Send>)> = None;
    for (j, send) in bus.sends.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.label(format!("send → {}", send.to));
            let mut db = send.level.db().clamp(-60.0, 12.0) as f32;
            let r = ui.add(egui::Slider::new(&mut db, -60.0..=12.0).suffix(" dB").fixed_decimals(1));
            let mut tap = send.tap;
            egui::ComboBox::from_id_salt(("tap", j)).selected_text(tap.name()).width(60.0).show_ui(ui, |ui| {
                for t in [Tap::Post, Tap::Pre, Tap::PreFx] {
                    ui.selectable_value(&mut tap, t, t.name());
                }
            });
            let level = if db <= -60.0 { Level::Db(-144.0) } else { Level::Db(db as f64) };
            if (r.drag_stopped() || (r.changed() && !r.dragged())) || tap != send.tap {
                edit = Some((j, Some(Send { to: send.to.clone(), level, tap })));
            }
            if ui.small_button("x").clicked() {
                edit = Some((j, None));
            }
        });
    }
    let mut new_send = String::new();
    if !bus.is_master() {
        egui::ComboBox::from_label("add send").selected_text("…").show_ui(ui, |ui| {
            for id in &others {
                ui.selectable_value(&mut new_send, id.clone(), id);
            }
        });
    }
    if let Some((j, send)) = edit {
        let mut edited = ed.session.clone();
        match send {
            Some(s) => edited.buses[b].sends[j] = s,
            None => {
                edited.buses[b].sends.remove(j);
            }
        }
        ed.apply(edited, &format!("{} sends changed", bus.id));
    } else if !new_send.is_empty() {
        let mut edited = ed.session.clone();
        edited.buses[b].sends.push(Send { to: new_send.clone(), level: Level::Db(-12.0), tap: Tap::Post });
        ed.apply(edited, &format!("{} sends to {new_send}", bus.id));
    }
}

/// "Sidechain 1" for `sidechain1`, "Input" for `main`.
fn port_label(port: &str) -> String {
    match port {
        "main" => "Input".to_string(),
        p => match p.strip_prefix("sidechain") {
            Some(n) => format!("Sidechain {n}"),
            None => p.to_string(),
        },
    }
}

fn inserts(ed: &mut MamEditor, ui: &mut egui::Ui, b: usize) {
    let bus = ed.session.buses[b].clone();
    ui.label(egui::RichText::new(format!("Inserts — {}", bus.id)).strong());
    enum Edit {
        Bypass(usize),
        Up(usize),
        Remove(usize),
        Add(&'static str),
    }
    let mut edit = None;
    for (i, insert) in bus.inserts.iter().enumerate() {
        ui.horizontal(|ui| {
            if ui.selectable_label(ed.selected_insert == Some(i), format!("{} ({})", insert.id, insert.kind)).clicked() {
                ed.selected_insert = Some(i);
            }
            if ui.selectable_label(insert.bypass, "byp").clicked() {
                edit = Some(Edit::Bypass(i));
            }
            if i > 0 && ui.small_button("up").on_hover_text("move up").clicked() {
                edit = Some(Edit::Up(i));
            }
            if ui.small_button("x").on_hover_text("remove").clicked() {
                edit = Some(Edit::Remove(i));
            }
        });
    }
    egui::ComboBox::from_label("add insert").selected_text("…").show_ui(ui, |ui| {
        for ty in INSERT_TYPES {
            if ui.selectable_label(false, ty.name).on_hover_text(ty.doc).clicked() {
                edit = Some(Edit::Add(ty.name));
            }
        }
    });
    let Some(edit) = edit else { return };
    let mut edited = ed.session.clone();
    let chain = &mut edited.buses[b].inserts;
    let what = match edit {
        Edit::Bypass(i) => {
            chain[i].bypass = !chain[i].bypass;
            format!("{} bypass {}", chain[i].id, if chain[i].bypass { "on" } else { "off" })
        }
        Edit::Up(i) => {
            chain.swap(i - 1, i);
            ed.selected_insert = Some(i - 1);
            format!("{} moved up", chain[i - 1].id)
        }
        Edit::Remove(i) => {
            let removed = chain.remove(i);
            ed.selected_insert = None;
            format!("{} removed", removed.id)
        }
        Edit::Add(kind) => {
            let mut id = kind.to_string();
            let mut n = 2;
            while chain.iter().any(|x| x.id == id) {
                id = format!("{kind}{n}");
                n += 1;
            }
            // A ducker or compressor added to a bus is keyed by the first sidechain source, if any.
            let key = registry::lookup(kind).filter(|t| t.takes_key).and_then(|_| {
                ed.session.racks.iter().find(|r| matches!(&r.kind, RackKind::Input(p) if p.starts_with("sidechain"))).map(|r| r.id.clone())
            });
            chain.push(InsertDesc {
                id: id.clone(),
                kind: kind.to_string(),
                params: Default::default(),
                bypass: false,
                sidechains: key.into_iter().map(|from| Sidechain { id: "key".into(), from }).collect(),
            });
            ed.selected_insert = Some(chain.len() - 1);
            format!("{id} added")
        }
    };
    ed.apply(edited, &what);
}

/// The parameter table of one insert as sliders with units.
fn insert_params(ed: &mut MamEditor, ui: &mut egui::Ui, b: usize, i: usize) {
    let desc = ed.session.buses[b].inserts[i].clone();
    let Some(ty) = registry::lookup(&desc.kind) else { return };
    ui.label(egui::RichText::new(format!("{} — {}", desc.id, ty.doc)).strong());
    let mut changed: Option<(String, ParamValue)> = None;
    egui::ScrollArea::vertical().id_salt("params").show(ui, |ui| {
        egui::Grid::new(("params", b, i)).num_columns(2).show(ui, |ui| {
            for spec in ty.params {
                ui.label(spec.id).on_hover_text(spec.doc);
                let value = desc.params.get(spec.id);
                match spec.kind {
                    ParamKind::Float { min, max, default } => {
                        let mut x = match value {
                            Some(ParamValue::Number(x)) => *x,
                            _ => default,
                        };
                        let r = ui.add(egui::Slider::new(&mut x, min..=max).suffix(format!(" {}", spec.unit)).logarithmic(spec.unit == "Hz" || spec.unit == "Q"));
                        if r.drag_stopped() || (r.changed() && !r.dragged()) {
                            changed = Some((spec.id.to_string(), ParamValue::Number(x)));
                        }
                    }
                    ParamKind::Time { min_ms, max_ms, default_ms } => {
                        let mut x = match value {
                            Some(ParamValue::Number(x)) => *x,
                            _ => default_ms,
                        };
                        if let Some(ParamValue::Text(note)) = value {
                            ui.label(format!("{note} (tempo-synced)"));
                        } else {
                            let r = ui.add(egui::Slider::new(&mut x, min_ms..=max_ms).suffix(" ms"));
                            if r.drag_stopped() || (r.changed() && !r.dragged()) {
                                changed = Some((spec.id.to_string(), ParamValue::Number(x)));
                            }
                        }
                    }
                    ParamKind::Bool { default } => {
                        let mut on = match value {
                            Some(ParamValue::Bool(b)) => *b,
                            _ => default,
                        };
                        if ui.checkbox(&mut on, "").changed() {
                            changed = Some((spec.id.to_string(), ParamValue::Bool(on)));
                        }
                    }
                    ParamKind::Choice { options, default } => {
                        let mut chosen = match value {
                            Some(ParamValue::Text(t)) => t.clone(),
                            _ => options[default].to_string(),
                        };
                        let before = chosen.clone();
                        egui::ComboBox::from_id_salt(("choice", spec.id)).selected_text(&chosen).show_ui(ui, |ui| {
                            for o in options {
                                ui.selectable_value(&mut chosen, o.to_string(), *o);
                            }
                        });
                        if chosen != before {
                            changed = Some((spec.id.to_string(), ParamValue::Text(chosen)));
                        }
                    }
                    ParamKind::Discrete { values, default } => {
                        let mut x = match value {
                            Some(ParamValue::Number(x)) => *x,
                            _ => values[default],
                        };
                        let before = x;
                        egui::ComboBox::from_id_salt(("discrete", spec.id)).selected_text(format!("{x} {}", spec.unit)).show_ui(ui, |ui| {
                            for v in values {
                                ui.selectable_value(&mut x, *v, format!("{v}"));
                            }
                        });
                        if x != before {
                            changed = Some((spec.id.to_string(), ParamValue::Number(x)));
                        }
                    }
                }
                ui.end_row();
            }
        });
    });
    if let Some((id, value)) = changed {
        let mut edited = ed.session.clone();
        edited.buses[b].inserts[i].params.insert(id.clone(), value);
        ed.apply(edited, &format!("{}.{id} changed", desc.id));
    }
    if let Some(key) = desc.key_source() {
        ui.label(format!("keyed by {key}"));
    }
}

/// The live display of the selected insert, if it has one (the spectral ducker).
fn insert_display(ed: &mut MamEditor, ui: &mut egui::Ui, b: usize, i: usize) {
    let bus_id = ed.session.buses[b].id.clone();
    let desc = &ed.session.buses[b].inserts[i];
    if desc.kind != "spectral_ducker" {
        return;
    }
    ui.label(egui::RichText::new(format!("{} on {bus_id}: live", desc.id)).strong());
    let display = ed.shared.engine.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(|e| e.display(&bus_id, &desc.id));
    ducker_view::show(ui, display.and_then(|d| d.read()));
    let depth = desc.params.get("depthDb").and_then(|v| if let ParamValue::Number(x) = v { Some(*x) } else { None }).unwrap_or(12.0);
    ui.label(egui::RichText::new(format!("depth {} (before the host's depth trim)", fmt_db(-depth))).small().weak());
}
