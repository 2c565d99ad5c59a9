//! Making an applied layer durable by syncing only what the application
//! wrote, never the whole filesystem (`syncfs` would also flush every other
//! process's dirty data, which on a busy host costs far more than the layer).
//!
//! * Each regular file starts writeback as its data is written
//!   ([`Durable::wrote`], every [`KICK_EVERY`] bytes and at its end), so the
//!   disk works while the tar is still being read.
//! * Every [`SYNC_EVERY`] bytes written, the file being written has its data
//!   flushed so far by a thread of its own ([`Durable::sync_behind`]) while
//!   the tar is still being read. Starting writeback does not make data
//!   durable: on a disk with a volatile cache (a virtual disk backed by the
//!   host's page cache) the flush at the first `fsync` costs time in
//!   proportion to all the data written (~0.25 s for 200 MB here, a third of a
//!   `load`); flushed as it goes, the last `fsync` finds little left to do.
//! * Written files are kept open in a bounded queue and `fsync`ed (data and
//!   the metadata set after it: mode, owner, xattrs, times) when the queue is
//!   full and at the end. On ext4 and XFS the first `fsync` commits the
//!   journal for all of them, and the writeback started earlier has usually
//!   written their data already, so the rest return at once.
//! * At the end every directory of the tree is `fsync`ed ([`sync_dirs`]), which
//!   makes the names of everything (files, links, devices, whiteouts) durable.
//!
//! The caller then publishes the tree (a rename) and syncs the directory the
//! rename happened in.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::stat::Mode;

use crate::resolve::DIR_READ;
use crate::sys;

/// Bytes of one file written between two writeback kicks.
pub(crate) const KICK_EVERY: u64 = 8 << 20;

/// Bytes written between two background data flushes.
pub(crate) const SYNC_EVERY: u64 = 32 << 20;

/// Files kept open until their `fsync`.
const QUEUE: usize = 256;

/// The files an application wrote and has not synced yet.
#[derive(Default)]
pub(crate) struct Durable {
    pending: Vec<File>,
    /// Files synced so far.
    pub(crate) files: u64,
    /// Bytes written since the last background flush was asked for.
    unflushed: u64,
    /// The background flusher, started by the first flush asked for.
    flusher: Option<Flusher>,
}

/// A thread flushing the data of the files it is sent; it stops at the first
/// error, which [`Durable::drain`] returns (a failed writeback is reported to
/// one `fsync` only, so it must not be dropped).
struct Flusher {
    tx: std::sync::mpsc::SyncSender<File>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Durable {
    /// Starts writeback of `len` bytes written at `offset` of `file`.
    pub(crate) fn kick(file: BorrowedFd<'_>, offset: u64, len: u64) {
        sys::start_writeback(file, offset, len);
    }

    /// `n` more bytes of `file` were written: every [`SYNC_EVERY`] bytes its
    /// data so far is flushed in the background, unless a flush is still
    /// running (the next one then covers more).
    pub(crate) fn wrote_bytes(&mut self, file: &File, n: u64) {
        self.unflushed += n;
        if self.unflushed < SYNC_EVERY {
            return;
        }
        self.unflushed = 0;
        if self.flusher.is_none() {
            let (tx, rx) = std::sync::mpsc::sync_channel::<File>(1);
            let spawned = std::thread::Builder::new().name("layer-flush".into()).spawn(move || -> io::Result<()> {
                while let Ok(f) = rx.recv() {
                    f.sync_data()?;
                }
                Ok(())
            });
            // Without a thread the final `fsync`s do all the work, as before.
            self.flusher = spawned.ok().map(|thread| Flusher { tx, thread });
        }
        if let (Some(flusher), Ok(dup)) = (&self.flusher, file.try_clone()) {
            let _ = flusher.tx.try_send(dup);
        }
    }

    /// `file` is complete (data and metadata): sync it now or later.
    pub(crate) fn wrote(&mut self, file: File) -> io::Result<()> {
        self.pending.push(file);
        if self.pending.len() >= QUEUE {
            self.drain()?;
        }
        Ok(())
    }

    /// Waits for the background flusher, then syncs every pending file.
    pub(crate) fn drain(&mut self) -> io::Result<()> {
        if let Some(Flusher { tx, thread }) = self.flusher.take() {
            drop(tx);
            thread.join().map_err(|_| io::Error::other("layer flush thread panicked"))??;
        }
        for f in self.pending.drain(..) {
            f.sync_all()?;
            self.files += 1;
        }
        Ok(())
    }
}

/// `fsync`s every directory of the tree under `root` (an fd opened with
/// `O_RDONLY | O_DIRECTORY`), deepest last; returns how many. Never follows a
/// symlink: subdirectories are found by `d_type` and opened `O_NOFOLLOW`.
pub(crate) fn sync_dirs(root: OwnedFd) -> io::Result<u64> {
    let mut stack = vec![root];
    let mut count = 0;
    while let Some(dir) = stack.pop() {
        for name in subdirs(dir.as_fd())? {
            let fd = sys::openat(dir.as_fd(), &name, DIR_READ | nix::fcntl::OFlag::O_NOFOLLOW, Mode::empty())?;
            stack.push(fd);
        }
        nix::unistd::fsync(dir.as_raw_fd())?;
        count += 1;
    }
    Ok(count)
}

/// The names of the subdirectories of `fd` (by `d_type`, `lstat` when unknown).
fn subdirs(fd: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    use nix::dir::Type;
    let dup = sys::openat(fd, b".", DIR_READ, Mode::empty())?;
    let mut dir = nix::dir::Dir::from(dup)?;
    let mut out = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            Some(Type::Directory) => true,
            Some(_) => false,
            None => crate::remove::lstat_at(fd, name)?.is_some_and(|st| crate::remove::is_dir(&st)),
        };
        if is_dir {
            out.push(name.to_vec());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn big_writes_are_flushed_behind_and_drain_waits_for_the_flusher() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut file = File::create(dir.path().join("f")).unwrap_or_else(|e| panic!("{e}"));
        let mut d = Durable::default();
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..(SYNC_EVERY >> 20) + 1 {
            file.write_all(&chunk).unwrap_or_else(|e| panic!("{e}"));
            d.wrote_bytes(&file, chunk.len() as u64);
        }
        assert!(d.flusher.is_some(), "no flush was started after {SYNC_EVERY} bytes");
        d.wrote(file).unwrap_or_else(|e| panic!("{e}"));
        d.drain().unwrap_or_else(|e| panic!("{e}"));
        assert!(d.flusher.is_none());
        assert_eq!(d.files, 1);
    }
}
