//! Reading `mappings` and `osc` from a session file: shapes first
//! ([`read_mappings`], [`read_osc`]), then every name against the loaded
//! session ([`check`]); errors and warnings carry JSON paths.

use serde_json::Value;

use super::{Action, Curve, Encoding, Input, Mapping, Mode, OscSettings, Target, Transform, MAX_MAPPINGS, MAX_SMOOTH_MS};
use crate::session::json::{fmt_num, Cx, Obj};
use crate::session::path;
use crate::session::{Session, MAX_MACROS};

/// Reads the `mappings` array (shapes and ranges that need no session).
pub(crate) fn read_mappings(cx: &mut Cx, items: &[Value]) -> Vec<Mapping> {
    if items.len() > MAX_MAPPINGS {
        cx.error("mappings", format!("{} mappings; at most {MAX_MAPPINGS}", items.len()));
    }
    items.iter().enumerate().filter_map(|(i, v)| read_mapping(cx, v, format!("mappings[{i}]"))).collect()
}

/// Reads `osc`: `{ "enabled": bool, "port": 1024 … 65535 }`.
pub(crate) fn read_osc(cx: &mut Cx, value: &Value) -> OscSettings {
    let mut osc = OscSettings::default();
    let Some(o) = Obj::new(cx, value, "osc".to_string()) else { return osc };
    o.unknown_fields(cx, &["enabled", "port"]);
    if let Some(enabled) = o.bool(cx, "enabled") {
        osc.enabled = enabled;
    }
    if let Some(port) = o.integer_in(cx, "port", 1024, 65535) {
        osc.port = port as u16;
    }
    osc
}

fn read_mapping(cx: &mut Cx, value: &Value, at: String) -> Option<Mapping> {
    let o = Obj::new(cx, value, at)?;
    o.unknown_fields(cx, &["input", "transform", "target"]);
    let input = match o.map.get("input") {
        Some(v) => read_input(cx, v, o.at("input")),
        None => {
            cx.error(o.at("input"), "missing 'input'");
            None
        }
    };
    let transform = match o.map.get("transform") {
        Some(v) => read_transform(cx, v, o.at("transform")),
        None => Some(Transform::default()),
    };
    let target = match o.map.get("target") {
        Some(v) => read_target(cx, v, o.at("target")),
        None => {
            cx.error(o.at("target"), "missing 'target'");
            None
        }
    };
    let (input, transform, target) = (input?, transform?, target?);
    check_mode(cx, &o, &input, &transform, &target);
    Some(Mapping { input, transform, target })
}

/// A required whole number in `min..=max`.
fn required(cx: &mut Cx, o: &Obj, key: &str, min: u64, max: u64) -> Option<u64> {
    if !o.has(key) {
        cx.error(o.at(key), format!("missing '{key}'"));
        return None;
    }
    o.integer_in(cx, key, min, max)
}

/// A required string field; `missing` is the error when it is absent.
fn required_str<'a>(cx: &mut Cx, o: &Obj<'a>, key: &str, missing: &str) -> Option<&'a str> {
    if !o.has(key) {
        cx.error(o.at(key), missing);
        return None;
    }
    o.str(cx, key)
}

