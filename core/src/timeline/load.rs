//! Reads timeline JSON into a [`Timeline`], checked against the session it plays with; every error and warning carries its JSON path.
//!
//! Errors (nothing loads): not JSON, wrong types, a newer `version`, a
//! missing or impossible `sampleRate`, an unknown event `type`, a negative or
//! fractional `t`, events out of time order within a lane, a duplicate lane
//! id, a `rampMs` or macro value out of range, and — against the session — a
//! parameter path it does not have or a value that path cannot take, a scene
//! or macro number it does not have, a morph or crossfade with no length.
//! Warnings (it loads): unknown fields, a missing `version`, a `sampleRate`
//! other than the session's (times are rescaled, see
//! [`Timeline::sample_at`]), a value above what an insert plays.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Action, Event, Lane, Marker, Policy, Timeline, EVENT_TYPES, MAX_RAMP_MS, TIMELINE_VERSION};
use crate::session::json::{fmt_num, kind_of, list, Cx, Obj};
use crate::session::{path, Diagnostic, ParamValue, Session, Transition, MAX_MACROS};

/// A timeline that loaded, with the warnings found on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub timeline: Timeline,
    pub warnings: Vec<Diagnostic>,
}

/// The timeline did not load. `errors` is never empty.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", list(errors))]
pub struct LoadTimelineError {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// Largest event time: 2⁵³ samples (every whole number up to it is exact in
/// JSON's doubles; about 5 900 years at 48 kHz).
pub const MAX_T: u64 = 1 << 53;

/// Parses a timeline and checks it against `session`: every parameter path,
/// value, scene and macro number must exist there. Times are in the
/// timeline's `sampleRate`; a rate other than the session's is a warning and
/// the times are rescaled when it plays.
///
/// # Errors
/// Every problem the module docs list as an error, each with its JSON path
/// (`lanes[1].events[4].t`); all of them, not just the first.
pub fn load_str(text: &str, session: &Session) -> Result<Loaded, LoadTimelineError> {
    read_text(text, Some(session))
}

/// Parses a timeline without a session: only its own shape is checked
/// (types, ranges, time order). [`validate`] checks it against a session.
///
/// # Errors
/// As [`load_str`], less what needs the session.
pub fn parse_str(text: &str) -> Result<Loaded, LoadTimelineError> {
    read_text(text, None)
}

/// Checks a timeline built in memory against `session`, as [`load_str`]
/// does: `(errors, warnings)`, each at the JSON path the saved timeline
/// would have.
pub fn validate(timeline: &Timeline, session: &Session) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let mut cx = Cx::default();
    check_rate(&mut cx, timeline.sample_rate, session);
    for (i, lane) in timeline.lanes.iter().enumerate() {
        for (j, event) in lane.events.iter().enumerate() {
            check_action(&mut cx, session, &event.action, &format!("lanes[{i}].events[{j}]"));
        }
    }
    (cx.errors, cx.warnings)
}

fn read_text(text: &str, session: Option<&Session>) -> Result<Loaded, LoadTimelineError> {
    let mut cx = Cx::default();
    let timeline = match serde_json::from_str::<Value>(text) {
        Ok(value) => read_timeline(&mut cx, &value, session),
        Err(e) => {
            cx.error("", format!("not valid JSON: {e}"));
            None
        }
    };
    match timeline {
        Some(timeline) if cx.errors.is_empty() => Ok(Loaded { timeline, warnings: cx.warnings }),
        _ => Err(LoadTimelineError { errors: cx.errors, warnings: cx.warnings }),
    }
}

impl<'a> Obj<'a> {
    /// The field's value, or an error naming it when it is missing.
    fn required(&self, cx: &mut Cx, key: &str, what: &str) -> Option<&'a Value> {
        let v = self.map.get(key);
        if v.is_none() {
            cx.error(self.at(key), format!("missing '{key}' ({what})"));
        }
        v
    }

    /// An event or marker time: a whole number of samples from 0.
    fn time(&self, cx: &mut Cx) -> Option<u64> {
        let v = self.required(cx, "t", "the time in samples")?;
        match v.as_f64() {
            Some(x) if x < 0.0 => {
                cx.error(self.at("t"), format!("t {} is negative; times count in samples from the timeline's start (0)", fmt_num(x)));
                None
            }
            Some(x) if x.fract() != 0.0 => {
                cx.error(self.at("t"), format!("t {x} is not a whole number of samples"));
                None
            }
            Some(x) if x > MAX_T as f64 => {
                cx.error(self.at("t"), format!("t {} is beyond the last sample a timeline holds ({MAX_T})", fmt_num(x)));
                None
            }
            Some(x) => Some(x as u64),
            None => {
                cx.error(self.at("t"), format!("expected a whole number of samples, found {}", kind_of(v)));
                None
            }
        }
    }
}

