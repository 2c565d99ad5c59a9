//! Producing a deterministic tar from a directory tree: `export`, `save` of
//! committed layers, build contexts.
//!
//! The walk never follows a symlink: directories are opened with
//! `O_NOFOLLOW` relative to their parent's fd, everything is `lstat`ed, and a
//! regular file is opened with `O_NOFOLLOW | O_NONBLOCK` and checked to be the
//! inode that was `lstat`ed, so a tree changing under us cannot make us read a
//! host file or block on a fifo.
//!
//! Output order is a depth-first walk with names sorted bytewise in each
//! directory: a directory comes right before its children. Names are
//! relative, without a leading `/` or `./`; directories end in `/`; the root
//! itself has no entry. Times are whole seconds (Docker truncates them too),
//! so the same tree always gives the same bytes.

use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use tar::EntryType;

use crate::error::WriteError;
use crate::meta::is_overlay_xattr;
use crate::remove::{is_dir, list_dir, lstat_at};
use crate::resolve::{join, DIR_READ};
use crate::sys::{self, XattrTarget};
use crate::tarout::{EntryHeader, TarOut};
use crate::whiteout::{is_whiteout_device, WhiteoutMode, OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};

const COPY_BUF: usize = 1 << 20;

/// What the filter says about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Archive it.
    Include,
    /// Leave the entry out, but still walk a directory's children (for
    /// `.dockerignore` exceptions such as `!dir/keep`).
    Skip,
    /// Leave it and everything below it out.
    Prune,
}

/// A filter over paths relative to the archived directory (no leading `/`).
pub type TarFilter = dyn Fn(&Path) -> Selection + Send + Sync;

/// How to archive a directory.
pub struct TarOptions {
    /// [`WhiteoutMode::Overlay`] when the directory is an overlayfs upper dir:
    /// whiteout devices become `.wh.NAME` entries, opaque directories get a
    /// `.wh..wh..opq` entry, and `trusted.overlay.*` / `user.overlay.*`
    /// xattrs are left out. The overlay must be mounted with
    /// `redirect_dir=off,metacopy=off` (and preferably `index=off`): a
    /// redirected directory or a metadata-only copy-up cannot be expressed in
    /// a tar. [`WhiteoutMode::Plain`] archives everything as is.
    pub whiteouts: WhiteoutMode,
    /// Decides which paths are archived; `None` archives everything.
    pub filter: Option<Box<TarFilter>>,
}

impl Default for TarOptions {
    fn default() -> Self {
        TarOptions { whiteouts: WhiteoutMode::Plain, filter: None }
    }
}

impl fmt::Debug for TarOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TarOptions").field("whiteouts", &self.whiteouts).field("filter", &self.filter.as_ref().map(|_| "<fn>")).finish()
    }
}

impl TarOptions {
    /// Options for `mode` with no filter.
    pub fn new(whiteouts: WhiteoutMode) -> Self {
        TarOptions { whiteouts, filter: None }
    }

    /// Leaves out `paths` (relative to the archived directory) and everything
    /// below them, on top of any filter already set.
    pub fn excluding(mut self, paths: impl IntoIterator<Item = PathBuf>) -> Self {
        let excluded: Vec<PathBuf> = paths.into_iter().map(|p| clean(&p)).collect();
        let previous = self.filter.take();
        self.filter = Some(Box::new(move |path: &Path| {
            if excluded.iter().any(|e| e == path) {
                return Selection::Prune;
            }
            previous.as_ref().map_or(Selection::Include, |f| f(path))
        }));
        self
    }
}

/// `./a//b/` as `a/b`, so exclusions match the walker's paths.
fn clean(p: &Path) -> PathBuf {
    p.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect()
}

/// What [`write_tar_from_dir`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarReport {
    /// Entries written (PAX headers and opaque markers not counted).
    pub entries: u64,
    /// Bytes of regular-file data written.
    pub bytes: u64,
}

/// Writes the tree under `dir` as a tar stream to `writer`.
///
/// Covers directories, regular files, symlinks, hardlinks (by device and
/// inode, as links to the first archived path), fifos and devices, with
/// mode, numeric owner, mtime and xattrs (`SCHILY.xattr.*`); sockets are
/// skipped, as Docker does.
pub fn write_tar_from_dir(dir: &Path, writer: impl Write, opts: &TarOptions) -> Result<TarReport, WriteError> {
    let root = sys::open(dir, DIR_READ).map_err(|source| WriteError::Source { path: PathBuf::new(), op: "open directory", source })?;
    let mut walker = Walker { out: TarOut::new(writer), opts, links: HashMap::new(), buf: vec![0; COPY_BUF], report: TarReport::default() };
    walker.walk(root)?;
    walker.out.finish().map_err(WriteError::Output)?;
    Ok(walker.report)
}

