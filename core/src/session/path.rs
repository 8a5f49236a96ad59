//! Parameter paths: how scenes, macros and the editor name one mix value (`music.gainDb`, `music/duck.depthDb`).
//!
//! - `<bus>.gainDb` — the bus level in dB (−144 … +24; −144 is silence)
//! - `<bus>.pan` — −1 … +1
//! - `<bus>.mute` — true / false
//! - `<bus>.solo` — true / false (solo-in-place; either it or the host's solo solos)
//! - `<bus>.bypass` — true / false (the bus outputs silence, its sends carry nothing)
//! - `<bus>.send.<to>` — the level in dB (−144 … +12) of the bus's (first) send to bus `<to>`
//! - `<bus>/<insert>.<param>` — a parameter of an insert, by its id (or alias)
//!   in the insert's table, in the table's units
//! - `<bus>/<insert>.bypass` — true / false (the insert passes its input,
//!   delayed by its latency)
//! - `<source>.gainDb` — the source's gain in dB (−144 … +24)
//! - `<source>.send.<to>` — the level in dB (−144 … +12) of the source's (first) send to bus `<to>`
//!
//! Sources and buses share one id namespace, so `<id>.gainDb` names whichever has that id.
//!
//! Every value crosses to the audio thread as a number: booleans as 0/1,
//! choices as the option's index, times as ms (or minus a note's length in
//! beats), as in [`crate::insert::ParamKind`].

use super::{ParamValue, Session, MAX_SEND_GAIN};
use crate::insert::registry;
use crate::insert::{gain_to_db, note_beats, ParamKind, ParamSpec, SILENCE_DB};

/// Largest bus level a path may set (+24 dB, the loader's fader limit).
pub const MAX_BUS_DB: f64 = 24.0;

/// What a path points at inside its bus.
#[derive(Clone, Debug, PartialEq)]
pub enum PathTarget {
    BusGain,
    BusPan,
    BusMute,
    BusSolo,
    BusBypass,
    /// The first send of the bus to bus `to`.
    Send { to: String },
    /// Parameter `param` (table index) of insert number `insert` in the chain.
    Insert { insert: usize, param: usize },
    /// The bypass switch of insert number `insert` in the chain.
    InsertBypass { insert: usize },
    /// The source's gain.
    SourceGain,
    /// The first send of the source to bus `to`.
    SourceSend { to: String },
}

impl PathTarget {
    /// Whether the path names a source (`Resolved::bus` then indexes
    /// `session.racks`).
    pub fn is_source(&self) -> bool {
        matches!(self, PathTarget::SourceGain | PathTarget::SourceSend { .. })
    }
}

/// A path resolved against a session.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Index into `session.buses`, or into `session.racks` for a source's
    /// gain and sends ([`PathTarget::is_source`]).
    pub bus: usize,
    pub target: PathTarget,
    /// The range values are clamped to, in audio-thread units.
    pub min: f64,
    pub max: f64,
    /// Switches between values instead of gliding (mutes, booleans,
    /// choices, discrete values).
    pub stepped: bool,
    /// A time that may be a tempo-synced note (a negative value).
    pub time: bool,
    /// Discrete values cannot take offsets, so macros may not move them.
    pub discrete: bool,
    /// The session's own value, in audio-thread units.
    pub session_value: f64,
    /// The largest value the insert plays (and why), if below `max`: the
    /// loader warns about scene values above it.
    pub soft_max: Option<(f64, &'static str)>,
}

