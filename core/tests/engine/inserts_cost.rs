//! Parameters cost what they change: each insert's per-parameter shortcut ends where a fresh instance given the final values starts, bit for bit.
//!
//! Every insert recomputes on `set_param` only what that parameter feeds
//! (one coefficient, one band, one table at the next hop). Missing a
//! dependency there would leave something stale, which shows up here as a
//! difference from an instance that computed everything from the final
//! values in `prepare`.

use super::support::*;
use mam_core::audio_buf::AudioBuf;
use mam_core::dsp::delay::MAX_DELAY_MS;
use mam_core::insert::registry::{self, InsertType};
use mam_core::insert::{Insert, ParamKind, ParamSpec};

const SR: f32 = 48_000.0;
const MAX_BLOCK: usize = 512;
/// Uneven block sizes, so changes land at every phase of a hop or ramp.
const BLOCKS: [usize; 6] = [37, 64, 256, 1, 211, 512];

/// Small xorshift, so the change script is the same on every run.
struct Rng(u32);

impl Rng {
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0 as f32 / u32::MAX as f32
    }
}

/// A value anywhere in the parameter's range.
fn random_value(spec: &ParamSpec, u: f32) -> f32 {
    let pick = |n: usize| ((u * n as f32) as usize).min(n - 1);
    match spec.kind {
        ParamKind::Float { min, max, .. } => (min + (max - min) * u as f64) as f32,
        ParamKind::Bool { .. } => (u >= 0.5) as u8 as f32,
        ParamKind::Choice { options, .. } => pick(options.len()) as f32,
        ParamKind::Discrete { values, .. } => values[pick(values.len())] as f32,
        ParamKind::Time { min_ms, max_ms, .. } => (min_ms + (max_ms - min_ms) * u as f64) as f32,
    }
}

fn prepared(ty: &InsertType, values: &[f32], channels: usize) -> Box<dyn Insert> {
    let mut insert = (ty.create)();
    for (i, &v) in values.iter().enumerate() {
        insert.set_param(i, v);
    }
    insert.prepare(SR, MAX_BLOCK, channels);
    insert
}

/// Program and key for `frames` frames from `start`: noise over a sine with
/// a burst every 9000 frames (so dynamics inserts work), and a key gated on
/// and off (so the ducker attacks and releases).
fn signals(channels: usize, start: usize, frames: usize) -> (AudioBuf, AudioBuf) {
    let (mut program, mut key) = (AudioBuf::new(channels, frames), AudioBuf::new(channels, frames));
    for ch in 0..channels {
        let noise = white(start + frames, 11 + ch as u32, 0.3);
        let tone = sine(start + frames, 331.0, 0.6, SR);
        let k1 = sine(start + frames, 1000.0, 0.5, SR);
        let k2 = sine(start + frames, 3500.0, 0.2, SR);
        for i in 0..frames {
            let n = start + i;
            let burst = if n % 9000 < 40 { 2.5 } else { 0.0 };
            program.channel_mut(ch)[i] = noise[n] + tone[n] + burst;
            let gate = ((n / 20_000) % 2) as f32;
            key.channel_mut(ch)[i] = gate * (k1[n] + k2[n]);
        }
    }
    (program, key)
}

/// Runs `insert` over `frames` frames from `start` in uneven blocks, calling
/// `between` before each block; returns the output `[channel][frame]`.
fn run(insert: &mut dyn Insert, ty: &InsertType, channels: usize, start: usize, frames: usize, mut between: impl FnMut(&mut dyn Insert, usize)) -> Vec<Vec<f32>> {
    let (mut program, key) = signals(channels, start, frames);
    let mut done = 0;
    for &block in BLOCKS.iter().cycle() {
        if done == frames {
            break;
        }
        let n = block.min(frames - done);
        between(insert, start + done);
        let mut audio = AudioBuf::new(channels, n);
        let mut key_part = AudioBuf::new(channels, n);
        for ch in 0..channels {
            audio.channel_mut(ch).copy_from_slice(&program.channel(ch)[done..done + n]);
            key_part.channel_mut(ch).copy_from_slice(&key.channel(ch)[done..done + n]);
        }
        insert.process(&mut audio, ty.takes_key.then_some(&key_part), n);
        for ch in 0..channels {
            program.channel_mut(ch)[done..done + n].copy_from_slice(audio.channel(ch));
        }
        done += n;
    }
    (0..channels).map(|ch| program.channel(ch).to_vec()).collect()
}

