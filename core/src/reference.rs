//! The built-in reference session that `mam bench` measures when given no session.

use crate::session::{load_str, save, LoadSessionError, ParamValue, Session};

/// JSON of the reference session: 4 generated sources (noise "kit", a "bassline"
/// sine, a pulse "click", a "voice" sine), 9 buses (drums, bass, keys,
/// vox, a band group, two FX returns, a parallel crush bus and the master),
/// pre/post/pre-FX sends, utilities and three limiters (one on master), so
/// latency compensation has work to do.
pub const REFERENCE_SESSION_JSON: &str = r#"{
  "version": 1, "sampleRate": 48000, "channels": 2, "panLaw": "balance", "tempo": 120,
  "racks": [
    { "id": "kit", "generator": { "type": "noise", "amp": 0.3, "seed": 3 } },
    { "id": "bassline", "generator": { "type": "sine", "hz": 55, "amp": 0.4 } },
    { "id": "click", "generator": { "type": "pulse", "hz": 4, "amp": 0.8 } },
    { "id": "voice", "generator": { "type": "sine", "hz": 440, "amp": 0.3 }, "gainDb": -3 }
  ],
  "buses": [
    { "id": "drums", "gainDb": -2, "route": "band",
      "inserts": [ { "id": "lim", "type": "limiter", "params": { "lookaheadMs": 1.5, "ceilingDb": -6 } } ],
      "sends": [ { "to": "verb", "levelDb": -18, "tap": "post" },
                 { "to": "crush", "levelDb": -6, "tap": "pre_fx" } ] },
    { "id": "bass", "gainDb": -4, "pan": -0.1, "route": "band",
      "inserts": [ { "id": "trim", "type": "utility", "params": { "gainDb": -1, "width": 0.5 } } ] },
    { "id": "keys", "gainDb": -8, "pan": 0.3, "route": "band" },
    { "id": "band", "route": "master",
      "inserts": [ { "id": "glue", "type": "limiter", "params": { "lookaheadMs": 3, "ceilingDb": -3 } } ] },
    { "id": "vox", "channels": 1, "pan": 0.1, "route": "master",
      "sends": [ { "to": "verb", "levelDb": -12, "tap": "pre" },
                 { "to": "echo", "levelDb": -15, "tap": "post" } ] },
    { "id": "verb", "soloSafe": true, "route": "master",
      "inserts": [ { "id": "wide", "type": "utility", "params": { "width": 1.6 } } ] },
    { "id": "echo", "soloSafe": true, "gainDb": -6, "route": "master",
      "inserts": [ { "id": "ms", "type": "utility", "params": { "midSide": true } } ] },
    { "id": "crush", "gainDb": -12, "route": "master",
      "inserts": [ { "id": "drive", "type": "utility", "params": { "gainDb": 12 } } ] },
    { "id": "master", "inserts": [ { "id": "lim", "type": "limiter",
                                     "params": { "ceilingDb": -1, "lookaheadMs": 5, "releaseMs": 80 } } ] }
  ],
  "routes": [
    { "from": "kit", "to": "drums", "gain": 1.0 },
    { "from": "bassline", "to": "bass", "gain": 1.0 },
    { "from": "click", "to": "keys", "gain": 0.5 },
    { "from": "bassline", "to": "keys", "gainDb": -12 },
    { "from": "voice", "to": "vox", "gainDb": 0 }
  ]
}"#;

/// The reference session, parsed.
pub fn reference_session() -> Session {
    load_str(REFERENCE_SESSION_JSON).expect("the built-in reference session is valid").session
}

/// JSON of the `mam demo` session: a music-like bed (three pad tones, two of
/// them on harmonics of the voice, a
/// pulse "kick", noise "air") on a `music` bus whose spectral ducker is keyed
/// by a voice-like source on the `vocal` bus; the voice sings 1.5 s on,
/// 1.5 s off from the first second; a limiter at −1 dBFS on the master.
pub const DEMO_SESSION_JSON: &str = r#"{
  "version": 1, "sampleRate": 48000, "channels": 2, "panLaw": "balance", "tempo": 120,
  "racks": [
    { "id": "pad_low",  "generator": { "type": "sine", "hz": 110, "amp": 0.20 } },
    { "id": "pad_mid",  "generator": { "type": "sine", "hz": 540, "amp": 0.12 } },
    { "id": "pad_high", "generator": { "type": "sine", "hz": 1080, "amp": 0.10 } },
    { "id": "kick",     "generator": { "type": "pulse", "hz": 2, "amp": 0.9 } },
    { "id": "air",      "generator": { "type": "noise", "amp": 0.12, "seed": 11 } },
    { "id": "voice",    "generator": { "type": "voice", "hz": 180, "amp": 0.3, "onS": 1.5, "offS": 1.5 },
                        "startOffsetFrames": 48000 }
  ],
  "buses": [
    { "id": "music", "gainDb": -3, "route": "master",
      "inserts": [ { "id": "duck", "type": "spectral_ducker", "sidechain": "vocal",
                     "params": { "depthDb": 12, "thresholdDb": -55, "ratio": 4, "attackMs": 15,
                                 "releaseMs": 250, "smoothing": 0.7, "stereoLink": 1 } } ] },
    { "id": "vocal", "channels": 1, "route": "master" },
    { "id": "master", "inserts": [ { "id": "lim", "type": "limiter",
                                     "params": { "ceilingDb": -1, "lookaheadMs": 5, "releaseMs": 80 } } ] }
  ],
  "routes": [
    { "from": "pad_low", "to": "music" }, { "from": "pad_mid", "to": "music" },
    { "from": "pad_high", "to": "music" }, { "from": "kick", "to": "music" },
    { "from": "air", "to": "music" }, { "from": "voice", "to": "vocal" }
  ]
}"#;

/// The demo session, parsed.
pub fn demo_session() -> Session {
    load_str(DEMO_SESSION_JSON).expect("the built-in demo session is valid").session
}

/// The demo session with its ducker's `algorithm` set (`"stft"`, as
/// [`demo_session`], or `"filterbank"`), loaded again so the value is
/// checked like a session file's.
///
/// # Errors
/// The loader's, if the ducker has no such algorithm.
pub fn demo_session_with(algorithm: &str) -> Result<Session, LoadSessionError> {
    let mut session = demo_session();
    for insert in session.buses.iter_mut().flat_map(|b| &mut b.inserts).filter(|i| i.kind == "spectral_ducker") {
        insert.params.insert("algorithm".into(), ParamValue::Text(algorithm.into()));
    }
    load_str(&save::to_string(&session)).map(|loaded| loaded.session)
}
