//! The Prometheus endpoint: `GET /metrics` on its own TCP listener (`--metrics-addr`), and the
//! middleware that times every Engine API request for its latency histogram.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;
use crate::error::EngineError;

/// Times a request until its response headers; labelled with the route template
/// (`/containers/{id}/json`), so ids do not make a series each.
pub async fn track(State(engine): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let resp = next.run(req).await;
    engine.ops.metrics.observe(&method, &route, start.elapsed().as_secs_f64());
    resp
}

async fn metrics(State(engine): State<AppState>) -> Response {
    let text = engine.render_metrics();
    let mut r = text.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}

/// Binds `addr` and serves `/metrics` there in a task of its own.
pub async fn spawn(engine: AppState, addr: SocketAddr) -> Result<(), EngineError> {
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "metrics endpoint listens beyond loopback, without authentication");
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| EngineError::internal(&format!("bind metrics address {addr}"), e))?;
    let app = Router::new().route("/metrics", get(metrics)).with_state(engine);
    tracing::info!(%addr, "metrics listening");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics server: {e}");
        }
    });
    Ok(())
}
