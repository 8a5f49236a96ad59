//! Solo-in-place as bitsets, so a solo change is resolved on the audio thread without allocating.

use std::collections::HashMap;

use crate::session::Session;

/// Who stays audible under solo-in-place: with any bus soloed, a bus stays
/// audible if it is soloed, feeds a soloed bus (upstream), is fed by one
/// (downstream), or is `soloSafe`; a source stays audible if it feeds a
/// soloed or upstream bus. Keys carry no audio to the output, so they do not
/// count as feeding. Solo comes from the session (or the recalled scene) and from
/// the host, per bus: either solos.
///
/// The transitive closures are computed once on the control side; resolving
/// a new set of solos is then a few word operations per bus.
pub struct SoloGraph {
    words: usize,
    /// `[bus][word]`: buses reachable downstream of each bus, itself included.
    down: Vec<u64>,
    /// `[bus][word]`: buses that reach each bus, itself included.
    up: Vec<u64>,
    /// `[rack][word]`: buses each rack feeds directly.
    rack_feeds: Vec<u64>,
    solo_safe: Vec<bool>,
    /// The session's solos, or the recalled scene's where it names them.
    session_solo: Vec<bool>,
    host_solo: Vec<bool>,
    /// Scratch `[word]`s, preallocated.
    union_down: Vec<u64>,
    union_up: Vec<u64>,
}

impl SoloGraph {
    /// Builds the closures for `session` (buses indexed as in `session.buses`).
    /// Allocates; control side.
    pub fn new(session: &Session, bus_idx: &HashMap<&str, usize>) -> Self {
        let n = session.buses.len();
        let words = n.div_ceil(64).max(1);
        let mut feeds_into: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (u, bus) in session.buses.iter().enumerate() {
            for to in bus.route.iter().chain(bus.sends.iter().map(|s| &s.to)) {
                if let Some(&v) = bus_idx.get(to.as_str()) {
                    feeds_into[u].push(v);
                }
            }
        }
        let closure = |start: usize, forward: bool| {
            let mut seen = vec![false; n];
            let mut stack = vec![start];
            while let Some(x) = stack.pop() {
                if std::mem::replace(&mut seen[x], true) {
                    continue;
                }
                for y in 0..n {
                    let linked = if forward { feeds_into[x].contains(&y) } else { feeds_into[y].contains(&x) };
                    if linked && !seen[y] {
                        stack.push(y);
                    }
                }
            }
            seen
        };
        let mut down = vec![0u64; n * words];
        let mut up = vec![0u64; n * words];
        for b in 0..n {
            for (set, forward) in [(&mut down, true), (&mut up, false)] {
                for (x, reached) in closure(b, forward).into_iter().enumerate() {
                    if reached {
                        set[b * words + x / 64] |= 1 << (x % 64);
                    }
                }
            }
        }
        let mut rack_feeds = vec![0u64; session.racks.len() * words];
        for (r, rack) in session.racks.iter().enumerate() {
            let targets = session.routes.iter().filter(|x| x.from == rack.id).map(|x| &x.to).chain(rack.sends.iter().map(|s| &s.to));
            for &b in targets.filter_map(|t| bus_idx.get(t.as_str())) {
                rack_feeds[r * words + b / 64] |= 1 << (b % 64);
            }
        }
        Self {
            words,
            down,
            up,
            rack_feeds,
            solo_safe: session.buses.iter().map(|b| b.solo_safe).collect(),
            session_solo: session.buses.iter().map(|b| b.solo).collect(),
            host_solo: vec![false; n],
            union_down: vec![0; words],
            union_up: vec![0; words],
        }
    }

    /// Sets the host's solo of bus `b`.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_host_solo(&mut self, b: usize, solo: bool) {
        if let Some(s) = self.host_solo.get_mut(b) {
            *s = solo;
        }
    }

    /// Sets the scene's solo of bus `b` (in place of the session's); it
    /// composes with the host's: either solos.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_session_solo(&mut self, b: usize, solo: bool) {
        if let Some(s) = self.session_solo.get_mut(b) {
            *s = solo;
        }
    }

    pub fn host_solo(&self, b: usize) -> bool {
        self.host_solo.get(b).copied().unwrap_or(false)
    }

    /// Resolves the current solos: `bus_audible(b, audible)` for every bus
    /// and `rack_audible(r, audible)` for every rack.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn resolve(&mut self, bus_audible: &mut dyn FnMut(usize, bool), rack_audible: &mut dyn FnMut(usize, bool)) {
        let n = self.solo_safe.len();
        let w = self.words;
        self.union_down.fill(0);
        self.union_up.fill(0);
        let mut any = false;
        for b in 0..n {
            if self.session_solo[b] || self.host_solo[b] {
                any = true;
                for i in 0..w {
                    self.union_down[i] |= self.down[b * w + i];
                    self.union_up[i] |= self.up[b * w + i];
                }
            }
        }
        let bit = |set: &[u64], x: usize| set[x / 64] & (1 << (x % 64)) != 0;
        for b in 0..n {
            let audible = !any || bit(&self.union_down, b) || bit(&self.union_up, b) || self.solo_safe[b];
            bus_audible(b, audible);
        }
        for r in 0..self.rack_feeds.len() / w {
            let feeds = &self.rack_feeds[r * w..(r + 1) * w];
            let audible = !any || feeds.iter().zip(&self.union_up).any(|(f, u)| f & u != 0);
            rack_audible(r, audible);
        }
    }
}
