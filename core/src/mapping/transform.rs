//! The transform of a mapping as pure functions: an input's normalized
//! position (0 … 1) to the target's value, and back for feedback.
//!
//! Absolute (docs/ARCHITECTURE.md §8.3):
//!
//! ```text
//! x ← 1 − x                          if invert
//! y = clamp((x − d) / (1 − 2d), 0, 1) deadzone d at each end
//! y ← y^k                            curve: linear k = 1, exp k = 2, log k = ½, or k
//! y ← round(y·(n − 1)) / (n − 1)     steps n
//! value = min + (max − min)·y
//! ```
//!
//! Relative encoders move the position before the curve, `p = y^(1/k)` of
//! the value as it stands, by one step per tick (1/127 of the travel, or
//! one of the `steps`); the deadzone does not apply.

/// A transform's numbers, resolved against its target (ranges filled in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub min: f32,
    pub max: f32,
    /// The curve's exponent `k` (> 0).
    pub exponent: f32,
    pub deadzone: f32,
    /// 0 = continuous.
    pub steps: u32,
    pub invert: bool,
}

impl Shape {
    /// Target value for input position `x` (0 … 1).
    pub fn forward(&self, x: f32) -> f32 {
        let mut x = x.clamp(0.0, 1.0);
        if self.invert {
            x = 1.0 - x;
        }
        let d = self.deadzone;
        let y = if d > 0.0 { ((x - d) / (1.0 - 2.0 * d)).clamp(0.0, 1.0) } else { x };
        self.value_at(self.curve(y))
    }

    /// The input position that gives `value` (the middle of the deadzone's
    /// mapped range for the ends: 0 and 1 themselves).
    pub fn inverse(&self, value: f32) -> f32 {
        let y = self.travel_of(value);
        let d = self.deadzone;
        let x = if d > 0.0 && y > 0.0 && y < 1.0 { d + y * (1.0 - 2.0 * d) } else { y };
        if self.invert {
            1.0 - x
        } else {
            x
        }
    }

    /// The value `ticks` encoder steps from `current` (relative mode).
    pub fn step_from(&self, current: f32, ticks: i32) -> f32 {
        let ticks = if self.invert { -ticks } else { ticks };
        let step = if self.steps >= 2 { 1.0 / (self.steps - 1) as f32 } else { 1.0 / 127.0 };
        let p = self.travel_of(current);
        self.value_at(self.curve((p + ticks as f32 * step).clamp(0.0, 1.0)))
    }

    /// The position before the curve (0 … 1) at which the travel gives `value`.
    fn travel_of(&self, value: f32) -> f32 {
        let span = self.max - self.min;
        let y = if span == 0.0 { 0.0 } else { ((value - self.min) / span).clamp(0.0, 1.0) };
        if self.exponent == 1.0 {
            y
        } else {
            y.powf(1.0 / self.exponent)
        }
    }

    fn curve(&self, p: f32) -> f32 {
        let y = if self.exponent == 1.0 { p } else { p.powf(self.exponent) };
        if self.steps >= 2 {
            let n = (self.steps - 1) as f32;
            (y * n).round() / n
        } else {
            y
        }
    }

    fn value_at(&self, y: f32) -> f32 {
        if y >= 1.0 {
            self.max
        } else {
            self.min + (self.max - self.min) * y
        }
    }

    /// The value half-way through the range: at or above it a toggle or
    /// momentary target counts as on.
    pub fn midpoint(&self) -> f32 {
        0.5 * (self.min + self.max)
    }

    /// Whether `value` is the "on" end of the range (`max`'s side).
    pub fn is_on(&self, value: f32) -> bool {
        if self.max >= self.min {
            value >= self.midpoint()
        } else {
            value <= self.midpoint()
        }
    }
}

/// Step count of one relative-encoder message value.
pub fn relative_ticks(value: u8, encoding: super::Encoding) -> i32 {
    let v = (value & 0x7f) as i32;
    match encoding {
        super::Encoding::TwosComplement => {
            if v < 64 {
                v
            } else {
                v - 128
            }
        }
        super::Encoding::Offset64 => v - 64,
    }
}

/// A 7-bit MIDI value for position `x`.
pub fn to_7bit(x: f32) -> u8 {
    (x.clamp(0.0, 1.0) * 127.0).round() as u8
}

/// A 14-bit MIDI value for position `x`.
pub fn to_14bit(x: f32) -> u16 {
    (x.clamp(0.0, 1.0) * 16383.0).round() as u16
}
