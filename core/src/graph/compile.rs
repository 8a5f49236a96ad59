//! Compiles a validated session into a [`Schedule`]: sort → solo → prepare inserts → latencies → buffers.

use std::collections::HashMap;
use std::sync::Arc;

use super::controls::{Controls, Dest, MacroRoute, SceneTiming, Target};
use super::schedule::*;
use super::sort::{bus_order, SortError};
use crate::audio_buf::AudioBuf;
use crate::dsp::delay_line::DelayLine;
use crate::dsp::smoother::Smoother;
use crate::insert::registry;
use crate::meters::{BusMeter, MeterState, SpectrumDisplay};
use crate::session::slots::{self, MAX_DUCKER_SLOTS};
use crate::session::{path, InsertDesc, PanLaw, RackKind, Session, Tap, MAX_MACROS};
use crate::source::GeneratorState;
use crate::timeline::playback::Playback;
use crate::timeline::Timeline;
use crate::mapping::runtime::MappingTable;

/// Length of the declicking ramp for faders, pans, mutes, solos and feed gains.
pub const GAIN_RAMP_MS: f32 = 10.0;

/// What the compiled schedule is built for.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    pub sample_rate: f32,
    /// Largest block the host will pass; every buffer is sized for it.
    pub max_block: usize,
    /// What feeds each input port passed to `process`, in port order.
    pub ports: Vec<PortBinding>,
}

/// Most input ports `process` reads (`AudioProcessor::process` re-slices
/// them on the stack in arrays of this size).
pub const MAX_PORTS: usize = 8;

/// Which sources one input port of `process` feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortBinding {
    /// The host's port of this name (the plugin's `main`, `sidechain1`,
    /// `sidechain2`): every source whose `input` names it takes it, so two
    /// sources may share one port.
    HostPort(String),
    /// The one source with this id, whatever it declares: a `path` source,
    /// or an `input` source standing in for the host's port (how the CLI
    /// binds WAV files). A generator cannot be bound.
    Source(String),
}

impl PortBinding {
    /// Binds the host's port `name`.
    pub fn host_port(name: impl Into<String>) -> Self {
        Self::HostPort(name.into())
    }

    /// Binds the source with id `id`.
    pub fn source(id: impl Into<String>) -> Self {
        Self::Source(id.into())
    }
}

/// Why a session could not be compiled. Sessions from the loader are already
/// validated, so in practice only programmatic edits hit these.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Cycle(#[from] SortError),
    #[error("{0}")]
    Invalid(String),
}

/// Latency of one bus, in samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusLatency {
    pub id: String,
    /// Position in processing order (0 = first).
    pub order: usize,
    /// Delay added at the bus input so every path into it lines up.
    pub input_latency: usize,
    /// Sum of the insert latencies (bypassed inserts included).
    pub chain_latency: usize,
    /// `input_latency + chain_latency`: when the bus's output appears.
    pub output_latency: usize,
}

/// What the compiler worked out, for `mam info` and the plugin.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileInfo {
    /// Buses in processing order.
    pub buses: Vec<BusLatency>,
    /// Latency from any input to the main output.
    pub latency: usize,
    /// Non-fatal findings (unbound sources, ignored offsets).
    pub warnings: Vec<String>,
}

/// A schedule ready to hand to the audio thread, and its description.
pub struct Compiled {
    pub schedule: Box<Schedule>,
    pub info: CompileInfo,
}

/// Compiles `session` for the given sample rate, block size and ports.
/// Allocates everything the audio thread will touch. `meter_for` supplies the
/// meter of each bus by id (so readers keep their handles across recompiles).
///
/// # Errors
/// [`CompileError`] if the bus graph has a cycle or names something unknown.
pub fn compile(
    session: &Session,
    options: &CompileOptions,
    meter_for: &mut dyn FnMut(&str) -> Arc<BusMeter>,
) -> Result<Compiled, CompileError> {
    compile_with_displays(session, options, meter_for, &mut |_, _, fresh| fresh)
}

