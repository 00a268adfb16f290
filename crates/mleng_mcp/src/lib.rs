//! `mleng mcp`: mleng as a Model Context Protocol server over stdio, for coding agents. The
//! tools call the same library entry points as the CLI (`mleng_review`, `mleng_runs`,
//! `mleng_models`, `mleng_rules`), read only files inside the client's roots (or the working
//! folder), never execute anything, and page large results. Logs go to stderr: stdout is the
//! protocol's.

pub mod error;
pub mod paging;
pub mod prompts;
pub mod resources;
pub mod roots;
pub mod server;
pub mod tools;

use std::path::PathBuf;

use rmcp::ServiceExt;

pub use error::ToolError;
pub use roots::Roots;
pub use server::MlengServer;

/// Why the server stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no usable root folder: {0}")]
    Roots(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("MCP session failed: {0}")]
    Session(String),
}

/// Serves MCP on stdin/stdout until the client closes the connection. `roots` are the folders
/// paths may point into when the client declares none (default: the working folder).
pub fn serve_stdio(roots: &[PathBuf]) -> Result<(), ServeError> {
    let dirs = if roots.is_empty() {
        vec![std::env::current_dir()?]
    } else {
        roots.to_vec()
    };
    let fallback = Roots::new(&dirs).ok_or_else(|| {
        let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        ServeError::Roots(names.join(", "))
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        // rmcp times requests out (timers) and reads stdin (I/O).
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let service = MlengServer::new(fallback)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| ServeError::Session(e.to_string()))?;
        service
            .waiting()
            .await
            .map_err(|e| ServeError::Session(e.to_string()))?;
        Ok(())
    })
}
