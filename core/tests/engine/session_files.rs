//! Session JSON: lossless round trips, and every error and warning class of
//! docs/ARCHITECTURE.md §5 with its message and JSON path.

use super::support::*;
use mam_core::engine::Engine;
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::reference::REFERENCE_SESSION_JSON;
use mam_core::session::{load_str, save, Diagnostic};

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn load_save_load_is_identical_and_saving_is_deterministic() {
    for text in [example("basic.json"), REFERENCE_SESSION_JSON.to_string()] {
        let first = load_str(&text).unwrap().session;
        let saved = save::to_string(&first);
        let second = load_str(&saved).unwrap();
        assert_eq!(second.session, first);
        assert!(second.warnings.is_empty(), "saved files load without warnings: {:?}", second.warnings);
        assert_eq!(save::to_string(&second.session), saved, "same session, same bytes");
    }
}

#[test]
fn both_sidechain_spellings_and_both_gain_spellings_load() {
    let s = session(
        r#"{ "version": 1, "racks": [ { "id": "k" }, { "id": "m" } ],
        "buses": [ { "id": "a", "gain": 0.5, "inserts": [
            { "id": "x", "type": "utility", "sidechain": "k" },
            { "id": "y", "type": "utility", "sidechains": [ { "id": "key", "from": "k" } ] } ] } ],
        "routes": [ { "from": "m", "to": "a", "gainDb": -6 }, { "from": "k", "to": "a", "gain": 0.25 } ] }"#,
    );
    let a = s.bus("a").unwrap();
    assert_eq!(a.inserts[0].sidechains, a.inserts[1].sidechains);
    assert_eq!(a.gain.linear(), 0.5);
    assert!((s.routes[0].gain.linear() - 0.501_187).abs() < 1e-6);
    assert_eq!(s.routes[1].gain.linear(), 0.25);
}

/// Loads `json`, expecting failure, and returns the errors.
fn errors(json: &str) -> Vec<Diagnostic> {
    match load_str(json) {
        Ok(_) => panic!("expected errors for {json}"),
        Err(e) => e.errors,
    }
}

#[track_caller]
fn has_error(json: &str, path: &str, message: &str) {
    let errs = errors(json);
    assert!(
        errs.iter().any(|e| e.path == path && e.message.contains(message)),
        "expected error at {path} containing {message:?}; got {errs:#?}"
    );
}

