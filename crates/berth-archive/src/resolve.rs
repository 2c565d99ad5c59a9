//! Path handling that keeps every operation inside the layer root.
//!
//! Two steps, both needed:
//! 1. [`RelPath::normalize`] turns a tar name into a clean relative path the
//!    way Docker does (`/a/b` is `a/b`, `a/./b` is `a/b`, `a/../b` is `b`) and
//!    rejects names whose `..` climb above the root.
//! 2. [`Root`] resolves the *parent* of that path with
//!    `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so symlinks met on
//!    the way (`x -> /`, `x -> ../../..`, chains) are resolved as if the root
//!    were `/` and can never lead outside it. The final component is then
//!    created or changed relative to that directory fd with the `*at` calls
//!    and `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`.
//!
//! Resolved parent fds are cached by path. The cache must be cleared whenever
//! anything is removed or replaced under the root ([`Root::invalidate`]):
//! creating a name that did not exist cannot change how an existing path
//! resolves, but removing a directory or symlink can.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::sys;

/// Flags for directory fds used only as the `dirfd` of `*at` calls.
const DIR_PATH: OFlag = OFlag::O_PATH.union(OFlag::O_DIRECTORY);

/// Flags for directory fds we read or change (xattrs, listing).
pub(crate) const DIR_READ: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY);

/// At most this many parent fds stay cached; the cache is simply emptied
/// when full (tar entries are mostly sorted, so recent parents are reused).
const CACHE_CAP: usize = 256;

/// Mode of directories created implicitly for entries whose parents are
/// missing from the tar, as Docker does.
const IMPLICIT_DIR_MODE: u32 = 0o755;

/// Why a tar name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathProblem {
    /// Its `..` components climb above the root.
    Escapes,
    /// It contains a NUL byte.
    Nul,
}

/// A normalized path relative to the root: no leading `/`, no `.`, `..` or
/// empty components; empty for the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RelPath(Vec<u8>);

impl RelPath {
    /// Normalizes a raw tar name lexically, like Go's `filepath.Clean` and
    /// Docker's join with the root: a rooted name (`/a`, `/../a`) stays under
    /// the root, since `..` at `/` is `/`; a relative name whose `..` climb
    /// above the root is refused.
    pub(crate) fn normalize(raw: &[u8]) -> Result<RelPath, PathProblem> {
        if raw.contains(&0) {
            return Err(PathProblem::Nul);
        }
        let rooted = raw.first() == Some(&b'/');
        let mut parts: Vec<&[u8]> = Vec::new();
        for comp in raw.split(|b| *b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => {
                    if parts.pop().is_none() && !rooted {
                        return Err(PathProblem::Escapes);
                    }
                }
                c => parts.push(c),
            }
        }
        Ok(RelPath(parts.join(&b'/')))
    }

    /// The path bytes, `a/b/c`.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is the root itself.
    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `(parent, final component)`; the parent is empty for top-level names.
    pub(crate) fn split(&self) -> (&[u8], &[u8]) {
        split(&self.0)
    }
}

/// Splits normalized path bytes into `(parent, final component)`.
pub(crate) fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|b| *b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

/// Joins normalized path bytes and one component.
pub(crate) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parent.len() + 1 + name.len());
    out.extend_from_slice(parent);
    if !parent.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// The layer root and a cache of resolved parent directories.
pub(crate) struct Root {
    fd: OwnedFd,
    cache: HashMap<Vec<u8>, Rc<OwnedFd>>,
}

impl Root {
    /// Opens the root directory. Its own path is trusted (it comes from the
    /// engine, not from the tar) and may go through symlinks.
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        Ok(Root { fd: sys::open(path, DIR_PATH)?, cache: HashMap::new() })
    }

    /// The root directory fd (an `O_PATH` fd: use it as a `dirfd` only).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `rel` with `flags`, resolving every component inside the root.
    pub(crate) fn open_in_root(&self, rel: &[u8], flags: OFlag) -> io::Result<OwnedFd> {
        sys::openat2_in_root(self.fd.as_fd(), rel, flags)
    }

    /// The directory `rel` resolves to inside the root, for use as a `dirfd`.
    /// With `create`, missing components are created (mode 0755), like the
    /// implicit parents Docker makes for entries whose directories are not in
    /// the tar.
    pub(crate) fn dir(&mut self, rel: &[u8], create: bool) -> io::Result<Rc<OwnedFd>> {
        if let Some(fd) = self.cache.get(rel) {
            return Ok(Rc::clone(fd));
        }
        let fd = match self.open_in_root(rel, DIR_PATH) {
            Ok(fd) => fd,
            Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => self.mkdir_all(rel)?,
            Err(e) => return Err(e),
        };
        if self.cache.len() >= CACHE_CAP {
            self.cache.clear();
        }
        let fd = Rc::new(fd);
        self.cache.insert(rel.to_vec(), Rc::clone(&fd));
        Ok(fd)
    }

    /// Forgets every cached parent: call after removing or replacing anything.
    pub(crate) fn invalidate(&mut self) {
        self.cache.clear();
    }

    /// Creates the missing components of `rel` one by one. Each prefix is
    /// resolved again from the root, so a component that is a symlink is
    /// followed inside the root and a dangling one fails with `EEXIST`.
    fn mkdir_all(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        let mut cur = self.open_in_root(b"", DIR_PATH)?;
        let mut end = 0;
        for comp in rel.split(|b| *b == b'/') {
            end += comp.len();
            let prefix = &rel[..end];
            end += 1;
            cur = match self.open_in_root(prefix, DIR_PATH) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    make_implicit_dir(cur.as_fd(), comp)?;
                    self.open_in_root(prefix, DIR_PATH)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }
}

/// `mkdirat` plus an explicit `fchmod`, so the process umask has no say.
fn make_implicit_dir(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    nix::sys::stat::mkdirat(Some(parent.as_raw_fd()), sys::os(name), Mode::from_bits_retain(0o700))?;
    let fd = sys::openat(parent, name, DIR_READ | OFlag::O_NOFOLLOW, Mode::empty())?;
    nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_retain(IMPLICIT_DIR_MODE))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, PathProblem> {
        RelPath::normalize(s.as_bytes()).map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned())
    }

    #[test]
    fn normalize_cleans_like_docker() {
        assert_eq!(norm("a/b/c").as_deref(), Ok("a/b/c"));
        assert_eq!(norm("/abs/evil").as_deref(), Ok("abs/evil"));
        assert_eq!(norm("//a//./b/").as_deref(), Ok("a/b"));
        assert_eq!(norm("./").as_deref(), Ok(""));
        assert_eq!(norm("a/../b").as_deref(), Ok("b"));
        assert_eq!(norm("/../x").as_deref(), Ok("x"));
        assert_eq!(norm("../evil"), Err(PathProblem::Escapes));
        assert_eq!(norm("a/../../evil"), Err(PathProblem::Escapes));
        assert_eq!(norm("a\0b"), Err(PathProblem::Nul));
    }

    #[test]
    fn split_and_join() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(join(b"", b"x"), b"x");
        assert_eq!(join(b"a", b"x"), b"a/x");
    }
}
