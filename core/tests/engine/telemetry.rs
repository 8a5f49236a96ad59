//! CPU telemetry: overrun and worst-call accounting on made-up call times,
//! sampling, handles across swaps, plausibility of the measured figures
//! (a costly bus against an empty one, buses against the process call),
//! and no allocation with telemetry on.

use std::sync::Arc;

use mam_core::engine::{AudioProcessor, Engine};
use mam_core::graph::compile::CompileOptions;
use mam_core::session::Session;
use mam_core::telemetry::{Clock, CpuTotals, OverrunWatch, Telemetry, SAMPLE_INTERVAL_FRAMES, WORST_WINDOW_MS};

use super::alloc_guard::allocations_in;
use super::support::session;

const SR: f32 = 48_000.0;
/// A 64-frame call's real-time length at 48 kHz: 64 / 48 000 s, in ns (truncated).
const DEADLINE_64_NS: u64 = 1_333_333;

/// ```text
///   noise ─▶ [heavy: spectral_ducker ◀─ key: voice] ─▶ master
///   tone ──▶ [empty] ──────────────────────────────────▶ master
///   voice ─▶ [vocal] ──────────────────────────────────▶ master
/// ```
const COSTLY_AND_EMPTY: &str = r#"{ "version": 1, "sampleRate": 48000, "channels": 2,
  "racks": [
    { "id": "noise", "generator": { "type": "noise", "amp": 0.3, "seed": 5 } },
    { "id": "tone", "generator": { "type": "sine", "hz": 220, "amp": 0.2 } },
    { "id": "voice", "generator": { "type": "sine", "hz": 440, "amp": 0.3 } } ],
  "buses": [
    { "id": "heavy", "inserts": [ { "id": "duck", "type": "spectral_ducker", "sidechain": "voice",
        "params": { "fftSize": 2048, "overlap": 4 } } ] },
    { "id": "empty" },
    { "id": "vocal", "channels": 1 },
    { "id": "master" } ],
  "routes": [ { "from": "noise", "to": "heavy" }, { "from": "tone", "to": "empty" }, { "from": "voice", "to": "vocal" } ] }"#;

fn engine(session: &Session, max_block: usize) -> (Engine, AudioProcessor) {
    Engine::new(session.clone(), CompileOptions { sample_rate: SR, max_block, ports: vec![] }).expect("compiles")
}

/// Runs `calls` process calls of `frames` frames (generators only, no inputs).
fn run(audio: &mut AudioProcessor, calls: usize, frames: usize) {
    let mut out = vec![vec![0.0f32; frames]; 2];
    for _ in 0..calls {
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
        audio.process(&[], &mut outs, frames);
    }
}

fn bus_totals(t: &Telemetry, id: &str) -> CpuTotals {
    t.bus(id).unwrap_or_else(|| panic!("no telemetry for bus {id}")).totals
}

#[test]
fn overruns_are_calls_longer_than_their_real_time_length() {
    let t = Arc::new(Telemetry::new(SR));
    let mut timer = t.timer();
    // 64 frames at 48 kHz have 1.333 ms; 512 frames 10.667 ms.
    let calls = [
        (1_000_000, 64),            // within
        (DEADLINE_64_NS, 64),       // exactly the deadline: not over
        (1_400_000, 64),            // over
        (5_000_000, 64),            // over
        (5_000_000, 512),           // 5 ms of 10.667: within
        (11_000_000, 512),          // over
        (0, 0),                     // an empty call is not a call
    ];
    for (ns, frames) in calls {
        timer.record_call(ns, frames, false);
    }
    let p = t.process();
    assert_eq!(p.calls, 6);
    assert_eq!(p.overruns, 3);
    // The worst call is 5 ms at 64 frames: 3.75× its deadline (11 ms of
    // 10.667 is only 1.03×).
    assert_eq!((p.worst_ns, p.worst_deadline_ns), (5_000_000, DEADLINE_64_NS));
    assert!((p.worst_ratio() - 5_000_000.0 / 1_333_333.0).abs() < 1e-9);
    // Totals: all the time over all the audio.
    let ns: u64 = calls.iter().map(|c| c.0).sum();
    let frames: u64 = calls.iter().map(|c| c.1 as u64).sum();
    assert_eq!(p.total.totals, CpuTotals { ns, frames });
    let percent = 100.0 * ns as f64 / (frames as f64 / 48_000.0 * 1e9);
    assert!((p.total.totals.percent(SR) - percent).abs() < 1e-9);
    // None was sampled.
    assert_eq!(p.sampled.totals, CpuTotals::default());
}

