//! The few system calls that nix 0.29 does not wrap with owned types, each in a
//! small `unsafe` block.
//!
//! This is the only module allowed to use `unsafe`. Every function here is safe
//! to call: fds come back as [`OwnedFd`] right after the syscall that created
//! them, and buffers are Rust slices whose lengths are passed to the kernel.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// How many times an `openat2` failing with `EAGAIN` (a rename racing with
/// `..` resolution under `RESOLVE_IN_ROOT`) is retried before giving up.
const OPENAT2_RETRIES: usize = 32;

/// Takes ownership of an fd that a syscall has just returned.
fn own(raw: RawFd) -> OwnedFd {
    // SAFETY: `raw` was returned a moment ago by a successful open-like
    // syscall in this module; nothing else has seen it, so this is its only
    // owner and it will be closed exactly once.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// `openat(dir, path, flags | O_CLOEXEC, mode)` returning an owned fd.
///
/// Relative to `dir`, so only safe for a single final component opened with
/// `O_NOFOLLOW`, or for paths the caller trusts.
pub(crate) fn openat(dir: BorrowedFd<'_>, path: &[u8], flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
    let raw = nix::fcntl::openat(Some(dir.as_raw_fd()), OsStr::from_bytes(path), flags | OFlag::O_CLOEXEC, mode)?;
    Ok(own(raw))
}

/// Opens a trusted absolute or cwd-relative path (the root the caller gave us).
pub(crate) fn open(path: &std::path::Path, flags: OFlag) -> io::Result<OwnedFd> {
    let raw = nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())?;
    Ok(own(raw))
}

