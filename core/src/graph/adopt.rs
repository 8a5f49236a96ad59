//! Adoption plans: how a newly compiled schedule takes over the running one's state, worked out on the control side as indices.
//!
//! When an edit recompiles the session, the new [`Schedule`] must pick up
//! where the running one stands: inserts keep their tails and envelopes,
//! gains ramp from their current values, latency-compensation delay lines
//! keep their contents, generators keep their clocks. Matching old and new
//! nodes means comparing ids, which is string work; it is done here, on the
//! control side, against a [`ScheduleLayout`] (the ids of the schedule the
//! engine last handed over). The audio thread then only moves state by the
//! indices in the [`AdoptPlan`] (see [`Schedule::adopt`]).

use super::controls::Dest;
use super::schedule::{FeedKind, InsertSlot, Schedule};
use crate::insert::registry;
use crate::session::Tap;

/// Identity of a feed across recompiles: (source id, tap, kind).
type FeedKey = (String, Tap, FeedKind);

/// The ids of a schedule handed to the audio thread: what the next plan is
/// matched against. Built on the control side from the schedule before it is
/// queued.
#[derive(Clone, Debug, Default)]
pub struct ScheduleLayout {
    /// The schedule's generation (counts the schedules an engine hands over).
    pub(crate) generation: u64,
    sample_rate: f32,
    max_block: usize,
    channels: usize,
    /// Source ids in schedule order.
    racks: Vec<String>,
    /// Buses in processing order.
    buses: Vec<BusLayout>,
    /// Per stem tap (in schedule order): the processing-order index of its bus.
    stems: Vec<usize>,
    /// Per controlled value (in target order): what it controls, by ids
    /// (see [`control_keys`]).
    controls: Vec<String>,
    /// Per controller mapping: its identity (a hash of the mapping as saved).
    mappings: Vec<u64>,
}

#[derive(Clone, Debug)]
struct BusLayout {
    id: String,
    channels: usize,
    feeds: Vec<FeedKey>,
    /// Per insert: (id, type name, the key feed's identity, the values of
    /// its structural parameters).
    inserts: Vec<(String, &'static str, Option<FeedKey>, Vec<f32>)>,
}

impl ScheduleLayout {
    /// The ids of `schedule`. Allocates; control side only.
    pub fn of(schedule: &Schedule) -> Self {
        Self {
            generation: schedule.generation,
            sample_rate: schedule.sample_rate,
            max_block: schedule.max_block,
            channels: schedule.channels,
            racks: schedule.racks.iter().map(|r| r.id.clone()).collect(),
            buses: schedule
                .buses
                .iter()
                .map(|b| BusLayout {
                    id: b.id.clone(),
                    channels: b.channels,
                    feeds: b.feeds.iter().map(|f| f.carry_key.clone()).collect(),
                    inserts: b.inserts.iter().map(|s| (s.id.clone(), s.kind, s.key.as_ref().map(|(f, _)| f.carry_key.clone()), structural(s))).collect(),
                })
                .collect(),
            stems: schedule.stems.iter().map(|s| s.bus).collect(),
            controls: control_keys(schedule),
            mappings: schedule.mappings.entries.iter().map(|e| e.ident).collect(),
        }
    }
}

/// What each controlled value of `schedule` controls, in target order, by
/// ids rather than indices (a bus's level, a send by its feed's identity, an
/// insert's parameter by insert id, type and parameter index), so two
/// schedules with equal keys control the same values in the same order.
/// Allocates; control side only.
fn control_keys(schedule: &Schedule) -> Vec<String> {
    let bus = |b: usize| schedule.buses[b].id.as_str();
    let insert = |b: usize, s: usize| {
        let slot = &schedule.buses[b].inserts[s];
        format!("{}/{}:{}", bus(b), slot.id, slot.kind)
    };
    schedule
        .controls
        .dests()
        .map(|dest| match dest {
            Dest::BusGainDb(b) => format!("bus {}.gainDb", bus(b)),
            Dest::BusPan(b) => format!("bus {}.pan", bus(b)),
            Dest::BusMute(b) => format!("bus {}.mute", bus(b)),
            Dest::BusSolo(b) => format!("bus {}.solo", bus(b)),
            Dest::BusBypass(b) => format!("bus {}.bypass", bus(b)),
            Dest::SendDb { bus: b, feed } => format!("feed {} <- {:?}", bus(b), schedule.buses[b].feeds[feed].carry_key),
            Dest::Insert { bus: b, slot, param } => format!("insert {}.{param}", insert(b, slot)),
            Dest::InsertBypass { bus: b, slot } => format!("insert {}.bypass", insert(b, slot)),
            Dest::SourceGainDb(r) => format!("source {}.gainDb", schedule.racks[r].id),
        })
        .collect()
}

/// Which old node each new node takes its running state from, as
/// `(new index, old index)` pairs. Allocated on the control side; the audio
/// thread only reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AdoptPlan {
    /// The generation of the schedule this plan takes over from; `None`
    /// (a first schedule, or a change of rate, block size or width) adopts
    /// nothing.
    pub(crate) from: Option<u64>,
    pub(crate) racks: Vec<(usize, usize)>,
    pub(crate) buses: Vec<BusPlan>,
    pub(crate) stems: Vec<(usize, usize)>,
    /// Whether the new schedule controls the same values as the old one, in
    /// the same order (same paths): then a running scene transition, the
    /// timeline's ramps and held values move over as they stand, index for
    /// index (see `Controls::take_transition`).
    pub(crate) same_controls: bool,
    /// Controller mappings that survive an edit (same identity): `(new
    /// index, old index)`, so what each controller shows and toggles'
    /// states carry over by index.
    pub(crate) mappings: Vec<(usize, usize)>,
}

