//! Whiteouts: how a layer deletes what lower layers hold.
//!
//! In a tar, `D/.wh.NAME` deletes `D/NAME` of the lower layers and
//! `D/.wh..wh..opq` hides every lower child of `D` (OCI image-spec,
//! layer.md). A whiteout applies only to lower layers, never to entries of
//! its own layer, whatever their order in the tar.
//!
//! * [`WhiteoutMode::Overlay`]: the root is an overlayfs layer dir. `.wh.NAME`
//!   becomes a 0:0 character device `NAME` (unless this layer already has
//!   `NAME`), `.wh..wh..opq` becomes `trusted.overlay.opaque=y` on `D`; a
//!   directory this layer puts over its own whiteout device is made opaque, so
//!   the lower directory stays hidden.
//! * [`WhiteoutMode::Plain`]: the root is a flat tree holding the lower
//!   layers. `.wh.NAME` removes `NAME` recursively, `.wh..wh..opq` removes
//!   the children of `D`, sparing in both cases what this layer created
//!   (go-archive's `UnpackLayer` does the same for opaque directories).
//!
//! AUFS metadata at the top of the tar (`.wh..wh.aufs`, `.wh..wh.orph/...`)
//! is skipped. Files under `.wh..wh.plnk/` are hardlink targets: they are
//! created under that name, hardlinks to them are made as usual, and the
//! directory is removed once the layer is applied (Docker copies them from a
//! temporary directory instead; hardlinking keeps the link identity).

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};

use crate::error::{OpError, OpResult};
use crate::remove::{self, Decision};
use crate::resolve::{join, Root, DIR_READ};
use crate::sys::{self, XattrTarget};

/// Prefix of a whiteout file name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// Prefix of AUFS metadata at the top of a layer.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// AUFS directory holding hardlink targets.
pub const WHITEOUT_LINK_DIR: &str = ".wh..wh.plnk";
/// The overlayfs xattr marking an opaque directory.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How whiteouts are represented on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// An overlayfs layer dir (lower or upper): whiteouts are 0:0 character
    /// devices and opaque directories carry `trusted.overlay.opaque=y`.
    #[default]
    Overlay,
    /// A flat tree: whiteouts delete, and a directory is written as it is.
    Plain,
}

/// What a tar entry's name makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special<'a> {
    /// An ordinary entry.
    None,
    /// `.wh..wh..opq` in this directory.
    Opaque(&'a [u8]),
    /// `.wh.NAME` in `parent`.
    Whiteout { parent: &'a [u8], name: &'a [u8] },
    /// Top-level AUFS metadata other than the link dir: skipped.
    AufsMeta,
    /// Under `.wh..wh.plnk`: created for hardlinks, removed at the end.
    AufsLink,
}

/// Classifies a normalized entry path; the error is a reason for
/// `ApplyError::InvalidEntry`.
pub(crate) fn classify(rel: &[u8]) -> Result<Special<'_>, &'static str> {
    let first = rel.split(|b| *b == b'/').next().unwrap_or_default();
    if first.starts_with(WHITEOUT_META_PREFIX.as_bytes()) && rel != WHITEOUT_OPAQUE.as_bytes() {
        return Ok(if first == WHITEOUT_LINK_DIR.as_bytes() { Special::AufsLink } else { Special::AufsMeta });
    }
    let (parent, base) = crate::resolve::split(rel);
    if base == WHITEOUT_OPAQUE.as_bytes() {
        return Ok(Special::Opaque(parent));
    }
    match base.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        None => Ok(Special::None),
        Some(b"" | b"." | b"..") => Err("invalid whiteout name"),
        Some(name) => Ok(Special::Whiteout { parent, name }),
    }
}

/// What this layer has created so far, so whiteouts spare it.
#[derive(Debug, Default)]
pub(crate) struct LayerPaths {
    /// Entries of this layer.
    exact: HashSet<Vec<u8>>,
    /// Every ancestor directory of an entry of this layer.
    ancestors: HashSet<Vec<u8>>,
    /// Whiteout devices this layer made (Overlay mode).
    whiteouts: HashSet<Vec<u8>>,
}

impl LayerPaths {
    /// Records an entry of this layer.
    pub(crate) fn mark(&mut self, rel: &[u8]) {
        self.exact.insert(rel.to_vec());
        let mut cur = rel;
        while let Some(i) = cur.iter().rposition(|b| *b == b'/') {
            cur = &cur[..i];
            if !self.ancestors.insert(cur.to_vec()) {
                break;
            }
        }
    }

    /// Whether `rel` is a whiteout device made by this layer.
    pub(crate) fn is_own_whiteout(&self, rel: &[u8]) -> bool {
        self.whiteouts.contains(rel)
    }

    /// Plain-mode pruning: keep this layer's entries, look inside directories
    /// that hold some, remove the rest.
    fn decide(&self, rel: &[u8], is_dir: bool) -> Decision {
        let own = self.exact.contains(rel);
        if own && !is_dir {
            Decision::Keep
        } else if own || (is_dir && self.ancestors.contains(rel)) {
            Decision::Descend
        } else {
            Decision::Remove
        }
    }
}

