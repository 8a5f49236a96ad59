//! The table of insert types a session may name, and how to build each one.

use super::{Insert, ParamSpec};
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
    /// Parameters whose value changes the insert's latency. Scenes and
    /// macros may not move them (latency only changes with a recompile and
    /// a host restart); a test checks no other parameter changes latency.
    pub latency_params: &'static [&'static str],
    pub create: fn() -> Box<dyn Insert>,
}

impl InsertType {
    /// Index of a parameter id in this type's table.
    pub fn param_index(&self, id: &str) -> Option<usize> {
        self.params.iter().position(|p| p.id == id)
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
        latency_params: &["fftSize"],
        create: || Box::new(SpectralDucker::new()),
    },
    InsertType {
        name: "utility",
        params: Utility::PARAMS,
        doc: "gain, polarity, stereo width and a mid/side matrix",
        takes_key: false,
        aliases: &[],
        latency_params: &[],
        create: || Box::new(Utility::new()),
    },
    InsertType {
        name: "limiter",
        params: Limiter::PARAMS,
        doc: "lookahead peak limiter; no output sample exceeds the ceiling",
        takes_key: false,
        aliases: &[],
        latency_params: &["lookaheadMs"],
        create: || Box::new(Limiter::new()),
    },
    InsertType {
        name: "compressor",
        params: Compressor::PARAMS,
        doc: "feed-forward compressor; soft knee, peak/RMS detector, sidechain key, lookahead",
        takes_key: true,
        aliases: Compressor::ALIASES,
        latency_params: &["lookaheadMs"],
        create: || Box::new(Compressor::new()),
    },
    InsertType {
        name: "eq",
        params: Eq::PARAMS,
        doc: "eight-band parametric EQ (RBJ cookbook biquads)",
        takes_key: false,
        aliases: &[],
        latency_params: &[],
        create: || Box::new(Eq::new()),
    },
    InsertType {
        name: "filter",
        params: Filter::PARAMS,
        doc: "resonant state-variable filter",
        takes_key: false,
        aliases: &[("frequency", "freqHz")],
        latency_params: &[],
        create: || Box::new(Filter::new()),
    },
    InsertType {
        name: "delay",
        params: Delay::PARAMS,
        doc: "echo in ms or tempo-synced notes, feedback high cut, ping-pong",
        takes_key: false,
        aliases: &[],
        latency_params: &[],
        create: || Box::new(Delay::new()),
    },
    InsertType {
        name: "reverb",
        params: Reverb::PARAMS,
        doc: "eight-line feedback delay network reverb",
        takes_key: false,
        aliases: Reverb::ALIASES,
        latency_params: &[],
        create: || Box::new(Reverb::new()),
    },
    InsertType {
        name: "distortion",
        params: Distortion::PARAMS,
        doc: "soft, hard, fuzz or tube saturation, 4× oversampled with anti-aliasing",
        takes_key: false,
        aliases: &[],
        latency_params: &[],
        create: || Box::new(Distortion::new()),
    },
    InsertType {
        name: "chorus",
        params: Chorus::PARAMS,
        doc: "modulated delay voices spread across the stereo field",
        takes_key: false,
        aliases: &[],
        latency_params: &[],
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
    }
    out
}