#[test]
fn the_worst_call_is_shown_for_one_to_two_windows() {
    let t = Arc::new(Telemetry::new(SR));
    let mut timer = t.timer();
    let window_calls = (WORST_WINDOW_MS * 0.001 * SR) as usize / 64; // 750
    timer.record_call(3_000_000, 64, false);
    for _ in 1..window_calls {
        timer.record_call(100_000, 64, false);
    }
    assert_eq!(t.process().worst_ns, 3_000_000, "within the spike's window");
    for _ in 0..window_calls {
        timer.record_call(100_000, 64, false);
    }
    assert_eq!(t.process().worst_ns, 3_000_000, "the finished window's worst is shown through the next");
    timer.record_call(100_000, 64, false);
    assert_eq!(t.process().worst_ns, 100_000, "two windows on, only the quiet calls remain");
    // A worse call shows at once.
    timer.record_call(2_000_000, 64, false);
    assert_eq!(t.process().worst_ns, 2_000_000);
}

#[test]
fn the_smoothed_percentage_settles_on_the_share_of_the_deadline() {
    let t = Arc::new(Telemetry::new(SR));
    let mut timer = t.timer();
    // 0.4 ms of every 1.333 ms: 30 %. Ten seconds of calls is 10 time
    // constants (1 s), so the smoothing has forgotten its start (e^-10).
    for _ in 0..7_500 {
        timer.record_call(400_000, 64, false);
    }
    let want = 100.0 * 400_000.0 / (64.0 / 48_000.0 * 1e9);
    let got = t.process().total.percent as f64;
    assert!((got - want).abs() < 1e-3 * want, "smoothed {got} %, want {want} %");
}

#[test]
fn the_overrun_watch_counts_the_last_ten_seconds_and_flags_repeats() {
    let mut watch = OverrunWatch::default();
    assert_eq!(watch.update(0.0, 0), 0);
    // Two overruns in the first seconds: not repeating.
    assert_eq!(watch.update(1.0, 1), 1);
    assert_eq!(watch.update(2.5, 2), 2);
    assert!(!OverrunWatch::repeating(2));
    // Two more at 4 s: four in the window, repeating.
    let recent = watch.update(4.0, 4);
    assert_eq!(recent, 4);
    assert!(OverrunWatch::repeating(recent));
    // Frames come faster than notes (one a second): counts stay right.
    assert_eq!(watch.update(4.3, 4), 4);
    // Ten seconds after the first ones they have left the window.
    assert_eq!(watch.update(12.0, 4), 2, "the overruns at 1 and 2.5 s are out, those at 4 s in");
    assert_eq!(watch.update(15.0, 4), 0);
    // A new engine counts from 0: the history restarts.
    assert_eq!(watch.update(16.0, 0), 0);
    assert_eq!(watch.update(17.0, 1), 1);
}

