//! In-root path queries for `docker cp` and `docker diff`: the stat of a path whose parents
//! are resolved inside the root, full symlink resolution inside the root, opening an existing
//! directory, and listing a tree. Same invariants as [`crate::inroot`] and layer application:
//! - parents are resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the
//!   root fd, so no symlink (absolute, `..`-laden, chained) leads outside the root;
//! - the final component is examined with `fstatat(AT_SYMLINK_NOFOLLOW)`/`readlinkat`, never
//!   followed;
//! - a tree is listed through directory fds opened with `O_NOFOLLOW` relative to their parent,
//!   so a directory swapped for a symlink mid-walk fails instead of listing a host directory.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::remove::{is_dir, list_dir, lstat_at};
use crate::resolve::{join, RelPath, Root, DIR_READ};
use crate::sys;

/// Symlinks followed at most while resolving one path (Linux's `MAXSYMLINKS`).
const MAX_HOPS: usize = 40;

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Dir,
    File,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileKind {
    fn of(mode: u32) -> FileKind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => FileKind::Dir,
            libc::S_IFLNK => FileKind::Symlink,
            libc::S_IFCHR => FileKind::CharDevice,
            libc::S_IFBLK => FileKind::BlockDevice,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFSOCK => FileKind::Socket,
            _ => FileKind::File,
        }
    }
}

/// The `lstat` of a path inside a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub kind: FileKind,
    /// Permission bits with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub size: u64,
    /// Modification time: seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// A symlink's target, exactly as stored.
    pub link: Option<PathBuf>,
    /// Device numbers of a device node.
    pub rdev: u64,
}

fn rel(path: &str) -> io::Result<RelPath> {
    RelPath::normalize(path.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("path {path:?} leaves the root")))
}

/// The `lstat` of `path` inside `root`: parents resolved inside the root, the final component
/// not followed. `NotFound` when nothing is there.
pub fn lstat_in_root(root: &Path, path: &str) -> io::Result<PathInfo> {
    let mut r = Root::open(root)?;
    let p = rel(path)?;
    let (dir, name) = if p.is_root() {
        (r.dir(b"", false)?, b".".as_slice())
    } else {
        let (parent, name) = p.split();
        (r.dir(parent, false)?, name)
    };
    let st = lstat_at(dir.as_fd(), name)?.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{path}: no such file or directory")))?;
    let kind = FileKind::of(st.st_mode);
    let link = if kind == FileKind::Symlink { Some(PathBuf::from(nix::fcntl::readlinkat(Some(dir.as_raw_fd()), sys::os(name))?)) } else { None };
    Ok(PathInfo {
        kind,
        mode: st.st_mode & 0o7777,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime: (st.st_mtime, st.st_mtime_nsec),
        link,
        rdev: st.st_rdev,
    })
}

/// Resolves every symlink of `path` inside `root` and returns the absolute in-root path it
/// names (`/etc/passwd`), as `realpath` inside the container would, except that missing
/// components are kept as named (Docker's `FollowSymlinkInScope`). Fails with `ELOOP` after
/// [`MAX_HOPS`] symlinks.
pub fn resolve_in_root(root: &Path, path: &str) -> io::Result<String> {
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut todo: Vec<Vec<u8>> = split(path.as_bytes());
    todo.reverse();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_slice() {
            b"" | b"." => {}
            b".." => {
                done.pop();
            }
            name => {
                let mut candidate = done.clone();
                candidate.push(name.to_vec());
                let joined = String::from_utf8_lossy(&candidate.join(&b'/')).into_owned();
                match lstat_in_root(root, &joined) {
                    Ok(PathInfo { link: Some(target), .. }) => {
                        hops += 1;
                        if hops > MAX_HOPS {
                            return Err(io::Error::from_raw_os_error(libc::ELOOP));
                        }
                        let target = target.as_os_str().as_bytes();
                        if target.first() == Some(&b'/') {
                            done.clear();
                        }
                        let mut parts = split(target);
                        parts.reverse();
                        todo.extend(parts);
                    }
                    Ok(_) => done.push(name.to_vec()),
                    // Missing components are kept as named, as Docker's FollowSymlinkInScope does.
                    Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => done.push(name.to_vec()),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(format!("/{}", String::from_utf8_lossy(&done.join(&b'/'))))
}

fn split(p: &[u8]) -> Vec<Vec<u8>> {
    p.split(|b| *b == b'/').map(<[u8]>::to_vec).collect()
}

/// Opens an existing directory `path` inside `root` (symlinks followed inside the root) as an
/// `O_PATH` fd: `/proc/self/fd/<fd>` then names exactly that directory. `NotFound` when
/// missing, `NotADirectory` when it is something else; nothing is created.
pub fn open_dir_in_root(root: &Path, path: &str) -> io::Result<OwnedFd> {
    let r = Root::open(root)?;
    r.open_in_root(rel(path)?.as_bytes(), OFlag::O_PATH | OFlag::O_DIRECTORY)
}

/// One entry of [`list_tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path relative to the listed directory.
    pub rel: PathBuf,
    pub kind: FileKind,
    pub rdev: u64,
    /// Whether the directory carries the overlay opaque marker.
    pub opaque: bool,
}

/// Every entry below the directory `dir` (a trusted path), depth first, names sorted, a
/// directory before its children; nothing is followed.
pub fn list_tree(dir: &Path) -> io::Result<Vec<TreeEntry>> {
    let root = sys::open(dir, DIR_READ)?;
    let mut out = Vec::new();
    let mut stack: Vec<(OwnedFd, Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
    let mut names = list_dir(root.as_fd())?;
    names.reverse();
    stack.push((root, Vec::new(), names));
    while let Some((fd, prefix, pending)) = stack.last_mut() {
        let Some(name) = pending.pop() else {
            stack.pop();
            continue;
        };
        let Some(st) = lstat_at(fd.as_fd(), &name)? else { continue };
        let path = join(prefix, &name);
        let mut entry = TreeEntry { rel: PathBuf::from(std::ffi::OsStr::from_bytes(&path)), kind: FileKind::of(st.st_mode), rdev: st.st_rdev, opaque: false };
        if is_dir(&st) {
            let child = sys::openat(fd.as_fd(), &name, DIR_READ | OFlag::O_NOFOLLOW, Mode::empty())?;
            let key = sys::cstring(crate::whiteout::OVERLAY_OPAQUE_XATTR.as_bytes())?;
            entry.opaque = sys::get_xattr(sys::XattrTarget::Fd(child.as_fd()), &key)?.is_some_and(|v| v == b"y");
            out.push(entry);
            let mut names = list_dir(child.as_fd())?;
            names.reverse();
            stack.push((child, path, names));
        } else {
            out.push(entry);
        }
    }
    Ok(out)
}
