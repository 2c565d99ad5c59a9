//! The image store: image records and tags in the metadata database, configs, manifests and
//! layer blobs in the content store, unpacked layers in the layer store.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::ImageError;
use crate::layers::LayerStore;
use crate::manifest::{Descriptor, Manifest, MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST};
use crate::meta::{delete_in, put_in, MetaDb, Table};
use crate::mount::OverlayMount;
use crate::reference::Reference;

/// Image records by id (`sha256:<config digest>`).
pub const IMAGES: Table = TableDefinition::new("images");
/// Image ids by canonical reference (`docker.io/library/busybox:latest`).
pub const TAGS: Table = TableDefinition::new("tags");

/// One layer of an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    pub chain_id: String,
    pub diff_id: String,
    /// Digest of the blob as stored (compressed or not).
    pub blob: String,
    pub media_type: String,
    /// Size of the stored blob.
    pub blob_size: u64,
    /// Size of the uncompressed tar.
    pub size: u64,
}

/// What the store knows about an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    pub id: String,
    pub manifest_digest: String,
    pub layers: Vec<LayerRecord>,
    #[serde(default)]
    pub parent: String,
    #[serde(default)]
    pub repo_digests: Vec<String>,
    #[serde(default)]
    pub last_tag_time: Option<String>,
    /// Unix time the image was created (from its config).
    #[serde(default)]
    pub created: i64,
}

impl ImageRecord {
    /// Total uncompressed size of the image's layers.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }

    /// The id as a digest.
    pub fn digest(&self) -> Result<Digest, ImageError> {
        Digest::parse(&self.id).map_err(|e| ImageError::Invalid(e.to_string()))
    }

    /// Chain ids, bottom layer first.
    pub fn chain_ids(&self) -> Result<Vec<Digest>, ImageError> {
        self.layers.iter().map(|l| Digest::parse(&l.chain_id).map_err(|e| ImageError::Invalid(e.to_string()))).collect()
    }
}

/// The image store.
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    layers: LayerStore,
    meta: Arc<MetaDb>,
    /// Serializes deletes against creates so a layer is never removed while an image that
    /// needs it is being recorded.
    gc: Mutex<()>,
}

impl ImageStore {
    /// Opens the store under the daemon's data root.
    pub fn open(root: &Path, meta: Arc<MetaDb>) -> Result<Self, ImageError> {
        let content = ContentStore::open(root)?;
        let layers = LayerStore::open(root)?;
        layers.clean_tmp();
        Ok(Self { root: root.to_path_buf(), content, layers, meta, gc: Mutex::new(()) })
    }

