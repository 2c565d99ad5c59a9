//! `docker save` and `docker load`: image archives in both formats Docker 28 reads and writes.
//!
//! A saved archive is an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/*`) that
//! also carries the legacy docker-archive index (`manifest.json`, `repositories`) pointing at
//! the same blobs, as Docker 28 writes it, so both old and new `docker load` read it. Loading
//! accepts either. An archive is untrusted: it is unpacked with the layer applier (nothing can
//! land outside the temp dir), every file is read through in-root resolution, sizes are bounded
//! and every digest is recomputed.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_archive::{ApplyOptions, WhiteoutMode};
use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::digest::{chain_ids, Digest, TeeReader};
use crate::error::ImageError;
use crate::import::decompress;
use crate::manifest::{Descriptor, Index, Manifest, MEDIA_OCI_INDEX, MEDIA_OCI_LAYER, MEDIA_OCI_MANIFEST};
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore, LayerRecord};

/// Largest JSON document (manifest, config, index) read from an archive.
const MAX_JSON: u64 = 16 << 20;

/// One image to save, with the tags to record for it.
pub struct SaveItem {
    pub record: ImageRecord,
    pub tags: Vec<Reference>,
}

/// What `load` made.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub id: String,
    pub tags: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn blob_path(d: &str) -> String {
    format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap_or(d))
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<(), ImageError> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, data).map_err(|e| ImageError::io(Path::new(path), e))
}

impl ImageStore {
    /// Writes `items` as an image archive to `out`.
    pub fn save(&self, items: &[SaveItem], out: impl Write) -> Result<(), ImageError> {
        let mut tar = tar::Builder::new(out);
        let mut written: HashSet<String> = HashSet::new();
        let mut legacy = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for dir in ["blobs", "blobs/sha256"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            tar.append_data(&mut h, dir, std::io::empty()).map_err(|e| ImageError::io(Path::new(dir), e))?;
        }
        for item in items {
            let rec = &item.record;
            let digests = std::iter::once(rec.id.clone())
                .chain(rec.layers.iter().map(|l| l.blob.clone()))
                .chain(std::iter::once(rec.manifest_digest.clone()));
            for d in digests {
                if !written.insert(d.clone()) {
                    continue;
                }
                let digest = Digest::parse(&d).map_err(|e| ImageError::Invalid(e.to_string()))?;
                let path = self.content().path(&digest);
                let mut f = self.content().open_blob(&digest)?;
                tar.append_file(blob_path(&d), &mut f).map_err(|e| ImageError::io(&path, e))?;
            }
            let tags: Vec<String> = item.tags.iter().map(|t| t.familiar()).collect();
            legacy.push(LegacyEntry {
                config: blob_path(&rec.id),
                repo_tags: Some(tags.clone()),
                layers: rec.layers.iter().map(|l| blob_path(&l.blob)).collect(),
            });
            let manifest_size = self.content().path(&Digest::parse(&rec.manifest_digest).map_err(|e| ImageError::Invalid(e.to_string()))?).metadata().map(|m| m.len()).unwrap_or(0);
            let refs: Vec<Option<&Reference>> = if item.tags.is_empty() { vec![None] } else { item.tags.iter().map(Some).collect() };
            for r in refs {
                let annotations = r.map(|r| {
                    let mut a = BTreeMap::new();
                    a.insert("io.containerd.image.name".to_string(), r.to_string());
                    a.insert("org.opencontainers.image.ref.name".to_string(), r.tag.clone().unwrap_or_default());
                    a
                });
                index.push(Descriptor {
                    media_type: MEDIA_OCI_MANIFEST.into(),
                    digest: rec.manifest_digest.clone(),
                    size: manifest_size,
                    annotations,
                    platform: None,
                });
            }
            for t in &item.tags {
                repositories.entry(t.familiar_repository()).or_default().insert(t.tag.clone().unwrap_or_default(), rec.id.trim_start_matches("sha256:").to_string());
            }
        }
        let idx = Index { schema_version: 2, media_type: Some(MEDIA_OCI_INDEX.into()), manifests: index };
        append_bytes(&mut tar, "index.json", &to_json(&idx)?)?;
        append_bytes(&mut tar, "manifest.json", &to_json(&legacy)?)?;
        append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        append_bytes(&mut tar, "repositories", &to_json(&repositories)?)?;
        tar.into_inner().map_err(|e| ImageError::io(Path::new("archive"), e))?.flush().map_err(|e| ImageError::io(Path::new("archive"), e))?;
        Ok(())
    }

