//! Typed errors of layer application and tar writing.
//!
//! Every error that concerns one tar entry or one file names it, so a failed
//! pull or commit says which path of which layer was at fault.

use std::io;
use std::path::PathBuf;

/// Broad class of an error, for mapping onto API statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input (tar stream) is malformed or hostile: a client error, never
    /// worth retrying with the same blob.
    Invalid,
    /// The host failed us (disk full, permissions, missing root): a server error.
    Io,
}

/// Why [`apply_layer`](crate::apply_layer) stopped.
///
/// What was applied before the error stays on disk; the caller discards the
/// half-applied layer directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The layer root could not be opened.
    #[error("open layer root {}: {source}", path.display())]
    Root {
        /// The root given by the caller.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The tar stream is truncated, has a bad header checksum, or could not
    /// be read.
    #[error("read layer tar: {0}")]
    Read(#[source] io::Error),
    /// An entry name leads outside the root (`../x`) or contains a NUL byte.
    #[error("entry {path:?}: path escapes the layer root")]
    Breakout {
        /// The entry name as found in the tar.
        path: String,
    },
    /// A hardlink whose target escapes the root, does not exist, or is a directory.
    #[error("entry {path:?}: invalid hardlink to {target:?}: {reason}")]
    InvalidHardlink {
        /// The entry name.
        path: String,
        /// The link target as found in the tar.
        target: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header field or entry that cannot be applied (bad mode, unknown type,
    /// whiteout of `..`, non-directory over the root, ...).
    #[error("entry {path:?}: {reason}")]
    InvalidEntry {
        /// The entry name.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A system call failed while applying an entry.
    #[error("entry {path:?}: {op}: {source}")]
    Io {
        /// The entry name.
        path: String,
        /// The operation that failed (`create file`, `chown`, ...).
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

impl ApplyError {
    /// Whether this is the input's fault or the host's. A failed read of the
    /// stream counts as invalid input: the caller reads a blob it verified.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApplyError::Root { .. } | ApplyError::Io { .. } => ErrorKind::Io,
            _ => ErrorKind::Invalid,
        }
    }
}

/// Why [`write_tar_from_dir`](crate::write_tar_from_dir) stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Reading the source tree failed at `path` (relative to the tree's root).
    #[error("{}: {op}: {source}", path.display())]
    Source {
        /// The path relative to the source directory (empty for the root).
        path: PathBuf,
        /// The operation that failed.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// A file changed type or size while it was being archived.
    #[error("{}: changed while being archived", path.display())]
    Changed {
        /// The path relative to the source directory.
        path: PathBuf,
    },
    /// Writing the tar stream failed.
    #[error("write tar stream: {0}")]
    Output(#[source] io::Error),
}

impl WriteError {
    /// Whether this is the input's fault or the host's (always the host's).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Io
    }
}

/// Attaches an operation name to a failed call, to be turned into an error
/// naming the entry by the caller.
#[derive(Debug)]
pub(crate) struct OpError {
    pub(crate) op: &'static str,
    pub(crate) source: io::Error,
}

/// `.op("chown")` on any result whose error converts into `io::Error`.
pub(crate) trait OpResult<T> {
    /// Names the failed operation.
    fn op(self, op: &'static str) -> Result<T, OpError>;
}

impl<T, E: Into<io::Error>> OpResult<T> for Result<T, E> {
    fn op(self, op: &'static str) -> Result<T, OpError> {
        self.map_err(|e| OpError { op, source: e.into() })
    }
}

impl OpError {
    /// Turns this into an [`ApplyError`] for entry `path`.
    pub(crate) fn at(self, path: &str) -> ApplyError {
        ApplyError::Io { path: path.to_owned(), op: self.op, source: self.source }
    }
}
