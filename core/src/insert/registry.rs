//! The table of insert types a session may name, and how to build each one.

use super::{Insert, ParamSpec};
use crate::dsp::delay::MAX_FEEDBACK;
use crate::dsp::distortion::MAX_DRIVE_DB;
use crate::dsp::{
    chorus::Chorus, compressor::Compressor, delay::Delay, distortion::Distortion, eq::Eq, filter::Filter, limiter::Limiter, reverb::Reverb,
    spectral_ducker::SpectralDucker, utility::Utility,
};

/// One insert type: its session name, parameter table and constructor.
pub struct InsertType {
    /// The `type` string in session files.
    pub name: &'static str,
    pub params: &'static [ParamSpec],
    /// One line for the README.
    pub doc: &'static str,
    /// Whether the insert reads a sidechain key.
    pub takes_key: bool,
    /// Other names a session may use for a parameter: `(alias, id)`.
    pub aliases: &'static [(&'static str, &'static str)],
    /// Other names for a parameter in other units (such as dB for an amount).
    pub unit_aliases: &'static [UnitAlias],
    /// Values the table's range admits (the effects RFC's range) but the DSP
    /// cannot sustain: the loader clamps them with a warning, the insert
    /// clamps what scenes and macros send.
    pub soft_limits: &'static [SoftLimit],
    /// Parameters whose value changes the insert's latency. Scenes and
    /// macros may not move them (latency only changes with a recompile and
    /// a host restart); a test checks no other parameter changes latency.
    pub latency_params: &'static [&'static str],
    /// Parameters that set the insert's buffer layout or latency (a superset
    /// of `latency_params`). Scenes and macros may not move them, and a
    /// running instance is not taken over across an edit that changes one:
    /// the fresh, prepared instance replaces it (rebuilding in place would
    /// lose the running state anyway).
    pub structural_params: &'static [&'static str],
    pub create: fn() -> Box<dyn Insert>,
}

/// A parameter spelt in other units: `value(id) = value(alias) · scale`.
/// Session files may give either (not both); paths name the canonical id,
/// so scenes, macros and the editor move one control.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnitAlias {
    pub alias: &'static str,
    pub id: &'static str,
    /// Unit of the alias, for messages and the README.
    pub unit: &'static str,
    pub scale: f64,
}

/// The largest value of parameter `id` the insert can play: above it the
/// loader clamps with a warning naming the JSON path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftLimit {
    pub id: &'static str,
    pub max: f64,
    /// Why, for the warning.
    pub why: &'static str,
}

impl InsertType {
    /// Index of a parameter id in this type's table.
    pub fn param_index(&self, id: &str) -> Option<usize> {
        self.params.iter().position(|p| p.id == id)
    }

    /// The canonical id for `name`: itself, or what a plain alias stands for.
    pub fn canonical<'a>(&self, name: &'a str) -> &'a str {
        self.aliases.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, id)| *id)
    }

    /// The unit alias spelt `name`, if any.
    pub fn unit_alias(&self, name: &str) -> Option<&'static UnitAlias> {
        self.unit_aliases.iter().find(|u| u.alias == name)
    }

    /// The soft limit of parameter `id`, if it has one.
    pub fn soft_limit(&self, id: &str) -> Option<&'static SoftLimit> {
        self.soft_limits.iter().find(|l| l.id == id)
    }
}

