//! `POST /images/{name}/push?tag=`: layers uploaded five at a time (dockerd's default), then
//! the config, then the manifest.
//!
//! Layers go up as they are stored: images made here by `import`, `commit` or `build` have
//! uncompressed layers (`application/vnd.oci.image.layer.v1.tar`), pushed without
//! recompressing, which is what makes a push run at disk and network speed rather than at
//! gzip's; pulled images keep their registry's compressed blobs. The manifest is the one stored
//! with the image, byte for byte, unless a layer's blob is not in the store (the layer was
//! `Already exists` when pulled, or its image was removed), in which case another stored blob
//! of the same diff id, or else the layer's tar rebuilt from its unpacked tree (same diff id,
//! uncompressed; see `berth_image::layer_tar` for layers from before split records), is pushed and a new manifest is written, as dockerd does when it has to
//! recompress: Docker schema2 when every layer has a Docker media type, OCI otherwise. Pulled
//! uncompressed layers keep no blob at all: their tar is rebuilt, byte for byte, so their
//! manifest is unchanged.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use berth_image::layer_tar::LayerBytes;
use berth_image::manifest::{
    Descriptor, Manifest, MEDIA_DOCKER_CONFIG, MEDIA_DOCKER_LAYER, MEDIA_DOCKER_LAYER_GZIP, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER,
    MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST,
};
use berth_image::{Digest, ImageRecord, Reference};
use berth_registry::client::{full, Access, Repository};
use serde_json::json;
use tokio::sync::Semaphore;

use super::credentials::AuthConfig;
use super::progress::Progress;
use super::upload::{push_blob, BlobSource, PushBlob};
use super::{client_error, Engine};
use crate::error::EngineError;

/// Parallel uploads of one push (dockerd's `max-concurrent-uploads`).
pub const CONCURRENT_UPLOADS: usize = 5;
/// Mount sources tried per blob.
const MAX_SOURCES: usize = 3;

/// What to push.
#[derive(Debug, Clone)]
pub struct PushSpec {
    /// The repository, with the tag to push (every tag of the repository without one).
    pub reference: Reference,
    /// Credentials from `X-Registry-Auth`.
    pub auth: AuthConfig,
}

fn short(d: &str) -> String {
    d.strip_prefix("sha256:").map(|h| h[..h.len().min(12)].to_string()).unwrap_or_default()
}

fn to_oci(media_type: &str) -> &str {
    match media_type {
        MEDIA_DOCKER_LAYER_GZIP => MEDIA_OCI_LAYER_GZIP,
        MEDIA_DOCKER_LAYER => MEDIA_OCI_LAYER,
        other => other,
    }
}

/// A new manifest for `blobs` (see the module docs for the media types).
pub fn build_manifest(config: &str, config_size: u64, blobs: &[PushBlob]) -> Result<(Vec<u8>, String), EngineError> {
    let docker = !blobs.is_empty() && blobs.iter().all(|b| b.media_type.starts_with("application/vnd.docker."));
    let (manifest_type, config_type) = if docker { (MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_CONFIG) } else { (MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG) };
    let desc = |media_type: &str, digest: &str, size: u64| Descriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size,
        annotations: None,
        platform: None,
    };
    let m = Manifest {
        schema_version: 2,
        media_type: Some(manifest_type.to_string()),
        config: desc(config_type, config, config_size),
        layers: blobs.iter().map(|b| desc(if docker { &b.media_type } else { to_oci(&b.media_type) }, b.digest.as_str(), b.size)).collect(),
        annotations: None,
    };
    let bytes = serde_json::to_vec(&m).map_err(|e| EngineError::internal("encode manifest", e))?;
    Ok((bytes, manifest_type.to_string()))
}

/// The stored manifest when it describes exactly `blobs` and config `id`, with its media type.
fn stored_manifest(raw: &[u8], id: &str, blobs: &[PushBlob]) -> Option<String> {
    let m: Manifest = serde_json::from_slice(raw).ok()?;
    let same = m.config.digest == id && m.layers.len() == blobs.len() && m.layers.iter().zip(blobs).all(|(l, b)| l.digest == b.digest.as_str());
    if !same {
        return None;
    }
    Some(m.media_type.unwrap_or_else(|| if m.config.media_type == MEDIA_DOCKER_CONFIG { MEDIA_DOCKER_MANIFEST.into() } else { MEDIA_OCI_MANIFEST.into() }))
}

