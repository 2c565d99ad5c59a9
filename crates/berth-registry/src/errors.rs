//! The registry's request errors and their one mapping onto the spec's error body and status.
//!
//! Every handler returns [`ApiError`]; [`ApiError::into_response`] is the only place that
//! decides status codes, error codes and the extra headers some errors carry.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::digest::{Digest, DigestError};
use crate::names::NameError;
use crate::storage::StorageError;

/// The realm announced in `WWW-Authenticate` for basic auth.
pub const REALM: &str = "berth-registry";

/// The error codes of the distribution spec (plus `UNKNOWN` for server faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`
    BlobUploadUnknown,
    /// `DIGEST_INVALID`
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`
    ManifestUnknown,
    /// `NAME_INVALID`
    NameInvalid,
    /// `NAME_UNKNOWN`
    NameUnknown,
    /// `SIZE_INVALID`
    SizeInvalid,
    /// `UNAUTHORIZED`
    Unauthorized,
    /// `DENIED`
    Denied,
    /// `UNSUPPORTED`
    Unsupported,
    /// `TOOMANYREQUESTS`
    TooManyRequests,
    /// `UNKNOWN`: an internal failure, as CNCF distribution reports it.
    Unknown,
}

impl ErrorCode {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::SizeInvalid => "SIZE_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported => "UNSUPPORTED",
            Self::TooManyRequests => "TOOMANYREQUESTS",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The blob is not in this repository.
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(Digest),
    /// The upload request was malformed.
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// A chunk did not start where the upload ends; carries what the client needs to resume.
    #[error("chunk out of order: upload is at offset {offset}")]
    UploadOutOfOrder {
        /// The upload's URL.
        location: String,
        /// The upload's id.
        id: String,
        /// Bytes received so far.
        offset: u64,
    },
    /// No such upload session in this repository.
    #[error("blob upload unknown to registry: {0}")]
    BlobUploadUnknown(String),
    /// A digest parameter is malformed or uses an unsupported algorithm.
    #[error("{0}")]
    DigestInvalid(String),
    /// Uploaded content does not hash to the digest the client claimed.
    #[error("provided digest {expected} did not match uploaded content {computed}")]
    DigestMismatch {
        /// What the client said.
        expected: String,
        /// What the bytes hash to.
        computed: Digest,
    },
    /// A manifest references a blob or manifest the registry does not hold.
    #[error("manifest references unknown blob {0}")]
    ManifestBlobUnknown(Digest),
    /// A manifest body is malformed or of an unsupported type.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// A manifest body is over the size limit.
    #[error("manifest larger than {0} bytes")]
    ManifestTooLarge(usize),
    /// The manifest is not in this repository.
    #[error("manifest unknown to registry: {0}")]
    ManifestUnknown(String),
    /// The repository name is not valid.
    #[error("invalid repository name: {0}")]
    NameInvalid(String),
    /// The repository does not exist.
    #[error("repository name not known to registry: {0}")]
    NameUnknown(String),
    /// A length did not match the content.
    #[error("{0}")]
    SizeInvalid(String),
    /// A requested byte range lies outside the blob.
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable {
        /// The blob's size.
        size: u64,
    },
    /// Credentials are missing or wrong.
    #[error("authentication required")]
    Unauthorized,
    /// In token mode: no token, or one without the access the request needs; carries the
    /// `WWW-Authenticate: Bearer ...` challenge naming the realm and scope to ask for.
    #[error("authentication required")]
    BearerRequired(String),
    /// The caller is known but may not do this.
    #[error("requested access to the resource is denied")]
    Denied,
    /// The method or feature is not supported.
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    /// The path addresses no endpoint of the API.
    #[error("no such endpoint")]
    RouteUnknown,
    /// A pagination parameter is not a number.
    #[error("invalid pagination parameter: {0}")]
    PaginationInvalid(String),
    /// The request body could not be read (client went away, bad framing).
    #[error("reading request body: {0}")]
    Body(String),
    /// A storage failure; details go to the log, not the client.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Any other internal failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        use ErrorCode as C;
        match self {
            Self::BlobUnknown(_) => (StatusCode::NOT_FOUND, C::BlobUnknown),
            Self::BlobUploadInvalid(_) | Self::Body(_) => (StatusCode::BAD_REQUEST, C::BlobUploadInvalid),
            Self::UploadOutOfOrder { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, C::BlobUploadInvalid),
            Self::BlobUploadUnknown(_) => (StatusCode::NOT_FOUND, C::BlobUploadUnknown),
            Self::DigestInvalid(_) | Self::DigestMismatch { .. } => (StatusCode::BAD_REQUEST, C::DigestInvalid),
            Self::ManifestBlobUnknown(_) => (StatusCode::NOT_FOUND, C::ManifestBlobUnknown),
            Self::ManifestInvalid(_) => (StatusCode::BAD_REQUEST, C::ManifestInvalid),
            Self::ManifestTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, C::ManifestInvalid),
            Self::ManifestUnknown(_) => (StatusCode::NOT_FOUND, C::ManifestUnknown),
            Self::NameInvalid(_) => (StatusCode::BAD_REQUEST, C::NameInvalid),
            Self::NameUnknown(_) => (StatusCode::NOT_FOUND, C::NameUnknown),
            Self::SizeInvalid(_) => (StatusCode::BAD_REQUEST, C::SizeInvalid),
            Self::RangeNotSatisfiable { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, C::BlobUnknown),
            Self::Unauthorized | Self::BearerRequired(_) => (StatusCode::UNAUTHORIZED, C::Unauthorized),
            Self::Denied => (StatusCode::FORBIDDEN, C::Denied),
            Self::Unsupported(_) => (StatusCode::METHOD_NOT_ALLOWED, C::Unsupported),
            Self::RouteUnknown => (StatusCode::NOT_FOUND, C::Unsupported),
            Self::PaginationInvalid(_) => (StatusCode::BAD_REQUEST, C::Unsupported),
            Self::Storage(_) | Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, C::Unknown),
        }
    }

    fn detail(&self) -> Value {
        match self {
            Self::BlobUnknown(d) | Self::ManifestBlobUnknown(d) => json!({ "digest": d }),
            Self::DigestMismatch { expected, computed } => {
                json!({ "expected": expected, "computed": computed })
            }
            Self::UploadOutOfOrder { offset, .. } => json!({ "offset": offset }),
            Self::NameInvalid(n) | Self::NameUnknown(n) => json!({ "name": n }),
            Self::ManifestUnknown(r) => json!({ "reference": r }),
            _ => Value::Null,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Storage(_) | Self::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "registry request failed");
        }
        let mut entry = json!({ "code": code.as_str(), "message": self.message() });
        let detail = self.detail();
        if !detail.is_null() {
            entry["detail"] = detail;
        }
        let body = json!({ "errors": [entry] }).to_string();
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized => {
                let value = format!("Basic realm=\"{REALM}\"");
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            Self::BearerRequired(challenge) => {
                if let Ok(v) = HeaderValue::from_str(challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            Self::UploadOutOfOrder { location, id, offset } => {
                crate::routes::upload_headers(headers, location, id, *offset);
            }
            Self::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::InvalidName(n) => Self::NameInvalid(n),
            NameError::InvalidTag(t) => Self::ManifestInvalid(format!("invalid tag {t:?}")),
            NameError::Digest(d) => d.into(),
        }
    }
}

impl From<DigestError> for ApiError {
    fn from(e: DigestError) -> Self {
        Self::DigestInvalid(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(r: Response) -> Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[tokio::test]
    async fn error_body_has_spec_shape() {
        let r = ApiError::BlobUnknown(Digest::of_bytes(b"")).into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let v = body_json(r).await;
        assert_eq!(v["errors"][0]["code"], "BLOB_UNKNOWN");
        assert!(v["errors"][0]["detail"]["digest"].as_str().is_some_and(|d| d.starts_with("sha256:")));
    }

    #[tokio::test]
    async fn unauthorized_carries_challenge_and_internal_hides_detail() {
        let r = ApiError::Unauthorized.into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"berth-registry\"");
        let r = ApiError::Internal("secret path /x".into()).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let v = body_json(r).await;
        assert_eq!(v["errors"][0]["message"], "internal server error");
    }
}
