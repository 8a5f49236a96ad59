//! `cargo xtask bundle <package> [--release]`: builds CLAP/VST3 bundles with nice-plug-xtask
//! (which only packages the library: the format layer is the plugin's own).
//! `cargo xtask test`: the whole test suite, bundles included (the README's test command).

use std::path::Path;
use std::process::Command;

fn main() -> nice_plug_xtask::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("test") {
        return test(&args[1..]);
    }
    nice_plug_xtask::main()
}

/// Where the allocation-checking debug bundles go, so the release bundles in
/// `target/bundled` stay what users get.
const ALLOC_CHECK_DIR: &str = "target/alloc-check";

/// 0. `Xvfb` for the editor's real-window test, installed with apt-get
///    when missing (Debian/Ubuntu, as root);
/// 1. a debug bundle with the plugin's `assert_process_allocs` feature (any
///    allocation inside `process` aborts), kept in `target/alloc-check`;
/// 2. the release bundles in `target/bundled`;
/// 3. `cargo test --workspace` (engine, CLI, and both formats through real
///    host APIs against the release bundles);
/// 4. the host-level tests again against the allocation-checking bundles.
///
/// Extra arguments go to both `cargo test` runs.
fn test(extra: &[String]) -> nice_plug_xtask::Result<()> {
    nice_plug_xtask::chdir_workspace_root()?;
    ensure_xvfb()?;
    nice_plug_xtask::main_with_args("xtask", ["bundle", "mam_session", "--features", "assert_process_allocs"].map(String::from))?;
    let check = Path::new(ALLOC_CHECK_DIR);
    if check.exists() {
        std::fs::remove_dir_all(check)?;
    }
    std::fs::create_dir_all(check)?;
    for ext in ["clap", "vst3"] {
        let name = format!("MAM Session.{ext}");
        copy_tree(&Path::new("target/bundled").join(&name), &check.join(&name))?;
    }
    nice_plug_xtask::main_with_args("xtask", ["bundle", "mam_session", "--release"].map(String::from))?;
    cargo(&[&["test", "--workspace"][..], &extra.iter().map(String::as_str).collect::<Vec<_>>()].concat(), None)?;
    let abs = std::env::current_dir()?.join(check);
    cargo(&[&["test", "-p", "mam_tests"][..], &extra.iter().map(String::as_str).collect::<Vec<_>>()].concat(), Some(&abs))
}

/// Installs Xvfb (a virtual X server) if it is not on the PATH.
fn ensure_xvfb() -> nice_plug_xtask::Result<()> {
    let found = Command::new("sh").args(["-c", "command -v Xvfb"]).output().map(|o| o.status.success()).unwrap_or(false);
    if found {
        return Ok(());
    }
    println!("== Xvfb is missing (the editor window test needs it): apt-get install xvfb");
    let installed = Command::new("sh")
        .args(["-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends xvfb xauth"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if installed {
        Ok(())
    } else {
        Err(std::io::Error::other("could not install Xvfb; install it (Debian/Ubuntu: `sudo apt-get install xvfb`) and run again").into())
    }
}

fn cargo(args: &[&str], bundle_dir: Option<&Path>) -> nice_plug_xtask::Result<()> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args);
    if let Some(dir) = bundle_dir {
        println!("== host tests against the allocation-checking bundles in {}", dir.display());
        command.env("MAM_BUNDLE_DIR", dir);
    }
    let status = command.status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!("cargo {} failed ({status})", args.join(" "))).into());
    }
    Ok(())
}

/// Copies a file or directory tree (bundles are directories).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}
