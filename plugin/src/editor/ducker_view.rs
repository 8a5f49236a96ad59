//! The spectral ducker's live display: key and program spectra and the gain-reduction curve on a log-frequency axis.

use mam_core::meters::SpectrumSnapshot;
use egui::{self, Color32, Pos2, Rect, Sense, Stroke, Vec2};

const LOW_HZ: f32 = 20.0;
const HIGH_HZ: f32 = 20_000.0;
/// Spectrum scale in dBFS, and the reduction scale in dB (drawn downwards).
const SPECTRUM_FLOOR_DB: f32 = -100.0;
const SPECTRUM_TOP_DB: f32 = 0.0;
const REDUCTION_RANGE_DB: f32 = 24.0;

fn x_of(rect: Rect, hz: f32) -> f32 {
    let t = (hz.max(LOW_HZ) / LOW_HZ).ln() / (HIGH_HZ / LOW_HZ).ln();
    rect.left() + t.clamp(0.0, 1.0) * rect.width()
}

pub(crate) fn show(ui: &mut egui::Ui, snapshot: Option<SpectrumSnapshot>) {
    let size = Vec2::new(ui.available_width().max(200.0), ui.available_height().clamp(120.0, 260.0));
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, Color32::from_gray(22));
    for hz in [50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0] {
        let x = x_of(rect, hz);
        painter.line_segment([Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())], Stroke::new(1.0, Color32::from_gray(45)));
        let label = if hz >= 1000.0 { format!("{}k", hz / 1000.0) } else { format!("{hz}") };
        painter.text(Pos2::new(x + 2.0, rect.bottom() - 2.0), egui::Align2::LEFT_BOTTOM, label, egui::FontId::proportional(9.0), Color32::from_gray(120));
    }
    let Some(s) = snapshot.filter(|s| s.version > 0) else {
        painter.text(rect.center(), egui::Align2::CENTER_CENTER, "waiting for audio", egui::FontId::proportional(14.0), Color32::from_gray(150));
        return;
    };
    let spectrum_y = |db: f32| {
        let t = ((db - SPECTRUM_FLOOR_DB) / (SPECTRUM_TOP_DB - SPECTRUM_FLOOR_DB)).clamp(0.0, 1.0);
        rect.bottom() - t * rect.height()
    };
    let line = |values: &[f32], y: &dyn Fn(f32) -> f32| -> Vec<Pos2> {
        values.iter().enumerate().skip(1).map(|(k, &v)| Pos2::new(x_of(rect, k as f32 * s.bin_hz), y(v))).filter(|p| p.x > rect.left()).collect()
    };
    painter.add(egui::Shape::line(line(&s.program_db, &spectrum_y), Stroke::new(1.0, Color32::from_gray(160))));
    painter.add(egui::Shape::line(line(&s.key_db, &spectrum_y), Stroke::new(1.5, Color32::from_rgb(240, 150, 40))));
    let reduction_y = |db: f32| rect.top() + (db / REDUCTION_RANGE_DB).clamp(0.0, 1.0) * rect.height();
    painter.add(egui::Shape::line(line(&s.reduction_db, &reduction_y), Stroke::new(2.0, Color32::from_rgb(80, 170, 255))));
    let legend = [("program", Color32::from_gray(160)), ("key", Color32::from_rgb(240, 150, 40)), ("reduction (0–24 dB, down)", Color32::from_rgb(80, 170, 255))];
    for (i, (name, color)) in legend.iter().enumerate() {
        painter.text(Pos2::new(rect.left() + 6.0, rect.top() + 4.0 + 12.0 * i as f32), egui::Align2::LEFT_TOP, *name, egui::FontId::proportional(10.0), *color);
    }
    if !s.key_present {
        painter.text(rect.center(), egui::Align2::CENTER_CENTER, "no key — nothing is ducked", egui::FontId::proportional(16.0), Color32::from_rgb(230, 200, 80));
    }
}
