//! The HTTP layer under the client: request bodies, bounded reads of answers, error bodies,
//! URL helpers.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::Response;

use super::error::{parse_error_body, ClientError};

/// A request body: empty, in memory, or streamed.
pub type ReqBody = UnsyncBoxBody<Bytes, io::Error>;

/// Largest error body read from a registry.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// How long a registry may take to answer once the request has been sent.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// An empty body.
pub fn empty() -> ReqBody {
    Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body held in memory.
pub fn full(data: impl Into<Bytes>) -> ReqBody {
    Full::new(data.into()).map_err(|never| match never {}).boxed_unsync()
}

/// A body streamed from `chunks` (a file being uploaded).
pub fn streamed(chunks: impl Stream<Item = io::Result<Bytes>> + Send + 'static) -> ReqBody {
    StreamBody::new(chunks.map(|c| c.map(Frame::data))).boxed_unsync()
}

/// Reads a whole body, refusing one longer than `limit` bytes. Each chunk must arrive
/// within [`ANSWER_TIMEOUT`].
pub async fn read_limited(mut body: Incoming, limit: usize, what: &str) -> Result<Bytes, ClientError> {
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(ANSWER_TIMEOUT, body.frame()).await {
            Err(_) => return Err(ClientError::transport(what, "timed out reading the answer")),
            Ok(None) => break,
            Ok(Some(f)) => f.map_err(|e| ClientError::transport(what, e))?,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(ClientError::Protocol(format!("{what}: answer larger than {limit} bytes")));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// The error a non-success answer stands for, with the registry's error body parsed.
pub async fn error_from(resp: Response<Incoming>, url: &str) -> ClientError {
    let status = resp.status().as_u16();
    let body = read_limited(resp.into_body(), ERROR_BODY_LIMIT, url).await.unwrap_or_default();
    ClientError::Registry { status, errors: parse_error_body(&body), url: url.to_string() }
}

/// A header as text ("" when absent or not ASCII).
pub fn header<'a>(resp: &'a Response<Incoming>, name: &str) -> &'a str {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Everything but RFC 3986's unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Scheme and authority of an absolute URL (`https://host:5000`).
pub fn origin(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

/// Resolves a `Location` header against the registry base (`https://host:5000`).
pub fn resolve_location(base: &str, location: &str) -> Result<String, ClientError> {
    if location.is_empty() {
        return Err(ClientError::Protocol("registry answered without a Location header".into()));
    }
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_string());
    }
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        return Ok(format!("{scheme}://{rest}"));
    }
    if location.starts_with('/') {
        return Ok(format!("{}{location}", origin(base)));
    }
    Err(ClientError::Protocol(format!("registry answered with a relative Location {location:?}")))
}

/// Appends `key=value` to a URL's query.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", encode(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let base = "http://127.0.0.1:5000";
        assert_eq!(resolve_location(base, "/v2/a/blobs/uploads/x?s=1").ok().as_deref(), Some("http://127.0.0.1:5000/v2/a/blobs/uploads/x?s=1"));
        assert_eq!(resolve_location(base, "https://s3/x").ok().as_deref(), Some("https://s3/x"));
        assert_eq!(resolve_location(base, "//cdn/x").ok().as_deref(), Some("http://cdn/x"));
        assert!(resolve_location(base, "").is_err());
        assert!(resolve_location(base, "x/y").is_err());
        assert_eq!(with_query("http://h/u?s=1", "digest", "sha256:ab"), "http://h/u?s=1&digest=sha256%3Aab");
        assert_eq!(with_query("http://h/u", "n", "5"), "http://h/u?n=5");
        assert_eq!(origin("https://h:1/a/b"), "https://h:1");
        assert_eq!(origin("https://h:1"), "https://h:1");
    }
}
