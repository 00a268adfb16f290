//! Errors that stop a log from being read at all. Damage that still lets us read part of
//! a file (a bad CRC, a truncated last record) is a [`crate::series::ReadNote`] instead.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: SQLite: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot write plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
}

impl RunsError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> RunsError {
        RunsError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> RunsError {
        RunsError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, RunsError>;
