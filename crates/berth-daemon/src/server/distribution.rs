//! Registries: pull (`POST /images/create?fromImage=`), push (`POST /images/{name}/push`),
//! `POST /auth`. (Distribution issue.) Pull and push are reached through `images.rs`, whose
//! routes own `/images/...`.

use axum::response::Response;
use axum::routing::post;
use axum::Router;

use super::query::Query;
use super::response::{ApiError, ApiResult};
use super::AppState;
use crate::error::EngineError;

async fn auth() -> ApiError {
    ApiError(EngineError::NotImplemented("registry login is not supported yet".into()))
}

/// `POST /images/create?fromImage=&tag=`.
pub async fn pull(_engine: AppState, q: &Query, _headers: &axum::http::HeaderMap) -> ApiResult<Response> {
    let image = q.str("fromImage");
    Err(EngineError::NotFound(format!("pull access denied for {image}: pulling from registries is not supported by this daemon yet")).into())
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(_engine: AppState, _name: &str, _q: &Query, _headers: &axum::http::HeaderMap) -> ApiResult<Response> {
    Err(EngineError::NotImplemented("pushing to registries is not supported yet".into()).into())
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/auth", post(auth))
}
