//! The timeline in the plugin (docs/ARCHITECTURE.md §8.2): its persisted form in chunks with a time index, and the recorder of what the host cannot see.
//!
//! - [`TimelineState`] is the `#[persist = "timeline"]` field. A host
//!   restore decodes it on the main thread and wakes the control thread,
//!   which gives it to the engine (`Engine::set_timeline`, never on the
//!   audio thread); the engine plays its cues from the host transport's
//!   sample position.
//! - [`Recorder`] (control side) and [`AudioRecorder`] (audio side) record
//!   what reaches no host automation: the strip's scene pads (trigger, push,
//!   pop), stamped by the audio thread on the sample they start and written
//!   into preallocated chunks, and the editor's session moves of inner
//!   values (levels, pans, mutes, solos, bypass, sends, insert parameters),
//!   placed by the control thread a short lookahead ahead of the playhead
//!   so they play through the timeline exactly as they will play back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mam_core::engine::{AudioProcessor, MappedEvent};
use mam_core::graph::controls::{HostControl, SceneStatus};
use mam_core::session::{path, ParamValue, Quantize, Session};
use mam_core::timeline::{Action, Event, Lane, Marker, Policy, Timeline, TIMELINE_VERSION};
use mam_core::transport::Transport;
use nice_plug::params::persist::PersistentField;
use serde_json::{json, Value};

use crate::state::Mailbox;
use crate::{log, MamParams};

// ───────────────────────── persisted form ─────────────────────────

/// Events per persisted chunk. Each chunk carries its first event's time,
/// so a reader finds any time by the index without decoding what comes
/// before it, and the state grows by one chunk header per this many events.
pub const CHUNK_EVENTS: usize = 256;
/// The persisted form's `format` tag.
pub const STATE_FORMAT: &str = "mam-timeline-chunks";
/// The lane the strip's scene pads record into.
pub const SCENES_LANE: &str = "scenes";
/// The lane mapped macro moves are recorded into.
pub const MACROS_LANE: &str = "macros";

/// How recording treats parameter lanes (docs/ARCHITECTURE.md §8.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParamMode {
    /// Every parameter lane is written over for the whole recorded range.
    Write,
    /// A lane is written over from a move until [`TOUCH_RELEASE_MS`] after
    /// the last move; the rest of the lane stays.
    #[default]
    Touch,
    /// A lane is written over from its first move to the end of the pass.
    Latch,
}

impl ParamMode {
    pub const ALL: [ParamMode; 3] = [ParamMode::Write, ParamMode::Touch, ParamMode::Latch];

    pub fn name(self) -> &'static str {
        match self {
            ParamMode::Write => "write",
            ParamMode::Touch => "touch",
            ParamMode::Latch => "latch",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A lane's quantize window: a recorded `set` at most `window_ms` before a
/// `quantize` grid line moves onto it.
#[derive(Clone, Debug, PartialEq)]
pub struct LaneQuantize {
    pub lane: String,
    pub quantize: Quantize,
    pub window_ms: f64,
}

/// Recording and playback settings, persisted with the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Whether the engine plays the timeline (off: it is kept, not played).
    pub play: bool,
    pub param_mode: ParamMode,
    /// Only events from `in` to before `out` (timeline samples) are recorded.
    pub punch: Option<(u64, u64)>,
    /// Whether recording carries on through the host's loop, each lap a new
    /// pass (replace keeps the newest lap, overdub layers them); off, it
    /// stops recording at the first wrap.
    pub loop_passes: bool,
    pub lane_quantize: Vec<LaneQuantize>,
}

impl Default for Settings {
    fn default() -> Self {
        Self { play: true, param_mode: ParamMode::Touch, punch: None, loop_passes: true, lane_quantize: Vec::new() }
    }
}

/// The persisted text of `timeline` with `settings`: a JSON object whose
/// lanes hold chunks of [`CHUNK_EVENTS`] events, each `{ "t": first event's
/// time, "n": count, "e": events }`; `e` is one compact string of events
/// separated by `;`, each `dt,kind,…` with `dt` from the previous event in
/// the chunk (the first from `t`), paths and texts as indices into shared
/// tables. See docs/ARCHITECTURE.md §8.2 for the grammar.
pub fn encode(timeline: &Timeline, settings: &Settings) -> String {
    let mut paths: Vec<String> = Vec::new();
    let mut path_idx: BTreeMap<String, usize> = BTreeMap::new();
    let mut texts: Vec<String> = Vec::new();
    let mut text_idx: BTreeMap<String, usize> = BTreeMap::new();
    let intern = |table: &mut Vec<String>, idx: &mut BTreeMap<String, usize>, s: &str| -> usize {
        *idx.entry(s.to_string()).or_insert_with(|| {
            table.push(s.to_string());
            table.len() - 1
        })
    };
    let mut lanes = Vec::with_capacity(timeline.lanes.len());
    for lane in &timeline.lanes {
        let mut chunks = Vec::with_capacity(lane.events.len().div_ceil(CHUNK_EVENTS));
        for chunk in lane.events.chunks(CHUNK_EVENTS) {
            let mut e = String::with_capacity(chunk.len() * 12);
            let mut prev = chunk[0].t;
            for (k, event) in chunk.iter().enumerate() {
                if k > 0 {
                    e.push(';');
                }
                e.push_str(&(event.t - prev).to_string());
                prev = event.t;
                match &event.action {
                    Action::Set { path, value, ramp_ms } => {
                        let p = intern(&mut paths, &mut path_idx, path);
                        e.push_str(&format!(",s,{p},"));
                        match value {
                            ParamValue::Number(x) => e.push_str(&x.to_string()),
                            ParamValue::Bool(b) => e.push(if *b { 'T' } else { 'F' }),
                            ParamValue::Text(s) => e.push_str(&format!("${}", intern(&mut texts, &mut text_idx, s))),
                        }
                        if let Some(ms) = ramp_ms {
                            e.push_str(&format!(",{ms}"));
                        }
                    }
                    Action::Scene { scene, policy } => {
                        e.push_str(&format!(",c,{scene}"));
                        if let Some(p) = policy {
                            e.push_str(match p {
                                Policy::Instant => ",i",
                                Policy::Morph { .. } => ",m",
                                Policy::Crossfade { .. } => ",x",
                            });
                            if let Some(ms) = p.ms() {
                                e.push_str(&format!(",{ms}"));
                            }
                        }
                    }
                    Action::Push { scene } => e.push_str(&format!(",u,{scene}")),
                    Action::Pop => e.push_str(",o"),
                    Action::Macro { number, value } => e.push_str(&format!(",m,{number},{value}")),
                }
            }
            chunks.push(json!({ "t": chunk[0].t, "n": chunk.len(), "e": e }));
        }
        lanes.push(json!({ "id": lane.id, "events": lane.events.len(), "chunks": chunks }));
    }
    let markers: Vec<Value> = timeline.markers.iter().map(|m| json!([m.t, m.label])).collect();
    let lane_quantize: Vec<Value> =
        settings.lane_quantize.iter().map(|q| json!({ "lane": q.lane, "quantize": q.quantize.name(), "windowMs": q.window_ms })).collect();
    let root = json!({
        "format": STATE_FORMAT,
        "version": timeline.version,
        "sampleRate": timeline.sample_rate,
        "chunkEvents": CHUNK_EVENTS,
        "paths": paths,
        "texts": texts,
        "lanes": lanes,
        "markers": markers,
        "settings": {
            "play": settings.play,
            "paramMode": settings.param_mode.name(),
            "punch": settings.punch.map(|(a, b)| json!([a, b])),
            "loopPasses": settings.loop_passes,
            "laneQuantize": lane_quantize,
        },
    });
    serde_json::to_string(&root).expect("a JSON value always serialises")
}

/// Reads [`encode`]'s text back (the inverse, event for event).
///
/// # Errors
/// A message naming what is malformed (lane, chunk and event index).
pub fn decode(text: &str) -> Result<(Timeline, Settings), String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("the timeline state is not JSON: {e}"))?;
    if root["format"] != STATE_FORMAT {
        return Err(format!("the timeline state's format is not '{STATE_FORMAT}'"));
    }
    let strings = |key: &str| -> Result<Vec<String>, String> {
        root[key].as_array().ok_or(format!("'{key}' is not an array"))?.iter().map(|v| v.as_str().map(String::from).ok_or(format!("'{key}' holds a non-string"))).collect()
    };
    let (paths, texts) = (strings("paths")?, strings("texts")?);
    let mut timeline = Timeline::empty(root["sampleRate"].as_u64().ok_or("'sampleRate' is not a whole number")? as u32);
    timeline.version = root["version"].as_u64().unwrap_or(TIMELINE_VERSION);
    for (i, lane) in root["lanes"].as_array().ok_or("'lanes' is not an array")?.iter().enumerate() {
        let id = lane["id"].as_str().ok_or(format!("lanes[{i}].id is not a string"))?.to_string();
        let mut events = Vec::with_capacity(lane["events"].as_u64().unwrap_or(0) as usize);
        for (j, chunk) in lane["chunks"].as_array().ok_or(format!("lanes[{i}].chunks is not an array"))?.iter().enumerate() {
            let at = |what: &str| format!("lanes[{i}].chunks[{j}]: {what}");
            let mut t = chunk["t"].as_u64().ok_or_else(|| at("t is not a whole number"))?;
            let e = chunk["e"].as_str().ok_or_else(|| at("e is not a string"))?;
            for (k, item) in e.split(';').enumerate() {
                let bad = || at(&format!("event {k} '{item}' is malformed"));
                let mut f = item.split(',');
                t += f.next().and_then(|d| d.parse::<u64>().ok()).ok_or_else(bad)?;
                let num = |s: Option<&str>| s.and_then(|s| s.parse::<f64>().ok()).ok_or_else(bad);
                let int = |s: Option<&str>| s.and_then(|s| s.parse::<usize>().ok()).ok_or_else(bad);
                let action = match f.next() {
                    Some("s") => {
                        let path = paths.get(int(f.next())?).ok_or_else(bad)?.clone();
                        let value = match f.next().ok_or_else(bad)? {
                            "T" => ParamValue::Bool(true),
                            "F" => ParamValue::Bool(false),
                            v if v.starts_with('$') => ParamValue::Text(texts.get(int(Some(&v[1..]))?).ok_or_else(bad)?.clone()),
                            v => ParamValue::Number(num(Some(v))?),
                        };
                        let ramp_ms = f.next().map(|v| num(Some(v))).transpose()?;
                        Action::Set { path, value, ramp_ms }
                    }
                    Some("c") => {
                        let scene = int(f.next())?;
                        let kind = f.next();
                        let ms = f.next().map(|v| num(Some(v))).transpose()?;
                        let policy = match kind {
                            None => None,
                            Some("i") => Some(Policy::Instant),
                            Some("m") => Some(Policy::Morph { ms }),
                            Some("x") => Some(Policy::Crossfade { ms }),
                            Some(_) => return Err(bad()),
                        };
                        Action::Scene { scene, policy }
                    }
                    Some("u") => Action::Push { scene: int(f.next())? },
                    Some("o") => Action::Pop,
                    Some("m") => Action::Macro { number: int(f.next())?, value: num(f.next())? },
                    _ => return Err(bad()),
                };
                events.push(Event { t, action });
            }
        }
        timeline.lanes.push(Lane { id, events });
    }
    for (i, m) in root["markers"].as_array().map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
        let (Some(t), Some(label)) = (m[0].as_u64(), m[1].as_str()) else { return Err(format!("markers[{i}] is not [t, label]")) };
        timeline.markers.push(Marker { t, label: label.to_string() });
    }
    let s = &root["settings"];
    let defaults = Settings::default();
    let settings = Settings {
        play: s["play"].as_bool().unwrap_or(defaults.play),
        param_mode: s["paramMode"].as_str().and_then(ParamMode::parse).unwrap_or(defaults.param_mode),
        punch: s["punch"].as_array().and_then(|p| Some((p.first()?.as_u64()?, p.get(1)?.as_u64()?))),
        loop_passes: s["loopPasses"].as_bool().unwrap_or(defaults.loop_passes),
        lane_quantize: s["laneQuantize"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|q| {
                let quantize = Quantize::ALL.into_iter().find(|k| Some(k.name()) == q["quantize"].as_str())?;
                Some(LaneQuantize { lane: q["lane"].as_str()?.to_string(), quantize, window_ms: q["windowMs"].as_f64()? })
            })
            .collect(),
    };
    Ok((timeline, settings))
}

