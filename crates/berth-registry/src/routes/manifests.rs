//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<tag-or-digest>`.
//!
//! Manifests are stored as the exact bytes pushed, digested as pushed; their type comes from
//! the push (Content-Type, else the body's `mediaType`) and is served back as Content-Type.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::{value, Ctx, DOCKER_CONTENT_DIGEST};
use crate::digest::Digest;
use crate::errors::ApiError;
use crate::manifest::{self, Manifest, MAX_MANIFEST_BYTES};
use crate::names::{Reference, RepoName, Tag};
use crate::storage::{Storage, StorageResult};
use crate::task::blocking;

const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
const OCI_TAG: HeaderName = HeaderName::from_static("oci-tag");

/// What a manifest lookup found.
enum Found {
    NoRepo,
    NoManifest,
    Manifest { digest: Digest, media_type: String, bytes: Vec<u8> },
}

fn lookup(storage: &Storage, name: &RepoName, reference: &Reference) -> StorageResult<Found> {
    if !storage.repo_exists(name) {
        return Ok(Found::NoRepo);
    }
    let digest = match reference {
        Reference::Digest(d) => d.clone(),
        Reference::Tag(t) => match storage.get_tag(name, t)? {
            Some(d) => d,
            None => return Ok(Found::NoManifest),
        },
    };
    let Some(media_type) = storage.revision_media_type(name, &digest)? else {
        return Ok(Found::NoManifest);
    };
    match storage.read_blob(&digest, MAX_MANIFEST_BYTES as u64)? {
        Some(bytes) => Ok(Found::Manifest { digest, media_type, bytes }),
        None => Ok(Found::NoManifest),
    }
}

/// Serves a manifest by tag or digest, with the media type it was pushed as.
pub(super) async fn get(ctx: &Ctx, name: RepoName, reference: &str, head: bool) -> Result<Response, ApiError> {
    let parsed = Reference::parse(reference)?;
    let (storage, n) = (ctx.storage().clone(), name.clone());
    let found = blocking(move || lookup(&storage, &n, &parsed)).await?;
    let (digest, media_type, bytes) = match found {
        Found::NoRepo => return Err(ApiError::NameUnknown(name.to_string())),
        Found::NoManifest => return Err(ApiError::ManifestUnknown(reference.to_owned())),
        Found::Manifest { digest, media_type, bytes } => (digest, media_type, bytes),
    };
    let len = bytes.len() as u64;
    let mut response = Response::new(if head { Body::empty() } else { Body::from(bytes) });
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, value(&media_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ETAG, value(&format!("\"{digest}\"")));
    h.insert(DOCKER_CONTENT_DIGEST, value(&digest.to_string()));
    Ok(response)
}

/// Reads a request body of at most `limit` bytes.
async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|e| ApiError::Body(e.to_string()))?;
        if buf.len() + frame.len() > limit {
            return Err(ApiError::ManifestTooLarge(limit));
        }
        buf.extend_from_slice(&frame);
    }
    Ok(buf.freeze())
}

