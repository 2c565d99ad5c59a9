//! Where the tar of an image's layer comes from when it leaves the store (`save`, `push`).
//!
//! A layer's own blob (as pulled, loaded or built) is not always stored: an `Already exists`
//! layer was never downloaded under this image's blob digest, uncompressed layers keep no blob
//! when they can rebuild their tar, and removing an image removes blobs no other image names.
//! In that order of preference the bytes are then: the layer's own blob; its tar rebuilt byte
//! for byte from the split record; another stored blob with the same diff id (another image's
//! compressed blob, or an uncompressed one named by the diff id); and, for a layer registered
//! before split records existed, its tree archived again, which is kept only when it hashes to
//! the diff id (a layer berth archived itself from a tree, as build and commit do). A layer
//! with none of these cannot be written faithfully, and is refused with a message saying so.

use berth_archive::{TarOptions, WhiteoutMode};

use crate::digest::Digest;
use crate::error::ImageError;
use crate::manifest::{MEDIA_DOCKER_LAYER, MEDIA_DOCKER_LAYER_GZIP, MEDIA_OCI_LAYER, MEDIA_OCI_LAYER_GZIP};
use crate::store::{ImageRecord, ImageStore, LayerRecord};

/// How a layer's bytes are produced.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerBytes {
    /// A blob of the content store.
    Blob,
    /// The tar rebuilt from the unpacked layer of this chain id.
    Rebuilt(Digest),
}

/// A layer's tar as it can leave the store: its digest, size and media type, and where the
/// bytes come from.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTar {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub bytes: LayerBytes,
}

/// The uncompressed media type of the family (Docker or OCI) of `media_type`.
pub fn uncompressed_type(media_type: &str) -> &'static str {
    if media_type.starts_with("application/vnd.docker.") {
        MEDIA_DOCKER_LAYER
    } else {
        MEDIA_OCI_LAYER
    }
}

/// The OCI media type of a layer media type (Docker's are mapped, others kept).
pub fn oci_layer_type(media_type: &str) -> &str {
    match media_type {
        MEDIA_DOCKER_LAYER_GZIP => MEDIA_OCI_LAYER_GZIP,
        MEDIA_DOCKER_LAYER => MEDIA_OCI_LAYER,
        other => other,
    }
}

impl ImageStore {
    /// The bytes to write for layer `l` (see the module docs); `others` are the store's images,
    /// listed by the caller once, searched for another blob of the same diff id.
    pub fn layer_tar(&self, l: &LayerRecord, others: &[ImageRecord]) -> Result<LayerTar, ImageError> {
        let blob = |digest: Digest, media_type: &str| {
            let size = std::fs::metadata(self.content().path(&digest)).map(|m| m.len()).map_err(|e| ImageError::io(&self.content().path(&digest), e))?;
            Ok(LayerTar { digest, size, media_type: media_type.to_string(), bytes: LayerBytes::Blob })
        };
        let own = Digest::parse(&l.blob).map_err(|e| ImageError::Invalid(e.to_string()))?;
        if self.content().contains(&own) {
            return blob(own, &l.media_type);
        }
        let chain = Digest::parse(&l.chain_id).map_err(|e| ImageError::Invalid(e.to_string()))?;
        let diff_id = Digest::parse(&l.diff_id).map_err(|e| ImageError::Invalid(e.to_string()))?;
        let plain = uncompressed_type(&l.media_type);
        if self.layers().rebuildable(&chain) {
            let info = self.layers().info(&chain)?;
            return Ok(LayerTar { digest: diff_id, size: info.size, media_type: plain.to_string(), bytes: LayerBytes::Rebuilt(chain) });
        }
        if self.content().contains(&diff_id) {
            return blob(diff_id, plain);
        }
        let elsewhere = others.iter().flat_map(|i| &i.layers).filter(|o| o.diff_id == l.diff_id).find_map(|o| {
            let d = Digest::parse(&o.blob).ok().filter(|d| self.content().contains(d))?;
            Some((d, o.media_type.clone()))
        });
        if let Some((d, media_type)) = elsewhere {
            return blob(d, &media_type);
        }
        self.archive_layer_again(&chain, &diff_id)?;
        blob(diff_id, plain)
    }

