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
