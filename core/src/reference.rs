//! The built-in reference session that `mam bench` measures when given no session.

use crate::session::{load_str, Session};

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
