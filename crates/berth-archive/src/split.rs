//! Split records: what it takes to rebuild a layer tar byte for byte from its
//! unpacked tree, so the store need not keep the tar itself.
//!
//! While a layer is applied, every byte of the stream that is not the data of
//! a regular file (headers, extension records, padding, the end-of-archive
//! blocks and anything after them) is recorded as is, and the data of each
//! regular file is recorded as a reference to the path it was written to.
//! [`rebuild_tar`] replays the record, reading file data from the tree.
//!
//! When the layer later replaces or removes a file it wrote itself (a path
//! given twice, a directory replaced, AUFS hardlink dirs), that file is first
//! hardlinked into a stash directory (outside the tree, same filesystem) as
//! `<n>`, `n` being the number of its file record, and rebuilding reads it
//! from there. Without a stash directory such a record is not exact:
//! [`ApplyReport::split_exact`](crate::ApplyReport) says whether it is, and a
//! caller must keep the tar itself when it is not. Callers should still check
//! the rebuilt stream against its known digest.
//!
//! # Format (version 1)
//! The magic line `berth-tar-split 1\n`, then records, each a tag byte:
//! `1` raw bytes (`u32` LE length, bytes); `2` file data (`u64` LE size,
//! `u32` LE path length, the path relative to the root, resolved inside it);
//! `0` end (`u64` LE length of the whole stream). Nothing follows the end.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;

use crate::resolve::{Root, DIR_READ};
use crate::sys;

const MAGIC: &[u8] = b"berth-tar-split 1\n";
const TAG_END: u8 = 0;
const TAG_RAW: u8 = 1;
const TAG_FILE: u8 = 2;
/// Raw bytes buffered before a record is written.
const RAW_CHUNK: usize = 1 << 20;
/// Bound for what a (possibly damaged) record may ask for.
const MAX_PATH: u32 = 1 << 16;

/// Why [`rebuild_tar`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// The split record is malformed or truncated.
    #[error("bad split record: {0}")]
    Record(String),
    /// A file the record names is missing, is not a regular file, or does not
    /// have the recorded size.
    #[error("{}: {reason}", path.display())]
    Changed {
        /// The path inside the root.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading the record or the tree failed.
    #[error("read {}: {source}", path.display())]
    Read {
        /// The path inside the root (empty for the record).
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("write rebuilt tar: {0}")]
    Output(#[source] io::Error),
}

/// Records a stream as it is read; shared by the reader wrapper that sees the
/// bytes and the applier that knows where file data goes.
pub(crate) struct Recorder<'w> {
    out: &'w mut dyn Write,
    raw: Vec<u8>,
    /// Stream bytes seen so far.
    pos: u64,
    /// File data being skipped: stream offsets `[start, end)`.
    data: Option<(u64, u64)>,
    exact: bool,
    error: Option<io::Error>,
    /// File records written so far.
    files: u64,
    /// The file record of each inode whose data a record refers to by path.
    inodes: HashMap<u64, u64>,
    /// Where replaced files are kept.
    stash: Option<OwnedFd>,
}