/// Finds what `path` names in `session`.
///
/// # Errors
/// A message naming the unknown bus, insert, parameter or send, or a
/// structural parameter (one that changes latency or the insert's buffers or
/// bands, which scenes and macros may not move).
pub fn resolve(session: &Session, path: &str) -> Result<Resolved, String> {
    if let Some((bus_id, rest)) = path.split_once('/') {
        let bus = bus_index(session, bus_id)?;
        let Some((insert_id, param_id)) = rest.rsplit_once('.') else {
            return Err(format!("'{path}' names no parameter (expected bus/insert.param)"));
        };
        let b = &session.buses[bus];
        let Some(insert) = b.inserts.iter().position(|i| i.id == insert_id) else {
            let known: Vec<&str> = b.inserts.iter().map(|i| i.id.as_str()).collect();
            return Err(format!("bus '{bus_id}' has no insert '{insert_id}' (it has: {})", list(&known)));
        };
        let desc = &b.inserts[insert];
        if param_id == "bypass" {
            return Ok(Resolved {
                bus,
                target: PathTarget::InsertBypass { insert },
                min: 0.0,
                max: 1.0,
                stepped: true,
                time: false,
                discrete: false,
                session_value: desc.bypass as u8 as f64,
                soft_max: None,
            });
        }
        let ty = registry::lookup(&desc.kind).ok_or_else(|| format!("unknown insert type '{}'", desc.kind))?;
        if let Some(u) = ty.unit_alias(param_id) {
            return Err(format!(
                "'{param_id}' is '{}' in {}; scenes and macros move '{}' in its own units (see the insert's table)",
                u.id, u.unit, u.id
            ));
        }
        let canonical = ty.canonical(param_id);
        let Some(param) = ty.param_index(canonical) else {
            let known: Vec<&str> = ty.params.iter().map(|p| p.id).collect();
            return Err(format!("{} has no parameter '{param_id}' (it has: {})", desc.kind, list(&known)));
        };
        if ty.latency_params.contains(&canonical) {
            return Err(format!("'{canonical}' of {} changes the latency, so scenes and macros cannot move it (set it in the insert's params)", desc.kind));
        }
        if ty.structural_params.contains(&canonical) {
            return Err(format!(
                "'{canonical}' of {} sets the insert's structure (its buffers or bands), so scenes and macros cannot move it (set it in the insert's params)",
                desc.kind
            ));
        }
        let spec = &ty.params[param];
        let (min, max) = spec_range(spec);
        return Ok(Resolved {
            bus,
            target: PathTarget::Insert { insert, param },
            min,
            max,
            stepped: matches!(spec.kind, ParamKind::Bool { .. } | ParamKind::Choice { .. } | ParamKind::Discrete { .. }),
            time: matches!(spec.kind, ParamKind::Time { .. }),
            discrete: matches!(spec.kind, ParamKind::Discrete { .. }),
            session_value: audio_value(spec, desc.params.get(spec.id)) as f64,
            soft_max: ty.soft_limit(canonical).map(|l| (l.max, l.why)),
        });
    }
    // Ids may contain dots: take the longest bus or source id the path starts with.
    let starts = |id: &str| path.len() > id.len() && path.starts_with(id) && path.as_bytes()[id.len()] == b'.';
    let bus = session.buses.iter().enumerate().filter(|(_, b)| starts(&b.id)).max_by_key(|(_, b)| b.id.len()).map(|(i, b)| (i, b.id.len()));
    let rack = session.racks.iter().enumerate().filter(|(_, r)| starts(&r.id)).max_by_key(|(_, r)| r.id.len()).map(|(i, r)| (i, r.id.len()));
    let plain = |bus, target, min, max, stepped, value| Resolved { bus, target, min, max, stepped, time: false, discrete: false, session_value: value, soft_max: None };
    let send_max_db = gain_to_db(MAX_SEND_GAIN);
    match (bus, rack) {
        (Some((r, len)), rack) if rack.is_none_or(|(_, l)| len >= l) => {
            let b = &session.buses[r];
            let field = &path[len + 1..];
            match field {
                "gainDb" => Ok(plain(r, PathTarget::BusGain, SILENCE_DB, MAX_BUS_DB, false, clamp_db(b.gain.db(), MAX_BUS_DB))),
                "pan" => Ok(plain(r, PathTarget::BusPan, -1.0, 1.0, false, b.pan)),
                "mute" => Ok(plain(r, PathTarget::BusMute, 0.0, 1.0, true, b.mute as u8 as f64)),
                "solo" => Ok(plain(r, PathTarget::BusSolo, 0.0, 1.0, true, b.solo as u8 as f64)),
                "bypass" => Ok(plain(r, PathTarget::BusBypass, 0.0, 1.0, true, b.bypass as u8 as f64)),
                _ => {
                    let Some(to) = field.strip_prefix("send.") else {
                        return Err(format!("bus '{}' has no field '{field}' (expected gainDb, pan, mute, solo, bypass, send.<to>)", b.id));
                    };
                    let Some(send) = b.sends.iter().find(|s| s.to == to) else {
                        return Err(format!("bus '{}' has no send to '{to}'", b.id));
                    };
                    Ok(plain(r, PathTarget::Send { to: to.to_string() }, SILENCE_DB, send_max_db, false, clamp_db(send.level.db(), send_max_db)))
                }
            }
        }
        (_, Some((r, len))) => {
            let rack = &session.racks[r];
            let field = &path[len + 1..];
            if field == "gainDb" {
                return Ok(plain(r, PathTarget::SourceGain, SILENCE_DB, MAX_BUS_DB, false, clamp_db(rack.gain.db(), MAX_BUS_DB)));
            }
            let Some(to) = field.strip_prefix("send.") else {
                return Err(format!("source '{}' has no field '{field}' (expected gainDb, send.<to>)", rack.id));
            };
            let Some(send) = rack.sends.iter().find(|s| s.to == to) else {
                return Err(format!("source '{}' has no send to '{to}'", rack.id));
            };
            Ok(plain(r, PathTarget::SourceSend { to: to.to_string() }, SILENCE_DB, send_max_db, false, clamp_db(send.level.db(), send_max_db)))
        }
        _ => Err(format!(
            "'{path}' does not start with a bus id or a source id (expected bus.gainDb, bus.pan, bus.mute, bus.solo, bus.bypass, bus.send.<to>, bus/insert.param, bus/insert.bypass, source.gainDb or source.send.<to>)"
        )),
    }
}

