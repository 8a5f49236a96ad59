//! Reads session JSON into a [`Session`], collecting every error and warning with its JSON path.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

use super::json::{fmt_num, join, kind_of, list, Cx, Obj};

use super::*;
use crate::graph::sort::{bus_order, SortError};
use crate::insert::registry;
use crate::insert::{db_to_gain, ParamKind};

/// One finding of the loader, anchored at a JSON path such as
/// `buses[2].sends[0].to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A session that loaded, with the warnings found on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub session: Session,
    pub warnings: Vec<Diagnostic>,
}

/// The session did not load; nothing that was running is affected.
/// `errors` is never empty.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", list(errors))]
pub struct LoadSessionError {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// Parses and validates a session from JSON text.
///
/// # Errors
/// Every problem docs/ARCHITECTURE.md §5 lists as an error (unknown ids, cycles,
/// duplicates, unknown insert types, out-of-range parameters, wrong types, not
/// JSON, a newer version), each with the JSON path where it was found.
pub fn load_str(text: &str) -> Result<Loaded, LoadSessionError> {
    let value: Value = serde_json::from_str(text).map_err(|e| LoadSessionError {
        errors: vec![Diagnostic {
            path: String::new(),
            message: format!("not valid JSON: {e}"),
        }],
        warnings: Vec::new(),
    })?;
    load_value(&value)
}

/// Like [`load_str`] for JSON already parsed.
///
/// # Errors
/// As [`load_str`].
pub fn load_value(value: &Value) -> Result<Loaded, LoadSessionError> {
    let mut cx = Cx::default();
    let session = read_session(&mut cx, value);
    if let Some(session) = &session {
        if cx.errors.is_empty() {
            check_references(&mut cx, session);
        }
        if cx.errors.is_empty() {
            if let Err(SortError::Cycle { buses, via }) = bus_order(session) {
                cx.error(
                    via.first().cloned().unwrap_or_default(),
                    format!("routing cycle {} (via {})", buses.join(" → "), via.join(", ")),
                );
            }
        }
    }
    match session {
        Some(session) if cx.errors.is_empty() => Ok(Loaded { session, warnings: cx.warnings }),
        _ => Err(LoadSessionError { errors: cx.errors, warnings: cx.warnings }),
    }
}

impl<'a> Obj<'a> {
    /// A required, non-empty id.
    fn id(&self, cx: &mut Cx) -> Option<String> {
        if !self.has("id") {
            cx.error(self.at("id"), "missing 'id'");
            return None;
        }
        let id = self.str(cx, "id")?;
        if id.is_empty() {
            cx.error(self.at("id"), "id must not be empty");
            return None;
        }
        Some(id.to_string())
    }

    /// A level written as `{lin}` (linear) or `{db}` (dB), not both, in
    /// `..=max_db`. Returns `None` when absent or wrong.
    fn level(&self, cx: &mut Cx, lin: &str, db: &str, max_db: f64) -> Option<Level> {
        match (self.has(lin), self.has(db)) {
            (true, true) => {
                cx.error(self.path.clone(), format!("give '{lin}' or '{db}', not both"));
                None
            }
            (true, false) => self.number_in(cx, lin, 0.0, db_to_gain(max_db), "").map(Level::Linear),
            (false, true) => self.number_in(cx, db, f64::MIN, max_db, " dB").map(Level::Db),
            (false, false) => None,
        }
    }

    pub(crate) fn choice<T: Copy>(&self, cx: &mut Cx, key: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.str(cx, key)?;
        match options.iter().find(|(name, _)| *name == s) {
            Some((_, value)) => Some(*value),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                cx.error(self.at(key), format!("unknown value '{s}' (expected one of: {})", names.join(", ")));
                None
            }
        }
    }
}

impl Obj<'_> {
    /// A [`Quantize`] by its session-file name.
    fn quantize(&self, cx: &mut Cx, key: &str) -> Option<Quantize> {
        let table: Vec<(&str, Quantize)> = Quantize::ALL.iter().map(|q| (q.name(), *q)).collect();
        self.choice(cx, key, &table)
    }
}

/// Largest time-signature numerator (beats in a bar).
const MAX_BEATS_PER_BAR: u64 = 32;
/// Time-signature denominators: the note values a beat may be.
const BEAT_NOTES: [u64; 6] = [1, 2, 4, 8, 16, 32];

