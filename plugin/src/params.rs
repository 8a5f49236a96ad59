//! The plugin's fixed parameter pool (docs/ARCHITECTURE.md §7): bus slots, master, ducker slots, scenes, macros.

use std::sync::{Arc, RwLock};

use mam_core::session::slots::{MAX_BUS_SLOTS, MAX_DUCKER_SLOTS};
use mam_core::session::{MAX_MACROS, MAX_SCENES};
use crate::nice::*;

use crate::state::SessionState;
use crate::timeline::TimelineState;

/// `#[derive(Params)]` names `nice_plug::prelude::ParamPtr` by a relative
/// path, which resolved in the `nice-plug` crate (the wrappers, no longer
/// used); this module answers it here from nice-plug-core.
mod nice_plug {
    pub mod prelude {
        pub use ::nice_plug::params::internals::ParamPtr;
    }
}

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

/// The host's controls of one spectral-ducker slot (the n-th ducker of the
/// session in file order). Both compose with the scene's values: the depth
/// trim adds dB to the ducker's depth, the mix scales its mix.
#[derive(Params)]
pub struct DuckerSlotParams {
    #[id = "depth"]
    pub depth: FloatParam,
    #[id = "mix"]
    pub mix: FloatParam,
}

/// Largest ducker depth trim either way (the ducker's whole depth range).
pub const MAX_DEPTH_TRIM_DB: f32 = 36.0;

impl DuckerSlotParams {
    fn new(slot: usize) -> Self {
        Self {
            depth: FloatParam::new(format!("Ducker {slot} Depth"), 0.0, FloatRange::Linear { min: -MAX_DEPTH_TRIM_DB, max: MAX_DEPTH_TRIM_DB })
                .with_unit(" dB")
                .with_step_size(0.1)
                .with_value_to_string(Arc::new(|db| format!("{db:+.1}")))
                .with_string_to_value(Arc::new(|text| text.trim().trim_end_matches("dB").trim().parse().ok())),
            mix: percent(format!("Ducker {slot} Mix"), 1.0),
        }
    }
}

fn percent(name: String, default: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min: 0.0, max: 1.0 })
        .with_unit("%")
        .with_value_to_string(formatters::v2s_f32_percentage(1))
        .with_string_to_value(formatters::s2v_f32_percentage())
}

/// Scene names as the running session has them, for the `scene` parameters'
/// text. Written on the main thread when a session is compiled; read (never
/// waited for) when a host asks for a value's text.
pub type SceneNames = Arc<RwLock<Vec<String>>>;

/// A scene selector: 0 is `zero` ("Session" or "Current"), n is scene n.
fn scene_param(name: &str, zero: &'static str, names: &SceneNames) -> IntParam {
    let names_in = names.clone();
    IntParam::new(name, 0, IntRange::Linear { min: 0, max: MAX_SCENES as i32 })
        .with_value_to_string(Arc::new(move |n| {
            if n <= 0 {
                return zero.to_string();
            }
            let known = names_in.try_read().ok().and_then(|names| names.get(n as usize - 1).cloned());
            match known {
                Some(name) => format!("{n}: {name}"),
                None => format!("{n}"),
            }
        }))
        .with_string_to_value(Arc::new(move |text| {
            let text = text.trim();
            if text.eq_ignore_ascii_case(zero) {
                return Some(0);
            }
            // "3", "3: Chorus", or a scene's name.
            let number = text.split(':').next().and_then(|n| n.trim().parse::<i32>().ok());
            number.filter(|n| (0..=MAX_SCENES as i32).contains(n))
        }))
}

