//! `docker save` and `docker load`: image archives in both formats Docker 28 reads and writes.
//!
//! A saved archive is an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/*`) that
//! also carries the legacy docker-archive index (`manifest.json`, `repositories`) pointing at
//! the same blobs, as Docker 28 writes it, so both old and new `docker load` read it. Loading
//! accepts either. An archive is untrusted: it is unpacked with the layer applier (nothing can
//! land outside the temp dir), every file is read through in-root resolution, sizes are bounded
//! and every digest is recomputed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::digest::{chain_ids, Digest};
use crate::error::ImageError;
use crate::import::decompress;
use crate::layers::Unpacked;
use crate::manifest::{Descriptor, Index, Manifest, MEDIA_OCI_LAYER};
use crate::reference::Reference;
use crate::store::{ImageStore, LayerRecord};

pub use crate::save::SaveItem;

/// Largest JSON document (manifest, config, index) read from an archive.
const MAX_JSON: u64 = 16 << 20;

/// What `load` made.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub id: String,
    pub tags: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LegacyEntry {
    pub(crate) config: String,
    #[serde(default)]
    pub(crate) repo_tags: Option<Vec<String>>,
    pub(crate) layers: Vec<String>,
}

pub(crate) fn blob_path(d: &str) -> String {
    format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap_or(d))
}

pub(crate) fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<(), ImageError> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, data).map_err(|e| ImageError::io(Path::new(path), e))
}

impl ImageStore {
    /// Loads every image of an archive (docker-archive or OCI layout) read from `input`.
    ///
    /// The archive is read once, as it streams in: every entry that looks like a layer tar is
    /// hashed and unpacked (and kept as a blob) while it is read, before the manifests at the
    /// end of the archive say which layers they are; small documents stay in memory; anything
    /// else is spooled. Unpacked layers no manifest claims are dropped.
    pub fn load(&self, input: impl Read) -> Result<Vec<Loaded>, ImageError> {
        let tmp = self.content().temp_path("load");
        std::fs::create_dir_all(&tmp).map_err(|e| ImageError::io(&tmp, e))?;
        let result = self.load_in(&tmp, input);
        let _ = std::fs::remove_dir_all(&tmp);
        result
    }

    fn load_in(&self, tmp: &Path, input: impl Read) -> Result<Vec<Loaded>, ImageError> {
        let input = decompress(input)?;
        let mut streamed = self.stream_archive(tmp, input)?;
        let entries = if streamed.exists("manifest.json") {
            let legacy: Vec<LegacyEntry> = streamed.read_json("manifest.json")?;
            legacy.into_iter().map(|e| (e.config, e.layers, e.repo_tags.unwrap_or_default(), None)).collect()
        } else if streamed.exists("index.json") {
            oci_entries(&streamed)?
        } else {
            return Err(ImageError::Invalid("invalid archive: neither manifest.json nor index.json found".into()));
        };
        let mut out = Vec::new();
        for (config, layers, tags, expected_config) in entries {
            out.push(self.load_one(&mut streamed, &config, &layers, &tags, expected_config.as_ref())?);
        }
        Ok(out)
    }