    /// The content store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The layer store.
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Records an image whose layers are registered and blobs stored. `config` is stored as
    /// given (its digest is the image id); a manifest is written when none is given.
    pub fn create_image(&self, config: &[u8], layers: Vec<LayerRecord>, manifest: Option<Vec<u8>>, parent: &str) -> Result<ImageRecord, ImageError> {
        let parsed: ImageConfig = serde_json::from_slice(config).map_err(|e| ImageError::Invalid(format!("image config: {e}")))?;
        if parsed.rootfs.diff_ids.len() != layers.len() || parsed.rootfs.diff_ids.iter().zip(&layers).any(|(a, b)| *a != b.diff_id) {
            return Err(ImageError::Invalid("layers from manifest don't match image configuration".into()));
        }
        let _guard = self.gc.lock().unwrap_or_else(|p| p.into_inner());
        let config_digest = self.content.put(config)?;
        let manifest_bytes = match manifest {
            Some(m) => m,
            None => build_manifest(&config_digest, config.len() as u64, &layers)?,
        };
        let manifest_digest = self.content.put(&manifest_bytes)?;
        let created = parsed.created.as_deref().and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok()).map(|t| t.timestamp()).unwrap_or(0);
        let id = config_digest.to_string();
        let existing: Option<ImageRecord> = self.meta.get(IMAGES, &id)?;
        let record = ImageRecord {
            id: id.clone(),
            manifest_digest: manifest_digest.to_string(),
            layers,
            parent: parent.to_string(),
            repo_digests: existing.as_ref().map(|e| e.repo_digests.clone()).unwrap_or_default(),
            last_tag_time: existing.and_then(|e| e.last_tag_time),
            created,
        };
        self.meta.put(IMAGES, &id, &record)?;
        Ok(record)
    }

    /// Points `reference` at image `id` (moving it if it pointed elsewhere).
    pub fn tag(&self, id: &str, reference: &Reference) -> Result<(), ImageError> {
        if reference.tag.is_none() {
            return Err(ImageError::Invalid(format!("cannot tag {reference} without a tag")));
        }
        let key = reference.to_string();
        self.meta.write(|txn| -> Result<(), ImageError> {
            let mut rec: ImageRecord = get_in(txn, IMAGES, id)?.ok_or_else(|| ImageError::NotFound(format!("No such image: {id}")))?;
            rec.last_tag_time = Some(crate::now_rfc3339());
            put_in(txn, IMAGES, id, &rec)?;
            put_in(txn, TAGS, &key, &id.to_string())?;
            Ok(())
        })
    }

    /// Removes a tag; returns the image it pointed at.
    pub fn untag(&self, reference: &Reference) -> Result<Option<String>, ImageError> {
        let key = reference.to_string();
        let id: Option<String> = self.meta.get(TAGS, &key)?;
        if id.is_some() {
            self.meta.delete(TAGS, &key)?;
        }
        Ok(id)
    }

    /// An image by id.
    pub fn get(&self, id: &str) -> Result<Option<ImageRecord>, ImageError> {
        Ok(self.meta.get(IMAGES, id)?)
    }

    /// Every image.
    pub fn list(&self) -> Result<Vec<ImageRecord>, ImageError> {
        Ok(self.meta.list::<ImageRecord>(IMAGES)?.into_iter().map(|(_, r)| r).collect())
    }

    /// Every tag, as (reference, image id).
    pub fn all_tags(&self) -> Result<Vec<(Reference, String)>, ImageError> {
        let mut out = Vec::new();
        for (k, id) in self.meta.list::<String>(TAGS)? {
            if let Ok(r) = Reference::parse(&k) {
                out.push((r, id));
            }
        }
        Ok(out)
    }

    /// The tags pointing at `id`.
    pub fn tags_of(&self, id: &str) -> Result<Vec<Reference>, ImageError> {
        Ok(self.all_tags()?.into_iter().filter(|(_, i)| i == id).map(|(r, _)| r).collect())
    }

    /// Finds an image the way `docker` does: a reference (tag or digest), a full id, or a
    /// unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord, ImageError> {
        let not_found = || ImageError::NotFound(format!("No such image: {name}"));
        if let Some(hex) = name.strip_prefix("sha256:") {
            return self.by_prefix(hex)?.ok_or_else(not_found);
        }
        if let Ok(reference) = Reference::parse_tagged(name) {
            if reference.digest.is_some() {
                let wanted = format!("{}@{}", reference.repository(), reference.digest.as_deref().unwrap_or_default());
                if let Some(rec) = self.list()?.into_iter().find(|r| r.repo_digests.contains(&wanted)) {
                    return Ok(rec);
                }
            } else if let Some(id) = self.meta.get::<String>(TAGS, &reference.to_string())? {
                if let Some(rec) = self.get(&id)? {
                    return Ok(rec);
                }
            }
        }
        if !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Some(rec) = self.by_prefix(name)? {
                return Ok(rec);
            }
        }
        Err(not_found())
    }

    fn by_prefix(&self, hex: &str) -> Result<Option<ImageRecord>, ImageError> {
        let full = format!("sha256:{hex}");
        let matches: Vec<ImageRecord> = self.list()?.into_iter().filter(|r| r.id.starts_with(&full)).collect();
        match matches.len() {
            0 => Ok(None),
            1 => Ok(matches.into_iter().next()),
            _ => Err(ImageError::Invalid(format!("ambiguous image id prefix {hex}"))),
        }
    }

    /// The parsed config of an image.
    pub fn config(&self, rec: &ImageRecord) -> Result<ImageConfig, ImageError> {
        let bytes = self.content.read(&rec.digest()?)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::Invalid(format!("image config {}: {e}", rec.id)))
    }

    /// The raw config bytes of an image.
    pub fn config_bytes(&self, rec: &ImageRecord) -> Result<Vec<u8>, ImageError> {
        self.content.read(&rec.digest()?)
    }

    /// Deletes an image record and every blob and layer no other image needs. Tags must
    /// already be gone. Returns the ids of what was deleted.
    pub fn delete_image(&self, id: &str) -> Result<Vec<String>, ImageError> {
        let _guard = self.gc.lock().unwrap_or_else(|p| p.into_inner());
        let rec = self.get(id)?.ok_or_else(|| ImageError::NotFound(format!("No such image: {id}")))?;
        self.meta.write(|txn| -> Result<(), ImageError> {
            delete_in(txn, IMAGES, id)?;
            Ok(())
        })?;
        let others = self.list()?;
        let mut keep_blobs: HashSet<String> = HashSet::new();
        let mut keep_chains: HashSet<String> = HashSet::new();
        for o in &others {
            keep_blobs.insert(o.id.clone());
            keep_blobs.insert(o.manifest_digest.clone());
            for l in &o.layers {
                keep_blobs.insert(l.blob.clone());
                // The uncompressed blob (named by the diff id) is what pushes that layer when
                // its own blob is not stored (it was `Already exists` when pulled).
                keep_blobs.insert(l.diff_id.clone());
                keep_chains.insert(l.chain_id.clone());
            }
        }
        // A blob named by a layer's diff id may be stored besides its own (archived again for a
        // save or push, see `layer_tar`): it goes with the last image of that layer.
        for d in [&rec.id, &rec.manifest_digest].into_iter().chain(rec.layers.iter().flat_map(|l| [&l.blob, &l.diff_id])) {
            if !keep_blobs.contains(d) {
                if let Ok(d) = Digest::parse(d) {
                    self.content.remove(&d);
                }
            }
        }
        for l in rec.layers.iter().rev() {
            if !keep_chains.contains(&l.chain_id) {
                if let Ok(c) = Digest::parse(&l.chain_id) {
                    self.layers.remove(&c);
                }
            }
        }
        Ok(vec![rec.id])
    }

    /// The overlay mount of image `rec` with a writable layer at `upper`/`work`.
    pub fn overlay(&self, rec: &ImageRecord, upper: PathBuf, work: PathBuf) -> Result<OverlayMount, ImageError> {
        let mut lowers = Vec::new();
        for chain in rec.chain_ids()?.iter().rev() {
            lowers.push(self.layers.link_path(chain)?);
        }
        if lowers.is_empty() {
            lowers.push(self.layers.empty_dir());
        }
        Ok(OverlayMount { lowers, upper, work })
    }

    /// The overlay a container runs on: [`ImageStore::overlay`] with the runtime's mount
    /// targets (see [`crate::layers::LayerStore::mount_targets_dir`]) just above the image.
    pub fn container_overlay(&self, rec: &ImageRecord, upper: PathBuf, work: PathBuf) -> Result<OverlayMount, ImageError> {
        let mut overlay = self.overlay(rec, upper, work)?;
        overlay.lowers.insert(0, self.layers.mount_targets_dir());
        Ok(overlay)
    }

    /// Records a registry digest (`repo@sha256:…`) for an image.
    pub fn add_repo_digest(&self, id: &str, repo_digest: &str) -> Result<(), ImageError> {
        self.meta.write(|txn| -> Result<(), ImageError> {
            let mut rec: ImageRecord = get_in(txn, IMAGES, id)?.ok_or_else(|| ImageError::NotFound(format!("No such image: {id}")))?;
            if !rec.repo_digests.iter().any(|d| d == repo_digest) {
                rec.repo_digests.push(repo_digest.to_string());
                put_in(txn, IMAGES, id, &rec)?;
            }
            Ok(())
        })
    }

    /// Labels of an image's config, for filters.
    pub fn labels(&self, rec: &ImageRecord) -> BTreeMap<String, String> {
        self.config(rec).ok().and_then(|c| c.config.labels).unwrap_or_default()
    }
}

fn get_in<T: serde::de::DeserializeOwned>(txn: &redb::WriteTransaction, table: Table, key: &str) -> Result<Option<T>, ImageError> {
    use redb::ReadableTable;
    let t = txn.open_table(table).map_err(crate::meta::MetaError::from)?;
    let v = t.get(key).map_err(crate::meta::MetaError::from)?;
    match v {
        Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(|e| ImageError::Invalid(format!("corrupt record {key}: {e}"))),
        None => Ok(None),
    }
}

/// An OCI manifest for a config and layers.
pub fn build_manifest(config: &Digest, config_size: u64, layers: &[LayerRecord]) -> Result<Vec<u8>, ImageError> {
    let m = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_OCI_MANIFEST.to_string()),
        config: Descriptor { media_type: MEDIA_OCI_CONFIG.to_string(), digest: config.to_string(), size: config_size, annotations: None, platform: None },
        layers: layers
            .iter()
            .map(|l| Descriptor { media_type: l.media_type.clone(), digest: l.blob.clone(), size: l.blob_size, annotations: None, platform: None })
            .collect(),
        annotations: None,
    };
    serde_json::to_vec(&m).map_err(|e| ImageError::Invalid(e.to_string()))
}
