//! Fast `log2`/`exp2` approximations for per-bin gain curves (errors far below 0.01 dB).

/// `log2(x)` for positive finite `x`; absolute error below 2e-5 (6e-4 dB
/// when used for decibels). Zero and denormals give about −127.
#[inline]
pub fn log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    // Mantissa in [1, 2); log2(1 + m) ≈ m·q(m), q least-squares fitted on
    // [0, 1) (fit error 4.4e-6).
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000) - 1.0;
    let p = m * (1.442_517 + m * (-0.717_898_4 + m * (0.456_894_2 + m * (-0.277_365_05 + m * (0.121_914_14 + m * -0.026_066_3)))));
    exponent as f32 + p
}

/// `2^x`, relative error below 1e-5; clamps to the f32 range (NaN gives
/// the bottom of it, 2^−126).
#[inline]
pub fn exp2(x: f32) -> f32 {
    // max/min rather than clamp: NaN lands on a bound, so the conversion
    // below always has an in-range value.
    let x = x.max(-126.0).min(127.0);
    // SAFETY: x is finite and within −126…127, which i32 holds. The
    // unchecked conversion is a plain truncating conversion that vectorises,
    // where `as` adds saturation and NaN handling that keeps loops scalar.
    let truncated: i32 = unsafe { x.to_int_unchecked() };
    // floor without a libm call (baseline x86_64 has no round instruction).
    let floor = truncated - (x < truncated as f32) as i32;
    let f = x - floor as f32;
    // 2^f ≈ 1 + f·q(f) on [0, 1), q fitted for relative error (1.9e-7).
    let p = 1.0 + f * (0.693_151_6 + f * (0.240_164_37 + f * (0.055_793_73 + f * (0.009_031_181 + f * 0.001_858_748))));
    f32::from_bits(((floor + 127) as u32) << 23) * p
}

/// `10·log10(power)` in dB, fast.
#[inline]
pub fn power_to_db(power: f32) -> f32 {
    // 10·log10(2) = 3.0103
    3.010_3 * log2(power)
}

/// Linear gain for `db` decibels, fast.
#[inline]
pub fn db_to_gain(db: f32) -> f32 {
    // 2^(db / 20 · log2(10))
    exp2(db * 0.166_096_4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_matches_std_across_the_range() {
        let mut worst = 0.0f32;
        let mut x = 1e-30f32;
        while x < 1e30 {
            worst = worst.max((log2(x) - x.log2()).abs());
            x *= 1.013;
        }
        assert!(worst < 2e-5, "worst {worst}");
    }

    #[test]
    fn exp2_matches_std_across_the_range() {
        let mut worst = 0.0f32;
        let mut x = -100.0f32;
        while x < 100.0 {
            let want = x.exp2();
            worst = worst.max(((exp2(x) - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 1e-5, "worst relative {worst}");
    }

    #[test]
    fn exp2_keeps_to_its_range_and_maps_nan_to_the_bottom() {
        assert_eq!(exp2(1000.0), exp2(127.0));
        assert_eq!(exp2(-1000.0), exp2(-126.0));
        assert_eq!(exp2(f32::NAN), exp2(-126.0));
        assert_eq!(exp2(0.0), 1.0);
        assert_eq!(exp2(-0.0), 1.0);
        assert_eq!(db_to_gain(-0.0), 1.0, "no reduction is exactly unity gain");
    }

    #[test]
    fn decibel_helpers_round_trip() {
        for db in [-80.0f32, -12.0, -6.0206, 0.0, 6.0] {
            let g = db_to_gain(db);
            assert!((g - 10f32.powf(db / 20.0)).abs() / g < 1e-5);
            assert!((power_to_db(g * g) - db).abs() < 1e-3);
        }
    }
}