fn read_timeline(cx: &mut Cx, value: &Value, session: Option<&Session>) -> Option<Timeline> {
    let root = Obj::new(cx, value, String::new())?;
    root.unknown_fields(cx, &["version", "sampleRate", "lanes", "markers"]);
    let mut timeline = Timeline::empty(0);
    if root.has("version") {
        let v = root.integer_in(cx, "version", 1, u32::MAX as u64)?;
        if v > TIMELINE_VERSION {
            cx.error("version", format!("version {v} is newer than this build reads (up to {TIMELINE_VERSION}); update MAM Session"));
            return None;
        }
        timeline.version = v;
    } else {
        cx.warn("version", format!("no 'version'; reading as version {TIMELINE_VERSION}"));
    }
    if root.required(cx, "sampleRate", "the rate event times count in").is_some() {
        if let Some(sr) = root.integer_in(cx, "sampleRate", 8_000, 384_000) {
            timeline.sample_rate = sr as u32;
            if let Some(session) = session {
                check_rate(cx, timeline.sample_rate, session);
            }
        }
    }
    for (i, v) in root.array(cx, "lanes").into_iter().flatten().enumerate() {
        let Some(lane) = read_lane(cx, v, format!("lanes[{i}]"), session) else { continue };
        if let Some(first) = timeline.lanes.iter().position(|l| l.id == lane.id) {
            cx.error(format!("lanes[{i}].id"), format!("duplicate lane id '{}' (first used at lanes[{first}].id)", lane.id));
        }
        timeline.lanes.push(lane);
    }
    for (i, v) in root.array(cx, "markers").into_iter().flatten().enumerate() {
        let Some(o) = Obj::new(cx, v, format!("markers[{i}]")) else { continue };
        o.unknown_fields(cx, &["t", "label"]);
        let t = o.time(cx);
        let label = if o.has("label") { o.str(cx, "label").map(str::to_string) } else { Some(String::new()) };
        if let (Some(t), Some(label)) = (t, label) {
            timeline.markers.push(Marker { t, label });
        }
    }
    Some(timeline)
}

/// A timeline at another rate than the session plays at is rescaled.
fn check_rate(cx: &mut Cx, rate: u32, session: &Session) {
    if rate != session.sample_rate {
        cx.warn(
            "sampleRate",
            format!(
                "the timeline counts at {rate} Hz and the session plays at {} Hz; event times are rescaled to the nearest sample",
                session.sample_rate
            ),
        );
    }
}

fn read_lane(cx: &mut Cx, value: &Value, path: String, session: Option<&Session>) -> Option<Lane> {
    let o = Obj::new(cx, value, path)?;
    o.unknown_fields(cx, &["id", "events"]);
    let id = match o.required(cx, "id", "the lane's name") {
        Some(_) => match o.str(cx, "id") {
            Some("") => {
                cx.error(o.at("id"), "a lane id must not be empty");
                None
            }
            other => other,
        },
        None => None,
    };
    let mut events = Vec::new();
    // The time of the last event whose time could be read, and its index.
    let mut last: Option<(u64, usize)> = None;
    for (j, v) in o.array(cx, "events").into_iter().flatten().enumerate() {
        let at = o.at(&format!("events[{j}]"));
        let Some(e) = Obj::new(cx, v, at.clone()) else { continue };
        let t = e.time(cx);
        if let (Some(t), Some((before, k))) = (t, last) {
            if t < before {
                cx.error(
                    e.at("t"),
                    format!("t {t} comes before the previous event's ({before} at {}); events in a lane must be in time order", o.at(&format!("events[{k}]"))),
                );
            }
        }
        if let Some(t) = t {
            last = Some((t, j));
        }
        let action = read_action(cx, &e);
        if let (Some(action), Some(session)) = (&action, session) {
            check_action(cx, session, action, &at);
        }
        if let (Some(t), Some(action)) = (t, action) {
            events.push(Event { t, action });
        }
    }
    Some(Lane { id: id?.to_string(), events })
}