/// `timeSignature`: `[numerator, denominator]`, the numerator 1…32 and the
/// denominator a note value (1, 2, 4, 8, 16, 32).
fn read_time_signature(cx: &mut Cx, root: &Obj) -> Option<(u32, u32)> {
    let items = root.array(cx, "timeSignature")?;
    let at = root.at("timeSignature");
    if items.len() != 2 {
        cx.error(at, format!("expected [numerator, denominator], found {} numbers", items.len()));
        return None;
    }
    let whole = |cx: &mut Cx, i: usize| -> Option<u64> {
        let v = &items[i];
        match v.as_f64() {
            Some(x) if x.fract() == 0.0 && x >= 1.0 => Some(x as u64),
            Some(x) => {
                cx.error(format!("{at}[{i}]"), format!("expected a whole number of at least 1, found {}", fmt_num(x)));
                None
            }
            None => {
                cx.error(format!("{at}[{i}]"), format!("expected a whole number, found {}", kind_of(v)));
                None
            }
        }
    };
    let (num, den) = (whole(cx, 0), whole(cx, 1));
    let num = num.filter(|&n| {
        let ok = n <= MAX_BEATS_PER_BAR;
        if !ok {
            cx.error(format!("{at}[0]"), format!("{n} beats in a bar is out of range 1..{MAX_BEATS_PER_BAR}"));
        }
        ok
    });
    let den = den.filter(|d| {
        let ok = BEAT_NOTES.contains(d);
        if !ok {
            cx.error(format!("{at}[1]"), format!("{d} is not a note value (expected one of: 1, 2, 4, 8, 16, 32)"));
        }
        ok
    });
    Some((num? as u32, den? as u32))
}

/// Largest fader, route and rack gain (+24 dB).
const MAX_GAIN_DB: f64 = 24.0;

fn read_session(cx: &mut Cx, value: &Value) -> Option<Session> {
    let root = Obj::new(cx, value, String::new())?;
    root.unknown_fields(
        cx,
        &[
            "version", "sampleRate", "channels", "panLaw", "tempo", "timeSignature", "sceneQuantize", "racks",
            "buses", "routes", "scenes", "macros", "mappings", "osc",
        ],
    );
    let mut session = Session::empty();
    session.buses.clear();

    if root.has("version") {
        let v = root.number(cx, "version")?;
        if v.fract() != 0.0 || v < 1.0 {
            cx.error("version", format!("{} is not a session version", fmt_num(v)));
            return None;
        }
        if v > SESSION_VERSION as f64 {
            cx.error(
                "version",
                format!("version {} is newer than this build reads (up to {SESSION_VERSION}); update MAM Session", fmt_num(v)),
            );
            return None;
        }
        session.version = v as u64;
    } else {
        cx.warn("version", format!("no 'version'; reading as version {SESSION_VERSION}"));
    }
    if let Some(sr) = root.integer_in(cx, "sampleRate", 8_000, 384_000) {
        session.sample_rate = sr as u32;
    }
    if let Some(ch) = root.integer_in(cx, "channels", 1, 2) {
        session.channels = ch as usize;
    }
    if let Some(law) = root.choice(cx, "panLaw", &[("balance", PanLaw::Balance), ("constant_power", PanLaw::ConstantPower)]) {
        session.pan_law = law;
    }
    if let Some(tempo) = root.number_in(cx, "tempo", 20.0, 999.0, "BPM") {
        session.tempo = tempo;
    }
    if let Some(signature) = read_time_signature(cx, &root) {
        session.time_signature = signature;
    }
    if let Some(q) = root.quantize(cx, "sceneQuantize") {
        session.scene_quantize = q;
    }
    if let Some(items) = root.array(cx, "mappings") {
        session.mappings = crate::mapping::load::read_mappings(cx, items);
    }
    if let Some(osc) = root.map.get("osc") {
        session.osc = crate::mapping::load::read_osc(cx, osc);
    }
    if let Some(scenes) = root.array(cx, "scenes") {
        if scenes.len() > MAX_SCENES {
            cx.error("scenes", format!("{} scenes; at most {MAX_SCENES} fit the host's scene parameter", scenes.len()));
        }
        for (i, v) in scenes.iter().enumerate() {
            if let Some(scene) = read_scene(cx, v, format!("scenes[{i}]"), i) {
                session.scenes.push(scene);
            }
        }
    }
    if let Some(macros) = root.array(cx, "macros") {
        if macros.len() > MAX_MACROS {
            cx.error("macros", format!("{} macros; the plugin has {MAX_MACROS} macro parameters", macros.len()));
        }
        for (i, v) in macros.iter().enumerate() {
            if let Some(m) = read_macro(cx, v, format!("macros[{i}]"), i) {
                session.macros.push(m);
            }
        }
    }

    if let Some(racks) = root.array(cx, "racks") {
        for (i, v) in racks.iter().enumerate() {
            if let Some(rack) = read_rack(cx, v, format!("racks[{i}]")) {
                session.racks.push(rack);
            }
        }
    }
    let channels = session.channels;
    if let Some(buses) = root.array(cx, "buses") {
        for (i, v) in buses.iter().enumerate() {
            if let Some(bus) = read_bus(cx, v, format!("buses[{i}]"), channels) {
                session.buses.push(bus);
            }
        }
    }
    if session.bus(MASTER_ID).is_none() {
        let mut master = Bus::new(MASTER_ID);
        master.channels = channels;
        session.buses.push(master);
    }
    if let Some(routes) = root.array(cx, "routes") {
        for (i, v) in routes.iter().enumerate() {
            if let Some(route) = read_route(cx, v, format!("routes[{i}]")) {
                session.routes.push(route);
            }
        }
    }
    Some(session)
}

