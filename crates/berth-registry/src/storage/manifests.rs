//! Manifest revisions of a repository and the referrers index built from their `subject`s.
//!
//! The manifest bytes live in the blob store (so their digest is their file name); a revision
//! file records that the repository holds the manifest and the media type it was pushed with.

use super::fsutil;
use super::{Storage, StorageResult};
use crate::digest::Digest;
use crate::names::RepoName;

/// Longest media type accepted in a revision file.
const MAX_MEDIA_TYPE: u64 = 1024;
/// Longest referrer descriptor kept in the index.
const MAX_DESCRIPTOR: u64 = 1 << 20;

impl Storage {
    /// Records that `name` holds manifest `digest` (already in the blob store) of `media_type`.
    pub(crate) fn put_revision(&self, name: &RepoName, digest: &Digest, media_type: &str) -> StorageResult<()> {
        let path = self.revisions_dir(name).join(digest.hex());
        fsutil::write_atomic(&self.tmp_dir(), &path, media_type.as_bytes())
    }

    /// The media type of a manifest held by `name`; `None` when the repository lacks it.
    pub fn revision_media_type(&self, name: &RepoName, digest: &Digest) -> StorageResult<Option<String>> {
        let path = self.revisions_dir(name).join(digest.hex());
        let bytes = fsutil::read_small(&path, MAX_MEDIA_TYPE)?;
        Ok(bytes.map(|b| String::from_utf8_lossy(&b).trim().to_owned()))
    }

    /// Forgets a manifest revision; returns whether the repository had it.
    pub(crate) fn delete_revision(&self, name: &RepoName, digest: &Digest) -> StorageResult<bool> {
        fsutil::remove_file(&self.revisions_dir(name).join(digest.hex()))
    }

    /// Every manifest digest the repository holds, for `gc`.
    pub(crate) fn list_revisions(&self, name: &RepoName) -> StorageResult<Vec<Digest>> {
        let names = fsutil::list_dir(&self.revisions_dir(name))?;
        Ok(names.iter().filter_map(|n| Digest::from_hex(n).ok()).collect())
    }

    /// Adds `digest` to the referrers of `subject`, with the descriptor the referrers API serves.
    pub(crate) fn put_referrer(&self, name: &RepoName, subject: &Digest, digest: &Digest, descriptor: &[u8]) -> StorageResult<()> {
        let path = self.referrers_dir(name, subject).join(digest.hex());
        fsutil::write_atomic(&self.tmp_dir(), &path, descriptor)
    }

    /// Removes `digest` from the referrers of `subject`.
    pub(crate) fn delete_referrer(&self, name: &RepoName, subject: &Digest, digest: &Digest) -> StorageResult<()> {
        let dir = self.referrers_dir(name, subject);
        fsutil::remove_file(&dir.join(digest.hex()))?;
        // Drop the directory once empty; losing a race with a concurrent put is harmless
        // because `remove_dir` refuses non-empty directories.
        let _ = std::fs::remove_dir(&dir);
        Ok(())
    }

    /// The stored descriptors of every manifest in `name` whose subject is `subject`, by digest.
    pub(crate) fn list_referrers(&self, name: &RepoName, subject: &Digest) -> StorageResult<Vec<Vec<u8>>> {
        let dir = self.referrers_dir(name, subject);
        let mut names = fsutil::list_dir(&dir)?;
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for n in names.iter().filter(|n| Digest::from_hex(n).is_ok()) {
            let path = dir.join(n);
            if let Some(bytes) = fsutil::read_small(&path, MAX_DESCRIPTOR)? {
                out.push(bytes);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_and_referrers_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(dir.path()).expect("open");
        let name = RepoName::parse("r").expect("name");
        let m = s.put_blob_bytes(b"{}").expect("put");
        s.put_revision(&name, &m, "application/vnd.oci.image.manifest.v1+json").expect("rev");
        assert_eq!(s.revision_media_type(&name, &m).expect("read").as_deref(), Some("application/vnd.oci.image.manifest.v1+json"));
        assert_eq!(s.list_revisions(&name).expect("list"), vec![m.clone()]);
        let subject = Digest::of_bytes(b"subject");
        s.put_referrer(&name, &subject, &m, b"{\"d\":1}").expect("ref");
        assert_eq!(s.list_referrers(&name, &subject).expect("list").len(), 1);
        s.delete_referrer(&name, &subject, &m).expect("del");
        assert!(s.list_referrers(&name, &subject).expect("list").is_empty());
        assert!(s.delete_revision(&name, &m).expect("del"));
        assert!(s.revision_media_type(&name, &m).expect("read").is_none());
    }
}