/// [`compile`], also routing each insert's editor display through
/// `display_for(bus id, insert id, the fresh insert's display)`, which
/// returns the display the insert should publish into (the engine keeps one
/// per bus/insert across recompiles).
///
/// # Errors
/// As [`compile`].
pub fn compile_with_displays(
    session: &Session,
    options: &CompileOptions,
    meter_for: &mut dyn FnMut(&str) -> Arc<BusMeter>,
    display_for: &mut dyn FnMut(&str, &str, Arc<SpectrumDisplay>) -> Arc<SpectrumDisplay>,
) -> Result<Compiled, CompileError> {
    compile_with_timeline(session, options, None, meter_for, display_for)
}

/// [`compile_with_displays`], with `timeline` compiled into the schedule's
/// cues: every path its `set` events name becomes a controlled value
/// (docs/ARCHITECTURE.md §8.1). Events the session cannot play are left out
/// with a warning in [`CompileInfo::warnings`]; the timeline never makes a
/// compile fail.
///
/// # Errors
/// As [`compile`].
pub fn compile_with_timeline(
    session: &Session,
    options: &CompileOptions,
    timeline: Option<&Timeline>,
    meter_for: &mut dyn FnMut(&str) -> Arc<BusMeter>,
    display_for: &mut dyn FnMut(&str, &str, Arc<SpectrumDisplay>) -> Arc<SpectrumDisplay>,
) -> Result<Compiled, CompileError> {
    let sr = options.sample_rate;
    let max_block = options.max_block.max(1);
    let channels = session.channels;
    let ramp = Smoother::ramp_len(GAIN_RAMP_MS, sr);
    let mut warnings = Vec::new();

    let rack_idx: HashMap<&str, usize> = session.racks.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
    let bus_idx: HashMap<&str, usize> = session.buses.iter().enumerate().map(|(i, b)| (b.id.as_str(), i)).collect();
    let master = *bus_idx.get(crate::session::MASTER_ID).ok_or_else(|| CompileError::Invalid("no master bus".into()))?;
    let unknown = |what: &str, id: &str| CompileError::Invalid(format!("{what} names unknown '{id}'"));

    // Pass 1: order.
    let order = bus_order(session)?;
    let mut position = vec![0; session.buses.len()];
    for (pos, &b) in order.iter().enumerate() {
        position[b] = pos;
    }

    // Pass 2: solo-in-place, and host parameter slots.
    let mut solo = super::solo::SoloGraph::new(session, &bus_idx);
    let mut bus_audible = vec![true; session.buses.len()];
    let mut rack_audible = vec![true; session.racks.len()];
    solo.resolve(&mut |b, a| bus_audible[b] = a, &mut |r, a| rack_audible[r] = a);
    let bus_slots = crate::session::slots::assign(session);

    // Inputs of every bus: (source, tap, gain, kind). Sources are racks or buses.
    #[derive(Clone, Copy)]
    enum Src {
        Rack(usize),
        Bus(usize),
    }
    let mut inputs: Vec<Vec<(Src, Tap, f64, FeedKind)>> = vec![Vec::new(); session.buses.len()];
    for route in &session.routes {
        let r = *rack_idx.get(route.from.as_str()).ok_or_else(|| unknown("a route", &route.from))?;
        let b = *bus_idx.get(route.to.as_str()).ok_or_else(|| unknown("a route", &route.to))?;
        inputs[b].push((Src::Rack(r), Tap::Post, route.gain.linear(), FeedKind::Route));
    }
    for (r, rack) in session.racks.iter().enumerate() {
        for send in &rack.sends {
            let b = *bus_idx.get(send.to.as_str()).ok_or_else(|| unknown("a send", &send.to))?;
            inputs[b].push((Src::Rack(r), Tap::Post, send.level.linear(), FeedKind::Send));
        }
        if rack.sends.is_empty() && !session.routes.iter().any(|x| x.from == rack.id) {
            inputs[master].push((Src::Rack(r), Tap::Post, 1.0, FeedKind::Route));
        }
    }
    for (u, bus) in session.buses.iter().enumerate() {
        if let Some(to) = &bus.route {
            let b = *bus_idx.get(to.as_str()).ok_or_else(|| unknown("a bus route", to))?;
            inputs[b].push((Src::Bus(u), Tap::Post, 1.0, FeedKind::Route));
        }
        for send in &bus.sends {
            let b = *bus_idx.get(send.to.as_str()).ok_or_else(|| unknown("a send", &send.to))?;
            inputs[b].push((Src::Bus(u), send.tap, send.level.linear(), FeedKind::Send));
        }
    }
    let needs_pre_fx: Vec<bool> = (0..session.buses.len())
        .map(|u| inputs.iter().flatten().any(|(s, tap, _, _)| matches!(s, Src::Bus(x) if *x == u) && *tap == Tap::PreFx))
        .collect();

    // Pass 3: instantiate and prepare inserts (their latency depends on it).
    let mut prepared: Vec<Vec<(Box<dyn crate::insert::Insert>, Vec<f32>, usize)>> = Vec::new();
    for bus in &session.buses {
        let mut chain = Vec::new();
        for desc in &bus.inserts {
            let (insert, params) = instantiate(desc, sr, max_block, bus.channels, session.tempo, &mut |fresh| display_for(&bus.id, &desc.id, fresh))?;
            let latency = insert.latency();
            chain.push((insert, params, latency));
        }
        prepared.push(chain);
    }

    // Pass 4: latencies, in processing order.
    let mut in_lat = vec![0usize; session.buses.len()];
    let mut out_lat = vec![0usize; session.buses.len()];
    let tap_latency = |src: Src, tap: Tap, in_lat: &[usize], out_lat: &[usize]| match (src, tap) {
        (Src::Rack(_), _) => 0,
        (Src::Bus(u), Tap::PreFx) => in_lat[u],
        (Src::Bus(u), _) => out_lat[u],
    };
    let key_src = |id: &str| -> Result<Src, CompileError> {
        if let Some(&r) = rack_idx.get(id) {
            Ok(Src::Rack(r))
        } else if let Some(&b) = bus_idx.get(id) {
            Ok(Src::Bus(b))
        } else {
            Err(unknown("a sidechain", id))
        }
    };
    for &b in &order {
        let mut need = 0usize;
        for &(src, tap, _, _) in &inputs[b] {
            need = need.max(tap_latency(src, tap, &in_lat, &out_lat));
        }
        let mut prefix = 0usize;
        for (desc, (_, _, latency)) in session.buses[b].inserts.iter().zip(&prepared[b]) {
            if let Some(from) = desc.key_source() {
                let key_latency = tap_latency(key_src(from)?, Tap::Post, &in_lat, &out_lat);
                need = need.max(key_latency.saturating_sub(prefix));
            }
            prefix += latency;
        }
        in_lat[b] = need;
        out_lat[b] = need + prefix;
    }

    // Pass 5: build the audio-side nodes with their buffers and delay lines.
    let solo_factor = |ok: bool| if ok { 1.0 } else { 0.0 };
    let mut racks = Vec::new();
    // A port bound to a source by id fails loudly if that source cannot take
    // it, and so does a port beyond what `process` reads: a silently ignored
    // file would render a wrong mix.
    if options.ports.len() > MAX_PORTS {
        return Err(CompileError::Invalid(format!("{} input ports are bound but the engine reads at most {MAX_PORTS}", options.ports.len())));
    }
    for binding in &options.ports {
        if let PortBinding::Source(id) = binding {
            match session.rack(id).map(|r| &r.kind) {
                None => return Err(unknown("a port binding", id)),
                Some(RackKind::Generator(_)) => {
                    return Err(CompileError::Invalid(format!("a port is bound to source '{id}', which is a generator and takes no input")))
                }
                Some(_) => {}
            }
        }
    }
    for (r, rack) in session.racks.iter().enumerate() {
        // Bound by id first (the CLI's files), else by the host port its `input` names.
        let by_id = options.ports.iter().position(|p| matches!(p, PortBinding::Source(id) if *id == rack.id));
        let by_host_port = match &rack.kind {
            RackKind::Input(name) => options.ports.iter().position(|p| matches!(p, PortBinding::HostPort(port) if port == name)),
            _ => None,
        };
        let source = match (&rack.kind, by_id.or(by_host_port)) {
            (RackKind::Generator(g), _) => SourceNode::Generator(GeneratorState::new(*g, rack.start_offset_frames, sr as f64)),
            (_, Some(port)) => {
                // A file source's audio is placed at its offset by whoever
                // binds it (the CLI); live input, and a file standing in for
                // it, plays as it arrives.
                if rack.start_offset_frames != 0 && matches!(rack.kind, RackKind::Input(_)) {
                    warnings.push(format!(
                        "source '{}': startOffsetFrames applies to generators and files rendered by the CLI; live input plays as it arrives",
                        rack.id
                    ));
                }
                SourceNode::Port(port)
            }
            (kind, None) => {
                let what = match kind {
                    RackKind::Input(p) => format!("takes input '{p}', which this host does not provide"),
                    RackKind::File(p) => format!("reads file '{p}', which only the CLI renders"),
                    _ => "has no input bound".to_string(),
                };
                warnings.push(format!("source '{}' {what}; it is silent", rack.id));
                SourceNode::Silent
            }
        };
        let level = rack.gain.linear() as f32;
        let gain = level * solo_factor(rack_audible[r]);
        racks.push(RackNode {
            id: rack.id.clone(),
            source,
            level,
            audible: rack_audible[r],
            gain: Smoother::new(gain, ramp),
            out: AudioBuf::new(channels, max_block),
            meter: meter_for(&rack.id),
            meter_state: MeterState::new(sr),
        });
    }

    let mut buses = Vec::new();
    let mut chains: Vec<Option<Vec<(Box<dyn crate::insert::Insert>, Vec<f32>, usize)>>> = prepared.into_iter().map(Some).collect();
    let make_feed = |src: Src, tap: Tap, gain: f64, kind: FeedKind, delay: usize| {
        let (src_ref, id, width) = match src {
            Src::Rack(r) => (TapRef::Rack(r), session.racks[r].id.clone(), channels),
            Src::Bus(u) => {
                let width = if tap == Tap::Post { channels } else { session.buses[u].channels };
                (TapRef::Bus(position[u], tap), session.buses[u].id.clone(), width)
            }
        };
        Feed {
            src: src_ref,
            carry_key: (id, tap, kind),
            gain: Smoother::new(gain as f32, ramp),
            delay: DelayLine::new(width, delay, delay),
            scratch: AudioBuf::new(width, max_block),
        }
    };
    for &b in &order {
        let bus = &session.buses[b];
        let feeds = inputs[b]
            .iter()
            .map(|&(src, tap, gain, kind)| make_feed(src, tap, gain, kind, in_lat[b] - tap_latency(src, tap, &in_lat, &out_lat)))
            .collect();
        let mut prefix = 0;
        let mut slots = Vec::new();
        for (desc, (insert, params, latency)) in bus.inserts.iter().zip(chains[b].take().expect("each chain used once")) {
            let key = match desc.key_source() {
                Some(from) if registry::lookup(&desc.kind).is_some_and(|t| t.takes_key) => {
                    let src = key_src(from)?;
                    let delay = in_lat[b] + prefix - tap_latency(src, Tap::Post, &in_lat, &out_lat);
                    Some((make_feed(src, Tap::Post, 1.0, FeedKind::Key, delay), AudioBuf::new(bus.channels, max_block)))
                }
                _ => None,
            };
            slots.push(InsertSlot {
                id: desc.id.clone(),
                kind: registry::lookup(&desc.kind).expect("instantiated above").name,
                insert,
                bypass: desc.bypass,
                wet: Smoother::new(if desc.bypass { 0.0 } else { 1.0 }, ramp),
                bypass_delay: DelayLine::new(bus.channels, latency, latency),
                // Sized below if a scene switches this bypass.
                dry: AudioBuf::new(bus.channels, 0),
                track_dry: false,
                bypass_target: None,
                warmup: 0,
                key,
                params,
                // The engine shares its telemetry's counter (`Schedule::share_telemetry`).
                cpu: Default::default(),
            });
            prefix += latency;
        }
        let strip = Strip {
            level: bus.gain.linear() as f32,
            trim: 1.0,
            session_pan: bus.pan as f32,
            host_pan: 0.0,
            session_mute: bus.mute,
            host_mute: false,
            audible: bus_audible[b],
            mono: bus.channels == 1,
            master: bus.is_master(),
            law: session.pan_law,
            session_channels: channels,
        };
        let targets = strip.targets();
        let out_gain = (0..channels).map(|c| Smoother::new(targets[c], ramp)).collect();
        buses.push(BusNode {
            id: bus.id.clone(),
            channels: bus.channels,
            bypass: bus.bypass,
            fade: Smoother::new(if bus.bypass { 0.0 } else { 1.0 }, ramp),
            bypass_target: None,
            feeds,
            sum: AudioBuf::new(bus.channels, max_block),
            pre_fx: needs_pre_fx[b].then(|| AudioBuf::new(bus.channels, max_block)),
            out: AudioBuf::new(channels, max_block),
            inserts: slots,
            out_gain,
            strip,
            slot: if bus.is_master() { Some(0) } else { bus_slots[b] },
            meter: meter_for(&bus.id),
            meter_state: MeterState::new(sr),
            cpu: Default::default(),
            out_latency: out_lat[b],
        });
    }

    // Pass 6: scenes, macros, ducker slots and timeline sets as controlled values.
    let (controls, timeline, mappings) = build_controls(session, &position, &buses, sr, timeline, &mut warnings)?;
    for (t, dest) in controls.dests().enumerate() {
        match dest {
            Dest::InsertBypass { bus, slot } => {
                let channels = buses[bus].channels;
                let slot = &mut buses[bus].inserts[slot];
                slot.dry = AudioBuf::new(channels, max_block);
                slot.track_dry = slot.insert.latency() > 0;
                slot.bypass_target = Some(t);
            }
            Dest::BusBypass(bus) => buses[bus].bypass_target = Some(t),
            _ => {}
        }
    }

    let latency = out_lat[master];
    // Pass 7: stem taps, every slotted bus aligned with the main output.
    let mut stems: Vec<StemTap> = order
        .iter()
        .enumerate()
        .filter_map(|(pos, &b)| {
            let slot = if session.buses[b].is_master() { None } else { bus_slots[b] }?;
            let delay = latency - out_lat[b];
            Some(StemTap { slot, bus: pos, delay: DelayLine::new(channels, delay, delay), buf: AudioBuf::new(channels, max_block) })
        })
        .collect();
    stems.sort_by_key(|t| t.slot);
    let info = CompileInfo {
        buses: order
            .iter()
            .enumerate()
            .map(|(pos, &b)| BusLatency {
                id: session.buses[b].id.clone(),
                order: pos,
                input_latency: in_lat[b],
                chain_latency: out_lat[b] - in_lat[b],
                output_latency: out_lat[b],
            })
            .collect(),
        latency,
        warnings,
    };
    // The solo graph keeps file-order bus indices; `bus_order` maps them.
    let levels = bus_levels(&buses);
    let schedule = Box::new(Schedule {
        sample_rate: sr,
        max_block,
        channels,
        racks,
        buses,
        latency,
        tempo: session.tempo,
        solo,
        bus_order: order.clone(),
        levels,
        parallel: Default::default(),
        controls,
        timeline,
        mappings,
        stems,
        generation: 0,
        plan: Default::default(),
        loudness: None,
        timing: None,
    });
    Ok(Compiled { schedule, info })
}