fn read_rack(cx: &mut Cx, value: &Value, path: String) -> Option<Rack> {
    let o = Obj::new(cx, value, path)?;
    o.unknown_fields(cx, &["id", "input", "path", "generator", "gain", "gainDb", "startOffsetFrames", "sends"]);
    let id = o.id(cx);
    let given: Vec<&str> = ["input", "path", "generator"].into_iter().filter(|k| o.has(k)).collect();
    if given.len() > 1 {
        cx.error(o.path.clone(), format!("give only one of input, path, generator (found {})", given.join(", ")));
    }
    let kind = if o.has("input") {
        RackKind::Input(o.str(cx, "input")?.to_string())
    } else if o.has("path") {
        RackKind::File(o.str(cx, "path")?.to_string())
    } else if let Some(g) = o.map.get("generator") {
        RackKind::Generator(read_generator(cx, g, o.at("generator"))?)
    } else {
        RackKind::Unbound
    };
    let gain = o.level(cx, "gain", "gainDb", MAX_GAIN_DB).unwrap_or(Level::UNITY);
    let start_offset_frames = o.integer_in(cx, "startOffsetFrames", 0, u32::MAX as u64 * 64).unwrap_or(0);
    let sends = read_sends(cx, &o);
    Some(Rack { id: id?, kind, gain, start_offset_frames, sends })
}

fn read_generator(cx: &mut Cx, value: &Value, path: String) -> Option<Generator> {
    let o = Obj::new(cx, value, path)?;
    o.unknown_fields(cx, &["type", "hz", "amp", "seed", "at", "onS", "offS"]);
    if !o.has("type") {
        cx.error(o.at("type"), format!("missing 'type' (one of: {})", Generator::TYPES.join(", ")));
        return None;
    }
    let kind = o.choice(cx, "type", &[("sine", 0), ("noise", 1), ("pulse", 2), ("impulse", 3), ("voice", 4)])?;
    let amp = if o.has("amp") { o.number_in(cx, "amp", 0.0, 16.0, "")? } else { 0.5 };
    let hz = |cx: &mut Cx, default: f64| if o.has("hz") { o.number_in(cx, "hz", 0.001, 192_000.0, "Hz") } else { Some(default) };
    Some(match kind {
        0 => Generator::Sine { hz: hz(cx, 440.0)?, amp },
        1 => Generator::Noise { amp, seed: o.integer_in(cx, "seed", 0, u32::MAX as u64).unwrap_or(1) },
        2 => Generator::Pulse { hz: hz(cx, 1.0)?, amp },
        3 => Generator::Impulse { at: o.integer_in(cx, "at", 0, u32::MAX as u64 * 64).unwrap_or(0), amp },
        _ => {
            let seconds = |cx: &mut Cx, key: &str, default: f64| if o.has(key) { o.number_in(cx, key, 0.0, 3600.0, "s") } else { Some(default) };
            Generator::Voice { hz: hz(cx, 180.0)?, amp, on_s: seconds(cx, "onS", 1.0)?, off_s: seconds(cx, "offS", 1.0)? }
        }
    })
}