    /// Archives the tree of a layer that has no split record into a blob named by its diff id,
    /// kept only when the bytes hash to that diff id.
    fn archive_layer_again(&self, chain: &Digest, diff_id: &Digest) -> Result<(), ImageError> {
        let cannot = || {
            ImageError::NotFound(format!(
                "layer {diff_id} has no stored blob and no record to rebuild its tar (it was unpacked by an older berth, \
                 and archiving it again gives other bytes): pull or load its image again, or rebuild it"
            ))
        };
        if !self.layers().exists(chain) {
            return Err(ImageError::NotFound(format!("layer {diff_id} is not in the store: pull or load its image again")));
        }
        let mut w = self.content().writer()?;
        let dir = self.layers().diff_dir(chain);
        berth_archive::write_tar_from_dir(&dir, &mut w, &TarOptions::new(WhiteoutMode::Overlay))
            .map_err(|e| ImageError::Invalid(format!("archive layer {diff_id}: {e}")))?;
        match w.commit(Some(diff_id)) {
            Ok(_) => Ok(()),
            Err(ImageError::DigestMismatch { .. }) => Err(cannot()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{store, tar_of};

    fn no_split_record(store: &ImageStore, chain: &Digest) {
        let dir = store.layers().diff_dir(chain);
        let split = dir.parent().unwrap_or(&dir).join("tar-split");
        std::fs::remove_file(split).unwrap_or_else(|e| panic!("{e}"));
        assert!(!store.layers().rebuildable(chain));
    }

    #[test]
    fn a_layer_without_its_blob_is_rebuilt_then_found_under_another_image() {
        let (_dir, store) = store();
        let tar = tar_of(&[("a", b"one")]);
        let rec = store.import(tar.as_slice(), |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let mut l = rec.layers[0].clone();
        // As if pulled gzip-compressed and `Already exists`: its own blob was never stored.
        l.blob = Digest::of(b"gzip bytes").to_string();
        l.media_type = MEDIA_DOCKER_LAYER_GZIP.into();
        let t = store.layer_tar(&l, &[]).unwrap_or_else(|e| panic!("{e}"));
        let chain = Digest::parse(&l.chain_id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t,
            LayerTar { digest: Digest::of(&tar), size: tar.len() as u64, media_type: MEDIA_DOCKER_LAYER.into(), bytes: LayerBytes::Rebuilt(chain.clone()) }
        );
        // Without a record, another image's blob of the same diff id serves.
        no_split_record(&store, &chain);
        let other_blob = store.content().put(b"another image's compressed layer").unwrap_or_else(|e| panic!("{e}"));
        let mut other = rec.clone();
        other.layers[0].blob = other_blob.to_string();
        other.layers[0].media_type = MEDIA_OCI_LAYER_GZIP.into();
        let t = store.layer_tar(&l, &[other]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.digest, t.media_type.as_str(), t.bytes), (other_blob, MEDIA_OCI_LAYER_GZIP, LayerBytes::Blob));
    }

    #[test]
    fn a_layer_berth_archived_itself_is_archived_again_faithfully() {
        let (dir, store) = store();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("etc/sub")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(src.join("etc/motd"), "hi").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(src.join("etc/sub/f"), vec![9u8; 70_000]).unwrap_or_else(|e| panic!("{e}"));
        let l = store.layer_from_dir(None, &src, WhiteoutMode::Plain).unwrap_or_else(|e| panic!("{e}"));
        let chain = Digest::parse(&l.chain_id).unwrap_or_else(|e| panic!("{e}"));
        no_split_record(&store, &chain);
        let t = store.layer_tar(&l, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.digest.as_str(), t.bytes), (l.diff_id.as_str(), LayerBytes::Blob));
        let bytes = store.content().read(&t.digest).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Digest::of(&bytes).to_string(), l.diff_id);
    }

    #[test]
    fn a_layer_that_cannot_be_given_back_faithfully_is_refused_and_leaves_nothing() {
        let (_dir, store) = store();
        // Entries out of the archiver's order: archiving the tree again gives other bytes.
        let tar = tar_of(&[("z", b"last"), ("a", b"first")]);
        let rec = store.import(tar.as_slice(), |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let l = &rec.layers[0];
        let chain = Digest::parse(&l.chain_id).unwrap_or_else(|e| panic!("{e}"));
        no_split_record(&store, &chain);
        let err = store.layer_tar(l, &[]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(&l.diff_id) && err.contains("pull or load its image again"), "{err}");
        let diff_id = Digest::parse(&l.diff_id).unwrap_or_else(|e| panic!("{e}"));
        assert!(!store.content().contains(&diff_id));
    }
}
