//! The HTTP side: routing (with `/vX.Y` prefixes and names containing slashes), Docker's
//! headers and error bodies, and serving the unix socket.

mod containers;
mod exec;
mod hijack;
mod images;
mod query;
mod response;
mod system;
mod volumes;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use hyper::header::HeaderValue;
use tower::Layer;

use crate::engine::Engine;
use crate::error::EngineError;
pub use response::ApiError;

/// Shared state of every handler.
pub type AppState = Arc<Engine>;

/// Builds the router.
pub fn router(engine: AppState) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::df))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/{id}", delete(containers::remove))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/prune", post(images::prune))
        .route("/images/{*rest}", get(images::get_by_name).post(images::post_by_name).delete(images::delete_by_name))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route("/volumes/{name}", get(volumes::inspect).delete(volumes::remove))
        .route("/auth", post(system::auth))
        .fallback(|| async { ApiError(EngineError::NotFound("page not found".into())) })
        .with_state(engine)
}

/// Strips `/vX.Y` (refusing versions out of range) and adds Docker's headers.
async fn versioning(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some((ver, tail)) = rest.split_once('/') {
            if let Some((maj, min)) = ver.split_once('.') {
                if let (Ok(maj), Ok(min)) = (maj.parse::<u32>(), min.parse::<u32>()) {
                    if let Err(e) = check_version(maj, min) {
                        return with_headers(axum::response::IntoResponse::into_response(ApiError(e)));
                    }
                    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
                    if let Ok(uri) = format!("/{tail}{query}").parse() {
                        *req.uri_mut() = uri;
                    }
                }
            }
        }
    }
    with_headers(next.run(req).await)
}

fn check_version(maj: u32, min: u32) -> Result<(), EngineError> {
    let v = (maj, min);
    if v > (1, 51) {
        return Err(EngineError::Invalid(format!(
            "client version {maj}.{min} is too new. Maximum supported API version is {}",
            berth_api::API_VERSION
        )));
    }
    if v < (1, 24) {
        return Err(EngineError::Invalid(format!(
            "client version {maj}.{min} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            berth_api::MIN_API_VERSION
        )));
    }
    Ok(())
}

fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Server", HeaderValue::from_static(concat!("Docker/28.5.2 (linux) berth/", env!("CARGO_PKG_VERSION"))));
    h.insert("Api-Version", HeaderValue::from_static(berth_api::API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    resp
}

/// Serves the API on the configured unix socket until SIGINT/SIGTERM.
pub async fn serve(engine: AppState) -> Result<(), EngineError> {
    let socket = engine.config.socket.clone();
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::internal("create socket dir", e))?;
    }
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket).map_err(|e| EngineError::internal(&format!("bind {}", socket.display()), e))?;
    if let Some(pidfile) = &engine.config.pidfile {
        let _ = berth_runtime::status::write_atomic(pidfile, std::process::id().to_string().as_bytes());
    }
    let app = axum::middleware::from_fn(versioning).layer(router(engine.clone()));
    let shutdown = async {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    tracing::info!(socket = %socket.display(), "API listening");
    axum::serve(listener, axum::ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| EngineError::internal("serve", e))?;
    let _ = std::fs::remove_file(&socket);
    if let Some(pidfile) = &engine.config.pidfile {
        let _ = std::fs::remove_file(pidfile);
    }
    Ok(())
}