fn read_sends(cx: &mut Cx, o: &Obj) -> Vec<Send> {
    let mut sends = Vec::new();
    let Some(items) = o.array(cx, "sends") else { return sends };
    for (i, v) in items.iter().enumerate() {
        let Some(s) = Obj::new(cx, v, o.at(&format!("sends[{i}]"))) else { continue };
        s.unknown_fields(cx, &["to", "level", "levelDb", "tap"]);
        let to = if s.has("to") {
            s.str(cx, "to")
        } else {
            cx.error(s.at("to"), "missing 'to'");
            None
        };
        let level = read_send_level(cx, &s);
        let tap = if s.has("tap") {
            s.choice(cx, "tap", &[("post", Tap::Post), ("pre", Tap::Pre), ("pre_fx", Tap::PreFx)])
        } else {
            Some(Tap::Post)
        };
        if let (Some(to), Some(level), Some(tap)) = (to, level, tap) {
            sends.push(Send { to: to.to_string(), level, tap });
        }
    }
    sends
}

/// Send amounts outside 0..+12 dB are clamped with a warning (docs/ARCHITECTURE.md §5).
fn read_send_level(cx: &mut Cx, s: &Obj) -> Option<Level> {
    let max_db = crate::insert::gain_to_db(MAX_SEND_GAIN);
    match (s.has("level"), s.has("levelDb")) {
        (true, true) => {
            cx.error(s.path.clone(), "give 'level' or 'levelDb', not both");
            None
        }
        (true, false) => {
            let x = s.number(cx, "level")?;
            let clamped = x.clamp(0.0, MAX_SEND_GAIN);
            if clamped != x {
                cx.warn(s.at("level"), format!("send level {} clamped to {} (range 0..{:.3})", fmt_num(x), fmt_num(clamped), MAX_SEND_GAIN));
            }
            Some(Level::Linear(clamped))
        }
        (false, true) => {
            let x = s.number(cx, "levelDb")?;
            if x > max_db {
                cx.warn(s.at("levelDb"), format!("send level {} dB clamped to +12 dB", fmt_num(x)));
                Some(Level::Db(12.0))
            } else {
                Some(Level::Db(x))
            }
        }
        (false, false) => Some(Level::UNITY),
    }
}

fn read_bus(cx: &mut Cx, value: &Value, path: String, session_channels: usize) -> Option<Bus> {
    let o = Obj::new(cx, value, path)?;
    o.unknown_fields(
        cx,
        &["id", "channels", "gain", "gainDb", "pan", "mute", "solo", "soloSafe", "bypass", "route", "inserts", "sends", "slot"],
    );
    let id = o.id(cx)?;
    let mut bus = Bus::new(&id);
    bus.channels = session_channels;
    if let Some(ch) = o.integer_in(cx, "channels", 1, 2) {
        if ch as usize > session_channels {
            cx.error(o.at("channels"), format!("a {ch}-channel bus in a {session_channels}-channel session"));
        } else {
            bus.channels = ch as usize;
        }
    }
    if let Some(level) = o.level(cx, "gain", "gainDb", MAX_GAIN_DB) {
        bus.gain = level;
    }
    if let Some(pan) = o.number_in(cx, "pan", -1.0, 1.0, "") {
        bus.pan = pan;
    }
    bus.mute = o.bool(cx, "mute").unwrap_or(false);
    bus.solo = o.bool(cx, "solo").unwrap_or(false);
    bus.solo_safe = o.bool(cx, "soloSafe").unwrap_or(false);
    bus.bypass = o.bool(cx, "bypass").unwrap_or(false);
    bus.slot = o.integer_in(cx, "slot", 1, super::slots::MAX_BUS_SLOTS as u64);
    if bus.is_master() && bus.slot.is_some() {
        cx.error(o.at("slot"), "the master bus has its own parameter (master_gain), not a slot");
    }
    if bus.is_master() {
        if o.has("route") {
            cx.error(o.at("route"), "the master bus is the output; it cannot route to another bus");
        }
        if o.has("sends") {
            cx.error(o.at("sends"), "the master bus cannot send (everything downstream of it would be a cycle)");
        }
    } else if o.has("route") {
        bus.route = o.str(cx, "route").map(str::to_string);
    }
    bus.sends = read_sends(cx, &o);
    if let Some(items) = o.array(cx, "inserts") {
        for (i, v) in items.iter().enumerate() {
            let path = o.at(&format!("inserts[{i}]"));
            if let Some(insert) = read_insert(cx, v, path.clone()) {
                if bus.inserts.iter().any(|x| x.id == insert.id) {
                    cx.error(join(&path, "id"), format!("duplicate insert id '{}' on bus '{}'", insert.id, bus.id));
                }
                bus.inserts.push(insert);
            }
        }
    }
    Some(bus)
}