/// One directory being walked.
struct Frame {
    fd: OwnedFd,
    rel: Vec<u8>,
    /// Children still to visit, popped from the end.
    pending: Vec<Vec<u8>>,
}

struct Walker<'o, W: Write> {
    out: TarOut<W>,
    opts: &'o TarOptions,
    /// First archived path of each multiply-linked inode, by (dev, ino).
    links: HashMap<(u64, u64), Vec<u8>>,
    buf: Vec<u8>,
    report: TarReport,
}

fn path_of(rel: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(rel))
}

fn src_err<'a>(rel: &'a [u8], op: &'static str) -> impl FnOnce(io::Error) -> WriteError + 'a {
    move |source| WriteError::Source { path: path_of(rel), op, source }
}

/// Metadata shared by every entry kind.
struct Stat {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
}

impl Stat {
    fn of(st: &libc::stat) -> Stat {
        Stat { mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid, mtime: u64::try_from(st.st_mtime).unwrap_or(0) }
    }

    fn header<'a>(&self, kind: EntryType, name: &'a [u8], xattrs: &'a [(CString, Vec<u8>)]) -> EntryHeader<'a> {
        EntryHeader { kind, name, link: None, mode: self.mode, uid: self.uid, gid: self.gid, mtime: self.mtime, size: 0, dev: None, xattrs }
    }
}

