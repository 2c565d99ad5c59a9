//! The global blob store and the per-repository links that make a blob visible in a repository.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::fsutil;
use super::{Storage, StorageError, StorageResult};
use crate::digest::Digest;
use crate::names::RepoName;

impl Storage {
    /// The size of a stored blob, or `None` when the store does not hold it.
    pub fn blob_size(&self, digest: &Digest) -> StorageResult<Option<u64>> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io("stat", &path, e)),
        }
    }

    /// Opens a stored blob for reading, with its size; `None` when absent.
    pub fn open_blob(&self, digest: &Digest) -> StorageResult<Option<(File, u64)>> {
        let path = self.blob_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io("open", &path, e)),
        };
        let len = file.metadata().map_err(|e| StorageError::io("stat", &path, e))?.len();
        Ok(Some((file, len)))
    }

    /// Reads a small blob (a manifest or config) whole; `None` when absent.
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> StorageResult<Option<Vec<u8>>> {
        fsutil::read_small(&self.blob_path(digest), limit)
    }

    /// Makes a verified, synced file the blob `digest` by renaming it into the store.
    ///
    /// The caller must have computed `digest` from the file's bytes and fsynced it. If the blob
    /// already exists (another upload of the same content won) the file is simply discarded.
    pub(crate) fn commit_blob_file(&self, verified: &Path, digest: &Digest) -> StorageResult<()> {
        if self.blob_size(digest)?.is_some() {
            fsutil::remove_file(verified)?;
            return Ok(());
        }
        fsutil::rename_durable(verified, &self.blob_path(digest))
    }

    /// Stores small bytes (a manifest) as a blob, computing the digest itself.
    pub(crate) fn put_blob_bytes(&self, bytes: &[u8]) -> StorageResult<Digest> {
        let digest = Digest::of_bytes(bytes);
        if self.blob_size(&digest)?.is_none() {
            fsutil::write_atomic(&self.tmp_dir(), &self.blob_path(&digest), bytes)?;
        }
        Ok(digest)
    }

    /// Records that `name` holds the blob, so it can be pulled from that repository.
    pub fn link_blob(&self, name: &RepoName, digest: &Digest) -> StorageResult<()> {
        let link = self.layer_link(name, digest);
        if link.exists() {
            return Ok(());
        }
        fsutil::write_atomic(&self.tmp_dir(), &link, digest.to_string().as_bytes())
    }

    /// Removes the repository's link to a blob; returns whether there was one. The bytes stay
    /// in the store until `gc`, since other repositories may link them too.
    pub fn unlink_blob(&self, name: &RepoName, digest: &Digest) -> StorageResult<bool> {
        fsutil::remove_file(&self.layer_link(name, digest))
    }

    /// True when the repository may serve this blob: it was pushed or mounted there, or it is
    /// one of the repository's manifests.
    pub fn blob_visible(&self, name: &RepoName, digest: &Digest) -> bool {
        self.layer_link(name, digest).is_file() || self.revisions_dir(name).join(digest.hex()).is_file()
    }

    /// The digests of every blob in the store, for `gc`.
    pub(crate) fn all_blobs(&self) -> StorageResult<Vec<Digest>> {
        let names = fsutil::list_dir(&self.blobs_dir())?;
        Ok(names.iter().filter_map(|n| Digest::from_hex(n).ok()).collect())
    }

    /// Deletes blob bytes from the store (only `gc` does this); returns the bytes freed.
    pub(crate) fn delete_blob(&self, digest: &Digest) -> StorageResult<u64> {
        let size = self.blob_size(digest)?.unwrap_or(0);
        fsutil::remove_file(&self.blob_path(digest))?;
        Ok(size)
    }

    /// The blob digests linked into a repository, for `gc` to drop dangling links.
    pub(crate) fn linked_blobs(&self, name: &RepoName) -> StorageResult<Vec<Digest>> {
        let dir = self.repo_dir(name).join("_layers");
        let names = fsutil::list_dir(&dir)?;
        Ok(names.iter().filter_map(|n| Digest::from_hex(n).ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_then_link_makes_blob_visible_in_that_repo_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(dir.path()).expect("open");
        let data = dir.path().join("tmp/x");
        fs::write(&data, b"hello").expect("write");
        let d = Digest::of_bytes(b"hello");
        s.commit_blob_file(&data, &d).expect("commit");
        let a = RepoName::parse("a").expect("name");
        let b = RepoName::parse("b").expect("name");
        s.link_blob(&a, &d).expect("link");
        assert!(s.blob_visible(&a, &d));
        assert!(!s.blob_visible(&b, &d));
        assert_eq!(s.blob_size(&d).expect("size"), Some(5));
        assert!(s.unlink_blob(&a, &d).expect("unlink"));
        assert!(!s.blob_visible(&a, &d));
    }

    #[test]
    fn committing_an_existing_blob_discards_the_duplicate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(dir.path()).expect("open");
        let d = s.put_blob_bytes(b"same").expect("put");
        let dup = dir.path().join("tmp/dup");
        fs::write(&dup, b"same").expect("write");
        s.commit_blob_file(&dup, &d).expect("commit");
        assert!(!dup.exists());
        assert_eq!(s.read_blob(&d, 10).expect("read").as_deref(), Some(&b"same"[..]));
    }
}