fn read_insert(cx: &mut Cx, value: &Value, path: String) -> Option<InsertDesc> {
    let o = Obj::new(cx, value, path)?;
    o.unknown_fields(cx, &["id", "type", "params", "bypass", "sidechain", "sidechains"]);
    if !o.has("type") {
        cx.error(o.at("type"), format!("missing 'type' (known: {})", registry::known_names()));
        return None;
    }
    let kind = o.str(cx, "type")?.to_string();
    let id = if o.has("id") { o.id(cx)? } else { kind.clone() };
    let mut bypass = o.bool(cx, "bypass").unwrap_or(false);

    let mut sidechains = Vec::new();
    match (o.has("sidechain"), o.has("sidechains")) {
        (true, true) => cx.error(o.path.clone(), "give 'sidechain' or 'sidechains', not both"),
        (true, false) => {
            if let Some(from) = o.str(cx, "sidechain") {
                sidechains.push(Sidechain { id: "key".to_string(), from: from.to_string() });
            }
        }
        (false, true) => {
            for (i, v) in o.array(cx, "sidechains").into_iter().flatten().enumerate() {
                let Some(s) = Obj::new(cx, v, o.at(&format!("sidechains[{i}]"))) else { continue };
                s.unknown_fields(cx, &["id", "from"]);
                let id = s.str(cx, "id").unwrap_or("key").to_string();
                if !s.has("from") {
                    cx.error(s.at("from"), "missing 'from'");
                } else if let Some(from) = s.str(cx, "from") {
                    sidechains.push(Sidechain { id, from: from.to_string() });
                }
            }
        }
        (false, false) => {}
    }

    let mut params = BTreeMap::new();
    let Some(ty) = registry::lookup(&kind) else {
        cx.error(o.at("type"), format!("unknown insert type '{kind}' (known: {})", registry::known_names()));
        return None;
    };
    if !sidechains.is_empty() && !ty.takes_key {
        cx.warn(o.at(if o.has("sidechain") { "sidechain" } else { "sidechains" }), format!("'{kind}' has no sidechain input; the key is ignored"));
    }
    if let Some(p) = o.map.get("params") {
        let Some(p) = Obj::new(cx, p, o.at("params")) else { return None };
        for key in p.map.keys() {
            let path = p.at(key);
            if key == "bypass" {
                // The effects RFC keeps `bypass` among the parameters.
                if let Some(b) = p.bool(cx, key) {
                    if o.has("bypass") && b != bypass {
                        cx.error(path, "'params.bypass' disagrees with the insert's 'bypass'; give it once");
                    }
                    bypass |= b;
                }
                continue;
            }
            // Aliases (the effects RFC's names) load as the canonical id;
            // a unit alias (`driveDb`) is converted into the id's units.
            let unit = ty.unit_alias(key);
            let id = unit.map_or_else(|| ty.canonical(key), |u| u.id);
            let Some(spec) = ty.params.iter().find(|s| s.id == id) else {
                let mut known: Vec<&str> = ty.params.iter().map(|s| s.id).collect();
                known.extend(ty.unit_aliases.iter().map(|u| u.alias));
                cx.warn(path, format!("unknown parameter '{key}' for {kind} ignored (known: {})", known.join(", ")));
                continue;
            };
            let other_spelling = p.map.keys().find(|k| *k != key && *k < key && (ty.canonical(k) == id || ty.unit_alias(k).is_some_and(|u| u.id == id)));
            if let Some(other) = other_spelling {
                cx.error(path, format!("'{key}' and '{other}' are the same parameter ('{id}'); give one"));
                continue;
            }
            let value = match spec.kind {
                ParamKind::Float { min, max, .. } => match unit {
                    Some(u) => p.number_in(cx, key, min / u.scale, max / u.scale, u.unit).map(|x| ParamValue::Number(x * u.scale)),
                    None => match (p.map[key].as_f64(), ty.unit_aliases.iter().find(|u| u.id == id)) {
                        // Above the range but within its unit alias's: a
                        // session written before the effects RFC gave this
                        // parameter in the alias's unit (`drive` in dB).
                        // The intent is clear, so it loads, with a warning.
                        (Some(x), Some(u)) if x > max && x <= max / u.scale => {
                            cx.warn(path.clone(), format!("{key} {} is above its range ({}–{}); read as {} {} {} (its unit before the effects RFC)", fmt_num(x), fmt_num(min), fmt_num(max), u.alias, fmt_num(x), u.unit));
                            Some(ParamValue::Number(x * u.scale))
                        }
                        _ => p.number_in(cx, key, min, max, spec.unit).map(ParamValue::Number),
                    },
                },
                ParamKind::Bool { .. } => p.bool(cx, key).map(ParamValue::Bool),
                ParamKind::Choice { options, .. } => {
                    let table: Vec<(&str, usize)> = options.iter().enumerate().map(|(i, n)| (*n, i)).collect();
                    p.choice(cx, key, &table).map(|i| ParamValue::Text(options[i].to_string()))
                }
                ParamKind::Discrete { values, .. } => p.number(cx, key).and_then(|x| {
                    if values.contains(&x) {
                        Some(ParamValue::Number(x))
                    } else {
                        let list: Vec<String> = values.iter().map(|v| fmt_num(*v)).collect();
                        cx.error(p.at(key), format!("{} is not one of {}", fmt_num(x), list.join(", ")));
                        None
                    }
                }),
                ParamKind::Time { min_ms, max_ms, .. } => match &p.map[key] {
                    Value::String(note) => {
                        if crate::insert::note_beats(note).is_some() {
                            Some(ParamValue::Text(note.clone()))
                        } else {
                            cx.error(p.at(key), format!("'{note}' is not a note value (like \"4n\", \"8n.\", \"4t\", \"16n\")"));
                            None
                        }
                    }
                    _ => p.number_in(cx, key, min_ms, max_ms, "ms").map(ParamValue::Number),
                },
            };
            // In the table's range but more than the DSP sustains: clamp, and say so.
            let value = match (value, ty.soft_limit(id)) {
                (Some(ParamValue::Number(x)), Some(limit)) if x > limit.max => {
                    cx.warn(path, format!("{key} {} clamped to {} ({})", fmt_num(x), fmt_num(limit.max), limit.why));
                    Some(ParamValue::Number(limit.max))
                }
                (value, _) => value,
            };
            if let Some(value) = value {
                params.insert(id.to_string(), value);
            }
        }
    }
    Some(InsertDesc { id, kind, params, bypass, sidechains })
}

