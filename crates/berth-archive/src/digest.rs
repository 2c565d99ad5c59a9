//! sha256 while streaming: the image store computes diff IDs (the digest of
//! the uncompressed layer tar) while the same bytes are applied or written,
//! instead of reading every layer twice.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

/// Formats a finished hash as `sha256:<hex>`.
fn format(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A reader that hashes and counts every byte read through it.
///
/// Pair it with [`apply_layer`](crate::apply_layer), which reads its input to
/// the end, to get the diff ID of the applied layer.
#[derive(Debug)]
pub struct DigestReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> DigestReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        DigestReader { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// `sha256:<hex>` of the bytes read so far.
    pub fn digest(&self) -> String {
        format(self.hasher.clone())
    }

    /// How many bytes were read so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    /// The wrapped reader, the digest and the byte count.
    pub fn finish(self) -> (R, String, u64) {
        (self.inner, format(self.hasher), self.bytes)
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts every byte written through it.
///
/// Pair it with [`write_tar_from_dir`](crate::write_tar_from_dir) to get the
/// diff ID of a committed layer while it is written.
#[derive(Debug)]
pub struct DigestWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> DigestWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        DigestWriter { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// `sha256:<hex>` of the bytes written so far.
    pub fn digest(&self) -> String {
        format(self.hasher.clone())
    }

    /// How many bytes were written so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    /// The wrapped writer, the digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, format(self.hasher), self.bytes)
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn reader_hashes_what_it_reads() {
        let mut r = DigestReader::new(&b"abc"[..]);
        assert_eq!(r.digest(), EMPTY);
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        assert_eq!(out, b"abc");
        assert_eq!(r.byte_count(), 3);
        let (_, digest, n) = r.finish();
        assert_eq!((digest.as_str(), n), (ABC, 3));
    }

    #[test]
    fn writer_hashes_what_it_writes() {
        let mut w = DigestWriter::new(Vec::new());
        w.write_all(b"ab").expect("write");
        w.write_all(b"c").expect("write");
        assert_eq!(w.digest(), ABC);
        let (inner, digest, n) = w.finish();
        assert_eq!((inner.as_slice(), digest.as_str(), n), (&b"abc"[..], ABC, 3));
    }
}
