//! A registry client for the engine's pull, push, login and search (distribution spec v1.1,
//! Docker's auth flows).
//!
//! - [`RegistryClient`] holds two pooled HTTP/1 clients (certificates verified, and accepting
//!   any certificate for registries configured insecure) and pings registries:
//!   `GET /v2/` over HTTPS, then over plain HTTP when the registry is insecure, as dockerd does.
//! - [`Repository`] is one repository on one registry with its authorization (none, basic, or a
//!   bearer token fetched from the challenge's realm and refreshed when the registry asks
//!   again). It fetches manifests and blobs (ranges for resumed downloads, redirects followed
//!   without credentials to other hosts), uploads blobs (streamed `PATCH` then `PUT ?digest=`,
//!   or a cross-repository mount) and puts manifests.
//!
//! Invariants: bodies are streamed, never buffered whole, except manifests, configs and error
//! bodies, which are read with a size limit; nothing a registry answers can panic the client;
//! digests and names reaching URLs were validated by the caller through [`crate::Digest`] and
//! [`crate::RepoName`], and are validated again here.

mod auth;
mod challenge;
mod connect;
mod error;
mod http;
mod repo;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub use auth::Credentials;
pub use challenge::{parse as parse_challenges, Challenge};
pub use error::{parse_error_body, status_text, ClientError, RegistryErrorItem};
pub use http::{empty, full, streamed, ReqBody};
pub use repo::{Access, BlobResponse, FetchedManifest, Repository};
pub use upload::MountOutcome;

use connect::Connector;

/// A registry host and whether it may be reached without verified TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` (for Docker Hub: `registry-1.docker.io`), or a full `http(s)://` URL
    /// (mirrors), which fixes the scheme.
    pub host: String,
    /// Insecure registries get any certificate accepted, and plain HTTP when HTTPS fails.
    pub insecure: bool,
}

/// What `GET /v2/` said.
#[derive(Debug, Clone)]
pub struct Pinged {
    /// `https://host:port` or `http://host:port`: where the registry answered.
    pub base: String,
    /// Challenges of a 401 answer (none when the registry is open).
    pub challenges: Vec<Challenge>,
}

/// A pooled registry client; cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    verified: Client<Connector, ReqBody>,
    unverified: Client<Connector, ReqBody>,
    user_agent: Arc<str>,
}

