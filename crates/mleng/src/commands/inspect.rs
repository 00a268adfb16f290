//! `mleng inspect` (placeholder).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Files or folders to read.
    pub paths: Vec<std::path::PathBuf>,
}

pub fn run(_args: InspectArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("mleng inspect is not implemented yet")
}
