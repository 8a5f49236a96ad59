//! `mam render` streaming and in parallel: chunk boundaries, several sessions at once, any number of threads, all bit-identical.

#[path = "support/common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{example, mam, noise, scratch, text};

fn read_wav(path: &Path) -> Vec<Vec<f32>> {
    common::read_wav(path).1
}

fn write_wav(path: &Path, channels: &[Vec<f32>]) {
    common::write_wav(path, 48_000, channels)
}

#[track_caller]
fn assert_ok(r: &Output) {
    assert!(r.status.success(), "{}", text(&r.stderr));
}

/// Every file under `dir` (recursively), relative path → bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// ```text
///   file (offset 70 000) ─▶ [dry] ─────────────────▶ master ─▶ [lim 5 ms]
/// ```
/// A file source on an empty bus into a limiter that never reaches its
/// ceiling: the output is the input moved by its start offset, exactly.
const OFFSET_SESSION: &str = r#"{ "version": 1, "sampleRate": 48000,
  "racks": [ { "id": "src", "path": "in.wav", "startOffsetFrames": 70000 } ],
  "buses": [ { "id": "dry" }, { "id": "master", "inserts": [ { "id": "lim", "type": "limiter", "params": { "ceilingDb": -1, "lookaheadMs": 5 } } ] } ],
  "routes": [ { "from": "src", "to": "dry" } ] }"#;

/// The render streams in chunks of about 64k frames: a file longer than
/// several chunks, starting mid-chunk, with the limiter's 240 samples of
/// latency trimmed, comes out sample for sample where it went in, in the
/// output and in the stems, on one thread and on four.
#[test]
fn a_long_input_crosses_chunk_boundaries_unchanged_and_in_place() {
    let dir = scratch("chunks");
    let frames = 200_000;
    let input = vec![noise(frames, 0.25, 11), noise(frames, 0.25, 12)];
    write_wav(&dir.join("in.wav"), &input);
    let session = dir.join("offset.json");
    std::fs::write(&session, OFFSET_SESSION).unwrap();
    for threads in ["1", "4"] {
        let (out, stems) = (dir.join(format!("out{threads}.wav")), dir.join(format!("stems{threads}")));
        let r = mam(&["render", session.to_str().unwrap(), "--out", out.to_str().unwrap(), "--stems", stems.to_str().unwrap(), "--threads", threads, "--block", "1000"]);
        assert_ok(&r);
        assert!(text(&r.stderr).contains("latency 240 samples (trimmed)"), "{}", text(&r.stderr));
        for (what, audio) in [("output", read_wav(&out)), ("dry stem", read_wav(&stems.join("dry.wav"))), ("master stem", read_wav(&stems.join("master.wav")))] {
            assert_eq!(audio.len(), 2);
            for (ch, (got, want)) in audio.iter().zip(&input).enumerate() {
                assert_eq!(got.len(), 70_000 + frames, "{what}: length is the input's plus its offset");
                assert!(got[..70_000].iter().all(|&s| s == 0.0), "{what} ch {ch}: silent before the offset");
                if let Some(i) = got[70_000..].iter().zip(want).position(|(a, b)| a != b) {
                    panic!("{what} ch {ch} ({threads} threads): frame {} is {} but the input's {i} is {}", 70_000 + i, got[70_000 + i], want[i]);
                }
            }
        }
    }
}

/// ```text
///   in ─▶ [a: compressor keyed by key, 3 ms lookahead] ─▶ master ─▶ [lim]
///   key ─▶ [b] ───────────────────────────────────────────▶ master
/// ```
/// A session made for the plugin: `in` and `key` are input sources, fed by `--in`.
const PLUGIN_SESSION: &str = r#"{ "version": 1, "sampleRate": 48000,
  "racks": [ { "id": "in", "input": "main" }, { "id": "key", "input": "sidechain1" } ],
  "buses": [ { "id": "a", "inserts": [ { "id": "comp", "type": "compressor", "sidechain": "key", "params": { "thresholdDb": -30, "ratio": 4, "lookaheadMs": 3 } } ] },
             { "id": "b" },
             { "id": "master", "inserts": [ { "id": "lim", "type": "limiter", "params": { "ceilingDb": -1, "lookaheadMs": 5 } } ] } ],
  "routes": [ { "from": "in", "to": "a" }, { "from": "key", "to": "b" } ] }"#;

