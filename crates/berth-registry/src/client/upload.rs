//! Writes: blob uploads (a streamed `PATCH` then `PUT ?digest=`, as dockerd does),
//! cross-repository mounts, and manifests.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;

use super::error::ClientError;
use super::http::{self, ReqBody};
use super::repo::Repository;

/// What a mount request achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOutcome {
    /// The blob is now in the repository.
    Mounted,
    /// The registry could not mount and opened an upload session at this URL instead.
    Upload(String),
}

/// How long an upload of `size` bytes may take: two minutes plus one second per MiB.
fn upload_timeout(size: u64) -> Duration {
    http::ANSWER_TIMEOUT + Duration::from_secs(size >> 20)
}

impl Repository {
    /// `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`.
    pub async fn mount_blob(&self, digest: &str, from: &str) -> Result<MountOutcome, ClientError> {
        digest.parse::<crate::Digest>().map_err(|e| ClientError::Invalid(e.to_string()))?;
        crate::RepoName::parse(from).map_err(|e| ClientError::Invalid(format!("repository name {from:?}: {e}")))?;
        let url = http::with_query(&http::with_query(&self.url("blobs/uploads/"), "mount", digest), "from", from);
        let resp = self.call(Method::POST, &url, &[], &http::empty, http::ANSWER_TIMEOUT).await?;
        match resp.status().as_u16() {
            201 => Ok(MountOutcome::Mounted),
            202 => Ok(MountOutcome::Upload(http::resolve_location(&url, http::header(&resp, "location"))?)),
            _ => Err(Self::failure(resp, &url).await),
        }
    }

    /// `POST /v2/<name>/blobs/uploads/`: a new upload session's URL.
    pub async fn start_upload(&self) -> Result<String, ClientError> {
        let url = self.url("blobs/uploads/");
        let resp = self.call(Method::POST, &url, &[], &http::empty, http::ANSWER_TIMEOUT).await?;
        if resp.status().as_u16() != 202 {
            return Err(Self::failure(resp, &url).await);
        }
        http::resolve_location(&url, http::header(&resp, "location"))
    }

    /// Streams `body` (`size` bytes) into the session at `location` with one `PATCH`, then
    /// commits it with `PUT ?digest=`. The registry verifies the digest.
    pub async fn upload_blob(&self, location: &str, digest: &str, size: u64, body: ReqBody) -> Result<(), ClientError> {
        digest.parse::<crate::Digest>().map_err(|e| ClientError::Invalid(e.to_string()))?;
        let once = Mutex::new(Some(body));
        let take = || once.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_else(http::empty);
        let headers = [(hyper::header::CONTENT_TYPE, "application/octet-stream".to_string()), (hyper::header::CONTENT_LENGTH, size.to_string())];
        let resp = self.call(Method::PATCH, location, &headers, &take, upload_timeout(size)).await?;
        if resp.status().as_u16() != 202 {
            return Err(Self::failure(resp, location).await);
        }
        let next = http::resolve_location(location, http::header(&resp, "location"))?;
        drop(resp);
        let url = http::with_query(&next, "digest", digest);
        let headers = [(hyper::header::CONTENT_LENGTH, "0".to_string())];
        let resp = self.call(Method::PUT, &url, &headers, &http::empty, http::ANSWER_TIMEOUT).await?;
        if resp.status().as_u16() != 201 {
            return Err(Self::failure(resp, &url).await);
        }
        Ok(())
    }

    /// `PUT /v2/<name>/manifests/<reference>`; returns the digest the registry reported.
    pub async fn put_manifest(&self, reference: &str, media_type: &str, bytes: Bytes) -> Result<Option<String>, ClientError> {
        crate::names::Reference::parse(reference).map_err(|e| ClientError::Invalid(format!("manifest reference {reference:?}: {e}")))?;
        let url = self.url(&format!("manifests/{reference}"));
        let headers = [(hyper::header::CONTENT_TYPE, media_type.to_string())];
        let make = || http::full(bytes.clone());
        let resp = self.call(Method::PUT, &url, &headers, &make, http::ANSWER_TIMEOUT).await?;
        if resp.status().as_u16() != 201 {
            return Err(Self::failure(resp, &url).await);
        }
        Ok(Some(http::header(&resp, "docker-content-digest").to_string()).filter(|d| !d.is_empty()))
    }
}