/// The timeline in the plugin state. A host restore (the format layer's
/// `load_state` calls [`PersistentField::set`] on the main thread) decodes
/// it there and wakes the control thread, which hands it to the engine; the
/// recorder and the editor replace it through [`Self::replace`]. The audio
/// thread never touches this.
pub struct TimelineState {
    stored: Mutex<Stored>,
    /// Host restores so far.
    generation: AtomicU64,
    /// Changes so far (restores, recordings, imports), for readers that
    /// cache what they show.
    changes: AtomicU64,
    mailbox: Arc<Mailbox>,
    /// What the engine was last given (at activation or by the control
    /// thread), so the same timeline is never compiled in twice.
    handed: Mutex<Option<Arc<Timeline>>>,
}

struct Stored {
    text: String,
    timeline: Arc<Timeline>,
    settings: Settings,
}

impl TimelineState {
    /// An empty timeline; changes wake the control thread through `mailbox`.
    pub fn new(mailbox: Arc<Mailbox>) -> Self {
        let timeline = Timeline::empty(48_000);
        let settings = Settings::default();
        let text = encode(&timeline, &settings);
        Self {
            stored: Mutex::new(Stored { text, timeline: Arc::new(timeline), settings }),
            generation: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            mailbox,
            handed: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.stored.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The timeline as stored. Never on the audio thread (locks).
    pub fn timeline(&self) -> Arc<Timeline> {
        self.lock().timeline.clone()
    }

    pub fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    /// What the engine should play: the timeline, unless it is empty or
    /// playback is off.
    pub fn for_engine(&self) -> Option<Arc<Timeline>> {
        let stored = self.lock();
        (stored.settings.play && (stored.timeline.num_events() > 0)).then(|| stored.timeline.clone())
    }

    /// Records that the engine now plays `timeline` (activation and the
    /// control thread).
    pub fn mark_handed(&self, timeline: Option<Arc<Timeline>>) {
        *self.handed.lock().unwrap_or_else(|e| e.into_inner()) = timeline;
    }

    /// What the engine should play, if it is not what it was last given: a
    /// host restoring the state the plugin was activated with (hosts do,
    /// right after activating) recompiles nothing, since every schedule swap
    /// costs and one in the middle of a scene transition is not bit-exact.
    pub fn changed_for_engine(&self) -> Option<Option<Arc<Timeline>>> {
        let now = self.for_engine();
        let handed = self.handed.lock().unwrap_or_else(|e| e.into_inner());
        let same = match (&now, &*handed) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            (a, b) => a.is_none() && b.is_none(),
        };
        (!same).then_some(now)
    }

    /// Replaces the timeline (recording, import, clear, markers) and hands
    /// it to the control thread. Never on the audio thread.
    pub fn replace(&self, timeline: Timeline) {
        self.store(timeline);
        self.changed();
    }

    /// Stores the timeline without handing it to the engine: what a pass
    /// records from the pads has played already, and a schedule swap in the
    /// middle of a scene transition is not bit-transparent in the engine
    /// (docs/ARCHITECTURE.md §8.2), so the engine gets it when the pass ends.
    fn replace_for_later(&self, timeline: Timeline) {
        self.store(timeline);
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    fn store(&self, timeline: Timeline) {
        let mut stored = self.lock();
        stored.text = encode(&timeline, &stored.settings);
        stored.timeline = Arc::new(timeline);
    }

    /// Replaces the settings (the strip). Never on the audio thread.
    pub fn set_settings(&self, settings: Settings) {
        let mut stored = self.lock();
        if stored.settings == settings {
            return;
        }
        stored.text = encode(&stored.timeline, &settings);
        stored.settings = settings;
        drop(stored);
        self.changed();
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        self.mailbox.post_timeline();
    }

    /// Host restores so far. Any thread (an atomic load).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Changes of any kind so far. Any thread (an atomic load).
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Size of the persisted text in bytes.
    pub fn state_len(&self) -> usize {
        self.lock().text.len()
    }
}

impl PersistentField<'_, String> for TimelineState {
    fn set(&self, new_value: String) {
        match decode(&new_value) {
            Ok((timeline, settings)) => {
                *self.lock() = Stored { text: new_value, timeline: Arc::new(timeline), settings };
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.changed();
            }
            Err(e) => log!("MAM Session: the timeline in the state is unreadable; keeping the running one: {e}"),
        }
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&String) -> R,
    {
        f(&self.lock().text)
    }
}

// ───────────────────────── recording ─────────────────────────

/// Events per recording chunk on the audio thread.
pub const RECORD_CHUNK: usize = 64;
/// Empty chunks the control thread keeps ready for the audio thread.
pub const SPARE_CHUNKS: usize = 8;
/// Scene pad requests that may wait for the audio thread at once.
pub const PAD_QUEUE: usize = 32;
/// How far ahead of the playhead an editor move is placed, so the schedule
/// that plays it reaches the audio thread before its sample (on top of two
/// host blocks).
pub const LOOKAHEAD_MS: f64 = 100.0;
/// How long after its last move a touched lane is still written over.
pub const TOUCH_RELEASE_MS: f64 = 1000.0;

/// A scene action from the strip's pads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadAction {
    Scene(usize),
    Push(usize),
    Pop,
}

/// A pad action with the quantize it waits for (a pop: ignored, the pushed
/// scene's applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PadRequest {
    pub action: PadAction,
    pub quantize: Quantize,
}

/// One event the audio thread recorded: a pad action or a mapped
/// controller move, on the sample it started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recorded {
    pub t: u64,
    pub action: RecordedAction,
}

/// What was recorded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RecordedAction {
    /// A scene pad, or a mapped scene action.
    Pad(PadAction),
    /// Mapping number `mapping` (in the session's `mappings`; `ident` its
    /// identity, which names it if the list changed meanwhile) set its
    /// value (audio-thread units).
    Set { mapping: usize, ident: u64, value: f32 },
    /// A mapped macro (0-based) to `value`.
    Macro { index: usize, value: f32 },
}

/// A preallocated block of recorded events, passed audio → control when it
/// has events and back (emptied) as a spare.
pub struct Chunk {
    /// Allocated once on the control side, never resized.
    events: [Recorded; RECORD_CHUNK],
    len: usize,
}

