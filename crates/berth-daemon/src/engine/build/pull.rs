//! Base images (`FROM`) and `COPY --from=<image>` sources that are not in the store are
//! pulled, as the classic builder does, with the pull's progress lines in the build stream;
//! `--pull` pulls every named base image once per build even when a local copy exists.
//! Credentials come from the `X-Registry-Config` header (a map of registry to auth config,
//! which the docker CLI fills from its config file).

use std::collections::BTreeMap;

use berth_image::{ImageRecord, Reference};

use super::stage::Builder;
use super::BuildError;
use crate::engine::distribution::credentials::AuthConfig;
use crate::engine::distribution::progress::Progress as PullProgress;
use crate::engine::distribution::pull::PullSpec;
use crate::engine::Engine;
use crate::error::EngineError;

/// The registry a config key names: `https://index.docker.io/v1/` is Docker Hub
/// (`docker.io`), `http://host:port/path` is `host:port`.
fn registry_of_key(key: &str) -> String {
    let rest = key.trim().trim_start_matches("https://").trim_start_matches("http://");
    let host = rest.split('/').next().unwrap_or_default().to_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".into(),
        _ => host,
    }
}

/// Decodes `X-Registry-Config` (base64url JSON `{"registry": {auth config}}`) into auth
/// configs by registry host. Anything undecodable means no credentials, as in Docker.
pub fn parse_registry_config(header: Option<&str>) -> BTreeMap<String, AuthConfig> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    let Some(raw) = header.map(str::trim).filter(|h| !h.is_empty()) else { return BTreeMap::new() };
    let Some(json) = [URL_SAFE, URL_SAFE_NO_PAD, STANDARD].iter().find_map(|e| e.decode(raw).ok()) else { return BTreeMap::new() };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(&json) else { return BTreeMap::new() };
    map.iter().filter_map(|(k, v)| Some((registry_of_key(k), AuthConfig::from_json(v.to_string().as_bytes())?))).collect()
}

/// Whether `name` is an image id (or id prefix) rather than a name to pull.
fn is_image_id(name: &str) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    name.starts_with("sha256:") || (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Builder {
    /// The image `name` names for `FROM` or `COPY --from`: the local one unless `--pull`
    /// asks for a fresh copy, pulled when missing.
    pub async fn image_for(&mut self, name: &str) -> Result<ImageRecord, EngineError> {
        let force = self.opts.pull && !is_image_id(name) && !self.pulled.contains(name);
        if !force {
            match self.resolve_image(name).await {
                Err(EngineError::NotFound(_)) if !is_image_id(name) => {}
                other => return other,
            }
        }
        let reference = Reference::parse_tagged(name).map_err(|e| EngineError::Invalid(format!("invalid reference format: {name}: {e}")))?;
        self.pull(reference).await?;
        self.pulled.insert(name.to_string());
        self.resolve_image(name).await
    }

    /// Pulls `reference`, forwarding its progress messages into the build stream.
    async fn pull(&mut self, reference: Reference) -> Result<(), EngineError> {
        let auth = self.opts.auth_configs.get(&reference.domain).cloned().unwrap_or_default();
        let spec = PullSpec { reference, platform: None, auth };
        let engine: std::sync::Arc<Engine> = self.engine.clone();
        let prepared = engine.prepare_pull(spec).await?;
        let (progress, mut rx) = PullProgress::channel();
        let out = self.out.clone();
        let forward = async move {
            while let Some(msg) = rx.recv().await {
                if out.send(msg).await.is_err() {
                    return Err(BuildError::Cancelled);
                }
            }
            Ok(())
        };
        let run = async move {
            let result = prepared.run(engine, &progress).await;
            drop(progress);
            result
        };
        let (pulled, forwarded) = tokio::join!(run, forward);
        pulled?;
        forwarded.map_err(|_| EngineError::Invalid("build cancelled".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_config_keys_map_to_hosts() {
        use base64::Engine as _;
        let json = r#"{"https://index.docker.io/v1/":{"username":"hub","password":"p"},"127.0.0.1:5000":{"auth":"dTpw"},"http://reg.example:8080/v2/":{"username":"r"}}"#;
        let header = base64::engine::general_purpose::URL_SAFE.encode(json);
        let map = parse_registry_config(Some(&header));
        assert_eq!(map["docker.io"].credentials.username, "hub");
        assert_eq!((map["127.0.0.1:5000"].credentials.username.as_str(), map["127.0.0.1:5000"].credentials.password.as_str()), ("u", "p"));
        assert_eq!(map["reg.example:8080"].credentials.username, "r");
        assert!(parse_registry_config(Some("e30=")).is_empty());
        assert!(parse_registry_config(Some("!!not base64")).is_empty());
        assert!(parse_registry_config(None).is_empty());
    }

    #[test]
    fn ids_are_never_pulled() {
        assert!(is_image_id("sha256:abc"));
        assert!(is_image_id(&"a".repeat(64)));
        assert!(!is_image_id("busybox"));
        assert!(!is_image_id("abc123"));
    }
}