    /// Loads every image of an archive (docker-archive or OCI layout) read from `input`.
    pub fn load(&self, input: impl Read) -> Result<Vec<Loaded>, ImageError> {
        let tmp = self.content().temp_path("load");
        std::fs::create_dir_all(&tmp).map_err(|e| ImageError::io(&tmp, e))?;
        let result = self.load_in(&tmp, input);
        let _ = std::fs::remove_dir_all(&tmp);
        result
    }

    fn load_in(&self, tmp: &Path, input: impl Read) -> Result<Vec<Loaded>, ImageError> {
        let input = decompress(input)?;
        berth_archive::apply_layer(tmp, input, &ApplyOptions { whiteouts: WhiteoutMode::Plain, same_owner: false })?;
        let entries = if exists_in(tmp, "manifest.json") {
            let legacy: Vec<LegacyEntry> = read_json(tmp, "manifest.json")?;
            legacy.into_iter().map(|e| (e.config, e.layers, e.repo_tags.unwrap_or_default(), None)).collect()
        } else if exists_in(tmp, "index.json") {
            self.oci_entries(tmp)?
        } else {
            return Err(ImageError::Invalid("invalid archive: neither manifest.json nor index.json found".into()));
        };
        let mut out = Vec::new();
        for (config, layers, tags, expected_config) in entries {
            out.push(self.load_one(tmp, &config, &layers, &tags, expected_config.as_ref())?);
        }
        Ok(out)
    }

    /// (config path, layer paths, tags, config digest to verify) of each image in an OCI layout.
    fn oci_entries(&self, tmp: &Path) -> Result<Vec<LoadEntry>, ImageError> {
        let index: Index = read_json(tmp, "index.json")?;
        let mut out = Vec::new();
        for desc in index.manifests {
            let manifest = self.oci_manifest(tmp, &desc, 0)?;
            let mut tags = Vec::new();
            if let Some(a) = &desc.annotations {
                if let Some(name) = a.get("io.containerd.image.name") {
                    tags.push(name.clone());
                } else if let Some(r) = a.get("org.opencontainers.image.ref.name") {
                    if Reference::parse(r).is_ok() && r.contains(':') {
                        tags.push(r.clone());
                    }
                }
            }
            let config = Digest::parse(&manifest.config.digest).map_err(|e| ImageError::Invalid(e.to_string()))?;
            out.push((blob_path(config.as_str()), manifest.layers.iter().map(|l| blob_path(&l.digest)).collect(), tags, Some(config)));
        }
        Ok(out)
    }

