//! The one way out of mleng: every command (`review`, `diagnose`, `inspect`) produces
//! [`Finding`]s, and every output format is a renderer over a slice of them.
//!
//! This crate depends on nothing of ours, so the readers of logs and models can use it
//! without pulling in the Python front end.

mod finding;
pub mod render;

pub use finding::{
    count_fixable, Applicability, Area, Edit, Finding, Fix, Location, Related, RuleInfo, Severity,
    Snippet, Span,
};
pub use render::{render, Format, RenderOptions};
