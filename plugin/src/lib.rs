//! MAM Session plugin glue. The CLAP/VST3 wrapper (nice-plug) is not built
//! yet; until then this crate only re-exports the engine it will wrap.

pub use mam_core;
