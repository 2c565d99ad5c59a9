//! `/networks/...`. (Networking issue.)

use axum::routing::{get, post};
use axum::Router;

use super::response::ApiError;
use super::AppState;
use crate::error::EngineError;

async fn not_yet() -> ApiError {
    ApiError(EngineError::NotImplemented("networks are not supported yet".into()))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(not_yet))
        .route("/networks/create", post(not_yet))
        .route("/networks/prune", post(not_yet))
        .route("/networks/{id}", get(not_yet).delete(not_yet))
        .route("/networks/{id}/connect", post(not_yet))
        .route("/networks/{id}/disconnect", post(not_yet))
}
