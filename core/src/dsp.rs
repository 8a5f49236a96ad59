//! Signal processing building blocks and the inserts themselves.

pub mod delay_line;
pub mod fast_math;
pub mod limiter;
pub mod smoother;
pub mod spectral_ducker;
pub mod utility;
