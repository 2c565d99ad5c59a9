//! `GET /v2/`: the API version check, also used by `docker login` to test credentials.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// 200 with an empty JSON object; authentication (if any) has already passed.
pub(super) fn get() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response()
}