/// Several sessions at once (the all-inserts and basic examples, and two
/// plugin sessions fed by the same `--in` bindings, which bind in every
/// session that has those sources) give exactly the files each gives alone,
/// with 1, 2 and 4 threads.
#[test]
fn several_sessions_render_bit_identical_to_each_alone_with_1_2_and_4_threads() {
    let dir = scratch("many");
    let frames = 150_000;
    write_wav(&dir.join("music.wav"), &[noise(frames, 0.3, 1), noise(frames, 0.3, 2)]);
    let mut voice = noise(frames, 0.5, 3);
    voice[frames / 2..].fill(0.0);
    write_wav(&dir.join("voice.wav"), &[voice]);
    let plugin_a = dir.join("plugin_a.json");
    std::fs::write(&plugin_a, PLUGIN_SESSION).unwrap();
    let plugin_b = dir.join("plugin_b.json");
    std::fs::write(&plugin_b, PLUGIN_SESSION.replace(r#""ratio": 4"#, r#""ratio": 10"#)).unwrap();
    let sessions = [example("all_inserts.json"), example("basic.json"), plugin_a.to_str().unwrap().to_string(), plugin_b.to_str().unwrap().to_string()];
    let (music_in, voice_in) = (format!("in={}", dir.join("music.wav").display()), format!("key={}", dir.join("voice.wav").display()));
    let common = ["--in", &music_in, "--in", &voice_in, "--duration", "3.1", "--block", "256"];

    // Alone: one session per run, on one thread.
    let alone = dir.join("alone");
    for session in &sessions {
        let stem = Path::new(session).file_stem().unwrap().to_str().unwrap();
        let (out, stems) = (alone.join(format!("{stem}.wav")), alone.join(stem));
        std::fs::create_dir_all(&alone).unwrap();
        // A session without `in` or `key` may not be given those bindings alone.
        let bindings: &[&str] = if stem.starts_with("plugin") { &common[..4] } else { &[] };
        let mut args = vec!["render", session, "--out", out.to_str().unwrap(), "--stems", stems.to_str().unwrap(), "--threads", "1"];
        args.extend_from_slice(bindings);
        args.extend_from_slice(&common[4..]);
        assert_ok(&mam(&args));
    }
    let want = files(&alone);
    assert_eq!(want.len(), 4 + 8 + 4 + 3 + 3, "four outputs and every bus's stem");
    let voiced = read_wav(&alone.join("plugin_a.wav"));
    assert!(voiced[0].iter().any(|s| s.abs() > 0.1), "the plugin session hears its --in files");
    assert_ne!(files(&alone.join("plugin_a")), files(&alone.join("plugin_b")), "the two plugin sessions differ");

    for threads in ["1", "2", "4"] {
        let together = dir.join(format!("together{threads}"));
        let mut args = vec!["render"];
        args.extend(sessions.iter().map(String::as_str));
        args.extend_from_slice(&common);
        args.extend_from_slice(&["--out-dir", together.to_str().unwrap(), "--threads", threads, "--stems"]);
        let r = mam(&args);
        assert_ok(&r);
        let report = text(&r.stderr);
        assert!(report.contains("from 4 sessions in") && report.contains(&format!("on {threads} thread(s)")), "{report}");
        let got = files(&together);
        assert_eq!(got.iter().map(|(p, _)| p).collect::<Vec<_>>(), want.iter().map(|(p, _)| p).collect::<Vec<_>>(), "{threads} threads: the same files");
        for ((path, a), (_, b)) in got.iter().zip(&want) {
            assert!(a == b, "{threads} threads: {} differs from the session rendered alone", path.display());
        }
    }
}

#[test]
fn several_sessions_need_an_out_dir_distinct_names_and_a_binding_some_session_takes() {
    let dir = scratch("many-errors");
    let (a, b) = (example("basic.json"), example("scenes.json"));
    let out = dir.join("o.wav");
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let again = other.join("basic.json");
    std::fs::copy(&a, &again).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["render", &a, &b, "--out", out.to_str().unwrap()], "several sessions render with --out-dir DIR"),
        (vec!["render", &a, "--out", out.to_str().unwrap(), "--out-dir", dir.to_str().unwrap()], "give --out or --out-dir, not both"),
        (vec!["render", &a], "give --out OUT.wav (one session) or --out-dir DIR"),
        (vec!["render", &a, again.to_str().unwrap(), "--out-dir", dir.to_str().unwrap()], "would both write"),
        (vec!["render", &a, &b, "--in", "nope=x.wav", "--out-dir", dir.to_str().unwrap()], "has no source 'nope'"),
        (vec!["render", &a, "--out", out.to_str().unwrap(), "--stems"], "--stems needs a folder with --out"),
    ];
    for (args, want) in cases {
        let r = mam(&args);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {}", text(&r.stderr));
        assert!(text(&r.stderr).contains(want), "{args:?}: want '{want}' in: {}", text(&r.stderr));
    }
}

/// One session on four threads runs its independent buses in parallel (the
/// report says so) and writes the same bytes, output and stems, as on one.
#[test]
fn one_session_renders_its_buses_in_parallel_bit_identical_to_one_thread() {
    let dir = scratch("parallel_buses");
    for name in ["all_inserts.json", "two_duckers.json"] {
        let session = example(name);
        let mut runs = Vec::new();
        for threads in ["1", "4"] {
            let run = dir.join(format!("{name}-{threads}"));
            let (out, stems) = (run.join("out.wav"), run.join("stems"));
            std::fs::create_dir_all(&run).unwrap();
            let r = mam(&["render", &session, "--out", out.to_str().unwrap(), "--stems", stems.to_str().unwrap(), "--threads", threads, "--block", "512", "--duration", "2"]);
            assert_ok(&r);
            let report = text(&r.stderr);
            assert_eq!(report.contains("buses on"), threads != "1", "{name}, {threads} threads: {report}");
            runs.push(files(&run));
        }
        let master = read_wav(&dir.join(format!("{name}-1")).join("out.wav"));
        assert!(master[0].iter().any(|s| s.abs() > 0.01), "{name}: the render makes sound");
        assert!(runs[0].len() >= 4, "{name}: the output and stems of several buses");
        assert_eq!(runs[0].iter().map(|(p, _)| p).collect::<Vec<_>>(), runs[1].iter().map(|(p, _)| p).collect::<Vec<_>>(), "{name}: the same files");
        for ((path, a), (_, b)) in runs[0].iter().zip(&runs[1]) {
            assert!(a == b, "{name}: {} differs between 1 and 4 threads", path.display());
        }
    }
}
