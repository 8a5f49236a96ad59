//! Mixer strips: name, scene level, host fader trim, meter, pan, mute, solo, bypass, CPU; master loudness; the engine's CPU, worst call and overruns.

use mam_core::mapping::{Action, Target};
use mam_core::session::slots;
use crate::nice::*;
use egui::{self, Color32, Pos2, Rect, Sense, Stroke, Vec2};
use nice_plug_egui::widgets::ParamSlider;

use super::{mappings, MamEditor};
use crate::params::MIN_TRIM_DB;

const FADER_HEIGHT: f32 = 170.0;
/// Meter scale: −60 dBFS at the bottom, +6 at the top.
const METER_FLOOR_DB: f32 = -60.0;
const METER_TOP_DB: f32 = 6.0;

pub(crate) fn strips(ed: &mut MamEditor, ui: &mut egui::Ui) {
    // An inactive plugin has no telemetry: no CPU figures are shown.
    let telemetry = ed.shared.engine.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|e| e.telemetry());
    if let Some(t) = &telemetry {
        ui.label(egui::RichText::new(cpu_line(&t.process())).small()).on_hover_text(
            "the whole process call as a share of one core at real time; the worst call of the last second or two against its real-time length; calls that took longer than that (overruns)",
        );
    }
    let slots = slots::assign(&ed.session);
    // Buses in file order, the master last.
    let mut order: Vec<usize> = (0..ed.session.buses.len()).filter(|&b| !ed.session.buses[b].is_master()).collect();
    order.extend((0..ed.session.buses.len()).filter(|&b| ed.session.buses[b].is_master()));
    egui::ScrollArea::horizontal().show(ui, |ui| {
        ui.horizontal_top(|ui| {
            for b in order {
                let slot = if ed.session.buses[b].is_master() { Some(0) } else { slots[b] };
                ui.group(|ui| {
                    ui.set_width(118.0);
                    let cpu = telemetry.as_ref().and_then(|t| t.bus(&ed.session.buses[b].id)).map(|r| r.percent);
                    ui.vertical(|ui| strip(ed, ui, b, slot, cpu));
                });
            }
        });
    });
}

/// One strip; `cpu` is the bus's smoothed CPU share in percent, shown
/// beside its name (none while the plugin is inactive).
fn strip(ed: &mut MamEditor, ui: &mut egui::Ui, b: usize, slot: Option<usize>, cpu: Option<f32>) {
    let bus = ed.session.buses[b].clone();
    let selected = ed.selected_bus == b;
    ui.horizontal(|ui| {
        if ui.selectable_label(selected, egui::RichText::new(&bus.id).strong()).clicked() {
            ed.selected_bus = b;
            ed.selected_insert = None;
        }
        if let Some(cpu) = cpu {
            ui.label(egui::RichText::new(fmt_cpu(cpu)).small().weak())
                .on_hover_text("CPU of this bus (its inputs, inserts and strip): share of one core at real time, measured in sampled blocks");
        }
    });
    let scene_db = scene_level_db(ed, b);
    ui.label(egui::RichText::new(format!("scene {}", fmt_db(scene_db))).small()).on_hover_text("the level the session or the recalled scene gives this bus");
    let params = ed.shared.params.clone();
    let Some(gui) = ed.gui.clone() else { return };
    let setter = gui.param_setter();
    let fader_response = ui.horizontal(|ui| {
        let trim = match slot {
            Some(0) => Some(&params.master_gain),
            Some(n) => Some(&params.slot(n).gain),
            None => None,
        };
        let response = match trim {
            Some(param) => Some(fader(ui, param, &setter)),
            None => {
                ui.label("no slot");
                None
            }
        };
        // An inactive plugin shows empty meters.
        let reading = ed.shared.engine.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(|e| e.meter(&bus.id));
        meter(ui, &reading.unwrap_or(mam_core::meters::MeterReading { peak: [0.0; 2], peak_hold: [0.0; 2], rms: [0.0; 2] }));
        response
    });
    if let Some(response) = fader_response.inner {
        mappings::learn_menu(ed, &response, &[("Learn MIDI/OSC (scene level)", Target::Path(format!("{}.gainDb", bus.id)))]);
    }
    let trim = match slot {
        Some(0) => Some(&params.master_gain),
        Some(n) => Some(&params.slot(n).gain),
        None => None,
    };
    if let Some(trim) = trim {
        ui.label(egui::RichText::new(format!("trim {trim}")).small()).on_hover_text("the host fader: added to the scene level");
    }
    if let Some(n) = slot.filter(|&n| n > 0) {
        let p = params.slot(n);
        ui.add(ParamSlider::for_param(&p.pan, &setter).with_width(100.0));
        ui.horizontal(|ui| {
            let mute = toggle(ui, &p.mute, &setter, "M", Color32::from_rgb(200, 120, 40));
            mappings::learn_menu(ed, &mute, &[("Learn MIDI/OSC", Target::Action(Action::Mute(bus.id.clone())))]);
            let solo = toggle(ui, &p.solo, &setter, "S", Color32::from_rgb(220, 200, 40));
            mappings::learn_menu(ed, &solo, &[("Learn MIDI/OSC", Target::Action(Action::Solo(bus.id.clone())))]);
            if ui.selectable_label(bus.bypass, "Byp").on_hover_text("bypass the whole bus (a session edit)").clicked() {
                let mut edited = ed.session.clone();
                edited.buses[b].bypass = !bus.bypass;
                ed.apply(edited, &format!("{} bypass {}", bus.id, if bus.bypass { "off" } else { "on" }));
            }
        });
        ui.label(egui::RichText::new(format!("slot {n}")).small().weak());
    }
    if bus.is_master() {
        if let Some(l) = ed.loudness {
            ui.label(egui::RichText::new(format!("S {:.1} LUFS", l.short_term_lufs.max(-99.0))).small());
            ui.label(egui::RichText::new(format!("I {:.1} LUFS", l.integrated_lufs.max(-99.0))).small());
            ui.label(egui::RichText::new(format!("TP {}", fmt_db(20.0 * l.true_peak.max(1e-10).log10()))).small());
        }
    }
    let chain: Vec<String> = bus.inserts.iter().map(|i| if i.bypass { format!("({})", i.id) } else { i.id.clone() }).collect();
    if !chain.is_empty() {
        ui.label(egui::RichText::new(chain.join(" → ")).small().weak());
    }
}