#[test]
fn the_clock_agrees_with_instant() {
    // The time-stamp counter's calibration: both clocks measure the same
    // sleep to within 1 % (plus 50 µs for the reads between them).
    let (clock, fallback) = (Clock::new(), Clock::instant());
    assert!(!fallback.is_tsc());
    let (f0, c0, i0) = (fallback.now(), clock.now(), std::time::Instant::now());
    std::thread::sleep(std::time::Duration::from_millis(30));
    let (c1, i1, f1) = (clock.now(), std::time::Instant::now(), fallback.now());
    // The fallback brackets the other two: at least the 30 ms slept.
    assert!(fallback.ns_between(f0, f1) >= 30_000_000);
    let by_clock = clock.ns_between(c0, c1) as f64;
    let by_instant = (i1 - i0).as_nanos() as f64;
    assert!((by_clock - by_instant).abs() < 0.01 * by_instant + 50_000.0, "clock {by_clock} ns, Instant {by_instant} ns (tsc: {})", clock.is_tsc());
    assert_eq!(clock.ns_between(c1, c0), 0, "backwards is 0, not a wrap");
}

/// Times are real, and the machine runs other work (other tests, other
/// builds): a process preempted inside a sampled call shows up as one huge
/// measurement. So the plausibility checks (orders and proportions of
/// measured times) get three runs of 20 s of audio (about 120 sampled
/// calls each) and pass when one run shows them; everything that follows
/// from how the time is taken (which calls, which frames, nesting) is
/// checked in every run. A broken measurement fails all three alike.
const ATTEMPTS: usize = 3;

