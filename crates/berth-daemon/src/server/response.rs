//! Error responses as Docker clients parse them: `{"message": "..."}` with a Content-Type of
//! exactly `application/json` and the status of the error's kind.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::EngineError;

/// An engine error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub EngineError);

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status == StatusCode::NOT_MODIFIED {
            return status.into_response();
        }
        if status.is_server_error() {
            tracing::warn!("request failed: {}", self.0);
        }
        let body = serde_json::json!({ "message": self.0.to_string() }).to_string();
        (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Handler result type.
pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON answer with a given status.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError(EngineError::internal("encode response", e)).into_response(),
    }
}

/// A 200 JSON answer.
pub fn ok<T: serde::Serialize>(value: &T) -> Response {
    json(StatusCode::OK, value)
}