/// The event's own fields, by type (no session needed).
fn read_action(cx: &mut Cx, e: &Obj) -> Option<Action> {
    let names = EVENT_TYPES.join(", ");
    e.required(cx, "type", &format!("one of: {names}"))?;
    let ty = e.str(cx, "type")?;
    let (known, action): (&[&str], Option<Action>) = match ty {
        "set" => (&["t", "type", "path", "value", "rampMs"], read_set(cx, e)),
        "scene" => (&["t", "type", "scene", "policy", "morphMs"], read_scene(cx, e)),
        "push" => (&["t", "type", "scene"], scene_number(cx, e).map(|scene| Action::Push { scene })),
        "pop" => (&["t", "type"], Some(Action::Pop)),
        "macro" => (&["t", "type", "macro", "value"], read_macro(cx, e)),
        other => {
            cx.error(e.at("type"), format!("unknown event type '{other}' (expected one of: {names})"));
            return None;
        }
    };
    e.unknown_fields(cx, known);
    action
}

fn read_set(cx: &mut Cx, e: &Obj) -> Option<Action> {
    let path = e.required(cx, "path", "the parameter to set, like bus.gainDb").and_then(|_| e.str(cx, "path"));
    let value = e.required(cx, "value", "the value to set").and_then(|v| match v {
        Value::Number(n) => n.as_f64().map(ParamValue::Number),
        Value::Bool(b) => Some(ParamValue::Bool(*b)),
        Value::String(s) => Some(ParamValue::Text(s.clone())),
        other => {
            cx.error(e.at("value"), format!("expected a number, boolean or string, found {}", kind_of(other)));
            None
        }
    });
    let ramp_ok = !e.has("rampMs") || e.number_in(cx, "rampMs", 0.0, MAX_RAMP_MS, " ms").is_some();
    let ramp_ms = e.map.get("rampMs").and_then(Value::as_f64);
    let (path, value) = (path?, value?);
    ramp_ok.then(|| Action::Set { path: path.to_string(), value, ramp_ms })
}

fn read_scene(cx: &mut Cx, e: &Obj) -> Option<Action> {
    let scene = scene_number(cx, e);
    let ms = if e.has("morphMs") { Some(e.number_in(cx, "morphMs", 0.0, MAX_RAMP_MS, " ms")?) } else { None };
    let policy = match e.str(cx, "policy") {
        None if e.has("policy") => return None,
        None => {
            if ms.is_some() {
                cx.warn(e.at("morphMs"), "'morphMs' is ignored without a \"policy\" of \"morph\" or \"crossfade\"");
            }
            None
        }
        Some("instant") => {
            if ms.is_some() {
                cx.warn(e.at("morphMs"), "'morphMs' is ignored with \"policy\": \"instant\"");
            }
            Some(Policy::Instant)
        }
        Some("morph") => Some(Policy::Morph { ms }),
        Some("crossfade") => Some(Policy::Crossfade { ms }),
        Some(other) => {
            cx.error(e.at("policy"), format!("unknown policy '{other}' (expected one of: {})", Policy::NAMES.join(", ")));
            return None;
        }
    };
    Some(Action::Scene { scene: scene?, policy })
}

/// A `scene` field: 0 (the session's own values) or a scene number.
fn scene_number(cx: &mut Cx, e: &Obj) -> Option<usize> {
    e.required(cx, "scene", "the scene number, 1 for the first")?;
    e.integer_in(cx, "scene", 0, crate::session::MAX_SCENES as u64).map(|n| n as usize)
}

fn read_macro(cx: &mut Cx, e: &Obj) -> Option<Action> {
    let number = e.required(cx, "macro", "the macro number, 1 to 8").and_then(|_| e.integer_in(cx, "macro", 1, MAX_MACROS as u64));
    let value = e.required(cx, "value", "the macro position, 0 to 1").and_then(|_| e.number_in(cx, "value", 0.0, 1.0, ""));
    Some(Action::Macro { number: number? as usize, value: value? })
}

