//! On-disk storage: one root directory, content-addressed blobs and per-repository links.
//!
//! The layout is documented on [`Storage`].
//!
//! Invariants: a file under `blobs/` is complete and its name is the sha256 of its bytes,
//! because it only ever appears there by `rename` of a synced, verified file. Manifests are
//! blobs too; a repository sees a blob only through one of its own links. Every other write is
//! temp file + fsync + rename + fsync of the directory, so a crash leaves old or new, never half.

mod blobs;
mod fsutil;
mod manifests;
mod repos;
mod tags;
mod uploads;

use std::io;
use std::path::{Path, PathBuf};

pub use uploads::UploadId;

use crate::digest::Digest;
use crate::names::{RepoName, Tag};

/// The on-disk format this code reads and writes.
const FORMAT_VERSION: &str = "1";
const FORMAT_FILE: &str = "berth-registry-format";

/// A storage failure, naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `rename`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file exists but does not hold what the layout says it should.
    #[error("corrupt {path}: {reason}")]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The root was written by an incompatible version of this code.
    #[error("storage root {path} has format {found:?}, this registry reads format {FORMAT_VERSION}")]
    Format {
        /// The format marker file.
        path: PathBuf,
        /// The version found there.
        found: String,
    },
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io { op, path: path.to_owned(), source }
    }

    /// True when the failure is a missing file, which callers usually turn into "unknown".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Result alias for storage calls.
pub type StorageResult<T> = Result<T, StorageError>;

/// The registry's storage root. Cheap to clone; every method is blocking file I/O and is meant
/// to run on a blocking thread (`spawn_blocking`) or in a synchronous tool such as `gc`.
///
/// Layout (format version 1, recorded in `berth-registry-format`):
///
/// ```text
/// <root>/
///   berth-registry-format                          "1"
///   blobs/sha256/<hex>                             blob bytes, global and content-addressed
///   repositories/<name>/_layers/<hex>              "sha256:<hex>": the blob is in this repo
///   repositories/<name>/_manifests/revisions/<hex> the manifest's media type
///   repositories/<name>/_manifests/tags/<tag>/current   "sha256:<hex>"
///   repositories/<name>/_referrers/<subject>/<hex> referrer descriptor (JSON)
///   uploads/<uuid>/{data,startedat,repository}     upload sessions in progress
///   tmp/                                           temporary files of atomic writes
/// ```
///
/// A root of another format version is refused at open rather than misread.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

impl Storage {
    /// Opens (creating if needed) a storage root and checks its format marker.
    pub fn open(root: &Path) -> StorageResult<Self> {
        let storage = Self { root: root.to_owned() };
        for dir in [storage.blobs_dir(), storage.repositories_dir(), storage.uploads_dir(), storage.tmp_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io("create", &dir, e))?;
        }
        storage.check_format()?;
        Ok(storage)
    }

    /// Opens an existing root without creating anything (for `gc`).
    pub fn open_existing(root: &Path) -> StorageResult<Self> {
        let storage = Self { root: root.to_owned() };
        std::fs::metadata(storage.repositories_dir()).map_err(|e| StorageError::io("stat", &storage.repositories_dir(), e))?;
        storage.check_format()?;
        Ok(storage)
    }

    fn check_format(&self) -> StorageResult<()> {
        let path = self.root.join(FORMAT_FILE);
        match fsutil::read_small(&path, 64)? {
            Some(bytes) => {
                let found = String::from_utf8_lossy(&bytes).trim().to_owned();
                if found == FORMAT_VERSION {
                    Ok(())
                } else {
                    Err(StorageError::Format { path, found })
                }
            }
            None => fsutil::write_atomic(&self.tmp_dir(), &path, FORMAT_VERSION.as_bytes()),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    fn repositories_dir(&self) -> PathBuf {
        self.root.join("repositories")
    }

    fn repo_dir(&self, name: &RepoName) -> PathBuf {
        self.repositories_dir().join(name.as_str())
    }

    fn layer_link(&self, name: &RepoName, digest: &Digest) -> PathBuf {
        self.repo_dir(name).join("_layers").join(digest.hex())
    }

    fn revisions_dir(&self, name: &RepoName) -> PathBuf {
        self.repo_dir(name).join("_manifests").join("revisions")
    }

    fn tags_dir(&self, name: &RepoName) -> PathBuf {
        self.repo_dir(name).join("_manifests").join("tags")
    }

    fn tag_current(&self, name: &RepoName, tag: &Tag) -> PathBuf {
        self.tags_dir(name).join(tag.as_str()).join("current")
    }

    fn referrers_dir(&self, name: &RepoName, subject: &Digest) -> PathBuf {
        self.repo_dir(name).join("_referrers").join(subject.hex())
    }

    fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

/// Reads a `sha256:<hex>` link file; `None` when it does not exist.
fn read_digest_file(path: &Path) -> StorageResult<Option<Digest>> {
    let Some(bytes) = fsutil::read_small(path, 256)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    text.trim().parse().map(Some).map_err(|e| StorageError::Corrupt { path: path.to_owned(), reason: format!("{e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_writes_format_and_refuses_other_versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        Storage::open(dir.path()).expect("open");
        Storage::open(dir.path()).expect("reopen");
        std::fs::write(dir.path().join(FORMAT_FILE), "99").expect("write");
        assert!(matches!(Storage::open(dir.path()), Err(StorageError::Format { .. })));
    }

    #[test]
    fn open_existing_refuses_missing_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Storage::open_existing(&dir.path().join("nope")).expect_err("missing");
        assert!(err.is_not_found());
    }
}
