//! `/volumes` handlers.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api::filters::Filters;
use berth_api::types::{VolumeCreateRequest, VolumeList, VolumePruneResponse};

use super::containers::parse_json;
use super::query::Query;
use super::response::{json, ok, ApiResult};
use super::AppState;
use axum::routing::{get, post};
use axum::Router;

use crate::error::EngineError;

/// `GET /volumes`.
pub async fn list(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let f = Filters::parse(&q.str("filters")).map_err(|e| EngineError::Invalid(e.to_string()))?;
    f.only(&["name", "label", "dangling", "driver"]).map_err(|e| EngineError::Invalid(e.to_string()))?;
    let mut volumes = Vec::new();
    for r in engine.volumes.list()? {
        if f.has("name") && !f.get("name").iter().any(|n| r.name.contains(n.as_str())) {
            continue;
        }
        if !f.labels_match(&r.labels) {
            continue;
        }
        if let Some(d) = f.get("dangling").first() {
            if (d == "true" || d == "1") == engine.volume_in_use(&r.name) {
                continue;
            }
        }
        volumes.push(engine.volumes.to_api(&r));
    }
    Ok(ok(&VolumeList { volumes, warnings: Vec::new() }))
}

/// `POST /volumes/create`.
pub async fn create(State(engine): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: VolumeCreateRequest = parse_json(&body)?;
    let v = engine.volumes.create(&req, false)?;
    engine.events.publish("volume", "create", &v.name, Default::default());
    Ok(json(StatusCode::CREATED, &v))
}

/// `GET /volumes/{name}`.
pub async fn inspect(State(engine): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(ok(&engine.volumes.get(&name)?))
}

/// `DELETE /volumes/{name}`.
pub async fn remove(State(engine): State<AppState>, Path(name): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let _force = Query::parse(raw.as_deref()).bool("force");
    engine.volumes.get(&name)?;
    if engine.volume_in_use(&name) {
        let users: Vec<String> =
            engine.containers.all().iter().map(|h| h.snapshot()).filter(|r| r.mounts.iter().any(|m| m.name == name)).map(|r| r.id).collect();
        return Err(EngineError::Conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))).into());
    }
    engine.volumes.remove(&name)?;
    engine.events.publish("volume", "destroy", &name, Default::default());
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /volumes/prune`: unused anonymous volumes (all unused with `all=true`).
pub async fn prune(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let f = Filters::parse(&q.str("filters")).map_err(|e| EngineError::Invalid(e.to_string()))?;
    let all = f.get("all").first().is_some_and(|v| v == "true" || v == "1");
    let mut out = VolumePruneResponse::default();
    for r in engine.volumes.list()? {
        if engine.volume_in_use(&r.name) || (!all && !r.anonymous) || !f.labels_match(&r.labels) {
            continue;
        }
        let size = crate::engine::lifecycle::dir_size(&engine.volumes.data_path(&r.name));
        if engine.volumes.remove(&r.name).is_ok() {
            out.volumes_deleted.push(r.name);
            out.space_reclaimed += size;
        }
    }
    Ok(ok(&out))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}