/// Every insert type this build knows, in the order the README lists them.
pub static INSERT_TYPES: &[InsertType] = &[
    InsertType {
        name: "spectral_ducker",
        params: SpectralDucker::PARAMS,
        doc: "lowers the bus only in the frequencies where its key has energy",
        takes_key: true,
        aliases: &[],
        unit_aliases: &[],
        soft_limits: &[],
        latency_params: &["fftSize", "algorithm"],
        structural_params: &["fftSize", "overlap", "algorithm", "bands"],
        create: || Box::new(SpectralDucker::new()),
    },
    InsertType {
        name: "utility",
        params: Utility::PARAMS,
        doc: "gain, polarity, stereo width and a mid/side matrix",
        takes_key: false,
        aliases: &[],
        unit_aliases: &[],
        soft_limits: &[],
        latency_params: &[],
        structural_params: &[],
        create: || Box::new(Utility::new()),
    },
    InsertType {
        name: "limiter",
        params: Limiter::PARAMS,
        doc: "lookahead peak limiter; no output sample exceeds the ceiling",
        takes_key: false,
        aliases: &[],
        unit_aliases: &[],
        soft_limits: &[],
        latency_params: &["lookaheadMs"],
        structural_params: &["lookaheadMs"],
        create: || Box::new(Limiter::new()),
    },
    InsertType {
        name: "compressor",
        params: Compressor::PARAMS,
        doc: "feed-forward compressor; soft knee, peak/RMS detector, sidechain key, lookahead",
        takes_key: true,
        aliases: Compressor::ALIASES,
        unit_aliases: &[],
        soft_limits: &[],
        latency_params: &["lookaheadMs"],
        structural_params: &["lookaheadMs"],
        create: || Box::new(Compressor::new()),
    },
    InsertType {
        name: "eq",
        params: Eq::PARAMS,
        doc: "eight-band parametric EQ (RBJ cookbook biquads)",
        takes_key: false,
        aliases: &[],
        unit_aliases: &[],
        soft_limits: &[],
        latency_params: &[],
        structural_params: &[],
        create: || Box::new(Eq::new()),
    },
    InsertType {
        name: "filter",
        params: Filter::PARAMS,
        doc: "resonant state-variable filter; `resonance` is the Q factor",
        takes_key: false,
        aliases: Filter::ALIASES,
        unit_aliases: &[],
        soft_limits: &[],
        latency_params: &[],
        structural_params: &[],
        create: || Box::new(Filter::new()),
    },
    InsertType {
        name: "delay",
        params: Delay::PARAMS,
        doc: "echo in ms or tempo-synced notes, feedback high cut, ping-pong",
        takes_key: false,
        aliases: &[],
        unit_aliases: &[],
        soft_limits: &[SoftLimit { id: "feedback", max: MAX_FEEDBACK, why: "the repeats would never die away" }],
        latency_params: &[],
        structural_params: &[],
        create: || Box::new(Delay::new()),
    },
    InsertType {
        name: "reverb",
        params: Reverb::PARAMS,
        doc: "eight-line feedback delay network reverb",
        takes_key: false,
        aliases: Reverb::ALIASES,
        unit_aliases: &[],
        soft_limits: &[],
        latency_params: &[],
        structural_params: &[],
        create: || Box::new(Reverb::new()),
    },
    InsertType {
        name: "distortion",
        params: Distortion::PARAMS,
        doc: "soft, hard, fuzz or tube saturation, 8× oversampled with anti-aliasing",
        takes_key: false,
        aliases: &[],
        unit_aliases: &[UnitAlias { alias: "driveDb", id: "drive", unit: "dB", scale: 1.0 / MAX_DRIVE_DB }],
        soft_limits: &[],
        latency_params: &[],
        structural_params: &[],
        create: || Box::new(Distortion::new()),
    },
    InsertType {
        name: "chorus",
        params: Chorus::PARAMS,
        doc: "modulated delay voices spread across the stereo field",
        takes_key: false,
        aliases: &[],
        unit_aliases: &[],
        soft_limits: &[],
        latency_params: &[],
        structural_params: &[],
        create: || Box::new(Chorus::new()),
    },
];

/// Looks up an insert type by its session name.
pub fn lookup(name: &str) -> Option<&'static InsertType> {
    INSERT_TYPES.iter().find(|t| t.name == name)
}

/// The known type names, for error messages.
pub fn known_names() -> String {
    INSERT_TYPES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// The README's insert reference, generated from the parameter tables (a
/// test keeps the README's copy identical, so the docs cannot drift).
pub fn markdown_reference() -> String {
    use super::ParamKind;
    let mut out = String::new();
    for ty in INSERT_TYPES {
        out.push_str(&format!("#### `{}` — {}\n\n| param | range | default | unit | |\n|---|---|---|---|---|\n", ty.name, ty.doc));
        for p in ty.params {
            let (range, default) = match p.kind {
                ParamKind::Float { min, max, default } => (format!("{min} … {max}"), format!("{default}")),
                ParamKind::Bool { default } => ("true / false".to_string(), format!("{default}")),
                ParamKind::Choice { options, default } => (options.join(" / "), options[default].to_string()),
                ParamKind::Time { min_ms, max_ms, default_ms } => {
                    (format!("{min_ms} … {max_ms} ms, or a note value (\"4n\", \"8n.\", \"4t\" …)"), format!("{default_ms}"))
                }
                ParamKind::Discrete { values, default } => {
                    (values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" / "), values[default].to_string())
                }
            };
            out.push_str(&format!("| `{}` | {range} | {default} | {} | {} |\n", p.id, p.unit, p.doc));
        }
        out.push('\n');
        let mut notes: Vec<String> = ty.aliases.iter().map(|(alias, id)| format!("`{alias}` = `{id}`")).collect();
        for u in ty.unit_aliases {
            let range = ty.params.iter().find(|p| p.id == u.id).and_then(|p| match p.kind {
                ParamKind::Float { min, max, .. } => Some(format!(" ({} … {} {})", min / u.scale, max / u.scale, u.unit)),
                _ => None,
            });
            notes.push(format!("`{}` = `{}` in {}{}; give one or the other", u.alias, u.id, u.unit, range.unwrap_or_default()));
        }
        for l in ty.soft_limits {
            notes.push(format!("`{}` above {} plays as {} (loads with a warning: {})", l.id, l.max, l.max, l.why));
        }
        if !notes.is_empty() {
            out.push_str(&format!("Also: {}.\n\n", notes.join("; ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structural_and_latency_params_name_parameters_of_their_type_and_latency_ones_are_structural() {
        // A misspelt id would silently let scenes move a latency setting
        // (`session::path` and `graph::adopt` match these names as strings).
        for ty in INSERT_TYPES {
            for id in ty.structural_params.iter().chain(ty.latency_params) {
                assert!(ty.param_index(id).is_some(), "{}: '{id}' is not one of its parameters", ty.name);
            }
            for id in ty.latency_params {
                assert!(ty.structural_params.contains(id), "{}: latency parameter '{id}' is not in structural_params", ty.name);
            }
        }
    }
}
