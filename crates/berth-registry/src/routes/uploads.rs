//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (session, monolithic, or mount), then
//! `PATCH`, `PUT ?digest=`, `GET` (status) and `DELETE` on the session's URL.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use super::{blob_location, upload_headers, upload_location, value, Ctx, DOCKER_CONTENT_DIGEST};
use crate::digest::Digest;
use crate::errors::ApiError;
use crate::names::RepoName;
use crate::range::parse_content_range;
use crate::sessions::{Session, SessionGuard};
use crate::task::blocking;

/// Starts an upload: a cross-repository mount (201), a single-request monolithic upload
/// (`?digest=`, 201), or an empty session to PATCH/PUT into (202).
pub(super) async fn start(ctx: &Ctx, name: RepoName, body: Body) -> Result<Response, ApiError> {
    if let Some(alg) = ctx.param("digest-algorithm") {
        if alg != "sha256" {
            return Err(ApiError::DigestInvalid(format!("unsupported digest algorithm {alg:?}")));
        }
    }
    if let Some(mount) = ctx.param("mount") {
        let digest: Digest = mount.parse()?;
        if let Some(from) = ctx.param("from") {
            let from = RepoName::parse(from)?;
            if try_mount(ctx, &name, &from, &digest).await? {
                return Ok(created(&name, &digest));
            }
        }
    }
    let expected = ctx.param("digest").map(str::parse::<Digest>).transpose()?;
    let sessions = &ctx.registry.sessions;
    let mut guard = sessions.create(ctx.storage(), &name).await?;
    let Some(expected) = expected else {
        return Ok(accepted(&name, guard.live()?, StatusCode::ACCEPTED));
    };
    let result = upload_all(ctx, guard.live()?, body, &expected).await;
    if result.is_err() {
        let _ = guard.live()?.cancel(ctx.storage()).await;
    }
    sessions.end(guard);
    result.map(|()| created(&name, &expected))
}

async fn try_mount(ctx: &Ctx, name: &RepoName, from: &RepoName, digest: &Digest) -> Result<bool, ApiError> {
    let (storage, name, from, d) = (ctx.storage().clone(), name.clone(), from.clone(), digest.clone());
    blocking(move || {
        if !storage.blob_visible(&from, &d) || storage.blob_size(&d)?.is_none() {
            return Ok(false);
        }
        storage.link_blob(&name, &d)?;
        Ok(true)
    })
    .await
}

async fn upload_all(ctx: &Ctx, session: &mut Session, body: Body, expected: &Digest) -> Result<(), ApiError> {
    session.append(ctx.storage(), body).await?;
    session.commit(ctx.storage(), expected).await
}

/// `GET` on a session: where it stands, so a client can resume.
pub(super) async fn status(ctx: &Ctx, name: RepoName, id: &str) -> Result<Response, ApiError> {
    let mut guard = ctx.registry.sessions.open(ctx.storage(), &name, id).await?;
    Ok(accepted(&name, guard.live()?, StatusCode::NO_CONTENT))
}

/// `PATCH`: appends a chunk (with `Content-Range`, which must start at the current offset)
/// or a stream of unknown length (without).
pub(super) async fn patch(ctx: &Ctx, name: RepoName, id: &str, body: Body) -> Result<Response, ApiError> {
    let mut guard = ctx.registry.sessions.open(ctx.storage(), &name, id).await?;
    append_chunk(ctx, &name, guard.live()?, body).await?;
    Ok(accepted(&name, guard.live()?, StatusCode::ACCEPTED))
}

/// `PUT ?digest=`: appends an optional last chunk, verifies the digest of the whole upload
/// and only then makes the blob visible.
pub(super) async fn finish(ctx: &Ctx, name: RepoName, id: &str, body: Body) -> Result<Response, ApiError> {
    let digest = ctx.param("digest").ok_or_else(|| ApiError::DigestInvalid("missing digest parameter".into()))?;
    let digest: Digest = digest.parse()?;
    let sessions = &ctx.registry.sessions;
    let mut guard = sessions.open(ctx.storage(), &name, id).await?;
    append_chunk(ctx, &name, guard.live()?, body).await?;
    match guard.live()?.commit(ctx.storage(), &digest).await {
        Ok(()) => {
            sessions.end(guard);
            Ok(created(&name, &digest))
        }
        Err(e @ ApiError::DigestMismatch { .. }) => {
            sessions.end(guard);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// `DELETE`: abandons the upload and frees its data.
pub(super) async fn cancel(ctx: &Ctx, name: RepoName, id: &str) -> Result<Response, ApiError> {
    let sessions = &ctx.registry.sessions;
    let mut guard: SessionGuard = sessions.open(ctx.storage(), &name, id).await?;
    guard.live()?.cancel(ctx.storage()).await?;
    sessions.end(guard);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// Appends a request body, enforcing `Content-Range` order and length when it is given.
async fn append_chunk(ctx: &Ctx, name: &RepoName, session: &mut Session, body: Body) -> Result<(), ApiError> {
    let range = match ctx.header(header::CONTENT_RANGE) {
        Some(h) => Some(parse_content_range(h).ok_or_else(|| ApiError::BlobUploadInvalid(format!("bad Content-Range {h:?}")))?),
        None => None,
    };
    if let Some((start, _)) = range {
        if start != session.offset {
            let location = upload_location(name, &session.id);
            return Err(ApiError::UploadOutOfOrder { location, id: session.id.to_string(), offset: session.offset });
        }
    }
    let checkpoint = session.checkpoint();
    let written = session.append(ctx.storage(), body).await?;
    if let Some((start, end)) = range {
        let claimed = end - start + 1;
        if written != claimed {
            session.rollback(ctx.storage(), checkpoint).await?;
            return Err(ApiError::SizeInvalid(format!("Content-Range claims {claimed} bytes, body had {written}")));
        }
    }
    Ok(())
}

fn accepted(name: &RepoName, session: &Session, status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let location = upload_location(name, &session.id);
    let h = response.headers_mut();
    upload_headers(h, &location, session.id.as_str(), session.offset);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
    response
}

fn created(name: &RepoName, digest: &Digest) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::CREATED;
    let h = response.headers_mut();
    h.insert(header::LOCATION, value(&blob_location(name, digest)));
    h.insert(DOCKER_CONTENT_DIGEST, value(&digest.to_string()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
    response
}
