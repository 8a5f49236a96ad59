//! WAV input and output for the CLI, streamed in chunks: hound parses the
//! header, the samples move in bulk (raw bytes converted in one tight loop).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
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
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot write '{path}': more than 4 GiB of audio, the most a WAV file holds")]
    TooLong { path: PathBuf },
}

/// Sample encodings read in bulk: `(format, bytes per sample, bits)`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoding {
    Float32,
    /// Unsigned 8-bit, offset by 128.
    U8,
    I16,
    /// 24 bits in 3 bytes.
    I24,
    /// 24 bits in the low 3 bytes of 4.
    I24In4,
    I32,
}

impl Encoding {
    fn bytes(self) -> usize {
        match self {
            Encoding::U8 => 1,
            Encoding::I16 => 2,
            Encoding::I24 => 3,
            Encoding::Float32 | Encoding::I24In4 | Encoding::I32 => 4,
        }
    }
}

/// Frames read from disk per refill of [`WavSource`]'s byte buffer.
const READ_FRAMES: usize = 16_384;

/// A mono or stereo WAV (integer or float) read a chunk at a time as f32.
pub struct WavSource {
    reader: BufReader<File>,
    encoding: Encoding,
    /// Integer full scale: samples are divided by 2^(bits - 1).
    scale: f32,
    channels: usize,
    /// Frames in the file.
    frames: usize,
    /// Frames not read yet.
    left: usize,
    /// Raw bytes of one refill, interleaved.
    raw: Vec<u8>,
}

impl WavSource {
    /// Opens `path` for the source `id` and checks its rate and width.
    pub fn open(path: &Path, session_rate: u32, id: &str) -> Result<Self, WavError> {
        let err = |source| WavError::Read { id: id.into(), path: path.into(), source };
        let reader = hound::WavReader::open(path).map_err(err)?;
        let spec = reader.spec();
        if spec.sample_rate != session_rate {
            return Err(WavError::RateMismatch { id: id.into(), path: path.into(), file_rate: spec.sample_rate, session_rate });
        }
        if !(1..=2).contains(&spec.channels) {
            return Err(WavError::Channels { id: id.into(), path: path.into(), channels: spec.channels });
        }
        let samples = reader.len() as usize;
        let frames = reader.duration() as usize;
        // hound leaves the reader at the first sample; the data chunk's size
        // (the 4 bytes before it) over the sample count gives the container
        // width, which hound does not expose.
        let mut reader = reader.into_inner();
        let data_bytes = if samples == 0 {
            0
        } else {
            let data_start = reader.stream_position().map_err(|e| err(e.into()))?;
            reader.seek(SeekFrom::Start(data_start - 4)).map_err(|e| err(e.into()))?;
            let mut len = [0u8; 4];
            reader.read_exact(&mut len).map_err(|e| err(e.into()))?;
            u32::from_le_bytes(len) as usize
        };
        let bytes = data_bytes.checked_div(samples).unwrap_or((spec.bits_per_sample as usize).div_ceil(8));
        let encoding = match (spec.sample_format, bytes, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 4, 32) => Encoding::Float32,
            (hound::SampleFormat::Int, 1, 8) => Encoding::U8,
            (hound::SampleFormat::Int, 2, 16) => Encoding::I16,
            (hound::SampleFormat::Int, 3, 24) => Encoding::I24,
            (hound::SampleFormat::Int, 4, 24) => Encoding::I24In4,
            (hound::SampleFormat::Int, 4, 32) => Encoding::I32,
            _ => return Err(err(hound::Error::Unsupported)),
        };
        let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
        let channels = spec.channels as usize;
        Ok(Self { reader, encoding, scale, channels, frames, left: frames, raw: Vec::new() })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Frames in the file.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Reads the next `out[0].len()` frames (or as many as are left) into
    /// `out[channel][frame]`, one slice per file channel; returns how many.
    pub fn read(&mut self, out: &mut [&mut [f32]]) -> std::io::Result<usize> {
        let wanted = out.first().map_or(0, |c| c.len()).min(self.left);
        let mut done = 0;
        while done < wanted {
            let n = (wanted - done).min(READ_FRAMES);
            let width = self.channels * self.encoding.bytes();
            self.raw.resize(n * width, 0);
            self.reader.read_exact(&mut self.raw)?;
            self.convert(out, done, n);
            done += n;
        }
        self.left -= wanted;
        Ok(wanted)
    }