impl<'w> Recorder<'w> {
    pub(crate) fn new(out: &'w mut dyn Write, stash: Option<OwnedFd>) -> Rc<RefCell<Self>> {
        let mut r = Recorder { out, raw: Vec::new(), pos: 0, data: None, exact: true, error: None, files: 0, inodes: HashMap::new(), stash };
        r.emit(MAGIC);
        Rc::new(RefCell::new(r))
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(bytes) {
                self.error = Some(e);
            }
        }
    }

    fn flush_raw(&mut self) {
        if self.raw.is_empty() {
            return;
        }
        let raw = std::mem::take(&mut self.raw);
        for chunk in raw.chunks(RAW_CHUNK) {
            self.emit(&[TAG_RAW]);
            self.emit(&(chunk.len() as u32).to_le_bytes());
            self.emit(chunk);
        }
        self.raw = raw;
        self.raw.clear();
    }

    /// `bytes` were just read from the stream.
    fn consumed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self.data {
                Some((start, end)) if self.pos >= start && self.pos < end => {
                    let k = (end - self.pos).min(bytes.len() as u64) as usize;
                    self.pos += k as u64;
                    bytes = &bytes[k..];
                    if self.pos == end {
                        self.data = None;
                    }
                }
                Some((start, _)) if self.pos < start => {
                    let k = (start - self.pos).min(bytes.len() as u64) as usize;
                    self.raw.extend_from_slice(&bytes[..k]);
                    self.pos += k as u64;
                    bytes = &bytes[k..];
                }
                _ => {
                    self.data = None;
                    self.raw.extend_from_slice(bytes);
                    self.pos += bytes.len() as u64;
                    bytes = &[];
                }
            }
        }
        if self.raw.len() >= RAW_CHUNK {
            self.flush_raw();
        }
    }

    /// The `size` bytes at stream offset `start` are the data of the file
    /// `ino` written at `path`. Data that was already read (not expected)
    /// stays raw.
    pub(crate) fn file(&mut self, start: u64, size: u64, path: &[u8], ino: u64) {
        if size == 0 || self.pos != start || path.len() > MAX_PATH as usize {
            return;
        }
        self.flush_raw();
        self.emit(&[TAG_FILE]);
        self.emit(&size.to_le_bytes());
        self.emit(&(path.len() as u32).to_le_bytes());
        self.emit(path);
        self.data = Some((start, start + size));
        self.inodes.insert(ino, self.files);
        self.files += 1;
    }

    /// Something the layer wrote was removed and could not be kept.
    pub(crate) fn inexact(&mut self) {
        self.exact = false;
    }

    /// `name` in `dir` (with `st`) is about to be removed: keeps every file
    /// under it whose data the record refers to.
    pub(crate) fn before_remove(&mut self, dir: BorrowedFd<'_>, name: &[u8], st: &libc::stat) {
        if self.inodes.is_empty() {
            return;
        }
        let kept = if crate::remove::is_dir(st) { self.keep_tree(dir, name) } else { self.keep(dir, name, st.st_ino) };
        if kept.is_err() {
            self.exact = false;
        }
    }

    /// Hardlinks `name` in `dir` into the stash if its inode has a record.
    fn keep(&mut self, dir: BorrowedFd<'_>, name: &[u8], ino: u64) -> io::Result<()> {
        let Some(k) = self.inodes.remove(&ino) else { return Ok(()) };
        let stash = self.stash.as_ref().ok_or_else(|| io::Error::other("no stash"))?;
        nix::unistd::linkat(Some(dir.as_raw_fd()), sys::os(name), Some(stash.as_raw_fd()), sys::os(k.to_string().as_bytes()), AtFlags::empty())?;
        Ok(())
    }

    /// [`Recorder::keep`] for every regular file under directory `name`.
    fn keep_tree(&mut self, dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
        let top = sys::openat(dir, name, DIR_READ | OFlag::O_NOFOLLOW, Mode::empty())?;
        let mut stack = vec![top];
        while let Some(fd) = stack.pop() {
            let mut files = Vec::new();
            for child in crate::remove::list_dir(fd.as_fd())? {
                let Some(st) = crate::remove::lstat_at(fd.as_fd(), &child)? else { continue };
                match st.st_mode & libc::S_IFMT {
                    libc::S_IFDIR => stack.push(sys::openat(fd.as_fd(), &child, DIR_READ | OFlag::O_NOFOLLOW, Mode::empty())?),
                    libc::S_IFREG => files.push((child, st.st_ino)),
                    _ => {}
                }
            }
            for (child, ino) in files {
                self.keep(fd.as_fd(), &child, ino)?;
            }
        }
        Ok(())
    }

    /// Ends the record; returns whether it is exact.
    pub(crate) fn finish(&mut self) -> io::Result<bool> {
        self.flush_raw();
        self.emit(&[TAG_END]);
        let pos = self.pos;
        self.emit(&pos.to_le_bytes());
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
            }
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(self.exact && self.data.is_none()),
        }
    }
}

/// The applier's input, recorded as it is read.
pub(crate) struct RecordingReader<'w, R> {
    pub(crate) inner: R,
    pub(crate) recorder: Rc<RefCell<Recorder<'w>>>,
}

impl<R: Read> Read for RecordingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.recorder.borrow_mut().consumed(&buf[..n]);
        Ok(n)
    }
}

fn read_exact_or(record: &mut impl Read, buf: &mut [u8]) -> Result<(), RebuildError> {
    record.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => RebuildError::Record("truncated".into()),
        _ => RebuildError::Read { path: PathBuf::new(), source: e },
    })
}