/// `openat2(root, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: every
/// component of `path`, `..` and symlink targets included, is resolved as if
/// `root` were `/`, so the result is always inside `root`.
pub(crate) fn openat2_in_root(root: BorrowedFd<'_>, path: &[u8], flags: OFlag) -> io::Result<OwnedFd> {
    let path = if path.is_empty() { b".".as_slice() } else { path };
    let how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut tries = 0;
    loop {
        match nix::fcntl::openat2(root.as_raw_fd(), OsStr::from_bytes(path), how) {
            Ok(raw) => return Ok(own(raw)),
            Err(nix::errno::Errno::EAGAIN) if tries < OPENAT2_RETRIES => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `fchmodat(dir, name, mode, AT_SYMLINK_NOFOLLOW)` through `fchmodat2`
/// (Linux 6.6+), so a symlink swapped in at `name` is never followed. On
/// older kernels it falls back to `fchmodat` after checking that `name` is
/// not a symlink.
pub(crate) fn chmod_nofollow(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let cname = cstring(name)?;
    // SAFETY: `cname` is a valid NUL-terminated string that outlives the
    // call, `dir` is an open fd borrowed for the call, and fchmodat2 takes
    // (int dirfd, const char *path, mode_t mode, unsigned int flags).
    let rc = unsafe { libc::syscall(libc::SYS_fchmodat2, dir.as_raw_fd(), cname.as_ptr(), mode as libc::mode_t, libc::AT_SYMLINK_NOFOLLOW as libc::c_uint) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(err);
    }
    let st = nix::sys::stat::fstatat(Some(dir.as_raw_fd()), OsStr::from_bytes(name), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    nix::sys::stat::fchmodat(Some(dir.as_raw_fd()), OsStr::from_bytes(name), Mode::from_bits_retain(mode), nix::sys::stat::FchmodatFlags::FollowSymlink)?;
    Ok(())
}

/// What an extended-attribute call acts on.
#[derive(Clone, Copy)]
pub(crate) enum XattrTarget<'a> {
    /// An fd opened on the inode itself (regular files, directories).
    Fd(BorrowedFd<'a>),
    /// Entry `name` of directory `dir`, never following a final symlink. Used
    /// for symlinks, devices and fifos, which cannot be opened for xattr calls.
    /// Reached as `/proc/self/fd/<dir>/<name>` with the `l*xattr` calls: the
    /// kernel jumps straight to the directory behind the fd and `name` is a
    /// single component, so nothing outside that directory can be reached.
    At(BorrowedFd<'a>, &'a [u8]),
}

impl XattrTarget<'_> {
    fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<CString> {
        let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
        path.extend_from_slice(name);
        cstring(&path)
    }
}

/// Sets xattr `key` to `value` on `target`.
pub(crate) fn set_xattr(target: XattrTarget<'_>, key: &CStr, value: &[u8]) -> io::Result<()> {
    let ptr = value.as_ptr().cast::<libc::c_void>();
    let rc = match target {
        // SAFETY: `key` is NUL-terminated, `ptr`/`value.len()` describe a
        // live slice, the fd is open for the duration of the call.
        XattrTarget::Fd(fd) => unsafe { libc::fsetxattr(fd.as_raw_fd(), key.as_ptr(), ptr, value.len(), 0) },
        XattrTarget::At(dir, name) => {
            let path = XattrTarget::proc_path(dir, name)?;
            // SAFETY: as above, and `path` is NUL-terminated and outlives the call.
            unsafe { libc::lsetxattr(path.as_ptr(), key.as_ptr(), ptr, value.len(), 0) }
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads xattr `key` of `target`; `Ok(None)` when it is not set or the file
/// system has no xattrs.
pub(crate) fn get_xattr(target: XattrTarget<'_>, key: &CStr) -> io::Result<Option<Vec<u8>>> {
    let path = match target {
        XattrTarget::At(dir, name) => Some(XattrTarget::proc_path(dir, name)?),
        XattrTarget::Fd(_) => None,
    };
    sized_call(|buf: &mut [u8]| {
        let ptr = buf.as_mut_ptr().cast::<libc::c_void>();
        match (target, &path) {
            // SAFETY: `ptr`/`buf.len()` describe a live, writable slice; `key`
            // and `path` are NUL-terminated; the fd is open.
            (XattrTarget::Fd(fd), _) => unsafe { libc::fgetxattr(fd.as_raw_fd(), key.as_ptr(), ptr, buf.len()) },
            // SAFETY: as above.
            (_, Some(p)) => unsafe { libc::lgetxattr(p.as_ptr(), key.as_ptr(), ptr, buf.len()) },
            (XattrTarget::At(..), None) => -1,
        }
    })
    .map(Some)
    .or_else(|e| match e.raw_os_error() {
        Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(None),
        _ => Err(e),
    })
}

/// Lists the xattr names of `target` (empty when the file system has none).
pub(crate) fn list_xattrs(target: XattrTarget<'_>) -> io::Result<Vec<CString>> {
    let path = match target {
        XattrTarget::At(dir, name) => Some(XattrTarget::proc_path(dir, name)?),
        XattrTarget::Fd(_) => None,
    };
    let raw = sized_call(|buf: &mut [u8]| {
        let ptr = buf.as_mut_ptr().cast::<libc::c_char>();
        match (target, &path) {
            // SAFETY: `ptr`/`buf.len()` describe a live, writable slice; the fd is open.
            (XattrTarget::Fd(fd), _) => unsafe { libc::flistxattr(fd.as_raw_fd(), ptr, buf.len()) },
            // SAFETY: as above, and `p` is NUL-terminated.
            (_, Some(p)) => unsafe { libc::llistxattr(p.as_ptr(), ptr, buf.len()) },
            (XattrTarget::At(..), None) => -1,
        }
    });
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(raw.split(|b| *b == 0).filter(|n| !n.is_empty()).filter_map(|n| CString::new(n).ok()).collect())
}

/// Runs a "size query then fill" xattr call, growing the buffer on `ERANGE`
/// (the value may change between the two calls).
fn sized_call(mut call: impl FnMut(&mut [u8]) -> libc::ssize_t) -> io::Result<Vec<u8>> {
    for _ in 0..8 {
        let size = call(&mut []);
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; size as usize];
        let got = call(&mut buf);
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
    Err(io::Error::from_raw_os_error(libc::ERANGE))
}

/// Views raw path bytes as an `OsStr` for nix calls.
pub(crate) fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// A `CString` from path bytes, rejecting interior NULs as `EINVAL`.
pub(crate) fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Starts writeback of `len` bytes of `file` from `offset` (`sync_file_range`
/// with `SYNC_FILE_RANGE_WRITE`) without waiting for it; `len` 0 means to the
/// end. Only a hint that makes a later `fsync` shorter: errors are ignored.
pub(crate) fn start_writeback(file: BorrowedFd<'_>, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len)) else { return };
    // SAFETY: plain integer arguments and a live fd; the call reads no memory of ours.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}