    /// Deinterleaves and converts `n` frames of `raw` into `out[..][at..at + n]`.
    fn convert(&self, out: &mut [&mut [f32]], at: usize, n: usize) {
        let channels = self.channels;
        let bytes = self.encoding.bytes();
        let scale = self.scale;
        for (ch, dst) in out.iter_mut().enumerate().take(channels) {
            let dst = &mut dst[at..at + n];
            let frames = self.raw.chunks_exact(channels * bytes).map(|frame| &frame[ch * bytes..(ch + 1) * bytes]);
            // One loop per encoding, so each is a straight conversion the
            // compiler can unroll; the same arithmetic as hound's samples.
            match self.encoding {
                Encoding::Float32 => frames.zip(dst).for_each(|(b, d)| *d = f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                Encoding::U8 => frames.zip(dst).for_each(|(b, d)| *d = (b[0] as i32 - 128) as f32 * scale),
                Encoding::I16 => frames.zip(dst).for_each(|(b, d)| *d = i16::from_le_bytes([b[0], b[1]]) as i32 as f32 * scale),
                Encoding::I24 | Encoding::I24In4 => {
                    // Sign-extend the low 24 bits.
                    frames.zip(dst).for_each(|(b, d)| *d = (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 * scale)
                }
                Encoding::I32 => frames.zip(dst).for_each(|(b, d)| *d = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 * scale),
            }
        }
    }
}

/// Size of the header [`WavSink`] writes: RIFF, a WAVE_FORMAT_EXTENSIBLE
/// `fmt ` chunk, and the `data` chunk's header.
const HEADER_BYTES: usize = 68;

/// A 32-bit float WAV written a chunk at a time. The header is the one hound
/// writes for that format (WAVE_FORMAT_EXTENSIBLE, as more than 16 bits
/// requires), so files are byte for byte what `hound::WavWriter` makes.
pub struct WavSink {
    path: PathBuf,
    writer: BufWriter<File>,
    channels: usize,
    data_bytes: u64,
    /// One chunk interleaved as little-endian bytes.
    raw: Vec<u8>,
}

impl WavSink {
    pub fn create(path: &Path, channels: usize, sample_rate: u32) -> Result<Self, WavError> {
        let err = |source| WavError::Write { path: path.into(), source };
        let file = File::create(path).map_err(err)?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        writer.write_all(&header(channels as u16, sample_rate, 0)).map_err(err)?;
        Ok(Self { path: path.into(), writer, channels, data_bytes: 0, raw: Vec::new() })
    }

    /// Appends `audio[channel][frame]` (one slice per channel, equal lengths).
    pub fn write(&mut self, audio: &[Vec<f32>]) -> Result<(), WavError> {
        let frames = audio.first().map_or(0, Vec::len);
        let width = self.channels * 4;
        self.raw.resize(frames * width, 0);
        for (ch, src) in audio.iter().enumerate().take(self.channels) {
            let frames = self.raw.chunks_exact_mut(width).map(|frame| &mut frame[ch * 4..ch * 4 + 4]);
            frames.zip(src).for_each(|(b, s)| b.copy_from_slice(&s.to_le_bytes()));
        }
        self.data_bytes += self.raw.len() as u64;
        if self.data_bytes + HEADER_BYTES as u64 - 8 > u32::MAX as u64 {
            return Err(WavError::TooLong { path: self.path.clone() });
        }
        self.writer.write_all(&self.raw).map_err(|source| WavError::Write { path: self.path.clone(), source })
    }

    /// Writes the final sizes into the header and flushes.
    pub fn finish(mut self) -> Result<(), WavError> {
        let err = |source| WavError::Write { path: self.path.clone(), source };
        let data_bytes = self.data_bytes as u32;
        self.writer.seek(SeekFrom::Start(4)).map_err(err)?;
        self.writer.write_all(&(data_bytes + HEADER_BYTES as u32 - 8).to_le_bytes()).map_err(err)?;
        self.writer.seek(SeekFrom::Start(HEADER_BYTES as u64 - 4)).map_err(err)?;
        self.writer.write_all(&data_bytes.to_le_bytes()).map_err(err)?;
        self.writer.flush().map_err(err)
    }
}

/// The 68-byte header of a 32-bit float WAV holding `data_bytes` of samples.
fn header(channels: u16, sample_rate: u32, data_bytes: u32) -> [u8; HEADER_BYTES] {
    /// KSDATAFORMAT_SUBTYPE_IEEE_FLOAT.
    const IEEE_FLOAT: [u8; 16] = [0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
    let block_align = channels * 4;
    let mut h = Vec::with_capacity(HEADER_BYTES);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(data_bytes + HEADER_BYTES as u32 - 8).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&40u32.to_le_bytes());
    h.extend_from_slice(&0xfffeu16.to_le_bytes()); // WAVE_FORMAT_EXTENSIBLE
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&sample_rate.to_le_bytes());
    h.extend_from_slice(&(sample_rate * block_align as u32).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&32u16.to_le_bytes()); // container bits
    h.extend_from_slice(&22u16.to_le_bytes()); // cbSize
    h.extend_from_slice(&32u16.to_le_bytes()); // valid bits
    h.extend_from_slice(&((1u32 << channels) - 1).to_le_bytes()); // channel mask
    h.extend_from_slice(&IEEE_FLOAT);
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_bytes.to_le_bytes());
    h.try_into().expect("the header is 68 bytes")
}