/// Longest scene morph (one minute).
const MAX_MORPH_MS: f64 = 60_000.0;

fn read_scene(cx: &mut Cx, value: &Value, path: String, index: usize) -> Option<Scene> {
    let o = Obj::new(cx, value, path)?;
    o.unknown_fields(cx, &["name", "transition", "morphMs", "quantize", "values"]);
    let name = o.str(cx, "name").map_or_else(|| format!("Scene {}", index + 1), str::to_string);
    #[derive(Clone, Copy)]
    enum Kind {
        Instant,
        Morph,
        Crossfade,
    }
    let kind = o.choice(cx, "transition", &[("instant", Kind::Instant), ("morph", Kind::Morph), ("crossfade", Kind::Crossfade)]);
    let transition = match kind {
        Some(kind @ (Kind::Morph | Kind::Crossfade)) => match o.number_in(cx, "morphMs", 0.0, MAX_MORPH_MS, "ms") {
            Some(ms) if matches!(kind, Kind::Morph) => Transition::Morph { ms },
            Some(ms) => Transition::Crossfade { ms },
            None if !o.has("morphMs") => {
                let name = if matches!(kind, Kind::Morph) { "morph" } else { "crossfade" };
                cx.error(o.at("morphMs"), format!("a {name} transition needs 'morphMs'"));
                return None;
            }
            None => return None,
        },
        _ => {
            if o.has("morphMs") && !o.has("transition") {
                cx.warn(o.at("morphMs"), "'morphMs' is ignored without \"transition\": \"morph\" or \"crossfade\"");
            }
            Transition::Instant
        }
    };
    let quantize = o.quantize(cx, "quantize");
    let mut values = BTreeMap::new();
    if let Some(v) = o.map.get("values") {
        let map = Obj::new(cx, v, o.at("values"))?;
        for (key, v) in map.map {
            let value = match v {
                Value::Number(n) => ParamValue::Number(n.as_f64().unwrap_or(0.0)),
                Value::Bool(b) => ParamValue::Bool(*b),
                Value::String(t) => ParamValue::Text(t.clone()),
                other => {
                    cx.error(value_path(&map.path, key), format!("expected a number, boolean or string, found {}", kind_of(other)));
                    continue;
                }
            };
            values.insert(key.clone(), value);
        }
    }
    Some(Scene { name, transition, quantize, values })
}