    /// Reads the whole archive, unpacking layer-like entries on the way.
    fn stream_archive(&self, tmp: &Path, input: impl Read) -> Result<Streamed, ImageError> {
        let bad = |e: std::io::Error| ImageError::Invalid(format!("invalid archive: {e}"));
        let mut streamed = Streamed { entries: HashMap::new() };
        let mut in_memory = 0u64;
        let mut archive = tar::Archive::new(input);
        for (i, entry) in archive.entries().map_err(bad)?.enumerate() {
            let mut entry = entry.map_err(bad)?;
            let name = normalize("", &entry.path_bytes());
            if name.is_empty() {
                continue;
            }
            let kind = entry.header().entry_type();
            let link = |entry: &tar::Entry<_>| entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
            let value = match kind {
                tar::EntryType::Symlink => {
                    let target = link(&entry);
                    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    Entry::Link(normalize(if target.starts_with(b"/") { "" } else { dir }, &target))
                }
                tar::EntryType::Link => Entry::Link(normalize("", &link(&entry))),
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = entry.header().size().map_err(bad)?;
                    let mut head = Vec::with_capacity(512);
                    (&mut entry).take(512).read_to_end(&mut head).map_err(bad)?;
                    let rest = std::io::Cursor::new(head.clone()).chain(&mut entry);
                    if looks_like_layer(&head) {
                        let unpacked = self.layers().unpack(decompress(rest)?, None)?;
                        Entry::Layer(Some(Box::new(unpacked)))
                    } else if size <= MAX_JSON && in_memory + size <= MAX_IN_MEMORY {
                        in_memory += size;
                        let mut buf = Vec::with_capacity(size as usize);
                        rest.take(MAX_JSON).read_to_end(&mut buf).map_err(bad)?;
                        Entry::Bytes(buf)
                    } else {
                        let path = tmp.join(format!("spool-{i}"));
                        let mut file = std::fs::File::create(&path).map_err(|e| ImageError::io(&path, e))?;
                        std::io::copy(&mut { rest }, &mut file).map_err(|e| ImageError::io(&path, e))?;
                        Entry::Spooled(path)
                    }
                }
                _ => continue,
            };
            streamed.entries.insert(name, value);
        }
        Ok(streamed)
    }

    fn load_one(
        &self,
        streamed: &mut Streamed,
        config_path: &str,
        layer_paths: &[String],
        tags: &[String],
        expected: Option<&Digest>,
    ) -> Result<Loaded, ImageError> {
        let config_bytes = streamed.read_limited(config_path)?;
        let id = Digest::of(&config_bytes);
        if let Some(want) = expected {
            if *want != id {
                return Err(ImageError::DigestMismatch { expected: want.to_string(), actual: id.to_string() });
            }
        }
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| ImageError::Invalid(format!("image config {config_path}: {e}")))?;
        if config.rootfs.diff_ids.len() != layer_paths.len() {
            return Err(ImageError::Invalid(format!(
                "image {id}: {} layers in the archive, {} in the config",
                layer_paths.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let diff_ids: Vec<Digest> =
            config.rootfs.diff_ids.iter().map(|d| Digest::parse(d).map_err(|e| ImageError::Invalid(e.to_string()))).collect::<Result<_, _>>()?;
        let chains = chain_ids(&diff_ids);
        let mut layers = Vec::new();
        for (i, path) in layer_paths.iter().enumerate() {
            let parent = if i == 0 { None } else { chains.get(i - 1) };
            layers.push(self.load_layer(streamed, path, parent, &diff_ids[i], &chains[i])?);
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

    /// Registers one layer of the archive, stored uncompressed (its digest is then its diff
    /// id): the one unpacked while the archive streamed in when there is one, else applied now.
    fn load_layer(&self, streamed: &mut Streamed, path: &str, parent: Option<&Digest>, diff_id: &Digest, chain: &Digest) -> Result<LayerRecord, ImageError> {
        let record = |size: u64| LayerRecord {
            chain_id: chain.to_string(),
            diff_id: diff_id.to_string(),
            blob: diff_id.to_string(),
            media_type: MEDIA_OCI_LAYER.to_string(),
            blob_size: size,
            size,
        };
        if self.layers().exists(chain) && (self.content().contains(diff_id) || self.layers().rebuildable(chain)) {
            return Ok(record(self.layers().info(chain)?.size));
        }
        let key = streamed.resolve(path)?;
        let layer = match streamed.entries.get_mut(&key) {
            Some(Entry::Layer(slot)) => slot.take(),
            _ => None,
        };
        if let Some(unpacked) = layer {
            if unpacked.diff_id != *diff_id {
                return Err(ImageError::DigestMismatch { expected: diff_id.to_string(), actual: unpacked.diff_id.to_string() });
            }
            let size = unpacked.size;
            require_rebuildable(&unpacked)?;
            self.layers().register(*unpacked, parent)?;
            streamed.entries.insert(key, Entry::Registered(chain.clone()));
            return Ok(record(size));
        }
        let reader: Box<dyn Read> = match streamed.entries.get(&key) {
            Some(Entry::Bytes(b)) => Box::new(std::io::Cursor::new(b.clone())),
            Some(Entry::Spooled(p)) => Box::new(std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(p).map_err(|e| ImageError::io(p, e))?)),
            // Used by an earlier image on another parent: apply it again from its stored blob
            // or from the tar rebuilt from where it was registered.
            Some(Entry::Registered(_)) if self.content().contains(diff_id) => {
                Box::new(std::io::BufReader::with_capacity(1 << 20, self.content().open_blob(diff_id)?))
            }
            Some(Entry::Registered(first)) => Box::new(self.layers().tar_reader(first)?),
            _ => return Err(ImageError::Invalid(format!("invalid archive: layer {path} not found"))),
        };
        let tar = decompress(reader)?;
        let size = if self.layers().exists(chain) {
            // A layer registered without a split record: keep its tar as a blob instead.
            self.content().put_reader(tar, Some(diff_id))?.1
        } else {
            let unpacked = self.layers().unpack(tar, Some(diff_id))?;
            require_rebuildable(&unpacked)?;
            self.layers().register(unpacked, parent)?.size
        };
        Ok(record(size))
    }
}

/// In-memory bound for the small entries of one archive.
const MAX_IN_MEMORY: u64 = 64 << 20;

/// Refuses a layer whose tar could not be recorded for rebuilding: the store keeps no copy of
/// the tar, so it could be neither pushed nor saved.
pub(crate) fn require_rebuildable(unpacked: &Unpacked) -> Result<(), ImageError> {
    if unpacked.rebuildable {
        return Ok(());
    }
    Err(ImageError::Invalid(format!("layer {}: its tar could not be recorded for push and save", unpacked.diff_id)))
}

/// What an archive entry became.
enum Entry {
    /// A small file.
    Bytes(Vec<u8>),
    /// A larger file that is not a layer, in the load's temp dir.
    Spooled(PathBuf),
    /// A layer tar, unpacked; `None` while being registered.
    Layer(Option<Box<Unpacked>>),
    /// A layer tar registered as this chain.
    Registered(Digest),
    /// A symlink or hard link, as the archive path it points at.
    Link(String),
}

/// The entries of a streamed archive by normalized path.
struct Streamed {
    entries: HashMap<String, Entry>,
}

impl Streamed {
    /// The path `path` ends up at after links (a bounded number of them).
    fn resolve(&self, path: &str) -> Result<String, ImageError> {
        let mut key = normalize("", path.as_bytes());
        for _ in 0..16 {
            match self.entries.get(&key) {
                Some(Entry::Link(target)) => key = target.clone(),
                Some(_) => return Ok(key),
                None => return Err(ImageError::Invalid(format!("invalid archive: {path} not found"))),
            }
        }
        Err(ImageError::Invalid(format!("invalid archive: too many links at {path}")))
    }

    fn exists(&self, path: &str) -> bool {
        self.resolve(path).is_ok()
    }

    fn read_limited(&self, path: &str) -> Result<Vec<u8>, ImageError> {
        let key = self.resolve(path)?;
        match self.entries.get(&key) {
            Some(Entry::Bytes(b)) => Ok(b.clone()),
            Some(Entry::Spooled(p)) => {
                let mut buf = Vec::new();
                std::fs::File::open(p).and_then(|f| f.take(MAX_JSON + 1).read_to_end(&mut buf)).map_err(|e| ImageError::io(p, e))?;
                if buf.len() as u64 > MAX_JSON {
                    return Err(ImageError::Invalid(format!("{path} is too large")));
                }
                Ok(buf)
            }
            _ => Err(ImageError::Invalid(format!("invalid archive: {path} is not a document"))),
        }
    }

    fn read_verified(&self, path: &str, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        let bytes = self.read_limited(path)?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(ImageError::DigestMismatch { expected: digest.to_string(), actual: actual.to_string() });
        }
        Ok(bytes)
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ImageError> {
        let bytes = self.read_limited(path)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::Invalid(format!("invalid archive: {path}: {e}")))
    }
}

/// `name` (relative to archive dir `dir`) as a clean archive path: no `.`, no empty
/// components, `..` clamped at the archive root.
fn normalize(dir: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Whether the first bytes of an entry are a tar (ustar or GNU magic) or gzip stream.
fn looks_like_layer(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b]) || head.get(257..262) == Some(b"ustar".as_slice())
}

/// (config path, layer paths, tags, config digest to verify) of each image in an OCI layout.
fn oci_entries(streamed: &Streamed) -> Result<Vec<LoadEntry>, ImageError> {
    let index: Index = streamed.read_json("index.json")?;
    let mut out = Vec::new();
    for desc in index.manifests {
        let manifest = oci_manifest(streamed, &desc, 0)?;
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
fn oci_manifest(streamed: &Streamed, desc: &Descriptor, depth: u8) -> Result<Manifest, ImageError> {
    if depth > 2 {
        return Err(ImageError::Invalid("nested image indexes are too deep".into()));
    }
    let digest = Digest::parse(&desc.digest).map_err(|e| ImageError::Invalid(e.to_string()))?;
    let bytes = streamed.read_verified(&blob_path(digest.as_str()), &digest)?;
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
        return oci_manifest(streamed, pick, depth + 1);
    }
    serde_json::from_value(value).map_err(|e| ImageError::Invalid(format!("manifest {digest}: {e}")))
}

type LoadEntry = (String, Vec<String>, Vec<String>, Option<Digest>);

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(v).map_err(|e| ImageError::Invalid(e.to_string()))
}
