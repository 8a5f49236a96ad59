//! What the plugin uses of nice-plug-core (parameter model, editor model),
//! in one place, since the core crate has no prelude of its own.

pub use nice_plug::context::gui::ParamSetter;
pub use nice_plug::editor::ResizeHint;
pub use nice_plug::formatters;
pub use nice_plug::params::range::{FloatRange, IntRange};
pub use nice_plug::params::{BoolParam, FloatParam, IntParam, Param, Params};
