//! `POST /build` (the classic builder) and `POST /build/prune`.
//!
//! The query becomes a typed [`BuildOptions`]; the engine unpacks the context and parses the
//! Dockerfile before anything is sent, so those failures are ordinary HTTP errors (as in
//! Docker, whose handler only writes errors in-stream once output was flushed). Then the
//! build's messages stream as JSON lines; a failure ends the stream with
//! `{"errorDetail":{"code":N,"message":…},"error":…}`. With `q=1` the output is held back: on
//! success only the image id is sent, on failure the held output and the error.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, Request, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_api::types::JsonMessage;
use berth_image::Reference;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::images::message_line;
use super::query::Query;
use super::response::{ok, ApiResult};
use super::system::stream_response;
use super::AppState;
use crate::engine::build::{parse_registry_config, BuildOptions, Progress};
use crate::error::EngineError;

/// Parses the `/build` query the way moby's `newImageBuildOptions` does.
pub fn build_options(q: &Query) -> Result<BuildOptions, EngineError> {
    if !q.str("remote").is_empty() {
        return Err(EngineError::NotImplemented("remote build contexts (git or URL) are not supported: send the context as the request body".into()));
    }
    let mut tags = Vec::new();
    for t in q.all("t").into_iter().filter(|t| !t.is_empty()) {
        let r = Reference::parse_tagged(&t).map_err(|e| EngineError::Invalid(format!("invalid reference format: {t}: {e}")))?;
        if r.digest.is_some() {
            return Err(EngineError::Invalid("build tag cannot contain a digest".into()));
        }
        if !tags.contains(&r) {
            tags.push(r);
        }
    }
    let build_args: BTreeMap<String, Option<String>> = json_param(q, "buildargs", "error reading build args")?;
    let labels: BTreeMap<String, String> = json_param(q, "labels", "error reading labels")?;
    let cache_from: Vec<String> = json_param(q, "cachefrom", "error reading cache-from")?;
    let remove = q.bool("forcerm") || q.get("rm").is_none_or(|v| v.is_empty()) || q.bool("rm");
    Ok(BuildOptions {
        dockerfile: q.str("dockerfile"),
        tags,
        build_args,
        labels,
        target: q.get("target").filter(|t| !t.is_empty()).map(String::from),
        cache_from,
        no_cache: q.bool("nocache"),
        pull: q.bool("pull"),
        remove,
        force_remove: q.bool("forcerm"),
        network_mode: q.str("networkmode"),
        auth_configs: BTreeMap::new(),
        extra_hosts: q.all("extrahosts").iter().flat_map(|h| h.split(',')).filter(|h| !h.is_empty()).map(String::from).collect(),
        shm_size: q.int("shmsize")?.unwrap_or(0),
    })
}

fn json_param<T: serde::de::DeserializeOwned + Default>(q: &Query, key: &str, what: &str) -> Result<T, EngineError> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(T::default()),
        Some(raw) => serde_json::from_str(raw).map_err(|e| EngineError::Invalid(format!("{what}: {e}"))),
    }
}

/// `POST /build`.
pub async fn build(State(engine): State<AppState>, RawQuery(raw): RawQuery, req: Request) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let mut options = build_options(&q)?;
    options.auth_configs = parse_registry_config(req.headers().get("X-Registry-Config").and_then(|v| v.to_str().ok()));
    let quiet = q.bool("q");
    let prepared = engine.prepare_build(BodyReader::new(req.into_body()), options).await?;
    let (msg_tx, mut msg_rx) = mpsc::channel::<JsonMessage>(64);
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(64);
    let runner = engine.clone();
    let build = tokio::spawn(async move { runner.run_build(prepared, Progress::new(msg_tx)).await });
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(msg) = msg_rx.recv().await {
            if quiet {
                held.push(msg);
            } else if out_tx.send(message_line(&msg)).await.is_err() {
                // The client is gone: dropping the receiver cancels the build's next send.
                msg_rx.close();
            }
        }
        let result = build.await.unwrap_or_else(|e| Err(EngineError::internal("build task", e).into()));
        let tail = match result {
            Ok(id) if quiet => vec![JsonMessage::stream(format!("{id}\n"))],
            Ok(_) => Vec::new(),
            Err(e) => {
                tracing::info!("build failed: {e}");
                let mut t = held;
                t.push(JsonMessage::error(e.to_string(), e.code()));
                t
            }
        };
        for msg in tail {
            if out_tx.send(message_line(&msg)).await.is_err() {
                break;
            }
        }
    });
    Ok(stream_response(out_rx, "application/json"))
}

/// A blocking reader over the request body for the build's unpacking thread. Chunks cross
/// from the connection's task through a bounded channel received with `blocking_recv`, with
/// no per-chunk task (a 50 MB context arrives in thousands of chunks).
struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    buf: Bytes,
}

impl BodyReader {
    fn new(body: axum::body::Body) -> Self {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            use futures_util::StreamExt;
            let mut stream = body.into_data_stream();
            while let Some(chunk) = stream.next().await {
                let item = chunk.map_err(std::io::Error::other);
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    return;
                }
            }
        });
        Self { rx, buf: Bytes::new() }
    }
}

impl std::io::Read for BodyReader {
    /// Must be called off the async runtime (the build reads it in a blocking task).
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

/// `POST /build/prune`: drops the build cache's keys (the intermediate images stay ordinary
/// images).
pub async fn prune(State(engine): State<AppState>) -> ApiResult<Response> {
    let deleted = engine.prune_build_cache()?;
    Ok(ok(&serde_json::json!({ "CachesDeleted": deleted, "SpaceReclaimed": 0 })))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/build", post(build)).route("/build/prune", post(prune))
}
