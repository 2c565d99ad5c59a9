//! Errors of the image store, each with a kind the API maps to an HTTP status.

use std::path::{Path, PathBuf};

/// What went wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("layer: {0}")]
    Layer(#[from] berth_archive::ApplyError),
    #[error(transparent)]
    Meta(#[from] crate::meta::MetaError),
    #[error("mount {target}: {source}")]
    Mount { target: PathBuf, source: nix::Error },
}

impl ImageError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}
