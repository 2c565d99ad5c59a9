//! `GET /containers/{id}/stats`: one sample (`stream=0`, optionally `one-shot=1`) or a stream
//! of newline-separated samples, one a second (the default, as in Docker).

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::query::Query;
use super::response::{ok, ApiResult};
use super::system::stream_response;
use super::AppState;

/// `GET /containers/{id}/stats`.
pub async fn stats(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let stream = q.get("stream").is_none() || q.bool("stream");
    if stream {
        return Ok(stream_response(engine.stats_stream(&id)?, "application/json"));
    }
    Ok(ok(&engine.stats_once(&id, q.bool("one-shot")).await?))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/containers/{id}/stats", get(stats))
}
