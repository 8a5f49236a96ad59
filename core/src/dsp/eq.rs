//! `eq`: up to eight cookbook biquad bands (bell, shelves, passes, notch), smoothed when they move.

use crate::audio_buf::AudioBuf;
use crate::dsp::biquad::{BiquadState, Coeffs, Shape};
use crate::dsp::smoother::Smoother;
use crate::insert::{Insert, ParamKind, ParamSpec};

pub const BANDS: usize = 8;
const PARAMS_PER_BAND: usize = 5;
const SMOOTHING_MS: f32 = 20.0;
/// While a band moves, its coefficients are recomputed every this many
/// samples (counted per sample, so block size never matters).
const RECOMPUTE_EVERY: u32 = 16;
const TYPES: &[&str] = &["bell", "low_shelf", "high_shelf", "high_pass", "low_pass", "notch"];
const SHAPES: [Shape; 6] = [Shape::Bell, Shape::LowShelf, Shape::HighShelf, Shape::HighPass, Shape::LowPass, Shape::Notch];
const DEFAULT_FREQS: [f64; BANDS] = [80.0, 200.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 12_000.0];

macro_rules! band_params {
    ($n:literal, $freq:expr) => {
        [
            ParamSpec { id: concat!("b", $n, "Type"), unit: "", kind: ParamKind::Choice { options: TYPES, default: 0 }, smoothing_ms: 0.0, doc: "band shape" },
            ParamSpec { id: concat!("b", $n, "FreqHz"), unit: "Hz", kind: ParamKind::Float { min: 20.0, max: 20_000.0, default: $freq }, smoothing_ms: SMOOTHING_MS, doc: "centre / corner frequency" },
            ParamSpec { id: concat!("b", $n, "GainDb"), unit: "dB", kind: ParamKind::Float { min: -24.0, max: 24.0, default: 0.0 }, smoothing_ms: SMOOTHING_MS, doc: "gain (bell and shelves)" },
            ParamSpec { id: concat!("b", $n, "Q"), unit: "", kind: ParamKind::Float { min: 0.1, max: 18.0, default: 0.707 }, smoothing_ms: SMOOTHING_MS, doc: "bandwidth; 0.707 is Butterworth for passes" },
            ParamSpec { id: concat!("b", $n, "On"), unit: "", kind: ParamKind::Bool { default: true }, smoothing_ms: 0.0, doc: "band enabled" },
        ]
    };
}

const fn flatten(bands: [[ParamSpec; PARAMS_PER_BAND]; BANDS]) -> [ParamSpec; BANDS * PARAMS_PER_BAND] {
    let mut out = [bands[0][0]; BANDS * PARAMS_PER_BAND];
    let mut b = 0;
    while b < BANDS {
        let mut p = 0;
        while p < PARAMS_PER_BAND {
            out[b * PARAMS_PER_BAND + p] = bands[b][p];
            p += 1;
        }
        b += 1;
    }
    out
}

static EQ_PARAMS: [ParamSpec; BANDS * PARAMS_PER_BAND] = flatten([
    band_params!(1, 80.0),
    band_params!(2, 200.0),
    band_params!(3, 500.0),
    band_params!(4, 1000.0),
    band_params!(5, 2000.0),
    band_params!(6, 4000.0),
    band_params!(7, 8000.0),
    band_params!(8, 12000.0),
]);

struct Band {
    shape: usize,
    on: bool,
    freq: Smoother,
    gain: Smoother,
    q: Smoother,
    coeffs: Coeffs,
    /// Samples until the next coefficient update while ramping.
    countdown: u32,
    state: [BiquadState; 2],
}

impl Band {
    fn new(freq: f64) -> Self {
        Self {
            shape: 0,
            on: true,
            freq: Smoother::new(freq as f32, 0),
            gain: Smoother::new(0.0, 0),
            q: Smoother::new(0.707, 0),
            coeffs: Coeffs::IDENTITY,
            countdown: 0,
            state: [BiquadState::default(); 2],
        }
    }

    fn ramping(&self) -> bool {
        self.freq.is_ramping() || self.gain.is_ramping() || self.q.is_ramping()
    }

    /// A band that passes everything unchanged is skipped.
    fn is_flat(&self) -> bool {
        !self.on || (self.shape <= 2 && !self.ramping() && self.gain.current() == 0.0)
    }

