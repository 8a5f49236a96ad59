//! Writes a [`Session`] back to JSON: deterministic, and lossless under load → save → load.

use serde_json::{json, Map, Value};

use super::*;

/// The session as a JSON value. Fields at their defaults are left out, levels
/// keep the spelling they were read with (`gain` or `gainDb`), and object keys
/// come out in a fixed order, so the same session always gives the same bytes.
pub fn to_value(s: &Session) -> Value {
    let mut root = Map::new();
    root.insert("version".into(), json!(s.version));
    root.insert("sampleRate".into(), json!(s.sample_rate));
    root.insert("channels".into(), json!(s.channels));
    root.insert("panLaw".into(), json!(s.pan_law.name()));
    root.insert("tempo".into(), json!(s.tempo));
    if s.time_signature != DEFAULT_TIME_SIGNATURE {
        root.insert("timeSignature".into(), json!([s.time_signature.0, s.time_signature.1]));
    }
    if s.scene_quantize != Quantize::None {
        root.insert("sceneQuantize".into(), json!(s.scene_quantize.name()));
    }
    root.insert("racks".into(), Value::Array(s.racks.iter().map(rack).collect()));
    root.insert("buses".into(), Value::Array(s.buses.iter().map(bus).collect()));
    root.insert("routes".into(), Value::Array(s.routes.iter().map(route).collect()));
    if !s.scenes.is_empty() {
        root.insert("scenes".into(), Value::Array(s.scenes.iter().map(scene).collect()));
    }
    if !s.macros.is_empty() {
        root.insert("macros".into(), Value::Array(s.macros.iter().map(macro_).collect()));
    }
    if !s.mappings.is_empty() {
        root.insert("mappings".into(), Value::Array(s.mappings.iter().map(crate::mapping::save::mapping).collect()));
    }
    if s.osc != crate::mapping::OscSettings::default() {
        root.insert("osc".into(), crate::mapping::save::osc(&s.osc));
    }
    Value::Object(root)
}

/// Pretty-printed JSON text, ending in a newline.
pub fn to_string(s: &Session) -> String {
    let mut text = serde_json::to_string_pretty(&to_value(s)).expect("a JSON value always serialises");
    text.push('\n');
    text
}

fn level(map: &mut Map<String, Value>, lin: &str, db: &str, l: Level) {
    match l {
        Level::Linear(g) => map.insert(lin.into(), json!(g)),
        Level::Db(d) => map.insert(db.into(), json!(d)),
    };
}

fn sends(map: &mut Map<String, Value>, sends: &[Send]) {
    if sends.is_empty() {
        return;
    }
    let items = sends
        .iter()
        .map(|s| {
            let mut m = Map::new();
            m.insert("to".into(), json!(s.to));
            level(&mut m, "level", "levelDb", s.level);
            m.insert("tap".into(), json!(s.tap.name()));
            Value::Object(m)
        })
        .collect();
    map.insert("sends".into(), Value::Array(items));
}

fn rack(r: &Rack) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(r.id));
    match &r.kind {
        RackKind::Input(port) => {
            m.insert("input".into(), json!(port));
        }
        RackKind::File(path) => {
            m.insert("path".into(), json!(path));
        }
        RackKind::Generator(g) => {
            m.insert("generator".into(), generator(g));
        }
        RackKind::Unbound => {}
    }
    level(&mut m, "gain", "gainDb", r.gain);
    if r.start_offset_frames != 0 {
        m.insert("startOffsetFrames".into(), json!(r.start_offset_frames));
    }
    sends(&mut m, &r.sends);
    Value::Object(m)
}

fn generator(g: &Generator) -> Value {
    match *g {
        Generator::Sine { hz, amp } => json!({ "type": "sine", "hz": hz, "amp": amp }),
        Generator::Noise { amp, seed } => json!({ "type": "noise", "amp": amp, "seed": seed }),
        Generator::Pulse { hz, amp } => json!({ "type": "pulse", "hz": hz, "amp": amp }),
        Generator::Impulse { at, amp } => json!({ "type": "impulse", "at": at, "amp": amp }),
        Generator::Voice { hz, amp, on_s, off_s } => json!({ "type": "voice", "hz": hz, "amp": amp, "onS": on_s, "offS": off_s }),
    }
}

fn bus(b: &Bus) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(b.id));
    m.insert("channels".into(), json!(b.channels));
    level(&mut m, "gain", "gainDb", b.gain);
    if b.pan != 0.0 {
        m.insert("pan".into(), json!(b.pan));
    }
    for (key, on) in [("mute", b.mute), ("solo", b.solo), ("soloSafe", b.solo_safe), ("bypass", b.bypass)] {
        if on {
            m.insert(key.into(), json!(true));
        }
    }
    if let Some(route) = &b.route {
        m.insert("route".into(), json!(route));
    }
    if let Some(slot) = b.slot {
        m.insert("slot".into(), json!(slot));
    }
    if !b.inserts.is_empty() {
        m.insert("inserts".into(), Value::Array(b.inserts.iter().map(insert).collect()));
    }
    sends(&mut m, &b.sends);
    Value::Object(m)
}

fn param_map(params: &BTreeMap<String, ParamValue>) -> Value {
    let map: Map<String, Value> = params
        .iter()
        .map(|(k, v)| {
            let v = match v {
                ParamValue::Number(x) => json!(x),
                ParamValue::Bool(b) => json!(b),
                ParamValue::Text(t) => json!(t),
            };
            (k.clone(), v)
        })
        .collect();
    Value::Object(map)
}

fn scene(s: &Scene) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(s.name));
    match s.transition {
        Transition::Instant => m.insert("transition".into(), json!("instant")),
        Transition::Morph { ms } => {
            m.insert("transition".into(), json!("morph"));
            m.insert("morphMs".into(), json!(ms))
        }
        Transition::Crossfade { ms } => {
            m.insert("transition".into(), json!("crossfade"));
            m.insert("morphMs".into(), json!(ms))
        }
    };
    if let Some(q) = s.quantize {
        m.insert("quantize".into(), json!(q.name()));
    }
    m.insert("values".into(), param_map(&s.values));
    Value::Object(m)
}

fn macro_(x: &Macro) -> Value {
    let targets = x
        .targets
        .iter()
        .map(|t| {
            let curve = match t.curve {
                Curve::Linear => json!("linear"),
                Curve::Exp => json!("exp"),
                Curve::Log => json!("log"),
                Curve::Power(k) => json!(k),
            };
            json!({ "path": t.path, "min": t.min, "max": t.max, "curve": curve })
        })
        .collect();
    json!({ "name": x.name, "targets": Value::Array(targets) })
}

fn insert(i: &InsertDesc) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(i.id));
    m.insert("type".into(), json!(i.kind));
    m.insert("params".into(), param_map(&i.params));
    if i.bypass {
        m.insert("bypass".into(), json!(true));
    }
    if !i.sidechains.is_empty() {
        let items = i.sidechains.iter().map(|s| json!({ "id": s.id, "from": s.from })).collect();
        m.insert("sidechains".into(), Value::Array(items));
    }
    Value::Object(m)
}

fn route(r: &Route) -> Value {
    let mut m = Map::new();
    m.insert("from".into(), json!(r.from));
    m.insert("to".into(), json!(r.to));
    level(&mut m, "gain", "gainDb", r.gain);
    Value::Object(m)
}
