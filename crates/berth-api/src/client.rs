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

/// A request body streamed from an async reader (import, load, build contexts).
pub fn streaming(reader: impl tokio::io::AsyncRead + Send + Sync + 'static) -> Body {
    use futures_util::TryStreamExt;
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024).map_ok(Frame::data);
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
