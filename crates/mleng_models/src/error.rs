//! One error type for every reader: each variant names the file and what is wrong with it,
//! so a corrupt or hostile file yields a sentence, never a panic.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid ONNX model: {detail}")]
    OnnxDecode { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("{path}: refused: {detail}")]
    Refused { path: PathBuf, detail: String },
    #[error("{path}: unsupported: {detail}")]
    Unsupported { path: PathBuf, detail: String },
}

impl ModelError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ModelError {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn invalid(path: impl Into<PathBuf>, detail: impl Into<String>) -> ModelError {
        ModelError::Invalid {
            path: path.into(),
            detail: detail.into(),
        }
    }

    pub fn refused(path: impl Into<PathBuf>, detail: impl Into<String>) -> ModelError {
        ModelError::Refused {
            path: path.into(),
            detail: detail.into(),
        }
    }

    pub fn unsupported(path: impl Into<PathBuf>, detail: impl Into<String>) -> ModelError {
        ModelError::Unsupported {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ModelError>;
