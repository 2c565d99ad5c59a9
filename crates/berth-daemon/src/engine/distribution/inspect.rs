//! `GET /distribution/{name}/json`: the registry's descriptor of an image and its platforms.

use berth_image::config::ImageConfig;
use berth_image::Reference;
use berth_registry::client::Access;
use serde_json::{json, Value};

use super::credentials::AuthConfig;
use super::manifest::{self, Fetched, ACCEPT, MANIFEST_LIMIT};
use super::{client_error, pull_error, Engine};
use crate::error::EngineError;

impl Engine {
    /// `{"Descriptor": {mediaType, digest, size}, "Platforms": [...]}` for `name`.
    pub async fn distribution_inspect(&self, name: &str, auth: AuthConfig) -> Result<Value, EngineError> {
        let r = Reference::parse_tagged(name).map_err(|e| EngineError::Invalid(e.to_string()))?;
        if !super::policy::valid_host(&r.domain) {
            return Err(EngineError::Invalid(format!("invalid reference format: {name:?}")));
        }
        let endpoint = self.registry_policy()?.endpoints(&r.domain, true).await.pop().ok_or_else(|| EngineError::Internal("no registry endpoint".into()))?;
        let repo = self.registry_client().repository(&endpoint, &r.path, Access::Pull, auth.credentials, &[]).await.map_err(|e| pull_error(e, &r))?;
        let wanted = r.digest.clone().or_else(|| r.tag.clone()).unwrap_or_default();
        let got = repo.get_manifest(&wanted, ACCEPT, MANIFEST_LIMIT).await.map_err(|e| pull_error(e, &r))?;
        let size = got.bytes.len();
        let fetched = manifest::parse(got.bytes, &got.media_type)?;
        manifest::verify(&fetched, r.digest.as_deref(), got.digest.as_deref())?;
        let digest = fetched.digest().to_string();
        let (media_type, platforms) = match &fetched {
            Fetched::Index { index, .. } => {
                let p: Vec<Value> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref())
                    .map(|p| json!({"architecture": p.architecture, "os": p.os, "variant": p.variant}))
                    .collect();
                (index.media_type.clone().unwrap_or_else(|| got.media_type.clone()), p)
            }
            Fetched::Image(m) => {
                let bytes = repo.read_blob(m.config.as_str(), m.config_size as usize).await.map_err(client_error)?;
                let cfg: ImageConfig = serde_json::from_slice(&bytes).map_err(|e| EngineError::Invalid(format!("malformed image config: {e}")))?;
                (m.media_type.clone(), vec![json!({"architecture": cfg.architecture, "os": cfg.os, "variant": cfg.variant})])
            }
        };
        Ok(json!({"Descriptor": {"mediaType": media_type, "digest": digest, "size": size}, "Platforms": platforms}))
    }
}
