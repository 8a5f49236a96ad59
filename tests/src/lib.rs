//! Host-level tests of the bundled plugin: `tests/clap_host.rs` loads
//! `target/bundled/MAM Session.clap` through clack-host, `tests/vst3_host.rs`
//! loads `MAM Session.vst3` through the vst3 crate's COM bindings, and
//! `tests/ports_clap.rs` / `tests/ports_vst3.rs` prove every port of both
//! (with the host's arrays on guard pages, [`guard`]; signals and sessions
//! in [`ports`]). Build the bundles first (`cargo xtask bundle mam_session
//! --release`; the README's test command does).

pub mod clap;
pub mod guard;
pub mod ports;

use std::path::PathBuf;

/// Path of a built bundle, e.g. `bundle("clap")`.
pub fn bundle(extension: &str) -> PathBuf {
    let dir = std::env::var_os("MAM_BUNDLE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("bundled"));
    dir.join(format!("MAM Session.{extension}"))
}
pub mod vst3;