    /// Follows an index entry to an image manifest of this host's platform, verifying digests.
    fn oci_manifest(&self, tmp: &Path, desc: &Descriptor, depth: u8) -> Result<Manifest, ImageError> {
        if depth > 2 {
            return Err(ImageError::Invalid("nested image indexes are too deep".into()));
        }
        let digest = Digest::parse(&desc.digest).map_err(|e| ImageError::Invalid(e.to_string()))?;
        let bytes = read_verified(tmp, &blob_path(digest.as_str()), &digest)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| ImageError::Invalid(format!("manifest {digest}: {e}")))?;
        if value.get("manifests").is_some() {
            let nested: Index = serde_json::from_value(value).map_err(|e| ImageError::Invalid(format!("index {digest}: {e}")))?;
            let arch = crate::config::host_architecture();
            let pick = nested
                .manifests
                .iter()
                .find(|m| m.platform.as_ref().is_some_and(|p| p.architecture == arch && p.os == "linux"))
                .or_else(|| nested.manifests.first())
                .ok_or_else(|| ImageError::Invalid(format!("index {digest} lists no manifests")))?;
            return self.oci_manifest(tmp, pick, depth + 1);
        }
        serde_json::from_value(value).map_err(|e| ImageError::Invalid(format!("manifest {digest}: {e}")))
    }

    fn load_one(&self, tmp: &Path, config_path: &str, layer_paths: &[String], tags: &[String], expected: Option<&Digest>) -> Result<Loaded, ImageError> {
        let config_bytes = read_limited(tmp, config_path)?;
        let id = Digest::of(&config_bytes);
        if let Some(want) = expected {
            if *want != id {
                return Err(ImageError::DigestMismatch { expected: want.to_string(), actual: id.to_string() });
            }
        }
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| ImageError::Invalid(format!("image config {config_path}: {e}")))?;
        if config.rootfs.diff_ids.len() != layer_paths.len() {
            return Err(ImageError::Invalid(format!("image {id}: {} layers in the archive, {} in the config", layer_paths.len(), config.rootfs.diff_ids.len())));
        }
        let diff_ids: Vec<Digest> = config.rootfs.diff_ids.iter().map(|d| Digest::parse(d).map_err(|e| ImageError::Invalid(e.to_string()))).collect::<Result<_, _>>()?;
        let chains = chain_ids(&diff_ids);
        let mut layers = Vec::new();
        for (i, path) in layer_paths.iter().enumerate() {
            let parent = if i == 0 { None } else { chains.get(i - 1) };
            layers.push(self.load_layer(tmp, path, parent, &diff_ids[i], &chains[i])?);
        }
        let rec = self.create_image(&config_bytes, layers, None, "")?;
        let mut loaded = Loaded { id: rec.id.clone(), tags: Vec::new() };
        for t in tags {
            let r = Reference::parse_tagged(t).map_err(|e| ImageError::Invalid(e.to_string()))?;
            self.tag(&rec.id, &r)?;
            loaded.tags.push(r.familiar());
        }
        Ok(loaded)
    }

    /// Registers one layer file, stored uncompressed (its digest is then its diff id).
    fn load_layer(&self, tmp: &Path, path: &str, parent: Option<&Digest>, diff_id: &Digest, chain: &Digest) -> Result<LayerRecord, ImageError> {
        let file = berth_archive::inroot::open_in_root(tmp, path).map_err(|e| ImageError::Invalid(format!("layer {path}: {e}")))?;
        let tar = decompress(file)?;
        let size;
        if self.layers().exists(chain) && self.content().contains(diff_id) {
            size = self.layers().info(chain)?.size;
        } else if self.layers().exists(chain) {
            let (_, n) = self.content().put_reader(tar, Some(diff_id))?;
            size = n;
        } else {
            let mut blob = self.content().writer()?;
            let info = {
                let tee = TeeReader::new(tar, &mut blob);
                self.layers().apply(parent, tee, Some(diff_id))?
            };
            blob.commit(Some(diff_id))?;
            size = info.size;
        }
        Ok(LayerRecord {
            chain_id: chain.to_string(),
            diff_id: diff_id.to_string(),
            blob: diff_id.to_string(),
            media_type: MEDIA_OCI_LAYER.to_string(),
            blob_size: size,
            size,
        })
    }
}

type LoadEntry = (String, Vec<String>, Vec<String>, Option<Digest>);

fn exists_in(root: &Path, path: &str) -> bool {
    berth_archive::inroot::open_in_root(root, path).is_ok()
}

fn read_limited(root: &Path, path: &str) -> Result<Vec<u8>, ImageError> {
    let f = berth_archive::inroot::open_in_root(root, path).map_err(|e| ImageError::Invalid(format!("{path}: {e}")))?;
    let mut buf = Vec::new();
    f.take(MAX_JSON + 1).read_to_end(&mut buf).map_err(|e| ImageError::io(&PathBuf::from(path), e))?;
    if buf.len() as u64 > MAX_JSON {
        return Err(ImageError::Invalid(format!("{path} is too large")));
    }
    Ok(buf)
}

fn read_verified(root: &Path, path: &str, digest: &Digest) -> Result<Vec<u8>, ImageError> {
    let bytes = read_limited(root, path)?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(ImageError::DigestMismatch { expected: digest.to_string(), actual: actual.to_string() });
    }
    Ok(bytes)
}

fn read_json<T: serde::de::DeserializeOwned>(root: &Path, path: &str) -> Result<T, ImageError> {
    let bytes = read_limited(root, path)?;
    serde_json::from_slice(&bytes).map_err(|e| ImageError::Invalid(format!("invalid archive: {path}: {e}")))
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(v).map_err(|e| ImageError::Invalid(e.to_string()))
}