/// The JSON path of a value keyed by a parameter path (which has dots).
fn value_path(object: &str, key: &str) -> String {
    format!("{object}[\"{key}\"]")
}

fn read_macro(cx: &mut Cx, value: &Value, path: String, index: usize) -> Option<Macro> {
    let o = Obj::new(cx, value, path)?;
    o.unknown_fields(cx, &["name", "targets"]);
    let name = o.str(cx, "name").map_or_else(|| format!("Macro {}", index + 1), str::to_string);
    let mut targets = Vec::new();
    for (i, v) in o.array(cx, "targets").into_iter().flatten().enumerate() {
        let Some(t) = Obj::new(cx, v, o.at(&format!("targets[{i}]"))) else { continue };
        t.unknown_fields(cx, &["path", "min", "max", "curve"]);
        let Some(path) = (if t.has("path") { t.str(cx, "path") } else { cx.error(t.at("path"), "missing 'path'"); None }) else { continue };
        let min = t.number(cx, "min").unwrap_or(0.0);
        let Some(max) = (if t.has("max") { t.number(cx, "max") } else { cx.error(t.at("max"), "missing 'max' (the offset at macro 100 %)"); None }) else { continue };
        let curve = match t.map.get("curve") {
            None => Curve::Linear,
            Some(Value::String(_)) => match t.choice(cx, "curve", &[("linear", Curve::Linear), ("exp", Curve::Exp), ("log", Curve::Log)]) {
                Some(c) => c,
                None => continue,
            },
            Some(_) => match t.number_in(cx, "curve", 0.05, 20.0, "") {
                Some(k) => Curve::Power(k),
                None => continue,
            },
        };
        targets.push(MacroTarget { path: path.to_string(), min, max, curve });
    }
    Some(Macro { name, targets })
}

fn read_route(cx: &mut Cx, value: &Value, path: String) -> Option<Route> {
    let o = Obj::new(cx, value, path)?;
    o.unknown_fields(cx, &["from", "to", "gain", "gainDb"]);
    let field = |cx: &mut Cx, key: &str| {
        if o.has(key) {
            o.str(cx, key).map(str::to_string)
        } else {
            cx.error(o.at(key), format!("missing '{key}'"));
            None
        }
    };
    let from = field(cx, "from");
    let to = field(cx, "to");
    let gain = o.level(cx, "gain", "gainDb", MAX_GAIN_DB).unwrap_or(Level::UNITY);
    Some(Route { from: from?, to: to?, gain })
}

