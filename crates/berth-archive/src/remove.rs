//! Removing trees under the root without ever following a symlink.
//!
//! Every step works on directory fds opened with `O_NOFOLLOW` and removes
//! names with `unlinkat`, so a symlink met during a removal is removed itself
//! and what it points at is never touched. The walk is iterative (a hostile
//! layer may build very deep trees) and holds one fd per level.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;

use crate::resolve::{join, DIR_READ};
use crate::sys;

/// What to do with one path met during a pruning walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Remove it and everything below it.
    Remove,
    /// Leave it and everything below it.
    Keep,
    /// Leave it, but decide again for each of its children (directories only;
    /// for a non-directory it means [`Decision::Keep`]).
    Descend,
}

/// Decides for a path (relative to the layer root) and whether it is a directory.
pub(crate) type Decider<'a> = &'a dyn Fn(&[u8], bool) -> Decision;

/// Removes everything, for replacing an entry.
pub(crate) const REMOVE_ALL: Decider<'static> = &|_, _| Decision::Remove;

/// `lstat` of `name` in `dir`: `Ok(None)` when it does not exist.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<libc::stat>> {
    match nix::sys::stat::fstatat(Some(dir.as_raw_fd()), sys::os(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a `stat` mode is a directory.
pub(crate) fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// The names in a directory, sorted, without `.` and `..`.
pub(crate) fn list_dir(fd: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let dup = sys::openat(fd, b".", DIR_READ, Mode::empty())?;
    let mut dir = nix::dir::Dir::from(dup)?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// One directory being walked.
struct Frame {
    fd: OwnedFd,
    rel: Vec<u8>,
    name: Vec<u8>,
    /// Children still to visit, popped from the end.
    pending: Vec<Vec<u8>>,
    /// Remove this directory once its children are gone.
    remove: bool,
}

impl Frame {
    fn open(parent: BorrowedFd<'_>, name: &[u8], rel: Vec<u8>, remove: bool) -> io::Result<Frame> {
        let fd = sys::openat(parent, name, DIR_READ | OFlag::O_NOFOLLOW, Mode::empty())?;
        let mut pending = list_dir(fd.as_fd())?;
        pending.reverse();
        Ok(Frame { fd, rel, name: name.to_vec(), pending, remove })
    }
}

/// Applies `decide` to entry `name` of `dir` (at `rel` from the root) and,
/// where it says [`Decision::Descend`], to its children. Returns how many
/// names were removed; a missing `name` is not an error.
pub(crate) fn prune(dir: BorrowedFd<'_>, name: &[u8], rel: &[u8], decide: Decider<'_>) -> io::Result<u64> {
    let Some(st) = lstat_at(dir, name)? else { return Ok(0) };
    let first = decide(rel, is_dir(&st));
    match (first, is_dir(&st)) {
        (Decision::Keep, _) | (Decision::Descend, false) => return Ok(0),
        (Decision::Remove, false) => {
            unlink(dir, name, false)?;
            return Ok(1);
        }
        _ => {}
    }
    let mut removed = 0;
    let mut stack = vec![Frame::open(dir, name, rel.to_vec(), first == Decision::Remove)?];
    while let Some(top) = stack.last_mut() {
        let Some(child) = top.pending.pop() else {
            let Some(done) = stack.pop() else { break };
            if done.remove {
                let parent = stack.last().map_or(dir, |f| f.fd.as_fd());
                unlink(parent, &done.name, true)?;
                removed += 1;
            }
            continue;
        };
        let Some(st) = lstat_at(top.fd.as_fd(), &child)? else { continue };
        let child_rel = join(&top.rel, &child);
        let d = if top.remove { Decision::Remove } else { decide(&child_rel, is_dir(&st)) };
        match (d, is_dir(&st)) {
            (Decision::Keep, _) | (Decision::Descend, false) => {}
            (Decision::Remove, false) => {
                unlink(top.fd.as_fd(), &child, false)?;
                removed += 1;
            }
            (_, true) => {
                let frame = Frame::open(top.fd.as_fd(), &child, child_rel, d == Decision::Remove)?;
                stack.push(frame);
            }
        }
    }
    Ok(removed)
}

fn unlink(dir: BorrowedFd<'_>, name: &[u8], is_dir: bool) -> io::Result<()> {
    let flag = if is_dir { UnlinkatFlags::RemoveDir } else { UnlinkatFlags::NoRemoveDir };
    nix::unistd::unlinkat(Some(dir.as_raw_fd()), sys::os(name), flag)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn dirfd(p: &std::path::Path) -> OwnedFd {
        sys::open(p, DIR_READ).expect("open dir")
    }

    #[test]
    fn remove_all_does_not_follow_symlinks() {
        let t = tempfile::tempdir().expect("tempdir");
        let outside = t.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("keep"), b"x").expect("write");
        let root = t.path().join("root");
        fs::create_dir_all(root.join("d/e/f")).expect("mkdir");
        fs::write(root.join("d/e/f/file"), b"y").expect("write");
        symlink(&outside, root.join("d/link")).expect("symlink");
        let fd = dirfd(&root);
        let n = prune(fd.as_fd(), b"d", b"d", REMOVE_ALL).expect("prune");
        assert_eq!(n, 5);
        assert!(!root.join("d").exists());
        assert!(outside.join("keep").exists());
    }

    #[test]
    fn descend_keeps_what_the_decider_keeps() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path();
        fs::create_dir_all(root.join("d/sub")).expect("mkdir");
        fs::write(root.join("d/old"), b"").expect("write");
        fs::write(root.join("d/sub/old"), b"").expect("write");
        fs::write(root.join("d/sub/new"), b"").expect("write");
        let fd = dirfd(root);
        let keep = |rel: &[u8], _dir: bool| match rel {
            b"d" | b"d/sub" => Decision::Descend,
            b"d/sub/new" => Decision::Keep,
            _ => Decision::Remove,
        };
        prune(fd.as_fd(), b"d", b"d", &keep).expect("prune");
        assert!(!root.join("d/old").exists());
        assert!(!root.join("d/sub/old").exists());
        assert!(root.join("d/sub/new").exists());
    }

    #[test]
    fn missing_name_is_fine() {
        let t = tempfile::tempdir().expect("tempdir");
        let fd = dirfd(t.path());
        assert_eq!(prune(fd.as_fd(), b"nope", b"nope", REMOVE_ALL).expect("prune"), 0);
    }
}