#[test]
fn unknown_bus_or_source_in_route_send_or_key_is_an_error_naming_the_path() {
    let base = |routes: &str, sends: &str, key: &str| {
        format!(
            r#"{{ "version": 1, "racks": [ {{ "id": "vox" }} ],
            "buses": [ {{ "id": "bed", "sends": [{sends}], "inserts": [ {{ "id": "u", "type": "utility"{key} }} ] }}, {{ "id": "verb" }} ],
            "routes": [{routes}] }}"#
        )
    };
    has_error(&base(r#"{ "from": "vox", "to": "bedd" }"#, "", ""), "routes[0].to", "route to unknown bus 'bedd'");
    has_error(&base(r#"{ "from": "voxx", "to": "bed" }"#, "", ""), "routes[0].from", "route from unknown source 'voxx'");
    has_error(&base("", r#"{ "to": "vrb" }"#, ""), "buses[0].sends[0].to", "bus 'bed' sends to unknown bus 'vrb'");
    has_error(&base("", "", r#", "sidechain": "vocs""#), "buses[0].inserts[0].sidechains[0].from", "keyed by unknown source or bus 'vocs'");
    has_error(&base(r#"{ "from": "vox", "to": "vox" }"#, "", ""), "routes[0].to", "'vox' is a source, not a bus");
}

#[test]
fn a_cycle_is_an_error_that_names_the_cycle() {
    let errs = errors(
        r#"{ "version": 1, "buses": [
            { "id": "a", "route": "b" },
            { "id": "b", "route": "c" },
            { "id": "c", "sends": [ { "to": "a" } ] } ] }"#,
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let msg = &errs[0].message;
    assert!(msg.contains("routing cycle"), "{msg}");
    // The cycle in order, closing on its start, with the links that make it.
    let cycle_found = ["a → b → c → a", "b → c → a → b", "c → a → b → c"].iter().any(|c| msg.contains(c));
    assert!(cycle_found, "{msg}");
    for via in ["buses[0].route", "buses[1].route", "buses[2].sends[0]"] {
        assert!(msg.contains(via), "missing {via} in {msg}");
    }
}

#[test]
fn a_sidechain_key_that_closes_a_loop_is_a_cycle() {
    // a → master, and master's output keys an insert on a.
    let errs = errors(r#"{ "version": 1, "buses": [ { "id": "a", "inserts": [ { "id": "u", "type": "utility", "sidechain": "master" } ] } ] }"#);
    let msg = &errs[0].message;
    assert!(msg.contains("routing cycle") && msg.contains("buses[0].inserts[0].sidechains[0]") && msg.contains("buses[0].route"), "{msg}");
}

#[test]
fn duplicate_ids_are_errors_across_sources_and_buses() {
    has_error(r#"{ "version": 1, "buses": [ { "id": "a" }, { "id": "a" } ] }"#, "buses[1].id", "duplicate id 'a' (first used at buses[0].id)");
    has_error(r#"{ "version": 1, "racks": [ { "id": "a" } ], "buses": [ { "id": "a" } ] }"#, "buses[0].id", "duplicate id 'a' (first used at racks[0].id)");
    has_error(
        r#"{ "version": 1, "buses": [ { "id": "a", "inserts": [ { "id": "x", "type": "utility" }, { "id": "x", "type": "limiter" } ] } ] }"#,
        "buses[0].inserts[1].id",
        "duplicate insert id 'x'",
    );
}

#[test]
fn unknown_insert_type_is_an_error_listing_known_types() {
    has_error(
        r#"{ "version": 1, "buses": [ { "id": "a", "inserts": [ { "id": "x", "type": "limitr" } ] } ] }"#,
        "buses[0].inserts[0].type",
        "unknown insert type 'limitr' (known: spectral_ducker, utility, limiter",
    );
}

#[test]
fn parameter_out_of_range_is_an_error_with_the_range() {
    has_error(
        r#"{ "version": 1, "buses": [ { "id": "a", "inserts": [ { "id": "x", "type": "limiter", "params": { "ceilingDb": 3 } } ] } ] }"#,
        "buses[0].inserts[0].params.ceilingDb",
        "3 is out of range -60..0 dB",
    );
    has_error(r#"{ "version": 1, "buses": [ { "id": "a", "pan": 1.5 } ] }"#, "buses[0].pan", "1.5 is out of range -1..1");
    has_error(r#"{ "version": 1, "buses": [ { "id": "a", "gainDb": 30 } ] }"#, "buses[0].gainDb", "30 is out of range");
    has_error(r#"{ "version": 1, "channels": 6 }"#, "channels", "6 is out of range 1..2");
}

#[test]
fn wrong_types_are_errors() {
    has_error(r#"{ "version": 1, "buses": [ { "id": "a", "gainDb": "loud" } ] }"#, "buses[0].gainDb", "expected a number, found a string");
    has_error(r#"{ "version": 1, "buses": { "id": "a" } }"#, "buses", "expected an array, found an object");
    has_error(r#"{ "version": 1, "buses": [ { "id": "a", "mute": 1 } ] }"#, "buses[0].mute", "expected a boolean, found a number");
    has_error(
        r#"{ "version": 1, "buses": [ { "id": "a", "inserts": [ { "type": "utility", "params": { "invert": "yes" } } ] } ] }"#,
        "buses[0].inserts[0].params.invert",
        "expected a boolean",
    );
    has_error(r#"[1, 2]"#, "", "expected an object, found an array");
}

#[test]
fn not_json_and_newer_versions_are_errors() {
    let errs = errors("{ \"version\": 1, ");
    assert!(errs[0].message.starts_with("not valid JSON"), "{errs:?}");
    assert!(errs[0].message.contains("line 1"), "says where: {errs:?}");
    has_error(r#"{ "version": 2 }"#, "version", "version 2 is newer than this build reads (up to 1)");
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let errs = errors(r#"{ "version": 1, "sampleRate": "fast", "buses": [ { "id": "a", "pan": 9, "route": "nowhere" } ] }"#);
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"sampleRate") && paths.contains(&"buses[0].pan"), "{errs:#?}");
}

#[test]
fn warnings_send_clamped_unrouted_source_and_unknown_fields() {
    let loaded = load_str(
        r#"{ "version": 1, "colour": "red", "racks": [ { "id": "lonely" } ],
        "buses": [ { "id": "a", "sends": [ { "to": "b", "levelDb": 20 }, { "to": "b", "level": -1 } ] }, { "id": "b" } ] }"#,
    )
    .unwrap();
    let w: Vec<String> = loaded.warnings.iter().map(|d| d.to_string()).collect();
    let has = |text: &str| assert!(w.iter().any(|x| x.contains(text)), "missing warning {text:?} in {w:#?}");
    has("colour: unknown field 'colour' ignored");
    has("buses[0].sends[0].levelDb: send level 20 dB clamped to +12 dB");
    has("buses[0].sends[1].level: send level -1 clamped to 0");
    has("racks[0]: source 'lonely' has no route; it goes to master");
    let sends = &loaded.session.bus("a").unwrap().sends;
    assert_eq!(sends[0].level.db(), 12.0);
    assert_eq!(sends[1].level.linear(), 0.0);
}

#[test]
fn an_unrouted_source_really_goes_to_master() {
    let s = session(r#"{ "version": 1, "racks": [ { "id": "in" } ] }"#);
    let out = run(&s, &[("in", both(dc(64, 0.3)))], 64, 64);
    assert_eq!(out[1][63], 0.3);
}

#[test]
fn a_session_that_fails_to_compile_leaves_the_running_one_untouched() {
    let good = session(r#"{ "version": 1, "racks": [ { "id": "in" } ], "buses": [ { "id": "a", "gain": 0.5 } ], "routes": [ { "from": "in", "to": "a" } ] }"#);
    let (mut engine, mut audio) = Engine::new(good.clone(), CompileOptions { sample_rate: 48_000.0, max_block: 64, ports: vec![PortBinding::source("in")] }).unwrap();
    // Programmatic edits bypass the loader; the compiler still refuses a cycle.
    let mut bad = good.clone();
    bad.buses[0].route = Some("a".into());
    assert!(engine.load(bad).is_err());
    assert_eq!(engine.session(), &good);
    let input = dc(64, 1.0);
    let mut out = vec![vec![0.0; 64]; 2];
    let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
    audio.process(&[&[&input, &input]], &mut outs, 64);
    assert_eq!(out[0][63], 0.5, "still playing the good session");
}

#[test]
fn readme_insert_reference_matches_the_parameter_tables() {
    let readme = std::fs::read_to_string(format!("{}/../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let start = readme.find("<!-- insert-reference:start -->\n").expect("start marker") + "<!-- insert-reference:start -->\n".len();
    let end = readme.find("<!-- insert-reference:end -->").expect("end marker");
    assert_eq!(
        &readme[start..end],
        mam_core::insert::registry::markdown_reference(),
        "README is stale: paste `cargo run -p mam_core --example insert_reference` between the markers"
    );
}