impl Chunk {
    fn new() -> Box<Self> {
        Box::new(Self { events: [Recorded { t: 0, action: RecordedAction::Pad(PadAction::Pop) }; RECORD_CHUNK], len: 0 })
    }

    fn events(&self) -> &[Recorded] {
        &self.events[..self.len]
    }
}

/// What the audio thread publishes for the recorder and the strip.
pub struct Live {
    pub playing: AtomicBool,
    /// Timeline sample of the next frame (`i64::MIN`: unknown).
    pub position: AtomicI64,
    /// f64 bits: tempo (BPM), position in beats at `position`, bar start
    /// (NaN when the host gave none).
    tempo: AtomicU64,
    beats: AtomicU64,
    bar_start: AtomicU64,
    /// `num << 16 | den`.
    signature: AtomicU32,
    pub sample_rate: AtomicU32,
    pub max_block: AtomicU32,
    /// Passes so far: a new one when the transport starts or jumps (a loop's wrap).
    pub pass: AtomicU64,
    pub pass_start: AtomicI64,
    /// Where the previous pass stopped.
    pub prev_pass_end: AtomicI64,
    /// Whether the last block recorded (armed, playing at a known position,
    /// not stopped by a wrap with loop passes off), and the samples where
    /// this stretch of recording began and where it has reached.
    pub recording: AtomicBool,
    record_start: AtomicI64,
    record_end: AtomicI64,
    /// Events the audio thread could not store (no spare chunk).
    pub dropped: AtomicU64,
    /// Mapped `play` actions so far: the control thread flips Play once per new one.
    play_toggles: AtomicU64,
    /// Punch range set by the control side (`u64::MAX` out: none).
    punch_in: AtomicU64,
    punch_out: AtomicU64,
    /// [`Settings::loop_passes`], set by the control side.
    loop_passes: AtomicBool,
    /// Schedules the audio thread has taken so far, and the timeline sample
    /// at which the k-th (from 1) was taken, at `adopted_at[(k - 1) % 8]`:
    /// a recorded move is confirmed when the schedule carrying it arrived
    /// no later than its sample.
    adoptions: AtomicU64,
    adopted_at: [AtomicI64; 8],
}

impl Default for Live {
    fn default() -> Self {
        Self {
            playing: AtomicBool::new(false),
            position: AtomicI64::new(i64::MIN),
            tempo: AtomicU64::new(f64::NAN.to_bits()),
            beats: AtomicU64::new(f64::NAN.to_bits()),
            bar_start: AtomicU64::new(f64::NAN.to_bits()),
            signature: AtomicU32::new(4 << 16 | 4),
            sample_rate: AtomicU32::new(48_000),
            max_block: AtomicU32::new(512),
            pass: AtomicU64::new(0),
            pass_start: AtomicI64::new(0),
            prev_pass_end: AtomicI64::new(0),
            recording: AtomicBool::new(false),
            record_start: AtomicI64::new(0),
            record_end: AtomicI64::new(0),
            dropped: AtomicU64::new(0),
            play_toggles: AtomicU64::new(0),
            punch_in: AtomicU64::new(0),
            punch_out: AtomicU64::new(u64::MAX),
            loop_passes: AtomicBool::new(true),
            adoptions: AtomicU64::new(0),
            adopted_at: std::array::from_fn(|_| AtomicI64::new(0)),
        }
    }
}

impl Live {
    fn f64(a: &AtomicU64) -> f64 {
        f64::from_bits(a.load(Ordering::Relaxed))
    }

    /// The playhead, if the host gives a position.
    pub fn position(&self) -> Option<i64> {
        Some(self.position.load(Ordering::Acquire)).filter(|&p| p != i64::MIN)
    }

    fn punch_contains(&self, t: u64) -> bool {
        (self.punch_in.load(Ordering::Relaxed)..self.punch_out.load(Ordering::Relaxed)).contains(&t)
    }
}

/// Whether the host's `timeline_record` parameter arms recording, and how.
fn record_mode(params: &MamParams) -> u8 {
    params.timeline_record.value().clamp(0, 2) as u8
}

/// Whether the timeline records now: armed, and the audio thread's last
/// block recorded (the transport playing at a known position). Any thread.
pub fn is_recording(params: &MamParams, live: &Live) -> bool {
    record_mode(params) != 0 && live.recording.load(Ordering::Acquire) && live.position().is_some()
}

/// The audio thread's recorder, created at activation with its queues.
pub struct AudioRecorder {
    live: Arc<Live>,
    status: Arc<SceneStatus>,
    pads: rtrb::Consumer<PadRequest>,
    full: rtrb::Producer<Box<Chunk>>,
    spares: rtrb::Consumer<Box<Chunk>>,
    chunk: Option<Box<Chunk>>,
    /// Pad actions waiting for their boundary, mirrored from the engine's
    /// scene queue so each is stamped on the sample it starts.
    waiting: [PadRequest; 16],
    num_waiting: usize,
    /// Quantize of each scene the pads pushed, for their pops.
    pushed: [Quantize; 8],
    depth: usize,
    /// Where the next block should start if the transport rolls on.
    expected: Option<i64>,
    /// A wrap ended recording (loop passes off) until the transport stops.
    stopped_by_wrap: bool,
    /// Whether the last block recorded.
    was_recording: bool,
}

