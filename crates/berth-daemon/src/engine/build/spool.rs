//! The build context tar as received, kept whole so that nothing has to be unpacked before
//! the cache is asked: in memory up to [`MEM_LIMIT`], in a file of the workspace past that.
//! Files are read back by their data's offset in the tar (see [`super::index`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Contexts up to this size stay in memory; larger ones spill to a file.
const MEM_LIMIT: u64 = 128 << 20;
/// Size of one in-memory chunk.
const CHUNK: usize = 1 << 20;

/// Append-only storage of the context tar.
pub struct Spool {
    chunks: Vec<Vec<u8>>,
    file: Option<File>,
    path: PathBuf,
    len: u64,
}

impl Spool {
    /// An empty spool that spills to `path` when it grows past the memory limit.
    pub fn new(path: PathBuf) -> Self {
        Self { chunks: Vec::new(), file: None, path, len: 0 }
    }

    /// Appends `data`.
    pub fn append(&mut self, mut data: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.len + data.len() as u64 > MEM_LIMIT {
            let mut f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&self.path)?;
            for c in std::mem::take(&mut self.chunks) {
                f.write_all(&c)?;
                pool::give(c);
            }
            self.file = Some(f);
        }
        self.len += data.len() as u64;
        if let Some(f) = &mut self.file {
            return f.write_all(data);
        }
        while !data.is_empty() {
            if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                self.chunks.push(pool::take());
            }
            let Some(last) = self.chunks.last_mut() else {
                break;
            };
            let n = (CHUNK - last.len()).min(data.len());
            last.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        Ok(())
    }

    /// A reader of `len` bytes from `offset` (clamped to what is stored).
    pub fn range(&self, offset: u64, len: u64) -> SpoolReader<'_> {
        let end = offset.saturating_add(len).min(self.len);
        SpoolReader { spool: self, at: offset.min(end), end }
    }

    /// A reader of everything stored.
    pub fn all(&self) -> SpoolReader<'_> {
        self.range(0, self.len)
    }

    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize> {
        if let Some(f) = &self.file {
            return f.read_at(buf, at);
        }
        let chunk = usize::try_from(at / CHUNK as u64).unwrap_or(usize::MAX);
        let within = (at % CHUNK as u64) as usize;
        let Some(c) = self.chunks.get(chunk) else {
            return Ok(0);
        };
        let n = buf.len().min(c.len().saturating_sub(within));
        buf[..n].copy_from_slice(&c[within..within + n]);
        Ok(n)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        for c in self.chunks.drain(..) {
            pool::give(c);
        }
    }
}

/// Spool chunks of finished builds, kept for the next build: a context of tens of MB then
/// lands in memory that is already mapped, instead of faulting in (and later unmapping)
/// fresh pages each time, which cost more than hashing it. Chunks unused for
/// [`pool::KEEP`] are freed, so an idle daemon holds none.
mod pool {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::{CHUNK, MEM_LIMIT};

    /// How long unused chunks are kept.
    pub const KEEP: Duration = Duration::from_secs(20);
    /// At most this many chunks are kept (one spool's worth).
    const MAX: usize = (MEM_LIMIT / CHUNK as u64) as usize;

    struct Pool {
        chunks: Vec<Vec<u8>>,
        used: Option<Instant>,
        reaper: bool,
    }

    static POOL: Mutex<Pool> = Mutex::new(Pool { chunks: Vec::new(), used: None, reaper: false });

    fn lock() -> std::sync::MutexGuard<'static, Pool> {
        POOL.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An empty chunk with room for [`CHUNK`] bytes.
    pub fn take() -> Vec<u8> {
        let mut pool = lock();
        pool.used = Some(Instant::now());
        pool.chunks.pop().unwrap_or_else(|| Vec::with_capacity(CHUNK))
    }

    /// Returns a chunk for reuse.
    pub fn give(mut chunk: Vec<u8>) {
        if chunk.capacity() != CHUNK {
            return;
        }
        chunk.clear();
        let mut pool = lock();
        pool.used = Some(Instant::now());
        if pool.chunks.len() < MAX {
            pool.chunks.push(chunk);
        }
        if !pool.reaper {
            pool.reaper = true;
            let spawned = std::thread::Builder::new().name("spool-reaper".into()).spawn(reap);
            if spawned.is_err() {
                pool.reaper = false;
                pool.chunks.clear();
            }
        }
    }

    /// Frees the kept chunks once unused for [`KEEP`], then ends.
    fn reap() {
        loop {
            std::thread::sleep(KEEP / 4);
            let mut pool = lock();
            if pool.used.is_some_and(|t| t.elapsed() < KEEP) {
                continue;
            }
            let chunks = std::mem::take(&mut pool.chunks);
            pool.reaper = false;
            drop(pool);
            drop(chunks);
            return;
        }
    }

    #[cfg(test)]
    pub fn kept() -> usize {
        lock().chunks.len()
    }
}

/// Reads a range of a [`Spool`].
pub struct SpoolReader<'a> {
    spool: &'a Spool,
    at: u64,
    end: u64,
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.end - self.at).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self.spool.read_at(&mut buf[..want], self.at)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "build context spool ended early"));
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// A reader that appends everything read through it to a spool.
pub struct Recorder<'a, R> {
    /// The stream being recorded.
    pub inner: R,
    /// Where it goes.
    pub spool: &'a mut Spool,
}

impl<R: Read> Read for Recorder<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.spool.append(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_back_across_chunks() {
        let dir = std::env::temp_dir().join(format!("berth-spool-{}", std::process::id()));
        let mut s = Spool::new(dir);
        let data: Vec<u8> = (0..(CHUNK * 2 + 100)).map(|i| (i % 251) as u8).collect();
        for part in data.chunks(7777) {
            s.append(part).unwrap_or_default();
        }
        assert_eq!(s.len, data.len() as u64);
        let mut out = Vec::new();
        s.range(CHUNK as u64 - 10, 30).read_to_end(&mut out).unwrap_or_default();
        assert_eq!(out, &data[CHUNK - 10..CHUNK + 20]);
        out.clear();
        s.all().read_to_end(&mut out).unwrap_or_default();
        assert_eq!(out, data);
        // Its chunks go back to the pool, and the next spool reuses them.
        drop(s);
        assert!(pool::kept() >= 3);
        let mut again = Spool::new(std::env::temp_dir().join("unused"));
        again.append(b"x").unwrap_or_default();
        let mut one = Vec::new();
        again.all().read_to_end(&mut one).unwrap_or_default();
        assert_eq!(one, b"x");
    }
}