impl RegistryClient {
    /// A client announcing `user_agent`.
    pub fn new(user_agent: &str) -> Self {
        let build =
            |verify| Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(60)).pool_max_idle_per_host(16).build(Connector::new(verify));
        Self { verified: build(true), unverified: build(false), user_agent: Arc::from(user_agent) }
    }

    /// Sends a request; a missing answer within `timeout` is a transport error.
    pub(crate) async fn send(&self, insecure: bool, mut req: Request<ReqBody>, timeout: Duration) -> Result<Response<Incoming>, ClientError> {
        let url = req.uri().to_string();
        if let Ok(ua) = hyper::header::HeaderValue::from_str(&self.user_agent) {
            req.headers_mut().insert(hyper::header::USER_AGENT, ua);
        }
        let client = if insecure { &self.unverified } else { &self.verified };
        match tokio::time::timeout(timeout, client.request(req)).await {
            Err(_) => Err(ClientError::transport(&url, "timed out waiting for the registry")),
            Ok(Err(e)) => Err(ClientError::transport(&url, error_chain(&e))),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// The base URLs to try for an endpoint, in order.
    fn bases(endpoint: &Endpoint) -> Vec<String> {
        let host = endpoint.host.trim_end_matches('/');
        if host.starts_with("http://") || host.starts_with("https://") {
            return vec![host.to_string()];
        }
        let mut v = vec![format!("https://{host}")];
        if endpoint.insecure {
            v.push(format!("http://{host}"));
        }
        v
    }

    /// `GET /v2/` on the endpoint: HTTPS first, plain HTTP for insecure registries when HTTPS
    /// cannot be spoken.
    pub async fn ping(&self, endpoint: &Endpoint) -> Result<Pinged, ClientError> {
        let mut last = None;
        for base in Self::bases(endpoint) {
            let url = format!("{base}/v2/");
            match self.get_plain(endpoint.insecure, &url).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let challenges: Vec<Challenge> =
                        resp.headers().get_all(hyper::header::WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).flat_map(challenge::parse).collect();
                    drop(resp);
                    if status == 200 || status == 401 {
                        return Ok(Pinged { base, challenges });
                    }
                    last = Some(ClientError::Protocol(format!("{url}: not a registry (answered {})", status_text(status))));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Invalid(format!("no way to reach {}", endpoint.host))))
    }

    async fn get_plain(&self, insecure: bool, url: &str) -> Result<Response<Incoming>, ClientError> {
        let req = Request::builder().method(Method::GET).uri(url).body(http::empty()).map_err(|e| ClientError::Invalid(format!("{url}: {e}")))?;
        self.send(insecure, req, http::ANSWER_TIMEOUT).await
    }

    /// `GET` of any `http`/`https` URL, certificates verified and no credentials sent (the
    /// builder's `ADD <url>`). Redirects are returned as they are, for the caller to follow.
    pub async fn get_url(&self, url: &str) -> Result<Response<Incoming>, ClientError> {
        self.get_plain(false, url).await
    }

    /// Opens `name` on the endpoint with the given access (ping, then authorization).
    pub async fn repository(
        &self,
        endpoint: &Endpoint,
        name: &str,
        access: Access,
        creds: Credentials,
        extra_pull: &[String],
    ) -> Result<Repository, ClientError> {
        crate::RepoName::parse(name).map_err(|e| ClientError::Invalid(format!("repository name {name:?}: {e}")))?;
        let pinged = self.ping(endpoint).await?;
        let mut scopes = vec![access.scope(name)];
        for other in extra_pull.iter().filter(|o| o.as_str() != name) {
            if crate::RepoName::parse(other).is_ok() {
                scopes.push(Access::Pull.scope(other));
            }
        }
        let authorizer = auth::Authorizer::new(creds, pinged.challenges.clone(), scopes, endpoint.insecure);
        let repo = Repository::new(self.clone(), pinged.base, endpoint.insecure, name.to_string(), authorizer);
        repo.authorize().await?;
        Ok(repo)
    }

    /// Checks credentials the way `docker login` does: `/v2/` with basic auth, or a token from
    /// the realm. Returns the identity token the realm handed out, if any.
    pub async fn login(&self, endpoint: &Endpoint, creds: Credentials) -> Result<(String, String), ClientError> {
        let pinged = self.ping(endpoint).await?;
        let url = format!("{}/v2/", pinged.base);
        let authorizer = auth::Authorizer::new(creds, pinged.challenges.clone(), Vec::new(), endpoint.insecure);
        let identity = authorizer.login(self, &url).await?;
        Ok((url, identity))
    }

    /// `GET /v1/search?q=&n=` (Docker Hub's index and registries that implement it); the
    /// answer's `results`.
    pub async fn search(&self, endpoint: &Endpoint, term: &str, limit: u32, creds: &Credentials) -> Result<serde_json::Value, ClientError> {
        let mut last = None;
        for base in Self::bases(endpoint) {
            let url = format!("{base}/v1/search?q={}&n={limit}", http::encode(term));
            let mut req = Request::builder().method(Method::GET).uri(&url);
            if let Some(basic) = creds.basic_header() {
                req = req.header(hyper::header::AUTHORIZATION, basic);
            }
            let req = req.body(http::empty()).map_err(|e| ClientError::Invalid(format!("{url}: {e}")))?;
            let resp = match self.send(endpoint.insecure, req, http::ANSWER_TIMEOUT).await {
                Ok(r) => r,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            if !resp.status().is_success() {
                return Err(http::error_from(resp, &url).await);
            }
            let body = http::read_limited(resp.into_body(), 8 << 20, &url).await?;
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("{url}: malformed search answer: {e}")))?;
            return Ok(v.get("results").cloned().unwrap_or(serde_json::Value::Array(Vec::new())));
        }
        Err(last.unwrap_or_else(|| ClientError::Invalid(format!("no way to reach {}", endpoint.host))))
    }
}

/// An error and its sources on one line (hyper's errors hide the cause in `source()`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests;
