//! One module per subcommand; each owns its clap arguments and a `run` function.

pub mod arch;
pub mod diagnose;
pub mod inspect;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod recommend;
pub mod review;
pub mod rules;
pub mod server;

/// Writes a command's output to stdout. A reader that went away (`mleng rules | head -1`)
/// ends the output quietly, as ripgrep and ruff do: the command still exits with its own
/// status, with no error message. `print!` would panic there instead (Rust ignores SIGPIPE,
/// so the write fails with `BrokenPipe`).
pub fn write_stdout(body: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(body.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
