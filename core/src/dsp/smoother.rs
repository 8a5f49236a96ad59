//! `Smoother`: a linear ramp that reaches its target exactly, advanced per sample.

/// A linear ramp from the current value to a target over a fixed number of
/// samples. It lands on the target exactly (no asymptote), so a settled gain of
/// 0.5 is exactly 0.5, and because it advances per sample its output does not
/// depend on how the host slices blocks.
#[derive(Clone, Debug)]
pub struct Smoother {
    current: f32,
    target: f32,
    step: f32,
    remaining: u32,
    ramp_samples: u32,
}

impl Smoother {
    /// A smoother resting at `value` that ramps over `ramp_samples` samples
    /// whenever its target changes (0 = jump).
    pub fn new(value: f32, ramp_samples: u32) -> Self {
        Self { current: value, target: value, step: 0.0, remaining: 0, ramp_samples }
    }

    /// Number of samples a ramp of `ms` milliseconds takes at `sample_rate`.
    pub fn ramp_len(ms: f32, sample_rate: f32) -> u32 {
        (ms * 0.001 * sample_rate).round().max(0.0) as u32
    }

    /// Starts a ramp from the current value to `target`.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn set_target(&mut self, target: f32) {
        if target == self.target {
            return;
        }
        self.target = target;
        if self.ramp_samples == 0 {
            self.current = target;
            self.remaining = 0;
        } else {
            self.remaining = self.ramp_samples;
            self.step = (target - self.current) / self.ramp_samples as f32;
        }
    }

    /// Ends any ramp at its target at once.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn settle(&mut self) {
        self.current = self.target;
        self.remaining = 0;
    }

    /// Jumps to `value` with no ramp.
    pub fn reset_to(&mut self, value: f32) {
        self.current = value;
        self.target = value;
        self.remaining = 0;
    }

    /// Continues from where `other` stands (its current value), ramping to
    /// this smoother's own target. Used when a recompiled schedule takes over
    /// a running one, so edits never click.
    pub fn continue_from(&mut self, other: &Smoother) {
        let target = self.target;
        self.target = other.current;
        self.current = other.current;
        self.remaining = 0;
        self.set_target(target);
    }

    /// After [`Self::continue_from`] and the new schedule's values are in:
    /// when this smoother heads for the same target as `other` over the
    /// same ramp length, `other`'s ramp goes on exactly where it stands
    /// (same value, step and samples left) instead of starting over, so a
    /// recompile that changes nothing here changes no sample.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn resume(&mut self, other: &Smoother) {
        if self.target.to_bits() == other.target.to_bits() && self.ramp_samples == other.ramp_samples {
            self.clone_from(other);
        }
    }

    pub fn current(&self) -> f32 {
        self.current
    }

    pub fn target(&self) -> f32 {
        self.target
    }

    /// True while a ramp is in progress.
    pub fn is_ramping(&self) -> bool {
        self.remaining > 0
    }

    /// Advances one sample and returns the new value.
    /// Runs on the audio thread: no allocation, no locks.
    #[inline]
    pub fn next(&mut self) -> f32 {
        if self.remaining > 0 {
            self.remaining -= 1;
            self.current = if self.remaining == 0 { self.target } else { self.current + self.step };
        }
        self.current
    }

    /// Whether every gain this smoother gives until its target (and after)
    /// keeps a finite, normal sample finite and normal when multiplied by
    /// it: a settled gain of exactly 1, or gains below 0.99 in magnitude (a
    /// margin for the ramp's rounding), with flush-to-zero on (x86_64, as
    /// the engine runs) so that no product is denormal.
    pub fn keeps_finite(&self) -> bool {
        if !cfg!(target_arch = "x86_64") {
            return false;
        }
        (!self.is_ramping() && self.current == 1.0) || self.current.abs().max(self.target.abs()) < 0.99
    }

    /// `dst = src · gain`, sample by sample as [`Self::apply`] would after a
    /// copy, in one pass (the same values bit for bit).
    /// Runs on the audio thread: no allocation, no locks.
    #[inline(always)]
    pub fn apply_from(&mut self, src: &[f32], dst: &mut [f32]) {
        if !self.is_ramping() {
            let g = self.current;
            if g == 1.0 {
                dst.copy_from_slice(src);
            } else {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = *s * g;
                }
            }
            return;
        }
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s * self.next();
        }
    }

    /// Multiplies `samples` by the smoothed value, advancing one step per sample.
    /// Runs on the audio thread: no allocation, no locks.
    pub fn apply(&mut self, samples: &mut [f32]) {
        if !self.is_ramping() {
            let g = self.current;
            if g != 1.0 {
                for s in samples {
                    *s *= g;
                }
            }
            return;
        }
        for s in samples {
            *s *= self.next();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_lands_exactly_on_target_after_ramp_len_samples() {
        let mut s = Smoother::new(1.0, 4);
        s.set_target(0.0);
        let seen: Vec<f32> = (0..6).map(|_| s.next()).collect();
        assert_eq!(seen, vec![0.75, 0.5, 0.25, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn zero_length_ramp_jumps() {
        let mut s = Smoother::new(1.0, 0);
        s.set_target(0.25);
        assert_eq!(s.next(), 0.25);
    }

    #[test]
    fn resume_goes_on_with_a_ramp_to_the_same_target_only() {
        let mut old = Smoother::new(0.0, 4);
        old.set_target(1.0);
        old.next();
        let mut same = Smoother::new(1.0, 4);
        same.continue_from(&old);
        same.resume(&old);
        let rest: Vec<f32> = (0..3).map(|_| same.next()).collect();
        assert_eq!(rest, vec![0.5, 0.75, 1.0], "the old ramp's last three samples");
        let mut other = Smoother::new(0.5, 4);
        other.continue_from(&old);
        other.resume(&old);
        assert_eq!(other.target(), 0.5, "another target keeps its own ramp");
        assert_eq!((0..4).map(|_| other.next()).last(), Some(0.5));
    }

    #[test]
    fn continue_from_starts_at_the_old_value() {
        let old = Smoother::new(0.2, 10);
        let mut new = Smoother::new(1.0, 4);
        new.continue_from(&old);
        assert_eq!(new.current(), 0.2);
        let last = (0..4).map(|_| new.next()).last().unwrap();
        assert_eq!(last, 1.0);
    }
}