fn read_input(cx: &mut Cx, value: &Value, at: String) -> Option<Input> {
    let o = Obj::new(cx, value, at)?;
    let kind = required_str(cx, &o, "type", "missing 'type' (cc, note, pitchbend, pressure or osc)")?;
    let channel = |cx: &mut Cx| required(cx, &o, "channel", 1, 16).map(|c| c as u8);
    match kind {
        "cc" => {
            o.unknown_fields(cx, &["type", "channel", "cc", "lsb", "fourteenBit"]);
            let channel = channel(cx);
            let cc = required(cx, &o, "cc", 0, 127).map(|c| c as u8);
            let mut lsb = o.integer_in(cx, "lsb", 0, 127).map(|l| l as u8);
            if o.bool(cx, "fourteenBit") == Some(true) && lsb.is_none() {
                match cc {
                    Some(c) if c < 32 => lsb = Some(c + 32),
                    Some(c) => cx.error(o.at("fourteenBit"), format!("cc {c} has no LSB pair (14-bit pairs are cc 0…31 with cc+32); give 'lsb'")),
                    None => {}
                }
            }
            if let (Some(c), Some(l)) = (cc, lsb) {
                if c == l {
                    cx.error(o.at("lsb"), format!("the LSB controller must differ from cc {c}"));
                }
            }
            Some(Input::Cc { channel: channel?, cc: cc?, lsb })
        }
        "note" => {
            o.unknown_fields(cx, &["type", "channel", "note", "value"]);
            let channel = channel(cx);
            let note = required(cx, &o, "note", 0, 127).map(|n| n as u8);
            let gate = if o.has("value") { o.choice(cx, "value", &[("velocity", false), ("gate", true)])? } else { false };
            Some(Input::Note { channel: channel?, note: note?, gate })
        }
        "pitchbend" => {
            o.unknown_fields(cx, &["type", "channel"]);
            Some(Input::PitchBend { channel: channel(cx)? })
        }
        "pressure" => {
            o.unknown_fields(cx, &["type", "channel"]);
            Some(Input::Pressure { channel: channel(cx)? })
        }
        "osc" => {
            o.unknown_fields(cx, &["type", "address"]);
            let address = required_str(cx, &o, "address", "missing 'address'")?;
            if !address.starts_with('/') || address.len() < 2 || address.contains([' ', '#', '*', ',', '?', '[', ']', '{', '}']) {
                cx.error(o.at("address"), format!("'{address}' is not an OSC address (it starts with '/' and has no spaces or pattern characters)"));
                return None;
            }
            Some(Input::Osc { address: address.to_string() })
        }
        other => {
            cx.error(o.at("type"), format!("unknown input type '{other}' (expected cc, note, pitchbend, pressure or osc)"));
            None
        }
    }
}

fn read_transform(cx: &mut Cx, value: &Value, at: String) -> Option<Transform> {
    let o = Obj::new(cx, value, at)?;
    o.unknown_fields(cx, &["min", "max", "curve", "deadzone", "smoothMs", "steps", "invert", "mode", "encoding"]);
    let errors = cx.errors.len();
    let mut t = Transform { min: o.number(cx, "min"), max: o.number(cx, "max"), ..Transform::default() };
    match o.map.get("curve") {
        None => {}
        Some(Value::String(_)) => {
            if let Some(c) = o.choice(cx, "curve", &[("linear", Curve::Linear), ("exp", Curve::Exp), ("log", Curve::Log)]) {
                t.curve = c;
            }
        }
        Some(_) => {
            if let Some(k) = o.number_in(cx, "curve", 0.05, 20.0, "") {
                t.curve = Curve::Power(k);
            }
        }
    }
    if let Some(d) = o.number_in(cx, "deadzone", 0.0, 0.45, "") {
        t.deadzone = d;
    }
    if let Some(ms) = o.number_in(cx, "smoothMs", 0.0, MAX_SMOOTH_MS, " ms") {
        t.smooth_ms = ms;
    }
    t.steps = o.integer_in(cx, "steps", 2, 1024).map(|s| s as u32);
    t.invert = o.bool(cx, "invert").unwrap_or(false);
    let mode = if o.has("mode") {
        o.choice(cx, "mode", &[("absolute", "absolute"), ("relative", "relative"), ("toggle", "toggle"), ("momentary", "momentary")])
    } else {
        None
    };
    let encoding = if o.has("encoding") { o.choice(cx, "encoding", &[("twos", Encoding::TwosComplement), ("offset64", Encoding::Offset64)]) } else { None };
    t.mode = match mode {
        Some("absolute") => Some(Mode::Absolute),
        Some("relative") => Some(Mode::Relative(encoding.unwrap_or(Encoding::TwosComplement))),
        Some("toggle") => Some(Mode::Toggle),
        Some("momentary") => Some(Mode::Momentary),
        _ => None,
    };
    if encoding.is_some() && !matches!(t.mode, Some(Mode::Relative(_))) {
        cx.warn(o.at("encoding"), "'encoding' applies to mode 'relative' only; ignored");
    }
    (cx.errors.len() == errors).then_some(t)
}

