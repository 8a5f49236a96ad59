//! Wider vector instructions where the CPU has them, chosen at run time.
//!
//! The build targets baseline x86-64 (SSE2), so one binary runs on any
//! x86-64 machine a user loads the plugin on. Most machines also have AVX2
//! and FMA, which process twice as many samples per instruction. The hot
//! entry points (the schedule's block, a source's `fill`, every insert's
//! `process`, a bus run on the offline pool, the true-peak meter) are
//! therefore compiled twice with [`widened!`]: once
//! for the baseline and once with `avx2,fma` enabled, and each call picks
//! the second when [`wide`] says the CPU has both. Everything the entry
//! point inlines (the kernels are `#[inline(always)]` for this) is compiled
//! both ways; an entry point that calls out of line runs that callee at the
//! baseline.
//!
//! Both versions compute the same samples bit for bit: the compiler keeps
//! the order of floating-point operations written in the source (Rust does
//! not contract `a * b + c` into a fused multiply-add, nor reassociate
//! sums), so a wider vector only does more of the same operations at once.
//! The engine's tests check this on whole sessions (`simd_paths` test).
//!
//! See docs/ARCHITECTURE.md §9.

use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not decided yet; 1: baseline; 2: AVX2 + FMA.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// Whether the wide (AVX2 + FMA) versions run: one relaxed load per call.
/// Decided by [`init`] (the engine calls it on the control side); a call
/// before that decides from the CPU alone (no environment read, nothing
/// allocated).
/// Runs on the audio thread: no allocation, no locks.
#[inline(always)]
pub fn wide() -> bool {
    match LEVEL.load(Ordering::Relaxed) {
        2 => true,
        1 => false,
        _ => decide(cpu_has_wide()),
    }
}

/// Decides once per process which versions run: the wide ones where the
/// CPU has AVX2 and FMA, unless `MAM_SIMD=baseline` is set (for
/// comparisons). Reads the environment, so it is for the control side:
/// `Engine::new` calls it. Later calls change nothing.
pub fn init() {
    if LEVEL.load(Ordering::Relaxed) == 0 {
        let allowed = std::env::var_os("MAM_SIMD").is_none_or(|v| v != "baseline");
        decide(allowed && cpu_has_wide());
    }
}

#[cold]
fn decide(wide: bool) -> bool {
    LEVEL.store(if wide { 2 } else { 1 }, Ordering::Relaxed);
    wide
}

fn cpu_has_wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Forces the baseline versions (`false`) or lets the wide ones run again
/// where the CPU has them (`true`). For tests and benchmarks that compare
/// the two; takes effect at the next call of each entry point.
pub fn allow_wide(allowed: bool) {
    let wide = allowed && cpu_has_wide();
    LEVEL.store(if wide { 2 } else { 1 }, Ordering::Relaxed);
}

/// Whether this CPU can run the wide versions at all (whatever
/// [`allow_wide`] says).
pub fn cpu_supports_wide() -> bool {
    cpu_has_wide()
}

/// Defines method `$name` on `$Type` that calls `self.$inner(args…)`, with
/// `$inner` (which should be `#[inline(always)]`) compiled a second time
/// for AVX2 + FMA and that copy run when [`wide`] allows.
///
/// ```ignore
/// impl Limiter {
///     widened!(Limiter: fn run(&mut self, audio: &mut AudioBuf, frames: usize) => run_block);
///     #[inline(always)]
///     fn run_block(&mut self, audio: &mut AudioBuf, frames: usize) { … }
/// }
/// ```
#[macro_export]
macro_rules! widened {
    ($Type:ty : $(#[$meta:meta])* $vis:vis fn $name:ident(&mut self $(, $arg:ident : $ty:ty)* $(,)?) $(-> $ret:ty)? => $inner:ident) => {
        $(#[$meta])*
        $vis fn $name(&mut self $(, $arg: $ty)*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                // Never inlined: a caller that is itself widened would
                // otherwise absorb it and share one register allocation.
                #[target_feature(enable = "avx2,fma")]
                #[inline(never)]
                unsafe fn wide_version(this: &mut $Type $(, $arg: $ty)*) $(-> $ret)? {
                    this.$inner($($arg),*)
                }
                if $crate::simd::wide() {
                    // SAFETY: `wide()` is true only when the CPU reported
                    // AVX2 and FMA.
                    return unsafe { wide_version(self $(, $arg)*) };
                }
            }
            self.$inner($($arg),*)
        }
    };
}
