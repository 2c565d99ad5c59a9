//! `POST /build`: the classic builder. (Build issue.)

use axum::routing::post;
use axum::Router;

use super::response::ApiError;
use super::AppState;
use crate::error::EngineError;

async fn not_yet() -> ApiError {
    ApiError(EngineError::NotImplemented("building images is not supported yet".into()))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/build", post(not_yet)).route("/build/prune", post(not_yet))
}
