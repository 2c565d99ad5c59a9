//! `docker cp` (`HEAD|GET|PUT /containers/{id}/archive`) and `docker diff`
//! (`GET /containers/{id}/changes`). (Engine operations issue.)

use axum::routing::get;
use axum::Router;

use super::response::ApiError;
use super::AppState;
use crate::error::EngineError;

async fn not_yet() -> ApiError {
    ApiError(EngineError::NotImplemented("docker cp is not supported yet".into()))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/archive", get(not_yet).head(not_yet).put(not_yet))
        .route("/containers/{id}/changes", get(not_yet))
}
