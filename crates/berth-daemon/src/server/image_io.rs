//! Images in and out as archives: save, load, commit, export, changes.

use axum::routing::{get, post};
use axum::Router;

use super::response::ApiError;
use super::AppState;
use crate::error::EngineError;

async fn not_yet() -> ApiError {
    ApiError(EngineError::NotImplemented("not supported yet".into()))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/get", get(not_yet))
        .route("/images/load", post(not_yet))
        .route("/commit", post(not_yet))
        .route("/containers/{id}/export", get(not_yet))
}