impl AudioRecorder {
    /// Follows the host's transport for this block, starts the scene pads
    /// the editor asked for (through the engine's own quantized requests),
    /// stamps every pad action on the sample the engine starts it, and hands
    /// a chunk with events to the control thread. Call right after
    /// `AudioProcessor::set_transport`, before processing the block. With a
    /// full chunk and no spare, events are counted in `Live::dropped` and lost.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn begin_block(&mut self, audio: &mut AudioProcessor, transport: &Transport, frames: usize, mode: u8) {
        let live = &*self.live;
        let loop_passes = live.loop_passes.load(Ordering::Relaxed);
        let rate = live.sample_rate.load(Ordering::Relaxed) as f64;
        let playing = transport.playing && transport.position_samples.is_some();
        let position = transport.position_samples.unwrap_or(i64::MIN);
        let mut new_pass = false;
        if playing {
            if self.expected != Some(position) {
                new_pass = true;
                if self.expected.is_some() && !loop_passes && mode != 0 {
                    self.stopped_by_wrap = true;
                }
                live.prev_pass_end.store(self.expected.unwrap_or(position), Ordering::Relaxed);
                live.pass_start.store(position, Ordering::Relaxed);
                live.pass.fetch_add(1, Ordering::AcqRel);
            }
            self.expected = Some(position + frames as i64);
        } else {
            self.expected = None;
            self.stopped_by_wrap = false;
        }
        let recording = mode != 0 && playing && !self.stopped_by_wrap;
        if recording && (new_pass || !self.was_recording) {
            live.record_start.store(position, Ordering::Relaxed);
        }
        if recording {
            live.record_end.store(position + frames as i64, Ordering::Relaxed);
        }
        self.was_recording = recording;
        if !recording {
            // What the recording filled reaches the control thread before
            // `live.recording` says it stopped (see `Recorder::tick`).
            self.hand_over();
        }
        let live = &*self.live;
        live.recording.store(recording, Ordering::Release);
        live.tempo.store(transport.tempo.unwrap_or(f64::NAN).to_bits(), Ordering::Relaxed);
        live.beats.store(transport.position_beats.unwrap_or(f64::NAN).to_bits(), Ordering::Relaxed);
        live.bar_start.store(transport.bar_start_beats.unwrap_or(f64::NAN).to_bits(), Ordering::Relaxed);
        if let Some((num, den)) = transport.time_signature {
            live.signature.store(num << 16 | (den & 0xffff), Ordering::Relaxed);
        }
        live.playing.store(recording || playing, Ordering::Release);
        live.position.store(if playing { position + frames as i64 } else if transport.position_samples.is_some() { position } else { i64::MIN }, Ordering::Release);
        if !recording {
            self.num_waiting = 0;
        }
        while let Ok(request) = self.pads.pop() {
            match request.action {
                PadAction::Scene(n) => audio.set_control(HostControl::Scene(n)),
                PadAction::Push(n) => audio.set_control(HostControl::Push(n)),
                PadAction::Pop => audio.set_control(HostControl::Pop),
            }
            self.mirror(request, recording);
        }
        if !recording || self.num_waiting == 0 {
            self.hand_over();
            return;
        }
        // Mirror of the engine's queue: each waiting action starts on its
        // boundary placed from this block's first frame, no earlier than the
        // one before it.
        let mut floor = 0u64;
        let mut fired = 0;
        for k in 0..self.num_waiting {
            let request = self.waiting[k];
            let at = transport.frames_to_boundary(request.quantize, rate, 0).unwrap_or(0).max(floor);
            if at >= frames as u64 {
                break;
            }
            floor = at;
            fired += 1;
            let t = (position + at as i64) as u64;
            if self.live.punch_contains(t) {
                self.write(Recorded { t, action: RecordedAction::Pad(request.action) });
            }
        }
        self.waiting.copy_within(fired..self.num_waiting, 0);
        self.num_waiting -= fired;
        self.hand_over();
    }

    /// Follows what the engine does with a pad request (docs/ARCHITECTURE.md
    /// §8: a recall replaces a waiting recall and a recall of the current
    /// scene calls it off; a pop calls off a waiting push; a push onto a
    /// full stack and a pop of an empty one are ignored).
    /// Runs on the audio thread: no allocation, no locks.
    fn mirror(&mut self, mut request: PadRequest, recording: bool) {
        let waiting_pushes = self.waiting[..self.num_waiting].iter().filter(|r| matches!(r.action, PadAction::Push(_))).count();
        let waiting_pops = self.waiting[..self.num_waiting].iter().filter(|r| r.action == PadAction::Pop).count();
        match request.action {
            PadAction::Scene(n) => {
                self.remove_where(|r| matches!(r.action, PadAction::Scene(_)));
                if n == self.status.current() && self.num_waiting == 0 {
                    return;
                }
            }
            PadAction::Push(_) => {
                if self.status.stack_depth() + waiting_pushes - waiting_pops.min(self.status.stack_depth() + waiting_pushes) >= 8 {
                    return;
                }
                self.pushed[self.depth.min(7)] = request.quantize;
                self.depth = (self.depth + 1).min(8);
            }
            PadAction::Pop => {
                if self.num_waiting > 0 && matches!(self.waiting[self.num_waiting - 1].action, PadAction::Push(_)) {
                    self.num_waiting -= 1;
                    self.depth = self.depth.saturating_sub(1);
                    return;
                }
                if self.status.stack_depth() + waiting_pushes <= waiting_pops {
                    return;
                }
                self.depth = self.depth.saturating_sub(1);
                request.quantize = self.pushed[self.depth.min(7)];
            }
        }
        if recording && self.num_waiting < self.waiting.len() {
            self.waiting[self.num_waiting] = request;
            self.num_waiting += 1;
        }
    }

    /// Records what controller mappings did in the block just processed
    /// (`AudioProcessor::mapped_moves`, frames from the block's start),
    /// while recording and inside the punch range. Scene actions are
    /// stamped on the sample they started. Call after processing the block.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn record_mapped(&mut self, audio: &AudioProcessor, transport: &Transport) {
        let Some(position) = transport.position_samples.filter(|_| self.was_recording) else { return };
        for m in audio.mapped_moves() {
            let action = match m.event {
                MappedEvent::Set { mapping, value } => RecordedAction::Set { mapping, ident: audio.mapping_ident(mapping).unwrap_or(0), value },
                MappedEvent::Macro { index, value } => RecordedAction::Macro { index, value },
                MappedEvent::Scene(n) => RecordedAction::Pad(PadAction::Scene(n)),
                MappedEvent::Push(n) => RecordedAction::Pad(PadAction::Push(n)),
                MappedEvent::Pop => RecordedAction::Pad(PadAction::Pop),
                MappedEvent::Record | MappedEvent::Play => continue,
            };
            let t = position + m.frame as i64;
            if t >= 0 && self.live.punch_contains(t as u64) {
                self.write(Recorded { t: t as u64, action });
            }
        }
        self.hand_over();
    }

    /// A mapped `play` action: the control thread turns timeline playback
    /// on or off at its next tick.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn toggle_play(&self) {
        self.live.play_toggles.fetch_add(1, Ordering::Release);
    }

    /// The audio side took a new schedule before processing from timeline
    /// sample `position` (the format calls `AudioProcessor::poll_schedule`
    /// itself at each chunk's start, so it knows where).
    /// Runs on the audio thread: no allocation, no locks.
    pub fn adopted(&self, position: i64) {
        let k = self.live.adoptions.load(Ordering::Relaxed);
        self.live.adopted_at[(k % 8) as usize].store(position, Ordering::Relaxed);
        self.live.adoptions.store(k + 1, Ordering::Release);
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn remove_where(&mut self, drop: impl Fn(&PadRequest) -> bool) {
        let mut i = 0;
        while i < self.num_waiting {
            if drop(&self.waiting[i]) {
                self.waiting.copy_within(i + 1..self.num_waiting, i);
                self.num_waiting -= 1;
            } else {
                i += 1;
            }
        }
    }

    /// Runs on the audio thread: no allocation, no locks.
    fn write(&mut self, event: Recorded) {
        if self.chunk.as_ref().is_some_and(|c| c.len == RECORD_CHUNK) {
            self.hand_over();
        }
        if self.chunk.is_none() {
            self.chunk = self.spares.pop().ok();
        }
        match self.chunk.as_mut().filter(|c| c.len < RECORD_CHUNK) {
            Some(chunk) => {
                chunk.events[chunk.len] = event;
                chunk.len += 1;
            }
            None => {
                self.live.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Passes a chunk holding events to the control thread (if its queue has
    /// room) and takes a spare for the next ones: once the chunk is full,
    /// the control thread has taken every chunk handed before, or recording
    /// stopped. Until then later blocks go on filling the same chunk: the
    /// control thread takes chunks on its tick (50 ms), and a fader swept in
    /// small host blocks moves in nearly every block, many more blocks per
    /// tick than there are spare chunks (a chunk per block lost moves).
    /// Runs on the audio thread: no allocation, no locks.
    fn hand_over(&mut self) {
        let Some(chunk) = self.chunk.as_ref().filter(|c| c.len > 0) else { return };
        let all_taken = self.full.slots() == self.full.buffer().capacity();
        if self.full.is_full() || !(chunk.len == RECORD_CHUNK || all_taken || !self.was_recording) {
            return;
        }
        if let Some(chunk) = self.chunk.take() {
            // Cannot fail: checked for room, and only this thread pushes.
            let _ = self.full.push(chunk);
        }
        self.chunk = self.spares.pop().ok();
    }
}

impl Drop for AudioRecorder {
    /// Deactivation (the main thread, before `Recorder::disconnect`): the
    /// events of a chunk still being filled go to the control thread.
    fn drop(&mut self) {
        self.was_recording = false;
        self.hand_over();
    }
}

/// One recording pass: from the transport starting (or a loop's wrap) to it
/// stopping, the next wrap or disarming.
struct Pass {
    id: u64,
    /// The timeline when the pass began: what it records over.
    base: Timeline,
    start: u64,
    /// Latest timeline sample the pass reached.
    end: u64,
    /// Replace (1) or overdub (2).
    mode: u8,
    /// Events recorded in this pass, by lane, in the order recorded.
    recorded: Vec<(String, Event)>,
    /// Parameter lanes moved: (first move, last move).
    touched: BTreeMap<String, (u64, u64)>,
}

/// The control side of recording: the queues to and from the audio thread,
/// the pass being recorded, and merging it into the stored timeline.
#[derive(Default)]
pub struct Recorder {
    pub live: Arc<Live>,
    ctl: Mutex<Ctl>,
}

#[derive(Default)]
struct Ctl {
    pads: Option<rtrb::Producer<PadRequest>>,
    full: Option<rtrb::Consumer<Box<Chunk>>>,
    spares: Option<rtrb::Producer<Box<Chunk>>>,
    pass: Option<Pass>,
    /// Recorded moves not yet known to have reached the engine in time.
    unconfirmed: Vec<Unconfirmed>,
    /// `Live::play_toggles` as last acted on.
    play_toggles_seen: u64,
}

/// A recorded `set` waiting for the schedule that plays it.
struct Unconfirmed {
    path: String,
    t: u64,
    /// `Live::adoptions` when the schedule carrying it was queued (`None`:
    /// not queued yet).
    stamp: Option<u64>,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ctl> {
        self.ctl.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// New queues for an activation; returns the audio side. Main thread.
    pub fn connect(&self, status: Arc<SceneStatus>, sample_rate: f64, max_block: usize) -> AudioRecorder {
        self.live.sample_rate.store(sample_rate.round() as u32, Ordering::Relaxed);
        self.live.max_block.store(max_block as u32, Ordering::Relaxed);
        self.live.playing.store(false, Ordering::Release);
        let (pads_in, pads) = rtrb::RingBuffer::new(PAD_QUEUE);
        let (full, full_out) = rtrb::RingBuffer::new(SPARE_CHUNKS + 2);
        let (mut spares_in, spares) = rtrb::RingBuffer::new(SPARE_CHUNKS + 2);
        for _ in 0..SPARE_CHUNKS {
            let _ = spares_in.push(Chunk::new());
        }
        let mut ctl = self.lock();
        ctl.pads = Some(pads_in);
        ctl.full = Some(full_out);
        ctl.spares = Some(spares_in);
        AudioRecorder {
            live: self.live.clone(),
            status,
            pads,
            full,
            spares,
            chunk: None,
            waiting: [PadRequest { action: PadAction::Pop, quantize: Quantize::None }; 16],
            num_waiting: 0,
            pushed: [Quantize::None; 8],
            depth: 0,
            expected: None,
            stopped_by_wrap: false,
            was_recording: false,
        }
    }

    /// The audio side is gone (deactivation): the transport counts as stopped.
    pub fn disconnect(&self) {
        self.live.playing.store(false, Ordering::Release);
        self.live.recording.store(false, Ordering::Release);
    }

    /// Sends a scene pad action to the audio thread. Returns false when the
    /// plugin is inactive or the queue is full (the action is dropped).
    pub fn trigger(&self, request: PadRequest) -> bool {
        self.lock().pads.as_mut().is_some_and(|p| p.push(request).is_ok())
    }

    /// Records editor moves `(path, value)` as `set` events a lookahead
    /// ahead of the playhead (onto a lane quantize grid line when one is
    /// within its window) and hands the timeline to the control thread.
    /// Returns false when nothing is recorded (not recording, Play off, or
    /// outside the punch range): the caller applies the move as a session edit.
    pub fn record_sets(&self, params: &MamParams, sets: &[(String, ParamValue)]) -> bool {
        let live = &*self.live;
        if !is_recording(params, live) || sets.is_empty() {
            return false;
        }
        let Some(position) = live.position() else { return false };
        let rate = live.sample_rate.load(Ordering::Relaxed) as f64;
        let lookahead = (LOOKAHEAD_MS * rate / 1000.0) as i64 + 2 * live.max_block.load(Ordering::Relaxed) as i64;
        let base_t = (position + lookahead).max(0) as u64;
        let settings = params.timeline.settings();
        if !settings.play {
            // The engine would not play the move: it stays a session edit.
            return false;
        }
        let mut ctl = self.lock();
        let pass = self.pass_for(&mut ctl, params, &settings);
        let Some(pass) = pass else { return false };
        let mut any = false;
        let mut waiting = Vec::new();
        for (path, value) in sets {
            let mut t = base_t;
            if let Some(q) = settings.lane_quantize.iter().find(|q| &q.lane == path) {
                t = self.snap(t, q, position, rate);
            }
            if !live.punch_contains(t) {
                continue;
            }
            let touch = pass.touched.entry(path.clone()).or_insert((t, t));
            touch.1 = t;
            pass.recorded.push((path.clone(), Event { t, action: Action::Set { path: path.clone(), value: value.clone(), ramp_ms: None } }));
            waiting.push(Unconfirmed { path: path.clone(), t, stamp: None });
            any = true;
        }
        ctl.unconfirmed.append(&mut waiting);
        if any {
            let pass = ctl.pass.as_ref().expect("recording");
            params.timeline.replace(merge(pass, &settings, live.sample_rate.load(Ordering::Relaxed)));
        }
        any
    }

    /// The control thread queued the stored timeline for the engine: moves
    /// recorded so far travel with that schedule.
    pub fn queued(&self) {
        let stamp = self.live.adoptions.load(Ordering::Acquire);
        for u in self.lock().unconfirmed.iter_mut().filter(|u| u.stamp.is_none()) {
            u.stamp = Some(stamp);
        }
    }

    /// Checks recorded moves against where their schedule reached the audio
    /// thread. One that arrived after its sample did not play (cues behind
    /// the playhead never fire): it moves a lookahead ahead of the playhead
    /// and goes again, so the timeline holds what was heard.
    fn confirm(&self, ctl: &mut Ctl, params: &MamParams, settings: &Settings) -> bool {
        let live = &*self.live;
        let adoptions = live.adoptions.load(Ordering::Acquire);
        let rate = live.sample_rate.load(Ordering::Relaxed);
        let lookahead = (LOOKAHEAD_MS * rate as f64 / 1000.0) as u64 + 2 * live.max_block.load(Ordering::Relaxed) as u64;
        let mut moved = false;
        let mut k = 0;
        while k < ctl.unconfirmed.len() {
            let Some(stamp) = ctl.unconfirmed[k].stamp else {
                k += 1;
                continue;
            };
            if adoptions <= stamp {
                k += 1;
                continue;
            }
            // The first schedule taken after queuing carried it (one poll
            // takes every queued schedule); older than the ring: taken as in time.
            let at = if adoptions - stamp <= 8 { live.adopted_at[(stamp % 8) as usize].load(Ordering::Relaxed) } else { i64::MIN };
            let u = ctl.unconfirmed.remove(k);
            if at <= u.t as i64 {
                continue;
            }
            let Some(pass) = ctl.pass.as_mut() else { continue };
            let new_t = (live.position().unwrap_or(at).max(at) as u64).saturating_add(lookahead);
            let found = pass.recorded.iter_mut().find(|(lane, e)| *lane == u.path && e.t == u.t && matches!(e.action, Action::Set { .. }));
            if let Some((_, event)) = found {
                log!("MAM Session: a recorded move reached the engine after its sample; moved from {} to {new_t}", u.t);
                event.t = new_t;
                if let Some(touch) = pass.touched.get_mut(&u.path) {
                    touch.1 = touch.1.max(new_t);
                }
                ctl.unconfirmed.push(Unconfirmed { path: u.path, t: new_t, stamp: None });
                moved = true;
            }
        }
        if moved {
            if let Some(pass) = ctl.pass.as_ref() {
                params.timeline.replace(merge(pass, settings, rate));
            }
        }
        moved
    }

    /// `t` moved onto the next grid line of `q` when that line is at most
    /// its window away; the grid is placed from the transport the audio
    /// thread last published.
    fn snap(&self, t: u64, q: &LaneQuantize, position: i64, rate: f64) -> u64 {
        let live = &*self.live;
        let (tempo, beats) = (Live::f64(&live.tempo), Live::f64(&live.beats));
        if !(tempo.is_finite() && tempo > 0.0 && beats.is_finite()) {
            return t;
        }
        let sig = live.signature.load(Ordering::Relaxed);
        let (num, den) = ((sig >> 16).max(1) as f64, (sig & 0xffff).max(1) as f64);
        let bar = num * 4.0 / den;
        let step = match q.quantize {
            Quantize::None => return t,
            Quantize::Beat => 4.0 / den,
            Quantize::Bar => bar,
            Quantize::TwoBars => 2.0 * bar,
            Quantize::FourBars => 4.0 * bar,
        };
        let origin = Some(Live::f64(&live.bar_start)).filter(|b| b.is_finite()).unwrap_or(0.0);
        let spb = rate * 60.0 / tempo;
        let at_beats = beats + (t as i64 - position) as f64 / spb;
        let line = origin + ((at_beats - origin) / step).ceil() * step;
        let line_t = position as f64 + (line - beats) * spb;
        if line_t - (t as f64) <= q.window_ms * rate / 1000.0 {
            line_t.ceil().max(t as f64) as u64
        } else {
            t
        }
    }

    /// The pass recording now, begun if the audio thread started a new one.
    fn pass_for<'a>(&self, ctl: &'a mut Ctl, params: &MamParams, settings: &Settings) -> Option<&'a mut Pass> {
        let live = &*self.live;
        let id = live.pass.load(Ordering::Acquire);
        if ctl.pass.as_ref().is_some_and(|p| p.id != id) {
            // A new pass (a loop's wrap): the old one is merged as it ended.
            if let Some(mut old) = ctl.pass.take() {
                old.end = old.end.max(live.prev_pass_end.load(Ordering::Relaxed).max(0) as u64);
                params.timeline.replace(merge(&old, settings, live.sample_rate.load(Ordering::Relaxed)));
            }
        }
        if ctl.pass.is_none() {
            let rate = live.sample_rate.load(Ordering::Relaxed);
            let mut base = (*params.timeline.timeline()).clone();
            if base.sample_rate != rate {
                // Recorded times count at the running rate: the rest follows.
                let from = Timeline::empty(base.sample_rate);
                for event in base.lanes.iter_mut().flat_map(|l| l.events.iter_mut()) {
                    event.t = from.sample_at(event.t, rate);
                }
                for marker in &mut base.markers {
                    marker.t = from.sample_at(marker.t, rate);
                }
                base.sample_rate = rate;
            }
            // From where this stretch of recording began: arming part-way
            // through a pass records over nothing before it.
            let start = live.pass_start.load(Ordering::Relaxed).max(live.record_start.load(Ordering::Relaxed)).max(0) as u64;
            ctl.pass = Some(Pass { id, base, start, end: start, mode: record_mode(params).max(1), recorded: Vec::new(), touched: BTreeMap::new() });
        }
        let pass = ctl.pass.as_mut()?;
        pass.end = pass.end.max(live.record_end.load(Ordering::Relaxed).max(0) as u64);
        Some(pass)
    }

    /// Control thread, every tick: keeps spare chunks ready, takes recorded
    /// chunks, follows passes, and merges what was recorded into the stored
    /// timeline (which wakes the control thread to hand it to the engine).
    pub fn tick(&self, params: &MamParams) {
        let live = &*self.live;
        let settings = params.timeline.settings();
        let (punch_in, punch_out) = settings.punch.unwrap_or((0, u64::MAX));
        live.punch_in.store(punch_in, Ordering::Relaxed);
        live.punch_out.store(punch_out, Ordering::Relaxed);
        live.loop_passes.store(settings.loop_passes, Ordering::Relaxed);
        let mut guard = self.lock();
        let ctl = &mut *guard;
        let toggles = live.play_toggles.load(Ordering::Acquire);
        if toggles != ctl.play_toggles_seen {
            let flips = toggles.wrapping_sub(ctl.play_toggles_seen);
            ctl.play_toggles_seen = toggles;
            if flips % 2 == 1 {
                let mut flipped = params.timeline.settings();
                flipped.play = !flipped.play;
                params.timeline.set_settings(flipped);
            }
        }
        let settings = params.timeline.settings();
        // Read before taking chunks: the audio thread hands over what it
        // holds before it says it stopped recording (`begin_block`, and its
        // drop at deactivation before `disconnect`), so once this says so,
        // every recorded event is taken below and the pass can end.
        let audio_recording = live.recording.load(Ordering::Acquire);
        let mut events: Vec<Recorded> = Vec::new();
        if let (Some(full), Some(spares)) = (ctl.full.as_mut(), ctl.spares.as_mut()) {
            while let Ok(mut chunk) = full.pop() {
                events.extend_from_slice(chunk.events());
                chunk.len = 0;
                let _ = spares.push(chunk);
            }
            // Chunks are allocated here, ahead of need, never on the audio thread.
            while spares.slots() > 2 {
                if spares.push(Chunk::new()).is_err() {
                    break;
                }
            }
        }
        self.confirm(ctl, params, &settings);
        let recording = is_recording(params, live);
        if !events.is_empty() || recording {
            if let Some(pass) = self.pass_for(ctl, params, &settings) {
                if !events.is_empty() {
                    // Mapped moves name their mapping: its path (and the
                    // value in file units) come from the running session.
                    let needs_session = events.iter().any(|e| matches!(e.action, RecordedAction::Set { .. }));
                    let session = needs_session.then(|| mam_core::session::load_str(&params.session.json()).ok()).flatten().map(|l| l.session);
                    for e in &events {
                        let (lane, action) = match e.action {
                            RecordedAction::Pad(PadAction::Scene(scene)) => (SCENES_LANE.to_string(), Action::Scene { scene, policy: None }),
                            RecordedAction::Pad(PadAction::Push(scene)) => (SCENES_LANE.to_string(), Action::Push { scene }),
                            RecordedAction::Pad(PadAction::Pop) => (SCENES_LANE.to_string(), Action::Pop),
                            RecordedAction::Macro { index, value } => {
                                // The macros lane is written over like a parameter lane.
                                let touch = pass.touched.entry(MACROS_LANE.to_string()).or_insert((e.t, e.t));
                                touch.1 = touch.1.max(e.t);
                                (MACROS_LANE.to_string(), Action::Macro { number: index + 1, value: value as f64 })
                            }
                            RecordedAction::Set { mapping, ident, value } => {
                                let Some((path, value, ramp_ms)) = session.as_ref().and_then(|s| mapped_set(s, mapping, ident, value)) else { continue };
                                let touch = pass.touched.entry(path.clone()).or_insert((e.t, e.t));
                                touch.1 = touch.1.max(e.t);
                                (path.clone(), Action::Set { path, value, ramp_ms })
                            }
                        };
                        pass.recorded.push((lane, Event { t: e.t, action }));
                    }
                    let merged = merge(pass, &settings, live.sample_rate.load(Ordering::Relaxed));
                    // What the pass records over from here on must not play
                    // on (a moved lane's older events, by the parameter mode):
                    // the engine takes the take at once then, else at the end.
                    let now = live.position().unwrap_or(0).max(0) as u64;
                    let playing = params.timeline.handed.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    if plays_differently_from(playing.as_deref(), &merged, now) {
                        params.timeline.replace(merged);
                    } else {
                        params.timeline.replace_for_later(merged);
                    }
                }
            }
        }
        if !recording && !audio_recording {
            if ctl.pass.is_some() && ctl.unconfirmed.iter().any(|u| u.stamp.is_none() || live.adoptions.load(Ordering::Acquire) <= u.stamp.unwrap_or(0)) && live.playing.load(Ordering::Acquire) {
                // Moves still on their way: the pass ends once they are confirmed.
                return;
            }
            ctl.unconfirmed.clear();
            if let Some(mut pass) = ctl.pass.take() {
                // The pass ended (stopped or disarmed): its whole range is recorded over.
                pass.end = pass.end.max(live.record_end.load(Ordering::Relaxed).max(0) as u64);
                params.timeline.replace(merge(&pass, &settings, live.sample_rate.load(Ordering::Relaxed)));
            }
        }
    }

    /// Whether a pass is being recorded (tests and the strip).
    pub fn in_pass(&self) -> bool {
        self.lock().pass.is_some()
    }
}

/// The pass's base timeline with what the pass records over taken out and
/// its recorded events put in, each lane in time order (an event recorded
/// at the time of an older one comes after it).
///
/// Recorded over, within the pass's range (clipped to the punch range):
/// the scenes lane when the pass replaces (not when it overdubs) and
/// recorded a pad in it (a lap left alone keeps what the lane holds);
/// parameter lanes by the parameter mode — write: every lane of `set`
/// events; touch: a moved lane from its first move to `TOUCH_RELEASE_MS`
/// after its last; latch: a moved lane from its first move to the end.
fn merge(pass: &Pass, settings: &Settings, rate: u32) -> Timeline {
    let (punch_in, punch_out) = settings.punch.unwrap_or((0, u64::MAX));
    let (start, end) = (pass.start.max(punch_in), pass.end.saturating_add(1).min(punch_out));
    let release = (TOUCH_RELEASE_MS * rate as f64 / 1000.0) as u64;
    let records_scenes = pass.recorded.iter().any(|(lane, _)| lane == SCENES_LANE);
    let mut timeline = pass.base.clone();
    for lane in &mut timeline.lanes {
        let is_params = lane.id == MACROS_LANE
            || (lane.id != SCENES_LANE && lane.events.iter().all(|e| matches!(e.action, Action::Set { .. })));
        let erase: Option<(u64, u64)> = if lane.id == SCENES_LANE {
            (pass.mode == 1 && records_scenes).then_some((start, end))
        } else if is_params {
            match (settings.param_mode, pass.touched.get(&lane.id)) {
                (ParamMode::Write, _) => Some((start, end)),
                (ParamMode::Touch, Some(&(first, last))) => Some((first.max(start), last.saturating_add(release).min(punch_out))),
                (ParamMode::Latch, Some(&(first, _))) => Some((first.max(start), end)),
                _ => None,
            }
        } else {
            None
        };
        if let Some((from, to)) = erase {
            lane.events.retain(|e| !(from..to).contains(&e.t));
        }
    }
    for (lane_id, event) in &pass.recorded {
        let lane = match timeline.lanes.iter().position(|l| &l.id == lane_id) {
            Some(i) => &mut timeline.lanes[i],
            None => {
                timeline.lanes.push(Lane { id: lane_id.clone(), events: Vec::new() });
                timeline.lanes.last_mut().expect("just pushed")
            }
        };
        let at = lane.events.partition_point(|e| e.t <= event.t);
        lane.events.insert(at, event.clone());
    }
    timeline.lanes.retain(|l| !l.events.is_empty());
    timeline.sample_rate = rate;
    timeline
}

/// Whether `new` holds other events at or after `from` than `playing`, the
/// timeline the engine plays (`None`: none), lane by lane.
fn plays_differently_from(playing: Option<&Timeline>, new: &Timeline, from: u64) -> bool {
    let ahead = |t: Option<&Timeline>, id: &str| -> Vec<Event> {
        t.and_then(|t| t.lanes.iter().find(|l| l.id == id)).map(|l| l.events.iter().filter(|e| e.t >= from).cloned().collect()).unwrap_or_default()
    };
    let mut ids = new.lanes.iter().chain(playing.map_or(&[][..], |p| &p.lanes[..])).map(|l| l.id.as_str());
    ids.any(|id| ahead(playing, id) != ahead(Some(new), id))
}

/// The path, file-unit value and ramp a mapped move set: mapping `index`
/// (identity `ident`) of `session` (a path, or a bus's mute or solo),
/// `None` if the session no longer has that mapping. The ramp is the mapping's smoothing, so the
/// take plays back as it sounded.
fn mapped_set(session: &Session, index: usize, ident: u64, value: f32) -> Option<(String, ParamValue, Option<f64>)> {
    use mam_core::mapping::runtime::ident_of;
    use mam_core::mapping::{Action as MapAction, Target};
    // By its number if that is still the same mapping, else by its identity
    // (an edit of the list since the move); a mapping gone records nothing.
    let mapping = session.mappings.get(index).filter(|m| ident_of(m) == ident).or_else(|| session.mappings.iter().find(|m| ident_of(m) == ident))?;
    let smooth = mapping.transform.smooth_ms;
    let ramp_ms = (smooth != mam_core::timeline::DEFAULT_RAMP_MS).then_some(smooth);
    let path = match &mapping.target {
        Target::Path(p) => p.clone(),
        Target::Action(MapAction::Mute(bus)) => format!("{bus}.mute"),
        Target::Action(MapAction::Solo(bus)) => format!("{bus}.solo"),
        _ => return None,
    };
    let resolved = path::resolve(session, &path).ok()?;
    let value = path::file_value(session, &resolved, value as f64);
    Some((path, value, ramp_ms))
}

// ───────────────────────── editor moves ─────────────────────────

/// The values an editor edit from `old` to `new` moves, as `(path, value)`
/// in the session file's units — `None` when the edit changes anything a
/// timeline cannot play (routing, inserts or sends added or removed, a
/// structural or latency parameter, scenes, names): such an edit is a
/// session edit. Movable: bus levels, pans, mutes, solos and bypass, send
/// levels (the first send to each bus, as paths name them), source gains
/// and send levels, insert parameters and insert bypass.
pub fn recordable_moves(old: &Session, new: &Session) -> Option<Vec<(String, ParamValue)>> {
    if old.buses.len() != new.buses.len() || old.racks.len() != new.racks.len() {
        return None;
    }
    // Levels as paths take them: dB, silence at −144.
    let db = |level: mam_core::session::Level| ParamValue::Number(level.db().max(-144.0));
    let mut moves = Vec::new();
    let mut rest = new.clone();
    // Send levels by the path of the first send to each bus; a later send
    // to the same bus has no path.
    let sends = |id: &str, o: &[mam_core::session::Send], n: &[mam_core::session::Send], moves: &mut Vec<(String, ParamValue)>| -> Option<()> {
        if o.len() != n.len() {
            return None;
        }
        for (j, (os, ns)) in o.iter().zip(n).enumerate() {
            if os.to != ns.to {
                return None;
            }
            if os.level != ns.level {
                if o.iter().position(|s| s.to == os.to) != Some(j) {
                    return None;
                }
                moves.push((format!("{id}.send.{}", ns.to), db(ns.level)));
            }
        }
        Some(())
    };
    for (i, (o, n)) in old.racks.iter().zip(&new.racks).enumerate() {
        if o.id != n.id {
            return None;
        }
        if o.gain != n.gain {
            moves.push((format!("{}.gainDb", n.id), db(n.gain)));
        }
        sends(&n.id, &o.sends, &n.sends, &mut moves)?;
        let rack = &mut rest.racks[i];
        rack.gain = o.gain;
        for (rs, os) in rack.sends.iter_mut().zip(&o.sends) {
            rs.level = os.level;
        }
    }
    for (i, (o, n)) in old.buses.iter().zip(&new.buses).enumerate() {
        if o.id != n.id || o.inserts.len() != n.inserts.len() {
            return None;
        }
        if o.gain != n.gain {
            moves.push((format!("{}.gainDb", n.id), db(n.gain)));
        }
        if o.pan != n.pan {
            moves.push((format!("{}.pan", n.id), ParamValue::Number(n.pan)));
        }
        for (field, (was, is)) in [("mute", (o.mute, n.mute)), ("solo", (o.solo, n.solo)), ("bypass", (o.bypass, n.bypass))] {
            if was != is {
                moves.push((format!("{}.{field}", n.id), ParamValue::Bool(is)));
            }
        }
        sends(&n.id, &o.sends, &n.sends, &mut moves)?;
        let bus = &mut rest.buses[i];
        (bus.gain, bus.pan, bus.mute, bus.solo, bus.bypass) = (o.gain, o.pan, o.mute, o.solo, o.bypass);
        for (bs, os) in bus.sends.iter_mut().zip(&o.sends) {
            bs.level = os.level;
        }
        for (j, (oi, ni)) in o.inserts.iter().zip(&n.inserts).enumerate() {
            if oi.id != ni.id || oi.kind != ni.kind {
                return None;
            }
            if oi.bypass != ni.bypass {
                moves.push((format!("{}/{}.bypass", n.id, ni.id), ParamValue::Bool(ni.bypass)));
            }
            for (param, value) in &ni.params {
                if oi.params.get(param) != Some(value) {
                    moves.push((format!("{}/{}.{param}", n.id, ni.id), value.clone()));
                }
            }
            if oi.params.keys().any(|k| !ni.params.contains_key(k)) {
                return None;
            }
            let insert = &mut bus.inserts[j];
            (insert.params, insert.bypass) = (oi.params.clone(), oi.bypass);
        }
    }
    if &rest != old || moves.is_empty() {
        return None;
    }
    // Every path must be one a timeline can move (structural and latency
    // parameters cannot).
    moves.iter().all(|(p, v)| path::resolve(old, p).and_then(|r| path::scene_value(old, &r, v)).is_ok()).then_some(moves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mam_core::session::load_str;

    /// A recorded move is named by its mapping's identity when the list
    /// changed before the control thread read it; a mapping removed records
    /// nothing; a mute mapping records a switch in file units.
    #[test]
    fn a_mapped_move_is_named_by_its_mapping_even_after_the_list_changed() {
        use mam_core::mapping::runtime::ident_of;
        let json = |mappings: &str| {
            format!(
                r#"{{ "version": 1, "racks": [ {{ "id": "in" }} ], "buses": [ {{ "id": "bed" }} ], "routes": [ {{ "from": "in", "to": "bed" }} ],
                "mappings": [ {mappings} ] }}"#
            )
        };
        let fader = r#"{ "input": { "type": "cc", "channel": 1, "cc": 7 }, "transform": { "smoothMs": 40 }, "target": { "path": "bed.gainDb" } }"#;
        let mute = r#"{ "input": { "type": "note", "channel": 1, "note": 36 }, "target": { "action": "mute", "bus": "bed" } }"#;
        let both = mam_core::session::load_str(&json(&format!("{fader}, {mute}"))).unwrap().session;
        let (fader_id, mute_id) = (ident_of(&both.mappings[0]), ident_of(&both.mappings[1]));
        assert_eq!(mapped_set(&both, 0, fader_id, -6.0), Some(("bed.gainDb".to_string(), ParamValue::Number(-6.0), Some(40.0))));
        assert_eq!(mapped_set(&both, 1, mute_id, 1.0), Some(("bed.mute".to_string(), ParamValue::Bool(true), None)));
        // The fader was removed before the tick: the mute's move, logged as
        // number 1, is still the mute's, now number 0.
        let mute_only = mam_core::session::load_str(&json(mute)).unwrap().session;
        assert_eq!(mapped_set(&mute_only, 1, mute_id, 1.0), Some(("bed.mute".to_string(), ParamValue::Bool(true), None)));
        assert_eq!(mapped_set(&mute_only, 0, fader_id, -6.0), None, "a removed mapping records nothing");
    }

    const SESSION: &str = r#"{ "version": 1, "sampleRate": 48000, "scenes": [ { "name": "A", "values": { "bed.gainDb": -6 } } ],
        "racks": [ { "id": "m", "input": "main" } ],
        "buses": [ { "id": "bed", "route": "master", "inserts": [ { "id": "d", "type": "delay", "params": { "time": "8n" } } ] }, { "id": "master" } ],
        "routes": [ { "from": "m", "to": "bed" } ] }"#;

    fn every_kind() -> Timeline {
        let text = r#"{ "version": 1, "sampleRate": 44100,
            "lanes": [ { "id": "scenes", "events": [ { "t": 0, "type": "scene", "scene": 1 },
                         { "t": 10, "type": "scene", "scene": 0, "policy": "crossfade", "morphMs": 250.5 },
                         { "t": 10, "type": "scene", "scene": 1, "policy": "instant" },
                         { "t": 20, "type": "push", "scene": 1 }, { "t": 30, "type": "pop" } ] },
                       { "id": "mix", "events": [ { "t": 5, "type": "set", "path": "bed.gainDb", "value": -6.25, "rampMs": 20 },
                         { "t": 5, "type": "set", "path": "bed.mute", "value": true },
                         { "t": 6, "type": "set", "path": "bed/d.time", "value": "8n." },
                         { "t": 7, "type": "macro", "macro": 1, "value": 0.1 } ] } ],
            "markers": [ { "t": 9, "label": "Drop, \"quoted\"" } ] }"#;
        mam_core::timeline::parse_str(text).unwrap().timeline
    }

    #[test]
    fn encode_then_decode_gives_the_same_timeline_and_settings() {
        let timeline = every_kind();
        let settings = Settings { play: false, param_mode: ParamMode::Latch, punch: Some((5, 500)), loop_passes: false, lane_quantize: vec![LaneQuantize { lane: "mix".into(), quantize: Quantize::Beat, window_ms: 40.0 }] };
        let text = encode(&timeline, &settings);
        assert_eq!(decode(&text).unwrap(), (timeline.clone(), settings.clone()));
        assert_eq!(encode(&decode(&text).unwrap().0, &settings), text, "the same timeline gives the same bytes");
    }

    #[test]
    fn chunks_hold_at_most_chunk_events_and_carry_their_first_time() {
        let mut timeline = Timeline::empty(48_000);
        let events = (0..CHUNK_EVENTS as u64 * 2 + 3).map(|k| Event { t: k * 100 + 7, action: Action::Pop }).collect();
        timeline.lanes.push(Lane { id: "scenes".into(), events });
        let text = encode(&timeline, &Settings::default());
        let root: Value = serde_json::from_str(&text).unwrap();
        let chunks = root["lanes"][0]["chunks"].as_array().unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1]["t"], CHUNK_EVENTS as u64 * 100 + 7, "each chunk's time index is its first event's time");
        assert_eq!(chunks[2]["n"], 3);
        assert_eq!(decode(&text).unwrap().0, timeline);
    }

    #[test]
    fn a_malformed_state_names_where() {
        let good = encode(&every_kind(), &Settings::default());
        let bad = good.replacen(",s,", ",q,", 1);
        let err = decode(&bad).unwrap_err();
        assert!(err.contains("lanes[1].chunks[0]") && err.contains("event 0"), "{err}");
    }

    #[test]
    fn editor_moves_of_values_are_recordable_and_structure_is_not() {
        let old = load_str(SESSION).unwrap().session;
        let mut moved = old.clone();
        moved.buses[0].pan = 0.5;
        moved.buses[0].inserts[0].params.insert("feedback".into(), ParamValue::Number(0.25));
        let moves = recordable_moves(&old, &moved).expect("values only");
        assert_eq!(moves, vec![("bed.pan".to_string(), ParamValue::Number(0.5)), ("bed/d.feedback".to_string(), ParamValue::Number(0.25))]);
        let mut soloed = old.clone();
        soloed.buses[0].solo = true;
        soloed.buses[0].bypass = true;
        soloed.racks[0].gain = mam_core::session::Level::Db(-6.0);
        let moves = recordable_moves(&old, &soloed).expect("values only");
        assert_eq!(moves.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), vec!["m.gainDb", "bed.solo", "bed.bypass"]);
        let mut routed = old.clone();
        routed.buses[0].route = None;
        assert_eq!(recordable_moves(&old, &routed), None, "routing is a session edit");
        let mut renamed = old.clone();
        renamed.scenes[0].name = "B".into();
        assert_eq!(recordable_moves(&old, &renamed), None);
    }

    /// Plays `frames` of a constant 0.5 through `audio`, the transport
    /// rolling from sample 0 at 120 BPM; returns the left output.
    fn play(audio: &mut crate::MamAudio, frames: usize) -> Vec<f32> {
        let input = vec![0.5f32; frames];
        let (mut left, mut right) = (vec![0.0f32; frames], vec![0.0f32; frames]);
        let mut buffers = crate::format::HostBuffers::empty(frames);
        buffers.main_in = [input.as_ptr(), input.as_ptr()];
        buffers.main_out = [left.as_mut_ptr(), right.as_mut_ptr()];
        let transport = Transport::rolling(0, 48_000.0, 120.0, (4, 4));
        // SAFETY: every pointer is valid for `frames` samples; the outputs are distinct.
        unsafe { audio.process(&buffers, &[], &transport) };
        left
    }

    #[test]
    fn a_state_restored_while_running_plays_its_timeline_through_the_control_thread() {
        let text = r#"{ "version": 1, "sampleRate": 48000, "lanes": [ { "id": "scenes", "events": [ { "t": 1000, "type": "scene", "scene": 1 } ] } ] }"#;
        let take = mam_core::timeline::parse_str(text).unwrap().timeline;
        let a = crate::MamSession::new();
        a.params().session.set(SESSION.to_string());
        a.params().timeline.replace(take.clone());
        let state = a.save_state();
        drop(a);

        let mut b = crate::MamSession::new();
        b.params().session.set(SESSION.to_string());
        let mut audio = b.activate(48_000.0, 512).unwrap();
        let before = play(&mut audio, 2048);
        assert!(before.iter().all(|&s| s == before[0]), "no timeline yet: a steady output");
        let handed = b.shared().status.timelines();
        b.load_state(&state).unwrap();
        assert_eq!(*b.params().timeline.timeline(), take, "the field decoded on the main thread");
        let start = std::time::Instant::now();
        while b.shared().status.timelines() == handed && start.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let after = play(&mut audio, 2048);
        // Scene 1 ("A", bed at −6 dB, instant with the 10 ms declick) starts on sample 1000.
        assert_eq!(after.iter().position(|&s| s != before[0]), Some(1000));
        assert!(after[2047] < 0.5 * before[0] + 1e-3 && after[2047] > 0.5 * before[0] - 1e-3, "−6 dB once the declick is done: {}", after[2047]);
    }

    #[test]
    fn a_state_from_before_the_timeline_clears_the_one_held() {
        let old = crate::MamSession::new();
        let mut state: Value = serde_json::from_slice(&old.save_state()).unwrap();
        state["fields"].as_object_mut().unwrap().remove("timeline");
        let state = serde_json::to_vec(&state).unwrap();
        let now = crate::MamSession::new();
        now.params().timeline.replace(every_kind());
        now.load_state(&state).unwrap();
        assert_eq!(now.params().timeline.timeline().num_events(), 0);
        // A state with a timeline keeps it.
        now.params().timeline.replace(every_kind());
        let with = now.save_state();
        now.load_state(&with).unwrap();
        assert_eq!(*now.params().timeline.timeline(), every_kind());
    }

    #[test]
    fn a_recorded_move_whose_schedule_arrived_after_its_sample_moves_ahead_and_goes_again() {
        let params = crate::MamParams::new(SESSION.to_string());
        let recorder = Recorder::default();
        let live = &recorder.live;
        live.position.store(10_000, Ordering::Release);
        let set = |t| Event { t, action: Action::Set { path: "bed.pan".into(), value: ParamValue::Number(0.5), ramp_ms: None } };
        let mut ctl = recorder.lock();
        let mut p = pass(Timeline::empty(48_000), 1, 0, 10_000);
        p.recorded.push(("bed.pan".into(), set(6_000)));
        p.recorded.push(("bed.pan".into(), set(20_000)));
        ctl.pass = Some(p);
        ctl.unconfirmed.push(Unconfirmed { path: "bed.pan".into(), t: 6_000, stamp: Some(0) });
        ctl.unconfirmed.push(Unconfirmed { path: "bed.pan".into(), t: 20_000, stamp: Some(0) });
        // The schedule carrying both reached the audio thread at 8 000: too
        // late for the first (it did not play), in time for the second.
        live.adopted_at[0].store(8_000, Ordering::Relaxed);
        live.adoptions.store(1, Ordering::Release);
        assert!(recorder.confirm(&mut ctl, &params, &Settings::default()));
        let lookahead = (LOOKAHEAD_MS * 48.0) as u64 + 2 * 512;
        let times: Vec<u64> = ctl.pass.as_ref().unwrap().recorded.iter().map(|(_, e)| e.t).collect();
        assert_eq!(times, vec![10_000 + lookahead, 20_000]);
        assert_eq!(ctl.unconfirmed.len(), 1, "the moved one waits for its new schedule");
        assert_eq!(ctl.unconfirmed[0].stamp, None);
        drop(ctl);
        let stored = params.timeline.timeline();
        assert_eq!(stored.lanes[0].events.iter().map(|e| e.t).collect::<Vec<_>>(), vec![10_000 + lookahead, 20_000], "the stored lane in time order");
    }

    fn pass(base: Timeline, mode: u8, start: u64, end: u64) -> Pass {
        Pass { id: 1, base, start, end, mode, recorded: Vec::new(), touched: BTreeMap::new() }
    }

    fn lane(id: &str, ts: &[u64], action: Action) -> Lane {
        Lane { id: id.into(), events: ts.iter().map(|&t| Event { t, action: action.clone() }).collect() }
    }

    fn set(v: f64) -> Action {
        Action::Set { path: "bed.pan".into(), value: ParamValue::Number(v), ramp_ms: None }
    }

    #[test]
    fn replace_records_over_the_scenes_lane_in_range_and_overdub_keeps_it() {
        let mut base = Timeline::empty(48_000);
        base.lanes.push(lane(SCENES_LANE, &[100, 1_000, 5_000], Action::Scene { scene: 1, policy: None }));
        let mut p = pass(base.clone(), 1, 500, 2_000);
        p.recorded.push((SCENES_LANE.into(), Event { t: 1_500, action: Action::Push { scene: 1 } }));
        let replaced = merge(&p, &Settings::default(), 48_000);
        assert_eq!(replaced.lanes[0].events.iter().map(|e| e.t).collect::<Vec<_>>(), vec![100, 1_500, 5_000]);
        p.mode = 2;
        let layered = merge(&p, &Settings::default(), 48_000);
        assert_eq!(layered.lanes[0].events.iter().map(|e| e.t).collect::<Vec<_>>(), vec![100, 1_000, 1_500, 5_000]);
        // A pass that records no pad keeps the lane as it is.
        let idle = pass(base.clone(), 1, 0, 10_000);
        assert_eq!(merge(&idle, &Settings::default(), 48_000), base);
        // A punch range narrows what is recorded over.
        p.mode = 1;
        let punched = merge(&p, &Settings { punch: Some((1_200, 1_800)), ..Settings::default() }, 48_000);
        assert_eq!(punched.lanes[0].events.iter().map(|e| e.t).collect::<Vec<_>>(), vec![100, 1_000, 1_500, 5_000]);
    }

    #[test]
    fn write_touch_and_latch_record_over_parameter_lanes_as_documented() {
        let mut base = Timeline::empty(48_000);
        let old = [0, 10_000, 30_000, 60_000, 100_000];
        base.lanes.push(lane("bed.pan", &old, set(0.0)));
        base.lanes.push(lane("other", &old, Action::Set { path: "bed.gainDb".into(), value: ParamValue::Number(0.0), ramp_ms: None }));
        let mut p = pass(base, 2, 5_000, 80_000);
        p.recorded.push(("bed.pan".into(), Event { t: 20_000, action: set(0.5) }));
        p.touched.insert("bed.pan".into(), (20_000, 20_000));
        let times = |t: &Timeline, id: &str| t.lanes.iter().find(|l| l.id == id).unwrap().events.iter().map(|e| e.t).collect::<Vec<_>>();
        let write = merge(&p, &Settings { param_mode: ParamMode::Write, ..Settings::default() }, 48_000);
        assert_eq!(times(&write, "bed.pan"), vec![0, 20_000, 100_000]);
        assert_eq!(times(&write, "other"), vec![0, 100_000], "write records over every parameter lane in range");
        // Touch: from the move to one second (48 000 samples) after it.
        let touch = merge(&p, &Settings { param_mode: ParamMode::Touch, ..Settings::default() }, 48_000);
        assert_eq!(times(&touch, "bed.pan"), vec![0, 10_000, 20_000, 100_000]);
        assert_eq!(times(&touch, "other"), old.to_vec(), "an untouched lane stays");
        let latch = merge(&p, &Settings { param_mode: ParamMode::Latch, ..Settings::default() }, 48_000);
        assert_eq!(times(&latch, "bed.pan"), vec![0, 10_000, 20_000, 100_000]);
        let mut long = p;
        long.end = 120_000;
        let latch = merge(&long, &Settings { param_mode: ParamMode::Latch, ..Settings::default() }, 48_000);
        assert_eq!(times(&latch, "bed.pan"), vec![0, 10_000, 20_000], "latch holds to the end of the pass");
    }
}
