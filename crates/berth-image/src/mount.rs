//! Overlay mounts of an image's layers plus a container's writable layer. The store only
//! describes the mount ([`OverlayMount`]); callers decide when to mount it.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::ImageError;

/// An overlay mount: read-only lowers (topmost first), a writable upper and its work dir.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlayMount {
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
}

impl OverlayMount {
    /// The mount data string.
    ///
    /// `index=off`, `redirect_dir=off` and `metacopy=off` keep the upper dir a plain diff that
    /// commit can turn back into a layer tar.
    pub fn options(&self) -> String {
        let lowers: Vec<String> = self.lowers.iter().map(|p| p.display().to_string()).collect();
        format!(
            "lowerdir={},upperdir={},workdir={},index=off,redirect_dir=off,metacopy=off",
            lowers.join(":"),
            self.upper.display(),
            self.work.display()
        )
    }

    /// Mounts at `target` (which must exist).
    pub fn mount(&self, target: &Path) -> Result<(), ImageError> {
        let data = self.options();
        if data.len() >= 4096 {
            return Err(ImageError::Invalid(format!("overlay options for {} exceed one page", target.display())));
        }
        mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(data.as_str()))
            .map_err(|source| ImageError::Mount { target: target.to_path_buf(), source })
    }
}

/// Whether something is mounted at `target`.
pub fn is_mounted(target: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let t = target.to_string_lossy();
    mounts.lines().any(|l| l.split(' ').nth(4) == Some(t.as_ref()))
}

/// Unmounts `target`; not being mounted is not an error.
pub fn unmount(target: &Path) -> Result<(), ImageError> {
    match umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(source) => Err(ImageError::Mount { target: target.to_path_buf(), source }),
    }
}