/// Stores a manifest after checking it parses, that its digest matches a by-digest push, and
/// that every blob (or child manifest) it references is held by the registry.
pub(super) async fn put(ctx: &Ctx, name: RepoName, reference: &str, body: Body) -> Result<Response, ApiError> {
    let reference = Reference::parse(reference)?;
    let declared = ctx.header(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_MANIFEST_BYTES as u64) {
        return Err(ApiError::ManifestTooLarge(MAX_MANIFEST_BYTES));
    }
    let bytes = read_limited(body, MAX_MANIFEST_BYTES).await?;
    let parsed = manifest::parse(&bytes, ctx.header(header::CONTENT_TYPE)).map_err(|e| ApiError::ManifestInvalid(e.to_string()))?;
    let digest = Digest::of_bytes(&bytes);
    if let Reference::Digest(claimed) = &reference {
        if claimed != &digest {
            return Err(ApiError::DigestMismatch { expected: claimed.to_string(), computed: digest });
        }
    }
    let mut tags: Vec<Tag> = ctx.params("tag").map(Tag::parse).collect::<Result<_, _>>()?;
    if let Reference::Tag(t) = reference {
        tags.insert(0, t);
    }
    let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
    let (storage, n, t, d) = (ctx.storage().clone(), name.clone(), tags.clone(), digest.clone());
    let missing = blocking(move || store(&storage, &n, &parsed, &bytes, &d, &t)).await?;
    if let Some(missing) = missing {
        return Err(ApiError::ManifestBlobUnknown(missing));
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::CREATED;
    let h = response.headers_mut();
    h.insert(header::LOCATION, value(&format!("/v2/{name}/manifests/{digest}")));
    h.insert(DOCKER_CONTENT_DIGEST, value(&digest.to_string()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
    if let Some(subject) = subject {
        h.insert(OCI_SUBJECT, value(&subject.to_string()));
    }
    for tag in &tags {
        h.append(OCI_TAG, value(tag.as_str()));
    }
    Ok(response)
}

/// Checks references, then writes blob, revision, referrer entry and tags in that order, so a
/// crash part-way leaves at worst an untagged revision or an orphan blob for `gc`.
/// Returns the first missing reference instead of storing anything.
fn store(storage: &Storage, name: &RepoName, parsed: &Manifest, bytes: &[u8], digest: &Digest, tags: &[Tag]) -> StorageResult<Option<Digest>> {
    for blob in parsed.required_blobs() {
        if !storage.blob_visible(name, &blob.digest) && storage.blob_size(&blob.digest)?.is_none() {
            return Ok(Some(blob.digest.clone()));
        }
    }
    for child in &parsed.manifests {
        let held = storage.revision_media_type(name, &child.digest)?.is_some() || storage.blob_size(&child.digest)?.is_some();
        if !held {
            return Ok(Some(child.digest.clone()));
        }
    }
    for blob in parsed.required_blobs() {
        storage.link_blob(name, &blob.digest)?;
    }
    storage.put_blob_bytes(bytes)?;
    storage.put_revision(name, digest, parsed.kind.media_type())?;
    if let Some(subject) = &parsed.subject {
        let descriptor = parsed.referrer_descriptor(digest, bytes.len() as u64).to_string();
        storage.put_referrer(name, &subject.digest, digest, descriptor.as_bytes())?;
    }
    for tag in tags {
        storage.put_tag(name, tag, digest)?;
    }
    Ok(None)
}

/// Deletes a tag, or a manifest by digest together with every tag pointing at it and its
/// referrers entry.
pub(super) async fn delete(ctx: &Ctx, name: RepoName, reference: &str) -> Result<Response, ApiError> {
    let parsed = Reference::parse(reference)?;
    let (storage, n) = (ctx.storage().clone(), name.clone());
    let deleted = blocking(move || match &parsed {
        Reference::Tag(t) => storage.delete_tag(&n, t),
        Reference::Digest(d) => delete_manifest(&storage, &n, d),
    })
    .await?;
    if !deleted {
        if !ctx.storage().repo_exists(&name) {
            return Err(ApiError::NameUnknown(name.to_string()));
        }
        return Err(ApiError::ManifestUnknown(reference.to_owned()));
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
    Ok(response)
}

fn delete_manifest(storage: &Storage, name: &RepoName, digest: &Digest) -> StorageResult<bool> {
    let Some(media_type) = storage.revision_media_type(name, digest)? else {
        return Ok(false);
    };
    for tag in storage.tags_pointing_to(name, digest)? {
        storage.delete_tag(name, &tag)?;
    }
    if let Some(bytes) = storage.read_blob(digest, MAX_MANIFEST_BYTES as u64)? {
        if let Ok(Manifest { subject: Some(subject), .. }) = manifest::parse(&bytes, Some(&media_type)) {
            storage.delete_referrer(name, &subject.digest, digest)?;
        }
    }
    storage.delete_revision(name, digest)
}