/// Plain mode `.wh.NAME`: removes the lower `parent/NAME`. Returns how many
/// names were removed.
pub(crate) fn plain_whiteout(root: &mut Root, layer: &LayerPaths, parent: &[u8], name: &[u8]) -> Result<u64, OpError> {
    let dir = match root.dir(parent, false) {
        Ok(dir) => dir,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(0),
        Err(e) => return Err(OpError { op: "resolve parent", source: e }),
    };
    let rel = join(parent, name);
    let removed = remove::prune(dir.as_fd(), name, &rel, &|r, d| layer.decide(r, d)).op("remove whiteout target")?;
    if removed > 0 {
        root.invalidate();
    }
    Ok(removed)
}

/// Plain mode `.wh..wh..opq` in `dir_rel`: removes the lower children.
pub(crate) fn plain_opaque(root: &mut Root, layer: &LayerPaths, dir_rel: &[u8]) -> Result<u64, OpError> {
    let dir = root.dir(dir_rel, true).op("create directory")?;
    let mut removed = 0;
    for child in remove::list_dir(dir.as_fd()).op("list directory")? {
        let rel = join(dir_rel, &child);
        removed += remove::prune(dir.as_fd(), &child, &rel, &|r, d| layer.decide(r, d)).op("remove opaque child")?;
    }
    if removed > 0 {
        root.invalidate();
    }
    Ok(removed)
}

/// Overlay mode `.wh.NAME`: a 0:0 character device. When this layer already
/// has `NAME`, that entry wins; if it is a directory it is made opaque, which
/// hides the lower `NAME` as Plain mode would. Returns whether a device was made.
pub(crate) fn overlay_whiteout(root: &mut Root, layer: &mut LayerPaths, parent: &[u8], name: &[u8]) -> Result<bool, OpError> {
    let dir = root.dir(parent, true).op("create directory")?;
    if let Some(st) = remove::lstat_at(dir.as_fd(), name).op("stat")? {
        if remove::is_dir(&st) {
            let fd = sys::openat(dir.as_fd(), name, DIR_READ | OFlag::O_NOFOLLOW, Mode::empty()).op("open directory")?;
            mark_opaque(fd.as_fd())?;
        }
        return Ok(false);
    }
    make_whiteout_device(dir.as_fd(), name)?;
    layer.whiteouts.insert(join(parent, name));
    Ok(true)
}

/// Creates the overlayfs whiteout `name` in `dir`: char device 0:0, owner 0:0.
fn make_whiteout_device(dir: std::os::fd::BorrowedFd<'_>, name: &[u8]) -> Result<(), OpError> {
    let raw = dir.as_raw_fd();
    nix::sys::stat::mknodat(Some(raw), sys::os(name), SFlag::S_IFCHR, Mode::empty(), 0).op("create whiteout")?;
    let (uid, gid) = (Some(Uid::from_raw(0)), Some(Gid::from_raw(0)));
    nix::unistd::fchownat(Some(raw), sys::os(name), uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW).op("chown")
}

/// Overlay mode `.wh..wh..opq` in `dir_rel`: marks the directory opaque.
pub(crate) fn overlay_opaque(root: &mut Root, dir_rel: &[u8]) -> Result<(), OpError> {
    root.dir(dir_rel, true).op("create directory")?;
    let fd = root.open_in_root(dir_rel, DIR_READ | OFlag::O_NOFOLLOW).op("open directory")?;
    mark_opaque(fd.as_fd())
}

/// Sets `trusted.overlay.opaque=y` on an open directory.
pub(crate) fn mark_opaque(fd: std::os::fd::BorrowedFd<'_>) -> Result<(), OpError> {
    const KEY: &std::ffi::CStr = c"trusted.overlay.opaque";
    debug_assert_eq!(KEY.to_bytes(), OVERLAY_OPAQUE_XATTR.as_bytes());
    sys::set_xattr(XattrTarget::Fd(fd), KEY, b"y").op("set opaque xattr")
}

/// Whether a `stat` is an overlayfs whiteout (character device 0:0).
pub(crate) fn is_whiteout_device(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names() {
        assert_eq!(classify(b"a/b"), Ok(Special::None));
        assert_eq!(classify(b"a/.wh.b"), Ok(Special::Whiteout { parent: b"a", name: b"b" }));
        assert_eq!(classify(b".wh.b"), Ok(Special::Whiteout { parent: b"", name: b"b" }));
        assert_eq!(classify(b"a/.wh..wh..opq"), Ok(Special::Opaque(b"a")));
        assert_eq!(classify(b".wh..wh..opq"), Ok(Special::Opaque(b"")));
        assert_eq!(classify(b".wh..wh.aufs"), Ok(Special::AufsMeta));
        assert_eq!(classify(b".wh..wh.orph/x"), Ok(Special::AufsMeta));
        assert_eq!(classify(b".wh..wh.plnk/123.456"), Ok(Special::AufsLink));
        assert_eq!(classify(b"a/.wh.."), Err("invalid whiteout name"));
        assert_eq!(classify(b"a/.wh."), Err("invalid whiteout name"));
        assert_eq!(classify(b"a/.wh..."), Err("invalid whiteout name"));
    }

    #[test]
    fn layer_paths_decide() {
        let mut l = LayerPaths::default();
        l.mark(b"d/sub/new");
        assert_eq!(l.decide(b"d", true), Decision::Descend);
        assert_eq!(l.decide(b"d/sub", true), Decision::Descend);
        assert_eq!(l.decide(b"d/sub/new", false), Decision::Keep);
        assert_eq!(l.decide(b"d/sub/old", false), Decision::Remove);
        assert_eq!(l.decide(b"d/other", true), Decision::Remove);
        assert_eq!(l.decide(b"d", false), Decision::Remove);
    }
}
