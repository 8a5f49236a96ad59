//! The spectral ducker's live display: key and program levels and the gain reduction on a log-frequency axis, per STFT bin or per filterbank band.

use mam_core::meters::SpectrumSnapshot;
use egui::{self, Color32, Pos2, Rect, Sense, Stroke, Vec2};

const LOW_HZ: f32 = 20.0;
const HIGH_HZ: f32 = 20_000.0;
/// Spectrum scale in dBFS, and the reduction scale in dB (drawn downwards).
const SPECTRUM_FLOOR_DB: f32 = -100.0;
const SPECTRUM_TOP_DB: f32 = 0.0;
const REDUCTION_RANGE_DB: f32 = 24.0;
/// Half the width of a band's bar when it has no neighbour to measure
/// against (a bank of one band; the ducker has at least 16).
const LONE_BAND_HALF_WIDTH_PX: f32 = 4.0;

const PROGRAM_COLOR: Color32 = Color32::from_gray(160);
const KEY_COLOR: Color32 = Color32::from_rgb(240, 150, 40);
const REDUCTION_COLOR: Color32 = Color32::from_rgb(80, 170, 255);

fn x_of(rect: Rect, hz: f32) -> f32 {
    let t = (hz.max(LOW_HZ) / LOW_HZ).ln() / (HIGH_HZ / LOW_HZ).ln();
    rect.left() + t.clamp(0.0, 1.0) * rect.width()
}

/// The horizontal extent `(left, right)` in pixels of each band's bar, for
/// band centres in Hz in rising order: a bar reaches halfway (on the
/// log-frequency axis) to each neighbouring centre, so neighbours touch and
/// never overlap; the outermost bars reach as far outwards as inwards. Bars
/// are clipped to `rect` (a band centred outside the axis keeps only what
/// lies inside, possibly nothing: `left == right`).
fn band_extents(rect: Rect, band_hz: &[f32]) -> Vec<(f32, f32)> {
    // Unclipped, so a centre beyond the axis still places its neighbours' edges.
    let x: Vec<f32> = band_hz.iter().map(|&hz| rect.left() + (hz.max(1e-3) / LOW_HZ).ln() / (HIGH_HZ / LOW_HZ).ln() * rect.width()).collect();
    let clip = |v: f32| v.clamp(rect.left(), rect.right());
    (0..x.len())
        .map(|i| {
            let left = if i > 0 { (x[i - 1] + x[i]) / 2.0 } else if x.len() > 1 { x[0] - (x[1] - x[0]) / 2.0 } else { x[0] - LONE_BAND_HALF_WIDTH_PX };
            let n = x.len() - 1;
            let right = if i < n { (x[i] + x[i + 1]) / 2.0 } else if n > 0 { x[n] + (x[n] - x[n - 1]) / 2.0 } else { x[0] + LONE_BAND_HALF_WIDTH_PX };
            (clip(left), clip(right))
        })
        .collect()
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
    let legend: Vec<(String, Color32)> = match &s.band_hz {
        Some(band_hz) => {
            draw_bands(&painter, rect, &s, band_hz);
            vec![
                (format!("filterbank, {} bands, 0 latency", band_hz.len()), Color32::from_gray(200)),
                ("program (grey bars)".into(), PROGRAM_COLOR),
                ("key (orange marks)".into(), KEY_COLOR),
                ("reduction (0–24 dB, bars from the top)".into(), REDUCTION_COLOR),
            ]
        }
        None => {
            draw_bins(&painter, rect, &s);
            vec![("program".into(), PROGRAM_COLOR), ("key".into(), KEY_COLOR), ("reduction (0–24 dB, down)".into(), REDUCTION_COLOR)]
        }
    };
    for (i, (name, color)) in legend.iter().enumerate() {
        painter.text(Pos2::new(rect.left() + 6.0, rect.top() + 4.0 + 12.0 * i as f32), egui::Align2::LEFT_TOP, name, egui::FontId::proportional(10.0), *color);
    }
    if !s.key_present {
        painter.text(rect.center(), egui::Align2::CENTER_CENTER, "no key — nothing is ducked", egui::FontId::proportional(16.0), Color32::from_rgb(230, 200, 80));
    }
}

fn spectrum_y(rect: Rect, db: f32) -> f32 {
    let t = ((db - SPECTRUM_FLOOR_DB) / (SPECTRUM_TOP_DB - SPECTRUM_FLOOR_DB)).clamp(0.0, 1.0);
    rect.bottom() - t * rect.height()
}

fn reduction_y(rect: Rect, db: f32) -> f32 {
    rect.top() + (db / REDUCTION_RANGE_DB).clamp(0.0, 1.0) * rect.height()
}

