//! The project-wide semantic model, built once per review from the per-file indexes.
//!
//! Each file's index is distilled into a [`ModuleSummary`] in the parallel phase (its imports,
//! classes with their `forward` endings and bases, functions with what they do to a training
//! run and what they return, and the calls that pass known types to other functions). The
//! [`ProjectModel`] joins the summaries: which project file a module name is, which class or
//! function a name refers to across files (relative imports, package re-exports, aliases),
//! inheritance, factories, and what callers pass to a function's parameters. Rules ask it;
//! they never walk other files themselves.

pub mod model;
pub mod summary;

pub use model::{ModuleId, ProjectModel, Symbol, Written};
pub use summary::{summarize, Behaviour, ClassSummary, Ending, FunctionSummary, ModuleSummary};
