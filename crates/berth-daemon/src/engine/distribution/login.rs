//! `POST /auth`: checks credentials against a registry the way `docker login` does.

use berth_registry::client::ClientError;

use super::credentials::AuthConfig;
use super::policy::{HUB_DOMAIN, HUB_REGISTRY};
use super::{client_error, Engine};
use crate::error::EngineError;

/// Why a login failed.
#[derive(Debug)]
pub enum LoginError {
    /// The registry refused the credentials (the API answers 401).
    Unauthorized(String),
    /// Anything else.
    Engine(EngineError),
}

impl From<EngineError> for LoginError {
    fn from(e: EngineError) -> Self {
        LoginError::Engine(e)
    }
}

/// The registry host of a login's `serveraddress` (Docker Hub when empty).
pub fn login_host(server: &str) -> Result<String, EngineError> {
    let s = server.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = s.split('/').next().unwrap_or_default().to_ascii_lowercase();
    if host.is_empty() || matches!(host.as_str(), "docker.io" | "index.docker.io" | "registry-1.docker.io") || host == HUB_DOMAIN {
        return Ok(HUB_REGISTRY.to_string());
    }
    if !super::policy::valid_host(&host) {
        return Err(EngineError::Invalid(format!("invalid registry address {server:?}")));
    }
    Ok(host)
}

impl Engine {
    /// Verifies `auth` against its registry; returns the identity token the registry issued
    /// (empty for basic-auth registries).
    pub async fn login(&self, auth: AuthConfig) -> Result<String, LoginError> {
        let host = login_host(&auth.server_address)?;
        let policy = self.registry_policy()?;
        let endpoint = berth_registry::client::Endpoint { insecure: policy.is_insecure(&host).await, host };
        match self.registry_client().login(&endpoint, auth.credentials).await {
            Ok((_, identity)) => Ok(identity),
            Err(ClientError::Unauthorized(m)) => Err(LoginError::Unauthorized(m)),
            Err(e) => Err(LoginError::Engine(client_error(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_hosts() {
        assert_eq!(login_host("").ok().as_deref(), Some(HUB_REGISTRY));
        assert_eq!(login_host("https://index.docker.io/v1/").ok().as_deref(), Some(HUB_REGISTRY));
        assert_eq!(login_host("127.0.0.1:5000").ok().as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(login_host("http://Reg.Example:443/v2/").ok().as_deref(), Some("reg.example:443"));
        assert!(login_host("a b").is_err());
    }
}
