//! `POST /images/create?fromImage=`: a pull. [`Engine::prepare_pull`] reaches the registry
//! and fetches the manifest (its errors are plain HTTP errors, which `docker run` relies on);
//! [`PreparedPull::run`] does the rest while streaming progress.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_image::config::ImageConfig;
use berth_image::{Digest, Reference};
use berth_registry::client::{Access, RegistryClient, Repository};

use super::credentials::AuthConfig;
use super::manifest::{self, Fetched, ImageManifest, ACCEPT, MANIFEST_LIMIT};
use super::platform::{self, Platform};
use super::progress::Progress;
use super::{pull_error, Engine};
use crate::error::EngineError;

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullSpec {
    /// The image: with a tag or a digest, or neither for all tags.
    pub reference: Reference,
    /// `platform=`: the entry to pick from an index (this host's platform otherwise).
    pub platform: Option<Platform>,
    /// Credentials from `X-Registry-Auth`.
    pub auth: AuthConfig,
}

/// A pull whose registry answered and whose manifest (or tag list) is in hand.
pub struct PreparedPull {
    spec: PullSpec,
    repo: Repository,
    first: Option<Fetched>,
    tags: Vec<String>,
}

/// Fetches, parses and verifies the manifest `r` names.
async fn fetch_manifest(repo: &Repository, r: &Reference) -> Result<Fetched, EngineError> {
    let wanted = r.digest.as_deref();
    let name = wanted.or(r.tag.as_deref()).unwrap_or(berth_image::reference::DEFAULT_TAG);
    let m = repo.get_manifest(name, ACCEPT, MANIFEST_LIMIT).await.map_err(|e| pull_error(e, r))?;
    let fetched = manifest::parse(m.bytes, &m.media_type)?;
    manifest::verify(&fetched, wanted, m.digest.as_deref())?;
    Ok(fetched)
}

async fn open(client: &RegistryClient, ep: &berth_registry::client::Endpoint, spec: &PullSpec) -> Result<PreparedPull, EngineError> {
    let r = &spec.reference;
    let repo = client.repository(ep, &r.path, Access::Pull, spec.auth.credentials.clone(), &[]).await.map_err(|e| pull_error(e, r))?;
    if r.tag.is_none() && r.digest.is_none() {
        let mut tags = repo.list_tags().await.map_err(|e| pull_error(e, r))?;
        tags.retain(|t| Reference::parse(&format!("{}:{t}", r.repository())).is_ok());
        if tags.is_empty() {
            return Err(EngineError::NotFound(format!("repository {} has no tags", r.familiar_repository())));
        }
        return Ok(PreparedPull { spec: spec.clone(), repo, first: None, tags });
    }
    let first = fetch_manifest(&repo, r).await?;
    Ok(PreparedPull { spec: spec.clone(), repo, first: Some(first), tags: Vec::new() })
}