fn read_target(cx: &mut Cx, value: &Value, at: String) -> Option<Target> {
    let o = Obj::new(cx, value, at)?;
    let given = ["path", "macro", "action"].iter().filter(|k| o.has(k)).count();
    if given != 1 {
        cx.error(o.path.clone(), "give exactly one of 'path', 'macro' or 'action'");
        return None;
    }
    if o.has("path") {
        o.unknown_fields(cx, &["path"]);
        return o.str(cx, "path").map(|p| Target::Path(p.to_string()));
    }
    if o.has("macro") {
        o.unknown_fields(cx, &["macro"]);
        return o.integer_in(cx, "macro", 1, MAX_MACROS as u64).map(|m| Target::Macro(m as usize));
    }
    o.unknown_fields(cx, &["action", "scene", "bus"]);
    let action = o.str(cx, "action")?;
    let scene = |cx: &mut Cx, first: u64| required(cx, &o, "scene", first, crate::session::MAX_SCENES as u64).map(|n| n as usize);
    let bus = |cx: &mut Cx| if o.has("bus") { o.str(cx, "bus").map(str::to_string) } else { cx.error(o.at("bus"), "missing 'bus'"); None };
    let action = match action {
        "scene" => Action::Scene(scene(cx, 0)?),
        "scene_next" => Action::SceneNext,
        "scene_prev" => Action::ScenePrev,
        "push" => Action::Push(scene(cx, 1)?),
        "pop" => Action::Pop,
        "mute" => Action::Mute(bus(cx)?),
        "solo" => Action::Solo(bus(cx)?),
        "record" => Action::Record,
        "play" => Action::Play,
        other => {
            cx.error(o.at("action"), format!("unknown action '{other}' (expected scene, scene_next, scene_prev, push, pop, mute, solo, record or play)"));
            return None;
        }
    };
    Some(Target::Action(action))
}

/// Modes that make no sense for an input or a target.
fn check_mode(cx: &mut Cx, o: &Obj, input: &Input, transform: &Transform, target: &Target) {
    let at = format!("{}.transform.mode", o.path);
    match (transform.mode, target) {
        (Some(Mode::Relative(_)), _) if !matches!(input, Input::Cc { lsb: None, .. }) => {
            cx.error(at, "mode 'relative' reads an endless encoder on a 7-bit cc input")
        }
        (Some(Mode::Relative(_)), Target::Action(a)) => cx.error(at, format!("action '{}' is triggered, not moved by an encoder", a.name())),
        (Some(Mode::Toggle | Mode::Momentary), Target::Action(Action::Scene(_) | Action::SceneNext | Action::ScenePrev | Action::Pop)) => {
            if let Target::Action(a) = target {
                cx.error(at, format!("action '{}' is triggered by a press; it has no on and off (use 'push' for a held scene)", a.name()))
            }
        }
        _ => {}
    }
}

/// Checks every mapping's names and ranges against `session` (paths
/// resolve and are not latency or structural parameters, buses exist,
/// scenes exist, ranges lie within the target's).
pub(crate) fn check(cx: &mut Cx, session: &Session) {
    for (i, m) in session.mappings.iter().enumerate() {
        let at = format!("mappings[{i}]");
        match &m.target {
            Target::Path(p) => match path::resolve(session, p) {
                Ok(r) => check_range(cx, &at, &m.transform, r.min, r.max, p),
                Err(e) => cx.error(format!("{at}.target.path"), e),
            },
            Target::Macro(n) => {
                check_range(cx, &at, &m.transform, 0.0, 1.0, &format!("macro {n}"));
                if *n > session.macros.len() {
                    cx.warn(format!("{at}.target.macro"), format!("macro {n} moves nothing in this session ({} macros defined)", session.macros.len()));
                }
            }
            Target::Action(Action::Scene(n) | Action::Push(n)) if *n > session.scenes.len() => {
                cx.error(format!("{at}.target.scene"), format!("scene {n} does not exist (the session has {} scenes)", session.scenes.len()))
            }
            Target::Action(Action::Mute(bus) | Action::Solo(bus)) => {
                if session.bus(bus).is_none() {
                    let known: Vec<&str> = session.buses.iter().map(|b| b.id.as_str()).collect();
                    cx.error(format!("{at}.target.bus"), format!("unknown bus '{bus}' (buses: {})", known.join(", ")));
                }
            }
            Target::Action(_) => {}
        }
    }
}

fn check_range(cx: &mut Cx, at: &str, t: &Transform, lo: f64, hi: f64, what: &str) {
    for (key, v) in [("min", t.min), ("max", t.max)] {
        if let Some(v) = v {
            if v < lo || v > hi {
                cx.error(format!("{at}.transform.{key}"), format!("{} is outside {what}'s range {}..{}", fmt_num(v), fmt_num(lo), fmt_num(hi)));
            }
        }
    }
}
