//! Images in and out as archives: save, load, commit, export.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_api::types::{ContainerConfig, IdResponse, JsonMessage};
use bytes::Bytes;
use http_body_util::BodyExt;

use super::containers::parse_json;
use super::images::message_line;
use super::query::Query;
use super::response::{json, ApiResult};
use super::system::stream_response;
use super::AppState;
use crate::engine::image_io::CommitRequest;
use crate::engine::Engine;
use crate::error::EngineError;

/// What a streamed archive body carries: chunks, or the error that cuts it short.
type Chunk = Result<Bytes, std::io::Error>;

/// A blocking writer feeding a response body, in chunks.
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl ChannelWriter {
    /// A writer and the receiving end for [`archive_response`].
    pub fn new() -> (Self, tokio::sync::mpsc::Receiver<Chunk>) {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        (Self { tx, buf: Vec::with_capacity(CHUNK) }, rx)
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }

    /// Ends the body with an error after what was written: the response is aborted (no
    /// final chunk), so clients see a failed download rather than a short archive.
    fn fail(mut self, e: &EngineError) {
        let _ = self.send();
        let _ = self.tx.blocking_send(Err(std::io::Error::other(e.to_string())));
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// Streams what `produce` writes as a tar response; a failure after the first byte aborts the
/// response, which clients report as a failed download.
fn tar_stream(engine: AppState, produce: impl FnOnce(&Engine, &mut ChannelWriter) -> Result<(), EngineError> + Send + 'static) -> Response {
    let (mut writer, rx) = ChannelWriter::new();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = produce(&engine, &mut writer) {
            tracing::warn!("archive stream failed: {e}");
            writer.fail(&e);
        }
    });
    archive_response(rx)
}

/// A tar response fed by a [`ChannelWriter`].
fn archive_response(rx: tokio::sync::mpsc::Receiver<Chunk>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let mut r = Response::new(axum::body::Body::from_stream(stream));
    r.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/x-tar"));
    r
}

/// `GET /images/get?names=…`.
pub async fn save(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let names = Query::parse(raw.as_deref()).all("names");
    save_names(engine, names).await
}

/// Saves the named images (also `GET /images/{name}/get`). Names are resolved, and the bytes
/// of every layer found, before the response starts, so an unknown image is a clean 404 and
/// an image that cannot be saved a clean error.
pub async fn save_names(engine: AppState, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(EngineError::Invalid("no images to save".into()).into());
    }
    let eng = engine.clone();
    let plan = Engine::blocking(move || eng.save_plan(&names)).await?;
    Ok(tar_stream(engine, move |e, w| e.save_blocking(&plan, w)))
}

/// `POST /images/load`.
pub async fn load(State(engine): State<AppState>, req: Request) -> ApiResult<Response> {
    let reader = super::body::body_reader(req.into_body());
    let eng = engine.clone();
    let loaded = Engine::blocking(move || eng.load_blocking(reader)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(loaded.len().max(1) * 2);
    for l in &loaded {
        let lines =
            if l.tags.is_empty() { vec![format!("Loaded image ID: {}\n", l.id)] } else { l.tags.iter().map(|t| format!("Loaded image: {t}\n")).collect() };
        for line in lines {
            let _ = tx.try_send(message_line(&JsonMessage::stream(line)));
        }
    }
    drop(tx);
    Ok(stream_response(rx, "application/json"))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`.
pub async fn commit(State(engine): State<AppState>, RawQuery(raw): RawQuery, req: Request) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let body = req.into_body().collect().await.map_err(|e| EngineError::Invalid(e.to_string()))?.to_bytes();
    let config: ContainerConfig = parse_json(&body)?;
    let id = engine
        .commit(CommitRequest {
            container: q.str("container"),
            repo: q.str("repo"),
            tag: q.str("tag"),
            comment: q.str("comment"),
            author: q.str("author"),
            changes: q.all("changes"),
            pause: q.get("pause").is_none() || q.bool("pause"),
            config,
        })
        .await?;
    Ok(json(StatusCode::CREATED, &IdResponse { id }))
}

/// `GET /containers/{id}/export`.
pub async fn export(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    engine.containers.get(&id)?;
    Ok(tar_stream(engine, move |e, w| e.export_blocking(&id, w)))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/images/get", get(save)).route("/images/load", post(load)).route("/commit", post(commit)).route("/containers/{id}/export", get(export))
}
