//! WAV input and output for the CLI (hound).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("cannot read input '{id}' from '{path}': {source}")]
    Read { id: String, path: PathBuf, source: hound::Error },
    #[error("input '{id}' ('{path}') is {file_rate} Hz but the session renders at {session_rate} Hz; resample it or pass --sample-rate {file_rate}")]
    RateMismatch { id: String, path: PathBuf, file_rate: u32, session_rate: u32 },
    #[error("input '{id}' ('{path}') has {channels} channels; only mono and stereo files are supported")]
    Channels { id: String, path: PathBuf, channels: u16 },
    #[error("cannot write '{path}': {source}")]
    Write { path: PathBuf, source: hound::Error },
}

/// Reads a mono or stereo WAV (integer or float) as `[channel][frame]` f32.
pub fn read(path: &Path, session_rate: u32, id: &str) -> Result<Vec<Vec<f32>>, WavError> {
    let err = |source| WavError::Read { id: id.into(), path: path.into(), source };
    let mut reader = hound::WavReader::open(path).map_err(err)?;
    let spec = reader.spec();
    if spec.sample_rate != session_rate {
        return Err(WavError::RateMismatch { id: id.into(), path: path.into(), file_rate: spec.sample_rate, session_rate });
    }
    if !(1..=2).contains(&spec.channels) {
        return Err(WavError::Channels { id: id.into(), path: path.into(), channels: spec.channels });
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>().map_err(err)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|s| s as f32 * scale)).collect::<Result<_, _>>().map_err(err)?
        }
    };
    let channels = spec.channels as usize;
    Ok((0..channels).map(|c| interleaved.iter().skip(c).step_by(channels).copied().collect()).collect())
}

/// Writes `[channel][frame]` audio as a 32-bit float WAV.
pub fn write_f32(path: &Path, audio: &[Vec<f32>], sample_rate: u32) -> Result<(), WavError> {
    let err = |source| WavError::Write { path: path.into(), source };
    let spec = hound::WavSpec { channels: audio.len() as u16, sample_rate, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut writer = hound::WavWriter::create(path, spec).map_err(err)?;
    let frames = audio.first().map_or(0, Vec::len);
    for i in 0..frames {
        for ch in audio {
            writer.write_sample(ch[i]).map_err(err)?;
        }
    }
    writer.finalize().map_err(err)
}
