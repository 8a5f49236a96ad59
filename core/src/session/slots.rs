//! Which host-parameter slot each bus takes (docs/ARCHITECTURE.md §7): explicit `slot`s first, then file order.

use super::Session;

/// Number of bus slots in the plugin's fixed parameter pool.
pub const MAX_BUS_SLOTS: usize = 16;

/// Number of spectral-ducker slots (host depth and mix parameters).
pub const MAX_DUCKER_SLOTS: usize = 4;

/// The spectral duckers that get host parameters, as (bus index, insert
/// index): the first [`MAX_DUCKER_SLOTS`] in file order (buses in file
/// order, inserts in chain order).
pub fn ducker_slots(session: &Session) -> Vec<(usize, usize)> {
    let mut slots = Vec::new();
    for (b, bus) in session.buses.iter().enumerate() {
        for (i, insert) in bus.inserts.iter().enumerate() {
            if insert.kind == "spectral_ducker" && slots.len() < MAX_DUCKER_SLOTS {
                slots.push((b, i));
            }
        }
    }
    slots
}

/// The slot (1-based) of every bus, by index into `session.buses`; the
/// master never has one (it has its own `master_gain`). Buses with an
/// explicit `slot` keep it; the others take the lowest free slots in file
/// order; buses beyond [`MAX_BUS_SLOTS`] get none. Duplicate explicit slots
/// are rejected by the loader; here the first claimant wins.
pub fn assign(session: &Session) -> Vec<Option<usize>> {
    let mut taken = [false; MAX_BUS_SLOTS + 1];
    let mut slots: Vec<Option<usize>> = vec![None; session.buses.len()];
    for (i, bus) in session.buses.iter().enumerate() {
        if let Some(slot) = bus.slot.map(|s| s as usize) {
            if !bus.is_master() && (1..=MAX_BUS_SLOTS).contains(&slot) && !taken[slot] {
                taken[slot] = true;
                slots[i] = Some(slot);
            }
        }
    }
    let mut next = 1;
    for (i, bus) in session.buses.iter().enumerate() {
        if bus.is_master() || slots[i].is_some() || bus.slot.is_some() {
            continue;
        }
        while next <= MAX_BUS_SLOTS && taken[next] {
            next += 1;
        }
        if next <= MAX_BUS_SLOTS {
            taken[next] = true;
            slots[i] = Some(next);
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Bus;

    #[test]
    fn explicit_slots_stay_and_the_rest_fill_in_order() {
        let mut s = Session::empty();
        s.buses.clear();
        for id in ["a", "b", "c", "master", "d"] {
            s.buses.push(Bus::new(id));
        }
        s.buses[1].slot = Some(1);
        s.buses[2].slot = Some(5);
        assert_eq!(assign(&s), vec![Some(2), Some(1), Some(5), None, Some(3)]);
    }

    #[test]
    fn buses_beyond_the_pool_get_no_slot() {
        let mut s = Session::empty();
        for i in 0..MAX_BUS_SLOTS + 2 {
            s.buses.push(Bus::new(&format!("b{i}")));
        }
        let slots = assign(&s);
        assert_eq!(slots.iter().filter(|s| s.is_some()).count(), MAX_BUS_SLOTS);
        assert_eq!(slots.last(), Some(&None));
    }
}
