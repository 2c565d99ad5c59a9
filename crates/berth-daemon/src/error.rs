//! Engine errors and their Docker status codes.

use berth_image::ImageError;

/// An engine failure, with the kind that decides the HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 400.
    #[error("{0}")]
    Invalid(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 403: the request is understood but refused (pre-defined networks, overlapping pools).
    #[error("{0}")]
    Forbidden(String),
    /// 304: the request changed nothing (start a running container, stop a stopped one).
    #[error("not modified")]
    NotModified,
    /// 501.
    #[error("{0}")]
    NotImplemented(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
    /// A start failure: 400 for "cannot run this", 500 otherwise; the exit code a failed
    /// `run` should report (126/127) is derived from the message.
    #[error("{0}")]
    StartFailed(String),
}

impl EngineError {
    /// The HTTP status Docker uses for this kind of error.
    pub fn status(&self) -> u16 {
        match self {
            EngineError::NotFound(_) => 404,
            EngineError::Invalid(_) => 400,
            EngineError::Conflict(_) => 409,
            EngineError::Forbidden(_) => 403,
            EngineError::NotModified => 304,
            EngineError::NotImplemented(_) => 501,
            EngineError::Internal(_) => 500,
            EngineError::StartFailed(_) => 400,
        }
    }

    /// An internal error with context.
    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        EngineError::Internal(format!("{context}: {e}"))
    }
}

impl From<ImageError> for EngineError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::NotFound(m) => EngineError::NotFound(m),
            ImageError::Conflict(m) => EngineError::Conflict(m),
            ImageError::Invalid(m) => EngineError::Invalid(m),
            e @ ImageError::DigestMismatch { .. } => EngineError::Invalid(e.to_string()),
            e @ ImageError::Layer(_) => EngineError::Invalid(e.to_string()),
            e => EngineError::Internal(e.to_string()),
        }
    }
}

impl From<berth_image::meta::MetaError> for EngineError {
    fn from(e: berth_image::meta::MetaError) -> Self {
        EngineError::Internal(e.to_string())
    }
}

impl From<berth_runtime::client::ClientError> for EngineError {
    fn from(e: berth_runtime::client::ClientError) -> Self {
        EngineError::Internal(e.to_string())
    }
}
