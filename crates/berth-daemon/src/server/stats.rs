//! `GET /containers/{id}/stats`. (Engine operations issue.)

use axum::routing::get;
use axum::Router;

use super::response::ApiError;
use super::AppState;
use crate::error::EngineError;

async fn not_yet() -> ApiError {
    ApiError(EngineError::NotImplemented("container stats are not supported yet".into()))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/containers/{id}/stats", get(not_yet))
}