/// What an event names must exist in `session`; `at` is the event's path.
fn check_action(cx: &mut Cx, session: &Session, action: &Action, at: &str) {
    let field = |key: &str| format!("{at}.{key}");
    let scenes = session.scenes.len();
    let no_scene = |n: usize| {
        let mut m = format!("the session has no scene {n}");
        let _ = match scenes {
            0 => write!(m, " (it has no scenes)"),
            1 => write!(m, " (it has scene 1)"),
            _ => write!(m, " (it has scenes 1 to {scenes})"),
        };
        m
    };
    match action {
        Action::Set { path: p, value, .. } => match path::resolve(session, p) {
            Err(e) => cx.error(field("path"), e),
            Ok(resolved) => match path::scene_value(session, &resolved, value) {
                Err(e) => cx.error(field("value"), format!("{p}: {e}")),
                Ok(x) => {
                    if let Some((max, why)) = resolved.soft_max.filter(|(max, _)| x > *max) {
                        cx.warn(field("value"), format!("{p}: {} plays as {} ({why})", fmt_num(x), fmt_num(max)));
                    }
                }
            },
        },
        Action::Scene { scene, policy } => {
            if *scene > scenes {
                cx.error(field("scene"), no_scene(*scene));
            } else if let Some(p) = policy.filter(|p| !matches!(p, Policy::Instant) && p.ms().is_none()) {
                if scene_ms(session, *scene).is_none() {
                    let which = if *scene == 0 { "the session's own values have".to_string() } else { format!("scene {scene} has") };
                    cx.error(field("policy"), format!("a {} needs 'morphMs' ({which} no morph time of its own)", p.name()));
                }
            }
        }
        Action::Push { scene } => {
            if *scene == 0 {
                cx.error(field("scene"), "push a scene from 1 up (0, the session's own values, is not a scene)");
            } else if *scene > scenes {
                cx.error(field("scene"), no_scene(*scene));
            }
        }
        Action::Pop => {}
        Action::Macro { number, .. } => {
            if *number > session.macros.len() {
                let has = match session.macros.len() {
                    0 => "it defines none".to_string(),
                    1 => "it defines macro 1".to_string(),
                    n => format!("it defines macros 1 to {n}"),
                };
                cx.error(field("macro"), format!("the session defines no macro {number} ({has})"));
            }
        }
    }
}

