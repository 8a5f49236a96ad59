//! No allocation or deallocation on the audio thread, across recompiles and swaps.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mam_core::engine::Engine;
use mam_core::graph::compile::{CompileOptions, PortBinding};
use mam_core::reference::reference_session;
use mam_core::session::{InsertDesc, Level, ParamValue, RackKind, Route};

/// Counts allocator calls made by the current thread while armed.
struct CountingAllocator;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // try_with: the allocator may run while thread-locals are torn down.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = CALLS.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: forwards every call unchanged to the system allocator; the
// bookkeeping touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many allocator calls it made on this thread.
pub fn allocations_in(f: impl FnOnce()) -> usize {
    CALLS.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    CALLS.with(|c| c.get())
}

#[test]
fn the_guard_itself_catches_an_allocation() {
    // A guard that cannot fail proves nothing: check it sees a Vec.
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert!(n >= 1);
}

#[test]
fn process_never_allocates_across_recompiles_and_swaps() {
    let mut session = reference_session();
    // One rack on a live port too, so port input is covered.
    session.racks[3].kind = RackKind::Input("main".into());
    let options = CompileOptions { sample_rate: 48_000.0, max_block: 256, ports: vec![PortBinding::host_port("main")] };
    let (mut engine, mut audio) = Engine::new(session.clone(), options).unwrap();
    let input: Vec<f32> = (0..256).map(|i| (i as f32 * 0.05).sin()).collect();
    let mut out = vec![vec![0.0f32; 256]; 2];

    let mut run_blocks = |audio: &mut mam_core::engine::AudioProcessor, blocks: usize| {
        let port: [&[f32]; 2] = [&input, &input];
        let inputs: [&[&[f32]]; 1] = [&port];
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
        let calls = allocations_in(|| {
            for i in 0..blocks {
                // Odd sizes too, including more than max_block (split inside).
                let frames = [256, 1, 77, 256][i % 4];
                audio.process(&inputs, &mut outs, frames);
            }
        });
        assert_eq!(calls, 0, "audio thread allocated {calls} times");
    };
    run_blocks(&mut audio, 40);

    // Edits of every kind: gains, a mute, insert params, bypasses, a new bus,
    // a removed insert, then the bus bypassed and un-bypassed again.
    let edits: Vec<Box<dyn Fn(&mut mam_core::session::Session)>> = vec![
        Box::new(|s| s.buses[0].gain = Level::Db(-10.0)),
        Box::new(|s| s.buses[1].mute = true),
        Box::new(|s| {
            s.buses[3].inserts[0].params.insert("ceilingDb".into(), ParamValue::Number(-9.0));
        }),
        Box::new(|s| s.buses[0].inserts[0].bypass = true),
        Box::new(|s| {
            let mut bus = mam_core::session::Bus::new("extra");
            bus.inserts.push(InsertDesc {
                id: "lim".into(),
                kind: "limiter".into(),
                params: [("lookaheadMs".to_string(), ParamValue::Number(7.0))].into(),
                bypass: false,
                sidechains: Vec::new(),
            });
            s.buses.insert(0, bus);
            s.routes.push(Route { from: "click".into(), to: "extra".into(), gain: Level::Linear(0.3) });
        }),
        Box::new(|s| s.buses[1].inserts.clear()),
        Box::new(|s| s.buses[2].bypass = true),
        Box::new(|s| s.buses[2].bypass = false),
        Box::new(|s| s.buses[4].solo = true),
        // The spectral ducker, keyed by a source, then resized and re-moded
        // while running (its FFT plans and rings are preallocated).
        Box::new(|s| {
            s.buses[4].solo = false;
            s.buses[2].inserts.push(InsertDesc {
                id: "duck".into(),
                kind: "spectral_ducker".into(),
                params: [("thresholdDb".to_string(), ParamValue::Number(-70.0))].into(),
                bypass: false,
                sidechains: vec![mam_core::session::Sidechain { id: "key".into(), from: "voice".into() }],
            });
        }),
        Box::new(|s| {
            let duck = s.buses[2].inserts.iter_mut().find(|i| i.id == "duck").unwrap();
            duck.params.insert("fftSize".into(), ParamValue::Number(4096.0));
            duck.params.insert("overlap".into(), ParamValue::Number(8.0));
        }),
        Box::new(|s| {
            let duck = s.buses[2].inserts.iter_mut().find(|i| i.id == "duck").unwrap();
            duck.params.insert("mode".into(), ParamValue::Text("mid_side".into()));
            duck.params.insert("fftSize".into(), ParamValue::Number(512.0));
        }),
        // To the filter bank and back, then a new band count and key range.
        Box::new(|s| {
            let duck = s.buses[2].inserts.iter_mut().find(|i| i.id == "duck").unwrap();
            duck.params.insert("algorithm".into(), ParamValue::Text("filterbank".into()));
        }),
        Box::new(|s| {
            let duck = s.buses[2].inserts.iter_mut().find(|i| i.id == "duck").unwrap();
            duck.params.insert("bands".into(), ParamValue::Number(64.0));
            duck.params.insert("lowHz".into(), ParamValue::Number(150.0));
        }),
        Box::new(|s| {
            let duck = s.buses[2].inserts.iter_mut().find(|i| i.id == "duck").unwrap();
            duck.params.insert("algorithm".into(), ParamValue::Text("stft".into()));
        }),
    ];
    for edit in &edits {
        edit(&mut session);
        engine.load(session.clone()).expect("edit compiles");
        run_blocks(&mut audio, 40);
        engine.collect_garbage();
        engine.update_loudness();
    }
    // The last edits really reached the ducker: its bus now carries its latency.
    let bass = engine.info().buses.iter().find(|b| b.id == "bass").unwrap();
    assert_eq!(bass.chain_latency, 512);
    assert!(engine.display("bass", "duck").unwrap().read().unwrap().version > 0, "the ducker ran");
}