/// Converts a value written for `resolved` (in a scene) to audio-thread
/// units, checking its type and range.
///
/// # Errors
/// A message saying what was expected.
pub fn scene_value(session: &Session, resolved: &Resolved, value: &ParamValue) -> Result<f64, String> {
    let number = |x: f64| {
        if (resolved.min..=resolved.max).contains(&x) {
            Ok(x)
        } else {
            Err(format!("{x} is out of range {} … {}", resolved.min, resolved.max))
        }
    };
    match (&resolved.target, value) {
        (PathTarget::BusMute | PathTarget::BusSolo | PathTarget::BusBypass | PathTarget::InsertBypass { .. }, ParamValue::Bool(m)) => Ok(*m as u8 as f64),
        (PathTarget::BusMute | PathTarget::BusSolo | PathTarget::BusBypass | PathTarget::InsertBypass { .. }, _) => Err("expected true or false".into()),
        (PathTarget::BusGain | PathTarget::BusPan | PathTarget::Send { .. } | PathTarget::SourceGain | PathTarget::SourceSend { .. }, ParamValue::Number(x)) => number(*x),
        (PathTarget::BusGain | PathTarget::BusPan | PathTarget::Send { .. } | PathTarget::SourceGain | PathTarget::SourceSend { .. }, _) => {
            Err("expected a number".into())
        }
        (PathTarget::Insert { insert, param }, value) => {
            let desc = &session.buses[resolved.bus].inserts[*insert];
            let spec = &registry::lookup(&desc.kind).expect("resolved above").params[*param];
            match (spec.kind, value) {
                (ParamKind::Float { .. }, ParamValue::Number(x)) => number(*x),
                (ParamKind::Bool { .. }, ParamValue::Bool(b)) => Ok(*b as u8 as f64),
                (ParamKind::Choice { options, .. }, ParamValue::Text(t)) => options
                    .iter()
                    .position(|o| o == t)
                    .map(|i| i as f64)
                    .ok_or_else(|| format!("unknown value '{t}' (expected one of: {})", options.join(", "))),
                (ParamKind::Discrete { values, .. }, ParamValue::Number(x)) if values.contains(x) => Ok(*x),
                (ParamKind::Discrete { values, .. }, _) => {
                    Err(format!("expected one of {}", values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")))
                }
                (ParamKind::Time { .. }, ParamValue::Number(x)) => number(*x),
                (ParamKind::Time { .. }, ParamValue::Text(t)) => {
                    note_beats(t).map(|beats| -beats).ok_or_else(|| format!("'{t}' is not a note value (like \"4n\", \"8n.\", \"4t\")"))
                }
                (ParamKind::Float { .. } | ParamKind::Time { .. }, _) => Err("expected a number".into()),
                (ParamKind::Bool { .. }, _) => Err("expected true or false".into()),
                (ParamKind::Choice { .. }, _) => Err("expected a string".into()),
            }
        }
    }
}

/// A parameter's value as the audio thread holds it: the session's value,
/// or the table default if the session does not give one.
pub fn audio_value(spec: &ParamSpec, value: Option<&ParamValue>) -> f32 {
    match (value, spec.kind) {
        (Some(ParamValue::Number(x)), _) => *x as f32,
        (Some(ParamValue::Bool(b)), _) => *b as u8 as f32,
        (Some(ParamValue::Text(t)), ParamKind::Choice { options, .. }) => options.iter().position(|o| o == t).unwrap_or(0) as f32,
        (Some(ParamValue::Text(t)), ParamKind::Time { .. }) => -(note_beats(t).unwrap_or(1.0) as f32),
        _ => spec.default_value(),
    }
}

/// The clamping range of a parameter in audio-thread units.
fn spec_range(spec: &ParamSpec) -> (f64, f64) {
    match spec.kind {
        ParamKind::Float { min, max, .. } => (min, max),
        ParamKind::Bool { .. } => (0.0, 1.0),
        ParamKind::Choice { options, .. } => (0.0, (options.len() - 1) as f64),
        ParamKind::Discrete { values, .. } => values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v))),
        ParamKind::Time { min_ms, max_ms, .. } => (min_ms, max_ms),
    }
}