impl<W: Write> Walker<'_, W> {
    fn select(&self, rel: &[u8]) -> Selection {
        self.opts.filter.as_ref().map_or(Selection::Include, |f| f(&path_of(rel)))
    }

    fn walk(&mut self, root: OwnedFd) -> Result<(), WriteError> {
        let mut pending = list_dir(root.as_fd()).map_err(src_err(b"", "list directory"))?;
        pending.reverse();
        let mut stack = vec![Frame { fd: root, rel: Vec::new(), pending }];
        while let Some(top) = stack.last_mut() {
            let Some(name) = top.pending.pop() else {
                stack.pop();
                continue;
            };
            let rel = join(&top.rel, &name);
            let selection = self.select(&rel);
            if selection == Selection::Prune {
                continue;
            }
            let Some(st) = lstat_at(top.fd.as_fd(), &name).map_err(src_err(&rel, "stat"))? else {
                continue; // removed while we walk
            };
            let include = selection == Selection::Include;
            if is_dir(&st) {
                let fd = sys::openat(top.fd.as_fd(), &name, DIR_READ | OFlag::O_NOFOLLOW, Mode::empty()).map_err(src_err(&rel, "open directory"))?;
                if include {
                    self.dir(fd.as_fd(), &rel, &st)?;
                }
                let mut pending = list_dir(fd.as_fd()).map_err(src_err(&rel, "list directory"))?;
                pending.reverse();
                stack.push(Frame { fd, rel, pending });
            } else if include {
                self.non_dir(top.fd.as_fd(), &name, &rel, &st)?;
            }
        }
        Ok(())
    }

    fn xattrs(&self, target: XattrTarget<'_>, rel: &[u8]) -> Result<Vec<(CString, Vec<u8>)>, WriteError> {
        let mut out = Vec::new();
        let mut names = sys::list_xattrs(target).map_err(src_err(rel, "list xattrs"))?;
        names.sort();
        for name in names {
            if self.opts.whiteouts == WhiteoutMode::Overlay && is_overlay_xattr(name.to_bytes()) {
                continue;
            }
            if let Some(value) = sys::get_xattr(target, &name).map_err(src_err(rel, "read xattr"))? {
                out.push((name, value));
            }
        }
        Ok(out)
    }

    fn emit(&mut self, h: &EntryHeader<'_>) -> Result<(), WriteError> {
        self.out.header(h).map_err(WriteError::Output)?;
        self.report.entries += 1;
        Ok(())
    }

    /// A directory entry, then its opaque marker in Overlay mode.
    fn dir(&mut self, fd: BorrowedFd<'_>, rel: &[u8], st: &libc::stat) -> Result<(), WriteError> {
        let meta = Stat::of(st);
        let xattrs = self.xattrs(XattrTarget::Fd(fd), rel)?;
        let name = [rel, b"/"].concat();
        self.emit(&meta.header(EntryType::Directory, &name, &xattrs))?;
        if self.opts.whiteouts == WhiteoutMode::Overlay && is_opaque(fd, rel)? {
            let marker = join(rel, WHITEOUT_OPAQUE.as_bytes());
            let marker_meta = Stat { mode: meta.mode & 0o777, ..meta };
            self.out.header(&marker_meta.header(EntryType::Regular, &marker, &[])).map_err(WriteError::Output)?;
        }
        Ok(())
    }

    /// Any non-directory: whiteout, hardlink, file, symlink, device, fifo.
    fn non_dir(&mut self, dir: BorrowedFd<'_>, name: &[u8], rel: &[u8], st: &libc::stat) -> Result<(), WriteError> {
        let meta = Stat::of(st);
        if self.opts.whiteouts == WhiteoutMode::Overlay && is_whiteout_device(st) {
            let (parent, base) = crate::resolve::split(rel);
            let wh = join(parent, &[WHITEOUT_PREFIX.as_bytes(), base].concat());
            let meta = Stat { mode: 0o600, ..meta };
            return self.emit(&meta.header(EntryType::Regular, &wh, &[]));
        }
        let fmt = st.st_mode & libc::S_IFMT;
        if fmt == libc::S_IFSOCK {
            return Ok(());
        }
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                let first = first.clone();
                let mut h = meta.header(EntryType::Link, rel, &[]);
                h.link = Some(&first);
                return self.emit(&h);
            }
            self.links.insert(key, rel.to_vec());
        }
        match fmt {
            libc::S_IFREG => self.file(dir, name, rel, st, &meta),
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), sys::os(name)).map_err(|e| src_err(rel, "read symlink")(e.into()))?;
                let xattrs = self.xattrs(XattrTarget::At(dir, name), rel)?;
                let mut h = meta.header(EntryType::Symlink, rel, &xattrs);
                h.link = Some(target.as_bytes());
                self.emit(&h)
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                let kind = match fmt {
                    libc::S_IFCHR => EntryType::Char,
                    libc::S_IFBLK => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let xattrs = self.xattrs(XattrTarget::At(dir, name), rel)?;
                let mut h = meta.header(kind, rel, &xattrs);
                let (major, minor) = (nix::sys::stat::major(st.st_rdev), nix::sys::stat::minor(st.st_rdev));
                h.dev = Some((major as u32, minor as u32));
                self.emit(&h)
            }
            _ => Ok(()),
        }
    }

    /// A regular file: opened without following, checked to be the inode we
    /// `lstat`ed, copied for exactly its `lstat` size.
    fn file(&mut self, dir: BorrowedFd<'_>, name: &[u8], rel: &[u8], st: &libc::stat, meta: &Stat) -> Result<(), WriteError> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
        let fd = sys::openat(dir, name, flags, Mode::empty()).map_err(src_err(rel, "open file"))?;
        let now = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(|e| src_err(rel, "stat")(e.into()))?;
        if now.st_dev != st.st_dev || now.st_ino != st.st_ino || now.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(WriteError::Changed { path: path_of(rel) });
        }
        let xattrs = self.xattrs(XattrTarget::Fd(fd.as_fd()), rel)?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = meta.header(EntryType::Regular, rel, &xattrs);
        h.size = size;
        self.emit(&h)?;
        let mut file = File::from(fd).take(size);
        let mut left = size;
        while left > 0 {
            let n = match file.read(&mut self.buf) {
                Ok(0) => return Err(WriteError::Changed { path: path_of(rel) }),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(src_err(rel, "read file")(e)),
            };
            self.out.data(&self.buf[..n]).map_err(WriteError::Output)?;
            left -= n as u64;
        }
        self.out.pad(size).map_err(WriteError::Output)?;
        self.report.bytes += size;
        Ok(())
    }
}

/// Whether an upper-dir directory is opaque (`trusted.overlay.opaque=y`).
fn is_opaque(fd: BorrowedFd<'_>, rel: &[u8]) -> Result<bool, WriteError> {
    let key = sys::cstring(OVERLAY_OPAQUE_XATTR.as_bytes()).map_err(src_err(rel, "read xattr"))?;
    let value = sys::get_xattr(XattrTarget::Fd(fd), &key).map_err(src_err(rel, "read xattr"))?;
    Ok(value.as_deref() == Some(b"y"))
}