/// The filterbank ducker's parameters set in place on a running instance
/// (the engine replaces the instance when `algorithm` or `bands` change, but
/// `set_param` must be safe anyway): switching algorithm both ways,
/// re-laying the bank at every band count and key range, and every other
/// parameter, all while it processes a keyed program.
#[test]
fn the_filterbank_ducker_takes_every_parameter_in_place_without_allocating() {
    use mam_core::audio_buf::AudioBuf;
    use mam_core::dsp::spectral_ducker::SpectralDucker;
    use mam_core::insert::Insert;
    let ty = mam_core::insert::registry::lookup("spectral_ducker").unwrap();
    let index = |id: &str| ty.param_index(id).unwrap();
    let mut d = SpectralDucker::new();
    d.set_param(index("algorithm"), 1.0);
    d.set_param(index("thresholdDb"), -60.0);
    d.prepare(48_000.0, 256, 2);
    let (mut audio, mut key) = (AudioBuf::new(2, 256), AudioBuf::new(2, 256));
    let changes: Vec<(&str, f32)> = vec![
        ("bands", 64.0),
        ("lowHz", 80.0),
        ("highHz", 9000.0),
        ("bands", 16.0),
        ("algorithm", 0.0),
        ("fftSize", 4096.0),
        ("algorithm", 1.0),
        ("bands", 37.4),
        ("mode", 1.0),
        ("timingTilt", 0.8),
        ("attackMs", 2.0),
        ("releaseMs", 900.0),
        ("smoothing", 1.0),
        ("mix", 0.4),
        ("depthDb", 30.0),
        ("ratio", 12.0),
        ("stereoLink", 1.0),
        ("mode", 0.0),
        ("highHz", 50.0),
        ("lowHz", 20_000.0),
    ];
    let calls = allocations_in(|| {
        for (round, &(id, value)) in changes.iter().enumerate() {
            d.set_param(index(id), value);
            for block in 0..8 {
                for ch in 0..2 {
                    for (i, (a, k)) in audio.channel_mut(ch).iter_mut().zip(key.channel_mut(ch).iter_mut()).enumerate() {
                        let t = (round * 8 + block) * 256 + i;
                        (*a, *k) = ((t as f32 * 0.031).sin() * 0.5, (t as f32 * 0.13).sin() * 0.3);
                    }
                }
                d.process(&mut audio, Some(&key), [256, 1, 77, 200][block % 4]);
            }
        }
    });
    assert_eq!(calls, 0, "the ducker allocated {calls} times");
    assert!(d.display().unwrap().read().unwrap().band_hz.is_some(), "it ran as a filter bank");
}

#[test]
fn every_insert_type_processes_and_takes_edits_without_allocating() {
    let path = format!("{}/../examples/all_inserts.json", env!("CARGO_MANIFEST_DIR"));
    let mut session = mam_core::session::load_str(&std::fs::read_to_string(path).unwrap()).unwrap().session;
    let options = CompileOptions { sample_rate: 48_000.0, max_block: 128, ports: Vec::new() };
    let (mut engine, mut audio) = Engine::new(session.clone(), options).unwrap();
    let mut out = vec![vec![0.0f32; 128]; 2];
    let mut run_blocks = |audio: &mut mam_core::engine::AudioProcessor, blocks: usize, tempo: f64| {
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
        let calls = allocations_in(|| {
            audio.set_tempo(tempo);
            audio.set_strip(1, mam_core::graph::schedule::StripControl::TrimDb(-3.0));
            audio.set_strip(2, mam_core::graph::schedule::StripControl::Pan(0.5));
            audio.set_strip(0, mam_core::graph::schedule::StripControl::Mute(false));
            audio.set_strip(3, mam_core::graph::schedule::StripControl::Solo(true));
            audio.set_strip(3, mam_core::graph::schedule::StripControl::Solo(false));
            for i in 0..blocks {
                audio.process(&[], &mut outs, [128, 1, 77][i % 3]);
            }
        });
        assert_eq!(calls, 0, "audio thread allocated {calls} times");
    };
    run_blocks(&mut audio, 200, 96.0);
    let set = |s: &mut mam_core::session::Session, bus: &str, insert: &str, id: &str, v: ParamValue| {
        let bus = s.buses.iter_mut().find(|b| b.id == bus).unwrap();
        bus.inserts.iter_mut().find(|i| i.id == insert).unwrap().params.insert(id.into(), v);
    };
    let edits: Vec<(&str, &str, &str, ParamValue)> = vec![
        ("echo", "dly", "time", ParamValue::Text("4t".into())),
        ("echo", "dly", "time", ParamValue::Number(120.0)),
        ("drum_bus", "tone", "b2FreqHz", ParamValue::Number(6000.0)),
        ("drum_bus", "glue", "detector", ParamValue::Text("peak".into())),
        ("keys_bus", "sweep", "type", ParamValue::Text("bandpass".into())),
        ("keys_bus", "wobble", "voices", ParamValue::Number(4.0)),
        ("bass_bus", "drive", "type", ParamValue::Text("hard".into())),
        ("room", "verb", "decay", ParamValue::Number(6.0)),
        ("room", "verb", "size", ParamValue::Number(1.0)),
        ("band", "carve", "fftSize", ParamValue::Number(4096.0)),
    ];
    for (bus, insert, id, value) in edits {
        set(&mut session, bus, insert, id, value);
        engine.load(session.clone()).unwrap();
        run_blocks(&mut audio, 60, 140.0);
        engine.collect_garbage();
    }
}

