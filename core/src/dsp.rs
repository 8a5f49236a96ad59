//! Signal processing building blocks and the inserts themselves.

pub mod biquad;
pub mod chorus;
pub mod compressor;
pub mod delay;
pub mod delay_line;
pub mod distortion;
pub mod eq;
pub mod fast_math;
pub mod filter;
pub mod limiter;
pub mod reverb;
pub mod smoother;
pub mod spectral_ducker;
pub mod true_peak;
pub mod utility;
