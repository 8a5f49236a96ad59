//! Property tests over generated sessions: acyclic ones compile and render
//! finite, block-size-invariant audio; cyclic ones are rejected; nothing panics.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::support::{run, white};
use mam_core::session::load::load_value;

/// A bus in a generated session, by index; buses only route and send to
/// higher indices (or master) and take keys from lower ones, so the graph
/// is acyclic by construction.
#[derive(Clone, Debug)]
struct GenBus {
    route: usize,
    sends: Vec<(usize, f64, usize)>,
    /// (kind 0..3, amount, bypass, key source)
    inserts: Vec<(u8, f64, bool, Option<usize>)>,
    gain_db: f64,
    pan: f64,
    mono: bool,
    flags: [bool; 4],
}

fn gen_bus() -> impl Strategy<Value = GenBus> {
    (
        any::<usize>(),
        prop::collection::vec((any::<usize>(), 0.0..2.0f64, 0..3usize), 0..3),
        prop::collection::vec((0..3u8, 0.0..20.0f64, any::<bool>(), prop::option::of(any::<usize>())), 0..3),
        -30.0..6.0f64,
        -1.0..=1.0f64,
        any::<bool>(),
        [any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()],
    )
        .prop_map(|(route, sends, inserts, gain_db, pan, mono, flags)| GenBus { route, sends, inserts, gain_db, pan, mono, flags })
}

const TAPS: [&str; 3] = ["post", "pre", "pre_fx"];

/// Builds session JSON from generated buses. `racks` sources route to
/// buses by `rack_routes`.
fn session_json(buses: &[GenBus], racks: usize, rack_routes: &[usize]) -> Value {
    let n = buses.len();
    let name = |i: usize| if i == n { "master".to_string() } else { format!("b{i}") };
    let bus_values: Vec<Value> = buses
        .iter()
        .enumerate()
        .map(|(i, b)| {
            // Downstream targets: any higher index, master included.
            let pick = |x: usize| i + 1 + x % (n - i);
            let inserts: Vec<Value> = b
                .inserts
                .iter()
                .enumerate()
                .map(|(k, &(kind, amount, bypass, key))| {
                    let mut v = match kind {
                        0 => json!({ "id": format!("i{k}"), "type": "limiter", "bypass": bypass,
                                     "params": { "lookaheadMs": amount, "ceilingDb": -amount } }),
                        1 => json!({ "id": format!("i{k}"), "type": "utility", "bypass": bypass,
                                     "params": { "gainDb": -amount, "width": amount / 10.0, "midSide": bypass } }),
                        _ => json!({ "id": format!("i{k}"), "type": "spectral_ducker", "bypass": bypass,
                                     "params": { "fftSize": 512, "thresholdDb": -40.0 - amount, "depthDb": amount,
                                                 "mode": if bypass { "stereo" } else { "mid_side" } } }),
                    };
                    if let Some(key) = key {
                        // Keys come from racks or from lower (earlier) buses.
                        let from = if i == 0 || key % 2 == 0 { format!("r{}", key % racks) } else { name(key % i) };
                        v["sidechain"] = json!(from);
                    }
                    v
                })
                .collect();
            let sends: Vec<Value> =
                b.sends.iter().map(|&(to, level, tap)| json!({ "to": name(pick(to)), "level": level, "tap": TAPS[tap] })).collect();
            json!({ "id": name(i), "route": name(pick(b.route)), "gainDb": b.gain_db, "pan": b.pan,
                    "channels": if b.mono { 1 } else { 2 }, "mute": b.flags[0], "solo": b.flags[1],
                    "soloSafe": b.flags[2], "bypass": b.flags[3] && b.flags[0], "inserts": inserts, "sends": sends })
        })
        .chain(std::iter::once(json!({ "id": "master", "inserts": [ { "id": "lim", "type": "limiter" } ] })))
        .collect();
    let rack_values: Vec<Value> = (0..racks).map(|r| json!({ "id": format!("r{r}") })).collect();
    let routes: Vec<Value> =
        rack_routes.iter().enumerate().map(|(r, &to)| json!({ "from": format!("r{}", r % racks), "to": name(to % (n + 1)) })).collect();
    json!({ "version": 1, "racks": rack_values, "buses": bus_values, "routes": routes })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_acyclic_sessions_compile_and_render_finite_block_invariant_audio(
        buses in prop::collection::vec(gen_bus(), 1..7),
        racks in 1..4usize,
        rack_routes in prop::collection::vec(any::<usize>(), 0..5),
        block in 1..300usize,
    ) {
        let value = session_json(&buses, racks, &rack_routes);
        let loaded = load_value(&value).map_err(|e| TestCaseError::fail(format!("{e}\n{value:#}")))?;
        let session = loaded.session;
        let frames = 900;
        let inputs: Vec<(String, Vec<Vec<f32>>)> =
            (0..racks).map(|r| (format!("r{r}"), vec![white(frames, r as u32 * 7 + 1, 1.0), white(frames, r as u32 * 7 + 2, 1.0)])).collect();
        let inputs: Vec<(&str, Vec<Vec<f32>>)> = inputs.iter().map(|(id, a)| (id.as_str(), a.clone())).collect();
        let whole = run(&session, &inputs, frames, frames);
        prop_assert!(whole.iter().flatten().all(|s| s.is_finite()));
        let sliced = run(&session, &inputs, frames, block);
        prop_assert!(whole == sliced, "block {} differs from one block", block);
    }

    #[test]
    fn random_cyclic_sessions_are_rejected_naming_a_cycle(
        buses in prop::collection::vec(gen_bus(), 2..7),
        pick in any::<(usize, usize)>(),
    ) {
        let n = buses.len();
        let (j, i) = (pick.0 % (n - 1), 0);
        let i = j + 1 + (pick.1 + i) % (n - 1 - j);
        let mut value = session_json(&buses, 1, &[0]);
        // b_j routes to b_i and b_i sends back to b_j: a two-bus cycle.
        value["buses"][j]["route"] = json!(format!("b{i}"));
        value["buses"][i]["sends"].as_array_mut().unwrap().push(json!({ "to": format!("b{j}") }));
        let err = load_value(&value).expect_err("a cycle must not load");
        prop_assert!(err.errors.iter().any(|e| e.message.contains("routing cycle")), "{}", err);
    }

    #[test]
    fn arbitrary_json_never_panics_the_loader(value in arb_json()) {
        let _ = load_value(&value);
        let _ = load_value(&json!({ "version": 1, "buses": [value.clone()], "racks": [value.clone()], "routes": [value] }));
    }
}

/// JSON built from the session's own vocabulary, so it reaches deep code paths.
fn arb_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "id", "type", "route", "sends", "inserts", "params", "to", "from", "tap", "gain", "gainDb", "level", "levelDb",
        "pan", "channels", "version", "racks", "buses", "routes", "sidechain", "sidechains", "generator", "hz", "amp",
        "lookaheadMs", "ceilingDb", "master", "input", "path", "startOffsetFrames", "solo", "mute", "bypass",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-1e6..1e6f64).prop_map(Value::from),
        prop::sample::select(vec!["master", "b0", "limiter", "utility", "pre_fx", "sine", "x", ""]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}