/// Pass 8: the dependency level of every bus (0 = reads only sources, else
/// 1 + the highest level among the buses its feeds and key feeds read), and
/// the buses grouped by level. `buses` is in processing order, so every bus
/// a feed reads comes earlier and has its level already.
pub(crate) fn bus_levels(buses: &[BusNode]) -> BusLevels {
    let mut level_of: Vec<usize> = Vec::with_capacity(buses.len());
    for bus in buses {
        let keys = bus.inserts.iter().filter_map(|slot| slot.key.as_ref().map(|(feed, _)| feed));
        let level = bus
            .feeds
            .iter()
            .chain(keys)
            .filter_map(|feed| match feed.src {
                TapRef::Bus(b, _) => Some(level_of[b] + 1),
                TapRef::Rack(_) => None,
            })
            .max()
            .unwrap_or(0);
        level_of.push(level);
    }
    let num_levels = level_of.iter().max().map_or(0, |&l| l + 1);
    let mut order = Vec::with_capacity(buses.len());
    let mut ends = Vec::with_capacity(num_levels);
    for level in 0..num_levels {
        order.extend((0..buses.len()).filter(|&i| level_of[i] == level));
        ends.push(order.len());
    }
    BusLevels { order, ends, level_of }
}

/// Creates an insert, sets every parameter (session value or default), and
/// prepares it. Returns the values in table order too.
fn instantiate(
    desc: &InsertDesc,
    sample_rate: f32,
    max_block: usize,
    channels: usize,
    tempo: f64,
    display_for: &mut dyn FnMut(Arc<SpectrumDisplay>) -> Arc<SpectrumDisplay>,
) -> Result<(Box<dyn crate::insert::Insert>, Vec<f32>), CompileError> {
    let ty = registry::lookup(&desc.kind).ok_or_else(|| CompileError::Invalid(format!("unknown insert type '{}'", desc.kind)))?;
    let mut insert = (ty.create)();
    let mut values = Vec::with_capacity(ty.params.len());
    for (index, spec) in ty.params.iter().enumerate() {
        let value = crate::session::path::audio_value(spec, desc.params.get(spec.id));
        insert.set_param(index, value);
        values.push(value);
    }
    insert.set_tempo(tempo);
    if let Some(fresh) = insert.display() {
        insert.attach_display(display_for(fresh));
    }
    insert.prepare(sample_rate, max_block, channels);
    Ok((insert, values))
}