/// One bus that survives an edit (same id and width), by processing-order index.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BusPlan {
    pub new: usize,
    pub old: usize,
    /// Feeds with the same identity: `(new feed, old feed)`.
    pub feeds: Vec<(usize, usize)>,
    pub inserts: Vec<InsertPlan>,
}

/// One insert that survives an edit (same id and type on the same bus,
/// same structural parameters).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InsertPlan {
    pub new: usize,
    pub old: usize,
    /// Whether its key feed keeps the same identity (then its delay line
    /// and gain carry over).
    pub key: bool,
    /// Its parameters that are controlled values of the new schedule
    /// (scenes, macros, host trims): `(param index, control target)`.
    pub controlled: Vec<(usize, usize)>,
}

/// The values of the parameters that size an insert's buffers or set its
/// latency (its type's `structural_params`): an insert whose structural
/// values change is not taken over, because the running one would have to
/// rebuild on the audio thread and would lose its state anyway; the fresh,
/// prepared instance replaces it.
fn structural(slot: &InsertSlot) -> Vec<f32> {
    let Some(ty) = registry::lookup(slot.kind) else { return Vec::new() };
    ty.structural_params.iter().filter_map(|id| ty.param_index(id)).map(|i| slot.params[i]).collect()
}

impl AdoptPlan {
    /// Matches the nodes of `new` against those of the schedule `old`
    /// describes. Allocates and compares strings; control side only.
    pub fn between(old: &ScheduleLayout, new: &Schedule) -> Self {
        if old.sample_rate != new.sample_rate || old.max_block != new.max_block || old.channels != new.channels {
            return Self::default();
        }
        let racks = new.racks.iter().enumerate().filter_map(|(n, r)| old.racks.iter().position(|id| *id == r.id).map(|o| (n, o))).collect();
        let mut buses = Vec::new();
        for (n, bus) in new.buses.iter().enumerate() {
            let Some(o) = old.buses.iter().position(|b| b.id == bus.id && b.channels == bus.channels) else { continue };
            let prev = &old.buses[o];
            let feeds = bus.feeds.iter().enumerate().filter_map(|(i, f)| prev.feeds.iter().position(|k| *k == f.carry_key).map(|j| (i, j))).collect();
            let inserts = bus
                .inserts
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| {
                    let shape = structural(slot);
                    let j = prev.inserts.iter().position(|(id, kind, _, old_shape)| *id == slot.id && *kind == slot.kind && *old_shape == shape)?;
                    let key = match (&slot.key, &prev.inserts[j].2) {
                        (Some((feed, _)), Some(old_key)) => feed.carry_key == *old_key,
                        _ => false,
                    };
                    let controlled = new.controls.insert_targets().filter(|&(bus, s, _, _)| bus == n && s == i).map(|(_, _, param, t)| (param, t)).collect();
                    Some(InsertPlan { new: i, old: j, key, controlled })
                })
                .collect();
            buses.push(BusPlan { new: n, old: o, feeds, inserts });
        }
        let stems = new
            .stems
            .iter()
            .enumerate()
            .filter_map(|(n, stem)| {
                let id = &new.buses[stem.bus].id;
                old.stems.iter().position(|&bus| old.buses[bus].id == *id).map(|o| (n, o))
            })
            .collect();
        let same_controls = old.controls == control_keys(new);
        let mut old_mappings = std::collections::HashMap::new();
        for (o, &ident) in old.mappings.iter().enumerate() {
            old_mappings.entry(ident).or_insert(o);
        }
        let mappings = new.mappings.entries.iter().enumerate().filter_map(|(n, e)| old_mappings.get(&e.ident).map(|&o| (n, o))).collect();
        Self { from: Some(old.generation), racks, buses, stems, same_controls, mappings }
    }
}
