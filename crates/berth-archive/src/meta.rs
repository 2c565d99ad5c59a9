//! Entry metadata: read from a tar header and its PAX records, then applied
//! to the inode we created.
//!
//! Order matters and is always: owner, mode, xattrs, times. `chown` clears
//! the setuid/setgid bits and the `security.capability` xattr, so the mode and
//! xattrs come after it; setting xattrs does not touch mtime, writing data
//! does, so times come last. Modes are set with an explicit `fchmod`, so the
//! process umask never shows.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::fcntl::AtFlags;
use nix::sys::stat::{Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use crate::error::{OpError, OpResult};
use crate::sys::{self, XattrTarget};

/// PAX record prefix that carries extended attributes (GNU tar, Go, Docker).
pub(crate) const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Whether an xattr is overlayfs control data (`trusted.overlay.*`, or
/// `user.overlay.*` under `userxattr`). These are never taken from a tar, in
/// either whiteout mode: a hostile layer must not fake whiteouts, opaque
/// directories or redirects that way. They are never written to a tar made
/// from an overlay upper dir either.
pub(crate) fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Metadata of one tar entry.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mtime: TimeSpec,
    /// From `SCHILY.xattr.*`, overlay control xattrs already dropped.
    pub(crate) xattrs: Vec<(CString, Vec<u8>)>,
}

impl Meta {
    /// Reads the metadata of `entry`; the error is a reason for
    /// `ApplyError::InvalidEntry`.
    pub(crate) fn from_entry<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, String> {
        let h = entry.header();
        let old = h.as_old();
        let mode = lenient(&old.mode, h.mode().map(u64::from), "mode")? as u32 & 0o7777;
        let uid = id(lenient(&old.uid, h.uid(), "uid")?, "uid")?;
        let gid = id(lenient(&old.gid, h.gid(), "gid")?, "gid")?;
        let secs = lenient(&old.mtime, h.mtime(), "mtime")?;
        let mut mtime = TimeSpec::new(i64::try_from(secs).unwrap_or(i64::MAX), 0);
        let mut xattrs = Vec::new();
        let pax = entry.pax_extensions().map_err(|e| format!("invalid pax header: {e}"))?;
        for rec in pax.into_iter().flatten() {
            let rec = rec.map_err(|e| format!("invalid pax record: {e}"))?;
            let key = rec.key_bytes();
            if key == b"mtime" {
                mtime = parse_pax_time(rec.value_bytes()).ok_or("invalid pax mtime record")?;
            } else if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                if is_overlay_xattr(name) {
                    continue;
                }
                let name = CString::new(name).map_err(|_| "xattr name contains a NUL byte")?;
                xattrs.push((name, rec.value_bytes().to_vec()));
            }
        }
        Ok(Meta { mode, uid, gid, mtime, xattrs })
    }
}

/// A numeric header field; an empty one (all NULs or spaces) reads as 0, as
/// in Go's `archive/tar`, which is what Docker parses layers with.
fn lenient(raw: &[u8], parsed: std::io::Result<u64>, what: &str) -> Result<u64, String> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(format!("invalid {what} field: {e}")),
    }
}

fn id(v: u64, what: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("{what} {v} out of range"))
}

/// Parses a PAX time, `SECS[.FRACTION]`, possibly negative.
pub(crate) fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: i64 = digits.parse().ok()?;
    if !neg {
        return Some(TimeSpec::new(secs, nanos));
    }
    Some(if nanos == 0 { TimeSpec::new(-secs, 0) } else { TimeSpec::new(-secs - 1, 1_000_000_000 - nanos) })
}

/// Counts xattrs the file system refused (`ENOTSUP`, `EPERM`), which Docker
/// also tolerates: not every backing file system takes every namespace.
pub(crate) type Skipped = u64;

/// Applies owner, mode, xattrs and, with `times`, mtime (atime = mtime)
/// through `fd`, which is open on the inode itself (regular file, directory).
pub(crate) fn apply_fd(fd: BorrowedFd<'_>, m: &Meta, same_owner: bool, times: bool) -> Result<Skipped, OpError> {
    let raw = fd.as_raw_fd();
    if same_owner {
        nix::unistd::fchown(raw, Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid))).op("chown")?;
    }
    nix::sys::stat::fchmod(raw, Mode::from_bits_retain(m.mode)).op("chmod")?;
    let skipped = set_xattrs(XattrTarget::Fd(fd), m)?;
    if times {
        nix::sys::stat::futimens(raw, &m.mtime, &m.mtime).op("set times")?;
    }
    Ok(skipped)
}

/// Applies owner, mode (not for symlinks), xattrs and mtime to entry `name`
/// of `dir` without following it: for symlinks, devices, fifos and hardlinks.
pub(crate) fn apply_at(dir: BorrowedFd<'_>, name: &[u8], m: &Meta, same_owner: bool, symlink: bool) -> Result<Skipped, OpError> {
    let raw = dir.as_raw_fd();
    if same_owner {
        nix::unistd::fchownat(Some(raw), sys::os(name), Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid)), AtFlags::AT_SYMLINK_NOFOLLOW).op("chown")?;
    }
    if !symlink {
        sys::chmod_nofollow(dir, name, m.mode).op("chmod")?;
    }
    let skipped = set_xattrs(XattrTarget::At(dir, name), m)?;
    nix::sys::stat::utimensat(Some(raw), sys::os(name), &m.mtime, &m.mtime, UtimensatFlags::NoFollowSymlink).op("set times")?;
    Ok(skipped)
}

fn set_xattrs(target: XattrTarget<'_>, m: &Meta) -> Result<Skipped, OpError> {
    let mut skipped = 0;
    for (name, value) in &m.xattrs {
        match sys::set_xattr(target, name, value) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => skipped += 1,
            Err(e) => return Err(OpError { op: "set xattr", source: e }),
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec(), t.tv_nsec()));
        assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(t("1700000000.5"), Some((1_700_000_000, 500_000_000)));
        assert_eq!(t("1.1234567899"), Some((1, 123_456_789)));
        assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(t(""), None);
        assert_eq!(t("1e5"), None);
        assert_eq!(t("."), None);
    }

    #[test]
    fn overlay_xattrs_are_recognised() {
        assert!(is_overlay_xattr(b"trusted.overlay.opaque"));
        assert!(is_overlay_xattr(b"user.overlay.redirect"));
        assert!(!is_overlay_xattr(b"security.capability"));
        assert!(!is_overlay_xattr(b"trusted.overlayfoo"));
    }
}
