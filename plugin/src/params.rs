//! The plugin's fixed parameter pool: per-slot bus gain/pan/mute/solo and the master gain (DESIGN.md §7).

use std::sync::{Arc, Mutex};

use mam_core::session::slots::MAX_BUS_SLOTS;
use nice_plug::prelude::*;

/// The host's controls of one bus slot.
#[derive(Params)]
pub struct BusSlotParams {
    /// Fader trim in dB on top of the session's level (−60 dB reads as −∞).
    #[id = "gain"]
    pub gain: FloatParam,
    #[id = "pan"]
    pub pan: FloatParam,
    #[id = "mute"]
    pub mute: BoolParam,
    /// Solo-in-place, on top of the session's solos.
    #[id = "solo"]
    pub solo: BoolParam,
}

/// Trims at or below this are silence.
pub const MIN_TRIM_DB: f32 = -60.0;
pub const MAX_TRIM_DB: f32 = 24.0;

fn trim_param(name: String) -> FloatParam {
    FloatParam::new(name, 0.0, FloatRange::Skewed { min: MIN_TRIM_DB, max: MAX_TRIM_DB, factor: FloatRange::skew_factor(1.5) })
        .with_unit(" dB")
        .with_step_size(0.01)
        .with_value_to_string(Arc::new(|db| if db <= MIN_TRIM_DB { "-inf".to_string() } else { format!("{db:.2}") }))
        .with_string_to_value(Arc::new(|text| {
            let text = text.trim().trim_end_matches("dB").trim();
            if text.eq_ignore_ascii_case("-inf") {
                Some(MIN_TRIM_DB)
            } else {
                text.parse().ok()
            }
        }))
}

impl BusSlotParams {
    fn new(slot: usize) -> Self {
        Self {
            gain: trim_param(format!("Bus {slot} Gain")),
            pan: FloatParam::new(format!("Bus {slot} Pan"), 0.0, FloatRange::Linear { min: -1.0, max: 1.0 })
                .with_value_to_string(formatters::v2s_f32_panning())
                .with_string_to_value(formatters::s2v_f32_panning()),
            mute: BoolParam::new(format!("Bus {slot} Mute"), false),
            solo: BoolParam::new(format!("Bus {slot} Solo"), false),
        }
    }
}

/// All parameters. Ids are stable strings (`bus1_gain`, …, `master_gain`);
/// the session lives in the plugin state as JSON.
#[derive(Params)]
pub struct MamParams {
    #[id = "master_gain"]
    pub master_gain: FloatParam,
    #[nested(id_prefix = "bus1", group = "Bus 1")]
    pub bus1: BusSlotParams,
    #[nested(id_prefix = "bus2", group = "Bus 2")]
    pub bus2: BusSlotParams,
    #[nested(id_prefix = "bus3", group = "Bus 3")]
    pub bus3: BusSlotParams,
    #[nested(id_prefix = "bus4", group = "Bus 4")]
    pub bus4: BusSlotParams,
    #[nested(id_prefix = "bus5", group = "Bus 5")]
    pub bus5: BusSlotParams,
    #[nested(id_prefix = "bus6", group = "Bus 6")]
    pub bus6: BusSlotParams,
    #[nested(id_prefix = "bus7", group = "Bus 7")]
    pub bus7: BusSlotParams,
    #[nested(id_prefix = "bus8", group = "Bus 8")]
    pub bus8: BusSlotParams,
    #[nested(id_prefix = "bus9", group = "Bus 9")]
    pub bus9: BusSlotParams,
    #[nested(id_prefix = "bus10", group = "Bus 10")]
    pub bus10: BusSlotParams,
    #[nested(id_prefix = "bus11", group = "Bus 11")]
    pub bus11: BusSlotParams,
    #[nested(id_prefix = "bus12", group = "Bus 12")]
    pub bus12: BusSlotParams,
    #[nested(id_prefix = "bus13", group = "Bus 13")]
    pub bus13: BusSlotParams,
    #[nested(id_prefix = "bus14", group = "Bus 14")]
    pub bus14: BusSlotParams,
    #[nested(id_prefix = "bus15", group = "Bus 15")]
    pub bus15: BusSlotParams,
    #[nested(id_prefix = "bus16", group = "Bus 16")]
    pub bus16: BusSlotParams,
    /// The session as JSON (deterministic, from the session saver).
    #[persist = "session"]
    pub session_json: Mutex<String>,
}

impl MamParams {
    pub fn new(session_json: String) -> Self {
        Self {
            master_gain: trim_param("Master Gain".to_string()),
            bus1: BusSlotParams::new(1),
            bus2: BusSlotParams::new(2),
            bus3: BusSlotParams::new(3),
            bus4: BusSlotParams::new(4),
            bus5: BusSlotParams::new(5),
            bus6: BusSlotParams::new(6),
            bus7: BusSlotParams::new(7),
            bus8: BusSlotParams::new(8),
            bus9: BusSlotParams::new(9),
            bus10: BusSlotParams::new(10),
            bus11: BusSlotParams::new(11),
            bus12: BusSlotParams::new(12),
            bus13: BusSlotParams::new(13),
            bus14: BusSlotParams::new(14),
            bus15: BusSlotParams::new(15),
            bus16: BusSlotParams::new(16),
            session_json: Mutex::new(session_json),
        }
    }

    /// Slot `n` (1…16).
    pub fn slot(&self, n: usize) -> &BusSlotParams {
        let slots: [&BusSlotParams; MAX_BUS_SLOTS] = [
            &self.bus1, &self.bus2, &self.bus3, &self.bus4, &self.bus5, &self.bus6, &self.bus7, &self.bus8, &self.bus9,
            &self.bus10, &self.bus11, &self.bus12, &self.bus13, &self.bus14, &self.bus15, &self.bus16,
        ];
        slots[n - 1]
    }
}
