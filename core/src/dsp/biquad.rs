//! Second-order sections: RBJ "Audio EQ Cookbook" coefficients and a transposed direct-form II filter.

/// Filter shapes of the cookbook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Bell,
    LowShelf,
    HighShelf,
    HighPass,
    LowPass,
    Notch,
    /// Band pass with 0 dB at the centre.
    BandPass,
}

/// Normalised coefficients (`a0` = 1) of `H(z) = (b0 + b1 z⁻¹ + b2 z⁻²) / (1 + a1 z⁻¹ + a2 z⁻²)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coeffs {
    pub b0: f64,
    pub b1: f64,
    pub b2: f64,
    pub a1: f64,
    pub a2: f64,
}

impl Coeffs {
    pub const IDENTITY: Coeffs = Coeffs { b0: 1.0, b1: 0.0, b2: 0.0, a1: 0.0, a2: 0.0 };

    /// The cookbook's bilinear-transform design for `shape` at `freq_hz`,
    /// `gain_db` (bell and shelves) and `q`, at `sample_rate`. The frequency
    /// is kept just below Nyquist.
    pub fn design(shape: Shape, freq_hz: f64, gain_db: f64, q: f64, sample_rate: f64) -> Coeffs {
        let freq = freq_hz.clamp(1.0, sample_rate * 0.499);
        let w0 = std::f64::consts::TAU * freq / sample_rate;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q.max(1e-3));
        let a = 10f64.powf(gain_db / 40.0);
        let (b0, b1, b2, a0, a1, a2) = match shape {
            Shape::Bell => (1.0 + alpha * a, -2.0 * cos, 1.0 - alpha * a, 1.0 + alpha / a, -2.0 * cos, 1.0 - alpha / a),
            Shape::LowShelf => {
                let s = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) - (a - 1.0) * cos + s),
                    2.0 * a * ((a - 1.0) - (a + 1.0) * cos),
                    a * ((a + 1.0) - (a - 1.0) * cos - s),
                    (a + 1.0) + (a - 1.0) * cos + s,
                    -2.0 * ((a - 1.0) + (a + 1.0) * cos),
                    (a + 1.0) + (a - 1.0) * cos - s,
                )
            }
            Shape::HighShelf => {
                let s = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) + (a - 1.0) * cos + s),
                    -2.0 * a * ((a - 1.0) + (a + 1.0) * cos),
                    a * ((a + 1.0) + (a - 1.0) * cos - s),
                    (a + 1.0) - (a - 1.0) * cos + s,
                    2.0 * ((a - 1.0) - (a + 1.0) * cos),
                    (a + 1.0) - (a - 1.0) * cos - s,
                )
            }
            Shape::LowPass => ((1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0, 1.0 + alpha, -2.0 * cos, 1.0 - alpha),
            Shape::HighPass => ((1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0, 1.0 + alpha, -2.0 * cos, 1.0 - alpha),
            Shape::Notch => (1.0, -2.0 * cos, 1.0, 1.0 + alpha, -2.0 * cos, 1.0 - alpha),
            Shape::BandPass => (alpha, 0.0, -alpha, 1.0 + alpha, -2.0 * cos, 1.0 - alpha),
        };
        Coeffs { b0: b0 / a0, b1: b1 / a0, b2: b2 / a0, a1: a1 / a0, a2: a2 / a0 }
    }
}

/// One biquad with per-channel state (transposed direct form II, f64 state so
/// low, narrow bands stay accurate).
#[derive(Clone, Copy, Debug, Default)]
pub struct BiquadState {
    z1: f64,
    z2: f64,
}

impl BiquadState {
    /// Filters one sample.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn tick(&mut self, c: &Coeffs, x: f32) -> f32 {
        let x = x as f64;
        let y = c.b0 * x + self.z1;
        self.z1 = c.b1 * x - c.a1 * y + self.z2;
        self.z2 = c.b2 * x - c.a2 * y;
        y as f32
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Zeroes state that has decayed below audibility (no denormals) or gone
    /// non-finite.
    pub fn flush(&mut self) {
        let dead = self.z1.abs() < 1e-30 && self.z2.abs() < 1e-30;
        if dead || !self.z1.is_finite() || !self.z2.is_finite() {
            self.reset();
        }
    }
}
