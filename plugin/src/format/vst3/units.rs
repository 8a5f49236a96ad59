//! IUnitInfo's units: how hosts group the parameter list. One unit per
//! parameter group ("Bus 1"…"Bus 16", "Ducker 1"…"Ducker 4"), the root for
//! the parameters outside any group (master, scenes, macros), and "MIDI CC"
//! for the hidden MIDI controller parameters (midi.rs), so a host that
//! lists units does not show two thousand of them at the top level.
//!
//! As in the SDK's own edit controllers, the root unit is listed too (index
//! 0, id `kRootUnitId`, no parent); every other unit hangs off it.

use vst3::Steinberg::Vst::{kNoParentUnitId, kNoProgramListId, kRootUnitId, UnitID, UnitInfo};

use super::strings::copy_utf16;
use crate::format::ParamTable;

const ROOT_NAME: &str = "Root";
const MIDI_UNIT_NAME: &str = "MIDI CC";

pub(super) struct Units {
    /// Group names of units 1, 2, …: `names[id - 1]`.
    names: Vec<String>,
    /// The unit of each parameter, in table order.
    of_entry: Box<[UnitID]>,
}

/// Orders "Bus 2" before "Bus 10": the text before a trailing number, then
/// the number.
fn natural_key(name: &str) -> (&str, u64) {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    (stem, name[stem.len()..].parse().unwrap_or(0))
}

impl Units {
    pub fn new(table: &ParamTable) -> Self {
        let mut names: Vec<String> = Vec::new();
        for entry in table.entries() {
            if !entry.group.is_empty() && !names.contains(&entry.group) {
                names.push(entry.group.clone());
            }
        }
        names.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
        let of_entry = table
            .entries()
            .iter()
            .map(|e| names.iter().position(|n| *n == e.group).map_or(kRootUnitId, |i| i as UnitID + 1))
            .collect();
        Self { names, of_entry }
    }

    /// The root, one unit per group, and the MIDI controllers' unit.
    pub fn count(&self) -> usize {
        self.names.len() + 2
    }

    /// The unit of the parameter at `index` in the table.
    pub fn of_entry(&self, index: usize) -> UnitID {
        self.of_entry[index]
    }

    /// The unit of every MIDI controller parameter.
    pub fn midi(&self) -> UnitID {
        self.names.len() as UnitID + 1
    }

    /// Unit ids run 0 (the root) to `count() - 1`, in the order listed.
    pub fn exists(&self, id: UnitID) -> bool {
        usize::try_from(id).is_ok_and(|id| id < self.count())
    }

    /// The unit at `index` (0: the root), or `None` past the last.
    pub fn info(&self, index: usize) -> Option<UnitInfo> {
        let id = index as UnitID;
        let (name, parent) = match index {
            0 => (ROOT_NAME, kNoParentUnitId),
            i if i <= self.names.len() => (self.names[i - 1].as_str(), kRootUnitId),
            i if i == self.names.len() + 1 => (MIDI_UNIT_NAME, kRootUnitId),
            _ => return None,
        };
        // SAFETY: UnitInfo is plain data; all-zero is a valid value of it.
        let mut info: UnitInfo = unsafe { std::mem::zeroed() };
        info.id = id;
        info.parentUnitId = parent;
        copy_utf16(&mut info.name, name);
        info.programListId = kNoProgramListId;
        Some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_become_units_in_natural_order_under_the_root() {
        let params = std::sync::Arc::new(crate::MamParams::new(crate::DEFAULT_SESSION_JSON.to_string()));
        let table = ParamTable::new(params);
        let units = Units::new(&table);
        let names: Vec<String> = (0..units.count())
            .map(|i| {
                let info = units.info(i).expect("listed");
                assert_eq!(info.id, i as UnitID);
                assert_eq!(info.parentUnitId, if i == 0 { kNoParentUnitId } else { kRootUnitId });
                let len = info.name.iter().position(|&c| c == 0).unwrap();
                String::from_utf16(&info.name[..len]).unwrap()
            })
            .collect();
        let mut expected = vec![ROOT_NAME.to_string()];
        expected.extend((1..=16).map(|n| format!("Bus {n}")));
        expected.extend((1..=4).map(|n| format!("Ducker {n}")));
        expected.push(MIDI_UNIT_NAME.to_string());
        assert_eq!(names, expected);
        assert!(units.info(units.count()).is_none());
        let unit_of = |id: &str| units.of_entry(table.entries().iter().position(|e| e.id == id).unwrap());
        assert_eq!(unit_of("bus3_gain"), 3);
        assert_eq!(unit_of("bus16_solo"), 16);
        assert_eq!(unit_of("duck2_mix"), 18);
        assert_eq!(unit_of("master_gain"), kRootUnitId);
        assert_eq!(units.midi(), 21);
    }
}
