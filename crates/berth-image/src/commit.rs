//! Making images from changes: a container's overlay upper dir becomes a layer
//! ([`ImageStore::layer_from_upper`]), and a base image plus an optional new layer plus a config
//! becomes a new image ([`ImageStore::derive`]). `docker commit` and the builder both use these.

use std::io::Write;
use std::path::Path;

use berth_archive::{TarOptions, WhiteoutMode};

use crate::config::{History, ImageConfig};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::manifest::MEDIA_OCI_LAYER;
use crate::store::{ImageRecord, ImageStore, LayerRecord};

/// A pipe with a 1 MiB buffer (when the kernel allows), so the archiver and the unpacker
/// trade large chunks.
fn pipe() -> std::io::Result<(std::fs::File, std::fs::File)> {
    let (r, w) = nix::unistd::pipe().map_err(std::io::Error::from)?;
    let _ = nix::fcntl::fcntl(std::os::fd::AsRawFd::as_raw_fd(&w), nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
    Ok((std::fs::File::from(r), std::fs::File::from(w)))
}

impl ImageStore {
    /// Archives the overlay upper dir `upper` (whiteout devices become `.wh.` entries) into a
    /// new uncompressed layer on top of the layer `parent_chain`, stores its blob and unpacks it
    /// into the layer store. An empty upper dir still makes a (tiny) layer: callers that want
    /// no layer for no change check for that themselves.
    pub fn layer_from_upper(&self, parent_chain: Option<&Digest>, upper: &Path) -> Result<LayerRecord, ImageError> {
        self.layer_from_dir(parent_chain, upper, WhiteoutMode::Overlay)
    }

    /// Archives `dir` as a layer; `mode` says whether it is an overlay upper dir or a plain tree
    /// (a builder's staging dir for `COPY`).
    ///
    /// The tar is produced once, by a thread, and read once as the layer store unpacks it
    /// (hashing it for the diff id). No copy of it is kept when the layer can give it back
    /// (push and save rebuild it; its blob is named by the diff id), as for imports; otherwise
    /// `dir` is archived again into a blob, which must hash to the same diff id.
    pub fn layer_from_dir(&self, parent_chain: Option<&Digest>, dir: &Path, mode: WhiteoutMode) -> Result<LayerRecord, ImageError> {
        let (reader, writer) = pipe().map_err(|e| ImageError::io(dir, e))?;
        let (unpacked, produced) = std::thread::scope(|scope| {
            let producer = scope.spawn(move || -> Result<(), String> {
                let mut out = std::io::BufWriter::with_capacity(1 << 20, writer);
                berth_archive::write_tar_from_dir(dir, &mut out, &TarOptions::new(mode)).map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())
            });
            let unpacked = self.layers().unpack(std::io::BufReader::with_capacity(1 << 20, reader), None);
            let produced = producer.join().unwrap_or_else(|_| Err("archiver thread panicked".into()));
            (unpacked, produced)
        });
        produced.map_err(|e| ImageError::Invalid(format!("archive {}: {e}", dir.display())))?;
        let unpacked = unpacked?;
        let (blob, blob_size) = if unpacked.rebuildable {
            (unpacked.diff_id.clone(), unpacked.size)
        } else {
            let mut blob = self.content().writer()?;
            berth_archive::write_tar_from_dir(dir, &mut blob, &TarOptions::new(mode))
                .map_err(|e| ImageError::Invalid(format!("archive {}: {e}", dir.display())))?;
            let size = blob.size();
            (blob.commit(Some(&unpacked.diff_id))?, size)
        };
        let info = self.layers().register(unpacked, parent_chain)?;
        Ok(LayerRecord {
            chain_id: info.chain_id.to_string(),
            diff_id: info.diff_id.to_string(),
            blob: blob.to_string(),
            media_type: MEDIA_OCI_LAYER.to_string(),
            blob_size,
            size: info.size,
        })
    }

    /// Records a new image: `base`'s layers (none for `scratch`) plus `layer` if any, with
    /// `config` (whose `rootfs` and `history` are completed here: `history` is appended, marked
    /// as an empty layer when `layer` is `None`). The new image's parent is `base`.
    pub fn derive(
        &self,
        base: Option<&ImageRecord>,
        layer: Option<LayerRecord>,
        mut config: ImageConfig,
        mut history: History,
    ) -> Result<ImageRecord, ImageError> {
        let mut layers: Vec<LayerRecord> = base.map(|b| b.layers.clone()).unwrap_or_default();
        history.empty_layer = layer.is_none();
        if history.created.is_none() {
            history.created = Some(crate::now_rfc3339());
        }
        if let Some(l) = layer {
            layers.push(l);
        }
        config.created = history.created.clone();
        config.rootfs.typ = "layers".into();
        config.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.clone()).collect();
        config.history.push(history);
        let bytes = serde_json::to_vec(&config).map_err(|e| ImageError::Invalid(e.to_string()))?;
        let parent = base.map(|b| b.id.clone()).unwrap_or_default();
        self.create_image(&bytes, layers, None, &parent)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::meta::MetaDb;

    #[test]
    fn derive_stacks_layers_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Arc::new(MetaDb::open(&dir.path().join("db")).unwrap());
        let store = ImageStore::open(&dir.path().join("root"), meta).unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("etc")).unwrap();
        std::fs::write(src.join("etc/motd"), "hi").unwrap();
        let l1 = store.layer_from_dir(None, &src, WhiteoutMode::Plain).unwrap();
        let base = store.derive(None, Some(l1.clone()), ImageConfig::new_for_host(), History { created_by: "COPY".into(), ..Default::default() }).unwrap();
        let mut cfg = store.config(&base).unwrap();
        cfg.config.cmd = Some(vec!["sh".into()]);
        let child = store.derive(Some(&base), None, cfg, History { created_by: "CMD".into(), ..Default::default() }).unwrap();
        let child_cfg = store.config(&child).unwrap();
        assert_eq!(child_cfg.rootfs.diff_ids, vec![l1.diff_id.clone()]);
        assert_eq!(child_cfg.history.len(), 2);
        assert!(child_cfg.history[1].empty_layer);
        assert_eq!(child.parent, base.id);
        let chain = Digest::parse(&l1.chain_id).unwrap();
        // No second copy of the tar: the layer rebuilds it, and its blob is named by its diff id.
        assert!(store.layers().rebuildable(&chain));
        assert_eq!(l1.blob, l1.diff_id);
        let mut rebuilt = Vec::new();
        store.layers().write_tar(&chain, &mut rebuilt).unwrap();
        assert_eq!(Digest::of(&rebuilt).to_string(), l1.diff_id);
        assert_eq!(std::fs::read_to_string(store.layers().diff_dir(&chain).join("etc/motd")).unwrap(), "hi");
        // Same layer content twice is one layer.
        let again = store.layer_from_dir(None, &src, WhiteoutMode::Plain).unwrap();
        assert_eq!(again.chain_id, l1.chain_id);
    }
}
