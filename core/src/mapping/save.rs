//! Writes mappings back to session JSON: fields in a fixed order, optional
//! ones only when they differ from their defaults, so load → save → load
//! gives the same mappings and the same mappings the same bytes.

use serde_json::{json, Map, Value};

use super::{Action, Curve, Input, Mapping, Mode, OscSettings, Target, DEFAULT_SMOOTH_MS};

pub fn mapping(m: &Mapping) -> Value {
    let mut root = Map::new();
    root.insert("input".into(), input(&m.input));
    let t = &m.transform;
    let mut tr = Map::new();
    if let Some(min) = t.min {
        tr.insert("min".into(), json!(min));
    }
    if let Some(max) = t.max {
        tr.insert("max".into(), json!(max));
    }
    match t.curve {
        Curve::Linear => {}
        Curve::Exp => drop(tr.insert("curve".into(), json!("exp"))),
        Curve::Log => drop(tr.insert("curve".into(), json!("log"))),
        Curve::Power(k) => drop(tr.insert("curve".into(), json!(k))),
    }
    if t.deadzone != 0.0 {
        tr.insert("deadzone".into(), json!(t.deadzone));
    }
    if t.smooth_ms != DEFAULT_SMOOTH_MS {
        tr.insert("smoothMs".into(), json!(t.smooth_ms));
    }
    if let Some(steps) = t.steps {
        tr.insert("steps".into(), json!(steps));
    }
    if t.invert {
        tr.insert("invert".into(), json!(true));
    }
    match t.mode {
        None => {}
        Some(Mode::Absolute) => drop(tr.insert("mode".into(), json!("absolute"))),
        Some(Mode::Relative(e)) => {
            tr.insert("mode".into(), json!("relative"));
            tr.insert("encoding".into(), json!(e.name()));
        }
        Some(Mode::Toggle) => drop(tr.insert("mode".into(), json!("toggle"))),
        Some(Mode::Momentary) => drop(tr.insert("mode".into(), json!("momentary"))),
    }
    if !tr.is_empty() {
        root.insert("transform".into(), Value::Object(tr));
    }
    root.insert("target".into(), target(&m.target));
    Value::Object(root)
}

fn input(i: &Input) -> Value {
    match i {
        Input::Cc { channel, cc, lsb: None } => json!({ "type": "cc", "channel": channel, "cc": cc }),
        Input::Cc { channel, cc, lsb: Some(l) } => json!({ "type": "cc", "channel": channel, "cc": cc, "lsb": l }),
        Input::Note { channel, note, gate: false } => json!({ "type": "note", "channel": channel, "note": note }),
        Input::Note { channel, note, gate: true } => json!({ "type": "note", "channel": channel, "note": note, "value": "gate" }),
        Input::PitchBend { channel } => json!({ "type": "pitchbend", "channel": channel }),
        Input::Pressure { channel } => json!({ "type": "pressure", "channel": channel }),
        Input::Osc { address } => json!({ "type": "osc", "address": address }),
    }
}

fn target(t: &Target) -> Value {
    match t {
        Target::Path(p) => json!({ "path": p }),
        Target::Macro(n) => json!({ "macro": n }),
        Target::Action(a) => match a {
            Action::Scene(n) | Action::Push(n) => json!({ "action": a.name(), "scene": n }),
            Action::Mute(bus) | Action::Solo(bus) => json!({ "action": a.name(), "bus": bus }),
            _ => json!({ "action": a.name() }),
        },
    }
}

/// `osc` as written in the session file.
pub fn osc(o: &OscSettings) -> Value {
    json!({ "enabled": o.enabled, "port": o.port })
}

/// A short human description of an input ("CC 7 ch 1", "/mam/fader/1").
pub fn describe_input(i: &Input) -> String {
    match i {
        Input::Cc { channel, cc, lsb: None } => format!("CC {cc} ch {channel}"),
        Input::Cc { channel, cc, lsb: Some(l) } => format!("CC {cc}/{l} ch {channel}"),
        Input::Note { channel, note, .. } => format!("Note {note} ch {channel}"),
        Input::PitchBend { channel } => format!("Pitch bend ch {channel}"),
        Input::Pressure { channel } => format!("Pressure ch {channel}"),
        Input::Osc { address } => address.clone(),
    }
}

/// A short human description of a target ("bed.gainDb", "Macro 1", "Scene 2").
pub fn describe_target(t: &Target) -> String {
    match t {
        Target::Path(p) => p.clone(),
        Target::Macro(n) => format!("Macro {n}"),
        Target::Action(Action::Scene(n)) => format!("Scene {n}"),
        Target::Action(Action::Push(n)) => format!("Push {n}"),
        Target::Action(Action::Mute(b)) => format!("Mute {b}"),
        Target::Action(Action::Solo(b)) => format!("Solo {b}"),
        Target::Action(a) => a.name().replace('_', " "),
    }
}
