//! HTTP routing: one catch-all under `/v2/` whose path is parsed from the right, because
//! repository names contain slashes.
//!
//! The raw (still percent-encoded) path is parsed, so `%2F` can never smuggle a slash into a
//! name; only the final segment (a tag, digest or upload id) is percent-decoded.

mod base;
mod blobs;
mod catalog;
mod manifests;
mod referrers;
mod tags;
mod uploads;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{middleware, Router};

use crate::errors::ApiError;
use crate::names::RepoName;
use crate::range::upload_range;
use crate::Registry;

/// `Docker-Content-Digest`, on every blob and manifest answer.
pub(crate) const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");

/// Builds the registry's HTTP router over shared state: the distribution API under `/v2/`,
/// behind the configured authentication, every answer carrying
/// `Docker-Distribution-API-Version: registry/2.0`.
pub fn router(state: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        .fallback(|| async { ApiError::RouteUnknown.into_response() })
        .layer(middleware::from_fn_with_state(state.clone(), crate::auth::middleware))
        // The token endpoint checks its own credentials (and answers 404 outside token mode).
        .route("/token", get(token))
        .layer(middleware::map_response(|mut r: Response| async move {
            r.headers_mut().insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
            r
        }))
        .with_state(state)
}

/// `GET /token`: the token endpoint of token mode.
async fn token(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    let query = Query::<Vec<(String, String)>>::try_from_uri(request.uri()).map(|q| q.0).unwrap_or_default();
    let Some(policy) = &registry.auth else {
        return ApiError::RouteUnknown.into_response();
    };
    match policy.issue_token(request.headers(), &query).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The access a request needs in token mode, as `(type, name, action)` triples, and the
/// scopes a challenge should name for it. The base endpoint needs only a valid token; a path
/// that names no endpoint needs one too (it then gets the route's own error).
pub(crate) fn required_access(method: &Method, path: &str, query: Option<&str>) -> (Vec<(String, String, &'static str)>, Vec<String>) {
    let read = *method == Method::GET || *method == Method::HEAD;
    let action = if read {
        "pull"
    } else if *method == Method::DELETE {
        "delete"
    } else {
        "push"
    };
    let name = match parse_route(path) {
        Ok(Route::Base) | Err(_) => return (Vec::new(), Vec::new()),
        Ok(Route::Catalog) => {
            return (vec![("registry".into(), "catalog".into(), "*")], vec!["registry:catalog:*".into()]);
        }
        Ok(Route::Tags(n) | Route::Manifest(n, _) | Route::Blob(n, _) | Route::UploadStart(n) | Route::Upload(n, _) | Route::Referrers(n, _)) => {
            n.as_str().to_owned()
        }
    };
    let actions = if read {
        "pull"
    } else if action == "delete" {
        "delete"
    } else {
        "pull,push"
    };
    let mut needs = vec![("repository".to_owned(), name.clone(), action)];
    let mut scopes = vec![format!("repository:{name}:{actions}")];
    // A cross-repository mount reads the source repository.
    let from = Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{}", query.unwrap_or_default()).parse().unwrap_or_default())
        .map(|q| q.0)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "from")
        .and_then(|(_, v)| RepoName::parse(&v).ok());
    if let (Some(from), false) = (from, read) {
        needs.push(("repository".into(), from.as_str().to_owned(), "pull"));
        scopes.push(format!("repository:{}:pull", from.as_str()));
    }
    (needs, scopes)
}

/// What a `/v2/...` path addresses.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Base,
    Catalog,
    Tags(RepoName),
    Manifest(RepoName, String),
    Blob(RepoName, String),
    UploadStart(RepoName),
    Upload(RepoName, String),
    Referrers(RepoName, String),
}