/// The value `resolved` holds in `session`, in the units a scene writes
/// (the inverse of [`scene_value`]): a scene storing it leaves the mix as
/// the session has it.
pub fn session_param_value(session: &Session, resolved: &Resolved) -> ParamValue {
    let switch = |on: f64| ParamValue::Bool(on >= 0.5);
    match &resolved.target {
        PathTarget::BusMute | PathTarget::BusSolo | PathTarget::BusBypass | PathTarget::InsertBypass { .. } => switch(resolved.session_value),
        PathTarget::BusGain | PathTarget::BusPan | PathTarget::Send { .. } | PathTarget::SourceGain | PathTarget::SourceSend { .. } => {
            ParamValue::Number(resolved.session_value)
        }
        PathTarget::Insert { insert, param } => {
            let desc = &session.buses[resolved.bus].inserts[*insert];
            let spec = &registry::lookup(&desc.kind).expect("resolved").params[*param];
            if let Some(value) = desc.params.get(spec.id) {
                return value.clone();
            }
            match spec.kind {
                ParamKind::Float { default, .. } => ParamValue::Number(default),
                ParamKind::Bool { default } => ParamValue::Bool(default),
                ParamKind::Choice { options, default } => ParamValue::Text(options[default].to_string()),
                ParamKind::Discrete { values, default } => ParamValue::Number(values[default]),
                ParamKind::Time { default_ms, .. } => ParamValue::Number(default_ms),
            }
        }
    }
}

/// An audio-thread value of `resolved` in the units a scene or a timeline
/// `set` writes (switches as booleans, choices by name, times in ms): how a
/// recorded controller move is stored.
pub fn file_value(session: &Session, resolved: &Resolved, value: f64) -> ParamValue {
    match &resolved.target {
        PathTarget::BusMute | PathTarget::BusSolo | PathTarget::BusBypass | PathTarget::InsertBypass { .. } => ParamValue::Bool(value >= 0.5),
        PathTarget::Insert { insert, param } => {
            let desc = &session.buses[resolved.bus].inserts[*insert];
            match registry::lookup(&desc.kind).map(|ty| ty.params[*param].kind) {
                Some(ParamKind::Bool { .. }) => ParamValue::Bool(value >= 0.5),
                Some(ParamKind::Choice { options, .. }) => ParamValue::Text(options[(value.round().max(0.0) as usize).min(options.len() - 1)].to_string()),
                _ => ParamValue::Number(value),
            }
        }
        _ => ParamValue::Number(value),
    }
}

fn bus_index(session: &Session, id: &str) -> Result<usize, String> {
    session.buses.iter().position(|b| b.id == id).ok_or_else(|| format!("unknown bus '{id}'"))
}

