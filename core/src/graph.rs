//! The bus graph: ordering, compilation into a realtime schedule, and the schedule itself.

pub mod adopt;
pub mod compile;
pub mod controls;
pub mod schedule;
pub mod solo;
pub mod sort;
