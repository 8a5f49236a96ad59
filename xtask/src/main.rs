//! `cargo xtask bundle <package> [--release]`: builds CLAP/VST3 bundles with nice-plug-xtask.

fn main() -> nice_plug_xtask::Result<()> {
    nice_plug_xtask::main()
}