#[test]
fn scene_transitions_morphs_macros_and_stems_never_allocate() {
    use mam_core::graph::controls::HostControl;
    use mam_core::session::{Curve, Macro, MacroTarget, Scene, Transition};
    let path = format!("{}/../examples/all_inserts.json", env!("CARGO_MANIFEST_DIR"));
    let mut session = mam_core::session::load_str(&std::fs::read_to_string(path).unwrap()).unwrap().session;
    let bus_paths: Vec<String> = session.buses.iter().flat_map(|b| [format!("{}.gainDb", b.id), format!("{}.pan", b.id), format!("{}.mute", b.id)]).collect();
    let scene = |name: &str, gain: f64, transition| Scene {
        name: name.into(),
        transition,
        quantize: None,
        values: bus_paths
            .iter()
            .map(|p| {
                let v = if p.ends_with("gainDb") { ParamValue::Number(gain) } else if p.ends_with("pan") { ParamValue::Number(gain / 24.0) } else { ParamValue::Bool(gain < -10.0) };
                (p.clone(), v)
            })
            .chain([("band/carve.depthDb".to_string(), ParamValue::Number(-gain)), ("echo/dly.time".to_string(), ParamValue::Text("8n".into()))])
            .collect(),
    };
    session.scenes = vec![scene("one", -3.0, Transition::Instant), scene("two", -12.0, Transition::Morph { ms: 50.0 })];
    session.macros = vec![Macro {
        name: "m".into(),
        targets: vec![
            MacroTarget { path: "band/carve.mix".into(), min: 0.0, max: -1.0, curve: Curve::Log },
            MacroTarget { path: "room/verb.decay".into(), min: 0.0, max: 3.0, curve: Curve::Power(3.0) },
        ],
    }];
    let options = CompileOptions { sample_rate: 48_000.0, max_block: 128, ports: Vec::new() };
    let (mut engine, mut audio) = Engine::new(session.clone(), options).unwrap();
    let mut out = vec![vec![0.0f32; 128]; 2];
    let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
    // Eight stereo stem outputs too (the plugin's stem layout).
    let mut stem_bufs = vec![vec![vec![0.0f32; 128]; 2]; 8];
    let mut stem_channels: Vec<Vec<&mut [f32]>> = stem_bufs.iter_mut().map(|s| s.iter_mut().map(|c| c.as_mut_slice()).collect()).collect();
    let mut stems: Vec<&mut [&mut [f32]]> = stem_channels.iter_mut().map(|c| c.as_mut_slice()).collect();
    for round in 0..3 {
        let calls = allocations_in(|| {
            for (i, control) in [
                HostControl::Scene(1),
                HostControl::Scene(2),
                HostControl::Macro(0, 0.7),
                HostControl::MorphA(1),
                HostControl::MorphB(2),
                HostControl::Morph(0.3),
                HostControl::DuckerDepthDb(0, -6.0),
                HostControl::DuckerMix(0, 0.5),
                HostControl::Scene(0),
                HostControl::Scene(9),
            ]
            .into_iter()
            .enumerate()
            {
                audio.set_control(control);
                for b in 0..30 {
                    audio.process_with_stems(&[], &mut outs, &mut stems, [128, 1, 77][(i + b) % 3]);
                }
            }
        });
        assert_eq!(calls, 0, "round {round}: the audio thread allocated {calls} times");
        session.scenes[1].values.insert("band/carve.depthDb".into(), ParamValue::Number(20.0 + round as f64));
        engine.load(session.clone()).unwrap();
        engine.collect_garbage();
    }
}
