//! `mleng server`: the language server over stdio (crate `mleng_lsp`).

use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args)]
pub struct ServerArgs {
    /// Speak LSP over stdin/stdout (the only transport; accepted for editors that pass it).
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: ServerArgs) -> Result<ExitCode> {
    // Exit code 1 for an `exit` without `shutdown`, as the protocol asks.
    Ok(match mleng_lsp::run_stdio()? {
        mleng_lsp::Exit::Clean => ExitCode::SUCCESS,
        mleng_lsp::Exit::Abrupt => ExitCode::from(1),
    })
}
