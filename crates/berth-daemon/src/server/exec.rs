//! `/containers/{id}/exec` and `/exec/{id}/...` handlers.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api::types::{ExecCreateRequest, ExecStartRequest, IdResponse};
use berth_runtime::protocol::{FrameKind, Reply};
use http_body_util::BodyExt;

use super::containers::parse_json;
use super::hijack;
use super::query::Query;
use super::response::{json, ok, ApiResult};
use super::AppState;
use axum::routing::{get, post};
use axum::Router;

use crate::error::EngineError;

/// `POST /containers/{id}/exec`.
pub async fn create(State(engine): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let req: ExecCreateRequest = parse_json(&body)?;
    let exec_id = engine.create_exec(&id, req)?;
    Ok(json(StatusCode::CREATED, &IdResponse { id: exec_id }))
}

/// `GET /exec/{id}/json`.
pub async fn inspect(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok(&engine.inspect_exec(&id)?))
}

/// `POST /exec/{id}/resize`.
pub async fn resize(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let e = engine.execs.get(&id)?;
    let h = q.int("h")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let w = q.int("w")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let socket = berth_runtime::layout::ShimLayout::new(&engine.config.exec_root, &e.container_id).socket();
    let req = berth_runtime::protocol::Request::Resize { exec: Some(id.clone()), height: h, width: w };
    match berth_runtime::client::call(&socket, &req).await.map_err(EngineError::from)? {
        Reply::Ok => Ok(StatusCode::OK.into_response()),
        Reply::Error { message } => Err(EngineError::Conflict(message).into()),
        _ => Ok(StatusCode::OK.into_response()),
    }
}

/// `POST /exec/{id}/start`: a JSON body, then a hijack (or nothing with `Detach`). As in
/// Docker, a process that cannot be started is reported inside the hijacked stream (and by
/// the exec's exit code 126/127), since the client has already switched protocols.
pub async fn start(State(engine): State<AppState>, Path(id): Path<String>, mut req: Request) -> ApiResult<Response> {
    let upgrade = hijack::take_upgrade(&mut req);
    let body = req.into_body().collect().await.map_err(|e| EngineError::Invalid(e.to_string()))?.to_bytes();
    let start: ExecStartRequest = parse_json(&body)?;
    let exec = engine.execs.get(&id)?;
    engine.check_exec_startable(&exec)?;
    let tty = exec.config.tty || start.tty;
    let upgrade = match upgrade {
        Some(u) if !start.detach => u,
        _ => {
            let (exec, conn) = engine.start_exec(&id, Some(start.tty)).await?;
            follow_detached(engine.clone(), exec, conn);
            return Ok(StatusCode::OK.into_response());
        }
    };
    let eng = engine.clone();
    tokio::spawn(async move {
        match eng.start_exec(&id, Some(start.tty)).await {
            Ok((exec, conn)) => {
                let stdin = exec.config.attach_stdin;
                let keys = exec.config.detach_keys.clone();
                let (e2, eng2) = (exec.clone(), eng.clone());
                let on_exit = Box::new(move |code: i64| eng2.exec_exited(&e2, code));
                hijack::session(upgrade, conn.split(), tty, stdin, !tty, &keys, on_exit).await;
            }
            Err(e) => hijack::report_error(upgrade, tty, &e.to_string()).await,
        }
    });
    Ok(hijack::switching(tty))
}

/// Follows an exec nobody reads, to record its exit code.
fn follow_detached(engine: AppState, exec: std::sync::Arc<crate::engine::exec::ExecHandle>, conn: berth_runtime::client::ShimConn) {
    tokio::spawn(async move {
        let (mut reader, _writer) = conn.split();
        while let Ok(Some((kind, data))) = reader.next().await {
            if kind == FrameKind::Json {
                if let Ok(Reply::Exited(s)) = serde_json::from_slice::<Reply>(&data) {
                    engine.exec_exited(&exec, s.exit_code as i64);
                }
            }
        }
    });
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/resize", post(resize))
        .route("/exec/{id}/json", get(inspect))
}
