//! `delay`: echo in milliseconds or tempo-synced note values, with feedback, ping-pong and a high cut.

use crate::audio_buf::AudioBuf;
use crate::dsp::smoother::Smoother;
use crate::insert::{time_ms, Insert, ParamKind, ParamSpec};

const TIME: usize = 0;
const FEEDBACK: usize = 1;
const PING_PONG: usize = 2;
const HIGH_CUT_HZ: usize = 3;
const MIX: usize = 4;
/// Longest echo; the buffer is allocated for it in `prepare`.
pub const MAX_DELAY_MS: f64 = 4000.0;

/// Echo. `time` is milliseconds or a note value resolved from the tempo (the
/// host's when it plays, else the session's `tempo`), rounded to whole
/// samples so an echo lands on an exact sample; a tempo change moves the
/// echo at once. The feedback path runs through a one-pole low-pass at
/// `highCutHz`. `pingPong` feeds the mono sum into the left line and
/// alternates echoes left, right, left…; otherwise each channel echoes
/// itself. Output = (1 − mix)·dry + mix·echoes.
pub struct Delay {
    time: f32,
    tempo: f64,
    feedback: Smoother,
    ping_pong: bool,
    high_cut_hz: f32,
    mix: Smoother,
    sample_rate: f32,
    delay_samples: usize,
    lp_coeff: f32,
    /// Echo lines `[channel][slot]`, `capacity` each, allocated in `prepare`.
    ring: Vec<f32>,
    capacity: usize,
    write: usize,
    lp_state: [f32; 2],
}

impl Delay {
    pub const PARAMS: &'static [ParamSpec] = &[
        ParamSpec { id: "time", unit: "ms", kind: ParamKind::Time { min_ms: 1.0, max_ms: MAX_DELAY_MS, default_ms: 375.0 }, smoothing_ms: 0.0, doc: "echo time: ms, or a note value from the tempo" },
        ParamSpec { id: "feedback", unit: "", kind: ParamKind::Float { min: 0.0, max: 0.98, default: 0.35 }, smoothing_ms: 20.0, doc: "level of each repeat relative to the last" },
        ParamSpec { id: "pingPong", unit: "", kind: ParamKind::Bool { default: false }, smoothing_ms: 0.0, doc: "alternate repeats left and right" },
        ParamSpec { id: "highCutHz", unit: "Hz", kind: ParamKind::Float { min: 200.0, max: 20_000.0, default: 8000.0 }, smoothing_ms: 0.0, doc: "low-pass in the feedback path (each repeat darker)" },
        ParamSpec { id: "mix", unit: "", kind: ParamKind::Float { min: 0.0, max: 1.0, default: 0.3 }, smoothing_ms: 20.0, doc: "wet/dry" },
    ];

    pub fn new() -> Self {
        Self {
            time: 375.0,
            tempo: 120.0,
            feedback: Smoother::new(0.35, 0),
            ping_pong: false,
            high_cut_hz: 8000.0,
            mix: Smoother::new(0.3, 0),
            sample_rate: 48_000.0,
            delay_samples: 1,
            lp_coeff: 1.0,
            ring: Vec::new(),
            capacity: 1,
            write: 0,
            lp_state: [0.0; 2],
        }
    }

    /// Echo time in samples for the current time and tempo.
    pub fn delay_samples(&self) -> usize {
        self.delay_samples
    }

    fn update(&mut self) {
        let ms = time_ms(self.time, self.tempo).clamp(1.0, MAX_DELAY_MS);
        self.delay_samples = ((ms * 0.001 * self.sample_rate as f64).round() as usize).clamp(1, self.capacity.max(2) - 1);
        // One-pole low-pass: y += (x − y)·c, c = 1 − e^(−2π fc / fs).
        self.lp_coeff = 1.0 - (-std::f32::consts::TAU * self.high_cut_hz / self.sample_rate).exp();
    }
}

impl Default for Delay {
    fn default() -> Self {
        Self::new()
    }
}

impl Insert for Delay {
    fn prepare(&mut self, sample_rate: f32, _max_block: usize, channels: usize) {
        self.sample_rate = sample_rate;
        self.capacity = (MAX_DELAY_MS * 0.001 * sample_rate as f64).ceil() as usize + 2;
        self.ring = vec![0.0; channels.max(2) * self.capacity];
        let ramp = Smoother::ramp_len(20.0, sample_rate);
        self.feedback = Smoother::new(self.feedback.target(), ramp);
        self.mix = Smoother::new(self.mix.target(), ramp);
        self.update();
    }

    fn reset(&mut self) {
        self.ring.fill(0.0);
        self.write = 0;
        self.lp_state = [0.0; 2];
    }

    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            TIME => self.time = value,
            FEEDBACK => self.feedback.set_target(value),
            PING_PONG => self.ping_pong = value >= 0.5,
            HIGH_CUT_HZ => self.high_cut_hz = value,
            MIX => self.mix.set_target(value),
            _ => return,
        }
        self.update();
    }

    fn set_tempo(&mut self, bpm: f64) {
        self.tempo = bpm;
        self.update();
    }

    fn latency(&self) -> usize {
        0
    }

    fn process(&mut self, audio: &mut AudioBuf, _key: Option<&AudioBuf>, frames: usize) {
        let channels = audio.channels().min(2);
        let cap = self.capacity;
        let ping_pong = self.ping_pong && channels == 2;
        for i in 0..frames {
            let read = if self.write >= self.delay_samples { self.write - self.delay_samples } else { self.write + cap - self.delay_samples };
            let feedback = self.feedback.next();
            let mix = self.mix.next();
            let mut echo = [0.0f32; 2];
            for ch in 0..channels {
                echo[ch] = self.ring[ch * cap + read];
            }
            // Darken what goes round again.
            let mut back = [0.0f32; 2];
            for ch in 0..channels {
                self.lp_state[ch] += (echo[ch] - self.lp_state[ch]) * self.lp_coeff;
                back[ch] = self.lp_state[ch] * feedback;
            }
            if ping_pong {
                let mono = 0.5 * (audio.channel(0)[i] + audio.channel(1)[i]);
                self.ring[self.write] = mono + back[1];
                self.ring[cap + self.write] = back[0];
            } else {
                for ch in 0..channels {
                    self.ring[ch * cap + self.write] = audio.channel(ch)[i] + back[ch];
                }
            }
            for ch in 0..channels {
                let x = &mut audio.channel_mut(ch)[i];
                *x = (1.0 - mix) * *x + mix * echo[ch];
            }
            self.write += 1;
            if self.write == cap {
                self.write = 0;
            }
        }
        for s in &mut self.lp_state {
            if s.abs() < 1e-30 {
                *s = 0.0;
            }
        }
    }
}