/// The scene value of a bus's level: the recalled scene's if it sets one,
/// else the session's own.
fn scene_level_db(ed: &MamEditor, b: usize) -> f64 {
    let bus = &ed.session.buses[b];
    let scene = ed.shared.params.scene.value().max(0) as usize;
    let key = format!("{}.gainDb", bus.id);
    match scene.checked_sub(1).and_then(|i| ed.session.scenes.get(i)).and_then(|s| s.values.get(&key)) {
        Some(mam_core::session::ParamValue::Number(db)) => *db,
        _ => bus.gain.db(),
    }
}

/// A CPU share: two decimals below 1 %, one above.
pub(crate) fn fmt_cpu(percent: f32) -> String {
    if percent < 1.0 {
        format!("{percent:.2} %")
    } else {
        format!("{percent:.1} %")
    }
}

/// The engine's line: total CPU, the worst call against its deadline, overruns.
pub(crate) fn cpu_line(p: &mam_core::telemetry::ProcessReading) -> String {
    let ms = |ns: u64| ns as f64 * 1e-6;
    format!(
        "CPU {} · worst call {:.2} of {:.2} ms · {} overrun{}",
        fmt_cpu(p.total.percent),
        ms(p.worst_ns),
        ms(p.worst_deadline_ns),
        p.overruns,
        if p.overruns == 1 { "" } else { "s" }
    )
}

pub(crate) fn fmt_db(db: f64) -> String {
    if db <= -144.0 || !db.is_finite() {
        "-inf dB".to_string()
    } else {
        format!("{db:+.1} dB")
    }
}

/// A vertical fader bound to a host parameter: drag (with begin/end
/// gestures), double-click for the default, arrow keys nudge when focused.
fn fader(ui: &mut egui::Ui, param: &FloatParam, setter: &ParamSetter) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(Vec2::new(28.0, FADER_HEIGHT), Sense::click_and_drag());
    let response = response.on_hover_text(format!("fader trim {} (double-click: 0 dB)", param));
    if response.clicked() || response.drag_started() {
        response.request_focus();
    }
    if response.drag_started() {
        setter.begin_set_parameter(param);
    }
    if response.dragged() {
        if let Some(pos) = response.interact_pointer_pos() {
            let normalized = 1.0 - ((pos.y - rect.top()) / rect.height()).clamp(0.0, 1.0);
            setter.set_parameter_normalized(param, normalized);
        }
    }
    if response.drag_stopped() {
        setter.end_set_parameter(param);
    }
    if response.double_clicked() {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, param.default_plain_value());
        setter.end_set_parameter(param);
    }
    if response.has_focus() {
        let step = ui.input(|i| (i.key_pressed(egui::Key::ArrowUp) as i32 - i.key_pressed(egui::Key::ArrowDown) as i32) as f32);
        if step != 0.0 {
            setter.begin_set_parameter(param);
            setter.set_parameter(param, (param.value() + 0.5 * step).max(MIN_TRIM_DB));
            setter.end_set_parameter(param);
        }
    }
    let painter = ui.painter_at(rect);
    let track = Rect::from_center_size(rect.center(), Vec2::new(6.0, rect.height() - 8.0));
    painter.rect_filled(track, 3.0, Color32::from_gray(50));
    let y = rect.bottom() - 4.0 - param.unmodulated_normalized_value() * (rect.height() - 8.0);
    let zero_y = rect.bottom() - 4.0 - param.preview_normalized(0.0) * (rect.height() - 8.0);
    painter.line_segment([Pos2::new(rect.left() + 2.0, zero_y), Pos2::new(rect.right() - 2.0, zero_y)], Stroke::new(1.0, Color32::from_gray(90)));
    let color = if response.has_focus() { Color32::from_rgb(120, 180, 255) } else { Color32::from_gray(200) };
    painter.rect_filled(Rect::from_center_size(Pos2::new(rect.center().x, y), Vec2::new(24.0, 10.0)), 2.0, color);
    response
}

