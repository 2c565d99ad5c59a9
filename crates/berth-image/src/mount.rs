//! Overlay mounts of an image's layers plus a container's writable layer. The store only
//! describes the mount ([`OverlayMount`]); callers decide when to mount it.

use std::collections::BTreeSet;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

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
        format!("lowerdir={},upperdir={},workdir={},index=off,redirect_dir=off,metacopy=off", lowers.join(":"), self.upper.display(), self.work.display())
    }

    /// Mounts at `target` (which must exist), once an earlier mount of the same upper dir
    /// that [`unmount_in_background`] detached is fully gone: two live overlays sharing an
    /// upper dir are undefined behaviour.
    pub fn mount(&self, target: &Path) -> Result<(), ImageError> {
        let data = self.options();
        if data.len() >= 4096 {
            return Err(ImageError::Invalid(format!("overlay options for {} exceed one page", target.display())));
        }
        RELEASING.wait_for(&self.upper);
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

/// Upper dirs whose overlay was detached but whose superblock is still being torn down.
struct Releasing {
    uppers: Mutex<BTreeSet<PathBuf>>,
    gone: Condvar,
}

static RELEASING: Releasing = Releasing { uppers: Mutex::new(BTreeSet::new()), gone: Condvar::new() };

impl Releasing {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<PathBuf>> {
        self.uppers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait_for(&self, upper: &Path) {
        let mut set = self.lock();
        while set.contains(upper) {
            set = self.gone.wait(set).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn done(&self, upper: &Path) {
        self.lock().remove(upper);
        self.gone.notify_all();
    }
}

/// Unmounts the overlay at `target` (whose upper dir is `upper`) without waiting for it to be
/// torn down; not being mounted is not an error.
///
/// Tearing down an overlay's superblock syncs its upper dir's whole filesystem, every other
/// process's dirty data included: 0.1-1 s on a host that is writing, on the path of every
/// container exit and `run --rm`. Here the mount is pinned by an `O_PATH` descriptor, detached
/// from the tree at once (nothing can reach it any more), and the pin is dropped on a thread
/// of its own, where the sync then happens: the same durability, off the caller's path. A
/// later [`OverlayMount::mount`] of the same upper dir waits for it.
pub fn unmount_in_background(target: &Path, upper: &Path) -> Result<(), ImageError> {
    let pin = match std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_PATH | nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW).open(target) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ImageError::Mount { target: target.to_path_buf(), source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)) }),
    };
    // Registered before the detach, so no mount of the same upper can slip in between.
    RELEASING.lock().insert(upper.to_path_buf());
    let release = Release { pin: Some(pin), upper: upper.to_path_buf() };
    match umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) => {}
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => return Ok(()),
        Err(source) => return Err(ImageError::Mount { target: target.to_path_buf(), source }),
    }
    // When no thread can be spawned, the closure is dropped here and releases inline.
    if let Err(e) = std::thread::Builder::new().name("overlay-release".into()).spawn(move || drop(release)) {
        tracing::debug!("overlay release thread: {e}");
    }
    Ok(())
}

/// A pinned, detached overlay: dropping it drops the last reference, which tears the overlay
/// down (and syncs), then lets waiting mounts of the same upper dir go.
struct Release {
    pin: Option<std::fs::File>,
    upper: PathBuf,
}

impl Drop for Release {
    fn drop(&mut self) {
        drop(self.pin.take());
        RELEASING.done(&self.upper);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root (mount); skipped elsewhere.
    #[test]
    fn background_unmount_detaches_at_once_and_a_remount_waits_for_the_release() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (lower, upper, work, target) = (dir.path().join("l"), dir.path().join("u"), dir.path().join("w"), dir.path().join("m"));
        for d in [&lower, &upper, &work, &target] {
            std::fs::create_dir(d).expect("mkdir");
        }
        let ov = OverlayMount { lowers: vec![lower], upper: upper.clone(), work };
        ov.mount(&target).expect("mount");
        std::fs::write(target.join("f"), b"x").expect("write through the overlay");
        unmount_in_background(&target, &upper).expect("unmount");
        assert!(!is_mounted(&target), "detached at once");
        assert_eq!(std::fs::read(upper.join("f")).expect("upper keeps the write"), b"x");
        // Not mounted any more: a second unmount is not an error.
        unmount_in_background(&target, &upper).expect("unmount twice");
        ov.mount(&target).expect("remount after the release");
        assert!(is_mounted(&target));
        unmount(&target).expect("final unmount");
        assert!(RELEASING.lock().is_empty());
    }
}
