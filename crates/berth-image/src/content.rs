//! The content store: every blob (manifest, config, layer) under `content/sha256/<hex>`, written
//! to a temp file, fsynced, verified against its digest and renamed into place. A blob that is
//! visible is always complete and correct.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingReader};
use crate::error::ImageError;

/// Blobs by digest.
#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
    tmp: PathBuf,
}

/// A blob being written; becomes visible only through [`BlobWriter::commit`].
pub struct BlobWriter {
    file: File,
    path: PathBuf,
    /// `None` when the caller learns the digest elsewhere ([`ContentStore::writer_trusting`]).
    hasher: Option<sha2::Sha256>,
    size: u64,
    store: ContentStore,
}

impl ContentStore {
    /// Opens (creating) the store under `root`.
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        let dir = root.join("content").join("sha256");
        let tmp = root.join("tmp");
        for d in [&dir, &tmp] {
            std::fs::create_dir_all(d).map_err(|e| ImageError::io(d, e))?;
        }
        Ok(Self { dir, tmp })
    }

    /// Where blob `d` lives.
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    /// Whether blob `d` is present.
    pub fn contains(&self, d: &Digest) -> bool {
        self.path(d).exists()
    }

    /// Opens blob `d` for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File, ImageError> {
        let p = self.path(d);
        File::open(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ImageError::NotFound(format!("blob {d}")),
            _ => ImageError::io(&p, e),
        })
    }

    /// Reads a whole (small) blob.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, ImageError> {
        let mut buf = Vec::new();
        self.open_blob(d)?.read_to_end(&mut buf).map_err(|e| ImageError::io(&self.path(d), e))?;
        Ok(buf)
    }

    /// Stores `data`, returning its digest.
    pub fn put(&self, data: &[u8]) -> Result<Digest, ImageError> {
        let mut w = self.writer()?;
        w.write_all(data).map_err(|e| ImageError::io(&self.dir, e))?;
        w.commit(None)
    }

    /// Stores what `reader` yields; when `expected` is given, a mismatch is an error and nothing
    /// is stored.
    pub fn put_reader(&self, reader: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64), ImageError> {
        let mut w = self.writer()?;
        let mut r = HashingReader::new(reader);
        std::io::copy(&mut r, &mut w).map_err(|e| ImageError::io(&self.dir, e))?;
        let size = w.size;
        let d = w.commit(expected)?;
        Ok((d, size))
    }

    /// Starts writing a blob whose digest is learned as it is written.
    pub fn writer(&self) -> Result<BlobWriter, ImageError> {
        let path = self.tmp.join(format!("blob-{}", crate::random_hex(8)));
        let file = File::create(&path).map_err(|e| ImageError::io(&path, e))?;
        Ok(BlobWriter { file, path, hasher: Some(<sha2::Sha256 as sha2::Digest>::new()), size: 0, store: self.clone() })
    }

    /// Starts writing a blob whose digest the caller computes from the same bytes (a layer
    /// hashed once for its diff id while it is unpacked); commit it with
    /// [`BlobWriter::commit_as`].
    pub fn writer_trusting(&self) -> Result<BlobWriter, ImageError> {
        let mut w = self.writer()?;
        w.hasher = None;
        Ok(w)
    }

    /// Deletes blob `d` (missing is fine).
    pub fn remove(&self, d: &Digest) {
        let _ = std::fs::remove_file(self.path(d));
    }

    /// Makes the renames into the store durable (an `fsync` of its dir), before anything
    /// that refers to the new blobs is recorded.
    pub fn sync_dir(&self) -> Result<(), ImageError> {
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| ImageError::io(&self.dir, e))
    }

    /// A fresh temp path under the store's tmp dir (same filesystem, so renames are atomic).
    pub fn temp_path(&self, prefix: &str) -> PathBuf {
        self.tmp.join(format!("{prefix}-{}", crate::random_hex(8)))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(h) = &mut self.hasher {
            sha2::Digest::update(h, &buf[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Verifies, fsyncs and renames the blob into place.
    pub fn commit(self, expected: Option<&Digest>) -> Result<Digest, ImageError> {
        let Some(hasher) = self.hasher.clone() else {
            return Err(ImageError::Invalid("a trusting blob writer must be committed with commit_as".into()));
        };
        let d = Digest::from_hasher(hasher);
        self.finish(d, expected)
    }

    /// fsyncs and renames the blob into place as `digest`, which the caller computed from the
    /// very bytes written (a hashing writer still checks it).
    pub fn commit_as(self, digest: &Digest) -> Result<Digest, ImageError> {
        match self.hasher.clone() {
            Some(h) => {
                let d = Digest::from_hasher(h);
                self.finish(d, Some(digest))
            }
            None => self.finish(digest.clone(), None),
        }
    }

    fn finish(self, d: Digest, expected: Option<&Digest>) -> Result<Digest, ImageError> {
        if let Some(want) = expected {
            if *want != d {
                let _ = std::fs::remove_file(&self.path);
                return Err(ImageError::DigestMismatch { expected: want.to_string(), actual: d.to_string() });
            }
        }
        self.file.sync_all().map_err(|e| ImageError::io(&self.path, e))?;
        let dest = self.store.path(&d);
        std::fs::rename(&self.path, &dest).map_err(|e| ImageError::io(&dest, e))?;
        self.store.sync_dir()?;
        Ok(d)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful commit the temp path no longer exists; otherwise clean up.
        let _ = std::fs::remove_file(&self.path);
    }
}
