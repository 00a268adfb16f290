//! `mleng diagnose` (placeholder).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DiagnoseArgs {
    /// Files or folders to read.
    pub paths: Vec<std::path::PathBuf>,
}

pub fn run(_args: DiagnoseArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("mleng diagnose is not implemented yet")
}
