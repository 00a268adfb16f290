//! The rules and the engine that runs them.
//!
//! A rule is one file: its [`Rule`] declaration (code, name, area, severity, docs) and a
//! check function over the shared [`mleng_python::SemanticIndex`]. The [`registry`] lists
//! them; `mleng rules`, `mleng explain`, SARIF metadata and the README table all read it.

pub mod arch;
pub mod arch_shapes;
mod architecture;
mod context;
mod cv;
pub mod engine;
mod experiment;
pub mod incremental;
mod input;
mod performance;
pub mod project;
pub mod recommend;
pub mod registry;
mod rule;
mod security;
pub mod test_code;
mod training;

pub use context::Context;
pub use cv::tasks;
pub use engine::{
    review_files, review_project, review_project_with, review_source, review_source_with_facts,
    FileOutcome, Overlay, ProjectReview, Settings,
};
pub use rule::Rule;