fn read_u32(record: &mut impl Read) -> Result<u32, RebuildError> {
    let mut b = [0u8; 4];
    read_exact_or(record, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(record: &mut impl Read) -> Result<u64, RebuildError> {
    let mut b = [0u8; 8];
    read_exact_or(record, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Writes the tar stream `record` describes to `out`, reading file data from
/// the tree under `root`; returns the stream's length. The caller checks the
/// result against the digest it expects: a tree changed since it was applied
/// gives other bytes (or an error, when a file is gone or resized).
///
/// `stash` is the stash directory given when the layer was applied, if any.
pub fn rebuild_tar(root: &Path, stash: Option<&Path>, record: impl Read, mut out: impl Write) -> Result<u64, RebuildError> {
    let mut record = io::BufReader::new(record);
    let mut magic = [0u8; MAGIC.len()];
    read_exact_or(&mut record, &mut magic)?;
    if magic != MAGIC {
        return Err(RebuildError::Record("unknown format".into()));
    }
    let tree = Root::open(root).map_err(|source| RebuildError::Read { path: root.to_path_buf(), source })?;
    let stash = match stash {
        Some(p) => match sys::open(p, DIR_READ) {
            Ok(fd) => Some(fd),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(RebuildError::Read { path: p.to_path_buf(), source }),
        },
        None => None,
    };
    let mut buf = vec![0u8; RAW_CHUNK];
    let mut total = 0u64;
    let mut files = 0u64;
    loop {
        let mut tag = [0u8; 1];
        read_exact_or(&mut record, &mut tag)?;
        match tag[0] {
            TAG_RAW => {
                let len = read_u32(&mut record)?;
                let Some(chunk) = buf.get_mut(..len as usize) else {
                    return Err(RebuildError::Record(format!("raw record of {len} bytes")));
                };
                read_exact_or(&mut record, chunk)?;
                out.write_all(chunk).map_err(RebuildError::Output)?;
                total += u64::from(len);
            }
            TAG_FILE => {
                let size = read_u64(&mut record)?;
                let len = read_u32(&mut record)?;
                if len > MAX_PATH {
                    return Err(RebuildError::Record(format!("path of {len} bytes")));
                }
                let mut path = vec![0u8; len as usize];
                read_exact_or(&mut record, &mut path)?;
                let kept = match &stash {
                    Some(dir) => open_kept(dir.as_fd(), files)?,
                    None => None,
                };
                copy_file(&tree, kept, &path, size, &mut buf, &mut out)?;
                files += 1;
                total += size;
            }
            TAG_END => {
                let want = read_u64(&mut record)?;
                if want != total {
                    return Err(RebuildError::Record(format!("stream of {total} bytes, record says {want}")));
                }
                out.flush().map_err(RebuildError::Output)?;
                return Ok(total);
            }
            t => return Err(RebuildError::Record(format!("unknown tag {t}"))),
        }
    }
}

/// The stashed copy of file record `k`, if the layer replaced that file.
fn open_kept(stash: BorrowedFd<'_>, k: u64) -> Result<Option<OwnedFd>, RebuildError> {
    let name = k.to_string();
    match sys::openat(stash, name.as_bytes(), OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RebuildError::Read { path: PathBuf::from(name), source }),
    }
}

/// Copies exactly `size` bytes of the regular file at `rel` inside the tree
/// (or of its stashed copy `kept`).
fn copy_file(tree: &Root, kept: Option<OwnedFd>, rel: &[u8], size: u64, buf: &mut [u8], out: &mut impl Write) -> Result<(), RebuildError> {
    let shown = || PathBuf::from(crate::sys::os(rel));
    let changed = |reason: String| RebuildError::Changed { path: shown(), reason };
    let fd = match kept {
        Some(fd) => fd,
        None => tree.open_in_root(rel, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).map_err(|e| changed(format!("open: {e}")))?,
    };
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(|e| RebuildError::Read { path: shown(), source: e.into() })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || u64::try_from(st.st_size).ok() != Some(size) {
        return Err(changed(format!("not a regular file of {size} bytes")));
    }
    let mut file = File::from(fd);
    let mut left = size;
    while left > 0 {
        let want = (left.min(buf.len() as u64)) as usize;
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => return Err(changed("shorter than recorded".into())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(RebuildError::Read { path: shown(), source: e }),
        };
        out.write_all(&buf[..n]).map_err(RebuildError::Output)?;
        left -= n as u64;
    }
    Ok(())
}