/// Changes random parameters (latency ones included, rarely) at random
/// moments, 1 to 2000 frames apart, while `name` runs for two seconds, and
/// ends with two bursts that set every parameter but the latency ones, one
/// block apart, so each final value lands while the previous change still
/// ramps, glides or crossfades (a change that a busy smoother or tap drops
/// or defers shows up only when it is the last one). Then lets any
/// smoothing ramp finish and clears the running state with `reset`, which
/// leaves only the parameters and what derives from them, and processes one
/// more second. A fresh instance given the final values and run over that
/// second must give exactly the same samples.
fn changes_while_running_end_like_a_fresh_instance(name: &str, channels: usize) {
    changes_while_running_end_like_a_fresh_instance_over(name, channels, SR as usize);
}

/// As [`changes_while_running_end_like_a_fresh_instance`], with the
/// parameters `fixed` set from the start and never changed (to hold an
/// insert in one mode).
fn changes_in_a_mode_end_like_a_fresh_instance(name: &str, channels: usize, fixed: &[(&str, f32)]) {
    changes_while_running_end_like_a_fresh_instance_from(name, channels, SR as usize, fixed);
}

/// As [`changes_while_running_end_like_a_fresh_instance`], comparing `after`
/// frames: an insert whose state takes longer than a second to reach its
/// output (a long echo) needs a longer look.
fn changes_while_running_end_like_a_fresh_instance_over(name: &str, channels: usize, after: usize) {
    changes_while_running_end_like_a_fresh_instance_from(name, channels, after, &[]);
}

fn changes_while_running_end_like_a_fresh_instance_from(name: &str, channels: usize, after: usize, fixed: &[(&str, f32)]) {
    let ty = registry::lookup(name).unwrap();
    let mut values: Vec<f32> = ty.params.iter().map(|p| p.default_value()).collect();
    let fixed_index: Vec<usize> = fixed.iter().map(|(id, _)| ty.param_index(id).unwrap()).collect();
    for (&i, &(_, v)) in fixed_index.iter().zip(fixed) {
        values[i] = v;
    }
    let mut running = prepared(ty, &values, channels);
    // Mono and stereo follow different scripts: two draws, not one twice.
    let mut rng = Rng(0x2545_f491 ^ name.len() as u32 ^ ((channels as u32) << 8));
    let mut next_change = 100;
    let mut changes = 0;
    let frames = 2 * SR as usize;
    // The bursts start at the first block at least this far from the end;
    // the second comes a block (1 to 512 frames) later, inside the first's
    // 20 ms ramps.
    let bursts_from = frames - 3000;
    let mut bursts = 0;
    run(running.as_mut(), ty, channels, 0, frames, |insert, at| {
        if at >= bursts_from {
            if bursts < 2 {
                for i in (0..ty.params.len()).filter(|&i| !ty.latency_params.contains(&ty.params[i].id) && !fixed_index.contains(&i)) {
                    values[i] = random_value(&ty.params[i], rng.unit());
                    insert.set_param(i, values[i]);
                    changes += 1;
                }
                bursts += 1;
            }
            return;
        }
        while at >= next_change {
            let i = (rng.unit() * ty.params.len() as f32) as usize % ty.params.len();
            let latency_param = ty.latency_params.contains(&ty.params[i].id);
            if fixed_index.contains(&i) {
                // Held: draw as if it were changed, so the script keeps its shape.
                rng.unit();
            } else if !latency_param || rng.unit() < 0.1 {
                values[i] = random_value(&ty.params[i], rng.unit());
                insert.set_param(i, values[i]);
                changes += 1;
            }
            next_change += [1, 3, 40, 500, 2000][(rng.unit() * 5.0) as usize % 5];
        }
    });
    // 100 ms of silence lets every 20 ms ramp land on its target first
    // (`reset` leaves smoothers alone in some inserts).
    let silent_key = AudioBuf::new(channels, MAX_BLOCK);
    for _ in 0..SR as usize / 10 / MAX_BLOCK + 1 {
        let mut silence = AudioBuf::new(channels, MAX_BLOCK);
        running.process(&mut silence, ty.takes_key.then_some(&silent_key), MAX_BLOCK);
    }
    running.reset();
    let mut fresh = prepared(ty, &values, channels);
    let got = run(running.as_mut(), ty, channels, frames, after, |_, _| {});
    let want = run(fresh.as_mut(), ty, channels, frames, after, |_, _| {});
    assert!(changes > 100, "{name}: only {changes} changes");
    assert_eq!(bursts, 2, "{name}: the bursts did not both run");
    for ch in 0..channels {
        if let Some(i) = (0..after).find(|&i| got[ch][i].to_bits() != want[ch][i].to_bits()) {
            panic!("{name}, {channels} channels, channel {ch}, frame {i}: {} after changes vs {} fresh", got[ch][i], want[ch][i]);
        }
    }
}

