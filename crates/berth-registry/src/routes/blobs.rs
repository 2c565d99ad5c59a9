//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`: streamed, range-aware blob reads.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use super::{value, Ctx, DOCKER_CONTENT_DIGEST};
use crate::digest::Digest;
use crate::errors::ApiError;
use crate::names::RepoName;
use crate::range::{parse_range, RangeRequest};
use crate::stream::file_body;
use crate::task::blocking;

/// Serves a blob (or just its headers for HEAD), honouring a single `Range`.
pub(super) async fn get(ctx: &Ctx, name: RepoName, digest: &str, head: bool) -> Result<Response, ApiError> {
    let digest: Digest = digest.parse()?;
    let (storage, d) = (ctx.storage().clone(), digest.clone());
    let opened = blocking(move || {
        if !storage.blob_visible(&name, &d) {
            return Ok(None);
        }
        storage.open_blob(&d)
    })
    .await?;
    let (file, size) = opened.ok_or_else(|| ApiError::BlobUnknown(digest.clone()))?;
    let range = match ctx.header(header::RANGE) {
        Some(h) => parse_range(h, size),
        None => RangeRequest::Full,
    };
    let (status, start, len) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
    };
    let body = if head { Body::empty() } else { file_body(file, start, len) };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=31536000"));
    h.insert(header::ETAG, value(&format!("\"{digest}\"")));
    h.insert(DOCKER_CONTENT_DIGEST, value(&digest.to_string()));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, value(&format!("bytes {start}-{}/{size}", start + len - 1)));
    }
    Ok(response)
}

/// Removes the blob from this repository (its bytes go at the next `gc` if nothing else
/// references them).
pub(super) async fn delete(ctx: &Ctx, name: RepoName, digest: &str) -> Result<Response, ApiError> {
    let digest: Digest = digest.parse()?;
    let (storage, d) = (ctx.storage().clone(), digest.clone());
    if !blocking(move || storage.unlink_blob(&name, &d)).await? {
        return Err(ApiError::BlobUnknown(digest));
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
    response.headers_mut().insert(DOCKER_CONTENT_DIGEST, value(&digest.to_string()));
    Ok(response)
}
