//! Writes a [`Timeline`] back to JSON: deterministic, and lossless under save → load → save.

use serde_json::{json, Map, Value};

use super::{Action, Policy, Timeline};
use crate::session::ParamValue;

/// The timeline as a JSON value. Keys come out in a fixed order and
/// optional fields only when given, so the same timeline always gives the
/// same bytes; `markers` is left out when there are none.
pub fn to_value(timeline: &Timeline) -> Value {
    let mut root = Map::new();
    root.insert("version".into(), json!(timeline.version));
    root.insert("sampleRate".into(), json!(timeline.sample_rate));
    let lanes = timeline
        .lanes
        .iter()
        .map(|lane| {
            let events = lane.events.iter().map(|e| event(e.t, &e.action)).collect();
            json!({ "id": lane.id, "events": Value::Array(events) })
        })
        .collect();
    root.insert("lanes".into(), Value::Array(lanes));
    if !timeline.markers.is_empty() {
        let markers = timeline.markers.iter().map(|m| json!({ "t": m.t, "label": m.label })).collect();
        root.insert("markers".into(), Value::Array(markers));
    }
    Value::Object(root)
}

/// Pretty-printed JSON text, ending in a newline.
pub fn to_string(timeline: &Timeline) -> String {
    let mut text = serde_json::to_string_pretty(&to_value(timeline)).expect("a JSON value always serialises");
    text.push('\n');
    text
}

fn event(t: u64, action: &Action) -> Value {
    let mut m = Map::new();
    m.insert("t".into(), json!(t));
    m.insert("type".into(), json!(action.type_name()));
    match action {
        Action::Set { path, value, ramp_ms } => {
            m.insert("path".into(), json!(path));
            let value = match value {
                ParamValue::Number(x) => json!(x),
                ParamValue::Bool(b) => json!(b),
                ParamValue::Text(s) => json!(s),
            };
            m.insert("value".into(), value);
            if let Some(ms) = ramp_ms {
                m.insert("rampMs".into(), json!(ms));
            }
        }
        Action::Scene { scene, policy } => {
            m.insert("scene".into(), json!(scene));
            if let Some(p) = policy {
                m.insert("policy".into(), json!(p.name()));
                if let Policy::Morph { ms: Some(ms) } | Policy::Crossfade { ms: Some(ms) } = p {
                    m.insert("morphMs".into(), json!(ms));
                }
            }
        }
        Action::Push { scene } => {
            m.insert("scene".into(), json!(scene));
        }
        Action::Pop => {}
        Action::Macro { number, value } => {
            m.insert("macro".into(), json!(number));
            m.insert("value".into(), json!(value));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::*;

    const EVERY_KIND: &str = r#"{ "version": 1, "sampleRate": 44100,
        "lanes": [ { "id": "scenes", "events": [
                     { "t": 0, "type": "scene", "scene": 1 },
                     { "t": 10, "type": "scene", "scene": 2, "policy": "crossfade", "morphMs": 250.5 },
                     { "t": 10, "type": "scene", "scene": 0, "policy": "instant" },
                     { "t": 20, "type": "push", "scene": 3 },
                     { "t": 30, "type": "pop" } ] },
                   { "id": "mix", "events": [
                     { "t": 5, "type": "set", "path": "bed.gainDb", "value": -6.25, "rampMs": 20 },
                     { "t": 5, "type": "set", "path": "bed.mute", "value": true },
                     { "t": 6, "type": "set", "path": "bed/d.time", "value": "8n." },
                     { "t": 7, "type": "macro", "macro": 8, "value": 0.1 } ] } ],
        "markers": [ { "t": 9, "label": "Drop" }, { "t": 0, "label": "" } ] }"#;

    #[test]
    fn save_load_save_is_identical_and_loses_nothing() {
        let first = parse_str(EVERY_KIND).unwrap().timeline;
        let text = to_string(&first);
        let second = parse_str(&text).unwrap().timeline;
        assert_eq!(first, second);
        assert_eq!(text, to_string(&second), "the same timeline gives the same bytes");
        assert!(text.contains(r#""morphMs": 250.5"#));
    }

    #[test]
    fn an_empty_timeline_saves_without_markers() {
        let text = to_string(&Timeline::empty(48_000));
        assert_eq!(text, "{\n  \"version\": 1,\n  \"sampleRate\": 48000,\n  \"lanes\": []\n}\n");
    }
}
