//! Why a tool call could not be answered. Each message is a sentence an agent can act on
//! (the path it may use, the tool to call instead); the server returns it as a tool error.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "`{path}` is outside the folders this server may read ({roots}); use a path inside them"
    )]
    OutsideRoots { path: String, roots: String },
    #[error("`{}` does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    pub fn invalid(message: impl Into<String>) -> ToolError {
        ToolError::InvalidArgument(message.into())
    }

    pub fn failed(err: impl std::fmt::Display) -> ToolError {
        ToolError::Failed(err.to_string())
    }
}
