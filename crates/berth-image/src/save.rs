//! `docker save`: images written as one archive that is both an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/*`) and a docker-archive (`manifest.json`, `repositories`)
//! pointing at the same blobs, as Docker 28 writes it, so old and new `docker load` read it.
//!
//! Each layer is written as [`ImageStore::layer_tar`] finds it: its stored blob, or else its tar
//! rebuilt from the layer (or another blob of the same diff id). The index names the stored
//! manifest when that manifest describes exactly the blobs written; otherwise (a layer's own
//! blob is gone) a new OCI manifest describing what was written is added, so every digest the
//! layout refers to is in the archive with the size and media type it is named with.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use crate::archive::{append_bytes, blob_path, to_json, LegacyEntry};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::layer_tar::{oci_layer_type, LayerBytes, LayerTar};
use crate::manifest::{Descriptor, Index, Manifest, MEDIA_DOCKER_CONFIG, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_CONFIG, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST};
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore};

/// One image to save, with the tags to record for it.
pub struct SaveItem {
    pub record: ImageRecord,
    pub tags: Vec<Reference>,
}

/// The manifest an image is saved under: its bytes, digest and media type.
struct SavedManifest {
    bytes: Vec<u8>,
    digest: Digest,
    media_type: String,
}

fn invalid(e: impl std::fmt::Display) -> ImageError {
    ImageError::Invalid(e.to_string())
}

fn descriptor(media_type: &str, digest: &str, size: u64) -> Descriptor {
    Descriptor { media_type: media_type.to_string(), digest: digest.to_string(), size, annotations: None, platform: None }
}

/// The stored manifest `raw` when it names config `id` and exactly the layer blobs `layers`,
/// with its media type.
fn stored_matches(raw: &[u8], id: &str, layers: &[LayerTar]) -> Option<String> {
    let m: Manifest = serde_json::from_slice(raw).ok()?;
    let same = m.config.digest == id && m.layers.len() == layers.len() && m.layers.iter().zip(layers).all(|(d, l)| d.digest == l.digest.as_str());
    if !same {
        return None;
    }
    Some(m.media_type.unwrap_or_else(|| if m.config.media_type == MEDIA_DOCKER_CONFIG { MEDIA_DOCKER_MANIFEST.into() } else { MEDIA_OCI_MANIFEST.into() }))
}

/// A new OCI manifest for config `id` (`config_size` bytes) and the layers as written.
fn new_manifest(id: &str, config_size: u64, layers: &[LayerTar]) -> Result<SavedManifest, ImageError> {
    let m = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_OCI_MANIFEST.into()),
        config: descriptor(MEDIA_OCI_CONFIG, id, config_size),
        layers: layers.iter().map(|l| descriptor(oci_layer_type(&l.media_type), l.digest.as_str(), l.size)).collect(),
        annotations: None,
    };
    let bytes = to_json(&m)?;
    Ok(SavedManifest { digest: Digest::of(&bytes), bytes, media_type: MEDIA_OCI_MANIFEST.into() })
}

/// An archive being written: the tar and the blobs already in it.
struct Writer<W: Write> {
    tar: tar::Builder<W>,
    written: HashSet<Digest>,
}

impl<W: Write> Writer<W> {
    /// Appends content-store blob `d` unless already written.
    fn blob(&mut self, store: &ImageStore, d: &Digest) -> Result<(), ImageError> {
        if !self.written.insert(d.clone()) {
            return Ok(());
        }
        let path = store.content().path(d);
        let mut f = store.content().open_blob(d)?;
        self.tar.append_file(blob_path(d.as_str()), &mut f).map_err(|e| ImageError::io(&path, e))
    }

    /// Appends `data` as blob `d` unless already written.
    fn bytes(&mut self, d: &Digest, data: &[u8]) -> Result<(), ImageError> {
        if !self.written.insert(d.clone()) {
            return Ok(());
        }
        append_bytes(&mut self.tar, &blob_path(d.as_str()), data)
    }

    /// Appends one layer's bytes unless already written.
    fn layer(&mut self, store: &ImageStore, l: &LayerTar) -> Result<(), ImageError> {
        let chain = match &l.bytes {
            LayerBytes::Blob => return self.blob(store, &l.digest),
            LayerBytes::Rebuilt(chain) => chain,
        };
        if !self.written.insert(l.digest.clone()) {
            return Ok(());
        }
        let path = blob_path(l.digest.as_str());
        let io_err = |e| ImageError::io(Path::new(&path), e);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(l.size);
        h.set_path(&path).map_err(io_err)?;
        h.set_cksum();
        // Straight into the archive: the rebuilt tar is checked against the diff id as it goes,
        // and a mismatch fails the save (the archive is then cut short).
        let out = self.tar.get_mut();
        out.write_all(h.as_bytes()).map_err(io_err)?;
        let size = store.layers().write_tar(chain, &mut *out)?;
        let pad = (512 - size % 512) % 512;
        out.write_all(&[0u8; 512][..pad as usize]).map_err(io_err)
    }
}