/// Writes `[channel][frame]` audio as a 32-bit float WAV.
pub fn write_f32(path: &Path, audio: &[Vec<f32>], sample_rate: u32) -> Result<(), WavError> {
    let mut sink = WavSink::create(path, audio.len(), sample_rate)?;
    sink.write(audio)?;
    sink.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mam-wav-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A ramp through the full range with both extremes, per channel.
    fn ramp(frames: usize, channel: usize) -> Vec<f32> {
        (0..frames).map(|i| ((i * 7 + channel * 3) % 201) as f32 / 100.0 - 1.0).collect()
    }

    #[test]
    fn written_files_are_byte_for_byte_what_hound_writes() {
        let dir = scratch("bytes");
        for channels in [1, 2] {
            let audio: Vec<Vec<f32>> = (0..channels).map(|c| ramp(1000, c)).collect();
            let ours = dir.join(format!("ours{channels}.wav"));
            let theirs = dir.join(format!("hound{channels}.wav"));
            write_f32(&ours, &audio, 44_100).unwrap();
            let spec = hound::WavSpec { channels: channels as u16, sample_rate: 44_100, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
            let mut w = hound::WavWriter::create(&theirs, spec).unwrap();
            for i in 0..1000 {
                for ch in &audio {
                    w.write_sample(ch[i]).unwrap();
                }
            }
            w.finalize().unwrap();
            assert_eq!(std::fs::read(&ours).unwrap(), std::fs::read(&theirs).unwrap(), "{channels} channel(s)");
        }
    }

    #[test]
    fn chunked_reads_equal_hound_samples_for_every_encoding() {
        let dir = scratch("read");
        let frames = READ_FRAMES * 2 + 123;
        let cases = [(hound::SampleFormat::Float, 32), (hound::SampleFormat::Int, 8), (hound::SampleFormat::Int, 16), (hound::SampleFormat::Int, 24), (hound::SampleFormat::Int, 32)];
        for (format, bits) in cases {
            for channels in [1u16, 2] {
                let path = dir.join(format!("{bits}-{channels}.wav"));
                let spec = hound::WavSpec { channels, sample_rate: 48_000, bits_per_sample: bits, sample_format: format };
                let mut w = hound::WavWriter::create(&path, spec).unwrap();
                let ramps: Vec<Vec<f32>> = (0..channels as usize).map(|c| ramp(frames, c)).collect();
                for i in 0..frames {
                    for ramp in &ramps {
                        let x = ramp[i];
                        match format {
                            hound::SampleFormat::Float => w.write_sample(x).unwrap(),
                            hound::SampleFormat::Int => w.write_sample((x as f64 * ((1i64 << (bits - 1)) - 1) as f64) as i32).unwrap(),
                        }
                    }
                }
                w.finalize().unwrap();

                let mut r = hound::WavReader::open(&path).unwrap();
                let want: Vec<f32> = match format {
                    hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
                    hound::SampleFormat::Int => {
                        let scale = 1.0 / (1u64 << (bits - 1)) as f32;
                        r.samples::<i32>().map(|s| s.unwrap() as f32 * scale).collect()
                    }
                };
                // Odd chunk sizes, so refills and calls fall mid-buffer.
                let mut source = WavSource::open(&path, 48_000, "x").unwrap();
                assert_eq!((source.frames(), source.channels()), (frames, channels as usize));
                let mut got = vec![Vec::new(); channels as usize];
                loop {
                    let mut chunk = vec![vec![0.0f32; 10_007]; channels as usize];
                    let mut slices: Vec<&mut [f32]> = chunk.iter_mut().map(Vec::as_mut_slice).collect();
                    let n = source.read(&mut slices).unwrap();
                    if n == 0 {
                        break;
                    }
                    for (g, c) in got.iter_mut().zip(&chunk) {
                        g.extend_from_slice(&c[..n]);
                    }
                }
                for (c, got) in got.iter().enumerate() {
                    let want: Vec<f32> = want.iter().skip(c).step_by(channels as usize).copied().collect();
                    assert!(want.len() == got.len() && want.iter().zip(got).all(|(a, b)| a.to_bits() == b.to_bits()), "{bits}-bit {format:?}, channel {c}");
                }
            }
        }
    }
}
