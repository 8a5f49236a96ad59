//! States saved by the plugin before it had its own format layer (nice-plug
//! 0.4.2's wrappers) load into today's plugin, in both formats.
//!
//! The fixtures in `tests/fixtures/` were saved by the nice-plug 0.4.2
//! bundles (built from commit f227a42) running `tests/sessions/
//! three_ports_to_stems.json` with the host having moved "Bus 1 Gain" to
//! −6 dB: the CLAP state is nice-plug's length-prefixed JSON, the VST3 state
//! the bare JSON. A fresh instance (default session) that loads one must
//! play that session: main input × 0.5 (bus gain) × 10^(−6/20) (the host's
//! fader), Sidechain 1 × 0.25, Sidechain 2 × 0.125, no latency.

use clack_extensions::state::PluginState;
use mam_tests::ports::{assert_close, scaled, signal, sum};
use mam_tests::{clap, vst3};
use ::vst3::Steinberg::Vst::IEditControllerTrait;

const CLAP_STATE: &[u8] = include_bytes!("../fixtures/nice_plug_0.4.2_clap.state");
const VST3_STATE: &[u8] = include_bytes!("../fixtures/nice_plug_0.4.2_vst3.state");
const FRAMES: usize = 4096;

/// The old session's mix of main and Sidechain 1 with bus 1 at −6 dB.
fn expected(frames: usize) -> [Vec<f32>; 2] {
    let fader = 10f32.powf(-6.0 / 20.0);
    sum(&[scaled(&signal(0, frames), 0.5 * fader), scaled(&signal(1, frames), 0.25)], frames)
}

/// The last half of a run: the session swap and the fader's declick ramp
/// (10 ms) are over well before it.
fn settled(out: &[Vec<f32>; 2]) -> [Vec<f32>; 2] {
    [0, 1].map(|c| out[c][FRAMES / 2..].to_vec())
}

#[test]
fn a_clap_state_saved_by_nice_plug_loads() {
    let mut loaded = clap::load();
    {
        let mut handle = loaded.instance.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        state.load(&mut handle, &mut std::io::Cursor::new(CLAP_STATE)).expect("the old state loads");
    }
    let mut keys = clap::no_keys(FRAMES);
    let key1 = signal(1, FRAMES);
    keys[0] = key1[0].clone();
    keys[1] = key1[1].clone();
    let mut out = clap::run(&mut loaded, &signal(0, FRAMES), &keys, &[]);
    // The session compiles on the control thread: give it a few runs.
    for _ in 0..50 {
        let want = settled(&expected(FRAMES));
        if settled(&out).iter().zip(&want).all(|(a, e)| a.iter().zip(e).all(|(a, e)| (a - e).abs() < 1e-5)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        clap::pump_main_thread(&mut loaded);
        out = clap::run(&mut loaded, &signal(0, FRAMES), &keys, &[]);
    }
    assert_close(&settled(&out), &settled(&expected(FRAMES)), 1e-5, "old CLAP state");
}

#[test]
fn a_vst3_state_saved_by_nice_plug_loads() {
    let plugin = vst3::load();
    vst3::load_state(&plugin, VST3_STATE);
    let fader = vst3::param_id(&plugin, "Bus 1 Gain");
    // SAFETY: valid controller.
    let normalized = unsafe { plugin.controller.getParamNormalized(fader) };
    assert!(vst3::value_to_text(&plugin, fader, normalized).starts_with("-6.00"), "the fader comes back at −6 dB");
    let main = signal(0, FRAMES);
    let key1 = signal(1, FRAMES);
    let mut out = vst3::run(&plugin, &main, &key1, &[]);
    for _ in 0..50 {
        let want = settled(&expected(FRAMES));
        if settled(&out).iter().zip(&want).all(|(a, e)| a.iter().zip(e).all(|(a, e)| (a - e).abs() < 1e-5)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        out = vst3::run(&plugin, &main, &key1, &[]);
    }
    assert_close(&settled(&out), &settled(&expected(FRAMES)), 1e-5, "old VST3 state");
}
