//! The HTTP side: routing (with `/vX.Y` prefixes and names containing slashes), Docker's
//! headers and error bodies, and serving the unix socket.

mod archive;
mod body;
mod build;
mod containers;
mod distribution;
mod exec;
mod hijack;
mod image_io;
mod images;
mod metrics;
mod networks;
mod query;
mod response;
mod stats;
mod system;
mod volumes;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper::header::HeaderValue;
use tower::Layer;

use crate::engine::Engine;
use crate::error::EngineError;
pub use response::ApiError;

/// Shared state of every handler.
pub type AppState = Arc<Engine>;

/// Builds the router: each area of the API contributes its own routes.
pub fn router(engine: AppState) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(exec::routes())
        .merge(images::routes())
        .merge(image_io::routes())
        .merge(volumes::routes())
        .merge(archive::routes())
        .merge(stats::routes())
        .merge(networks::routes())
        .merge(build::routes())
        .merge(distribution::routes())
        .fallback(|| async { ApiError(EngineError::NotFound("page not found".into())) })
        .layer(axum::middleware::from_fn_with_state(engine.clone(), metrics::track))
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
        return Err(EngineError::Invalid(format!("client version {maj}.{min} is too new. Maximum supported API version is {}", berth_api::API_VERSION)));
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
    if let Some(addr) = engine.config.metrics_addr {
        metrics::spawn(engine.clone(), addr).await?;
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