/// What a save writes, worked out before the first byte: each image with where each of its
/// layers' bytes come from, so an image that cannot be saved is refused while the caller can
/// still answer with an error instead of a cut archive.
pub struct SavePlan {
    images: Vec<(SaveItem, Vec<LayerTar>)>,
}

impl ImageStore {
    /// Finds the bytes of every layer of `items` (see [`ImageStore::layer_tar`]).
    pub fn plan_save(&self, items: Vec<SaveItem>) -> Result<SavePlan, ImageError> {
        let mut others: Option<Vec<ImageRecord>> = None;
        let mut images = Vec::new();
        for item in items {
            let mut layers = Vec::new();
            for l in &item.record.layers {
                let own = Digest::parse(&l.blob).map_err(invalid)?;
                // The store's other images are listed only when a layer's own blob is gone.
                let all: &[ImageRecord] = if self.content().contains(&own) {
                    &[]
                } else {
                    if others.is_none() {
                        others = Some(self.list()?);
                    }
                    others.as_deref().unwrap_or_default()
                };
                layers.push(self.layer_tar(l, all)?);
            }
            images.push((item, layers));
        }
        Ok(SavePlan { images })
    }

    /// Writes the images of `plan` as an image archive to `out`.
    pub fn save(&self, plan: &SavePlan, out: impl Write) -> Result<(), ImageError> {
        let mut w = Writer { tar: tar::Builder::new(out), written: HashSet::new() };
        let mut legacy = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for dir in ["blobs", "blobs/sha256"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            w.tar.append_data(&mut h, dir, std::io::empty()).map_err(|e| ImageError::io(Path::new(dir), e))?;
        }
        for (item, layers) in &plan.images {
            let rec = &item.record;
            for t in layers {
                w.layer(self, t)?;
            }
            let config = rec.digest()?;
            w.blob(self, &config)?;
            let manifest = self.saved_manifest(rec, layers)?;
            w.bytes(&manifest.digest, &manifest.bytes)?;
            let tags: Vec<String> = item.tags.iter().map(|t| t.familiar()).collect();
            legacy.push(LegacyEntry {
                config: blob_path(&rec.id),
                repo_tags: Some(tags),
                layers: layers.iter().map(|l| blob_path(l.digest.as_str())).collect(),
            });
            let refs: Vec<Option<&Reference>> = if item.tags.is_empty() { vec![None] } else { item.tags.iter().map(Some).collect() };
            for r in refs {
                let mut d = descriptor(&manifest.media_type, manifest.digest.as_str(), manifest.bytes.len() as u64);
                d.annotations = r.map(|r| {
                    let mut a = BTreeMap::new();
                    a.insert("io.containerd.image.name".to_string(), r.to_string());
                    a.insert("org.opencontainers.image.ref.name".to_string(), r.tag.clone().unwrap_or_default());
                    a
                });
                index.push(d);
            }
            for t in &item.tags {
                repositories
                    .entry(t.familiar_repository())
                    .or_default()
                    .insert(t.tag.clone().unwrap_or_default(), rec.id.trim_start_matches("sha256:").to_string());
            }
        }
        let idx = Index { schema_version: 2, media_type: Some(MEDIA_OCI_INDEX.into()), manifests: index };
        append_bytes(&mut w.tar, "index.json", &to_json(&idx)?)?;
        append_bytes(&mut w.tar, "manifest.json", &to_json(&legacy)?)?;
        append_bytes(&mut w.tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        append_bytes(&mut w.tar, "repositories", &to_json(&repositories)?)?;
        w.tar.into_inner().and_then(|mut o| o.flush()).map_err(|e| ImageError::io(Path::new("archive"), e))
    }

    /// The stored manifest of `rec` when it describes the layers as written, else a new one.
    fn saved_manifest(&self, rec: &ImageRecord, layers: &[LayerTar]) -> Result<SavedManifest, ImageError> {
        let stored = Digest::parse(&rec.manifest_digest).ok().and_then(|d| Some((self.content().read(&d).ok()?, d)));
        if let Some((bytes, digest)) = stored {
            if let Some(media_type) = stored_matches(&bytes, &rec.id, layers) {
                return Ok(SavedManifest { bytes, digest, media_type });
            }
        }
        let config_size = self.config_bytes(rec)?.len() as u64;
        new_manifest(&rec.id, config_size, layers)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Read;

    use super::*;
    use crate::manifest::MEDIA_OCI_LAYER_GZIP;
    use crate::store::LayerRecord;
    use crate::test_util::{open_store, tar_of};

    fn layer_tar(content: &[u8]) -> Vec<u8> {
        tar_of(&[("hello.txt", content)])
    }

    /// An image as a pull of a gzip layer leaves it: the compressed blob stored, the layer
    /// unpacked (and rebuildable); returns it with its gzip blob's digest.
    fn pulled_gzip_image(store: &ImageStore, content: &[u8]) -> (ImageRecord, Digest) {
        let tar = layer_tar(content);
        let info = store.layers().apply(None, tar.as_slice(), None).unwrap_or_else(|e| panic!("{e}"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap_or_else(|e| panic!("{e}"));
        let gz = gz.finish().unwrap_or_else(|e| panic!("{e}"));
        let blob = store.content().put(&gz).unwrap_or_else(|e| panic!("{e}"));
        let mut config = crate::config::ImageConfig::new_for_host();
        config.rootfs.diff_ids = vec![info.diff_id.to_string()];
        let layer = LayerRecord {
            chain_id: info.chain_id.to_string(),
            diff_id: info.diff_id.to_string(),
            blob: blob.to_string(),
            media_type: MEDIA_OCI_LAYER_GZIP.into(),
            blob_size: gz.len() as u64,
            size: info.size,
        };
        let bytes = serde_json::to_vec(&config).unwrap_or_else(|e| panic!("{e}"));
        (store.create_image(&bytes, vec![layer], None, "").unwrap_or_else(|e| panic!("{e}")), blob)
    }

    fn files(archive: &[u8]) -> HashMap<String, Vec<u8>> {
        let mut out = HashMap::new();
        let mut ar = tar::Archive::new(archive);
        for e in ar.entries().unwrap_or_else(|e| panic!("{e}")) {
            let mut e = e.unwrap_or_else(|e| panic!("{e}"));
            let name = e.path().unwrap_or_else(|e| panic!("{e}")).display().to_string();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap_or_else(|e| panic!("{e}"));
            out.insert(name, body);
        }
        out
    }

    /// Walks index.json -> manifests -> config and layers, checking every digest and size, and
    /// that manifest.json lists the same blobs; returns the manifests by digest.
    fn check_layout(archive: &[u8]) -> Vec<(Descriptor, Manifest)> {
        let files = files(archive);
        let blob = |d: &Descriptor| {
            let bytes = files.get(&blob_path(&d.digest)).unwrap_or_else(|| panic!("{} missing", d.digest));
            assert_eq!(Digest::of(bytes).as_str(), d.digest);
            assert_eq!(bytes.len() as u64, d.size, "size of {}", d.digest);
            bytes.clone()
        };
        let index: Index = serde_json::from_slice(&files["index.json"]).unwrap_or_else(|e| panic!("{e}"));
        let legacy: Vec<LegacyEntry> = serde_json::from_slice(&files["manifest.json"]).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        for (desc, entry) in index.manifests.iter().zip(&legacy) {
            let m: Manifest = serde_json::from_slice(&blob(desc)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(m.media_type.as_deref(), Some(desc.media_type.as_str()));
            blob(&m.config);
            for l in &m.layers {
                let bytes = blob(l);
                let gzip = bytes.starts_with(&[0x1f, 0x8b]);
                assert_eq!(gzip, l.media_type.ends_with("+gzip") || l.media_type.ends_with(".gzip"), "{} is {}", l.digest, l.media_type);
            }
            assert_eq!(entry.config, blob_path(&m.config.digest));
            assert_eq!(entry.layers, m.layers.iter().map(|l| blob_path(&l.digest)).collect::<Vec<_>>());
            out.push((desc.clone(), m));
        }
        assert_eq!(out.len(), legacy.len());
        out
    }

    #[test]
    fn an_image_whose_compressed_blob_is_gone_is_saved_under_a_manifest_of_what_was_written() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = open_store(dir.path());
        let (kept, _) = pulled_gzip_image(&store, b"kept\n");
        let (lost, gz) = pulled_gzip_image(&store, b"lost\n");
        let items = |recs: &[&ImageRecord]| recs.iter().map(|r| SaveItem { record: (*r).clone(), tags: Vec::new() }).collect::<Vec<_>>();
        // With every blob stored, the stored manifests are saved as they are.
        let mut archive = Vec::new();
        store.save(&store.plan_save(items(&[&kept, &lost])).unwrap_or_else(|e| panic!("{e}")), &mut archive).unwrap_or_else(|e| panic!("{e}"));
        let saved = check_layout(&archive);
        assert_eq!(saved.iter().map(|(d, _)| d.digest.clone()).collect::<Vec<_>>(), vec![kept.manifest_digest.clone(), lost.manifest_digest.clone()]);

        store.content().remove(&gz);
        let mut archive = Vec::new();
        store.save(&store.plan_save(items(&[&kept, &lost])).unwrap_or_else(|e| panic!("{e}")), &mut archive).unwrap_or_else(|e| panic!("{e}"));
        let saved = check_layout(&archive);
        assert_eq!(saved[0].0.digest, kept.manifest_digest);
        assert_ne!(saved[1].0.digest, lost.manifest_digest, "the index names the manifest of the missing blob");
        assert_eq!(saved[1].1.layers[0].digest, lost.layers[0].diff_id);
        assert_eq!(saved[1].1.layers[0].media_type, crate::manifest::MEDIA_OCI_LAYER);
        assert!(!files(&archive).contains_key(&blob_path(gz.as_str())));

        // Both load back, as the same images, into another store.
        let other_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let other = open_store(other_dir.path());
        let loaded = other.load(archive.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.iter().map(|l| l.id.clone()).collect::<Vec<_>>(), vec![kept.id.clone(), lost.id.clone()]);
    }
}