/// Resolves every path the scenes, macros, ducker slots and timeline `set`
/// events name into a controlled value of the schedule, with one row of
/// values per scene; and the timeline's cues.
fn build_controls(
    session: &Session,
    position: &[usize],
    buses: &[BusNode],
    sample_rate: f32,
    timeline: Option<&Timeline>,
    warnings: &mut Vec<String>,
) -> Result<(Controls, Playback, MappingTable), CompileError> {
    let invalid = |e: String| CompileError::Invalid(e);
    let mut resolved: Vec<path::Resolved> = Vec::new();
    let index_of = |r: path::Resolved, resolved: &mut Vec<path::Resolved>| -> usize {
        // Two spellings of one value (an alias, say) share one target.
        match resolved.iter().position(|x| x.bus == r.bus && x.target == r.target) {
            Some(i) => i,
            None => {
                resolved.push(r);
                resolved.len() - 1
            }
        }
    };
    let mut duckers = [None; MAX_DUCKER_SLOTS];
    for (k, &(b, i)) in slots::ducker_slots(session).iter().enumerate() {
        let prefix = format!("{}/{}", session.buses[b].id, session.buses[b].inserts[i].id);
        let depth = index_of(path::resolve(session, &format!("{prefix}.depthDb")).map_err(invalid)?, &mut resolved);
        let mix = index_of(path::resolve(session, &format!("{prefix}.mix")).map_err(invalid)?, &mut resolved);
        duckers[k] = Some((depth, mix));
    }
    let mut scene_values = Vec::new();
    for scene in &session.scenes {
        let mut values = Vec::new();
        for (key, value) in &scene.values {
            let r = path::resolve(session, key).map_err(invalid)?;
            let v = path::scene_value(session, &r, value).map_err(|e| invalid(format!("scene '{}', {key}: {e}", scene.name)))?;
            values.push((index_of(r, &mut resolved), v as f32));
        }
        scene_values.push(values);
    }
    let mut macros = Vec::new();
    for (m, mac) in session.macros.iter().enumerate().take(MAX_MACROS) {
        for t in &mac.targets {
            let target = index_of(path::resolve(session, &t.path).map_err(invalid)?, &mut resolved);
            macros.push(MacroRoute { macro_idx: m, target, min: t.min as f32, max: t.max as f32, exponent: t.curve.exponent() as f32 });
        }
    }
    let playback = match timeline {
        Some(timeline) => Playback::compile(timeline, session, sample_rate, &mut |r| index_of(r, &mut resolved), &mut |w| warnings.push(w)),
        None => Playback::default(),
    };
    // Mapped paths are controlled values too (docs/ARCHITECTURE.md §8.3).
    let mappings = MappingTable::compile(&session.mappings, sample_rate, &mut |p| {
        let r = path::resolve(session, p)?;
        Ok((index_of(r.clone(), &mut resolved), r))
    })
    .map_err(invalid)?;

    let mut targets = Vec::new();
    for r in &resolved {
        let bus = if r.target.is_source() { 0 } else { position[r.bus] };
        let dest = match &r.target {
            path::PathTarget::BusGain => Dest::BusGainDb(bus),
            path::PathTarget::BusPan => Dest::BusPan(bus),
            path::PathTarget::BusMute => Dest::BusMute(bus),
            path::PathTarget::Send { to } => {
                let from = &session.buses[r.bus];
                let tap = from.sends.iter().find(|s| &s.to == to).map_or(Tap::Post, |s| s.tap);
                let dest_bus = position[session.buses.iter().position(|b| &b.id == to).ok_or_else(|| invalid(format!("unknown bus '{to}'")))?];
                let key = (from.id.clone(), tap, FeedKind::Send);
                let feed = buses[dest_bus].feeds.iter().position(|f| f.carry_key == key).ok_or_else(|| invalid(format!("no send from '{}' to '{to}'", from.id)))?;
                Dest::SendDb { bus: dest_bus, feed }
            }
            path::PathTarget::Insert { insert, param } => Dest::Insert { bus, slot: *insert, param: *param },
            path::PathTarget::BusSolo => Dest::BusSolo(bus),
            path::PathTarget::BusBypass => Dest::BusBypass(bus),
            path::PathTarget::InsertBypass { insert } => Dest::InsertBypass { bus, slot: *insert },
            path::PathTarget::SourceGain => Dest::SourceGainDb(r.bus),
            path::PathTarget::SourceSend { to } => {
                let from = &session.racks[r.bus];
                let dest_bus = position[session.buses.iter().position(|b| &b.id == to).ok_or_else(|| invalid(format!("unknown bus '{to}'")))?];
                let key = (from.id.clone(), Tap::Post, FeedKind::Send);
                let feed = buses[dest_bus].feeds.iter().position(|f| f.carry_key == key).ok_or_else(|| invalid(format!("no send from source '{}' to '{to}'", from.id)))?;
                Dest::SendDb { bus: dest_bus, feed }
            }
        };
        targets.push(Target { dest, min: r.min as f32, max: r.max as f32, stepped: r.stepped, time: r.time });
    }
    let n = targets.len();
    let mut rows: Vec<f32> = resolved.iter().map(|r| r.session_value as f32).collect();
    for values in &scene_values {
        let start = rows.len();
        rows.extend_from_within(..n);
        for &(t, v) in values {
            rows[start + t] = v;
        }
    }
    let timing = SceneTiming::rows(&session.scenes, session.scene_quantize, sample_rate);
    Ok((Controls::new(targets, rows, timing, sample_rate, macros, duckers), playback, mappings))
}

/// Per-output-channel pan gains for a bus at `pan` (see [`PanLaw`]); in a
/// mono session only the first applies. No allocation (the audio thread
/// recomputes these when the host moves a pan).
pub fn pan_gains(law: PanLaw, pan: f64, mono_bus: bool, is_master: bool, session_channels: usize) -> [f64; 2] {
    if session_channels == 1 {
        return [1.0, 1.0];
    }
    let theta = (pan + 1.0) * std::f64::consts::FRAC_PI_4;
    // The master's pan is a balance control whatever the law, so a mix is
    // not attenuated twice on its way out.
    if mono_bus || (law == PanLaw::ConstantPower && !is_master) {
        return [theta.cos(), theta.sin()];
    }
    [(1.0 - pan).min(1.0), (1.0 + pan).min(1.0)]
}
