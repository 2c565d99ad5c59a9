//! A client for the Engine API over a unix socket, used by the `berth` CLI and the tests.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;

use crate::types::ErrorBody;

/// A request body.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the berth daemon at unix://{path}. Is the berth daemon running? ({source})")]
    Connect { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("invalid request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The daemon answered with an error status; the message is its `{"message"}`.
    #[error("Error response from daemon: {message}")]
    Api { status: u16, message: String },
    #[error("unexpected answer from daemon: {0}")]
    Decode(String),
    #[error("unsupported host {0:?}: only unix:// is supported")]
    Host(String),
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client bound to one daemon socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    prefix: String,
}

/// An empty request body.
pub fn empty() -> Body {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed()
}

/// A request body holding `data`.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|never| match never {}).boxed()
}

/// Bytes read at a time for an upload.
const UPLOAD_CHUNK: usize = 256 << 10;
/// Chunks an upload keeps for reuse.
const UPLOAD_BUFFERS: usize = 8;

/// A request body read from `reader` (a file, stdin: import, load, `cp -`) by a thread of its
/// own, in chunks whose buffers are reused once the connection has sent them: a fresh buffer
/// per chunk costs page faults and a cache-cold copy for every byte (half the CLI's time on a
/// 200 MB `load`), and reading on tokio's blocking pool costs a hand-off per chunk. A read
/// error fails the body.
pub fn streaming(mut reader: impl std::io::Read + Send + 'static) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let spawned = std::thread::Builder::new().name("upload".into()).spawn(move || {
        let mut sent: std::collections::VecDeque<Bytes> = std::collections::VecDeque::new();
        loop {
            // The oldest chunk is free again once the connection dropped its copy.
            let reclaimed = match sent.front() {
                Some(b) if sent.len() >= UPLOAD_BUFFERS || b.is_unique() => sent.pop_front().and_then(|b| b.try_into_mut().ok()),
                _ => None,
            };
            let mut buf = reclaimed.unwrap_or_else(|| bytes::BytesMut::with_capacity(UPLOAD_CHUNK));
            buf.clear();
            buf.resize(UPLOAD_CHUNK, 0);
            let n = loop {
                match reader.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            match n {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    let chunk = buf.freeze();
                    sent.push_back(chunk.clone());
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    if let Err(e) = spawned {
        let failed = futures_util::stream::once(async move { Err::<Frame<Bytes>, _>(e) });
        return BodyExt::boxed(StreamBody::new(failed));
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c.map(Frame::data), rx)) });
    BodyExt::boxed(StreamBody::new(stream))
}

impl Client {
    /// A client for the daemon socket at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self { socket: socket.into(), prefix: format!("/v{}", crate::API_VERSION) }
    }

    /// A client for a `-H` / `DOCKER_HOST` value (`unix:///path`).
    pub fn from_host(host: &str) -> Result<Self, ClientError> {
        match host.strip_prefix("unix://") {
            Some(path) if !path.is_empty() => Ok(Self::new(path)),
            _ => Err(ClientError::Host(host.to_string())),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn connect(&self) -> Result<hyper::client::conn::http1::SendRequest<Body>, ClientError> {
        let stream = UnixStream::connect(&self.socket).await.map_err(|source| ClientError::Connect { path: self.socket.clone(), source })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }

    /// Sends a request; `path` is relative to the versioned prefix and may carry a query.
    pub async fn send(&self, method: Method, path: &str, body: Body, headers: &[(&str, &str)]) -> Result<Response<Incoming>, ClientError> {
        let mut sender = self.connect().await?;
        let mut req = Request::builder().method(method).uri(format!("{}{}", self.prefix, path)).header("Host", "berth");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Ok(sender.send_request(req.body(body)?).await?)
    }

    /// Sends a request and turns an error status into [`ClientError::Api`].
    pub async fn call(&self, method: Method, path: &str, body: Body, headers: &[(&str, &str)]) -> Result<Response<Incoming>, ClientError> {
        let resp = self.send(method, path, body, headers).await?;
        check(resp).await
    }

    /// GET and decode JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.call(Method::GET, path, empty(), &[]).await?;
        decode(resp).await
    }

    /// POST a JSON body (or nothing) and decode the JSON answer.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: Option<&impl Serialize>) -> Result<T, ClientError> {
        let resp = self.call(Method::POST, path, json_body(body)?, &[("Content-Type", "application/json")]).await?;
        decode(resp).await
    }

    /// POST and ignore the answer's body; returns the status (204, 304, ...).
    pub async fn post_status(&self, path: &str, body: Option<&impl Serialize>) -> Result<StatusCode, ClientError> {
        let resp = self.call(Method::POST, path, json_body(body)?, &[("Content-Type", "application/json")]).await?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        Ok(status)
    }

    /// DELETE and decode the JSON answer (or nothing for 204).
    pub async fn delete<T: DeserializeOwned + Default>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.call(Method::DELETE, path, empty(), &[]).await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(T::default());
        }
        decode(resp).await
    }

    /// Sends an upgrade (hijack) request and returns the raw bidirectional stream.
    pub async fn upgrade(&self, path: &str, body: Body, content_type: &str) -> Result<TokioIo<hyper::upgrade::Upgraded>, ClientError> {
        let resp = self.send(Method::POST, path, body, &[("Connection", "Upgrade"), ("Upgrade", "tcp"), ("Content-Type", content_type)]).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            let resp = check(resp).await?;
            return Err(ClientError::Decode(format!("unable to upgrade to tcp, received {}", resp.status())));
        }
        Ok(TokioIo::new(hyper::upgrade::on(resp).await?))
    }
}

fn json_body(body: Option<&impl Serialize>) -> Result<Body, ClientError> {
    match body {
        Some(b) => Ok(full(serde_json::to_vec(b).map_err(|e| ClientError::Decode(e.to_string()))?)),
        None => Ok(empty()),
    }
}

/// Passes a success through; turns an error status into [`ClientError::Api`].
pub async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>, ClientError> {
    let status = resp.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED || status == StatusCode::SWITCHING_PROTOCOLS {
        return Ok(resp);
    }
    let body = resp.into_body().collect().await?.to_bytes();
    let message = serde_json::from_slice::<ErrorBody>(&body).map(|e| e.message).unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string());
    Err(ClientError::Api { status: status.as_u16(), message })
}

/// Reads a whole JSON answer.
pub async fn decode<T: DeserializeOwned>(resp: Response<Incoming>) -> Result<T, ClientError> {
    let body = resp.into_body().collect().await?.to_bytes();
    serde_json::from_slice(&body).map_err(|e| ClientError::Decode(format!("{e}: {}", String::from_utf8_lossy(&body))))
}

/// Encodes query parameters.
pub fn query(pairs: &[(&str, String)]) -> String {
    let filtered: Vec<(&str, &str)> = pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.as_str())).collect();
    if filtered.is_empty() {
        return String::new();
    }
    format!("?{}", serde_urlencoded::to_string(filtered).unwrap_or_default())
}