/// The length of scene `n`'s own transition, if it has one (0 = the
/// session's own values, which have none).
pub(crate) fn scene_ms(session: &Session, n: usize) -> Option<f64> {
    let scene = session.scenes.get(n.checked_sub(1)?)?;
    match scene.transition {
        Transition::Morph { ms } | Transition::Crossfade { ms } => Some(ms),
        Transition::Instant => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::load_str as load_session;

    fn session() -> Session {
        load_session(
            r#"{ "version": 1, "buses": [ { "id": "bed" }, { "id": "fx", "inserts": [ { "id": "u", "type": "utility" } ] } ],
                "scenes": [ { "name": "A", "values": { "bed.gainDb": -3 } },
                            { "name": "B", "transition": "morph", "morphMs": 500, "values": { "bed.gainDb": -9 } } ],
                "macros": [ { "name": "M", "targets": [ { "path": "bed.pan", "max": 1 } ] } ] }"#,
        )
        .unwrap()
        .session
    }

    fn errors(text: &str) -> Vec<String> {
        load_str(text, &session()).unwrap_err().errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_issue_example_loads() {
        let t = load_str(
            r#"{ "version": 1, "sampleRate": 48000,
                 "lanes": [ { "id": "scenes", "events": [ { "t": 192000, "type": "scene", "scene": 2 } ] },
                            { "id": "bed.gainDb", "events": [ { "t": 0, "type": "set", "path": "bed.gainDb", "value": -6, "rampMs": 20 } ] } ],
                 "markers": [ { "t": 0, "label": "Intro" } ] }"#,
            &session(),
        )
        .unwrap();
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
        let tl = t.timeline;
        assert_eq!(tl.num_events(), 2);
        assert_eq!(tl.lanes[0].events[0], Event { t: 192_000, action: Action::Scene { scene: 2, policy: None } });
        assert_eq!(
            tl.lanes[1].events[0].action,
            Action::Set { path: "bed.gainDb".into(), value: ParamValue::Number(-6.0), ramp_ms: Some(20.0) }
        );
        assert_eq!(tl.markers, vec![Marker { t: 0, label: "Intro".into() }]);
    }

    #[test]
    fn every_error_is_reported_with_its_json_path() {
        let e = errors(
            r#"{ "version": 1, "sampleRate": 48000, "lanes": [
                 { "id": "a", "events": [
                   { "t": 10, "type": "set", "path": "bed.gainDb", "value": -6 },
                   { "t": 5, "type": "set", "path": "bed.gainDb", "value": -6 },
                   { "t": -1, "type": "pop" },
                   { "t": 20, "type": "jump" },
                   { "t": 20, "type": "set", "path": "bad/u.gainDb", "value": 0 },
                   { "t": 20, "type": "set", "path": "bed.gainDb", "value": "loud" },
                   { "t": 20, "type": "scene", "scene": 3 },
                   { "t": 20, "type": "push", "scene": 0 },
                   { "t": 20, "type": "macro", "macro": 2, "value": 0.5 },
                   { "t": 20, "type": "macro", "macro": 1, "value": 2 },
                   { "t": "x", "type": "pop" },
                   { "t": 20, "type": "scene", "scene": 1, "policy": "morph" },
                   { "t": 20, "type": "set", "path": "bed.gainDb", "value": 0, "rampMs": -1 } ] },
                 { "id": "a" } ] }"#,
        );
        let want = [
            "lanes[0].events[1].t: t 5 comes before the previous event's (10 at lanes[0].events[0]); events in a lane must be in time order",
            "lanes[0].events[2].t: t -1 is negative; times count in samples from the timeline's start (0)",
            "lanes[0].events[3].type: unknown event type 'jump' (expected one of: set, scene, push, pop, macro)",
            "lanes[0].events[4].path: unknown bus 'bad'",
            "lanes[0].events[5].value: bed.gainDb: expected a number",
            "lanes[0].events[6].scene: the session has no scene 3 (it has scenes 1 to 2)",
            "lanes[0].events[7].scene: push a scene from 1 up (0, the session's own values, is not a scene)",
            "lanes[0].events[8].macro: the session defines no macro 2 (it defines macro 1)",
            "lanes[0].events[9].value: 2 is out of range 0..1",
            "lanes[0].events[10].t: expected a whole number of samples, found a string",
            "lanes[0].events[11].policy: a morph needs 'morphMs' (scene 1 has no morph time of its own)",
            "lanes[0].events[12].rampMs: -1 is out of range 0..60000 ms",
            "lanes[1].id: duplicate lane id 'a' (first used at lanes[0].id)",
        ];
        assert_eq!(e, want);
    }

    #[test]
    fn not_json_wrong_types_and_missing_fields() {
        assert_eq!(errors("{ nope").len(), 1);
        assert!(errors("{ nope")[0].starts_with("not valid JSON"));
        assert_eq!(errors("[]"), ["expected an object, found an array"]);
        assert_eq!(
            errors(r#"{ "version": 2, "sampleRate": 48000 }"#),
            ["version: version 2 is newer than this build reads (up to 1); update MAM Session"]
        );
        assert_eq!(errors(r#"{ "version": 1 }"#), ["sampleRate: missing 'sampleRate' (the rate event times count in)"]);
        assert_eq!(
            errors(r#"{ "version": 1, "sampleRate": 48000, "lanes": { } }"#),
            ["lanes: expected an array, found an object"]
        );
        assert_eq!(
            errors(r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": 3, "events": [ { "t": 1.5, "type": "set", "value": [] } ] } ] }"#),
            [
                "lanes[0].id: expected a string, found a number",
                "lanes[0].events[0].t: t 1.5 is not a whole number of samples",
                "lanes[0].events[0].path: missing 'path' (the parameter to set, like bus.gainDb)",
                "lanes[0].events[0].value: expected a number, boolean or string, found an array",
            ]
        );
    }

    #[test]
    fn another_rate_warns_and_rescales_to_the_nearest_sample() {
        let loaded = load_str(r#"{ "version": 1, "sampleRate": 44100 }"#, &session()).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert_eq!(loaded.warnings[0].path, "sampleRate");
        let tl = loaded.timeline;
        assert_eq!(tl.sample_at(44_100, 48_000), 48_000);
        assert_eq!(tl.sample_at(1, 48_000), 1, "1.088… rounds to 1");
        assert_eq!(tl.sample_at(147, 48_000), 160, "159.999… rounds to 160");
        assert_eq!(tl.sample_at(7, 48_000), 8, "7.619… rounds to 8");
        assert_eq!(tl.sample_at(123, 44_100), 123);
    }

    #[test]
    fn unknown_fields_warn() {
        let loaded = load_str(
            r#"{ "version": 1, "sampleRate": 48000, "extra": 1,
                 "lanes": [ { "id": "x", "events": [ { "t": 0, "type": "pop", "colour": "red" } ] } ] }"#,
            &session(),
        )
        .unwrap();
        let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w, ["extra: unknown field 'extra' ignored", "lanes[0].events[0].colour: unknown field 'colour' ignored"]);
    }

    #[test]
    fn validate_checks_a_model_against_another_session() {
        let tl = load_str(
            r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "x", "events": [ { "t": 0, "type": "set", "path": "fx/u.gainDb", "value": -3 } ] } ] }"#,
            &session(),
        )
        .unwrap()
        .timeline;
        assert!(validate(&tl, &session()).0.is_empty());
        let mut other = session();
        other.buses.retain(|b| b.id != "fx");
        let (errors, _) = validate(&tl, &other);
        assert_eq!(errors.iter().map(ToString::to_string).collect::<Vec<_>>(), ["lanes[0].events[0].path: unknown bus 'fx'"]);
    }
}