/// STFT mode: one point per uniform bin at `bin_hz`, drawn as lines.
fn draw_bins(painter: &egui::Painter, rect: Rect, s: &SpectrumSnapshot) {
    let line = |values: &[f32], y: &dyn Fn(f32) -> f32| -> Vec<Pos2> {
        values.iter().enumerate().skip(1).map(|(k, &v)| Pos2::new(x_of(rect, k as f32 * s.bin_hz), y(v))).filter(|p| p.x > rect.left()).collect()
    };
    painter.add(egui::Shape::line(line(&s.program_db, &|db| spectrum_y(rect, db)), Stroke::new(1.0, PROGRAM_COLOR)));
    painter.add(egui::Shape::line(line(&s.key_db, &|db| spectrum_y(rect, db)), Stroke::new(1.5, KEY_COLOR)));
    painter.add(egui::Shape::line(line(&s.reduction_db, &|db| reduction_y(rect, db)), Stroke::new(2.0, REDUCTION_COLOR)));
}

/// Filterbank mode: one bar per band, centred on `band_hz` (rising) and
/// reaching halfway to its neighbours: the program level as a bar from the
/// floor, the key level as a mark across the band, the reduction as a bar
/// hanging from the top.
fn draw_bands(painter: &egui::Painter, rect: Rect, s: &SpectrumSnapshot, band_hz: &[f32]) {
    let level = |values: &[f32], i: usize| values.get(i).copied().unwrap_or(f32::NEG_INFINITY);
    for (i, (left, right)) in band_extents(rect, band_hz).into_iter().enumerate() {
        if right - left < 0.5 {
            continue;
        }
        // A one-pixel gap between wide bars so neighbours stay apart.
        let (left, right) = if right - left > 3.0 { (left + 0.5, right - 0.5) } else { (left, right) };
        let program_top = spectrum_y(rect, level(&s.program_db, i));
        painter.rect_filled(Rect::from_x_y_ranges(left..=right, program_top..=rect.bottom()), 0.0, Color32::from_gray(70));
        painter.line_segment([Pos2::new(left, program_top), Pos2::new(right, program_top)], Stroke::new(1.0, PROGRAM_COLOR));
        let reduction_bottom = reduction_y(rect, s.reduction_db.get(i).copied().unwrap_or(0.0));
        if reduction_bottom > rect.top() {
            painter.rect_filled(Rect::from_x_y_ranges(left..=right, rect.top()..=reduction_bottom), 0.0, REDUCTION_COLOR.gamma_multiply(0.8));
        }
        let key_y = spectrum_y(rect, level(&s.key_db, i));
        if key_y < rect.bottom() {
            painter.line_segment([Pos2::new(left, key_y), Pos2::new(right, key_y)], Stroke::new(2.0, KEY_COLOR));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The axis spans 20 Hz … 20 kHz, three decades, over 300 px: 100 px per
    /// decade, so a centre at 20·10^d Hz sits at x = 100·d.
    fn axis() -> Rect {
        Rect::from_min_size(Pos2::ZERO, Vec2::new(300.0, 100.0))
    }

    fn assert_extents(got: &[(f32, f32)], want: &[(f32, f32)]) {
        // f32 logarithms of exact decades: well inside a thousandth of a pixel.
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g.0 - w.0).abs() < 1e-3 && (g.1 - w.1).abs() < 1e-3, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn bars_reach_halfway_to_their_neighbours_on_the_log_axis() {
        // 200 Hz, 20·10^1.5 Hz and 2 kHz sit at x = 100, 150 and 200: the
        // inner edges fall at 125 and 175, the outer ones 25 px outwards.
        let centres = [200.0, 20.0 * 10f32.powf(1.5), 2000.0];
        assert_extents(&band_extents(axis(), &centres), &[(75.0, 125.0), (125.0, 175.0), (175.0, 225.0)]);
    }

    #[test]
    fn unevenly_spaced_bands_meet_between_their_centres() {
        // x = 100 (200 Hz), 200 (2 kHz), 250 (20·10^2.5 Hz): edges at 150 and
        // 225; the first reaches 50 px outwards, the last 25 px.
        let centres = [200.0, 2000.0, 20.0 * 10f32.powf(2.5)];
        assert_extents(&band_extents(axis(), &centres), &[(50.0, 150.0), (150.0, 225.0), (225.0, 275.0)]);
    }

    #[test]
    fn bars_are_clipped_to_the_axis() {
        // x = 0 (20 Hz), 100 (200 Hz), 300 (20 kHz): the first would start at
        // −50 and the last end at 400; both stop at the axis.
        let centres = [20.0, 200.0, 20_000.0];
        assert_extents(&band_extents(axis(), &centres), &[(0.0, 50.0), (50.0, 200.0), (200.0, 300.0)]);
    }

    #[test]
    fn an_offset_axis_moves_every_bar_with_it() {
        let rect = Rect::from_min_size(Pos2::new(40.0, 10.0), Vec2::new(300.0, 100.0));
        let centres = [200.0, 20.0 * 10f32.powf(1.5), 2000.0];
        assert_extents(&band_extents(rect, &centres), &[(115.0, 165.0), (165.0, 215.0), (215.0, 265.0)]);
    }

    #[test]
    fn a_lone_band_and_no_bands() {
        assert_extents(&band_extents(axis(), &[2000.0]), &[(196.0, 204.0)]);
        assert!(band_extents(axis(), &[]).is_empty());
    }
}