impl Engine {
    /// Reaches the registry (a Docker Hub mirror first when configured) and fetches the
    /// manifest, or the tag list for an all-tags pull.
    pub async fn prepare_pull(self: &Arc<Self>, spec: PullSpec) -> Result<PreparedPull, EngineError> {
        let policy = self.registry_policy()?;
        let client = self.registry_client();
        let endpoints = policy.endpoints(&spec.reference.domain, true).await;
        let mut last = None;
        for ep in &endpoints {
            match open(&client, ep, &spec).await {
                Ok(p) => return Ok(p),
                Err(e) => {
                    tracing::info!(endpoint = %ep.host, error = %e, "pull endpoint failed");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| EngineError::Internal("no registry endpoint".into())))
    }

    /// The image manifest to use: `fetched` itself, or the entry of an index for `want`.
    async fn resolve_image(repo: &Repository, fetched: Fetched, want: &Platform, r: &Reference) -> Result<ImageManifest, EngineError> {
        let index = match fetched {
            Fetched::Image(m) => return Ok(m),
            Fetched::Index { index, .. } => index,
        };
        let entries: Vec<_> = index.manifests.into_iter().filter(|d| ACCEPT[..2].contains(&d.media_type.as_str())).collect();
        let entry =
            platform::select(&entries, want).ok_or_else(|| EngineError::NotFound(format!("no matching manifest for {want} in the manifest list entries")))?;
        Digest::parse(&entry.digest).map_err(|e| EngineError::Invalid(format!("image index entry: {e}")))?;
        let by_digest = Reference { tag: None, digest: Some(entry.digest.clone()), ..r.clone() };
        match fetch_manifest(repo, &by_digest).await? {
            Fetched::Image(m) => Ok(m),
            Fetched::Index { .. } => Err(EngineError::Invalid(format!("index entry {} is itself an index", entry.digest))),
        }
    }

    /// Fetches and checks the image config; returns its bytes and diff ids.
    async fn fetch_config(repo: &Repository, m: &ImageManifest, want: Option<&Platform>, r: &Reference) -> Result<(Vec<u8>, Vec<Digest>), EngineError> {
        let bytes = repo.read_blob(m.config.as_str(), m.config_size as usize).await.map_err(super::client_error)?;
        if Digest::of(&bytes) != m.config || bytes.len() as u64 != m.config_size {
            return Err(super::download::verification_failed(&m.config));
        }
        let cfg: ImageConfig = serde_json::from_slice(&bytes).map_err(|e| EngineError::Invalid(format!("malformed image config {}: {e}", m.config)))?;
        if !cfg.os.is_empty() && cfg.os != "linux" {
            return Err(EngineError::Invalid(format!("image operating system {:?} cannot be used on this platform", cfg.os)));
        }
        if let Some(w) = want {
            let have = Platform::new(&cfg.os, &cfg.architecture, cfg.variant.as_deref());
            if have.architecture != w.architecture || have.os != w.os {
                return Err(EngineError::Invalid(format!(
                    "image with reference {} was found but its platform ({have}) does not match the specified platform ({w})",
                    r.familiar()
                )));
            }
        }
        let diff_ids = cfg
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d).map_err(|e| EngineError::Invalid(format!("image config {}: {e}", m.config))))
            .collect::<Result<Vec<_>, _>>()?;
        if diff_ids.len() != m.layers.len() {
            return Err(EngineError::Invalid(super::extract::ROOTFS_MISMATCH.into()));
        }
        Ok((bytes.to_vec(), diff_ids))
    }

    /// Makes sure the image of `m` is in the store; returns its id.
    async fn ensure_image(
        &self,
        repo: &Repository,
        m: &ImageManifest,
        want: Option<&Platform>,
        r: &Reference,
        progress: &Progress,
    ) -> Result<String, EngineError> {
        let id = m.config.to_string();
        if let Some(rec) = self.images.get(&id)? {
            let chains = rec.chain_ids()?;
            if chains.iter().all(|c| self.images.layers().exists(c)) {
                return Ok(id);
            }
        }
        let (config, diff_ids) = Self::fetch_config(repo, m, want, r).await?;
        let pulled = self.pull_layers(repo, m, &diff_ids, progress).await?;
        let created = pulled.created.clone();
        let stored = async {
            for blob in pulled.blobs {
                blob.commit(self.images.content()).await?;
            }
            let images = self.images.clone();
            let (records, raw) = (pulled.records, m.raw.to_vec());
            Self::blocking(move || images.create_image(&config, records, Some(raw), "").map_err(EngineError::from)).await
        }
        .await;
        match stored {
            Ok(rec) => Ok(rec.id),
            Err(e) => {
                self.rollback_layers(created).await;
                Err(e)
            }
        }
    }

    /// Points the tag (or records the digest) at `id`; returns whether anything changed.
    fn record_pull(&self, id: &str, r: &Reference, top: &Digest) -> Result<bool, EngineError> {
        let repo_digest = format!("{}@{top}", r.repository());
        let before = self.images.get(id)?.map(|rec| rec.repo_digests.contains(&repo_digest)).unwrap_or(false);
        let updated = match &r.tag {
            Some(_) => {
                let prev = self.images.resolve(&r.to_string()).ok().map(|rec| rec.id);
                if prev.as_deref() != Some(id) {
                    self.images.tag(id, r)?;
                }
                prev.as_deref() != Some(id)
            }
            None => !before,
        };
        self.images.add_repo_digest(id, &repo_digest)?;
        Ok(updated)
    }

    /// Pulls one tag or digest; returns whether the reference now points somewhere new.
    async fn pull_one(&self, repo: &Repository, r: &Reference, fetched: Fetched, spec: &PullSpec, progress: &Progress) -> Result<bool, EngineError> {
        let label = r.digest.clone().or_else(|| r.tag.clone()).unwrap_or_default();
        progress.message(Some(&label), &format!("Pulling from {}", r.path));
        let top = fetched.digest().clone();
        let want = spec.platform.clone().unwrap_or_else(Platform::host);
        let m = Self::resolve_image(repo, fetched, &want, r).await?;
        let id = self.ensure_image(repo, &m, spec.platform.as_ref(), r, progress).await?;
        progress.message(None, &format!("Digest: {top}"));
        let updated = self.record_pull(&id, r, &top)?;
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), r.familiar());
        self.events.publish("image", "pull", &r.familiar(), attrs);
        Ok(updated)
    }
}

impl PreparedPull {
    /// Pulls (every tag of an all-tags pull in turn), streaming progress.
    pub async fn run(self, engine: Arc<Engine>, progress: &Progress) -> Result<(), EngineError> {
        let r = &self.spec.reference;
        if let Some(first) = self.first {
            let updated = engine.pull_one(&self.repo, r, first, &self.spec, progress).await?;
            let verb = if updated { "Downloaded newer image for" } else { "Image is up to date for" };
            progress.message(None, &format!("Status: {verb} {}", r.familiar()));
            return Ok(());
        }
        let mut any = false;
        for tag in &self.tags {
            let tagged = r.with_tag(tag);
            let fetched = fetch_manifest(&self.repo, &tagged).await?;
            any |= engine.pull_one(&self.repo, &tagged, fetched, &self.spec, progress).await?;
        }
        let verb = if any { "Downloaded newer image for" } else { "Image is up to date for" };
        progress.message(None, &format!("Status: {verb} {}", r.familiar_repository()));
        Ok(())
    }
}