/// All parameters. Ids are stable strings (`bus1_gain`, …, `master_gain`,
/// `duck1_depth`, `scene`, `scene_morph_a`, `macro1`, …); the session lives
/// in the plugin state as JSON.
#[derive(Params)]
pub struct MamParams {
    /// Recalls scene n (0 = the session's own values) with its transition.
    #[id = "scene"]
    pub scene: IntParam,
    /// Morph end points (0 = the current scene) and position (0 = A, 1 = B).
    #[id = "scene_morph_a"]
    pub scene_morph_a: IntParam,
    #[id = "scene_morph_b"]
    pub scene_morph_b: IntParam,
    #[id = "scene_morph"]
    pub scene_morph: FloatParam,
    /// Holds scene n while the value stays n (a momentary "drop" from a pad
    /// or automation): pushed with its transition, popped back to exactly
    /// the mix before when the value returns to 0 ("None").
    #[id = "scene_hold"]
    pub scene_hold: IntParam,
    #[id = "macro1"]
    pub macro1: FloatParam,
    #[id = "macro2"]
    pub macro2: FloatParam,
    #[id = "macro3"]
    pub macro3: FloatParam,
    #[id = "macro4"]
    pub macro4: FloatParam,
    #[id = "macro5"]
    pub macro5: FloatParam,
    #[id = "macro6"]
    pub macro6: FloatParam,
    #[id = "macro7"]
    pub macro7: FloatParam,
    #[id = "macro8"]
    pub macro8: FloatParam,
    #[nested(id_prefix = "duck1", group = "Ducker 1")]
    pub duck1: DuckerSlotParams,
    #[nested(id_prefix = "duck2", group = "Ducker 2")]
    pub duck2: DuckerSlotParams,
    #[nested(id_prefix = "duck3", group = "Ducker 3")]
    pub duck3: DuckerSlotParams,
    #[nested(id_prefix = "duck4", group = "Ducker 4")]
    pub duck4: DuckerSlotParams,
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
    /// Flipped by the editor after every session edit, so hosts see a
    /// change and mark the project dirty (nice-plug 0.4.2 has no direct way
    /// to); not automatable, hidden from generic editors.
    #[id = "session_edit"]
    pub session_edit: BoolParam,
    /// Arms the timeline recorder: 0 Off, 1 Record (replaces the scenes lane
    /// where it records), 2 Overdub (layers). Not automatable: recording is
    /// a take, not part of the song (docs/ARCHITECTURE.md §8.2).
    #[id = "timeline_record"]
    pub timeline_record: IntParam,
    /// The session as JSON (deterministic, from the session saver): bus
    /// graph, inserts, scenes and macro mappings.
    #[persist = "session"]
    pub session: SessionState,
    /// The timeline in chunks with a time index (see [`crate::timeline`]).
    #[persist = "timeline"]
    pub timeline: TimelineState,
    /// Names for the scene parameters' text (not persisted: derived from the session).
    pub scene_names: SceneNames,
    /// The editor window's size (nice-plug-egui 0.6 cannot persist it).
    pub editor_state: Arc<nice_plug_egui::EguiEditorState>,
}

impl MamParams {
    pub fn new(session_json: String) -> Self {
        let scene_names = SceneNames::default();
        let session = SessionState::new(session_json);
        Self {
            scene: scene_param("Scene", "Session", &scene_names),
            scene_morph_a: scene_param("Scene Morph A", "Current", &scene_names),
            scene_morph_b: scene_param("Scene Morph B", "Current", &scene_names),
            scene_morph: percent("Scene Morph".to_string(), 0.0),
            scene_hold: scene_param("Scene Hold", "None", &scene_names),
            macro1: percent("Macro 1".to_string(), 0.0),
            macro2: percent("Macro 2".to_string(), 0.0),
            macro3: percent("Macro 3".to_string(), 0.0),
            macro4: percent("Macro 4".to_string(), 0.0),
            macro5: percent("Macro 5".to_string(), 0.0),
            macro6: percent("Macro 6".to_string(), 0.0),
            macro7: percent("Macro 7".to_string(), 0.0),
            macro8: percent("Macro 8".to_string(), 0.0),
            duck1: DuckerSlotParams::new(1),
            duck2: DuckerSlotParams::new(2),
            duck3: DuckerSlotParams::new(3),
            duck4: DuckerSlotParams::new(4),
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
            session_edit: BoolParam::new("Session Edit", false).non_automatable().hide_in_generic_ui(),
            timeline_record: IntParam::new("Timeline Record", 0, IntRange::Linear { min: 0, max: 2 })
                .non_automatable()
                .with_value_to_string(Arc::new(|v| ["Off", "Record", "Overdub"][v.clamp(0, 2) as usize].to_string()))
                .with_string_to_value(Arc::new(|text| ["off", "record", "overdub"].iter().position(|n| n.eq_ignore_ascii_case(text.trim())).map(|i| i as i32))),
            timeline: TimelineState::new(session.mailbox().clone()),
            session,
            scene_names,
            editor_state: crate::editor::default_state(),
        }
    }

    /// Macro `n` (1…8).
    pub fn macro_param(&self, n: usize) -> &FloatParam {
        let macros: [&FloatParam; MAX_MACROS] =
            [&self.macro1, &self.macro2, &self.macro3, &self.macro4, &self.macro5, &self.macro6, &self.macro7, &self.macro8];
        macros[n - 1]
    }

    /// Ducker slot `n` (1…4).
    pub fn ducker(&self, n: usize) -> &DuckerSlotParams {
        let slots: [&DuckerSlotParams; MAX_DUCKER_SLOTS] = [&self.duck1, &self.duck2, &self.duck3, &self.duck4];
        slots[n - 1]
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