#[test]
fn spectral_ducker_changes_end_like_a_fresh_instance() {
    changes_while_running_end_like_a_fresh_instance("spectral_ducker", 2);
    changes_while_running_end_like_a_fresh_instance("spectral_ducker", 1);
}

/// The filter-bank algorithm held throughout. A change of layout (`bands`,
/// `lowHz`, `highHz`) rebuilds every table, which would hide a missing
/// rebuild of one, so one script holds the layout too and one moves it.
#[test]
fn spectral_ducker_filterbank_changes_end_like_a_fresh_instance() {
    // 61 bands over 200 Hz–5 kHz are 0.37 ERB apart, so `smoothing` reaches
    // up to two neighbours.
    let layout_held = [("algorithm", 1.0), ("bands", 61.0), ("lowHz", 200.0), ("highHz", 5000.0)];
    for channels in [2, 1] {
        changes_in_a_mode_end_like_a_fresh_instance("spectral_ducker", channels, &layout_held);
        changes_in_a_mode_end_like_a_fresh_instance("spectral_ducker", channels, &[("algorithm", 1.0)]);
    }
}

#[test]
fn compressor_changes_end_like_a_fresh_instance() {
    changes_while_running_end_like_a_fresh_instance("compressor", 2);
    changes_while_running_end_like_a_fresh_instance("compressor", 1);
}

#[test]
fn limiter_changes_end_like_a_fresh_instance() {
    changes_while_running_end_like_a_fresh_instance("limiter", 2);
    changes_while_running_end_like_a_fresh_instance("limiter", 1);
}

#[test]
fn eq_changes_end_like_a_fresh_instance() {
    changes_while_running_end_like_a_fresh_instance("eq", 2);
    changes_while_running_end_like_a_fresh_instance("eq", 1);
}

#[test]
fn chorus_changes_end_like_a_fresh_instance() {
    changes_while_running_end_like_a_fresh_instance("chorus", 2);
    changes_while_running_end_like_a_fresh_instance("chorus", 1);
}

#[test]
fn utility_changes_end_like_a_fresh_instance() {
    changes_while_running_end_like_a_fresh_instance("utility", 2);
    changes_while_running_end_like_a_fresh_instance("utility", 1);
}

/// The final time can be up to 4 s, and the feedback path (its high cut,
/// its level) first shows in the second echo: look for two echoes of the
/// longest time and a second more.
#[test]
fn delay_changes_end_like_a_fresh_instance() {
    let after = (2.0 * MAX_DELAY_MS * 0.001 * SR as f64) as usize + SR as usize;
    changes_while_running_end_like_a_fresh_instance_over("delay", 2, after);
    changes_while_running_end_like_a_fresh_instance_over("delay", 1, after);
}

#[test]
fn reverb_changes_end_like_a_fresh_instance() {
    changes_while_running_end_like_a_fresh_instance("reverb", 2);
    changes_while_running_end_like_a_fresh_instance("reverb", 1);
}

#[test]
fn filter_changes_end_like_a_fresh_instance() {
    changes_while_running_end_like_a_fresh_instance("filter", 2);
    changes_while_running_end_like_a_fresh_instance("filter", 1);
}

#[test]
fn distortion_changes_end_like_a_fresh_instance() {
    changes_while_running_end_like_a_fresh_instance("distortion", 2);
    changes_while_running_end_like_a_fresh_instance("distortion", 1);
}
