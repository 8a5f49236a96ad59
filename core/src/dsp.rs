//! Signal processing building blocks and the inserts themselves.

pub mod delay_line;
pub mod limiter;
pub mod smoother;
pub mod utility;