impl Engine {
    /// The images to push: the tag's, or every tag of the repository.
    fn push_targets(&self, r: &Reference) -> Result<Vec<(String, ImageRecord)>, EngineError> {
        let missing = || EngineError::NotFound(format!("An image does not exist locally with the tag: {}", r.familiar_repository()));
        if let Some(tag) = &r.tag {
            let rec = self.images.resolve(&r.to_string()).map_err(|_| missing())?;
            return Ok(vec![(tag.clone(), rec)]);
        }
        let mut out = Vec::new();
        for (t, id) in self.images.all_tags()? {
            if t.domain == r.domain && t.path == r.path {
                if let (Some(tag), Some(rec)) = (t.tag.clone(), self.images.get(&id)?) {
                    out.push((tag, rec));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if out.is_empty() {
            return Err(missing());
        }
        Ok(out)
    }

    /// Repositories of the same registry known to hold each blob (from tags and repo digests).
    fn mount_sources(&self, r: &Reference) -> Result<HashMap<String, Vec<String>>, EngineError> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        let tags = self.images.all_tags()?;
        for img in self.images.list()? {
            let mut repos: Vec<String> = tags
                .iter()
                .filter(|(_, id)| *id == img.id)
                .map(|(t, _)| (t.domain.clone(), t.path.clone()))
                .chain(img.repo_digests.iter().filter_map(|d| Reference::parse(d).ok()).map(|t| (t.domain, t.path)))
                .filter(|(domain, path)| *domain == r.domain && *path != r.path)
                .map(|(_, path)| path)
                .collect();
            repos.sort();
            repos.dedup();
            for l in &img.layers {
                let entry = out.entry(l.blob.clone()).or_default();
                for p in &repos {
                    if entry.len() < MAX_SOURCES && !entry.contains(p) {
                        entry.push(p.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    /// The blobs of `rec`'s layers as they can be pushed, and whether any was substituted.
    fn push_blobs(&self, rec: &ImageRecord, sources: &HashMap<String, Vec<String>>) -> Result<(Vec<PushBlob>, bool), EngineError> {
        let content = self.images.content();
        let all = self.images.list()?;
        let mut substituted = false;
        let mut out = Vec::new();
        for l in &rec.layers {
            let here = Digest::parse(&l.blob).ok().filter(|d| content.contains(d)).map(|d| (d, l));
            let found = here.or_else(|| {
                all.iter().flat_map(|i| &i.layers).filter(|o| o.diff_id == l.diff_id).find_map(|o| {
                    let d = Digest::parse(&o.blob).ok().filter(|d| content.contains(d))?;
                    substituted = true;
                    Some((d, o))
                })
            });
            let id = short(&l.diff_id);
            if let Some((digest, layer)) = found {
                let size = std::fs::metadata(content.path(&digest)).map(|m| m.len()).unwrap_or(layer.blob_size);
                let sources = sources.get(digest.as_str()).cloned().unwrap_or_default();
                out.push(PushBlob { sources, digest, size, media_type: layer.media_type.clone(), id, from: BlobSource::Content });
                continue;
            }
            // Rebuilt from the layer, or (a layer from before split records) archived again when
            // that gives the same bytes; otherwise an error naming the layer and what to do.
            let t = self.images.layer_tar(l, &all).map_err(|e| EngineError::NotFound(format!("image {}: {e}", rec.id)))?;
            substituted |= t.digest.as_str() != l.blob || t.media_type != l.media_type;
            let from = match t.bytes {
                LayerBytes::Blob => BlobSource::Content,
                LayerBytes::Rebuilt(chain) => BlobSource::Layer(chain),
            };
            let sources = sources.get(t.digest.as_str()).cloned().unwrap_or_default();
            out.push(PushBlob { sources, digest: t.digest, size: t.size, media_type: t.media_type, id, from });
        }
        Ok((out, substituted))
    }

    /// Uploads the unique blobs of one image in parallel, with dockerd's messages.
    async fn push_layers(&self, repo: &Repository, blobs: &[PushBlob], progress: &Progress) -> Result<(), EngineError> {
        let mut unique: Vec<&PushBlob> = Vec::new();
        for b in blobs {
            if !unique.iter().any(|u| u.digest == b.digest) {
                unique.push(b);
                progress.layer(&b.id, "Preparing");
            }
        }
        let sem = Arc::new(Semaphore::new(CONCURRENT_UPLOADS));
        let mut handles = Vec::new();
        for (i, b) in unique.iter().enumerate() {
            if i >= CONCURRENT_UPLOADS {
                progress.layer(&b.id, "Waiting");
            }
            let stores = (self.images.content().clone(), self.images.layers().clone());
            let (sem, repo, blob, progress) = (sem.clone(), repo.clone(), (*b).clone(), progress.clone());
            handles.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.map_err(|e| EngineError::internal("upload slot", e))?;
                push_blob(repo, stores, blob, progress).await
            }));
        }
        let mut result = Ok(());
        for h in &mut handles {
            let r = h.await.map_err(|e| EngineError::internal("upload task", e)).and_then(|r| r);
            if let Err(e) = r {
                result = Err(e);
                break;
            }
        }
        if result.is_err() {
            handles.iter().for_each(|h| h.abort());
        }
        result
    }

    /// Uploads the config blob unless the registry has it.
    async fn push_config(&self, repo: &Repository, rec: &ImageRecord) -> Result<u64, EngineError> {
        let bytes = self.images.config_bytes(rec)?;
        let size = bytes.len() as u64;
        if repo.blob_size(&rec.id).await.map_err(client_error)?.is_none() {
            let location = repo.start_upload().await.map_err(client_error)?;
            repo.upload_blob(&location, &rec.id, size, full(bytes)).await.map_err(client_error)?;
        }
        Ok(size)
    }

    /// Pushes one tagged image.
    async fn push_image(
        self: &Arc<Self>,
        repo: &Repository,
        r: &Reference,
        tag: &str,
        rec: &ImageRecord,
        sources: &HashMap<String, Vec<String>>,
        progress: &Progress,
    ) -> Result<(), EngineError> {
        // Finding a layer's bytes can mean archiving the layer again (layers from before split
        // records): file system work, off the async workers.
        let (this, rec_owned, sources_owned) = (self.clone(), rec.clone(), sources.clone());
        let (blobs, substituted) = Self::blocking(move || this.push_blobs(&rec_owned, &sources_owned)).await?;
        self.push_layers(repo, &blobs, progress).await?;
        let config_size = self.push_config(repo, rec).await?;
        let stored = Digest::parse(&rec.manifest_digest).ok().and_then(|d| self.images.content().read(&d).ok());
        let (bytes, media_type) =
            match stored.as_deref().filter(|_| !substituted).and_then(|raw| stored_manifest(raw, &rec.id, &blobs).map(|t| (raw.to_vec(), t))) {
                Some(found) => found,
                None => build_manifest(&rec.id, config_size, &blobs)?,
            };
        let digest = Digest::of(&bytes);
        let size = bytes.len();
        let reported = repo.put_manifest(tag, &media_type, bytes.into()).await.map_err(client_error)?;
        if let Some(rep) = reported.filter(|d| d != digest.as_str()) {
            return Err(EngineError::Invalid(format!("registry reported digest {rep} for a manifest whose digest is {digest}")));
        }
        progress.message(None, &format!("{tag}: digest: {digest} size: {size}"));
        progress.aux(json!({"Tag": tag, "Digest": digest.as_str(), "Size": size}));
        self.images.add_repo_digest(&rec.id, &format!("{}@{digest}", r.repository()))?;
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), r.with_tag(tag).familiar());
        self.events.publish("image", "push", &r.with_tag(tag).familiar(), attrs);
        Ok(())
    }

    /// Pushes `spec.reference`, streaming progress.
    pub async fn push(self: &Arc<Self>, spec: PushSpec, progress: &Progress) -> Result<(), EngineError> {
        let r = &spec.reference;
        progress.message(None, &format!("The push refers to repository [{}]", r.repository()));
        let targets = self.push_targets(r)?;
        let sources = self.mount_sources(r)?;
        let mut all_sources: Vec<String> = sources.values().flatten().cloned().collect();
        all_sources.sort();
        all_sources.dedup();
        let endpoint =
            self.registry_policy()?.endpoints(&r.domain, false).await.into_iter().next().ok_or_else(|| EngineError::Internal("no registry endpoint".into()))?;
        let client = self.registry_client();
        let repo = client.repository(&endpoint, &r.path, Access::Push, spec.auth.credentials.clone(), &all_sources).await.map_err(client_error)?;
        for (tag, rec) in &targets {
            self.push_image(&repo, r, tag, rec, &sources, progress).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(media_type: &str, n: u8) -> PushBlob {
        PushBlob {
            digest: Digest::of(&[n]),
            size: u64::from(n),
            media_type: media_type.into(),
            id: String::new(),
            sources: Vec::new(),
            from: BlobSource::Content,
        }
    }

    #[test]
    fn built_manifests_pick_their_media_types() {
        let config = Digest::of(b"c").to_string();
        let (raw, mt) = build_manifest(&config, 1, &[blob(MEDIA_DOCKER_LAYER_GZIP, 1)]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mt, MEDIA_DOCKER_MANIFEST);
        let m: Manifest = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.config.media_type, MEDIA_DOCKER_CONFIG);
        let (raw, mt) = build_manifest(&config, 1, &[blob(MEDIA_DOCKER_LAYER_GZIP, 1), blob(MEDIA_OCI_LAYER, 2)]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mt, MEDIA_OCI_MANIFEST);
        let m: Manifest = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.layers[0].media_type, MEDIA_OCI_LAYER_GZIP);
        assert_eq!(stored_manifest(&raw, &config, &[blob(MEDIA_OCI_LAYER_GZIP, 1), blob(MEDIA_OCI_LAYER, 2)]).as_deref(), Some(MEDIA_OCI_MANIFEST));
        assert_eq!(stored_manifest(&raw, &config, &[blob(MEDIA_OCI_LAYER, 2)]), None);
        assert_eq!(stored_manifest(b"garbage", &config, &[]), None);
    }
}
