//! Host-level tests of the bundled plugin: `tests/clap_host.rs` loads
//! `target/bundled/MAM Session.clap` through clack-host, `tests/vst3_host.rs`
//! loads `MAM Session.vst3` through the vst3 crate's COM bindings, and
//! `tests/ports_clap.rs` / `tests/ports_vst3.rs` prove every port of both
//! (with the host's arrays on guard pages, [`guard`]; signals and sessions
//! in [`ports`]). Other tests' signals and bit-exact comparison are in
//! [`signals`], their WAV files in [`wav`]. Build
//! the bundles first (`cargo xtask bundle mam_session --release`; the
//! README's test command does).

pub mod clap;
pub mod guard;
pub mod ports;
pub mod signals;
pub mod wav;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Held while a test sets an environment variable and creates a plugin
/// instance that reads it (`MAM_SESSION`). The CLAP and VST3 tests each
/// serialise themselves with their own lock and run beside each other in
/// one test binary, so the variable they share needs one lock of its own:
/// a VST3 instance created while a CLAP test removed the variable loaded
/// the default session.
pub static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Locks [`ENV`] (a test that panicked while holding it poisoned nothing
/// that matters).
pub fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    ENV.lock().unwrap_or_else(|e| e.into_inner())
}

/// Path of a built bundle, e.g. `bundle("clap")`.
pub fn bundle(extension: &str) -> PathBuf {
    let dir = std::env::var_os("MAM_BUNDLE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("bundled"));
    dir.join(format!("MAM Session.{extension}"))
}

/// The `mam` binary of this checkout, built (or found up to date) by cargo
/// in the test's own profile. A test cannot name another package's binary
/// with `CARGO_BIN_EXE_*`, and a binary lying in `target/` may be stale.
pub fn mam_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("Cargo.toml");
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--package", "mam_cli", "--bin", "mam", "--message-format", "json", "--manifest-path"]).arg(&manifest);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let built = build.output().expect("cargo runs");
    assert!(built.status.success(), "cargo build -p mam_cli failed:\n{}", String::from_utf8_lossy(&built.stderr));
    String::from_utf8_lossy(&built.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "mam")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the mam executable")
}

pub mod vst3;
