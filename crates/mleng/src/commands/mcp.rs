//! `mleng mcp`: serve the Model Context Protocol on stdin/stdout (crate `mleng_mcp`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args)]
pub struct McpArgs {
    /// Folders the tools may read when the client declares no roots (repeatable; default:
    /// the working folder). Paths outside them are refused.
    #[arg(long = "root", value_name = "DIR")]
    pub roots: Vec<PathBuf>,
}

pub fn run(args: McpArgs) -> Result<ExitCode> {
    eprintln!(
        "mleng mcp {}: serving the Model Context Protocol on stdio",
        env!("CARGO_PKG_VERSION")
    );
    mleng_mcp::serve_stdio(&args.roots)?;
    Ok(ExitCode::SUCCESS)
}
