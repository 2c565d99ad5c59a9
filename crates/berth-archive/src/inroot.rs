//! Path operations on a container root filesystem that can never leave it, for the engine's
//! own reads and writes there (user lookup in `/etc/passwd`, creating the working directory,
//! `docker cp`, the builder's `COPY`). A symlink inside the container (`/etc/passwd ->
//! /host/secret`) resolves as if the container's root were `/`.
//!
//! The same invariants as layer application hold here: a named path is resolved with
//! `openat2(RESOLVE_IN_ROOT)` from the root fd, and everything found *below* a directory while
//! walking it is reached with `O_NOFOLLOW` relative to its parent's fd, so neither a symlink
//! (absolute, `..`-laden, chained) nor a rename race can lead a read or a removal outside the
//! root. Regular files are opened only after an `lstat` said they are regular, and checked to
//! be that same inode, so a device node or fifo planted in a tree is never opened.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;

use crate::remove::{is_dir, list_dir, lstat_at};
use crate::resolve::{join, RelPath, Root, DIR_READ};
use crate::sys::{self, XattrTarget};
use crate::whiteout::OVERLAY_OPAQUE_XATTR;

fn rel(path: &str) -> io::Result<RelPath> {
    RelPath::normalize(path.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("path {path:?} leaves the root")))
}

/// Opens `path` (resolved inside `root`) for reading.
pub fn open_in_root(root: &Path, path: &str) -> io::Result<File> {
    let r = Root::open(root)?;
    let fd = r.open_in_root(rel(path)?.as_bytes(), OFlag::O_RDONLY | OFlag::O_CLOEXEC)?;
    Ok(File::from(fd))
}

/// Creates directory `path` and its missing parents inside `root` (mode 0755), following
/// existing symlinks only within the root.
pub fn mkdir_all_in_root(root: &Path, path: &str) -> io::Result<()> {
    let mut r = Root::open(root)?;
    let p = rel(path)?;
    if p.is_root() {
        return Ok(());
    }
    r.dir(p.as_bytes(), true).map(|_| ())
}

/// The metadata of what `path` resolves to inside `root` (symlinks followed, within the
/// root), the way `stat` inside the container would see it. `NotFound` when nothing is there.
pub fn metadata_in_root(root: &Path, path: &str) -> io::Result<std::fs::Metadata> {
    let r = Root::open(root)?;
    let fd = r.open_in_root(rel(path)?.as_bytes(), OFlag::O_PATH)?;
    File::from(fd).metadata()
}

/// Opens directory `path` inside `root` (creating it and its parents, mode 0755, when
/// missing) and returns an `O_PATH` fd on it. `/proc/self/fd/<fd>` then names exactly that
/// directory, so code that only takes a path (a layer applier unpacking an archive "into"
/// a destination) can be pointed at it without the path being resolved on the host.
pub fn open_dir_in_root(root: &Path, path: &str) -> io::Result<OwnedFd> {
    mkdir_all_in_root(root, path)?;
    let r = Root::open(root)?;
    r.open_in_root(rel(path)?.as_bytes(), OFlag::O_PATH | OFlag::O_DIRECTORY)
}

