//! Offline rendering through the realtime processor: what `mam render` does, minus file I/O.

use crate::graph::controls::{HostControl, HostControls};
use crate::engine::Engine;
use crate::graph::compile::{CompileError, CompileInfo, CompileOptions, PortBinding};
use crate::meters::LoudnessReading;
use crate::session::Session;

/// Audio for one rack, `[channel][frame]` (1 or 2 channels), starting at the
/// rack's own time 0 (its `startOffsetFrames` is applied by [`render`]).
#[derive(Clone, Debug)]
pub struct RackAudio {
    pub rack_id: String,
    pub channels: Vec<Vec<f32>>,
}

#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Frames per process call (also the schedule's maximum block).
    pub block: usize,
    /// Timeline length in frames, tail included.
    pub frames: usize,
    /// Drop the first `latency` output frames (and run that much longer), so
    /// output frame n lines up with input frame n, like a DAW bounce.
    pub trim_latency: bool,
    /// Also capture each bus's post-fader output.
    pub stems: bool,
    /// Scene, morph and macro positions held for the whole render (what
    /// the plugin's parameters would be set to).
    pub controls: HostControls,
}

/// Rendered audio, `[channel][frame]`.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub master: Vec<Vec<f32>>,
    /// `(bus id, audio)` in processing order, each aligned by its own output
    /// latency when trimming.
    pub stems: Vec<(String, Vec<Vec<f32>>)>,
    pub info: CompileInfo,
    pub loudness: LoudnessReading,
}

/// Renders `session` with `inputs` bound to racks by id: a file rack, or an
/// `input` rack standing in for the host's port. `progress(done, total)` is
/// called after every block.
///
/// Loudness is analysed as the render goes, without dropping a frame, and
/// read once at the end.
///
/// # Errors
/// If the session does not compile, or an input names a generator or an
/// unknown rack.
pub fn render(
    session: &Session,
    inputs: &[RackAudio],
    options: &RenderOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Rendered, CompileError> {
    let block = options.block.max(1);
    let compile_options = CompileOptions {
        sample_rate: session.sample_rate as f32,
        max_block: block,
        ports: inputs.iter().map(|i| PortBinding::source(&i.rack_id)).collect(),
    };
    let (mut engine, mut audio) = Engine::new(session.clone(), compile_options)?;
    // The loudness ring must take a whole process call: a longer one is split.
    let step = block.min(engine.loudness_mut().capacity_frames() / 2).max(1);
    let c = &options.controls;
    let mut controls = vec![HostControl::MorphA(c.morph_a), HostControl::MorphB(c.morph_b), HostControl::Morph(c.morph), HostControl::Scene(c.scene)];
    controls.extend(c.macros.iter().enumerate().map(|(i, &x)| HostControl::Macro(i, x)));
    controls.extend(c.ducker_depth_db.iter().enumerate().map(|(i, &x)| HostControl::DuckerDepthDb(i, x)));
    controls.extend(c.ducker_mix.iter().enumerate().map(|(i, &x)| HostControl::DuckerMix(i, x)));
    for control in controls {
        audio.set_control(control);
    }
    let info = engine.info().clone();
    let latency = if options.trim_latency { info.latency } else { 0 };
    let total = options.frames + latency;

    // Place each input at its source's start offset (file sources only, see
    // `Rack::bound_offset_frames`), padded to the full run.
    let ports: Vec<Vec<Vec<f32>>> = inputs
        .iter()
        .map(|input| {
            let offset = session.rack(&input.rack_id).map_or(0, |r| r.bound_offset_frames() as usize);
            input
                .channels
                .iter()
                .map(|ch| {
                    let mut padded = vec![0.0; total + block];
                    let end = (offset + ch.len()).min(padded.len());
                    if offset < end {
                        padded[offset..end].copy_from_slice(&ch[..end - offset]);
                    }
                    padded
                })
                .collect()
        })
        .collect();

    let channels = session.channels;
    let mut master = vec![Vec::with_capacity(total); channels];
    let bus_latency: Vec<(String, usize)> = info.buses.iter().map(|b| (b.id.clone(), b.output_latency)).collect();
    let mut stems: Vec<(String, Vec<Vec<f32>>)> = if options.stems {
        bus_latency.iter().map(|(id, _)| (id.clone(), vec![Vec::with_capacity(total); channels])).collect()
    } else {
        Vec::new()
    };
    let mut out = vec![vec![0.0f32; block]; channels];
    let mut start = 0;
    while start < total {
        let len = step.min(total - start);
        let port_slices: Vec<Vec<&[f32]>> = ports.iter().map(|p| p.iter().map(|c| &c[start..start + len]).collect()).collect();
        let inputs: Vec<&[&[f32]]> = port_slices.iter().map(|p| p.as_slice()).collect();
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[..len]).collect();
        audio.process(&inputs, &mut outs, len);
        for (ch, data) in out.iter().enumerate() {
            master[ch].extend_from_slice(&data[..len]);
        }
        if options.stems {
            for ((_, stem), (_, buf, _)) in stems.iter_mut().zip(audio.schedule().bus_outputs()) {
                for (ch, data) in stem.iter_mut().enumerate() {
                    data.extend_from_slice(&buf.channel(ch)[..len]);
                }
            }
        }
        // Drain only when the ring is half full: analysis costs per frame
        // either way, but fewer, larger drains cost less overhead, and no
        // short-term reading is computed until the end.
        let loudness = engine.loudness_mut();
        if loudness.queued_frames() + step > loudness.capacity_frames() / 2 {
            loudness.drain();
        }
        start += len;
        progress(start.min(total), total);
    }
    for ch in &mut master {
        ch.drain(..latency);
        ch.truncate(options.frames);
    }
    for ((_, stem), (_, bus_lat)) in stems.iter_mut().zip(&bus_latency) {
        let skip = if options.trim_latency { *bus_lat } else { 0 };
        for ch in stem.iter_mut() {
            ch.drain(..skip.min(ch.len()));
            ch.resize(options.frames, 0.0);
        }
    }
    let loudness = engine.update_loudness();
    debug_assert_eq!(loudness.dropped_frames, 0, "the render drains before the ring fills");
    Ok(Rendered { master, stems, info, loudness })
}
