//! `/networks/...` handlers: parse, call the engine (host work off the async workers), render.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::filters::Filters;
use berth_api::types::{NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest};

use super::containers::parse_json;
use super::query::Query;
use super::response::{json, ok, ApiResult};
use super::AppState;
use crate::engine::Engine;
use crate::error::EngineError;

fn filters(raw: Option<&str>) -> Result<Filters, EngineError> {
    let q = Query::parse(raw);
    Filters::parse(&q.str("filters")).map_err(|e| EngineError::Invalid(e.to_string()))
}

/// `GET /networks`.
async fn list(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let f = filters(raw.as_deref())?;
    Ok(ok(&engine.list_networks(&f)?))
}

/// `POST /networks/create`.
async fn create(State(engine): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: NetworkCreateRequest = parse_json(&body)?;
    let e = engine.clone();
    let created = Engine::blocking(move || e.create_network(req)).await?;
    Ok(json(StatusCode::CREATED, &created))
}

/// `GET /networks/{id}`.
async fn inspect(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok(&engine.inspect_network(&id)?))
}

/// `DELETE /networks/{id}`.
async fn remove(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let e = engine.clone();
    Engine::blocking(move || e.remove_network(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /networks/{id}/connect`.
async fn connect(State(engine): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let req: NetworkConnectRequest = parse_json(&body)?;
    engine.connect_network(&id, req).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /networks/{id}/disconnect`.
async fn disconnect(State(engine): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let req: NetworkDisconnectRequest = parse_json(&body)?;
    engine.disconnect_network(&id, req).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /networks/prune`.
async fn prune(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let f = filters(raw.as_deref())?;
    let e = engine.clone();
    Ok(ok(&Engine::blocking(move || e.prune_networks(&f)).await?))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}
