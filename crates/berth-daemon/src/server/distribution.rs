//! Registries: pull (`POST /images/create?fromImage=`), push (`POST /images/{name}/push`),
//! `POST /auth`, `GET /images/search`, `GET /distribution/{name}/json`. Pull and push are
//! reached through `images.rs`, whose routes own `/images/...`.
//!
//! Pull and push answer with Docker's JSON message stream: errors found before the first
//! message (a pull's manifest fetch) are plain HTTP errors, later ones go in the stream.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::filters::Filters;
use berth_api::types::JsonMessage;
use berth_image::{Digest, Reference};
use bytes::Bytes;

use super::images::message_line;
use super::query::Query;
use super::response::{ok, ApiError, ApiResult};
use super::AppState;
use crate::engine::distribution::credentials::AuthConfig;
use crate::engine::distribution::login::LoginError;
use crate::engine::distribution::platform::Platform;
use crate::engine::distribution::policy::valid_host;
use crate::engine::distribution::progress::Progress;
use crate::engine::distribution::pull::PullSpec;
use crate::engine::distribution::push::PushSpec;
use crate::error::EngineError;

fn registry_auth(headers: &HeaderMap) -> AuthConfig {
    AuthConfig::from_header(headers.get("X-Registry-Auth").and_then(|v| v.to_str().ok()))
}

fn bad_reference(e: impl std::fmt::Display) -> EngineError {
    EngineError::Invalid(e.to_string())
}

/// Parses a repository reference, refusing registry hosts that are not host names.
fn parse_reference(name: &str) -> Result<Reference, EngineError> {
    let r = Reference::parse(name).map_err(bad_reference)?;
    if !valid_host(&r.domain) {
        return Err(EngineError::Invalid(format!("invalid reference format: {name:?}")));
    }
    Ok(r)
}

/// The reference of a pull: `fromImage` with `tag` (a tag or a digest) applied.
pub fn pull_reference(from_image: &str, tag: &str) -> Result<Reference, EngineError> {
    let mut r = parse_reference(from_image)?;
    if tag.is_empty() {
        return Ok(r);
    }
    if tag.contains(':') {
        Digest::parse(tag).map_err(bad_reference)?;
        r.tag = None;
        r.digest = Some(tag.to_string());
        return Ok(r);
    }
    let tagged = Reference::parse(&format!("{}:{tag}", r.repository())).map_err(bad_reference)?;
    r.tag = tagged.tag;
    r.digest = None;
    Ok(r)
}

/// A chunked JSON message stream fed by a pull or push.
fn message_stream(rx: tokio::sync::mpsc::UnboundedReceiver<JsonMessage>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (Ok::<Bytes, std::io::Error>(message_line(&m)), rx)) });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `POST /images/create?fromImage=&tag=&platform=`.
pub async fn pull(engine: AppState, q: &Query, headers: &HeaderMap) -> ApiResult<Response> {
    let reference = pull_reference(&q.str("fromImage"), &q.str("tag"))?;
    let platform = match q.str("platform") {
        p if p.is_empty() => None,
        p => Some(Platform::parse(&p)?),
    };
    let spec = PullSpec { reference, platform, auth: registry_auth(headers) };
    let prepared = engine.prepare_pull(spec).await?;
    let (progress, rx) = Progress::channel();
    tokio::spawn(async move {
        if let Err(e) = prepared.run(engine, &progress).await {
            tracing::info!(error = %e, "pull failed");
            progress.error(&e.to_string());
        }
    });
    Ok(message_stream(rx))
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(engine: AppState, name: &str, q: &Query, headers: &HeaderMap) -> ApiResult<Response> {
    let mut reference = parse_reference(name)?;
    if reference.digest.is_some() {
        return Err(EngineError::Invalid("cannot push a digest reference".into()).into());
    }
    let tag = q.str("tag");
    if !tag.is_empty() {
        reference = pull_reference(&reference.repository(), &tag)?;
        if reference.digest.is_some() {
            return Err(EngineError::Invalid("cannot push a digest reference".into()).into());
        }
    }
    let spec = PushSpec { reference, auth: registry_auth(headers) };
    let (progress, rx) = Progress::channel();
    tokio::spawn(async move {
        if let Err(e) = engine.push(spec, &progress).await {
            tracing::info!(error = %e, "push failed");
            progress.error(&e.to_string());
        }
    });
    Ok(message_stream(rx))
}

/// `POST /auth`: 200 `{"Status":"Login Succeeded","IdentityToken":…}` or 401.
async fn auth(State(engine): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let auth = AuthConfig::from_json(&body).ok_or_else(|| EngineError::Invalid("malformed login request: expected a JSON auth config".into()))?;
    match engine.login(auth).await {
        Ok(identity) => Ok(ok(&serde_json::json!({"Status": "Login Succeeded", "IdentityToken": identity}))),
        Err(LoginError::Unauthorized(m)) => {
            let body = serde_json::json!({ "message": m }).to_string();
            Ok((StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        Err(LoginError::Engine(e)) => Err(e.into()),
    }
}

/// `GET /images/search?term=&limit=&filters=`.
async fn search(State(engine): State<AppState>, RawQuery(raw): RawQuery, headers: HeaderMap) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let filters = Filters::parse(&q.str("filters")).map_err(|e| EngineError::Invalid(e.to_string()))?;
    let results = engine.search_images(&q.str("term"), q.int("limit")?, &filters, registry_auth(&headers)).await?;
    Ok(ok(&results))
}

/// `GET /distribution/{name}/json`.
async fn distribution_json(State(engine): State<AppState>, Path(rest): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let rest = percent_encoding::percent_decode_str(&rest).decode_utf8_lossy().into_owned();
    let Some(name) = rest.strip_suffix("/json").filter(|n| !n.is_empty()) else {
        return Err(ApiError(EngineError::NotFound("page not found".into())));
    };
    Ok(ok(&engine.distribution_inspect(name, registry_auth(&headers)).await?))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/auth", post(auth)).route("/images/search", get(search)).route("/distribution/{*rest}", get(distribution_json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_references() {
        let r = pull_reference("127.0.0.1:5000/team/app", "v1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:v1");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = pull_reference("alpine", &d).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.to_string(), format!("docker.io/library/alpine@{d}"));
        assert_eq!(pull_reference("busybox", "").map(|r| r.tag).ok(), Some(None));
        assert_eq!(pull_reference("busybox:1.36", "").map(|r| r.to_string()).ok().as_deref(), Some("docker.io/library/busybox:1.36"));
        assert!(valid_host("127.0.0.1:5000") && valid_host("localhost") && valid_host("docker.io"));
        assert!(!valid_host("..") && !valid_host("a..b") && !valid_host("-a.b") && !valid_host("a:") && !valid_host("a:x"));
        for (img, tag) in [("../x", "latest"), ("../../etc/x", "v1"), (".a/x", "v1"), ("a/../b", "v1"), ("a", "sha256:zz"), ("a", "bad tag"), ("UPPER", "")] {
            assert_eq!(pull_reference(img, tag).map_err(|e| e.status()).err(), Some(400), "{img} {tag}");
        }
    }
}
