//! Engine tests through the public API: channel strip, latency compensation,
//! block-size invariance, session files, realtime safety and robustness.

mod engine {
    pub mod alloc_guard;
    pub mod block_size;
    pub mod ducker;
    pub mod filterbank;
    pub mod host_controls;
    pub mod inserts;
    pub mod inserts_cost;
    pub mod latency;
    pub mod live_swap;
    pub mod mappings;
    pub mod nan;
    pub mod parallel;
    pub mod properties;
    pub mod quantize;
    pub mod rfc;
    pub mod scene_capture;
    pub mod scenes;
    pub mod session_files;
    pub mod stems;
    pub mod strip;
    pub mod support;
    pub mod telemetry;
    pub mod timeline;
}
