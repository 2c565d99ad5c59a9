//! `/images/...` handlers. Image names contain slashes, so everything under `/images/` that is
//! not a fixed route lands in one handler that splits the action off the end.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api::filters::Filters;
use berth_api::types::JsonMessage;
use bytes::Bytes;

use super::query::Query;
use super::response::{ok, ApiError, ApiResult};
use super::AppState;
use axum::routing::{get, post};
use axum::Router;

use crate::error::EngineError;

fn filters(q: &Query) -> Result<Filters, EngineError> {
    Filters::parse(&q.str("filters")).map_err(|e| EngineError::Invalid(e.to_string()))
}

/// One JSON-stream line.
pub fn message_line(m: &JsonMessage) -> Bytes {
    Bytes::from(format!("{}\r\n", serde_json::to_string(m).unwrap_or_default()))
}

/// `GET /images/json`.
pub async fn list(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    Ok(ok(&engine.list_images(q.bool("all"), &filters(&q)?)?))
}

/// `POST /images/create`: import (`fromSrc`) or pull (`fromImage`).
pub async fn create(State(engine): State<AppState>, RawQuery(raw): RawQuery, req: Request) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    if let Some(src) = q.get("fromSrc") {
        if src != "-" {
            return Err(EngineError::NotImplemented("importing from a URL is not supported; send the archive as the body".into()).into());
        }
        let changes = q.all("changes");
        let reader = super::body::body_reader(req.into_body());
        let id = engine.import_image(reader, &q.str("repo"), &q.str("tag"), changes, q.str("message")).await?;
        let body = message_line(&JsonMessage::status(id));
        return Ok((StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    if q.get("fromImage").is_some() {
        let headers = req.headers().clone();
        return super::distribution::pull(engine, &q, &headers).await;
    }
    Err(EngineError::Invalid("fromImage or fromSrc is required".into()).into())
}

/// `POST /images/prune`.
pub async fn prune(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    Ok(ok(&engine.prune_images(&filters(&q)?)?))
}

fn split_action<'a>(rest: &'a str, actions: &[&'static str]) -> Option<(&'a str, &'static str)> {
    for a in actions {
        if let Some(name) = rest.strip_suffix(&format!("/{a}")) {
            if !name.is_empty() {
                return Some((name, a));
            }
        }
    }
    None
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `GET /images/{name}/json|history|get`.
pub async fn get_by_name(State(engine): State<AppState>, Path(rest): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let rest = decode(&rest);
    let _q = Query::parse(raw.as_deref());
    match split_action(&rest, &["json", "history", "get"]) {
        Some((name, "json")) => Ok(ok(&engine.inspect_image(name)?)),
        Some((name, "history")) => Ok(ok(&engine.image_history(name)?)),
        Some((name, "get")) => super::image_io::save_names(engine, vec![name.to_string()]).await,
        _ => Err(ApiError(EngineError::NotFound("page not found".into()))),
    }
}

/// `POST /images/{name}/tag|push`.
pub async fn post_by_name(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let rest = decode(&rest);
    let q = Query::parse(raw.as_deref());
    match split_action(&rest, &["tag", "push"]) {
        Some((name, "tag")) => {
            engine.tag_image(name, &q.str("repo"), &q.str("tag"))?;
            Ok(StatusCode::CREATED.into_response())
        }
        Some((name, "push")) => super::distribution::push(engine, name, &q, &headers).await,
        _ => Err(ApiError(EngineError::NotFound("page not found".into()))),
    }
}

/// `DELETE /images/{name}`.
pub async fn delete_by_name(State(engine): State<AppState>, Path(rest): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let name = decode(&rest);
    let q = Query::parse(raw.as_deref());
    Ok(ok(&engine.remove_image(&name, q.bool("force"))?))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/prune", post(prune))
        .route("/images/{*rest}", get(get_by_name).post(post_by_name).delete(delete_by_name))
}