/// A toggle button bound to a host boolean parameter.
fn toggle(ui: &mut egui::Ui, param: &BoolParam, setter: &ParamSetter, label: &str, on: Color32) -> egui::Response {
    let value = param.value();
    let text = egui::RichText::new(label).color(if value { Color32::BLACK } else { ui.visuals().text_color() });
    let button = egui::Button::new(text).fill(if value { on } else { ui.visuals().widgets.inactive.bg_fill });
    let response = ui.add(button).on_hover_text(param.name());
    if response.clicked() {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, !value);
        setter.end_set_parameter(param);
    }
    response
}

fn meter_y(rect: Rect, level: f32) -> f32 {
    let db = if level > 0.0 { 20.0 * level.log10() } else { METER_FLOOR_DB };
    let t = ((db - METER_FLOOR_DB) / (METER_TOP_DB - METER_FLOOR_DB)).clamp(0.0, 1.0);
    rect.bottom() - t * rect.height()
}

/// Per channel: RMS bar, peak bar, peak-hold tick; a clip light above when
/// the held peak reached 0 dBFS; ticks every 12 dB.
fn meter(ui: &mut egui::Ui, reading: &mam_core::meters::MeterReading) {
    let (rect, response) = ui.allocate_exact_size(Vec2::new(34.0, FADER_HEIGHT), Sense::hover());
    let painter = ui.painter_at(rect);
    let bars = Rect::from_min_max(Pos2::new(rect.left() + 8.0, rect.top() + 10.0), Pos2::new(rect.right(), rect.bottom()));
    for db in [0.0f32, -12.0, -24.0, -36.0, -48.0] {
        let y = meter_y(bars, 10f32.powf(db / 20.0));
        painter.line_segment([Pos2::new(rect.left(), y), Pos2::new(rect.left() + 6.0, y)], Stroke::new(1.0, Color32::from_gray(110)));
    }
    let clipped = reading.peak_hold.iter().any(|&h| h >= 1.0);
    painter.rect_filled(
        Rect::from_min_size(Pos2::new(bars.left(), rect.top()), Vec2::new(bars.width(), 7.0)),
        1.0,
        if clipped { Color32::RED } else { Color32::from_gray(40) },
    );
    let w = bars.width() / 2.0;
    for ch in 0..2 {
        let x0 = bars.left() + ch as f32 * w + 1.0;
        let column = Rect::from_min_max(Pos2::new(x0, bars.top()), Pos2::new(x0 + w - 2.0, bars.bottom()));
        painter.rect_filled(column, 1.0, Color32::from_gray(30));
        let peak_y = meter_y(column, reading.peak[ch]);
        painter.rect_filled(Rect::from_min_max(Pos2::new(column.left(), peak_y), column.max), 1.0, Color32::from_rgb(40, 120, 60));
        let rms_y = meter_y(column, reading.rms[ch]);
        let rms_color = if reading.rms[ch] > 0.5 { Color32::from_rgb(230, 180, 40) } else { Color32::from_rgb(70, 200, 100) };
        painter.rect_filled(Rect::from_min_max(Pos2::new(column.left(), rms_y), column.max), 1.0, rms_color);
        let hold_y = meter_y(column, reading.peak_hold[ch]);
        painter.line_segment([Pos2::new(column.left(), hold_y), Pos2::new(column.right(), hold_y)], Stroke::new(2.0, Color32::WHITE));
    }
    let db = |x: f32| if x > 0.0 { format!("{:+.1}", 20.0 * x.log10()) } else { "-inf".into() };
    response.on_hover_text(format!(
        "peak {} / {} dB, hold {} / {} dB, RMS {} / {} dB{}",
        db(reading.peak[0]),
        db(reading.peak[1]),
        db(reading.peak_hold[0]),
        db(reading.peak_hold[1]),
        db(reading.rms[0]),
        db(reading.rms[1]),
        if clipped { " — clipped" } else { "" }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use mam_core::telemetry::{CpuReading, ProcessReading};

    #[test]
    fn the_cpu_line_shows_total_worst_call_against_its_deadline_and_overruns() {
        // 64 frames at 48 kHz: 1.333 ms; a worst call of 0.21 ms.
        let p = ProcessReading {
            total: CpuReading { percent: 3.12, ..Default::default() },
            worst_ns: 210_000,
            worst_deadline_ns: 1_333_333,
            overruns: 2,
            ..Default::default()
        };
        assert_eq!(cpu_line(&p), "CPU 3.1 % · worst call 0.21 of 1.33 ms · 2 overruns");
        let one = ProcessReading { overruns: 1, total: CpuReading { percent: 0.046, ..Default::default() }, ..p };
        assert_eq!(cpu_line(&one), "CPU 0.05 % · worst call 0.21 of 1.33 ms · 1 overrun");
    }
}