fn parse_route(path: &str) -> Result<Route, ApiError> {
    let rest = path.strip_prefix("/v2").ok_or(ApiError::RouteUnknown)?;
    let rest = match rest {
        "" | "/" => return Ok(Route::Base),
        r => r.strip_prefix('/').ok_or(ApiError::RouteUnknown)?,
    };
    if rest == "_catalog" {
        return Ok(Route::Catalog);
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| RepoName::parse(&segs[..k].join("/")).map_err(ApiError::from);
    let last = || decode(segs[n - 1]);
    match segs.as_slice() {
        [.., "tags", "list"] if n >= 3 => Ok(Route::Tags(name(n - 2)?)),
        [.., "blobs", "uploads", ""] if n >= 4 => Ok(Route::UploadStart(name(n - 3)?)),
        [.., "blobs", "uploads", _] if n >= 4 => Ok(Route::Upload(name(n - 3)?, last()?)),
        [.., "blobs", "uploads"] if n >= 3 => Ok(Route::UploadStart(name(n - 2)?)),
        [.., "blobs", _] if n >= 3 => Ok(Route::Blob(name(n - 2)?, last()?)),
        [.., "manifests", _] if n >= 3 => Ok(Route::Manifest(name(n - 2)?, last()?)),
        [.., "referrers", _] if n >= 3 => Ok(Route::Referrers(name(n - 2)?, last()?)),
        _ => Err(ApiError::RouteUnknown),
    }
}

/// Percent-decodes a final path segment; a decoded `/` is refused.
fn decode(segment: &str) -> Result<String, ApiError> {
    let decoded = percent_encoding::percent_decode_str(segment).decode_utf8().map_err(|_| ApiError::RouteUnknown)?;
    if decoded.contains('/') {
        return Err(ApiError::RouteUnknown);
    }
    Ok(decoded.into_owned())
}

/// A parsed request, handed to the handler of its route.
pub(crate) struct Ctx {
    registry: Arc<Registry>,
    method: Method,
    headers: HeaderMap,
    query: Vec<(String, String)>,
}

impl Ctx {
    /// The first value of a query parameter.
    fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated query parameter.
    fn params<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn storage(&self) -> &crate::storage::Storage {
        &self.registry.storage
    }
}

async fn dispatch(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    let ctx = Ctx { registry, method: parts.method, headers: parts.headers, query };
    let result = match parse_route(parts.uri.path()) {
        Ok(route) => handle(&ctx, route, body).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn handle(ctx: &Ctx, route: Route, body: Body) -> Result<Response, ApiError> {
    let head = ctx.method == Method::HEAD;
    match (route, ctx.method.clone()) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(base::get()),
        (Route::Catalog, Method::GET) => catalog::list(ctx).await,
        (Route::Tags(name), Method::GET) => tags::list(ctx, name).await,
        (Route::Manifest(name, r), Method::GET | Method::HEAD) => manifests::get(ctx, name, &r, head).await,
        (Route::Manifest(name, r), Method::PUT) => manifests::put(ctx, name, &r, body).await,
        (Route::Manifest(name, r), Method::DELETE) => manifests::delete(ctx, name, &r).await,
        (Route::Blob(name, d), Method::GET | Method::HEAD) => blobs::get(ctx, name, &d, head).await,
        (Route::Blob(name, d), Method::DELETE) => blobs::delete(ctx, name, &d).await,
        (Route::UploadStart(name), Method::POST) => uploads::start(ctx, name, body).await,
        (Route::Upload(name, id), Method::GET) => uploads::status(ctx, name, &id).await,
        (Route::Upload(name, id), Method::PATCH) => uploads::patch(ctx, name, &id, body).await,
        (Route::Upload(name, id), Method::PUT) => uploads::finish(ctx, name, &id, body).await,
        (Route::Upload(name, id), Method::DELETE) => uploads::cancel(ctx, name, &id).await,
        (Route::Referrers(name, d), Method::GET) => referrers::list(ctx, name, &d).await,
        (_, method) => Err(ApiError::Unsupported(format!("method {method} on this endpoint"))),
    }
}

/// A header value from text we produced (names, digests, numbers); never fails on input.
pub(crate) fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Location`, `Range` and `Docker-Upload-UUID` of an upload in progress.
pub(crate) fn upload_headers(headers: &mut HeaderMap, location: &str, id: &str, offset: u64) {
    headers.insert(header::LOCATION, value(location));
    headers.insert(header::RANGE, value(&upload_range(offset)));
    headers.insert(UPLOAD_UUID, value(id));
}

fn blob_location(name: &RepoName, digest: &impl std::fmt::Display) -> String {
    format!("/v2/{name}/blobs/{digest}")
}

fn upload_location(name: &RepoName, id: &impl std::fmt::Display) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// The `Link` header of a paginated list whose next page starts after `last`.
fn next_link(path: &str, n: usize, last: &str) -> HeaderValue {
    value(&format!("<{path}?n={n}&last={last}>; rel=\"next\""))
}

/// Applies `n`/`last` pagination to a sorted list; returns the page and whether more follow.
fn paginate(ctx: &Ctx, all: Vec<String>) -> Result<(Vec<String>, Option<usize>), ApiError> {
    let n = match ctx.param("n") {
        Some(s) => Some(s.parse::<usize>().map_err(|_| ApiError::PaginationInvalid(format!("n={s}")))?),
        None => None,
    };
    let mut items: Vec<String> = match ctx.param("last") {
        Some(last) => all.into_iter().filter(|t| t.as_str() > last).collect(),
        None => all,
    };
    match n {
        Some(n) if items.len() > n => {
            items.truncate(n);
            Ok((items, (n > 0).then_some(n)))
        }
        _ => Ok((items, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> RepoName {
        RepoName::parse(s).expect("name")
    }

    #[test]
    fn routes_parse_from_the_right() {
        assert_eq!(parse_route("/v2/").expect("ok"), Route::Base);
        assert_eq!(parse_route("/v2").expect("ok"), Route::Base);
        assert_eq!(parse_route("/v2/_catalog").expect("ok"), Route::Catalog);
        assert_eq!(parse_route("/v2/a/b/tags/list").expect("ok"), Route::Tags(name("a/b")));
        assert_eq!(parse_route("/v2/a/blobs/uploads/").expect("ok"), Route::UploadStart(name("a")));
        assert_eq!(parse_route("/v2/a/blobs/uploads").expect("ok"), Route::UploadStart(name("a")));
        assert_eq!(parse_route("/v2/a/blobs/uploads/x").expect("ok"), Route::Upload(name("a"), "x".into()));
        assert_eq!(parse_route("/v2/blobs/uploads/manifests/latest").expect("ok"), Route::Manifest(name("blobs/uploads"), "latest".into()));
        assert_eq!(parse_route("/v2/a/tags/list/blobs/d").expect("ok"), Route::Blob(name("a/tags/list"), "d".into()));
        assert_eq!(parse_route("/v2/a/manifests/sha256%3Aab").expect("ok"), Route::Manifest(name("a"), "sha256:ab".into()));
        assert_eq!(parse_route("/v2/a/referrers/x").expect("ok"), Route::Referrers(name("a"), "x".into()));
    }

    #[test]
    fn bad_names_are_name_invalid() {
        for p in ["/v2/a/../b/manifests/x", "/v2/a%2Fb/manifests/x", "/v2/A/manifests/x", "/v2//a/tags/list", "/v2/a//b/blobs/uploads/"] {
            assert!(matches!(parse_route(p), Err(ApiError::NameInvalid(_))), "{p}");
        }
        assert!(matches!(parse_route("/v2/a/manifests/x%2Fy"), Err(ApiError::RouteUnknown)));
        assert!(matches!(parse_route("/v2/a/nothing"), Err(ApiError::RouteUnknown)));
        assert!(matches!(parse_route("/v3/a"), Err(ApiError::RouteUnknown)));
    }
}