/// Runs [`COSTLY_AND_EMPTY`] for 20 s in 256-frame calls, checks what must
/// hold in any run, and returns why the measured times are not plausible
/// (`None`: they are).
fn costly_and_empty_run() -> Option<String> {
    let s = session(COSTLY_AND_EMPTY);
    let (engine, mut audio) = engine(&s, 256);
    let calls = 48_000 * 20 / 256;
    run(&mut audio, calls, 256);
    let t = engine.telemetry();
    let p = t.process();
    let pct = |c: CpuTotals| c.percent(SR);

    // Every call is timed; all its frames count.
    assert_eq!(p.calls, calls as u64);
    assert_eq!(p.total.totals.frames, (calls * 256) as u64);
    // The worst call is held against its own deadline: 256 frames at 48 kHz
    // are 5.333 ms.
    assert_eq!(p.worst_deadline_ns, 5_333_333);
    assert!(p.worst_ns > 0 && p.overruns <= p.calls);
    // Sampled: the first call, then one after every interval of ½ to 1½
    // SAMPLE_INTERVAL_FRAMES (16 to 48 calls of 256 frames).
    let (shortest, longest) = (SAMPLE_INTERVAL_FRAMES as usize / 2 / 256, SAMPLE_INTERVAL_FRAMES as usize * 3 / 2 / 256);
    let sampled = p.sampled.totals.frames as usize / 256;
    assert_eq!(p.sampled.totals.frames % 256, 0);
    assert!((1 + (calls - 1) / longest..=1 + (calls - 1) / shortest).contains(&sampled), "{sampled} sampled calls of {calls}");
    let buses: Vec<CpuTotals> = ["heavy", "empty", "vocal", "master"].iter().map(|b| bus_totals(&t, b)).collect();
    for b in &buses {
        assert_eq!(b.frames, p.sampled.totals.frames, "every bus is timed in every sampled call");
    }
    // The buses are chained inside the sampled calls: their sum never
    // exceeds those calls' time; the rest is the engine's own work
    // (sources, controls, output copy, loudness tap).
    let sum: u64 = buses.iter().map(|b| b.ns).sum();
    assert!(sum <= p.sampled.totals.ns, "buses {sum} ns, sampled calls {} ns", p.sampled.totals.ns);
    // The insert is timed inside its bus, in the same calls.
    let (heavy, empty, duck) = (buses[0], buses[1], t.insert("heavy", "duck").unwrap().totals);
    assert!(duck.ns <= heavy.ns && duck.ns > 0, "duck {duck:?}, heavy {heavy:?}");
    assert_eq!(duck.frames, heavy.frames);

    let mut wrong = Vec::new();
    // A 2048-point STFT ducker with overlap 4 does two FFTs every 512
    // samples per channel; the empty bus sums and copies one source.
    if pct(heavy) <= 2.0 * pct(empty) {
        wrong.push(format!("heavy bus {:.4} % not above twice the empty one's {:.4} %", pct(heavy), pct(empty)));
    }
    if pct(duck) <= 0.5 * pct(heavy) {
        wrong.push(format!("the ducker {:.4} % is not most of its bus {:.4} %", pct(duck), pct(heavy)));
    }
    // Next to a ducker the engine's own work is a small part.
    if (sum as f64) < 0.6 * p.sampled.totals.ns as f64 {
        wrong.push(format!("buses {sum} ns are not most of the sampled calls' {} ns", p.sampled.totals.ns));
    }
    // The sampled calls stand for all of them: their share of the deadline
    // is that of every call to within a factor of 2 (the intervals are
    // random, so no periodic work is always in or always out).
    let (all, sampled) = (pct(p.total.totals), pct(p.sampled.totals));
    if !(sampled > 0.5 * all && sampled < 2.0 * all) {
        wrong.push(format!("sampled calls {sampled:.3} % against all calls {all:.3} %"));
    }
    // The smoothed figures (what the editor shows) agree on the order.
    let (heavy_now, empty_now) = (t.bus("heavy").unwrap().percent, t.bus("empty").unwrap().percent);
    if heavy_now <= empty_now {
        wrong.push(format!("smoothed: heavy {heavy_now:.4} %, empty {empty_now:.4} %"));
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

#[test]
fn a_costly_bus_reports_more_than_an_empty_one_and_the_buses_add_up_to_the_sampled_calls() {
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        match costly_and_empty_run() {
            None => return,
            Some(why) => failures.push(why),
        }
    }
    panic!("implausible in all {ATTEMPTS} runs:\n{}", failures.join("\n"));
}

#[test]
fn a_sampled_out_schedule_still_reports_after_enough_calls() {
    let s = session(COSTLY_AND_EMPTY);
    let (engine, mut audio) = engine(&s, 64);
    let t = engine.telemetry();
    // Intervals are ½ to 1½ SAMPLE_INTERVAL_FRAMES: 64 to 192 calls of 64 frames.
    let (shortest, longest) = (SAMPLE_INTERVAL_FRAMES as usize / 2 / 64, SAMPLE_INTERVAL_FRAMES as usize * 3 / 2 / 64);
    run(&mut audio, 1, 64);
    assert_eq!(bus_totals(&t, "empty").frames, 64, "the first call is sampled");
    run(&mut audio, shortest, 64);
    assert_eq!(bus_totals(&t, "empty").frames, 64, "calls 2…{} are not", shortest + 1);
    run(&mut audio, longest - shortest, 64);
    assert_eq!(bus_totals(&t, "empty").frames, 128, "one of calls {}…{} is", shortest + 2, longest + 1);
    assert_eq!(t.process().calls, longest as u64 + 1);
}

#[test]
fn counters_survive_schedule_swaps_even_a_swap_every_call() {
    let s = session(COSTLY_AND_EMPTY);
    let (mut engine, mut audio) = engine(&s, 64);
    let t = engine.telemetry();
    // At most 192 calls of 64 frames between sampled calls.
    let longest = SAMPLE_INTERVAL_FRAMES as usize * 3 / 2 / 64;
    // A new schedule before every call: none lives long enough to be
    // sampled by a count of its own, yet the counters keep going.
    for _ in 0..3 * longest + 1 {
        engine.load(s.clone()).unwrap();
        run(&mut audio, 1, 64);
        engine.collect_garbage();
    }
    let heavy = bus_totals(&t, "heavy");
    assert!(heavy.frames >= 4 * 64 && heavy.ns > 0, "four sampled calls at least: {heavy:?}");
    assert_eq!(heavy.frames, t.process().sampled.totals.frames, "no sampled call was lost to a swap");
    // A bus an edit adds starts from nothing and reports once sampled.
    let mut edited = s.clone();
    edited.buses.insert(0, mam_core::session::Bus::new("added"));
    engine.load(edited).unwrap();
    run(&mut audio, longest, 64);
    let added = bus_totals(&t, "added").frames;
    assert!(added >= 64, "the new bus was sampled");
    assert_eq!(bus_totals(&t, "heavy").frames, heavy.frames + added, "the kept bus goes on counting");
}

#[test]
fn a_host_block_split_into_parts_is_one_call_against_the_blocks_deadline() {
    let s = session(COSTLY_AND_EMPTY);
    let (engine, mut audio) = engine(&s, 64);
    let t = engine.telemetry();
    let mut out = vec![vec![0.0f32; 64]; 2];
    // Three 64-frame host blocks, each split at events into 1 + 7 + 56 frames.
    for _ in 0..3 {
        audio.begin_block(64);
        let mut start = 0;
        for len in [1, 7, 56] {
            let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[start..start + len]).collect();
            audio.process(&[], &mut outs, len);
            start += len;
        }
        audio.end_block(64);
    }
    let p = t.process();
    assert_eq!(p.calls, 3, "one call per host block, not per part");
    assert_eq!(p.total.totals.frames, 3 * 64);
    // Held against the block's 1.333 ms, never a 1-frame part's 20.8 µs.
    assert_eq!(p.worst_deadline_ns, DEADLINE_64_NS);
    // The first block is sampled: its buses are timed in all three parts.
    assert_eq!(p.sampled.totals.frames, 64);
    assert_eq!(bus_totals(&t, "heavy").frames, 64);
    // Without begin_block, each call is a block again.
    run(&mut audio, 2, 32);
    assert_eq!(t.process().calls, 5);
    // The worst is a 64-frame block's or a 32-frame call's (666.67 µs).
    assert!([DEADLINE_64_NS, 666_666].contains(&t.process().worst_deadline_ns));
}

