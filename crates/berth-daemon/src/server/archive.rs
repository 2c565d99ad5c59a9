//! `docker cp` (`HEAD|GET|PUT /containers/{id}/archive`) and `docker diff`
//! (`GET /containers/{id}/changes`).

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;

use super::query::Query;
use super::response::{ok, ApiResult};
use super::system::stream_response;
use super::AppState;
use crate::engine::archive::PathStat;
use crate::engine::archive_io::PutOptions;

/// The header `docker cp` reads the path's stat from.
const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn with_stat(mut r: Response, stat: &PathStat) -> Response {
    let json = serde_json::to_vec(stat).unwrap_or_default();
    let value = base64::engine::general_purpose::STANDARD.encode(json);
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(STAT_HEADER, v);
    }
    r
}

fn path_of(q: &Query) -> String {
    q.str("path")
}

/// `HEAD /containers/{id}/archive?path=`.
pub async fn head(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let stat = engine.archive_stat(&id, &path_of(&q)).await?;
    Ok(with_stat(StatusCode::OK.into_response(), &stat))
}

/// `GET /containers/{id}/archive?path=`: a tar of the path.
pub async fn get_archive(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let (stat, rx) = engine.archive_get(&id, &path_of(&q)).await?;
    Ok(with_stat(stream_response(rx, "application/x-tar"), &stat))
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`: extracts the tar body.
pub async fn put(State(engine): State<AppState>, Path(id): Path<String>, req: Request) -> ApiResult<Response> {
    let q = Query::parse(req.uri().query());
    let opts = PutOptions { no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir"), copy_uid_gid: q.bool("copyUIDGID") };
    // A broken upload fails the extraction instead of passing for the end of the tar.
    let body = super::body::body_reader(req.into_body());
    engine.archive_put(&id, &path_of(&q), body, opts).await?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(r)
}

/// `GET /containers/{id}/changes`.
pub async fn changes(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok(&engine.container_changes(&id).await?))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/containers/{id}/archive", get(get_archive).head(head).put(put)).route("/containers/{id}/changes", get(changes))
}
