//! MAM Session's engine: session model, bus graph compiler, realtime schedule and DSP.
//!
//! The control side loads a [`session::Session`], compiles it
//! ([`graph::compile`]) into a [`graph::schedule::Schedule`], and hands it to
//! the audio side through [`engine::Engine`] / [`engine::AudioProcessor`].
//! [`render`] drives the same processor offline, so the CLI and the plugin
//! produce the same samples.

pub mod analysis;
pub mod audio_buf;
pub mod dsp;
pub mod engine;
pub mod graph;
pub mod insert;
pub mod mapping;
pub mod meters;
pub mod reference;
pub mod render;
pub mod session;
pub mod simd;
pub mod source;
pub mod telemetry;
pub mod timeline;
pub mod transport;