/// Removes `path` inside `root` if it is an empty regular file or an empty directory (one
/// that is not an overlay opaque directory); anything else, and a missing path, is left alone.
/// The final component is never followed. Returns whether something was removed. Used to drop
/// the mount points a runtime had to create (`/etc/hosts`, `/proc`) from a container's upper
/// dir before it becomes an image layer.
pub fn remove_empty_in_root(root: &Path, path: &str) -> io::Result<bool> {
    let mut r = Root::open(root)?;
    let p = rel(path)?;
    if p.is_root() {
        return Ok(false);
    }
    let (parent, name) = p.split();
    let dir = match r.dir(parent, false) {
        Ok(d) => d,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
        Err(e) => return Err(e),
    };
    let Some(st) = lstat_at(dir.as_fd(), name)? else { return Ok(false) };
    let regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
    if regular && st.st_size == 0 {
        nix::unistd::unlinkat(Some(dir.as_raw_fd()), sys::os(name), UnlinkatFlags::NoRemoveDir)?;
        return Ok(true);
    }
    if !is_dir(&st) || is_opaque(dir.as_fd(), name)? {
        return Ok(false);
    }
    match nix::unistd::unlinkat(Some(dir.as_raw_fd()), sys::os(name), UnlinkatFlags::RemoveDir) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ENOTEMPTY) | Err(nix::errno::Errno::EEXIST) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes the non-directory `path` inside `root` (parents resolved inside the root, the
/// final component never followed: a symlink is removed, not its target). Returns whether
/// something was removed; a missing path or a directory is left alone.
pub fn remove_file_in_root(root: &Path, path: &str) -> io::Result<bool> {
    let mut r = Root::open(root)?;
    let p = rel(path)?;
    let (parent, name) = p.split();
    if name.is_empty() {
        return Ok(false);
    }
    let dir = match r.dir(parent, false) {
        Ok(d) => d,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(false),
        Err(e) => return Err(e),
    };
    match lstat_at(dir.as_fd(), name)? {
        Some(st) if !is_dir(&st) => {
            nix::unistd::unlinkat(Some(dir.as_raw_fd()), sys::os(name), UnlinkatFlags::NoRemoveDir)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn is_opaque(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<bool> {
    let key = sys::cstring(OVERLAY_OPAQUE_XATTR.as_bytes())?;
    Ok(sys::get_xattr(XattrTarget::At(dir, name), &key)?.is_some_and(|v| v == b"y"))
}

/// What a walked entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory; its children follow it.
    Dir,
    /// A regular file; [`WalkEntry::file`] holds it open.
    File,
    /// A symlink, with its target exactly as stored (never followed).
    Symlink(PathBuf),
    /// A device node, fifo or socket: reported, never opened.
    Other,
}

/// One entry found by [`walk_in_root`].
#[derive(Debug)]
pub struct WalkEntry {
    /// Path relative to the walked path, empty for the walked path itself.
    pub rel: PathBuf,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits, setuid, setgid and sticky included (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (regular files).
    pub size: u64,
    /// Modification time, seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// For regular files: the file, open for reading.
    pub file: Option<File>,
}

fn entry(rel: &[u8], st: &libc::stat, kind: EntryKind, file: Option<File>) -> WalkEntry {
    WalkEntry {
        rel: PathBuf::from(std::ffi::OsStr::from_bytes(rel)),
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime: (st.st_mtime, st.st_mtime_nsec),
        file,
    }
}

fn same_inode(fd: BorrowedFd<'_>, st: &libc::stat) -> io::Result<()> {
    let now = nix::sys::stat::fstat(fd.as_raw_fd())?;
    if now.st_dev != st.st_dev || now.st_ino != st.st_ino {
        return Err(io::Error::other("file changed while it was being read"));
    }
    Ok(())
}

/// Walks `path` inside `root`, depth first, names sorted bytewise, a directory before its
/// children, calling `visit` for `path` itself (with an empty `rel`) and everything below it.
///
/// `path` is resolved with symlinks followed inside the root (a named `COPY` source that is
/// a symlink yields what it points to, as Docker does); nothing below it is ever followed:
/// symlinks are reported as symlinks. Errors from `visit` stop the walk.
pub fn walk_in_root(root: &Path, path: &str, visit: &mut dyn FnMut(WalkEntry) -> io::Result<()>) -> io::Result<()> {
    let r = Root::open(root)?;
    let p = rel(path)?;
    let start = r.open_in_root(p.as_bytes(), OFlag::O_PATH)?;
    let st = nix::sys::stat::fstat(start.as_raw_fd())?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            let dir = sys::openat(start.as_fd(), b".", DIR_READ, Mode::empty())?;
            visit(entry(b"", &st, EntryKind::Dir, None))?;
            walk_dir(dir.as_fd(), b"", visit)
        }
        libc::S_IFREG => {
            let fd = r.open_in_root(p.as_bytes(), OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY)?;
            same_inode(fd.as_fd(), &st)?;
            visit(entry(b"", &st, EntryKind::File, Some(File::from(fd))))
        }
        _ => visit(entry(b"", &st, EntryKind::Other, None)),
    }
}

fn walk_dir(dir: BorrowedFd<'_>, prefix: &[u8], visit: &mut dyn FnMut(WalkEntry) -> io::Result<()>) -> io::Result<()> {
    for name in list_dir(dir)? {
        let rel = join(prefix, &name);
        let Some(st) = lstat_at(dir, &name)? else { continue };
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let child = sys::openat(dir, &name, DIR_READ | OFlag::O_NOFOLLOW, Mode::empty())?;
                same_inode(child.as_fd(), &st)?;
                visit(entry(&rel, &st, EntryKind::Dir, None))?;
                walk_dir(child.as_fd(), &rel, visit)?;
            }
            libc::S_IFREG => {
                let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
                let fd = sys::openat(dir, &name, flags, Mode::empty())?;
                same_inode(fd.as_fd(), &st)?;
                visit(entry(&rel, &st, EntryKind::File, Some(File::from(fd))))?;
            }
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), sys::os(&name))?;
                visit(entry(&rel, &st, EntryKind::Symlink(PathBuf::from(target)), None))?;
            }
            _ => visit(entry(&rel, &st, EntryKind::Other, None))?,
        }
    }
    Ok(())
}

/// The names in directory `path` inside `root` (resolved with symlinks followed inside the
/// root), sorted bytewise, each with whether it is itself a directory (not through a
/// symlink), for glob matching one level at a time.
pub fn list_in_root(root: &Path, path: &str) -> io::Result<Vec<(PathBuf, bool)>> {
    let r = Root::open(root)?;
    let dir = r.open_in_root(rel(path)?.as_bytes(), DIR_READ)?;
    let mut out = Vec::new();
    for name in list_dir(dir.as_fd())? {
        let is_dir = lstat_at(dir.as_fd(), &name)?.is_some_and(|st| is_dir(&st));
        out.push((PathBuf::from(std::ffi::OsStr::from_bytes(&name)), is_dir));
    }
    Ok(out)
}
