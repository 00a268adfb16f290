//! `mleng server`: the review as a Language Server Protocol (3.17) server over stdio.
//!
//! Diagnostics for `.py` files and notebooks (cells as their own documents) from the same
//! rules and configuration as `mleng review`, quick fixes, "fix all", `# noqa` actions and
//! the rule documentation on hover. Nothing is executed; logs go to stderr.
//!
//! Threads: a reader (stdin -> messages), a writer (messages -> stdout), the main loop (this
//! crate's [`server::Server`]) and a review worker that debounces edits and runs reviews.

mod actions;
mod convert;
mod documents;
mod fixall;
mod hover;
mod lookup;
mod position;
mod publish;
mod reviewers;
pub mod server;
mod state;
pub mod transport;
mod uri;
mod worker;

pub use server::Exit;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot start the server's threads: {0}")]
    Threads(#[source] std::io::Error),
    #[error("writing to the client failed: {0}")]
    Output(#[source] std::io::Error),
}

/// Serves one client over stdin/stdout until it sends `exit` or closes its end.
pub fn run_stdio() -> Result<Exit, ServerError> {
    let (incoming, outgoing, threads) = transport::stdio().map_err(ServerError::Threads)?;
    let server = server::Server::new(outgoing).map_err(ServerError::Threads)?;
    let exit = server.run(&incoming);
    // `server` has been consumed and dropped: the writer's channel closes once flushed.
    threads.join_writer().map_err(ServerError::Output)?;
    Ok(exit)
}