#[test]
fn telemetry_off_reads_no_clock_and_leaves_the_figures_standing() {
    let s = session(COSTLY_AND_EMPTY);
    let (engine, mut audio) = engine(&s, 128);
    run(&mut audio, 10, 128);
    let before = engine.telemetry().process();
    audio.set_telemetry(false);
    run(&mut audio, 100, 128);
    assert_eq!(engine.telemetry().process(), before);
    audio.set_telemetry(true);
    run(&mut audio, 1, 128);
    assert_eq!(engine.telemetry().process().calls, before.calls + 1);
}

#[test]
fn no_allocation_on_the_audio_thread_with_telemetry_on() {
    let s = session(COSTLY_AND_EMPTY);
    let (mut engine, mut audio) = engine(&s, 64);
    // Calibrate and warm outside the guard.
    run(&mut audio, 2, 64);
    let sampled_before = engine.telemetry().process().sampled.totals.frames;
    let mut out = vec![vec![0.0f32; 64]; 2];
    let mut edited = s.clone();
    for round in 0..4 {
        // A swap in every round (an edit of a level), sampled calls included.
        edited.buses[1].gain = mam_core::session::Level::Db(-(round as f64));
        engine.load(edited.clone()).unwrap();
        let calls = allocations_in(|| {
            for _ in 0..2 * SAMPLE_INTERVAL_FRAMES as usize / 64 {
                let mut outs: [&mut [f32]; 2] = {
                    let (l, r) = out.split_at_mut(1);
                    [l[0].as_mut_slice(), r[0].as_mut_slice()]
                };
                audio.process(&[], &mut outs, 64);
            }
        });
        assert_eq!(calls, 0, "round {round}: the audio thread allocated {calls} times");
        engine.collect_garbage();
    }
    let sampled = engine.telemetry().process().sampled.totals.frames - sampled_before;
    assert!(sampled >= 4 * 64, "sampled calls ran inside the guard: {} of them", sampled / 64);
}
