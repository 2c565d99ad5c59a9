//! One repository on one registry: manifests and blobs, with authorization and retries after a
//! 401 handled in one place ([`Repository::call`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response};

use super::auth::Authorizer;
use super::error::ClientError;
use super::http::{self, ReqBody};
use super::RegistryClient;

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read.
    Pull,
    /// Read and write.
    Push,
}

impl Access {
    /// The token scope for repository `name`.
    pub fn scope(self, name: &str) -> String {
        match self {
            Access::Pull => format!("repository:{name}:pull"),
            Access::Push => format!("repository:{name}:pull,push"),
        }
    }
}

/// A manifest as the registry sent it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The raw bytes (their digest is the manifest's digest).
    pub bytes: Bytes,
    /// `Content-Type` without parameters.
    pub media_type: String,
    /// `Docker-Content-Digest`, when sent.
    pub digest: Option<String>,
}

/// A blob download in progress.
pub struct BlobResponse {
    /// The body, streamed.
    pub body: Incoming,
    /// The offset of the body's first byte in the blob (0 when a range was not honoured).
    pub offset: u64,
    /// The blob's total size, when the registry said.
    pub total: Option<u64>,
}

/// Redirects followed for one blob request.
const MAX_REDIRECTS: usize = 5;

struct Inner {
    client: RegistryClient,
    base: String,
    insecure: bool,
    name: String,
    auth: Authorizer,
}

/// A repository session; cheap to clone and share between parallel transfers.
#[derive(Clone)]
pub struct Repository {
    inner: Arc<Inner>,
}

fn check_digest(digest: &str) -> Result<(), ClientError> {
    digest.parse::<crate::Digest>().map(|_| ()).map_err(|e| ClientError::Invalid(e.to_string()))
}

impl Repository {
    pub(crate) fn new(client: RegistryClient, base: String, insecure: bool, name: String, auth: Authorizer) -> Self {
        Self { inner: Arc::new(Inner { client, base, insecure, name, auth }) }
    }

    /// The repository's name on the registry.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Where the registry answered (`https://host:port`).
    pub fn base(&self) -> &str {
        &self.inner.base
    }