    fn design(&mut self, sample_rate: f32) {
        self.coeffs = Coeffs::design(SHAPES[self.shape], self.freq.current() as f64, self.gain.current() as f64, self.q.current() as f64, sample_rate as f64);
    }
}

/// Eight-band parametric EQ. Band `n`'s parameters are `b{n}Type`,
/// `b{n}FreqHz`, `b{n}GainDb`, `b{n}Q`, `b{n}On`; coefficients follow the
/// RBJ cookbook. Frequency, gain and Q ramp over 20 ms when they change, with
/// coefficients recomputed every 16 samples during the ramp, so moving a band
/// does not zipper.
pub struct Eq {
    bands: Vec<Band>,
    sample_rate: f32,
}

impl Eq {
    pub const PARAMS: &'static [ParamSpec] = &EQ_PARAMS;

    pub fn new() -> Self {
        Self { bands: DEFAULT_FREQS.iter().map(|&f| Band::new(f)).collect(), sample_rate: 48_000.0 }
    }
}

impl Default for Eq {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Eq {
    fn prepare(&mut self, sample_rate: f32, _max_block: usize, _channels: usize) {
        self.sample_rate = sample_rate;
        let ramp = Smoother::ramp_len(SMOOTHING_MS, sample_rate);
        for band in &mut self.bands {
            for s in [&mut band.freq, &mut band.gain, &mut band.q] {
                *s = Smoother::new(s.target(), ramp);
            }
            band.design(sample_rate);
        }
    }

    fn reset(&mut self) {
        for band in &mut self.bands {
            band.state = [BiquadState::default(); 2];
            // A settled band's coefficients already match its values; only
            // a band cut off mid-ramp needs a design at its targets.
            if band.ramping() {
                for s in [&mut band.freq, &mut band.gain, &mut band.q] {
                    s.reset_to(s.target());
                }
                band.design(self.sample_rate);
            }
        }
    }

    /// A parameter touches only its own band. A new shape redesigns that
    /// band's biquad at once. A new frequency, gain or Q starts the band's
    /// ramp, which redesigns it as it goes (see `process`); only a value
    /// that lands at once (before `prepare`, with no ramp) redesigns here.
    /// A repeated value and `on` need no design: while a band is not
    /// ramping its coefficients already match its values.
    /// Runs on the audio thread: no allocation, no locks.
    fn set_param(&mut self, index: usize, value: f32) {
        let Some(band) = self.bands.get_mut(index / PARAMS_PER_BAND) else { return };
        let smoother = match index % PARAMS_PER_BAND {
            0 => {
                band.shape = (value as usize).min(SHAPES.len() - 1);
                band.design(self.sample_rate);
                return;
            }
            1 => &mut band.freq,
            2 => &mut band.gain,
            3 => &mut band.q,
            _ => {
                band.on = value >= 0.5;
                return;
            }
        };
        let old_target = smoother.target();
        smoother.set_target(value);
        if smoother.target() != old_target && !band.ramping() {
            band.design(self.sample_rate);
        }
    }

    fn latency(&self) -> usize {
        0
    }

    crate::widened!(Eq: fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) => process_block);
}

impl Eq {
    /// The block's work behind [`Insert::process`], compiled for the baseline
    /// and (inlined into its widened copy) for AVX2 (crate::simd).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    fn process_block(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let channels = audio.channels().min(2);
        for band in &mut self.bands {
            if band.is_flat() {
                continue;
            }
            if !band.ramping() {
                for ch in 0..channels {
                    let state = &mut band.state[ch];
                    for s in &mut audio.channel_mut(ch)[..frames] {
                        *s = state.tick(&band.coeffs, *s);
                    }
                    state.flush();
                }
                continue;
            }
            for i in 0..frames {
                let was_ramping = band.ramping();
                band.freq.next();
                band.gain.next();
                band.q.next();
                let finished = was_ramping && !band.ramping();
                if was_ramping && (band.countdown == 0 || finished) {
                    band.design(self.sample_rate);
                    band.countdown = RECOMPUTE_EVERY;
                }
                band.countdown = band.countdown.saturating_sub(1);
                for ch in 0..channels {
                    let s = &mut audio.channel_mut(ch)[i];
                    *s = band.state[ch].tick(&band.coeffs, *s);
                }
            }
        }
    }
}
