//! The tools' logic, one module per area, free of the protocol: each takes its JSON-schema'd
//! arguments and the roots, calls the same library entry points as the CLI, and returns a
//! JSON value (or a [`ToolError`]). `server` turns them into MCP tools.

pub mod code;
pub mod models;
pub mod recommend;
pub mod rules;
pub mod runs;

use std::path::PathBuf;

use crate::error::ToolError;
use crate::roots::Roots;

/// Resolves existing paths inside the roots; none given means the first root.
pub fn existing_paths(roots: &Roots, paths: &[String]) -> Result<Vec<PathBuf>, ToolError> {
    if paths.is_empty() {
        return Ok(vec![roots.dirs()[0].clone()]);
    }
    paths.iter().map(|p| roots.existing(p)).collect()
}