/// Ids, references and channel counts across the whole session.
fn check_references(cx: &mut Cx, s: &Session) {
    // Racks and buses share one namespace: keys and routes name either.
    let mut seen: HashMap<&str, String> = HashMap::new();
    let ids = s.racks.iter().enumerate().map(|(i, r)| (r.id.as_str(), format!("racks[{i}].id")))
        .chain(s.buses.iter().enumerate().map(|(i, b)| (b.id.as_str(), format!("buses[{i}].id"))));
    for (id, path) in ids {
        if let Some(first) = seen.get(id) {
            cx.error(path, format!("duplicate id '{id}' (first used at {first})"));
        } else {
            seen.insert(id, path);
        }
    }

    let mut slot_owner: HashMap<u64, &str> = HashMap::new();
    for (i, b) in s.buses.iter().enumerate() {
        if let Some(slot) = b.slot {
            if let Some(first) = slot_owner.insert(slot, &b.id) {
                cx.error(format!("buses[{i}].slot"), format!("slot {slot} is already taken by bus '{first}'"));
            }
        }
    }
    for (i, slot) in super::slots::assign(s).iter().enumerate() {
        if slot.is_none() && !s.buses[i].is_master() && s.buses[i].slot.is_none() {
            cx.warn(
                format!("buses[{i}]"),
                format!("bus '{}' gets no host parameter slot (all {} are taken); the host cannot automate it", s.buses[i].id, super::slots::MAX_BUS_SLOTS),
            );
        }
    }

    let is_bus = |id: &str| s.bus(id).is_some();
    let is_rack = |id: &str| s.rack(id).is_some();
    let bus_ref = |cx: &mut Cx, path: String, id: &str, what: &str| {
        if !is_bus(id) {
            if is_rack(id) {
                cx.error(path, format!("{what} '{id}' is a source, not a bus"));
            } else {
                cx.error(path, format!("{what} unknown bus '{id}'"));
            }
        }
    };

    for (i, r) in s.racks.iter().enumerate() {
        for (j, send) in r.sends.iter().enumerate() {
            bus_ref(cx, format!("racks[{i}].sends[{j}].to"), &send.to, &format!("source '{}' sends to", r.id));
        }
        let routed = s.routes.iter().any(|route| route.from == r.id);
        if !routed && r.sends.is_empty() {
            cx.warn(format!("racks[{i}]"), format!("source '{}' has no route; it goes to master", r.id));
        }
    }
    for (i, b) in s.buses.iter().enumerate() {
        if let Some(route) = &b.route {
            bus_ref(cx, format!("buses[{i}].route"), route, &format!("bus '{}' routes to", b.id));
        }
        for (j, send) in b.sends.iter().enumerate() {
            bus_ref(cx, format!("buses[{i}].sends[{j}].to"), &send.to, &format!("bus '{}' sends to", b.id));
        }
        for (j, insert) in b.inserts.iter().enumerate() {
            for (k, sc) in insert.sidechains.iter().enumerate() {
                if !is_bus(&sc.from) && !is_rack(&sc.from) {
                    cx.error(
                        format!("buses[{i}].inserts[{j}].sidechains[{k}].from"),
                        format!("insert '{}' on bus '{}' is keyed by unknown source or bus '{}'", insert.id, b.id, sc.from),
                    );
                }
            }
        }
    }
    for (i, scene) in s.scenes.iter().enumerate() {
        for (key, value) in &scene.values {
            let at = value_path(&format!("scenes[{i}].values"), key);
            match path::resolve(s, key) {
                Ok(resolved) => match path::scene_value(s, &resolved, value) {
                    Err(e) => cx.error(at, format!("scene '{}', {key}: {e}", scene.name)),
                    Ok(x) => {
                        if let Some((max, why)) = resolved.soft_max.filter(|(max, _)| x > *max) {
                            cx.warn(at, format!("scene '{}', {key}: {} plays as {} ({why})", scene.name, fmt_num(x), fmt_num(max)));
                        }
                    }
                },
                Err(e) => cx.error(at, format!("scene '{}': {e}", scene.name)),
            }
        }
    }
    for (i, m) in s.macros.iter().enumerate() {
        for (j, target) in m.targets.iter().enumerate() {
            let at = format!("macros[{i}].targets[{j}].path");
            match path::resolve(s, &target.path) {
                Ok(resolved) if resolved.discrete => {
                    cx.error(at, format!("macro '{}': {} takes only a few set values; a macro cannot offset it", m.name, target.path))
                }
                Ok(_) => {}
                Err(e) => cx.error(at, format!("macro '{}': {e}", m.name)),
            }
        }
    }
    crate::mapping::load::check(cx, s);
    for (i, r) in s.routes.iter().enumerate() {
        if !is_rack(&r.from) {
            if is_bus(&r.from) {
                cx.error(
                    format!("routes[{i}].from"),
                    format!("'{}' is a bus; set a bus's destination with its own 'route' field", r.from),
                );
            } else {
                cx.error(format!("routes[{i}].from"), format!("route from unknown source '{}'", r.from));
            }
        }
        bus_ref(cx, format!("routes[{i}].to"), &r.to, "route to");
    }
}