    /// `<base>/v2/<name>/<rest>`.
    pub(crate) fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.inner.base, self.inner.name)
    }

    /// Gets the authorization once, so bad credentials surface before any transfer.
    pub(crate) async fn authorize(&self) -> Result<(), ClientError> {
        self.inner.auth.header(&self.inner.client).await.map(|_| ())
    }

    /// Sends a request to the registry, authorized when it goes to the registry's own origin;
    /// after a 401, retries once if new authorization can help. `body` makes each attempt's
    /// body; `timeout` bounds the wait for the answer.
    pub(crate) async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, String)],
        body: &(dyn Fn() -> ReqBody + Sync),
        timeout: Duration,
    ) -> Result<Response<Incoming>, ClientError> {
        let own = http::origin(url) == http::origin(&self.inner.base);
        for attempt in 0..2 {
            let mut req = Request::builder().method(method.clone()).uri(url);
            for (k, v) in headers {
                let v = HeaderValue::from_str(v).map_err(|e| ClientError::Invalid(format!("header {k}: {e}")))?;
                req = req.header(k, v);
            }
            if own {
                if let Some(auth) = self.inner.auth.header(&self.inner.client).await? {
                    req = req.header(hyper::header::AUTHORIZATION, auth);
                }
            }
            let req = req.body(body()).map_err(|e| ClientError::Invalid(format!("{url}: {e}")))?;
            // Other origins (blob CDNs, upload stores) always get verified TLS and no credentials.
            let resp = self.inner.client.send(own && self.inner.insecure, req, timeout).await?;
            if resp.status() != hyper::StatusCode::UNAUTHORIZED || !own || attempt == 1 {
                return Ok(resp);
            }
            let challenges: Vec<_> =
                resp.headers().get_all(hyper::header::WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).flat_map(super::challenge::parse).collect();
            if !self.inner.auth.on_unauthorized(challenges).await {
                return Ok(resp);
            }
        }
        Err(ClientError::Unauthorized(format!("{url}: authentication required")))
    }

    /// Turns a 401 into [`ClientError::Unauthorized`] with the registry's words, any other
    /// failure into [`ClientError::Registry`].
    pub(crate) async fn failure(resp: Response<Incoming>, url: &str) -> ClientError {
        let status = resp.status().as_u16();
        let err = http::error_from(resp, url).await;
        if status == 401 {
            let text = err.first_error().map(|e| e.to_string()).unwrap_or_else(|| "unauthorized: authentication required".into());
            return ClientError::Unauthorized(text);
        }
        err
    }

    /// `GET /v2/<name>/manifests/<reference>` with the accepted media types; the body may not
    /// exceed `limit` bytes.
    pub async fn get_manifest(&self, reference: &str, accept: &[&str], limit: usize) -> Result<FetchedManifest, ClientError> {
        crate::names::Reference::parse(reference).map_err(|e| ClientError::Invalid(format!("manifest reference {reference:?}: {e}")))?;
        let url = self.url(&format!("manifests/{reference}"));
        let headers = [(hyper::header::ACCEPT, accept.join(", "))];
        let resp = self.call(Method::GET, &url, &headers, &http::empty, http::ANSWER_TIMEOUT).await?;
        if !resp.status().is_success() {
            return Err(Self::failure(resp, &url).await);
        }
        let media_type = http::header(&resp, "content-type").split(';').next().unwrap_or("").trim().to_string();
        let digest = Some(http::header(&resp, "docker-content-digest").to_string()).filter(|d| !d.is_empty());
        let bytes = http::read_limited(resp.into_body(), limit, &url).await?;
        Ok(FetchedManifest { bytes, media_type, digest })
    }

    /// Follows redirects for a blob request; the last answer is returned as it is.
    async fn blob_request(&self, method: Method, digest: &str, range: Option<u64>) -> Result<(Response<Incoming>, String), ClientError> {
        check_digest(digest)?;
        let mut url = self.url(&format!("blobs/{digest}"));
        let mut headers = Vec::new();
        if let Some(offset) = range {
            headers.push((hyper::header::RANGE, format!("bytes={offset}-")));
        }
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.call(method.clone(), &url, &headers, &http::empty, http::ANSWER_TIMEOUT).await?;
            if !resp.status().is_redirection() {
                return Ok((resp, url));
            }
            let location = http::header(&resp, "location").to_string();
            url = http::resolve_location(&url, &location)?;
        }
        Err(ClientError::Protocol(format!("blob {digest}: more than {MAX_REDIRECTS} redirects")))
    }

    /// `HEAD` on a blob: its size when the registry has it, `None` on 404.
    pub async fn blob_size(&self, digest: &str) -> Result<Option<u64>, ClientError> {
        let (resp, url) = self.blob_request(Method::HEAD, digest, None).await?;
        match resp.status().as_u16() {
            200..=299 => Ok(Some(http::header(&resp, "content-length").parse().unwrap_or(0))),
            404 => Ok(None),
            _ => Err(Self::failure(resp, &url).await),
        }
    }

    /// `GET` on a blob from `offset` (a `Range` request when `offset > 0`).
    pub async fn get_blob(&self, digest: &str, offset: u64) -> Result<BlobResponse, ClientError> {
        let (resp, url) = self.blob_request(Method::GET, digest, (offset > 0).then_some(offset)).await?;
        let length: Option<u64> = http::header(&resp, "content-length").parse().ok();
        match resp.status().as_u16() {
            200 => Ok(BlobResponse { total: length, offset: 0, body: resp.into_body() }),
            206 => {
                let (start, total) = parse_content_range(http::header(&resp, "content-range"))
                    .ok_or_else(|| ClientError::Protocol(format!("{url}: 206 without a usable Content-Range")))?;
                if start != offset {
                    return Err(ClientError::Protocol(format!("{url}: asked for bytes from {offset}, got from {start}")));
                }
                Ok(BlobResponse { total, offset: start, body: resp.into_body() })
            }
            _ => Err(Self::failure(resp, &url).await),
        }
    }

    /// A whole small blob (an image config), at most `limit` bytes.
    pub async fn read_blob(&self, digest: &str, limit: usize) -> Result<Bytes, ClientError> {
        let blob = self.get_blob(digest, 0).await?;
        http::read_limited(blob.body, limit, digest).await
    }

    /// `GET /v2/<name>/tags/list`, following `Link` pagination (at most 100 pages).
    pub async fn list_tags(&self) -> Result<Vec<String>, ClientError> {
        let mut url = self.url("tags/list?n=1000");
        let mut tags = Vec::new();
        for _ in 0..100 {
            let resp = self.call(Method::GET, &url, &[], &http::empty, http::ANSWER_TIMEOUT).await?;
            if !resp.status().is_success() {
                return Err(Self::failure(resp, &url).await);
            }
            let next = next_link(http::header(&resp, "link"));
            let body = http::read_limited(resp.into_body(), 16 << 20, &url).await?;
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("{url}: malformed tag list: {e}")))?;
            tags.extend(v["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)));
            match next {
                Some(n) => url = http::resolve_location(&url, &n)?,
                None => return Ok(tags),
            }
        }
        Ok(tags)
    }
}

/// `bytes 100-199/1000` → (100, Some(1000)); `*` totals are unknown.
pub(crate) fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

/// The target of `Link: <url>; rel="next"`.
fn next_link(v: &str) -> Option<String> {
    let (target, params) = v.split_once(';')?;
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    Some(target.trim().trim_start_matches('<').trim_end_matches('>').to_string()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_and_links() {
        assert_eq!(parse_content_range("bytes 100-199/1000"), Some((100, Some(1000))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_content_range("bytes -/"), None);
        assert_eq!(next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(), Some("/v2/a/tags/list?n=2&last=b"));
        assert_eq!(next_link(""), None);
    }

    #[test]
    fn scopes() {
        assert_eq!(Access::Pull.scope("team/app"), "repository:team/app:pull");
        assert_eq!(Access::Push.scope("team/app"), "repository:team/app:pull,push");
    }
}
