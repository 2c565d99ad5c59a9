//! Distribution: pull, push, login, search and `GET /distribution/{name}/json`, over the
//! registry client of `berth-registry`.
//!
//! - [`policy`]: insecure registries and Docker Hub mirrors from the daemon's flags.
//! - [`credentials`]: `X-Registry-Auth` and `POST /auth` bodies.
//! - [`progress`]: Docker's JSON progress stream (messages, progress bars, throttling).
//! - [`manifest`], [`platform`]: what a registry sends, validated; index entry selection.
//! - [`pull`] with [`download`], [`follow`] and [`extract`]: blobs fetched in parallel with
//!   resumption, verified, unpacked in order while they arrive, and committed only when the
//!   whole image is good.
//! - [`push`] with [`upload`]: layers uploaded in parallel (or mounted, or skipped), then the
//!   manifest as stored.
//! - [`login`], [`search`], [`inspect`].
//!
//! Invariants: every blob is verified against its digest and every unpacked layer against the
//! config's `diff_ids` before anything becomes visible; a failed pull leaves no blob, layer or
//! image behind; manifests are stored and pushed as the exact bytes received; nothing a
//! registry answers can panic the daemon.

pub mod credentials;
pub mod download;
pub mod extract;
pub mod follow;
pub mod inspect;
pub mod layers;
pub mod login;
pub mod manifest;
pub mod platform;
pub mod policy;
pub mod progress;
pub mod pull;
pub mod push;
pub mod search;
pub mod upload;

use berth_image::Reference;
use berth_registry::client::{ClientError, RegistryClient};

pub use policy::RegistryPolicy;

use super::Engine;
use crate::error::EngineError;

/// The `User-Agent` berth sends to registries.
pub fn user_agent() -> String {
    format!("berth/{} docker/{} os/linux arch/{}", env!("CARGO_PKG_VERSION"), berth_api::ENGINE_VERSION, berth_image::config::host_architecture())
}

impl Engine {
    /// The registry settings of this daemon (validated at start, so this cannot fail then).
    pub fn registry_policy(&self) -> Result<RegistryPolicy, EngineError> {
        RegistryPolicy::from_config(&self.config)
    }

    /// A registry client (one per operation: its connections are pooled for that operation).
    pub fn registry_client(&self) -> RegistryClient {
        RegistryClient::new(&user_agent())
    }
}

/// The repo digests of an image as Docker shows them (`busybox@sha256:…`,
/// `127.0.0.1:5000/team/app@sha256:…`): stored normalised (`docker.io/library/busybox@…`)
/// so lookups by digest are exact, shown familiar like every other name.
pub fn familiar_repo_digests(stored: &[String]) -> Vec<String> {
    stored
        .iter()
        .map(|s| match (Reference::parse(s), s.rsplit_once('@')) {
            (Ok(r), Some((_, digest))) => format!("{}@{digest}", r.familiar_repository()),
            _ => s.clone(),
        })
        .collect()
}

/// A registry failure during a pull, in dockerd's words (`pull access denied for …`,
/// `manifest for … not found: …`), with the status the docker CLI expects.
pub fn pull_error(e: ClientError, r: &Reference) -> EngineError {
    let name = r.familiar_repository();
    match (&e, e.code()) {
        (ClientError::Unauthorized(m), _) => {
            EngineError::NotFound(format!("pull access denied for {name}, repository does not exist or may require 'docker login': {m}"))
        }
        (_, Some("DENIED" | "UNAUTHORIZED")) => {
            EngineError::NotFound(format!("pull access denied for {name}, repository does not exist or may require 'docker login': {e}"))
        }
        (_, Some("MANIFEST_UNKNOWN")) => EngineError::NotFound(format!("manifest for {} not found: {e}", r.familiar())),
        (_, Some("NAME_UNKNOWN")) => EngineError::NotFound(format!("repository {name} not found: {e}")),
        _ if e.status() == Some(404) => EngineError::NotFound(format!("manifest for {} not found: manifest unknown: {e}", r.familiar())),
        _ => client_error(e),
    }
}

/// Any other registry failure: unreachable registries are server errors, malformed answers
/// and refused arguments client errors.
pub fn client_error(e: ClientError) -> EngineError {
    match e {
        ClientError::Protocol(m) | ClientError::Invalid(m) => EngineError::Invalid(m),
        ClientError::Unauthorized(m) => EngineError::Invalid(m),
        e @ ClientError::Registry { status: 400..=499, .. } => EngineError::Invalid(e.to_string()),
        e => EngineError::Internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_registry::client::RegistryErrorItem;

    fn registry(code: &str, message: &str, status: u16) -> ClientError {
        ClientError::Registry { status, errors: vec![RegistryErrorItem { code: code.into(), message: message.into() }], url: "u".into() }
    }

    #[test]
    fn repo_digests_are_shown_familiar() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        let stored = vec![format!("docker.io/library/busybox@{d}"), format!("docker.io/team/app@{d}"), format!("127.0.0.1:5000/team/app@{d}")];
        assert_eq!(familiar_repo_digests(&stored), vec![format!("busybox@{d}"), format!("team/app@{d}"), format!("127.0.0.1:5000/team/app@{d}")]);
    }

    #[test]
    fn pull_errors_in_dockerd_words() {
        let r = Reference::parse_tagged("127.0.0.1:5000/team/app:v1").unwrap_or_else(|e| panic!("{e}"));
        let e = pull_error(registry("MANIFEST_UNKNOWN", "manifest unknown", 404), &r);
        assert_eq!(e.status(), 404);
        assert_eq!(e.to_string(), "manifest for 127.0.0.1:5000/team/app:v1 not found: manifest unknown: manifest unknown");
        let e = pull_error(registry("DENIED", "requested access to the resource is denied", 403), &r);
        assert_eq!(
            e.to_string(),
            "pull access denied for 127.0.0.1:5000/team/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        );
        let hub = Reference::parse_tagged("alpine").unwrap_or_else(|e| panic!("{e}"));
        let e = pull_error(ClientError::Unauthorized("unauthorized: authentication required".into()), &hub);
        assert_eq!(e.status(), 404);
        assert!(e.to_string().starts_with("pull access denied for alpine, repository does not exist or may require 'docker login'"));
        let e = pull_error(registry("NAME_UNKNOWN", "repository name not known to registry", 404), &r);
        assert_eq!(e.to_string(), "repository 127.0.0.1:5000/team/app not found: name unknown: repository name not known to registry");
        assert_eq!(pull_error(ClientError::Protocol("bad".into()), &r).status(), 400);
        assert_eq!(pull_error(ClientError::Transport { url: "u".into(), message: "refused".into() }, &r).status(), 500);
    }
}
