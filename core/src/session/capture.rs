//! Capturing the running mix as a scene: every scene-addressable value, as the editor's "Store" writes it.

use std::collections::BTreeMap;

use super::path::{self, PathTarget, MAX_BUS_DB};
use super::{ParamValue, Scene, Session};
use crate::insert::{registry, SILENCE_DB};

/// The host's live controls of one bus strip (the plugin's per-slot
/// parameters), folded into a captured scene.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HostStrip {
    /// Fader trim in dB added to the level (−144 or below is silence).
    pub trim_db: f64,
    /// Pan offset added to the pan.
    pub pan: f64,
    pub mute: bool,
    pub solo: bool,
}

/// Every scene-addressable path of `session`, in a fixed order: per bus its
/// `gainDb`, `pan`, `mute`, `solo`, `bypass`, its sends, and per insert its
/// `bypass` and every parameter scenes may move (not the structural ones);
/// then per source its `gainDb` and its sends.
pub fn scene_paths(session: &Session) -> Vec<String> {
    let mut paths = Vec::new();
    for bus in &session.buses {
        for field in ["gainDb", "pan", "mute", "solo", "bypass"] {
            paths.push(format!("{}.{field}", bus.id));
        }
        for send in &bus.sends {
            paths.push(format!("{}.send.{}", bus.id, send.to));
        }
        for insert in &bus.inserts {
            paths.push(format!("{}/{}.bypass", bus.id, insert.id));
            let Some(ty) = registry::lookup(&insert.kind) else { continue };
            for spec in ty.params {
                if !ty.latency_params.contains(&spec.id) && !ty.structural_params.contains(&spec.id) {
                    paths.push(format!("{}/{}.{}", bus.id, insert.id, spec.id));
                }
            }
        }
    }
    for rack in &session.racks {
        paths.push(format!("{}.gainDb", rack.id));
        for send in &rack.sends {
            paths.push(format!("{}.send.{}", rack.id, send.to));
        }
    }
    paths
}

/// The mix as it stands, as a scene's values: for every path of
/// [`scene_paths`], the value of the `recalled` scene where it names one
/// (by any spelling), else the session's own; with the host's strip
/// controls of each bus (`host[b]` for `session.buses[b]`; missing entries
/// count as untouched) folded in by the composition rules — the fader trim
/// added to the level (clamped to −144 … +24 dB), the pan offset added
/// (clamped to ±1), either mute mutes, either solo solos.
///
/// Recalling the result with the host's controls back at rest plays the mix
/// that was captured; with trims still applied they count twice, as for any
/// scene.
pub fn capture_scene(session: &Session, recalled: Option<&Scene>, host: &[HostStrip]) -> BTreeMap<String, ParamValue> {
    let recalled: Vec<(path::Resolved, &ParamValue)> = recalled
        .into_iter()
        .flat_map(|scene| scene.values.iter())
        .filter_map(|(key, value)| path::resolve(session, key).ok().map(|r| (r, value)))
        .collect();
    let mut values = BTreeMap::new();
    for key in scene_paths(session) {
        let Ok(r) = path::resolve(session, &key) else { continue };
        let stored = recalled.iter().find(|(x, _)| x.bus == r.bus && x.target == r.target).map(|(_, v)| (*v).clone());
        let value = stored.unwrap_or_else(|| path::session_param_value(session, &r));
        let strip = if r.target.is_source() { None } else { host.get(r.bus) };
        let value = match (strip, &r.target, value) {
            (Some(h), PathTarget::BusGain, ParamValue::Number(db)) => {
                let trimmed = if h.trim_db <= SILENCE_DB { SILENCE_DB } else { db + h.trim_db };
                ParamValue::Number(trimmed.clamp(SILENCE_DB, MAX_BUS_DB))
            }
            (Some(h), PathTarget::BusPan, ParamValue::Number(pan)) => ParamValue::Number((pan + h.pan).clamp(-1.0, 1.0)),
            (Some(h), PathTarget::BusMute, ParamValue::Bool(m)) => ParamValue::Bool(m || h.mute),
            (Some(h), PathTarget::BusSolo, ParamValue::Bool(s)) => ParamValue::Bool(s || h.solo),
            (_, _, value) => value,
        };
        values.insert(key, value);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{load_str, Transition};

    fn session() -> Session {
        load_str(
            r#"{ "version": 1,
                 "racks": [ { "id": "src", "generator": { "type": "sine", "hz": 100, "amp": 0.1 }, "gainDb": -2,
                              "sends": [ { "to": "a", "levelDb": -9 } ] } ],
                 "buses": [
                   { "id": "a", "gainDb": -6, "pan": 0.5, "solo": true,
                     "inserts": [ { "id": "u", "type": "utility", "params": { "gainDb": -3 }, "bypass": true },
                                  { "id": "d", "type": "spectral_ducker" } ],
                     "sends": [ { "to": "b", "levelDb": -12 } ] },
                   { "id": "b", "bypass": true, "inserts": [ { "id": "f", "type": "filter" } ] } ] }"#,
        )
        .unwrap()
        .session
    }

    #[test]
    fn captures_every_addressable_value_and_leaves_out_structural_ones() {
        let s = session();
        let v = capture_scene(&s, None, &[]);
        assert_eq!(v["a.gainDb"], ParamValue::Number(-6.0));
        assert_eq!(v["a.pan"], ParamValue::Number(0.5));
        assert_eq!(v["a.solo"], ParamValue::Bool(true));
        assert_eq!(v["b.bypass"], ParamValue::Bool(true));
        assert_eq!(v["a.send.b"], ParamValue::Number(-12.0));
        assert_eq!(v["a/u.bypass"], ParamValue::Bool(true));
        assert_eq!(v["a/u.gainDb"], ParamValue::Number(-3.0));
        assert_eq!(v["src.gainDb"], ParamValue::Number(-2.0));
        assert_eq!(v["src.send.a"], ParamValue::Number(-9.0));
        assert_eq!(v["a/d.mode"], ParamValue::Text("stereo".into()), "a default comes in the session's spelling");
        assert!(!v.contains_key("a/d.fftSize") && !v.contains_key("a/d.bands"));
        // Every captured value passes the loader's checks.
        for (key, value) in &v {
            let r = path::resolve(&s, key).unwrap();
            path::scene_value(&s, &r, value).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn the_recalled_scene_and_the_host_strips_fold_in() {
        let s = session();
        let scene = Scene {
            name: "x".into(),
            transition: Transition::Instant,
            quantize: None,
            values: [("a.gainDb".to_string(), ParamValue::Number(-20.0)), ("b/f.frequency".to_string(), ParamValue::Number(500.0))].into(),
        };
        let host = [HostStrip { trim_db: 3.0, pan: 0.75, mute: true, solo: false }, HostStrip { solo: true, ..Default::default() }];
        let v = capture_scene(&s, Some(&scene), &host);
        assert_eq!(v["a.gainDb"], ParamValue::Number(-17.0));
        assert_eq!(v["a.pan"], ParamValue::Number(1.0), "0.5 + 0.75 clamps to 1");
        assert_eq!(v["a.mute"], ParamValue::Bool(true));
        assert_eq!(v["b.solo"], ParamValue::Bool(true));
        assert_eq!(v["b/f.freqHz"], ParamValue::Number(500.0), "a scene value under an alias is captured under the id");
        assert!(!v.contains_key("b/f.frequency"));
        assert_eq!(v["a/u.gainDb"], ParamValue::Number(-3.0), "what the scene leaves out keeps the session's value");
    }
}
