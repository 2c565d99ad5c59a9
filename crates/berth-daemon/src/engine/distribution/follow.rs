//! A download's temp file, read while it is still being written, so a layer is unpacked as its
//! bytes arrive instead of after the whole blob is on disk.
//!
//! The download's writer publishes how many bytes are in the file ([`Feed::advance`]) and, at
//! the end, whether the blob matched its digest and size ([`Feed::finish`]). A [`Follower`]
//! reads up to what is published and waits for more; it reports end-of-file only once the
//! writer has verified the whole blob, and an error when the blob failed verification or the
//! download stopped. So the layer store, which renames an unpacked layer into place only after
//! reading its stream to the end and checking the diff id, never registers a layer whose
//! compressed blob did not verify. A dropped connection resumed with `Range` just appends to
//! the file; a registry that restarts the blob from byte 0 invalidates what a follower already
//! read ([`Follower`] then fails and the caller unpacks again from the finished file).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The error text a follower reports after the download restarted from byte 0.
pub const RESTARTED: &str = "the blob download restarted from the beginning";

#[derive(Default)]
struct State {
    /// Bytes of the current generation in the file.
    written: u64,
    /// Times the download restarted from byte 0.
    generation: u32,
    /// Set by the writer when it is done: `Ok` only for a verified blob.
    end: Option<Result<(), String>>,
}

/// What the writer of one download publishes to its followers.
#[derive(Default)]
pub struct Feed {
    state: Mutex<State>,
    cond: Condvar,
}

impl Feed {
    /// A feed with nothing written yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first `written` bytes of the file are in place (written, not necessarily synced).
    pub fn advance(&self, written: u64) {
        self.lock().written = written;
        self.cond.notify_all();
    }

    /// The file was truncated: the download starts over.
    pub fn restart(&self) {
        let mut s = self.lock();
        s.written = 0;
        s.generation += 1;
        self.cond.notify_all();
    }

    /// The writer is done; `Ok` means the blob verified. The first call wins.
    pub fn finish(&self, result: Result<(), String>) {
        let mut s = self.lock();
        if s.end.is_none() {
            s.end = Some(result);
        }
        self.cond.notify_all();
    }

    /// Whether the download restarted from byte 0 at least once.
    pub fn restarted(&self) -> bool {
        self.lock().generation > 0
    }

    /// Whether the writer finished with a failure.
    pub fn failed(&self) -> bool {
        matches!(self.lock().end, Some(Err(_)))
    }

    /// A reader of the file at `path` (opened when the first byte is there).
    pub fn follow(self: &Arc<Self>, path: PathBuf) -> Follower {
        Follower { feed: self.clone(), path, file: None, pos: 0, generation: 0 }
    }
}

/// Marks the feed failed if the download ends without finishing it (cancelled, panicked,
/// aborted before it started), so no follower waits forever.
pub struct FinishOnDrop(pub Arc<Feed>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish(Err("the blob download stopped".into()));
    }
}

/// Reads a download's file as it grows (blocking).
pub struct Follower {
    feed: Arc<Feed>,
    path: PathBuf,
    file: Option<File>,
    pos: u64,
    generation: u32,
}

impl Read for Follower {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut s = self.feed.lock();
        loop {
            if s.generation != self.generation {
                if self.pos > 0 {
                    return Err(std::io::Error::other(RESTARTED));
                }
                self.generation = s.generation;
            }
            if s.written > self.pos {
                let avail = (s.written - self.pos).min(buf.len() as u64) as usize;
                drop(s);
                if self.file.is_none() {
                    self.file = Some(File::open(&self.path)?);
                }
                let file = self.file.as_ref().ok_or_else(|| std::io::Error::other("blob file not open"))?;
                let n = file.read_at(&mut buf[..avail], self.pos)?;
                if n == 0 {
                    return Err(std::io::Error::other("blob file shorter than written"));
                }
                self.pos += n as u64;
                return Ok(n);
            }
            match &s.end {
                Some(Ok(())) => return Ok(0),
                Some(Err(m)) => return Err(std::io::Error::other(m.clone())),
                None => s = self.feed.cond.wait(s).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("blob");
        (dir, path)
    }

    #[test]
    fn follower_reads_as_the_writer_appends_and_ends_only_when_verified() {
        let (_dir, path) = temp();
        let feed = Feed::new();
        let mut reader = feed.follow(path.clone());
        let writer = {
            let (feed, path) = (feed.clone(), path.clone());
            std::thread::spawn(move || {
                let mut f = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
                let mut n = 0;
                for chunk in [&b"hello "[..], b"streaming ", b"world"] {
                    f.write_all(chunk).unwrap_or_else(|e| panic!("{e}"));
                    n += chunk.len() as u64;
                    feed.advance(n);
                }
                feed.finish(Ok(()));
            })
        };
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap_or_else(|e| panic!("{e}"));
        writer.join().unwrap_or_else(|_| panic!("writer panicked"));
        assert_eq!(out, "hello streaming world");
    }

    #[test]
    fn follower_fails_when_the_blob_does_not_verify() {
        let (_dir, path) = temp();
        std::fs::write(&path, b"bad bytes").unwrap_or_else(|e| panic!("{e}"));
        let feed = Feed::new();
        feed.advance(9);
        feed.finish(Err("filesystem layer verification failed".into()));
        let mut out = Vec::new();
        let err = feed.follow(path).read_to_end(&mut out).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("filesystem layer verification failed"));
        assert_eq!(out, b"bad bytes");
    }

    #[test]
    fn follower_fails_after_a_restart_it_cannot_follow_and_the_guard_unblocks_it() {
        let (_dir, path) = temp();
        std::fs::write(&path, b"abcdef").unwrap_or_else(|e| panic!("{e}"));
        let feed = Feed::new();
        feed.advance(3);
        let mut reader = feed.follow(path.clone());
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf).unwrap_or_else(|e| panic!("{e}")), 3);
        feed.restart();
        assert_eq!(reader.read(&mut buf).err().map(|e| e.to_string()).as_deref(), Some(RESTARTED));
        assert!(feed.restarted());
        // A follower that had read nothing just starts over with the new generation.
        let mut fresh = feed.follow(path);
        drop(FinishOnDrop(feed.clone()));
        assert!(fresh.read(&mut buf).is_err());
        assert!(feed.failed());
    }
}