fn clamp_db(db: f64, max: f64) -> f64 {
    db.clamp(SILENCE_DB, max)
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "nothing".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::load_str;

    fn session() -> Session {
        load_str(
            r#"{ "version": 1, "buses": [
                { "id": "a.b", "gainDb": -6, "pan": 0.25, "sends": [ { "to": "verb", "levelDb": -12 } ],
                  "inserts": [ { "id": "duck", "type": "spectral_ducker", "params": { "depthDb": 9, "mode": "mid_side" } },
                               { "id": "d", "type": "delay", "params": { "time": "8n" } } ] },
                { "id": "a", "mute": true, "solo": true },
                { "id": "verb", "bypass": true } ],
              "racks": [ { "id": "src", "gainDb": -3, "sends": [ { "to": "verb", "levelDb": -20 } ] } ] }"#,
        )
        .unwrap()
        .session
    }

    #[test]
    fn bus_fields_resolve_with_the_longest_bus_id_and_session_values() {
        let s = session();
        let r = resolve(&s, "a.b.gainDb").unwrap();
        assert_eq!((r.bus, r.target.clone(), r.session_value), (0, PathTarget::BusGain, -6.0));
        assert_eq!(resolve(&s, "a.b.pan").unwrap().session_value, 0.25);
        let mute = resolve(&s, "a.mute").unwrap();
        assert_eq!((mute.bus, mute.stepped, mute.session_value), (1, true, 1.0));
        let send = resolve(&s, "a.b.send.verb").unwrap();
        assert_eq!(send.target, PathTarget::Send { to: "verb".into() });
        assert_eq!(send.session_value, -12.0);
        assert!((send.max - 12.0).abs() < 1e-9);
    }

    #[test]
    fn solos_bypasses_and_sources_resolve_as_switches_and_levels() {
        let s = session();
        let solo = resolve(&s, "a.solo").unwrap();
        assert_eq!((solo.bus, solo.target.clone(), solo.stepped, solo.session_value), (1, PathTarget::BusSolo, true, 1.0));
        let bypass = resolve(&s, "verb.bypass").unwrap();
        assert_eq!((bypass.bus, bypass.target.clone(), bypass.stepped, bypass.session_value), (2, PathTarget::BusBypass, true, 1.0));
        let insert = resolve(&s, "a.b/d.bypass").unwrap();
        assert_eq!((insert.target.clone(), insert.stepped, insert.session_value), (PathTarget::InsertBypass { insert: 1 }, true, 0.0));
        assert_eq!(scene_value(&s, &insert, &ParamValue::Bool(true)), Ok(1.0));
        assert_eq!(scene_value(&s, &insert, &ParamValue::Number(1.0)), Err("expected true or false".into()));
        let gain = resolve(&s, "src.gainDb").unwrap();
        assert_eq!((gain.bus, gain.target.clone(), gain.session_value, gain.max), (0, PathTarget::SourceGain, -3.0, MAX_BUS_DB));
        assert!(gain.target.is_source());
        let send = resolve(&s, "src.send.verb").unwrap();
        assert_eq!((send.target.clone(), send.session_value), (PathTarget::SourceSend { to: "verb".into() }, -20.0));
        assert_eq!(scene_value(&s, &send, &ParamValue::Number(13.0)).unwrap_err(), format!("13 is out of range -144 … {}", send.max));
        assert_eq!(session_param_value(&s, &solo), ParamValue::Bool(true));
        assert_eq!(session_param_value(&s, &send), ParamValue::Number(-20.0));
    }

    #[test]
    fn insert_params_resolve_to_table_indices_and_audio_units() {
        let s = session();
        let depth = resolve(&s, "a.b/duck.depthDb").unwrap();
        assert_eq!(depth.target, PathTarget::Insert { insert: 0, param: 0 });
        assert_eq!((depth.min, depth.max, depth.session_value), (0.0, 36.0, 9.0));
        let mode = resolve(&s, "a.b/duck.mode").unwrap();
        assert!(mode.stepped);
        assert_eq!(mode.session_value, 1.0, "mid_side is option 1");
        let time = resolve(&s, "a.b/d.time").unwrap();
        assert!(time.time);
        assert_eq!(time.session_value, -0.5, "an eighth note is half a beat");
        assert_eq!(scene_value(&s, &time, &ParamValue::Text("4n".into())), Ok(-1.0));
        assert_eq!(scene_value(&s, &depth, &ParamValue::Number(40.0)), Err("40 is out of range 0 … 36".into()));
        assert_eq!(scene_value(&s, &mode, &ParamValue::Text("stereo".into())), Ok(0.0));
    }

    #[test]
    fn unknown_names_and_structural_parameters_are_refused_with_the_reason() {
        let s = session();
        let err = |p: &str| resolve(&s, p).unwrap_err();
        assert_eq!(err("nope/duck.depthDb"), "unknown bus 'nope'");
        assert_eq!(err("a.b/dck.depthDb"), "bus 'a.b' has no insert 'dck' (it has: duck, d)");
        assert!(err("a.b/duck.deep").starts_with("spectral_ducker has no parameter 'deep'"));
        assert!(err("a.b/duck.fftSize").contains("changes the latency"));
        assert!(err("a.b/duck.algorithm").contains("changes the latency"));
        assert!(err("a.b/duck.bands").contains("sets the insert's structure"));
        assert!(err("a.b/duck.overlap").contains("sets the insert's structure"));
        assert_eq!(err("a.b.send.master"), "bus 'a.b' has no send to 'master'");
        assert!(err("a.b.volume").starts_with("bus 'a.b' has no field 'volume'"));
        assert_eq!(err("src.send.a"), "source 'src' has no send to 'a'");
        assert!(err("src.pan").starts_with("source 'src' has no field 'pan'"));
        assert!(err("a.b/nope.bypass").starts_with("bus 'a.b' has no insert 'nope'"));
        assert!(err("zzz").contains("does not start with a bus id or a source id"));
    }
}
