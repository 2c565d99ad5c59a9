//! An image's file system mounted for one build step: the image's layers as overlay lowers
//! (the empty dir for `scratch`) and a fresh upper dir that collects the step's changes,
//! which then become the step's layer, exactly as a container's writable layer does.
//! `COPY`, `ADD` and `WORKDIR` write here; `COPY --from` reads another image the same way.

use std::path::{Path, PathBuf};

use berth_archive::inroot;
use berth_image::mount::OverlayMount;
use berth_image::{Digest, ImageRecord, ImageStore, LayerRecord};

use crate::error::EngineError;

/// A mounted step root; unmounted and deleted on drop.
pub struct StepRoot {
    dir: PathBuf,
    mountpoint: PathBuf,
    mounted: bool,
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    move |e| EngineError::internal(&format!("{what} {}", path.display()), e)
}

/// The chain id of an image's top layer: the parent of a layer made on top of it.
pub fn top_chain(image: Option<&ImageRecord>) -> Result<Option<Digest>, EngineError> {
    match image.and_then(|i| i.layers.last()) {
        Some(l) => Digest::parse(&l.chain_id).map(Some).map_err(|e| EngineError::Internal(format!("image layer: {e}"))),
        None => Ok(None),
    }
}

impl StepRoot {
    /// Mounts `image` (`None`: nothing, as for `scratch`) with a new upper dir under `dir`.
    pub fn mount(images: &ImageStore, image: Option<&ImageRecord>, dir: PathBuf) -> Result<Self, EngineError> {
        let (upper, work, mountpoint) = (dir.join("upper"), dir.join("work"), dir.join("mnt"));
        for d in [&upper, &work, &mountpoint] {
            std::fs::create_dir_all(d).map_err(io_err("create", d))?;
        }
        let overlay = match image {
            Some(img) => images.overlay(img, upper, work)?,
            None => OverlayMount { lowers: vec![images.layers().empty_dir()], upper, work },
        };
        let mut root = Self { dir, mountpoint, mounted: false };
        mount_volatile(&overlay, &root.mountpoint)?;
        root.mounted = true;
        Ok(root)
    }

    /// Where the merged file system is.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    fn unmount(&mut self) -> Result<(), EngineError> {
        if self.mounted {
            berth_image::mount::unmount(&self.mountpoint)?;
            self.mounted = false;
        }
        Ok(())
    }

    /// Unmounts and turns the step's changes into a layer on top of `parent`; `None` when
    /// nothing changed.
    pub fn into_layer(mut self, images: &ImageStore, parent: Option<&ImageRecord>) -> Result<Option<LayerRecord>, EngineError> {
        self.unmount()?;
        let upper = self.dir.join("upper");
        let empty = std::fs::read_dir(&upper).map_err(io_err("read", &upper))?.next().is_none();
        if empty {
            return Ok(None);
        }
        Ok(Some(images.layer_from_upper(top_chain(parent)?.as_ref(), &upper)?))
    }
}

/// Mounts `overlay` with `volatile`: a step's upper dir is scratch (what is kept goes
/// through the image store, which syncs its own files), so unmounting must not sync the
/// whole upper file system, which costs tens of milliseconds per step on a busy disk.
/// Kernels without `volatile` (before 5.10) get the plain mount.
fn mount_volatile(overlay: &OverlayMount, target: &Path) -> Result<(), EngineError> {
    let data = format!("{},volatile", overlay.options());
    if data.len() < 4096 {
        let flags = nix::mount::MsFlags::empty();
        if nix::mount::mount(Some("overlay"), target, Some("overlay"), flags, Some(data.as_str())).is_ok() {
            return Ok(());
        }
    }
    Ok(overlay.mount(target)?)
}

impl Drop for StepRoot {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            tracing::warn!("build: unmount {}: {e}", self.mountpoint.display());
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!("build: remove {}: {e}", self.dir.display());
        }
    }
}

/// Drops, from a `RUN` container's upper dir, the mount points the runtime had to create
/// because the image lacked them (empty `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`,
/// `/proc`, `/sys`, `/dev`): Docker keeps those in a separate init layer that is never
/// committed. Resolution stays inside the upper dir whatever the `RUN` left there.
pub fn drop_mount_points(upper: &Path) -> Result<(), EngineError> {
    for p in ["etc/hosts", "etc/hostname", "etc/resolv.conf", "proc", "sys", "dev"] {
        inroot::remove_empty_in_root(upper, p).map_err(io_err("clean", Path::new(p)))?;
    }
    Ok(())
}
